use super::*;
use crate::proxy_protocol::V2Options;

fn fixture(name: &str) -> Vec<u8> {
    // HAProxy's own bytes, captured by the peers harness at the workspace root.
    let path = format!(
        "{}/../../tests/peers/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let hex: String = text.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn view(port: u16, local_port: u16) -> (SocketAddr, SocketAddr) {
    (
        SocketAddr::from(([127, 0, 0, 5], port)),
        SocketAddr::from(([127, 0, 0, 1], local_port)),
    )
}

fn tls_info(cn: Option<&str>) -> TlsInfo {
    TlsInfo {
        version: "TLSv1.3",
        cipher: "TLS_AES_256_GCM_SHA384",
        cipher_iana: "TLS13_AES_256_GCM_SHA384",
        alpn: None,
        sni: Some("test1.example.com".into()),
        client_cert: match cn {
            Some(cn) => ClientCert::Verified {
                cn: Some(cn.into()),
            },
            None => ClientCert::None,
        },
        resumed: false,
    }
}

fn encode_to_vec(mode: &ProxyProtocol, view: &ClientView<'_>) -> Vec<u8> {
    let mut out = [0u8; MAX_HEADER_BYTES];
    let n = encode(mode, view, &mut out).unwrap();
    out[..n].to_vec()
}

#[test]
fn v1_matches_haproxy_send_proxy_byte_for_byte() {
    let (client, local) = view(40001, 18850);
    let v = ClientView {
        client,
        local,
        sni: None,
        tls: None,
        cert: None,
    };
    assert_eq!(
        encode_to_vec(&ProxyProtocol::V1, &v),
        fixture("haproxy-send-proxy-v1.hex")
    );
}

#[test]
fn v2_matches_haproxy_send_proxy_v2_byte_for_byte() {
    let (client, local) = view(40002, 18851);
    let v = ClientView {
        client,
        local,
        sni: None,
        tls: None,
        cert: None,
    };
    assert_eq!(
        encode_to_vec(&ProxyProtocol::V2(V2Options::SEND_PROXY_V2), &v),
        fixture("haproxy-send-proxy-v2.hex")
    );
}

#[test]
fn v2_ssl_matches_haproxy_byte_for_byte() {
    let (client, local) = view(40003, 18852);
    let info = tls_info(Some("device1"));
    let v = ClientView {
        client,
        local,
        sni: Some("test1.example.com"),
        tls: Some(&info),
        cert: None,
    };
    assert_eq!(
        encode_to_vec(&ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL), &v),
        fixture("haproxy-send-proxy-v2-ssl.hex")
    );
}

fn ssl_cn_cipher_authority() -> ProxyProtocol {
    let options = V2Options::SEND_PROXY_V2_SSL_CN
        .with_option("ssl-cipher")
        .and_then(|o| o.with_option("authority"))
        .unwrap();
    ProxyProtocol::V2(options)
}

#[test]
fn v2_ssl_cn_with_cipher_and_authority_matches_haproxy_byte_for_byte() {
    let (client, local) = view(40004, 18853);
    let info = tls_info(Some("device1"));
    let v = ClientView {
        client,
        local,
        sni: Some("test1.example.com"),
        tls: Some(&info),
        cert: None,
    };
    assert_eq!(
        encode_to_vec(&ssl_cn_cipher_authority(), &v),
        fixture("haproxy-send-proxy-v2-ssl-cn.hex")
    );
}

#[test]
fn v2_ssl_cn_without_a_client_certificate_matches_haproxy_byte_for_byte() {
    let (client, local) = view(40005, 18854);
    let info = tls_info(None);
    let v = ClientView {
        client,
        local,
        sni: Some("test1.example.com"),
        tls: Some(&info),
        cert: None,
    };
    assert_eq!(
        encode_to_vec(&ssl_cn_cipher_authority(), &v),
        fixture("haproxy-send-proxy-v2-ssl-cn-nocert.hex")
    );
}

/// Finding 10 of issue 11: a resumed session claimed `PP2_CLIENT_CERT_CONN` (0x07). The
/// captures of `tests/peers/fixtures/README.md` ("Resumed sessions"): name, TLS 1.2,
/// client certificate, resumed, client port.
#[test]
fn full_and_resumed_sessions_match_haproxy_byte_for_byte_regression() {
    let cases = [
        ("tls13-cert-full", false, true, false, 40010),
        ("tls13-cert-resumed", false, true, true, 40011),
        ("tls13-nocert-full", false, false, false, 40012),
        ("tls13-nocert-resumed", false, false, true, 40013),
        ("tls12-cert-full", true, true, false, 40014),
        ("tls12-cert-resumed", true, true, true, 40015),
        ("tls12-nocert-full", true, false, false, 40016),
        ("tls12-nocert-resumed", true, false, true, 40017),
    ];
    for (name, tls12, cert, resumed, port) in cases {
        // HAProxy's frontend with `verify required` listened on 18860, `verify none` on 18861.
        let (client, local) = view(port, if cert { 18860 } else { 18861 });
        let mut info = tls_info(cert.then_some("device1"));
        if tls12 {
            (info.version, info.cipher) = ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384");
            info.cipher_iana = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384";
        }
        info.resumed = resumed;
        let v = ClientView {
            client,
            local,
            sni: Some("test1.example.com"),
            tls: Some(&info),
            cert: None,
        };
        assert_eq!(
            encode_to_vec(&ssl_cn_cipher_authority(), &v),
            fixture(&format!("haproxy-resume-{name}.hex")),
            "{name}"
        );
    }
}

#[test]
fn cert_options_send_our_certificate_algorithms_in_haproxy_order() {
    let (client, local) = view(40006, 18855);
    let info = tls_info(Some("device1"));
    let cert = CertAlgorithms {
        signature: "ecdsa-with-SHA256",
        key: KeyAlgorithm::Ec { bits: 256 },
    };
    let v = ClientView {
        client,
        local,
        sni: None,
        tls: Some(&info),
        cert: Some(&cert),
    };
    let options = V2Options::SEND_PROXY_V2
        .with_option("cert-sig")
        .and_then(|o| o.with_option("cert-key"))
        .unwrap();
    let header = encode_to_vec(&ProxyProtocol::V2(options), &v);
    let parsed = match proxy_protocol::parse(&header).unwrap() {
        proxy_protocol::Parsed::Complete { header, .. } => header,
        other => panic!("{other:?}"),
    };
    let ssl = parsed.tlvs.ssl().unwrap();
    assert_eq!(ssl.key_alg(), Some(&b"EC256"[..]));
    assert_eq!(ssl.sig_alg(), Some(&b"ecdsa-with-SHA256"[..]));
}

#[test]
fn kinds_name_the_haproxy_mode() {
    assert_eq!(kind(&ProxyProtocol::None).as_str(), "none");
    assert_eq!(kind(&ProxyProtocol::V1).as_str(), "v1");
    assert_eq!(
        kind(&ProxyProtocol::V2(V2Options::SEND_PROXY_V2)).as_str(),
        "v2"
    );
    assert_eq!(
        kind(&ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL)).as_str(),
        "v2-ssl"
    );
    assert_eq!(kind(&ssl_cn_cipher_authority()).as_str(), "v2-ssl-cn");
}

#[test]
fn check_headers_are_local_and_unknown() {
    let mut out = [0u8; MAX_HEADER_BYTES];
    assert_eq!(check_header(&ProxyProtocol::None, &mut out), Ok(0));
    let n = check_header(&ProxyProtocol::V1, &mut out).unwrap();
    assert_eq!(&out[..n], b"PROXY UNKNOWN\r\n");
    // Whatever TLVs the backend's clients get, a check sends the bare LOCAL header.
    let n = check_header(
        &ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL_CN),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        &out[..n],
        [
            0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54,
            0x0a, // signature
            0x20, // version 2, LOCAL
            0x00, // AF_UNSPEC, UNSPEC
            0x00, 0x00, // no address block
        ]
    );
}
