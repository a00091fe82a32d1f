//! The v2 header HAProxy 3.2 sends to a server, byte for byte.
//!
//! Mirrors `make_proxy_line_v2()` in HAProxy's `src/connection.c` (3.x):
//!
//! 1. Fixed part. `LOCAL` with `AF_UNSPEC` and no address block when the
//!    addresses are unknown or not IP, or for health checks; otherwise `PROXY`
//!    with `TCP4` if both sides are IPv4, else `TCP6` with IPv4 sides mapped
//!    (`v4tov6()`).
//! 2. The `set-proxy-v2-tlv-fmt` custom TLVs, in configuration order (not
//!    modelled: ringress has no such option).
//! 3. `CRC32C` (option `crc32c`), zero while building, filled in last over the
//!    whole header.
//! 4. `ALPN`, whenever the client connection negotiated one: there is no
//!    option for it, HAProxy always sends it.
//! 5. `AUTHORITY` (option `authority`): the received authority TLV, else the SNI.
//! 6. `UNIQUE_ID` (option `unique-id`), even when empty.
//! 7. `SSL` (`send-proxy-v2-ssl`, or any SSL option): `client` and `verify`,
//!    then sub-TLVs in this order, which is not numeric: `SSL_VERSION`,
//!    `SSL_CN` (`-ssl-cn` / `cert-cn`), `SSL_KEY_ALG` (`cert-key`),
//!    `SSL_SIG_ALG` (`cert-sig`), `SSL_CIPHER` (`ssl-cipher`). Sent even for a
//!    plain-TCP client, then as `client = 0, verify = 0` with no sub-TLVs.
//! 8. `NETNS` when the connection came from a namespace (not modelled).
//!
//! HAProxy emits no `PP2_TYPE_NOOP` padding and no alignment: TLVs are packed
//! back to back and the header ends with the last TLV. So do we.
//!
//! `proxy-v2-options` (HAProxy's `srv_parse_proxy_v2_options()` in
//! `src/server.c`) knows `ssl`, `cert-cn`, `cert-key`, `cert-sig`,
//! `ssl-cipher`, `authority`, `crc32c` and `unique-id`; the four `cert-*` /
//! `ssl-cipher` options also turn `ssl` on.

use super::v2::{V2Writer, client_flags, tlv_type};
use super::{AUTHORITY_MAX_LEN, Addresses, Command, EncodeError, UNIQUE_ID_MAX_LEN};

/// Which TLVs the server line asks for. Start from one of the three
/// `send-proxy-v2*` modes and add `proxy-v2-options` with [`Self::with_option`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V2Options {
    ssl: bool,
    cert_cn: bool,
    cert_key: bool,
    cert_sig: bool,
    ssl_cipher: bool,
    authority: bool,
    crc32c: bool,
    unique_id: bool,
}

impl V2Options {
    /// `send-proxy-v2`: addresses, and ALPN when negotiated.
    pub const SEND_PROXY_V2: Self = Self {
        ssl: false,
        cert_cn: false,
        cert_key: false,
        cert_sig: false,
        ssl_cipher: false,
        authority: false,
        crc32c: false,
        unique_id: false,
    };
    /// `send-proxy-v2-ssl`: plus the SSL TLV with the TLS version.
    pub const SEND_PROXY_V2_SSL: Self = Self {
        ssl: true,
        ..Self::SEND_PROXY_V2
    };
    /// `send-proxy-v2-ssl-cn`: plus the client certificate's CN.
    pub const SEND_PROXY_V2_SSL_CN: Self = Self {
        cert_cn: true,
        ..Self::SEND_PROXY_V2_SSL
    };

    /// Whether the SSL TLV is sent (`-v2-ssl`, or an option that implies it).
    pub fn sends_ssl(&self) -> bool {
        self.ssl
    }

    /// Whether the client certificate's CN is sent (`-v2-ssl-cn`).
    pub fn sends_cn(&self) -> bool {
        self.cert_cn
    }

    /// Adds one `proxy-v2-options` keyword, spelled as in HAProxy; `None` if
    /// HAProxy does not know it either.
    pub fn with_option(self, name: &str) -> Option<Self> {
        let mut o = self;
        match name {
            "ssl" => o.ssl = true,
            "cert-cn" => (o.ssl, o.cert_cn) = (true, true),
            "cert-key" => (o.ssl, o.cert_key) = (true, true),
            "cert-sig" => (o.ssl, o.cert_sig) = (true, true),
            "ssl-cipher" => (o.ssl, o.ssl_cipher) = (true, true),
            "authority" => o.authority = true,
            "crc32c" => o.crc32c = true,
            "unique-id" => o.unique_id = true,
            _ => return None,
        }
        Some(o)
    }
}

/// What one client connection contributes to the header. Values are what
/// OpenSSL-based HAProxy would send (ringress fills them from rustls).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendInfo<'a> {
    /// [`Addresses::Unspec`] sends `LOCAL` (health checks, unknown peers).
    pub addresses: Addresses,
    /// The negotiated ALPN protocol id; sent whenever present.
    pub alpn: Option<&'a [u8]>,
    /// The SNI (or an upstream's authority TLV); sent with option `authority`.
    pub authority: Option<&'a [u8]>,
    /// Sent with option `unique-id`.
    pub unique_id: Option<&'a [u8]>,
    /// `None` for a plain-TCP client.
    pub tls: Option<TlsInfo<'a>>,
}

/// The client's TLS session, as HAProxy's `ssl_sock_get_*()` would report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsInfo<'a> {
    /// `SSL_get_version()` spelling, e.g. `TLSv1.3`.
    pub version: Option<&'a str>,
    /// OpenSSL cipher name, e.g. `TLS_AES_128_GCM_SHA256`.
    pub cipher: Option<&'a str>,
    /// Signature algorithm of *our* (the frontend's) certificate, e.g. `RSA-SHA256`.
    pub cert_sig_alg: Option<&'a str>,
    /// Key algorithm and size of *our* certificate, e.g. `RSA2048`, `EC256`.
    pub cert_key_alg: Option<&'a str>,
    pub client_cert: Option<ClientCert<'a>>,
}

/// A client certificate seen in this TLS session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientCert<'a> {
    /// X.509 verification result; 0 is success (`X509_V_OK`). Mosquitto's
    /// `require_certificate` accepts only 0.
    pub verify_result: u32,
    /// Presented in this handshake, not only in the resumed session
    /// (`PP2_CLIENT_CERT_CONN`).
    pub on_this_connection: bool,
    /// Subject CN, sent with `-ssl-cn` / `cert-cn` when non-empty.
    pub common_name: Option<&'a [u8]>,
}

/// Writes the header HAProxy 3.2 would send for `options` and `info` into
/// `out`, in one contiguous piece; returns its length. A buffer of
/// [`super::V2_MAX_LEN`] bytes always suffices unless a value is over its limit.
pub fn encode_v2(
    out: &mut [u8],
    options: &V2Options,
    info: &SendInfo<'_>,
) -> Result<usize, EncodeError> {
    let command = match info.addresses {
        Addresses::Unspec => Command::Local,
        _ => Command::Proxy,
    };
    let mut w = V2Writer::new(out, command, &info.addresses)?;
    if options.crc32c {
        w.crc32c()?;
    }
    if let Some(alpn) = info.alpn {
        w.tlv(tlv_type::ALPN, alpn)?;
    }
    if options.authority {
        if let Some(authority) = info.authority {
            if authority.len() > AUTHORITY_MAX_LEN {
                return Err(EncodeError::ValueTooLong("AUTHORITY"));
            }
            w.tlv(tlv_type::AUTHORITY, authority)?;
        }
    }
    if options.unique_id {
        if let Some(id) = info.unique_id {
            if id.len() > UNIQUE_ID_MAX_LEN {
                return Err(EncodeError::ValueTooLong("UNIQUE_ID"));
            }
            w.tlv(tlv_type::UNIQUE_ID, id)?;
        }
    }
    if options.ssl {
        write_ssl(&mut w, options, info.tls.as_ref())?;
    }
    w.finish()
}

fn write_ssl(
    w: &mut V2Writer<'_>,
    options: &V2Options,
    tls: Option<&TlsInfo<'_>>,
) -> Result<(), EncodeError> {
    let Some(tls) = tls else {
        w.ssl_begin(0, 0)?;
        return w.ssl_end();
    };
    let mut client = client_flags::SSL;
    let mut verify = 0;
    if let Some(cert) = tls.client_cert {
        client |= client_flags::CERT_SESS;
        verify = cert.verify_result;
        if cert.on_this_connection {
            client |= client_flags::CERT_CONN;
        }
    }
    w.ssl_begin(client, verify)?;
    if let Some(version) = tls.version {
        w.tlv(tlv_type::SSL_VERSION, version.as_bytes())?;
    }
    if options.cert_cn {
        let cn = tls
            .client_cert
            .and_then(|c| c.common_name)
            .filter(|cn| !cn.is_empty());
        if let Some(cn) = cn {
            w.tlv(tlv_type::SSL_CN, cn)?;
        }
    }
    if options.cert_key {
        if let Some(key) = tls.cert_key_alg.filter(|k| !k.is_empty()) {
            w.tlv(tlv_type::SSL_KEY_ALG, key.as_bytes())?;
        }
    }
    if options.cert_sig {
        if let Some(sig) = tls.cert_sig_alg {
            w.tlv(tlv_type::SSL_SIG_ALG, sig.as_bytes())?;
        }
    }
    if options.ssl_cipher {
        if let Some(cipher) = tls.cipher {
            w.tlv(tlv_type::SSL_CIPHER, cipher.as_bytes())?;
        }
    }
    w.ssl_end()
}
