use rcgen::{
    KeyPair, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519, PKCS_RSA_SHA256,
    RsaKeySize,
};

use super::*;
use crate::config::test_pki::{TestPki, handshake};

fn settings(pki: &TestPki, names: &[&str]) -> ServerTlsSettings {
    ServerTlsSettings {
        cert_chain: pki.path("chain.pem"),
        key: pki.path("key.pem"),
        client_ca: None,
        client_crls: Vec::new(),
        crl_expiry: CrlExpiry::default(),
        client_auth: ClientAuth::None,
        min_version: MinTlsVersion::Tls12,
        alpn: Vec::new(),
        server_names: names.iter().map(|n| n.to_string()).collect(),
    }
}

/// The content of the PKCS#8 `privateKey` OCTET STRING: the SEC1 or PKCS#1 key.
fn unwrap_pkcs8(der: &[u8]) -> Vec<u8> {
    // (tag, header length, content length) of the DER element at the start of `d`.
    fn element(d: &[u8]) -> (u8, usize, usize) {
        let (tag, first) = (d[0], d[1] as usize);
        if first < 0x80 {
            return (tag, 2, first);
        }
        let n = first & 0x7f;
        let len = d[2..2 + n].iter().fold(0, |acc, b| acc << 8 | *b as usize);
        (tag, 2 + n, len)
    }
    let (_, header, _) = element(der);
    let mut rest = &der[header..];
    loop {
        let (tag, header, len) = element(rest);
        if tag == 0x04 {
            return rest[header..header + len].to_vec();
        }
        rest = &rest[header + len..];
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

#[track_caller]
fn assert_serves(pki: &TestPki, key: &KeyPair, label: Option<&str>) {
    if let Some(label) = label {
        let inner = unwrap_pkcs8(&key.serialize_der());
        pki.write_key("key.pem", pem(label, &inner));
    }
    let config =
        build_server_config(&settings(pki, &["a.example.com"])).unwrap_or_else(|e| panic!("{e}"));
    handshake(config, pki.client_config(None), "a.example.com").unwrap();
}

#[test]
fn key_formats_and_algorithms_load() {
    let pki = TestPki::new("keys");
    for alg in [
        &PKCS_ECDSA_P256_SHA256,
        &PKCS_ECDSA_P384_SHA384,
        &PKCS_ED25519,
    ] {
        let key = pki.write_server_with("chain.pem", "key.pem", &["a.example.com"], alg);
        assert_serves(&pki, &key, None);
    }
    for alg in [&PKCS_ECDSA_P256_SHA256, &PKCS_ECDSA_P384_SHA384] {
        let key = pki.write_server_with("chain.pem", "key.pem", &["a.example.com"], alg);
        assert_serves(&pki, &key, Some("EC PRIVATE KEY"));
    }
    let rsa = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap();
    let names = vec!["a.example.com".to_owned()];
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .self_signed(&rsa)
        .unwrap();
    // Self-signed leaf: trust it directly.
    let pki = TestPki::new("rsa");
    pki.write("chain.pem", cert.pem());
    pki.write_key("key.pem", rsa.serialize_pem());
    let client = crate::config::test_pki::client_config_trusting(vec![cert.der().clone()], None);
    let config = build_server_config(&settings(&pki, &["a.example.com"])).unwrap();
    handshake(config.clone(), client.clone(), "a.example.com").unwrap();
    pki.write(
        "key.pem",
        pem("RSA PRIVATE KEY", &unwrap_pkcs8(&rsa.serialize_der())),
    );
    let config = build_server_config(&settings(&pki, &["a.example.com"])).unwrap();
    handshake(config, client, "a.example.com").unwrap();
}

#[test]
fn file_errors_name_the_file() {
    let pki = TestPki::new("errors");
    let err = build_server_config(&settings(&pki, &[])).unwrap_err();
    assert_eq!(err.file, TlsFile::CertChain);
    assert_eq!(
        err.to_string(),
        format!("{}: no such file", pki.path("chain.pem").display())
    );
    pki.write_server("chain.pem", "key.pem", &["a.example.com"]);
    std::fs::remove_file(pki.path("key.pem")).unwrap();
    let err = build_server_config(&settings(&pki, &[])).unwrap_err();
    assert_eq!(err.file, TlsFile::Key);
    assert!(matches!(err.problem, TlsProblem::NotFound));

    pki.write_server("other.pem", "key.pem", &["a.example.com"]);
    let err = build_server_config(&settings(&pki, &[])).unwrap_err();
    assert_eq!(err.file, TlsFile::Key);
    assert!(matches!(err.problem, TlsProblem::KeyMismatch(_)), "{err}");

    let mut s = settings(&pki, &[]);
    pki.write_server("chain.pem", "key.pem", &["a.example.com"]);
    s.client_auth = ClientAuth::Required;
    let err = build_server_config(&s).unwrap_err();
    assert!(matches!(err.problem, TlsProblem::MissingClientCa));
    s.client_ca = Some(pki.path("key.pem"));
    let err = build_server_config(&s).unwrap_err();
    assert_eq!(err.file, TlsFile::ClientCa);
    assert!(matches!(err.problem, TlsProblem::NoCaCertificate), "{err}");
    s.client_ca = Some(pki.write_ca("ca.pem"));
    s.client_crls = vec![pki.write_crl("good.crl"), pki.path("ca.pem")];
    let err = build_server_config(&s).unwrap_err();
    assert_eq!(err.file, TlsFile::ClientCrl(1));
    assert!(matches!(err.problem, TlsProblem::NoCrl), "{err}");
    s.client_crls.pop();
    build_server_config(&s).unwrap();
}

#[test]
fn uncovered_route_names_are_found() {
    let pki = TestPki::new("covered");
    pki.write_server(
        "chain.pem",
        "key.pem",
        &["a.example.com", "*.tenant.example.com"],
    );
    let leaf = CertificateDer::pem_file_iter(pki.path("chain.pem"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let names: Vec<String> = [
        "a.example.com",
        "x.tenant.example.com",
        "*.tenant.example.com",
        "b.example.com",
        "*.example.com",
    ]
    .iter()
    .map(|n| n.to_string())
    .collect();
    assert_eq!(
        uncovered_names(&leaf, &names),
        ["b.example.com", "*.example.com"]
    );
}
