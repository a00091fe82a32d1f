//! The test PKI, made fresh in each test with rcgen (ECDSA P-256 throughout).
//!
//! - a server CA (`ca.crt`) issuing `test1.example.com` and `test2.example.com` (different
//!   subjects, so which certificate was served for an SNI is checkable by DER) and
//!   `localhost`, `broker.example.com`, `devices.example.com` (names the shipped examples use);
//! - a client CA (`client-ca.crt`) issuing `device1` (CN=device1, clientAuth) and an expired
//!   `device1` certificate;
//! - another CA (`other-ca.crt`) issuing a `device1` the proxy must refuse.
//!
//! [`Pki::write_to`] writes every file as PEM (names in [`Pki::FILES`]) for ringress, which
//! refuses a private key other users can read: keys mode 0600, the rest 0644.
//! [`Pki::write_for_peers`] writes everything readable by everyone (mosquitto drops to its
//! own user before reading some of them).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SerialNumber, date_time_ymd,
};

/// One certificate with its key, PEM.
#[derive(Clone)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
    /// PKCS#8 DER of the key.
    pub key_der: Vec<u8>,
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: CertKey,
}

pub struct Pki {
    pub ca: CertKey,
    pub test1: CertKey,
    pub test2: CertKey,
    pub localhost: CertKey,
    /// `broker.example.com` and `devices.example.com`: the names the shipped examples use.
    pub broker: CertKey,
    pub devices: CertKey,
    pub client_ca: CertKey,
    pub device1: CertKey,
    pub device1_expired: CertKey,
    /// CN=device1 from the client CA, revoked by `client.crl`.
    pub device1_revoked: CertKey,
    /// PEM CRL of the client CA revoking `device1_revoked`.
    pub client_crl: String,
    /// The same revocation in a CRL whose nextUpdate (2021-01-01) is past.
    pub client_crl_expired: String,
    /// From the client CA, with the subject CN [`FORGING_CN`].
    pub device_forging_cn: CertKey,
    pub other_ca: CertKey,
    pub device1_other_ca: CertKey,
}

/// A client-certificate CN that, printed as is, would end the access-log line and write a
/// forged one (issue 11, finding 6): spaces, `=`, a quote, a backslash and a newline.
pub const FORGING_CN: &str = "dev 1\" \\termination=client_closed\n2026-01-01T00:00:00.000000Z  INFO access: close worker=0 client=10.9.9.9:1 termination=client_closed";

fn dn(cn: &str, org: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, org);
    dn
}

fn make_ca(cn: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = dn(cn, "ringress tests");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert = CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    };
    Ca {
        issuer: Issuer::new(params, key),
        cert,
    }
}

fn leaf(sans: &[&str], subject: DistinguishedName, client: bool) -> CertificateParams {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).unwrap();
    params.distinguished_name = subject;
    params.is_ca = IsCa::NoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    params.use_authority_key_identifier_extension = true;
    params
}

fn sign(ca: &Ca, params: &CertificateParams) -> CertKey {
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    CertKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
        key_der: key.serialize_der(),
    }
}

fn server(ca: &Ca, names: &[&str], org: &str) -> CertKey {
    sign(ca, &leaf(names, dn(names[0], org), false))
}

fn client(cn: &str) -> CertificateParams {
    leaf(&[], dn(cn, "devices"), true)
}

impl Pki {
    /// Every file [`Pki::write_to`] writes.
    pub const FILES: &'static [&'static str] = &[
        "ca.crt",
        "test1.crt",
        "test1.key",
        "test1-chain.crt",
        "test1.pem",
        "test2.crt",
        "test2.key",
        "test2-chain.crt",
        "test2.pem",
        "localhost.crt",
        "localhost.key",
        "localhost-chain.crt",
        "broker.crt",
        "broker.key",
        "broker-chain.crt",
        "devices.crt",
        "devices.key",
        "devices-chain.crt",
        "client-ca.crt",
        "device1.crt",
        "device1.key",
        "device1-expired.crt",
        "device1-expired.key",
        "device1-revoked.crt",
        "device1-revoked.key",
        "client.crl",
        "client-expired.crl",
        "device-forging-cn.crt",
        "device-forging-cn.key",
        "other-ca.crt",
        "device1-other-ca.crt",
        "device1-other-ca.key",
    ];

    pub fn generate() -> Pki {
        let ca = make_ca("ringress-test-ca");
        let client_ca = make_ca("ringress-test-client-ca");
        let other_ca = make_ca("ringress-test-other-ca");
        let mut expired = client("device1");
        expired.not_before = date_time_ymd(2020, 1, 1);
        expired.not_after = date_time_ymd(2021, 1, 1);
        const REVOKED_SERIAL: u64 = 0x1001;
        let mut revoked = client("device1");
        revoked.serial_number = Some(SerialNumber::from(REVOKED_SERIAL));
        let crl = |this_update, next_update| {
            CertificateRevocationListParams {
                this_update,
                next_update,
                crl_number: SerialNumber::from(1u64),
                issuing_distribution_point: None,
                revoked_certs: vec![RevokedCertParams {
                    serial_number: SerialNumber::from(REVOKED_SERIAL),
                    revocation_time: date_time_ymd(2020, 1, 1),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                }],
                key_identifier_method: KeyIdMethod::Sha256,
            }
            .signed_by(&client_ca.issuer)
            .unwrap()
            .pem()
            .unwrap()
        };
        Pki {
            device1_revoked: sign(&client_ca, &revoked),
            client_crl: crl(date_time_ymd(2024, 1, 1), date_time_ymd(2099, 1, 1)),
            client_crl_expired: crl(date_time_ymd(2020, 1, 1), date_time_ymd(2021, 1, 1)),
            device_forging_cn: sign(&client_ca, &client(FORGING_CN)),
            test1: server(&ca, &["test1.example.com"], "tenant one"),
            test2: server(
                &ca,
                &["test2.example.com", "*.tenant.example.com"],
                "tenant two",
            ),
            localhost: server(&ca, &["localhost"], "local"),
            broker: server(&ca, &["broker.example.com"], "example broker"),
            devices: server(&ca, &["devices.example.com"], "example devices"),
            device1: sign(&client_ca, &client("device1")),
            device1_expired: sign(&client_ca, &expired),
            device1_other_ca: sign(&other_ca, &client("device1")),
            ca: ca.cert,
            client_ca: client_ca.cert,
            other_ca: other_ca.cert,
        }
    }

    /// Writes all PEM files into `dir` (created if missing) for ringress: private keys (and
    /// the haproxy-style `*.pem`, which holds one) mode 0600, the rest 0644.
    pub fn write_to(&self, dir: &Path) {
        self.write_with_key_mode(dir, 0o600);
    }

    /// Writes all PEM files into `dir` (created if missing), mode 0644, for peers that read
    /// them as another user.
    pub fn write_for_peers(&self, dir: &Path) {
        self.write_with_key_mode(dir, 0o644);
    }

    fn write_with_key_mode(&self, dir: &Path, key_mode: u32) {
        std::fs::create_dir_all(dir).expect("create pki dir");
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        let put = |name: &str, contents: &str| {
            let p = dir.join(name);
            std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
            let mode = if name.ends_with(".key") || name.ends_with(".pem") {
                key_mode
            } else {
                0o644
            };
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        put("ca.crt", &self.ca.cert_pem);
        for (name, ck) in [
            ("test1", &self.test1),
            ("test2", &self.test2),
            ("localhost", &self.localhost),
            ("broker", &self.broker),
            ("devices", &self.devices),
        ] {
            put(&format!("{name}.crt"), &ck.cert_pem);
            put(&format!("{name}.key"), &ck.key_pem);
            put(
                &format!("{name}-chain.crt"),
                &format!("{}{}", ck.cert_pem, self.ca.cert_pem),
            );
            // haproxy's `crt`: certificate, chain and key in one file.
            put(
                &format!("{name}.pem"),
                &format!("{}{}{}", ck.cert_pem, self.ca.cert_pem, ck.key_pem),
            );
        }
        put("client-ca.crt", &self.client_ca.cert_pem);
        put("device1.crt", &self.device1.cert_pem);
        put("device1.key", &self.device1.key_pem);
        put("device1-expired.crt", &self.device1_expired.cert_pem);
        put("device1-expired.key", &self.device1_expired.key_pem);
        put("device1-revoked.crt", &self.device1_revoked.cert_pem);
        put("device1-revoked.key", &self.device1_revoked.key_pem);
        put("client.crl", &self.client_crl);
        put("client-expired.crl", &self.client_crl_expired);
        put("device-forging-cn.crt", &self.device_forging_cn.cert_pem);
        put("device-forging-cn.key", &self.device_forging_cn.key_pem);
        put("other-ca.crt", &self.other_ca.cert_pem);
        put("device1-other-ca.crt", &self.device1_other_ca.cert_pem);
        put("device1-other-ca.key", &self.device1_other_ca.key_pem);
    }
}
