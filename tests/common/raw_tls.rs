//! Hand-built TLS bytes for the bad-input tests: ClientHellos of any legacy version and
//! size, record framing, and a real rustls ClientHello to truncate.

use std::sync::Arc;

use rustls::pki_types::ServerName;

pub const REC_HANDSHAKE: u8 = 0x16;
pub const REC_ALERT: u8 = 0x15;

/// The alert a TLS 1.2/1.3 server sends for an unknown or missing SNI:
/// fatal (2), unrecognized_name (112).
pub const ALERT_UNRECOGNIZED_NAME: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

fn u16be(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

fn ext(out: &mut Vec<u8>, ty: u16, body: &[u8]) {
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&u16be(body.len()));
    out.extend_from_slice(body);
}

/// A ClientHello handshake message (type 1 + u24 length + body).
/// `legacy_version`: 0x0300 SSLv3, 0x0301 TLS 1.0, 0x0303 TLS 1.2.
/// `supported_versions`: the TLS 1.3 extension (None: not sent).
/// `min_len`: the handshake body is padded (padding extension 0x15) to at least this.
pub fn client_hello(
    legacy_version: u16,
    supported_versions: Option<&[u16]>,
    sni: Option<&str>,
    min_len: usize,
) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&legacy_version.to_be_bytes());
    b.extend_from_slice(&[0x42; 32]); // random
    b.push(32); // legacy session id
    b.extend_from_slice(&[0x17; 32]);
    let suites: &[u16] = if legacy_version >= 0x0303 {
        &[0x1302, 0x1301, 0xc02c, 0xc02b, 0xc030, 0xc02f]
    } else {
        &[0xc014, 0xc013, 0x0035, 0x002f, 0x000a] // CBC suites of SSLv3/TLS1.0
    };
    b.extend_from_slice(&u16be(suites.len() * 2));
    for s in suites {
        b.extend_from_slice(&s.to_be_bytes());
    }
    b.extend_from_slice(&[1, 0]); // compression: null
    let mut exts = Vec::new();
    if let Some(name) = sni {
        let mut e = Vec::new();
        e.extend_from_slice(&u16be(name.len() + 3));
        e.push(0);
        e.extend_from_slice(&u16be(name.len()));
        e.extend_from_slice(name.as_bytes());
        ext(&mut exts, 0x0000, &e);
    }
    ext(&mut exts, 0x000a, &[0, 4, 0x00, 0x1d, 0x00, 0x17]); // groups x25519, P-256
    ext(&mut exts, 0x000b, &[1, 0]); // ec point formats
    ext(
        &mut exts,
        0x000d,
        &[0, 6, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01],
    ); // sig algs
    if let Some(vs) = supported_versions {
        let mut e = vec![(vs.len() * 2) as u8];
        for v in vs {
            e.extend_from_slice(&v.to_be_bytes());
        }
        ext(&mut exts, 0x002b, &e);
        if vs.contains(&0x0304) {
            let mut ks = Vec::new();
            ks.extend_from_slice(&u16be(36));
            ks.extend_from_slice(&[0x00, 0x1d, 0x00, 0x20]);
            ks.extend_from_slice(&[0x09; 32]);
            ext(&mut exts, 0x0033, &ks);
        }
    }
    let base = b.len() + 2 + exts.len();
    if min_len > base {
        let pad = (min_len - base).saturating_sub(4);
        ext(&mut exts, 0x0015, &vec![0; pad]);
    }
    b.extend_from_slice(&u16be(exts.len()));
    b.extend_from_slice(&exts);
    let mut hs = vec![0x01];
    hs.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&b);
    hs
}

/// Frames `payload` as records of `content_type` with `version`, at most 16384 bytes each.
pub fn records(content_type: u8, version: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in payload.chunks(16384) {
        out.push(content_type);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&u16be(chunk.len()));
        out.extend_from_slice(chunk);
    }
    out
}

/// The first flight (ClientHello records) of a real rustls client; `sni` None sends none.
pub fn rustls_client_hello(sni: Option<&str>) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    cfg.enable_sni = sni.is_some();
    let name = ServerName::try_from(sni.unwrap_or("localhost").to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}
