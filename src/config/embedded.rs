//! The embedded default: MQTT over TLS on 127.0.0.1:8883, terminated with a certificate for
//! `localhost` that ringress makes itself, forwarded as plain MQTT to 127.0.0.1:1883.
//!
//! The certificate lives in a state directory so that clients can trust it once:
//! `ca.pem` (a small CA, what clients pass to `--cafile`), `default-cert.pem` (the leaf it
//! signed, for `localhost`, 127.0.0.1 and ::1) and `default-key.pem` (mode 0600). A leaf
//! under a CA, rather than one self-signed certificate, because OpenSSL (so Mosquitto's
//! clients) may refuse a server certificate that is itself a CA. The CA's key is never
//! written: nobody, ringress included, can sign anything else with it.
//!
//! Files that are present and still valid (they load, and the leaf verifies against
//! `ca.pem` for `localhost` now) are reused; otherwise all three are generated afresh.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::{ClientAuth, ConfigError};
use crate::tls::server_config::{MinTlsVersion, ServerTlsSettings, build_server_config};

/// The configuration `ringress run` uses without `--config`; paths are relative to the state
/// directory. Parsed by [`super::Config::embedded_default`], so it is checked by the same
/// code as any file.
pub(crate) const EMBEDDED_DEFAULT: &str = r#"# ringress embedded default: MQTT over TLS on 8883, terminated here, plain MQTT to a local broker.
# The certificate files are generated in the state directory on first start.
[[listener]]
name = "mqtts"
bind = "127.0.0.1:8883"
tls = "terminate"
default_route = "localhost"     # clients connecting by address send no SNI

[[route]]
name = "localhost"
listener = "mqtts"
sni = ["localhost"]
cert = "default-cert.pem"
key = "default-key.pem"
backend = "broker"

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883"]
"#;

/// File names inside the state directory.
pub(crate) const CA_FILE: &str = "ca.pem";
pub(crate) const CERT_FILE: &str = "default-cert.pem";
pub(crate) const KEY_FILE: &str = "default-key.pem";

/// The environment [`state_dir`] looks at; a struct so tests need not set variables (tests
/// run on parallel threads of one process).
#[derive(Debug, Clone, Default)]
pub(crate) struct StateDirEnv {
    /// `$RINGRESS_STATE_DIR`.
    pub(crate) ringress_state_dir: Option<OsString>,
    /// `$STATE_DIRECTORY`, set by systemd for `StateDirectory=` (colon-separated if several).
    pub(crate) state_directory: Option<OsString>,
    pub(crate) xdg_state_home: Option<OsString>,
    pub(crate) home: Option<OsString>,
    /// Effective user id 0.
    pub(crate) is_root: bool,
}

impl StateDirEnv {
    pub(crate) fn from_process() -> StateDirEnv {
        StateDirEnv {
            ringress_state_dir: std::env::var_os("RINGRESS_STATE_DIR"),
            state_directory: std::env::var_os("STATE_DIRECTORY"),
            xdg_state_home: std::env::var_os("XDG_STATE_HOME"),
            home: std::env::var_os("HOME"),
            is_root: effective_uid_is_root(),
        }
    }
}

/// Where the embedded default keeps its certificate: `$RINGRESS_STATE_DIR`, else systemd's
/// `$STATE_DIRECTORY` (its first entry), else `/var/lib/ringress` for root, else
/// `$XDG_STATE_HOME/ringress`, else `~/.local/state/ringress`. Empty variables count as unset,
/// and a relative `$XDG_STATE_HOME` is ignored, as the XDG Base Directory spec says.
pub(crate) fn state_dir(env: &StateDirEnv) -> Option<PathBuf> {
    let set = |v: &Option<OsString>| v.clone().filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(&env.ringress_state_dir) {
        return Some(dir);
    }
    if let Some(dirs) = set(&env.state_directory) {
        let first = dirs.to_string_lossy().split(':').next().map(PathBuf::from);
        if let Some(first) = first.filter(|f| !f.as_os_str().is_empty()) {
            return Some(first);
        }
    }
    if env.is_root {
        return Some(PathBuf::from("/var/lib/ringress"));
    }
    if let Some(xdg) = set(&env.xdg_state_home).filter(|p| p.is_absolute()) {
        return Some(xdg.join("ringress"));
    }
    set(&env.home).map(|home| home.join(".local/state/ringress"))
}

/// The `Uid:` line of `/proc/self/status` is "real effective saved fs".
fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

/// The three files of the embedded default, and whether they were made just now.
#[derive(Debug, Clone)]
pub(crate) struct DefaultPki {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) generated: bool,
}

/// Reuses valid files in `dir` or generates new ones there (creating `dir`).
pub(crate) fn ensure_default_pki(dir: &Path) -> Result<DefaultPki, ConfigError> {
    let mut pki = DefaultPki {
        ca: dir.join(CA_FILE),
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
        generated: false,
    };
    let any_present = [&pki.ca, &pki.cert, &pki.key].iter().any(|p| p.exists());
    if any_present {
        match check_default_pki(&pki) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "reusing the default certificate");
                return Ok(pki);
            }
            Err(reason) => tracing::warn!(
                dir = %dir.display(),
                %reason,
                "default certificate files unusable; generating new ones"
            ),
        }
    }
    generate_default_pki(&pki).map_err(|what| {
        ConfigError::new(
            "<embedded>",
            None,
            None,
            &format!(
                "cannot create the default certificate in {}: {what} (expected a writable state directory; set RINGRESS_STATE_DIR)",
                dir.display()
            ),
        )
    })?;
    tracing::info!(dir = %dir.display(), "generated a default certificate for localhost");
    pki.generated = true;
    Ok(pki)
}

/// The files load as a server configuration, and the leaf verifies against `ca.pem` for
/// `localhost` at this moment (which also catches an expired or foreign certificate).
pub(crate) fn check_default_pki(pki: &DefaultPki) -> Result<(), String> {
    let settings = ServerTlsSettings {
        cert_chain: pki.cert.clone(),
        key: pki.key.clone(),
        client_ca: None,
        client_crls: Vec::new(),
        crl_expiry: Default::default(),
        client_auth: ClientAuth::None,
        min_version: MinTlsVersion::Tls12,
        alpn: Vec::new(),
        server_names: vec!["localhost".into()],
    };
    build_server_config(&settings).map_err(|e| e.to_string())?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&pki.ca).map_err(|e| format!("{CA_FILE}: {e}"))? {
        let ca = ca.map_err(|e| format!("{CA_FILE}: {e}"))?;
        roots.add(ca).map_err(|e| format!("{CA_FILE}: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("{CA_FILE}: {e}"))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("{CERT_FILE}: {e}"))?;
    let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
    let localhost = ServerName::try_from("localhost").expect("valid DNS name");
    verifier
        .verify_server_cert(leaf, intermediates, &localhost, &[], UnixTime::now())
        .map_err(|e| format!("{CERT_FILE} does not verify against {CA_FILE}: {e}"))?;
    Ok(())
}

fn generate_default_pki(pki: &DefaultPki) -> Result<(), String> {
    let rcgen_error = |e: rcgen::Error| format!("certificate generation failed: {e}");
    let dir = pki.ca.parent().ok_or("no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create directory: {e}"))?;

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rcgen_error)?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ringress default CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(rcgen_error)?;

    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rcgen_error)?;
    let mut leaf_params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(rcgen_error)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.use_authority_key_identifier_extension = true;
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(rcgen_error)?;

    // Key first: a crash between writes leaves a key without a matching certificate, which
    // the next start detects and replaces.
    write_atomically(&pki.key, leaf_key.serialize_pem().as_bytes(), 0o600)?;
    write_atomically(&pki.cert, leaf.pem().as_bytes(), 0o644)?;
    write_atomically(&pki.ca, ca.pem().as_bytes(), 0o644)?;
    Ok(())
}

/// Writes `path` by renaming a temporary file, so a reader never sees half a file.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests;
