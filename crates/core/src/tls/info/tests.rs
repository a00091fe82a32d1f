use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_RSA_SHA256};

use super::*;
use crate::tls::testbed::pki;

fn self_signed(key: &KeyPair, cn: Option<&str>) -> Vec<u8> {
    let mut params = CertificateParams::new(vec!["x.example".to_owned()]).unwrap();
    params.distinguished_name = DistinguishedName::new();
    if let Some(cn) = cn {
        params.distinguished_name.push(DnType::CommonName, cn);
    }
    params.self_signed(key).unwrap().der().to_vec()
}

#[test]
fn certificate_algorithms_use_haproxy_spelling() {
    let ecdsa = CertAlgorithms::from_der(&pki().server_ecdsa.chain[0]).unwrap();
    assert_eq!(ecdsa.signature, "ecdsa-with-SHA256");
    assert_eq!(ecdsa.key.to_string(), "EC256");
    // Issued by the ECDSA CA: an RSA key with an ECDSA signature.
    let rsa = CertAlgorithms::from_der(&pki().server_rsa.chain[0]).unwrap();
    assert_eq!(rsa.signature, "ecdsa-with-SHA256");
    assert_eq!(rsa.key.to_string(), "RSA2048");
    let rsa_key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap();
    let rsa_signed = CertAlgorithms::from_der(&self_signed(&rsa_key, None)).unwrap();
    assert_eq!(rsa_signed.signature, "RSA-SHA256");
    assert_eq!(CertAlgorithms::from_der(b"not a certificate"), None);
}

#[test]
fn common_name_is_the_first_string_cn_of_bounded_length() {
    assert_eq!(
        subject_cn(&pki().device1.chain[0]).as_deref(),
        Some("device1")
    );
    let key = KeyPair::generate().unwrap();
    assert_eq!(subject_cn(&self_signed(&key, None)), None);
    let longest = "a".repeat(MAX_CN_BYTES);
    assert_eq!(
        subject_cn(&self_signed(&key, Some(&longest))).as_deref(),
        Some(&*longest)
    );
    let too_long = "a".repeat(MAX_CN_BYTES + 1);
    assert_eq!(subject_cn(&self_signed(&key, Some(&too_long))), None);
    assert_eq!(subject_cn(b"\x30\x03\x02\x01\x00"), None);
}

#[test]
fn names_of_versions_and_suites() {
    assert_eq!(version_name(ProtocolVersion::TLSv1_2), "TLSv1.2");
    assert_eq!(version_name(ProtocolVersion::TLSv1_3), "TLSv1.3");
    assert_eq!(
        cipher_names(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        )
    );
    // A suite rustls knows but does not negotiate by default keeps rustls' name.
    let (name, _) = cipher_names(CipherSuite::TLS_RSA_WITH_AES_128_GCM_SHA256);
    assert_eq!(name, "TLS_RSA_WITH_AES_128_GCM_SHA256");
}
