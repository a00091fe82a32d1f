//! Helpers that run inside the kTLS test VM (see `tests/vm/README.md`), where the sid rootfs
//! has no python: `hold` opens many idle MQTT-over-TLS connections through ringress (for the
//! RSS-per-connection measurement); `echo` is the byte-exact backend of the 50 MiB transfer;
//! `nonces` is a TLS 1.2 AES-GCM MQTT client that records every byte ringress sends it and checks
//! that no explicit nonce repeats across the kernel TLS hand-off.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("hold") if args.len() == 4 => hold(&args[2], &args[3]),
        Some("echo") if args.len() == 4 => echo(&args[2], &args[3]),
        Some("nonces") if args.len() == 5 => nonces(&args[2], &args[3], &args[4]),
        _ => Err(
            "usage: ringress-vm-helper hold ADDR N | echo ADDR BYTES | nonces ADDR aes128|aes256 N"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("ringress-vm-helper: {e}");
        std::process::exit(1);
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// MQTT 3.1.1 CONNECT, clean session, keep-alive 0 (the broker never times it out), client
/// id "h" plus 5 digits.
fn connect_packet(i: usize) -> Vec<u8> {
    let id = format!("h{i:05}");
    let mut p = vec![0x10, (10 + 2 + id.len()) as u8];
    p.extend([0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 0]);
    p.extend([0, id.len() as u8]);
    p.extend(id.as_bytes());
    p
}

/// Opens `n` TLS connections to `addr`, sends CONNECT on each and waits for CONNACK (so every
/// connection is relayed to the broker), prints `HELD n`, then holds them until stdin closes.
fn hold(addr: &str, n: &str) -> Result<()> {
    let addr: SocketAddr = addr.parse()?;
    let n: usize = n.parse()?;
    let config = Arc::new(
        ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCert))
            .with_no_client_auth(),
    );
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let conn = ClientConnection::new(config.clone(), ServerName::try_from("localhost")?)?;
        let mut tls = StreamOwned::new(conn, TcpStream::connect(addr)?);
        tls.write_all(&connect_packet(i))?;
        let mut connack = [0u8; 4];
        tls.read_exact(&mut connack)
            .map_err(|e| format!("connection {i}: no CONNACK: {e}"))?;
        if connack != [0x20, 0x02, 0x00, 0x00] {
            return Err(format!("connection {i}: CONNACK {connack:02x?}").into());
        }
        held.push(tls);
    }
    println!("HELD {n}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    while std::io::stdin().lock().read_line(&mut line)? > 0 {}
    Ok(())
}

/// Accepts one connection on `addr`, echoes exactly `bytes` bytes, then closes.
fn echo(addr: &str, bytes: &str) -> Result<()> {
    let listener = TcpListener::bind(addr)?;
    let total: u64 = bytes.parse()?;
    println!("LISTENING");
    std::io::stdout().flush()?;
    let (mut sock, _) = listener.accept()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = 0u64;
    while done < total {
        let n = sock.read(&mut buf)?;
        if n == 0 {
            return Err(format!("peer closed after {done} of {total} bytes").into());
        }
        sock.write_all(&buf[..n])?;
        done += n as u64;
    }
    sock.shutdown(std::net::Shutdown::Write)?;
    // Drain until the client's FIN so the close is orderly (no RST on unread data).
    while sock.read(&mut buf)? > 0 {}
    println!("ECHOED {done}");
    Ok(())
}

/// A socket that keeps a copy of every byte read from it: the records ringress sent, exactly
/// as they crossed the wire.
struct Recording {
    sock: TcpStream,
    seen: Vec<u8>,
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sock.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

/// TLS 1.2 with one AES-GCM suite through ringress to the broker: CONNECT, SUBSCRIBE, `n`
/// PUBLISHes echoed back by the broker, DISCONNECT. Then every record ringress sent after its
/// ChangeCipherSpec — the Finished (rustls), then what the kernel sent — has its explicit nonce
/// (the first 8 bytes of the body) compared with all others. Prints `NONCES records distinct
/// first-last`; fails if one repeats.
fn nonces(addr: &str, suite: &str, n: &str) -> Result<()> {
    let addr: SocketAddr = addr.parse()?;
    let n: usize = n.parse()?;
    let suite = match suite {
        "aes128" => rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "aes256" => rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        other => return Err(format!("unknown suite {other}").into()),
    };
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.retain(|s| s.suite() == suite);
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert))
        .with_no_client_auth();
    let mut conn = ClientConnection::new(Arc::new(config), ServerName::try_from("localhost")?)?;
    let mut rec = Recording {
        sock: TcpStream::connect(addr)?,
        seen: Vec::new(),
    };
    let mut tls = rustls::Stream::new(&mut conn, &mut rec);
    tls.write_all(&connect_packet(n))?;
    let mut connack = [0u8; 4];
    tls.read_exact(&mut connack)?;
    if connack != [0x20, 0x02, 0x00, 0x00] {
        return Err(format!("CONNACK {connack:02x?}").into());
    }
    let topic = format!("ktls/nonces-{suite:?}");
    let mut subscribe = vec![
        0x82,
        (2 + 2 + topic.len() + 1) as u8,
        0,
        1,
        0,
        topic.len() as u8,
    ];
    subscribe.extend(topic.as_bytes());
    subscribe.push(0);
    tls.write_all(&subscribe)?;
    let mut suback = [0u8; 5];
    tls.read_exact(&mut suback)?;
    let mut publish = vec![0x30, (2 + topic.len() + 8) as u8, 0, topic.len() as u8];
    publish.extend(topic.as_bytes());
    publish.extend(b"payload!");
    for _ in 0..n {
        tls.write_all(&publish)?;
        // Read each echo before the next: one kernel record per message, most likely.
        let mut echoed = vec![0u8; publish.len()];
        tls.read_exact(&mut echoed)?;
        if echoed != publish {
            return Err("the broker echoed something else".into());
        }
    }
    tls.write_all(&[0xe0, 0])?;
    // The broker closes; ringress then sends close_notify (or just FIN): both end the capture.
    let _ = tls.read_to_end(&mut Vec::new());
    let wire = std::mem::take(&mut rec.seen);
    let (mut at, mut encrypted, mut seen) = (0, false, Vec::new());
    while let Some(header) = wire.get(at..at + 5) {
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let body = wire
            .get(at + 5..at + 5 + len)
            .ok_or("capture ends inside a record")?;
        match header[0] {
            20 => encrypted = true,
            21..=23 if encrypted => {
                let nonce: [u8; 8] = body.get(..8).ok_or("short record")?.try_into()?;
                seen.push(u64::from_be_bytes(nonce));
            }
            _ => {}
        }
        at += 5 + len;
    }
    let mut unique = seen.clone();
    unique.sort_unstable();
    unique.dedup();
    let shown = |v: &[u64]| {
        v.iter()
            .map(|x| format!("{x:016x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "NONCES {} {} {}",
        seen.len(),
        unique.len(),
        shown(&seen[..seen.len().min(4)])
    );
    if unique.len() != seen.len() || seen.len() < n + 3 {
        return Err(format!("explicit nonces repeat or are missing: {}", shown(&seen)).into());
    }
    Ok(())
}

/// These tests measure memory and record nonces; the proxy's certificate is not under test.
#[derive(Debug)]
struct AnyServerCert;

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
