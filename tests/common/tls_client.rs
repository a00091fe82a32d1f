//! A rustls TLS client for the tests: connects (optionally from a chosen loopback source
//! address), sends an SNI, verifies the server against a given CA, may present a client
//! certificate, and reports what was negotiated and which certificate the server served.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::IO_TIMEOUT;
use super::pki::CertKey;

#[derive(Clone, Default)]
pub struct TlsClient {
    /// SNI to send; None sends none (the server name used for verification is then
    /// `verify_name`, and rustls sends no SNI for an IP address).
    pub sni: Option<String>,
    /// Name checked against the server certificate when `sni` is None.
    pub verify_name: Option<String>,
    /// Trusted CA certificates (DER).
    pub roots: Vec<Vec<u8>>,
    /// Client certificate chain and key.
    pub client_cert: Option<CertKey>,
    pub alpn: Vec<Vec<u8>>,
    /// Source address to bind before connecting (port 0).
    pub bind: Option<IpAddr>,
    /// Restrict to TLS 1.2 only.
    pub tls12_only: bool,
    /// Restrict the TLS 1.3 cipher suites to TLS13_AES_256_GCM_SHA384 (so two servers with
    /// different preferences negotiate the same one).
    pub aes256_only: bool,
}

/// An established TLS connection.
pub struct TlsConn {
    pub stream: StreamOwned<ClientConnection, TcpStream>,
    pub local: SocketAddr,
}

impl TlsConn {
    /// DER of the leaf certificate the server presented.
    pub fn server_cert(&self) -> Vec<u8> {
        self.stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.to_vec())
            .expect("server presented no certificate")
    }

    pub fn version(&self) -> &'static str {
        match self.stream.conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
            _ => "?",
        }
    }

    /// The IANA / OpenSSL-style cipher name (`TLS_AES_256_GCM_SHA384`,
    /// `ECDHE-ECDSA-AES256-GCM-SHA384` is *not* produced: TLS 1.2 suites keep rustls's
    /// `TLS_ECDHE_...` IANA name).
    pub fn cipher(&self) -> String {
        let s = self
            .stream
            .conn
            .negotiated_cipher_suite()
            .expect("no cipher suite");
        let name = format!("{:?}", s.suite());
        name.replacen("TLS13_", "TLS_", 1)
    }

    /// Whether the handshake resumed an earlier session (a TLS 1.3 ticket, or a TLS 1.2
    /// session id or ticket).
    pub fn resumed(&self) -> bool {
        self.stream.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }

    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.stream.conn.alpn_protocol().map(|a| a.to_vec())
    }

    /// Writes `msg` and reads the same number of bytes back (an echo backend behind).
    pub fn echo(&mut self, msg: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(msg)?;
        self.stream.flush()?;
        let mut back = vec![0; msg.len()];
        self.stream.read_exact(&mut back)?;
        Ok(back)
    }

    /// Sends close_notify and shuts down the socket's write side.
    pub fn close(mut self) {
        self.stream.conn.send_close_notify();
        let _ = self.stream.flush();
        let _ = self.stream.sock.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = self.stream.read_to_end(&mut sink);
    }
}

/// Connects a TCP socket to `addr`, from `bind` (port 0) when given; bounded timeouts.
pub fn tcp_connect_from(bind: Option<IpAddr>, addr: SocketAddr) -> io::Result<TcpStream> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if let Some(ip) = bind {
        s.bind(&SocketAddr::new(ip, 0).into())?;
    }
    s.connect_timeout(&addr.into(), Duration::from_secs(10))?;
    let s: TcpStream = s.into();
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl TlsClient {
    pub fn new(sni: &str, roots: &[&CertKey]) -> TlsClient {
        TlsClient {
            sni: Some(sni.to_string()),
            roots: roots.iter().map(|c| c.der.clone()).collect(),
            ..TlsClient::default()
        }
    }

    pub fn with_cert(mut self, c: &CertKey) -> TlsClient {
        self.client_cert = Some(c.clone());
        self
    }

    pub fn bound_to(mut self, ip: &str) -> TlsClient {
        self.bind = Some(ip.parse().unwrap());
        self
    }

    pub fn config(&self) -> Arc<ClientConfig> {
        let mut provider = (*provider()).clone();
        if self.aes256_only {
            provider.cipher_suites.retain(|s| {
                s.suite() == rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
                    || s.version() == &rustls::version::TLS12
            });
        }
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls12_only {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let mut roots = RootCertStore::empty();
        for r in &self.roots {
            roots
                .add(CertificateDer::from(r.clone()))
                .expect("add root");
        }
        let builder = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .expect("protocol versions")
            .with_root_certificates(roots);
        let mut cfg = match &self.client_cert {
            Some(c) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from(c.der.clone())],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key_der.clone())),
                )
                .expect("client cert"),
            None => builder.with_no_client_auth(),
        };
        cfg.alpn_protocols = self.alpn.clone();
        cfg.enable_sni = self.sni.is_some();
        Arc::new(cfg)
    }

    /// TCP connect + full TLS handshake. The error says what failed (an alert received, a
    /// certificate problem, EOF, ...).
    pub fn connect(&self, addr: SocketAddr) -> Result<TlsConn, String> {
        self.connect_with(&self.config(), addr)
    }

    /// [`Self::connect`] with a given config: connections sharing one config share its
    /// session store, so the second to the same server resumes the first one's session.
    pub fn connect_with(
        &self,
        config: &Arc<ClientConfig>,
        addr: SocketAddr,
    ) -> Result<TlsConn, String> {
        let sock = tcp_connect_from(self.bind, addr).map_err(|e| format!("TCP connect: {e}"))?;
        self.handshake_with(config, sock)
    }

    /// Runs the TLS handshake on an already connected socket (e.g. after a PROXY header).
    pub fn handshake_on(&self, sock: TcpStream) -> Result<TlsConn, String> {
        self.handshake_with(&self.config(), sock)
    }

    /// Runs the TLS handshake on `sock`, sending `prefix` and the ClientHello in one write,
    /// as a load balancer forwards its PROXY header with the client's first flight.
    pub fn handshake_after(&self, prefix: &[u8], sock: TcpStream) -> Result<TlsConn, String> {
        self.handshake_from(&self.config(), prefix, sock)
    }

    fn handshake_with(
        &self,
        config: &Arc<ClientConfig>,
        sock: TcpStream,
    ) -> Result<TlsConn, String> {
        self.handshake_from(config, &[], sock)
    }

    fn handshake_from(
        &self,
        config: &Arc<ClientConfig>,
        prefix: &[u8],
        mut sock: TcpStream,
    ) -> Result<TlsConn, String> {
        let local = sock.local_addr().unwrap();
        let name = self
            .sni
            .clone()
            .or_else(|| self.verify_name.clone())
            .unwrap_or_else(|| "localhost".into());
        let server_name = ServerName::try_from(name).expect("server name");
        let mut conn =
            ClientConnection::new(Arc::clone(config), server_name).map_err(|e| e.to_string())?;
        let mut first = prefix.to_vec();
        while conn.wants_write() {
            conn.write_tls(&mut first)
                .map_err(|e| format!("ClientHello: {e}"))?;
        }
        sock.write_all(&first)
            .map_err(|e| format!("first flight: {e}"))?;
        while conn.is_handshaking() {
            match conn.complete_io(&mut sock) {
                Ok((0, 0)) if conn.is_handshaking() => {
                    return Err("EOF during the handshake".into());
                }
                Ok(_) => {}
                Err(e) => return Err(format!("handshake: {e}")),
            }
        }
        Ok(TlsConn {
            stream: StreamOwned::new(conn, sock),
            local,
        })
    }
}
