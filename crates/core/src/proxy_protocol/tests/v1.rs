//! v1: encode like HAProxy, parse strictly.

use std::net::{Ipv6Addr, SocketAddrV6};

use super::*;

#[test]
fn v1_tcp4_encodes_like_the_spec_example() {
    let a = Addresses::from_pair(
        "192.168.0.1:56324".parse().unwrap(),
        "192.168.0.11:443".parse().unwrap(),
    );
    assert_eq!(
        enc_v1(&a),
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    );
    let bytes = enc_v1(&a);
    let (h, _) = complete(&bytes);
    assert_eq!(
        (h.version, h.command, h.addresses),
        (Version::V1, Command::Proxy, a)
    );
    assert!(h.tlvs.is_empty());
    assert_round_trips(&bytes);
}

#[test]
fn v1_tcp6_encodes_and_parses() {
    assert_eq!(
        enc_v1(&tcp6()),
        b"PROXY TCP6 2001:db8::1 2001:db8::2 1234 8883\r\n"
    );
    assert_round_trips(&enc_v1(&tcp6()));
}

#[test]
fn v1_mixed_families_map_ipv4_like_haproxy() {
    let a = Addresses::from_pair(
        "10.0.0.1:1000".parse().unwrap(),
        "[2001:db8::2]:8883".parse().unwrap(),
    );
    assert_eq!(
        enc_v1(&a),
        b"PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 1000 8883\r\n"
    );
    assert_round_trips(&enc_v1(&a));
}

#[test]
fn v1_unknown_encodes_and_parses() {
    assert_eq!(enc_v1(&Addresses::Unspec), b"PROXY UNKNOWN\r\n");
    assert_round_trips(b"PROXY UNKNOWN\r\n");
    // The spec: anything after UNKNOWN up to CRLF is ignored.
    let (h, n) = complete(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest");
    assert_eq!((h.addresses, n), (Addresses::Unspec, 35));
}

#[test]
fn v1_ipv6_text_matches_glibc_inet_ntop() {
    // Expected strings checked against glibc 2.36's inet_ntop().
    let cases: &[(&str, &str)] = &[
        ("::", "::"),
        ("::1", "::1"),
        ("1::", "1::"),
        ("::1.2.3.4", "::1.2.3.4"), // Rust's Display says ::102:304
        ("::ffff:0.0.0.0", "::ffff:0.0.0.0"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("::0.0.1.2", "::102"),
        ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
        ("1:0:0:2:2:0:0:3", "1::2:2:0:0:3"),
        ("1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"),
        ("fe80::abcd:0:0:1", "fe80::abcd:0:0:1"),
        ("::ffff:0:1.2.3.4", "::ffff:0:102:304"),
        ("0:0:0:0:0:1:0:0", "::1:0:0"),
        ("::1:0:0:0", "::1:0:0:0"),
    ];
    for &(input, want) in cases {
        let ip: Ipv6Addr = input.parse().unwrap();
        let a = Addresses::Tcp6 {
            source: SocketAddrV6::new(ip, 1, 0, 0),
            destination: SocketAddrV6::new(ip, 2, 0, 0),
        };
        let line = enc_v1(&a);
        assert_eq!(
            line,
            format!("PROXY TCP6 {want} {want} 1 2\r\n").as_bytes(),
            "{input}"
        );
        assert_eq!(complete(&line).0.addresses, a, "{input}");
    }
}

#[test]
fn v1_longest_line_fits_the_limit() {
    let ip = Ipv6Addr::from([0xFFFF; 8]);
    let a = Addresses::Tcp6 {
        source: SocketAddrV6::new(ip, 65535, 0, 0),
        destination: SocketAddrV6::new(ip, 65535, 0, 0),
    };
    let line = enc_v1(&a);
    assert_eq!(line.len(), 104);
    assert_round_trips(&line);
    assert_eq!(
        encode_v1(&mut [0u8; 103], &a),
        Err(EncodeError::BufferTooSmall)
    );
}

#[test]
fn v1_malformed_lines_are_rejected() {
    let bad: &[&[u8]] = &[
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 80\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 ::1 ::2 1 2\r\n",
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP6 ::1 ::g 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY UNKNOWNX\r\n",
        b"PROXY \r\n",
        b"PROXY\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
    ];
    for line in bad {
        let e = invalid(line);
        assert!(
            matches!(e, ParseError::Invalid(_) | ParseError::NotProxyProtocol),
            "{e:?}"
        );
    }
    assert_eq!(invalid(b"proxy TCP4"), ParseError::NotProxyProtocol);
    assert_eq!(invalid(b"PROXX"), ParseError::NotProxyProtocol);
    assert_eq!(invalid(b"GET / HTTP/1.1\r\n"), ParseError::NotProxyProtocol);
    assert_eq!(invalid(&[0x10, 0x0C]), ParseError::NotProxyProtocol); // MQTT CONNECT
    assert_eq!(invalid(&[0x16, 0x03, 0x01]), ParseError::NotProxyProtocol); // TLS record
}

#[test]
fn v1_garbage_is_refused_before_the_line_ends() {
    assert!(matches!(invalid(b"PROXY TCP5"), ParseError::Invalid(_)));
    assert!(matches!(
        invalid(b"PROXY TCP4 1.2.3.4 x"),
        ParseError::Invalid(_)
    ));
    assert!(matches!(invalid(b"PROXY X"), ParseError::Invalid(_)));
}

#[test]
fn v1_without_crlf_within_107_bytes_is_too_long() {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(V1_MAX_LEN, b'x');
    assert!(matches!(
        parse(&line[..V1_MAX_LEN - 1]),
        Ok(Parsed::Incomplete { .. })
    ));
    assert_eq!(invalid(&line), ParseError::TooLong);
    line.extend_from_slice(b"\r\n");
    assert_eq!(invalid(&line), ParseError::TooLong);
    // 105 bytes + CRLF = 107: the longest accepted.
    let mut ok = b"PROXY UNKNOWN ".to_vec();
    ok.resize(V1_MAX_LEN - 2, b'x');
    ok.extend_from_slice(b"\r\n");
    assert_eq!(complete(&ok).1, V1_MAX_LEN);
}
