//! v2 as HAProxy sends it, byte for byte.

use std::net::{Ipv4Addr, SocketAddr};

use super::*;

#[test]
fn v2_tcp4_without_tlvs() {
    let info = SendInfo {
        addresses: tcp4(),
        ..SendInfo::default()
    };
    let want = cat(&[&v2_fixed(0x21, 0x11, 12), &TCP4_BLOCK]);
    assert_eq!(enc_v2(&V2Options::SEND_PROXY_V2, &info), want);
    let (h, _) = complete(&want);
    assert_eq!(
        (h.version, h.command, h.addresses),
        (Version::V2, Command::Proxy, tcp4())
    );
    assert_round_trips(&want);
}

#[test]
fn v2_tcp6() {
    let info = SendInfo {
        addresses: tcp6(),
        ..SendInfo::default()
    };
    let mut block = Vec::new();
    block.extend_from_slice(&[0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    block.extend_from_slice(&[0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    block.extend_from_slice(&[0x04, 0xD2, 0x22, 0xB3]);
    let want = cat(&[&v2_fixed(0x21, 0x21, 36), &block]);
    assert_eq!(enc_v2(&V2Options::SEND_PROXY_V2, &info), want);
    assert_eq!(complete(&want).0.addresses, tcp6());
    assert_round_trips(&want);
}

#[test]
fn v2_mixed_families_map_ipv4_like_haproxy() {
    let a = Addresses::from_pair(
        "10.0.0.1:1000".parse().unwrap(),
        "[2001:db8::2]:8883".parse().unwrap(),
    );
    let bytes = enc_v2(
        &V2Options::SEND_PROXY_V2,
        &SendInfo {
            addresses: a,
            ..SendInfo::default()
        },
    );
    assert_eq!(bytes[13], 0x21);
    assert_eq!(
        &bytes[16..32],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 0, 0, 1]
    );
    let want_src = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped(), 1000));
    assert_eq!(complete(&bytes).0.addresses.source(), Some(want_src));
}

#[test]
fn v2_local() {
    let want = v2_fixed(0x20, 0x00, 0);
    assert_eq!(
        enc_v2(&V2Options::SEND_PROXY_V2, &SendInfo::default()),
        want
    );
    let (h, _) = complete(&want);
    assert_eq!(
        (h.command, h.addresses),
        (Command::Local, Addresses::Unspec)
    );
    assert_round_trips(&want);
}

#[test]
fn v2_local_keeps_tlvs_like_haproxy() {
    // HAProxy appends its TLVs to a LOCAL header too.
    let opts = V2Options::SEND_PROXY_V2.with_option("crc32c").unwrap();
    let want = cat(&[
        &v2_fixed(0x20, 0x00, 7),
        &[0x03, 0x00, 0x04, 0xA9, 0xB8, 0x7E, 0x8F],
    ]);
    assert_eq!(enc_v2(&opts, &SendInfo::default()), want);
    assert_round_trips(&want);
}

#[test]
fn v2_ssl_with_version() {
    let info = SendInfo {
        addresses: tcp4(),
        tls: Some(TlsInfo {
            version: Some("TLSv1.2"),
            ..TlsInfo::default()
        }),
        ..SendInfo::default()
    };
    let want = cat(&[
        &v2_fixed(0x21, 0x11, 30),
        &TCP4_BLOCK,
        &[0x20, 0x00, 0x0F, 0x01, 0, 0, 0, 0],
        &[0x21, 0x00, 0x07],
        b"TLSv1.2",
    ]);
    assert_eq!(enc_v2(&V2Options::SEND_PROXY_V2_SSL, &info), want);
    let ssl = complete(&want).0.tlvs.ssl().unwrap();
    assert_eq!(
        (ssl.client, ssl.verify, ssl.version()),
        (0x01, 0, Some(&b"TLSv1.2"[..]))
    );
    assert!(!ssl.has_verified_client_cert());
    assert_round_trips(&want);
}

#[test]
fn v2_ssl_cn_and_cipher_for_mosquitto_require_certificate() {
    let info = SendInfo {
        addresses: tcp4(),
        tls: Some(TlsInfo {
            version: Some("TLSv1.3"),
            cipher: Some("TLS_AES_128_GCM_SHA256"),
            client_cert: Some(ClientCert {
                verify_result: 0,
                on_this_connection: true,
                common_name: Some(b"dev1"),
            }),
            ..TlsInfo::default()
        }),
        ..SendInfo::default()
    };
    let opts = V2Options::SEND_PROXY_V2_SSL_CN
        .with_option("ssl-cipher")
        .unwrap();
    let want = cat(&[
        &v2_fixed(0x21, 0x11, 62),
        &TCP4_BLOCK,
        &[0x20, 0x00, 0x2F, 0x07, 0, 0, 0, 0],
        &[0x21, 0x00, 0x07],
        b"TLSv1.3",
        &[0x22, 0x00, 0x04],
        b"dev1",
        &[0x23, 0x00, 0x16],
        b"TLS_AES_128_GCM_SHA256",
    ]);
    assert_eq!(enc_v2(&opts, &info), want);
    let ssl = complete(&want).0.tlvs.ssl().unwrap();
    assert!(ssl.has_verified_client_cert());
    assert_eq!(ssl.common_name(), Some(&b"dev1"[..]));
    assert_eq!(ssl.cipher(), Some(&b"TLS_AES_128_GCM_SHA256"[..]));
    assert_round_trips(&want);
}

#[test]
fn v2_ssl_cn_option_without_cn_mode_sends_no_cn() {
    let info = SendInfo {
        addresses: tcp4(),
        tls: Some(TlsInfo {
            client_cert: Some(ClientCert {
                verify_result: 20,
                on_this_connection: false,
                common_name: Some(b"x"),
            }),
            ..TlsInfo::default()
        }),
        ..SendInfo::default()
    };
    // Resumed session with a failed verification: CERT_SESS only, verify 20, no CN.
    let want = cat(&[
        &v2_fixed(0x21, 0x11, 20),
        &TCP4_BLOCK,
        &[0x20, 0x00, 0x05, 0x05, 0, 0, 0, 20],
    ]);
    assert_eq!(enc_v2(&V2Options::SEND_PROXY_V2_SSL, &info), want);
    assert!(
        !complete(&want)
            .0
            .tlvs
            .ssl()
            .unwrap()
            .has_verified_client_cert()
    );
}

#[test]
fn v2_ssl_tlv_for_plain_tcp_client_is_empty_like_haproxy() {
    let info = SendInfo {
        addresses: tcp4(),
        ..SendInfo::default()
    };
    let want = cat(&[
        &v2_fixed(0x21, 0x11, 20),
        &TCP4_BLOCK,
        &[0x20, 0x00, 0x05, 0x00, 0, 0, 0, 0],
    ]);
    assert_eq!(enc_v2(&V2Options::SEND_PROXY_V2_SSL_CN, &info), want);
    assert_round_trips(&want);
}

#[test]
fn v2_authority_follows_alpn() {
    let info = SendInfo {
        addresses: tcp4(),
        alpn: Some(b"mqtt"),
        authority: Some(b"mqtt.example.com"),
        ..SendInfo::default()
    };
    let opts = V2Options::SEND_PROXY_V2.with_option("authority").unwrap();
    let want = cat(&[
        &v2_fixed(0x21, 0x11, 38),
        &TCP4_BLOCK,
        &[0x01, 0x00, 0x04],
        b"mqtt",
        &[0x02, 0x00, 0x10],
        b"mqtt.example.com",
    ]);
    assert_eq!(enc_v2(&opts, &info), want);
    let h = complete(&want).0;
    assert_eq!(h.tlvs.authority(), Some(&b"mqtt.example.com"[..]));
    assert_eq!(h.tlvs.alpn(), Some(&b"mqtt"[..]));
    assert_round_trips(&want);
    // Without the option the authority is not sent; ALPN always is.
    let plain = enc_v2(&V2Options::SEND_PROXY_V2, &info);
    assert_eq!(
        plain,
        cat(&[
            &v2_fixed(0x21, 0x11, 19),
            &TCP4_BLOCK,
            &[0x01, 0x00, 0x04],
            b"mqtt"
        ])
    );
}

#[test]
fn v2_crc32c() {
    let opts = V2Options::SEND_PROXY_V2.with_option("crc32c").unwrap();
    let want = cat(&[
        &v2_fixed(0x21, 0x11, 19),
        &TCP4_BLOCK,
        &[0x03, 0x00, 0x04, 0x1B, 0x21, 0xAB, 0x39],
    ]);
    assert_eq!(
        enc_v2(
            &opts,
            &SendInfo {
                addresses: tcp4(),
                ..SendInfo::default()
            }
        ),
        want
    );
    assert_eq!(complete(&want).0.tlvs.crc32c(), Some(0x1B21_AB39));
    assert_round_trips(&want);
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn v2_every_option_in_haproxy_order() {
    let mut opts = V2Options::SEND_PROXY_V2_SSL_CN;
    for name in [
        "cert-key",
        "cert-sig",
        "ssl-cipher",
        "authority",
        "unique-id",
        "crc32c",
    ] {
        opts = opts.with_option(name).unwrap();
    }
    let info = SendInfo {
        addresses: tcp4(),
        alpn: Some(b"mqtt"),
        authority: Some(b"mqtt.example.com"),
        unique_id: Some(b"abc"),
        tls: Some(TlsInfo {
            version: Some("TLSv1.3"),
            cipher: Some("TLS_AES_128_GCM_SHA256"),
            cert_sig_alg: Some("RSA-SHA256"),
            cert_key_alg: Some("RSA2048"),
            client_cert: Some(ClientCert {
                verify_result: 0,
                on_this_connection: true,
                common_name: Some(b"dev1"),
            }),
        }),
    };
    let want = cat(&[
        &v2_fixed(0x21, 0x11, 124),
        &TCP4_BLOCK,
        &[0x03, 0x00, 0x04, 0x86, 0xFC, 0xC8, 0x49],
        &[0x01, 0x00, 0x04],
        b"mqtt",
        &[0x02, 0x00, 0x10],
        b"mqtt.example.com",
        &[0x05, 0x00, 0x03],
        b"abc",
        &[0x20, 0x00, 70, 0x07, 0, 0, 0, 0],
        &[0x21, 0x00, 0x07],
        b"TLSv1.3",
        &[0x22, 0x00, 0x04],
        b"dev1",
        &[0x25, 0x00, 0x07],
        b"RSA2048",
        &[0x24, 0x00, 0x0A],
        b"RSA-SHA256",
        &[0x23, 0x00, 0x16],
        b"TLS_AES_128_GCM_SHA256",
    ]);
    assert_eq!(enc_v2(&opts, &info), want);
    let h = complete(&want).0;
    assert_eq!(h.tlvs.unique_id(), Some(&b"abc"[..]));
    let ssl = h.tlvs.ssl().unwrap();
    assert_eq!(ssl.key_alg(), Some(&b"RSA2048"[..]));
    assert_eq!(ssl.sig_alg(), Some(&b"RSA-SHA256"[..]));
    assert_round_trips(&want);
}

#[test]
fn v2_options_follow_haproxy_keywords() {
    let o = V2Options::SEND_PROXY_V2.with_option("ssl-cipher").unwrap();
    // ssl-cipher implies ssl: the SSL TLV appears.
    let bytes = enc_v2(
        &o,
        &SendInfo {
            addresses: tcp4(),
            ..SendInfo::default()
        },
    );
    assert_eq!(bytes.len(), 16 + 12 + 8);
    assert_eq!(V2Options::SEND_PROXY_V2.with_option("alpn"), None);
    assert_eq!(
        V2Options::SEND_PROXY_V2.with_option("cert-cn"),
        Some(V2Options::SEND_PROXY_V2_SSL_CN)
    );
    assert_eq!(
        V2Options::SEND_PROXY_V2.with_option("ssl"),
        Some(V2Options::SEND_PROXY_V2_SSL)
    );
}

#[test]
fn v2_encoder_limits() {
    let long = [b'a'; 256];
    let info = SendInfo {
        addresses: tcp4(),
        authority: Some(&long),
        ..SendInfo::default()
    };
    let opts = V2Options::SEND_PROXY_V2.with_option("authority").unwrap();
    assert_eq!(
        encode_v2(&mut [0u8; V2_MAX_LEN], &opts, &info),
        Err(EncodeError::ValueTooLong("AUTHORITY"))
    );
    let info = SendInfo {
        addresses: tcp4(),
        ..SendInfo::default()
    };
    assert_eq!(
        encode_v2(&mut [0u8; 27], &V2Options::SEND_PROXY_V2, &info),
        Err(EncodeError::BufferTooSmall)
    );
    assert_eq!(
        encode_v2(&mut [0u8; 28], &V2Options::SEND_PROXY_V2, &info),
        Ok(28)
    );
    let mut big = vec![0u8; V2_MAX_LEN * 2];
    let mut w = V2Writer::new(&mut big, Command::Proxy, &tcp4()).unwrap();
    w.tlv(0xE0, &[0u8; 1000]).unwrap();
    assert_eq!(w.tlv(0xE0, &[0u8; 1100]), Err(EncodeError::HeaderTooLong));
}
