//! One route's TLS server side, built once at load: certificate chain and key, client
//! certificate verification (CA bundle, CRLs, optional or required), minimum protocol
//! version and ALPN, as a shareable `rustls::ServerConfig`.
//!
//! Files are PEM. Keys may be PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
//! (`RSA PRIVATE KEY`); ECDSA P-256/P-384, Ed25519 and RSA are accepted (what the aws-lc-rs
//! provider signs with). Every error names the file and what is wrong with it.
//!
//! A private key file that other users may access (any "other" permission bit) is refused,
//! one its group may access is loaded with a warning: OpenSSH refuses both for its keys, but
//! a group is how a service account is commonly given a key it does not own (`root:ringress
//! 0640`), while access for everyone never is. A CRL past its nextUpdate is logged at load,
//! and [`CrlExpiry`] says whether it then refuses certificates.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName};
use rustls::server::{ParsedCertificate, VerifierBuilderError, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::config::ClientAuth;

/// Lowest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum MinTlsVersion {
    /// TLS 1.2 and 1.3: what Mosquitto's own listeners accept by default.
    #[default]
    Tls12,
    Tls13,
}

/// What a client certificate check does with a CRL past its nextUpdate (`client_crl_expiry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum CrlExpiry {
    /// Refuse every certificate the CRL covers until a current one is loaded: revocations
    /// issued since are unknown, and OpenSSL-based servers (mosquitto, nginx, HAProxy) do
    /// the same, so moving TLS to ringress does not weaken revocation.
    #[default]
    Enforce,
    /// Keep checking against the stale list (rustls' default).
    Ignore,
}

impl CrlExpiry {
    /// As spelt in the config file.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CrlExpiry::Enforce => "enforce",
            CrlExpiry::Ignore => "ignore",
        }
    }
}

/// Permission bits of a private key file that refuse it: any access for other users.
const KEY_MODE_REFUSED: u32 = 0o007;
/// ... and that only warn: access for the file's group.
const KEY_MODE_WARNED: u32 = 0o070;

/// Everything one route's `ServerConfig` is made from. Paths are already resolved against
/// the config file's directory.
#[derive(Debug, Clone)]
pub(crate) struct ServerTlsSettings {
    /// PEM certificates, leaf first, then intermediates.
    pub(crate) cert_chain: PathBuf,
    pub(crate) key: PathBuf,
    /// PEM bundle of CAs that client certificates must chain to; required unless
    /// `client_auth` is [`ClientAuth::None`].
    pub(crate) client_ca: Option<PathBuf>,
    /// PEM CRLs checked against client certificates.
    pub(crate) client_crls: Vec<PathBuf>,
    /// What a CRL past its nextUpdate does.
    pub(crate) crl_expiry: CrlExpiry,
    pub(crate) client_auth: ClientAuth,
    pub(crate) min_version: MinTlsVersion,
    /// ALPN protocol names offered, in order of preference; empty offers none.
    pub(crate) alpn: Vec<String>,
    /// The route's SNI names, only to warn when the leaf certificate does not cover one.
    pub(crate) server_names: Vec<String>,
}

/// Which of the settings' files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsFile {
    CertChain,
    Key,
    ClientCa,
    /// Index into [`ServerTlsSettings::client_crls`].
    ClientCrl(usize),
}

/// What is wrong with a file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsProblem {
    #[error("no such file")]
    NotFound,
    #[error("cannot read: {0}")]
    Unreadable(std::io::Error),
    #[error("malformed PEM: {0}")]
    BadPem(pem::Error),
    #[error(
        "no certificate in file (expected PEM \"BEGIN CERTIFICATE\" blocks, leaf first, then intermediates)"
    )]
    NoCertificate,
    #[error("first certificate is not a usable X.509 certificate: {0}")]
    BadCertificate(rustls::Error),
    #[error(
        "no private key in file (expected PEM \"PRIVATE KEY\" (PKCS#8), \"EC PRIVATE KEY\" (SEC1) or \"RSA PRIVATE KEY\" (PKCS#1))"
    )]
    NoPrivateKey,
    #[error(
        "mode {0:04o} lets other users access the private key (expected no permissions for others, e.g. chmod 600, or 640 with a group only ringress is in)"
    )]
    KeyAccessibleToOthers(u32),
    #[error("unsupported private key: {0} (expected ECDSA P-256/P-384, Ed25519 or RSA)")]
    UnsupportedKey(rustls::Error),
    #[error(
        "private key does not match the certificate in {} (expected the key of the chain's first certificate)",
        .0.display()
    )]
    KeyMismatch(PathBuf),
    #[error("no certificate in CA file (expected one or more PEM \"BEGIN CERTIFICATE\" blocks)")]
    NoCaCertificate,
    #[error("CA certificate rejected: {0}")]
    BadCaCertificate(rustls::Error),
    #[error("no CRL in file (expected PEM \"BEGIN X509 CRL\" blocks)")]
    NoCrl,
    #[error("CRL unparsable: {0:?}")]
    BadCrl(rustls::CertRevocationListError),
    #[error("client authentication needs a client CA file")]
    MissingClientCa,
    #[error("rustls refused the configuration: {0}")]
    Rustls(rustls::Error),
}

/// A file and what is wrong with it: `PATH: PROBLEM`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub(crate) struct TlsConfigError {
    pub(crate) file: TlsFile,
    pub(crate) path: PathBuf,
    pub(crate) problem: TlsProblem,
}

/// Loads the files named in `settings` and builds the route's server configuration.
pub(crate) fn build_server_config(
    settings: &ServerTlsSettings,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (chain, key) = load_certified_key(settings, &provider)?;
    warn_unless_covered(settings, &chain[0]);

    let versions: &[&'static rustls::SupportedProtocolVersion] = match settings.min_version {
        MinTlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinTlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let rustls_error = |file, path: &Path| {
        let path = path.to_owned();
        move |e| TlsConfigError {
            file,
            path,
            problem: TlsProblem::Rustls(e),
        }
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(rustls_error(TlsFile::CertChain, &settings.cert_chain))?;
    let builder = match settings.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional | ClientAuth::Required => {
            builder.with_client_cert_verifier(client_verifier(settings, &provider)?)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(rustls_error(TlsFile::Key, &settings.key))?;
    // Kernel TLS takes over the record layer after the handshake; it needs the secrets.
    config.enable_secret_extraction = true;
    // Userspace TLS 1.3 after the handshake runs on our record layer, which needs the
    // traffic secrets (for KeyUpdate); rustls' key log is where it gives them.
    config.key_log = Arc::new(crate::tls::SecretLog);
    // MQTT CONNECT is not idempotent-safe to replay; 0-RTT stays off.
    config.max_early_data_size = 0;
    config.ignore_client_order = false;
    config.alpn_protocols = settings
        .alpn
        .iter()
        .map(|p| p.as_bytes().to_vec())
        .collect();
    Ok(Arc::new(config))
}

fn read(path: &Path, file: TlsFile) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| io_error(path, file, e))
}

fn io_error(path: &Path, file: TlsFile, e: std::io::Error) -> TlsConfigError {
    TlsConfigError {
        file,
        path: path.to_owned(),
        problem: if e.kind() == std::io::ErrorKind::NotFound {
            TlsProblem::NotFound
        } else {
            TlsProblem::Unreadable(e)
        },
    }
}

/// Reads a private key file after checking its permissions (on the opened file, so the
/// mode checked is that of the bytes read): refused with [`KEY_MODE_REFUSED`] bits, a
/// warning with [`KEY_MODE_WARNED`] ones.
fn read_private_key(path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    let file = TlsFile::Key;
    let mut opened = std::fs::File::open(path).map_err(|e| io_error(path, file, e))?;
    let mode = opened
        .metadata()
        .map_err(|e| io_error(path, file, e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & KEY_MODE_REFUSED != 0 {
        return Err(TlsConfigError {
            file,
            path: path.to_owned(),
            problem: TlsProblem::KeyAccessibleToOthers(mode),
        });
    }
    if mode & KEY_MODE_WARNED != 0 {
        tracing::warn!(
            key = %path.display(),
            mode = %format_args!("{mode:04o}"),
            "private key is accessible to its group: every member can impersonate this server (chmod 600, unless the group holds only the user ringress runs as)"
        );
    }
    let mut bytes = Vec::new();
    opened
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, file, e))?;
    Ok(bytes)
}

/// All certificates in a PEM file; `None` when it holds none.
fn read_certificates(
    path: &Path,
    file: TlsFile,
) -> Result<Option<Vec<CertificateDer<'static>>>, TlsConfigError> {
    let bytes = read(path, file)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError {
            file,
            path: path.to_owned(),
            problem: TlsProblem::BadPem(e),
        })?;
    Ok((!certs.is_empty()).then_some(certs))
}

fn load_certified_key(
    settings: &ServerTlsSettings,
    provider: &CryptoProvider,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    let chain_error = |problem| TlsConfigError {
        file: TlsFile::CertChain,
        path: settings.cert_chain.clone(),
        problem,
    };
    let key_error = |problem| TlsConfigError {
        file: TlsFile::Key,
        path: settings.key.clone(),
        problem,
    };
    let chain = read_certificates(&settings.cert_chain, TlsFile::CertChain)?
        .ok_or_else(|| chain_error(TlsProblem::NoCertificate))?;
    ParsedCertificate::try_from(&chain[0])
        .map_err(|e| chain_error(TlsProblem::BadCertificate(e)))?;

    let key_bytes = read_private_key(&settings.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| {
        key_error(match e {
            pem::Error::NoItemsFound => TlsProblem::NoPrivateKey,
            other => TlsProblem::BadPem(other),
        })
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| key_error(TlsProblem::UnsupportedKey(e)))?;
    let certified = CertifiedKey::new(chain.clone(), signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => {
            return Err(key_error(TlsProblem::KeyMismatch(
                settings.cert_chain.clone(),
            )));
        }
        Err(e) => return Err(chain_error(TlsProblem::BadCertificate(e))),
    }
    Ok((chain, key))
}

fn client_verifier(
    settings: &ServerTlsSettings,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsConfigError> {
    let Some(ca_path) = &settings.client_ca else {
        return Err(TlsConfigError {
            file: TlsFile::ClientCa,
            path: PathBuf::new(),
            problem: TlsProblem::MissingClientCa,
        });
    };
    let ca_error = |problem| TlsConfigError {
        file: TlsFile::ClientCa,
        path: ca_path.clone(),
        problem,
    };
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(ca_path, TlsFile::ClientCa)?
        .ok_or_else(|| ca_error(TlsProblem::NoCaCertificate))?
    {
        roots
            .add(cert)
            .map_err(|e| ca_error(TlsProblem::BadCaCertificate(e)))?;
    }
    let roots = Arc::new(roots);

    let mut crls = Vec::new();
    for (index, path) in settings.client_crls.iter().enumerate() {
        let file = TlsFile::ClientCrl(index);
        let crl_error = |problem| TlsConfigError {
            file,
            path: path.clone(),
            problem,
        };
        let bytes = read(path, file)?;
        let these = CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| crl_error(TlsProblem::BadPem(e)))?;
        if these.is_empty() {
            return Err(crl_error(TlsProblem::NoCrl));
        }
        // rustls parses CRLs only when the verifier is built, for all files at once; build
        // one per file first so that an unparsable CRL is blamed on the right file.
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .with_crls(
                these
                    .iter()
                    .map(|c| CertificateRevocationListDer::from(c.to_vec())),
            )
            .build()
            .map_err(|e| match e {
                VerifierBuilderError::InvalidCrl(e) => crl_error(TlsProblem::BadCrl(e)),
                other => crl_error(TlsProblem::Rustls(rustls::Error::General(format!(
                    "{other:?}"
                )))),
            })?;
        warn_if_expired(path, &these, settings.crl_expiry);
        crls.extend(these);
    }

    let mut builder =
        WebPkiClientVerifier::builder_with_provider(roots, provider.clone()).with_crls(crls);
    if settings.client_auth == ClientAuth::Optional {
        builder = builder.allow_unauthenticated();
    }
    if settings.crl_expiry == CrlExpiry::Enforce {
        builder = builder.enforce_revocation_expiration();
    }
    builder.build().map_err(|e| match e {
        VerifierBuilderError::NoRootAnchors => ca_error(TlsProblem::NoCaCertificate),
        other => ca_error(TlsProblem::Rustls(rustls::Error::General(format!(
            "{other:?}"
        )))),
    })
}

/// Logs a warning for each CRL in `crls` (from `path`, already parsed once by rustls) whose
/// nextUpdate has passed, saying what `expiry` makes of it.
fn warn_if_expired(path: &Path, crls: &[CertificateRevocationListDer<'_>], expiry: CrlExpiry) {
    use x509_parser::prelude::FromDer as _;
    use x509_parser::revocation_list::CertificateRevocationList;
    let now = x509_parser::time::ASN1Time::now();
    for crl in crls {
        let Ok((_, parsed)) = CertificateRevocationList::from_der(crl) else {
            continue;
        };
        let Some(next_update) = parsed.next_update().filter(|t| *t <= now) else {
            continue;
        };
        let effect = match expiry {
            CrlExpiry::Enforce => {
                "CRL is past its nextUpdate: every client certificate of its issuer is refused until a current CRL is loaded (client_crl_expiry = \"ignore\" keeps using it)"
            }
            CrlExpiry::Ignore => {
                "CRL is past its nextUpdate: still used (client_crl_expiry = \"ignore\"), so certificates revoked since are let in"
            }
        };
        tracing::warn!(
            crl = %path.display(),
            issuer = %parsed.issuer(),
            next_update = %next_update,
            client_crl_expiry = expiry.as_str(),
            "{effect}"
        );
    }
}

/// Logs a warning for each route name the leaf certificate does not cover. Only a warning:
/// operators sometimes front a route with a certificate for another name on purpose, and
/// clients that skip hostname verification (or pin the certificate) work anyway.
fn warn_unless_covered(settings: &ServerTlsSettings, leaf: &CertificateDer<'_>) {
    for name in uncovered_names(leaf, &settings.server_names) {
        tracing::warn!(
            cert = %settings.cert_chain.display(),
            server_name = %name,
            "certificate does not cover this route's SNI name; clients that verify the host name will refuse it"
        );
    }
}

/// Route names `leaf` is not valid for. A wildcard route name counts as covered when a
/// name under it would be, i.e. the certificate carries that wildcard (or a broader one).
pub(crate) fn uncovered_names<'a>(leaf: &CertificateDer<'_>, names: &'a [String]) -> Vec<&'a str> {
    let Ok(parsed) = ParsedCertificate::try_from(leaf) else {
        return Vec::new();
    };
    names
        .iter()
        .filter(|name| {
            let probe = match name.strip_prefix("*.") {
                Some(base) => format!("ringress-sni-probe.{base}"),
                None => (*name).clone(),
            };
            let covered = ServerName::try_from(probe)
                .is_ok_and(|sn| rustls::client::verify_server_name(&parsed, &sn).is_ok());
            !covered
        })
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests;
