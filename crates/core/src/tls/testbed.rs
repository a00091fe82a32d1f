//! In-memory test bed: a CA, certificates, configs, and a rustls client wired to a
//! [`TlsSession`] by hand, the way the io_uring driver will wire it to a socket.

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256, RsaKeySize,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, ClientConnection, RootCertStore, ServerConfig, SupportedProtocolVersion,
};

use super::{ReadOutcome, RecordLayer, TlsError, TlsSession};

pub const SERVER_NAME: &str = "mqtt.example.com";

/// A certificate and its private key.
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_der: Vec<u8>,
}

impl Identity {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

/// A CA with the certificates issued by it. Built once: RSA key generation is slow.
pub struct Pki {
    pub ca_cert: CertificateDer<'static>,
    pub server_ecdsa: Identity,
    pub server_rsa: Identity,
    /// Client certificate with CN=device1.
    pub device1: Identity,
    /// A client certificate with CN=device1 from a CA the server does not trust.
    pub stranger: Identity,
}

pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let (ca_cert, ca) = make_ca("ringress test CA");
        let (_, other_ca) = make_ca("some other CA");
        let ecdsa = KeyPair::generate().unwrap();
        let rsa = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap();
        Pki {
            server_ecdsa: issue(&ca, &ca_cert, ecdsa, vec![SERVER_NAME.into()], None),
            server_rsa: issue(&ca, &ca_cert, rsa, vec![SERVER_NAME.into()], None),
            device1: issue(
                &ca,
                &ca_cert,
                KeyPair::generate().unwrap(),
                vec![],
                Some("device1"),
            ),
            stranger: issue(
                &other_ca,
                &ca_cert,
                KeyPair::generate().unwrap(),
                vec![],
                Some("device1"),
            ),
            ca_cert,
        }
    })
}

fn make_ca(name: &str) -> (CertificateDer<'static>, Issuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.der().clone(), Issuer::new(params, key))
}

fn issue(
    ca: &Issuer<'static, KeyPair>,
    ca_cert: &CertificateDer<'static>,
    key: KeyPair,
    names: Vec<String>,
    cn: Option<&str>,
) -> Identity {
    let mut params = CertificateParams::new(names).unwrap();
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    let cert = params.signed_by(&key, ca).unwrap();
    Identity {
        chain: vec![cert.der().clone(), ca_cert.clone()],
        key_der: key.serialize_der(),
    }
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(pki().ca_cert.clone()).unwrap();
    roots
}

/// How the server authenticates clients.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Off,
    Optional,
    Required,
}

pub fn server_config(identity: &Identity, auth: ClientAuth) -> ServerConfig {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match auth {
        ClientAuth::Off => builder.with_no_client_auth(),
        ClientAuth::Optional | ClientAuth::Required => {
            let verifier = WebPkiClientVerifier::builder(Arc::new(roots()));
            let verifier = match auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().unwrap())
        }
    };
    let mut config = builder
        .with_single_cert(identity.chain.clone(), identity.key())
        .unwrap();
    config.alpn_protocols = vec![b"mqtt".to_vec()];
    // As server_config.rs sets them: what kernel TLS and our record layer need.
    config.enable_secret_extraction = true;
    config.key_log = Arc::new(super::SecretLog);
    config
}

/// A client restricted to `versions` and, if given, one cipher suite.
pub fn client_config(
    versions: &[&'static SupportedProtocolVersion],
    suite: Option<rustls::CipherSuite>,
    identity: Option<&Identity>,
) -> ClientConfig {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(suite) = suite {
        provider.cipher_suites.retain(|s| s.suite() == suite);
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots());
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"mqtt".to_vec()];
    config
}

/// A rustls client and our session, with the bytes the driver would hold.
pub struct Pair {
    pub client: ClientConnection,
    pub server: TlsSession,
    /// What the last server read left unconsumed (the driver's per-connection Vec).
    pub held: Vec<u8>,
    /// Everything the server's `read` calls decrypted, in order.
    pub received: Vec<u8>,
    pub last: ReadOutcome,
}

impl Pair {
    pub fn new(client: ClientConfig, server: ServerConfig) -> Pair {
        Pair::sharing(Arc::new(client), Arc::new(server))
    }

    /// A pair on configs other pairs use too: their session stores are shared, so a second
    /// pair resumes the first one's session.
    pub fn sharing(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> Pair {
        Pair::with_records(client, server, RecordLayer::Own)
    }

    /// A pair whose server session's records go to `records` after the handshake.
    pub fn with_records(
        client: Arc<ClientConfig>,
        server: Arc<ServerConfig>,
        records: RecordLayer,
    ) -> Pair {
        let name = ServerName::try_from(SERVER_NAME).unwrap();
        Pair {
            client: ClientConnection::new(client, name).unwrap(),
            server: TlsSession::new(server, records).unwrap(),
            held: Vec::new(),
            received: Vec::new(),
            last: ReadOutcome::default(),
        }
    }

    /// Everything the client wants to send now.
    pub fn client_wire(&mut self) -> Vec<u8> {
        let mut wire = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut wire).unwrap();
        }
        wire
    }

    /// Feeds `bytes` to the server as one read (after the held bytes, as the driver does).
    /// Returns what the server wants to send.
    pub fn server_read(&mut self, bytes: &[u8]) -> Result<Vec<u8>, (TlsError, Vec<u8>)> {
        let mut incoming = std::mem::take(&mut self.held);
        incoming.extend_from_slice(bytes);
        let mut outgoing = Vec::new();
        match self.server.read(&mut incoming, &mut outgoing) {
            Ok(outcome) => {
                self.received
                    .extend_from_slice(&incoming[..outcome.plaintext]);
                self.held = incoming[outcome.consumed..].to_vec();
                self.last = outcome;
                Ok(outgoing)
            }
            Err(e) => Err((e, outgoing)),
        }
    }

    /// Hands server bytes to the client; returns the plaintext it got.
    pub fn client_receive(&mut self, mut bytes: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        let mut plain = Vec::new();
        loop {
            // The buffered client takes at most a few KiB per read_tls.
            if !bytes.is_empty() {
                self.client.read_tls(&mut bytes).unwrap();
            }
            let state = self.client.process_new_packets()?;
            let mut chunk = vec![0; state.plaintext_bytes_to_read()];
            self.client.reader().read_exact(&mut chunk).unwrap();
            plain.extend_from_slice(&chunk);
            if bytes.is_empty() && state.plaintext_bytes_to_read() == 0 {
                return Ok(plain);
            }
        }
    }

    /// Runs the handshake to completion, one flight at a time.
    pub fn handshake(&mut self) -> Result<(), TlsError> {
        for _ in 0..10 {
            let wire = self.client_wire();
            let out = self.server_read(&wire).map_err(|(e, _)| e)?;
            self.client_receive(&out).unwrap();
            if !self.server.is_handshaking() && !self.client.is_handshaking() {
                // Let the client take the tickets and anything else in flight.
                let wire = self.client_wire();
                let out = self.server_read(&wire).map_err(|(e, _)| e)?;
                self.client_receive(&out).unwrap();
                return Ok(());
            }
        }
        panic!("handshake did not finish in 10 flights");
    }

    /// The client sends `data`; returns the bytes on the wire.
    pub fn client_send(&mut self, mut data: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        // The buffered client takes 64 KiB of plaintext at a time.
        while !data.is_empty() {
            let n = self.client.writer().write(data).unwrap();
            data = &data[n..];
            wire.extend(self.client_wire());
        }
        wire
    }

    /// The server sends `data`; returns what the client decrypted.
    pub fn server_send(&mut self, data: &[u8]) -> Vec<u8> {
        let mut outgoing = Vec::new();
        self.server
            .write(&mut self.held, data, &mut outgoing)
            .unwrap();
        self.client_receive(&outgoing).unwrap()
    }
}

/// A deterministic pseudo-random byte pattern of `len` bytes.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}
