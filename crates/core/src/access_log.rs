//! One line per connection at close, like HAProxy's: who, where, how much, how long, and why
//! it ended as a stable keyword. Emitted on the `access` tracing target so operators can route
//! or filter it (`RINGRESS_LOG=access=info,warn`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::conn::Termination;
use crate::mqtt::MqttInfo;
use crate::proxy_out::HeaderKind;
use crate::tls::{ClientCert, TlsInfo};

/// Who encrypts and decrypts a terminated session's records after the handshake (the access
/// log's `tls_offload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offload {
    Kernel,
    Userspace,
}

impl Offload {
    pub const fn as_str(self) -> &'static str {
        match self {
            Offload::Kernel => "kernel",
            Offload::Userspace => "userspace",
        }
    }
}

/// Why `tls_offload = "auto"` kept a session in userspace (the access log's
/// `offload_fallback`, the metrics' `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadFallback {
    /// This kernel has no kTLS.
    Unavailable,
    /// Bytes had arrived beyond what the kernel can take over (records after the handshake
    /// that our record layer read first).
    BytesHeld,
    /// The session named no cipher suite.
    NoSuite,
    /// A cipher the kernel cannot take.
    UnsupportedCipher,
}

impl OffloadFallback {
    pub const fn keyword(self) -> &'static str {
        match self {
            OffloadFallback::Unavailable => "ktls_unavailable",
            OffloadFallback::BytesHeld => "ktls_bytes_held",
            OffloadFallback::NoSuite => "ktls_no_suite",
            OffloadFallback::UnsupportedCipher => "ktls_unsupported_cipher",
        }
    }
}

impl fmt::Display for OffloadFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

impl fmt::Display for Offload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the line says about one connection.
pub struct CloseRecord<'a> {
    pub worker: usize,
    pub client: SocketAddr,
    /// The load balancer that relayed the client (`accept_proxy`), if any.
    pub proxied_by: Option<SocketAddr>,
    pub listener: &'a str,
    pub route: Option<&'a str>,
    pub sni: Option<&'a str>,
    pub backend: Option<&'a str>,
    /// The server the connection was relayed to (or last tried).
    pub server: Option<SocketAddr>,
    pub tls: Option<&'a TlsInfo>,
    /// Who does the record crypto for terminated TLS.
    pub tls_offload: Option<Offload>,
    /// Why `tls_offload = "auto"` stayed in userspace.
    pub offload_fallback: Option<OffloadFallback>,
    /// PROXY header sent to the server: `none`, `v1`, `v2`, `v2-ssl`, `v2-ssl-cn`.
    pub proxy: HeaderKind,
    /// `splice` or `copy`: how bytes were relayed (absent if the connection never relayed).
    pub relay: Option<&'static str>,
    /// What the client's CONNECT said (`mqtt = true` listeners, once it was read).
    pub mqtt: Option<&'a MqttInfo>,
    /// Client → server bytes delivered.
    pub bytes_in: u64,
    /// Server → client bytes delivered.
    pub bytes_out: u64,
    pub duration: Duration,
    pub termination: Termination,
}

impl Default for CloseRecord<'_> {
    fn default() -> Self {
        CloseRecord {
            worker: 0,
            client: SocketAddr::from(([0, 0, 0, 0], 0)),
            proxied_by: None,
            listener: "-",
            route: None,
            sni: None,
            backend: None,
            server: None,
            tls: None,
            tls_offload: None,
            offload_fallback: None,
            proxy: HeaderKind::None,
            relay: None,
            mqtt: None,
            bytes_in: 0,
            bytes_out: 0,
            duration: Duration::ZERO,
            termination: Termination::Internal,
        }
    }
}

/// Renders an optional value as `-` when absent, without allocating.
struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_str("-"),
        }
    }
}

/// A peer-chosen string (an MQTT client identifier, a client certificate's CN, the SNI) made
/// safe for a log line in any format:
/// printable ASCII except space, `"`, `\` and `=` as is (so a text-format line cannot gain a
/// field, a quote or a line), other ASCII as `\xNN`, other characters as `\u{NNNN}` (so no
/// control, bidi-override or invisible character reaches a terminal). `-` means "absent" in
/// these lines, so the one-character identifier `-` is written `\x2d`. Writes straight to
/// the formatter: no allocation.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == "-" {
            return f.write_str("\\x2d");
        }
        for c in self.0.chars() {
            match c {
                ' ' | '"' | '\\' | '=' => write!(f, "\\x{:02x}", c as u32)?,
                '!'..='~' => fmt::Write::write_char(f, c)?,
                c if c.is_ascii() => write!(f, "\\x{:02x}", c as u32)?,
                c => write!(f, "\\u{{{:04x}}}", c as u32)?,
            }
        }
        Ok(())
    }
}

/// ALPN protocol ids are bytes; print them as text when they are (`mqtt`), else `-`. The
/// id is one of ours (rustls only agrees to a configured one), escaped all the same.
struct Alpn<'a>(Option<&'a [u8]>);

impl fmt::Display for Alpn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.and_then(|a| std::str::from_utf8(a).ok()) {
            Some(s) => Escaped(s).fmt(f),
            None => f.write_str("-"),
        }
    }
}

pub fn log_close(record: &CloseRecord<'_>) {
    let tls = record.tls;
    let (cn, verify) = match tls.map(|t| &t.client_cert) {
        Some(ClientCert::Verified { cn }) => (cn.as_deref(), "ok"),
        Some(ClientCert::None) => (None, "none"),
        None => (None, "-"),
    };
    // Every field the peer chose goes through `Escaped`: the SNI (rustls has checked it is a
    // DNS name, which `Escaped` leaves as is), the CN (any UTF-8 the client CA signed) and the
    // client id. Addresses, names from the config and keywords need no escaping.
    tracing::info!(
        target: "access",
        worker = record.worker,
        client = %record.client,
        proxied_by = %Opt(record.proxied_by),
        listener = %record.listener,
        sni = %Opt(record.sni.map(Escaped)),
        route = %Opt(record.route),
        backend = %Opt(record.backend),
        server = %Opt(record.server),
        tls_version = %Opt(tls.map(|t| t.version)),
        cipher = %Opt(tls.map(|t| t.cipher)),
        alpn = %Alpn(tls.and_then(|t| t.alpn.as_deref())),
        client_cn = %Opt(cn.map(Escaped)),
        client_verify = %verify,
        tls_offload = %Opt(record.tls_offload),
        offload_fallback = %Opt(record.offload_fallback),
        proxy = %record.proxy,
        relay = %Opt(record.relay),
        mqtt_client_id = %Opt(record.mqtt.map(|m| Escaped(&m.client_id))),
        mqtt_version = %Opt(record.mqtt.map(|m| m.protocol.as_str())),
        mqtt_keepalive = %Opt(record.mqtt.map(|m| m.keepalive_secs)),
        mqtt_username = %Opt(record.mqtt.map(|m| m.username_present)),
        bytes_in = record.bytes_in,
        bytes_out = record.bytes_out,
        duration_ms = record.duration.as_millis() as u64,
        termination = %record.termination,
        "close"
    );
}

#[cfg(test)]
mod tests;
