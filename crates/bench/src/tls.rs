//! The load generator's rustls client configuration: TLS 1.3 only when a cipher is named,
//! X25519 only, no session resumption (every connection is a full handshake), optional
//! client certificate, and an opt-in "accept any server certificate" for handshake storms,
//! where verifying the server's signature would make the client the bottleneck.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, Resumption};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// TLS settings of the load generator.
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    pub ca_file: Option<std::path::PathBuf>,
    pub cert_file: Option<std::path::PathBuf>,
    pub key_file: Option<std::path::PathBuf>,
    /// `aes256`, `aes128`, `chacha20` (TLS 1.3 suites) or `None` for rustls' defaults.
    pub cipher: Option<String>,
    /// Skip certificate and signature verification (benchmark only).
    pub insecure: bool,
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{}: cannot read certificates", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{}: bad PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{}: no certificate", path.display());
    }
    Ok(certs)
}

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// Builds the client config described by `tls`.
pub fn client_config(tls: &ClientTls) -> Result<Arc<ClientConfig>> {
    let mut provider = aws_lc_rs::default_provider();
    provider.kx_groups = vec![aws_lc_rs::kx_group::X25519];
    let mut versions: &[&rustls::SupportedProtocolVersion] = rustls::DEFAULT_VERSIONS;
    if let Some(name) = &tls.cipher {
        use aws_lc_rs::cipher_suite as cs;
        let suite = match name.as_str() {
            "aes256" => cs::TLS13_AES_256_GCM_SHA384,
            "aes128" => cs::TLS13_AES_128_GCM_SHA256,
            "chacha20" => cs::TLS13_CHACHA20_POLY1305_SHA256,
            other => bail!("--cipher {other}: expected aes256, aes128 or chacha20"),
        };
        provider.cipher_suites = vec![suite];
        versions = TLS13_ONLY;
    }
    let provider = Arc::new(provider);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .context("TLS versions")?;
    let builder = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
    } else {
        let mut roots = RootCertStore::empty();
        let ca = tls
            .ca_file
            .as_deref()
            .context("TLS needs --ca FILE (or --insecure)")?;
        for cert in load_certs(ca)? {
            roots.add(cert).context("CA certificate")?;
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => {
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("{}: cannot read private key", key.display()))?;
            builder
                .with_client_auth_cert(load_certs(cert)?, key)
                .context("client certificate")?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => bail!("--cert and --key go together"),
    };
    config.resumption = Resumption::disabled();
    Ok(Arc::new(config))
}

/// The server name to send: `sni`, else the target's IP (rustls then sends no SNI).
pub fn server_name(sni: Option<&str>, target: std::net::SocketAddr) -> Result<ServerName<'static>> {
    match sni {
        Some(name) => ServerName::try_from(name.to_owned()).context("--sni"),
        None => Ok(ServerName::IpAddress(target.ip().into())),
    }
}

/// Accepts every server certificate and signature: `--insecure`, for benchmarks where the
/// client's signature check would cost more than the server's signing.
#[derive(Debug)]
struct AcceptAnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
