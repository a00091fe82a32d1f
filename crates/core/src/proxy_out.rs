//! PROXY-out: what ringress tells a backend about the client, before any client byte — the
//! header HAProxy's `send-proxy`, `send-proxy-v2`, `-v2-ssl` and `-v2-ssl-cn` would send for
//! the same connection (byte-compared against HAProxy 3.2 captures in the tests below).

use std::net::SocketAddr;

use crate::proxy_protocol::{self, Addresses, EncodeError, SendInfo};
use crate::tls::{CertAlgorithms, ClientCert, KeyAlgorithm, TlsInfo};

/// What a backend's servers expect in front of the client's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyProtocol {
    None,
    /// HAProxy `send-proxy`.
    V1,
    /// HAProxy `send-proxy-v2`, `-v2-ssl`, `-v2-ssl-cn`, plus `proxy-v2-options`.
    V2(crate::proxy_protocol::V2Options),
}

/// A key algorithm's name (`EC256`, `RSA2048`) rendered on the stack.
#[derive(Default)]
struct KeyName {
    buf: [u8; 16],
}

impl KeyName {
    fn render(&mut self, key: KeyAlgorithm) -> &str {
        use std::io::Write;
        let mut cursor = std::io::Cursor::new(&mut self.buf[..]);
        let _ = write!(cursor, "{key}");
        let len = cursor.position() as usize;
        std::str::from_utf8(&self.buf[..len]).unwrap_or("")
    }
}

/// The most bytes a header we send can take (HAProxy's own TLVs at their limits fit in about
/// 1.1 KiB; the v2 codec caps every header at this).
pub const MAX_HEADER_BYTES: usize = proxy_protocol::V2_MAX_LEN;

/// The facts about one client connection that go into the header.
#[derive(Debug, Clone, Copy)]
pub struct ClientView<'a> {
    /// The client (or, behind a load balancer, the address its PROXY header named).
    pub client: SocketAddr,
    /// The address the client connected to (ours, or the load balancer's frontend).
    pub local: SocketAddr,
    /// The server name the client asked for.
    pub sni: Option<&'a str>,
    /// The terminated TLS session; `None` for plain and pass-through connections.
    pub tls: Option<&'a TlsInfo>,
    /// Our certificate's algorithms (for `cert-sig` / `cert-key`).
    pub cert: Option<&'a CertAlgorithms>,
}

/// Which PROXY header a connection sent its server (the access log's `proxy`), in HAProxy's
/// names for the modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HeaderKind {
    #[default]
    None,
    V1,
    V2,
    V2Ssl,
    V2SslCn,
}

impl HeaderKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            HeaderKind::None => "none",
            HeaderKind::V1 => "v1",
            HeaderKind::V2 => "v2",
            HeaderKind::V2Ssl => "v2-ssl",
            HeaderKind::V2SslCn => "v2-ssl-cn",
        }
    }
}

impl std::fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The header a PROXY mode sends.
pub fn kind(mode: &ProxyProtocol) -> HeaderKind {
    match mode {
        ProxyProtocol::None => HeaderKind::None,
        ProxyProtocol::V1 => HeaderKind::V1,
        ProxyProtocol::V2(options) if options.sends_cn() => HeaderKind::V2SslCn,
        ProxyProtocol::V2(options) if options.sends_ssl() => HeaderKind::V2Ssl,
        ProxyProtocol::V2(_) => HeaderKind::V2,
    }
}

/// Writes the header for `view` into `out` and returns its length (0 for no PROXY).
pub fn encode(
    mode: &ProxyProtocol,
    view: &ClientView<'_>,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    let addresses = Addresses::from_pair(view.client, view.local);
    let mut key_name = KeyName::default();
    let key_alg = view.cert.map(|c| key_name.render(c.key));
    match mode {
        ProxyProtocol::None => Ok(0),
        ProxyProtocol::V1 => proxy_protocol::encode_v1(out, &addresses),
        ProxyProtocol::V2(options) => {
            let tls = view.tls.map(|t| proxy_protocol::TlsInfo {
                version: Some(t.version),
                cipher: Some(t.cipher),
                cert_sig_alg: view.cert.map(|c| c.signature),
                cert_key_alg: key_alg,
                client_cert: match &t.client_cert {
                    ClientCert::None => None,
                    ClientCert::Verified { cn } => Some(proxy_protocol::ClientCert {
                        // rustls fails the handshake on a certificate it cannot verify, so a
                        // certificate that got here verified: X509_V_OK. On a resumed
                        // session that was when the session began, and HAProxy (OpenSSL
                        // keeps the result in the session) sends 0 there too.
                        verify_result: 0,
                        // A resumed handshake exchanges no certificate: the session has
                        // one (CERT_SESS), this connection did not present it (no
                        // CERT_CONN), as HAProxy reports it (0x05, not 0x07).
                        on_this_connection: !t.resumed,
                        common_name: cn.as_deref().map(str::as_bytes),
                    }),
                },
            });
            let info = SendInfo {
                addresses,
                alpn: view.tls.and_then(|t| t.alpn.as_deref()),
                authority: view.sni.map(str::as_bytes),
                unique_id: None,
                tls,
            };
            proxy_protocol::encode_v2(out, options, &info)
        }
    }
}

/// The header a health check sends first, so a PROXY-protocol server accepts the check's
/// connection: v2 `LOCAL` with no address and no TLVs (what HAProxy's checks send with
/// `send-proxy-v2`), v1 `PROXY UNKNOWN`. Writes into `out`; returns its length (0 for none).
pub fn check_header(mode: &ProxyProtocol, out: &mut [u8]) -> Result<usize, EncodeError> {
    match mode {
        ProxyProtocol::None => Ok(0),
        ProxyProtocol::V1 => proxy_protocol::encode_v1(out, &Addresses::Unspec),
        ProxyProtocol::V2(_) => proxy_protocol::encode_v2(
            out,
            &proxy_protocol::V2Options::SEND_PROXY_V2,
            &SendInfo {
                addresses: Addresses::Unspec,
                ..SendInfo::default()
            },
        ),
    }
}

#[cfg(test)]
mod tests;
