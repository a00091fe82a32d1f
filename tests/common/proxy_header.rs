//! PROXY protocol v1/v2 headers as a backend sees them: a parser (independent of the one in
//! `src/`, written from the spec and the HAProxy captures in `tests/peers/fixtures`), a
//! builder for the headers tests send *to* ringress, and [`CaptureBackend`]: a listener that
//! records the header of each accepted connection (and how many bytes the first read
//! returned) and then echoes whatever follows.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::backends::listen_loopback;

pub const V2_SIG: [u8; 12] = *b"\r\n\r\n\x00\r\nQUIT\n";

pub const PP2_TYPE_ALPN: u8 = 0x01;
pub const PP2_TYPE_AUTHORITY: u8 = 0x02;
pub const PP2_TYPE_SSL: u8 = 0x20;
pub const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
pub const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
pub const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;

/// The SSL TLV (0x20) decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SslTlv {
    pub client: u8,
    pub verify: u32,
    /// Sub-TLVs in order: (type, value).
    pub subs: Vec<(u8, Vec<u8>)>,
}

impl SslTlv {
    pub fn sub(&self, t: u8) -> Option<String> {
        self.subs
            .iter()
            .find(|(ty, _)| *ty == t)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
    pub fn sub_types(&self) -> Vec<u8> {
        self.subs.iter().map(|(t, _)| *t).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// 1 or 2.
    pub version: u8,
    /// v2: true for PROXY, false for LOCAL. v1: true unless `PROXY UNKNOWN`.
    pub proxied: bool,
    /// v2 family/protocol byte (0x11 TCP4, 0x21 TCP6, 0x00 UNSPEC); v1: 0x11/0x21/0x00.
    pub family: u8,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    /// Top-level TLVs in order (v2): (type, value).
    pub tlvs: Vec<(u8, Vec<u8>)>,
    /// The exact header bytes.
    pub raw: Vec<u8>,
}

impl ProxyHeader {
    pub fn tlv_types(&self) -> Vec<u8> {
        self.tlvs.iter().map(|(t, _)| *t).collect()
    }
    pub fn tlv(&self, t: u8) -> Option<&[u8]> {
        self.tlvs
            .iter()
            .find(|(ty, _)| *ty == t)
            .map(|(_, v)| v.as_slice())
    }
    pub fn authority(&self) -> Option<String> {
        self.tlv(PP2_TYPE_AUTHORITY)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }
    pub fn ssl(&self) -> Option<SslTlv> {
        let v = self.tlv(PP2_TYPE_SSL)?;
        assert!(v.len() >= 5, "SSL TLV shorter than 5 bytes: {v:02x?}");
        let subs = parse_tlvs(&v[5..]).unwrap_or_else(|e| panic!("SSL sub-TLVs: {e}"));
        Some(SslTlv {
            client: v[0],
            verify: u32::from_be_bytes([v[1], v[2], v[3], v[4]]),
            subs,
        })
    }
}

fn parse_tlvs(mut b: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 3 {
            return Err(format!("truncated TLV: {b:02x?}"));
        }
        let len = u16::from_be_bytes([b[1], b[2]]) as usize;
        if b.len() < 3 + len {
            return Err(format!(
                "TLV 0x{:02x} claims {len} bytes, {} left",
                b[0],
                b.len() - 3
            ));
        }
        out.push((b[0], b[3..3 + len].to_vec()));
        b = &b[3 + len..];
    }
    Ok(out)
}

/// Length of the complete header at the start of `buf`: Ok(None) when more bytes are needed.
pub fn header_len(buf: &[u8]) -> Result<Option<usize>, String> {
    if buf.starts_with(b"PROXY ") {
        return Ok(buf.windows(2).position(|w| w == b"\r\n").map(|i| i + 2));
    }
    if buf.len() >= 16 && buf[..12] == V2_SIG {
        return Ok(Some(16 + u16::from_be_bytes([buf[14], buf[15]]) as usize));
    }
    let (n2, n1) = (buf.len().min(12), buf.len().min(6));
    let maybe_v2 = V2_SIG[..n2] == buf[..n2];
    let maybe_v1 = b"PROXY "[..n1] == buf[..n1];
    if buf.len() >= 16 || !(maybe_v2 || maybe_v1) {
        return Err(format!(
            "not a PROXY header: {:02x?}",
            &buf[..buf.len().min(32)]
        ));
    }
    Ok(None)
}

/// Parses exactly one complete header.
pub fn parse(raw: &[u8]) -> Result<ProxyHeader, String> {
    if raw.starts_with(b"PROXY ") {
        let line = std::str::from_utf8(raw).map_err(|e| e.to_string())?;
        let line = line.strip_suffix("\r\n").ok_or("v1 without CRLF")?;
        let f: Vec<&str> = line.split(' ').collect();
        if f.get(1) == Some(&"UNKNOWN") {
            return Ok(ProxyHeader {
                version: 1,
                proxied: false,
                family: 0,
                src: None,
                dst: None,
                tlvs: vec![],
                raw: raw.to_vec(),
            });
        }
        if f.len() != 6 {
            return Err(format!("v1 with {} fields: {line:?}", f.len()));
        }
        let family = match f[1] {
            "TCP4" => 0x11,
            "TCP6" => 0x21,
            other => return Err(format!("v1 family {other:?}")),
        };
        let sa = |ip: &str, port: &str| -> Result<SocketAddr, String> {
            let ip: std::net::IpAddr = ip.parse().map_err(|e| format!("{ip:?}: {e}"))?;
            let port: u16 = port.parse().map_err(|e| format!("{port:?}: {e}"))?;
            Ok(SocketAddr::new(ip, port))
        };
        return Ok(ProxyHeader {
            version: 1,
            proxied: true,
            family,
            src: Some(sa(f[2], f[4])?),
            dst: Some(sa(f[3], f[5])?),
            tlvs: vec![],
            raw: raw.to_vec(),
        });
    }
    if raw.len() < 16 || raw[..12] != V2_SIG {
        return Err(format!(
            "not a v2 header: {:02x?}",
            &raw[..raw.len().min(16)]
        ));
    }
    let len = u16::from_be_bytes([raw[14], raw[15]]) as usize;
    if raw.len() != 16 + len {
        return Err(format!("v2 length {len} but {} bytes", raw.len() - 16));
    }
    if raw[12] >> 4 != 2 {
        return Err(format!("v2 version nibble {:#x}", raw[12] >> 4));
    }
    let proxied = match raw[12] & 0x0f {
        0 => false,
        1 => true,
        c => return Err(format!("v2 command {c}")),
    };
    let family = raw[13];
    let body = &raw[16..];
    let (src, dst, rest) = match family {
        0x11 => {
            if body.len() < 12 {
                return Err("TCP4 address block short".into());
            }
            let ip = |b: &[u8]| std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]);
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            (
                Some(SocketAddr::from((ip(&body[0..4]), port(&body[8..10])))),
                Some(SocketAddr::from((ip(&body[4..8]), port(&body[10..12])))),
                &body[12..],
            )
        }
        0x21 => {
            if body.len() < 36 {
                return Err("TCP6 address block short".into());
            }
            let ip = |b: &[u8]| std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap());
            let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
            (
                Some(SocketAddr::from((ip(&body[0..16]), port(&body[32..34])))),
                Some(SocketAddr::from((ip(&body[16..32]), port(&body[34..36])))),
                &body[36..],
            )
        }
        _ => (None, None, body),
    };
    Ok(ProxyHeader {
        version: 2,
        proxied,
        family,
        src,
        dst,
        tlvs: parse_tlvs(rest)?,
        raw: raw.to_vec(),
    })
}

/// Reads a fixture from `tests/peers/fixtures/NAME` (hex, whitespace separated).
pub fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.split_whitespace()
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Headers tests send to ringress

/// A v2 PROXY header for TCP4/TCP6 `src -> dst` with raw TLV bytes appended.
pub fn v2_proxy(src: SocketAddr, dst: SocketAddr, tlvs: &[u8]) -> Vec<u8> {
    let mut addr = Vec::new();
    let family = match (src, dst) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            addr.extend_from_slice(&s.ip().octets());
            addr.extend_from_slice(&d.ip().octets());
            addr.extend_from_slice(&s.port().to_be_bytes());
            addr.extend_from_slice(&d.port().to_be_bytes());
            0x11
        }
        (SocketAddr::V6(s), SocketAddr::V6(d)) => {
            addr.extend_from_slice(&s.ip().octets());
            addr.extend_from_slice(&d.ip().octets());
            addr.extend_from_slice(&s.port().to_be_bytes());
            addr.extend_from_slice(&d.port().to_be_bytes());
            0x21
        }
        _ => panic!("mixed families"),
    };
    let mut h = V2_SIG.to_vec();
    h.push(0x21);
    h.push(family);
    h.extend_from_slice(&((addr.len() + tlvs.len()) as u16).to_be_bytes());
    h.extend_from_slice(&addr);
    h.extend_from_slice(tlvs);
    h
}

/// A v2 LOCAL header (health check): no addresses.
pub fn v2_local() -> Vec<u8> {
    let mut h = V2_SIG.to_vec();
    h.extend_from_slice(&[0x20, 0x00, 0x00, 0x00]);
    h
}

pub fn v1_proxy(src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let fam = if src.is_ipv4() { "TCP4" } else { "TCP6" };
    format!(
        "PROXY {fam} {} {} {} {}\r\n",
        src.ip(),
        dst.ip(),
        src.port(),
        dst.port()
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Capture backend

/// What the capture backend saw on one connection.
#[derive(Clone, Debug)]
pub struct Captured {
    /// Peer address of the TCP connection (the proxy's outgoing socket).
    pub peer: SocketAddr,
    pub header: Result<ProxyHeader, String>,
    /// Size of the first successful read: a header split over segments shows up here.
    pub first_read: usize,
}

/// Accepts connections on 127.0.0.1:0; for each, reads a PROXY header (when `expect_header`)
/// and reports it on a channel, then echoes everything after it until EOF.
pub struct CaptureBackend {
    pub addr: SocketAddr,
    rx: Mutex<Receiver<Captured>>,
    _listener: Arc<TcpListener>,
}

impl CaptureBackend {
    pub fn start() -> CaptureBackend {
        let listener = Arc::new(listen_loopback(128));
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = channel();
        let l = Arc::clone(&listener);
        std::thread::Builder::new()
            .name("capture-backend".into())
            .spawn(move || accept_loop(&l, tx))
            .expect("spawn capture backend");
        CaptureBackend {
            addr,
            rx: Mutex::new(rx),
            _listener: listener,
        }
    }

    /// The next connection's capture, bounded.
    pub fn next(&self, timeout: Duration) -> Captured {
        self.rx
            .lock()
            .unwrap()
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("capture backend: no connection within {timeout:?}: {e}"))
    }

    /// Asserts no connection arrives within `quiet`.
    pub fn assert_none(&self, quiet: Duration, why: &str) {
        if let Ok(c) = self.rx.lock().unwrap().recv_timeout(quiet) {
            panic!("{why}: the backend got a connection: {c:?}");
        }
    }
}

fn accept_loop(listener: &TcpListener, tx: Sender<Captured>) {
    for conn in listener.incoming() {
        let Ok(stream) = conn else { return };
        let tx = tx.clone();
        let _ = std::thread::Builder::new()
            .name("capture-conn".into())
            .spawn(move || serve(stream, tx));
    }
}

fn serve(mut s: TcpStream, tx: Sender<Captured>) {
    let peer = s.peer_addr().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut first_read = 0;
    let header = loop {
        match header_len(&buf) {
            Err(e) => break Err(e),
            Ok(Some(n)) if buf.len() >= n => break parse(&buf[..n]),
            _ => {}
        }
        match s.read(&mut chunk) {
            Ok(0) => break Err(format!("EOF after {} bytes: {:02x?}", buf.len(), buf)),
            Ok(n) => {
                if first_read == 0 {
                    first_read = n;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(format!("read error after {} bytes: {e}", buf.len())),
        }
    };
    let consumed = header.as_ref().map(|h| h.raw.len()).unwrap_or(buf.len());
    let rest = buf[consumed..].to_vec();
    let ok = header.is_ok();
    let _ = tx.send(Captured {
        peer,
        header,
        first_read,
    });
    if !ok {
        return;
    }
    if !rest.is_empty() && s.write_all(&rest).is_err() {
        return;
    }
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&chunk[..n]).is_err() {
                    return;
                }
            }
        }
    }
}
