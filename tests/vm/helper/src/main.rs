//! Helpers that run inside the kTLS test VM (see `tests/vm/README.md`), where the sid rootfs
//! has no python: `hold` opens many idle MQTT-over-TLS connections through ringress (for the
//! RSS-per-connection measurement); `echo` is the byte-exact backend of the 50 MiB transfer.

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
        _ => Err("usage: ringress-vm-helper hold ADDR N | echo ADDR BYTES".into()),
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

/// The test only measures memory; the proxy's certificate is not what is under test here.
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
