//! Test helper: a temporary directory with a CA made by rcgen, and files signed by it, so
//! that configurations naming `pki/...` files can be loaded for real. Also an in-memory
//! TLS handshake, to show that what was loaded works.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    SerialNumber, SignatureAlgorithm, date_time_ymd,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

/// A temporary directory (removed on drop) and a CA.
pub(crate) struct TestPki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl TestPki {
    pub(crate) fn new(label: &str) -> TestPki {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ringress-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestPki {
            dir,
            ca: ca("ringress test CA"),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    pub(crate) fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// A private key file, mode 0600 (ringress refuses a key other users can read).
    pub(crate) fn write_key(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.write(relative, contents);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    pub(crate) fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// The CA certificate, as clients or a `client_ca` would use it.
    pub(crate) fn write_ca(&self, relative: &str) -> PathBuf {
        self.write(relative, self.ca.pem())
    }

    /// A server certificate for `names` signed by the CA, with an ECDSA P-256 key (PKCS#8).
    pub(crate) fn write_server(&self, cert: &str, key: &str, names: &[&str]) {
        self.write_server_with(cert, key, names, &PKCS_ECDSA_P256_SHA256);
    }

    pub(crate) fn write_server_with(
        &self,
        cert: &str,
        key: &str,
        names: &[&str],
        alg: &'static SignatureAlgorithm,
    ) -> KeyPair {
        let key_pair = KeyPair::generate_for(alg).unwrap();
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf = params.signed_by(&key_pair, &self.ca).unwrap();
        self.write(cert, leaf.pem());
        self.write_key(key, key_pair.serialize_pem());
        key_pair
    }

    /// A client certificate with subject CN `cn`, signed by the CA.
    pub(crate) fn client_identity(
        &self,
        cn: &str,
    ) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key_pair, &self.ca).unwrap();
        let key = PrivateKeyDer::from_pem_slice(key_pair.serialize_pem().as_bytes()).unwrap();
        (vec![cert.der().clone()], key)
    }

    /// An empty CRL issued by the CA.
    pub(crate) fn write_crl(&self, relative: &str) -> PathBuf {
        self.write_crl_until(relative, 2099)
    }

    /// An empty CRL issued by the CA whose nextUpdate (2021-01-01) is past.
    pub(crate) fn write_expired_crl(&self, relative: &str) -> PathBuf {
        self.write_crl_until(relative, 2021)
    }

    /// An empty CRL whose nextUpdate is 1 January of `year`.
    fn write_crl_until(&self, relative: &str, year: i32) -> PathBuf {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2020, 1, 1),
            next_update: date_time_ymd(year, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: Vec::new(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params.signed_by(&self.ca).unwrap();
        self.write(relative, crl.pem().unwrap())
    }

    /// Writes every file `toml` names: for each `[[route]]` with `cert` and `key` a server
    /// certificate for its `sni` names; each `client_ca` the CA; each `client_crl` a CRL.
    pub(crate) fn supply_files(&self, toml_text: &str) {
        let doc: toml::Table = toml::from_str(toml_text).unwrap();
        let tables = ["listener", "route"]
            .iter()
            .filter_map(|k| doc.get(*k).and_then(|v| v.as_array()))
            .flatten()
            .filter_map(|v| v.as_table());
        for table in tables {
            let text = |k: &str| {
                table
                    .get(k)
                    .and_then(|v| v.as_str())
                    .filter(|t| !t.is_empty())
            };
            if let (Some(cert), Some(key)) = (text("cert"), text("key")) {
                let names: Vec<&str> = table
                    .get("sni")
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                // Names the config will reject anyway are left out of the certificate.
                let names: Vec<&str> = names
                    .into_iter()
                    .filter(|n| crate::route::normalise_server_name(n).is_ok())
                    .collect();
                self.write_server(cert, key, &names);
            }
            if let Some(ca) = text("client_ca") {
                self.write_ca(ca);
            }
            for crl in table
                .get("client_crl")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .filter(|t| !t.is_empty())
            {
                self.write_crl(crl);
            }
        }
    }

    /// A client configuration trusting this CA, optionally presenting an identity.
    pub(crate) fn client_config(
        &self,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Arc<ClientConfig> {
        client_config_trusting(vec![self.ca_der()], identity)
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A self-signed CA able to sign certificates and CRLs.
pub(crate) fn ca(cn: &str) -> CertifiedIssuer<'static, KeyPair> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, key).unwrap()
}

pub(crate) fn client_config_trusting(
    roots: Vec<CertificateDer<'static>>,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Arc<ClientConfig> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(store);
    let config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Runs a whole handshake in memory; returns both ends, or the first error.
pub(crate) fn handshake(
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    server_name: &str,
) -> Result<(ServerConnection, ClientConnection), rustls::Error> {
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut client = ClientConnection::new(client, name)?;
    let mut server = ServerConnection::new(server)?;
    for _ in 0..20 {
        if !client.is_handshaking() && !server.is_handshaking() {
            return Ok((server, client));
        }
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        server.read_tls(&mut wire.as_slice()).unwrap();
        let server_result = server.process_new_packets().map(|_| ());
        let mut wire = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut wire).unwrap();
        }
        client.read_tls(&mut wire.as_slice()).unwrap();
        server_result?;
        client.process_new_packets()?;
    }
    panic!("handshake did not finish");
}
