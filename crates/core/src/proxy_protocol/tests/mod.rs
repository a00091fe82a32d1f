//! Byte-for-byte tests of the PROXY codec. Expected v2 bytes are written out
//! by hand from the spec's layout; the CRC32C values were computed with an
//! independent bitwise (not table-driven) implementation.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use super::*;

mod v1;
mod v2_encode;
mod v2_parse;

pub(super) const SIG: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

/// 127.0.0.1:39754 -> 127.0.0.67:11883 as a v2 address block.
pub(super) const TCP4_BLOCK: [u8; 12] = [127, 0, 0, 1, 127, 0, 0, 67, 0x9B, 0x4A, 0x2E, 0x6B];

pub(super) fn tcp4() -> Addresses {
    Addresses::from_pair(
        "127.0.0.1:39754".parse().unwrap(),
        "127.0.0.67:11883".parse().unwrap(),
    )
}

pub(super) fn tcp6() -> Addresses {
    Addresses::from_pair(
        "[2001:db8::1]:1234".parse().unwrap(),
        "[2001:db8::2]:8883".parse().unwrap(),
    )
}

pub(super) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub(super) fn v2_fixed(ver_cmd: u8, fam: u8, len: u16) -> Vec<u8> {
    cat(&[&SIG, &[ver_cmd, fam], &len.to_be_bytes()])
}

pub(super) fn enc_v1(addresses: &Addresses) -> Vec<u8> {
    let mut buf = [0u8; V1_MAX_LEN];
    let n = encode_v1(&mut buf, addresses).unwrap();
    buf[..n].to_vec()
}

pub(super) fn enc_v2(options: &V2Options, info: &SendInfo<'_>) -> Vec<u8> {
    let mut buf = [0u8; V2_MAX_LEN];
    let n = encode_v2(&mut buf, options, info).unwrap();
    buf[..n].to_vec()
}

pub(super) fn complete(buf: &[u8]) -> (ProxyHeader<'_>, usize) {
    match parse(buf) {
        Ok(Parsed::Complete { header, consumed }) => (header, consumed),
        other => panic!("expected a complete header, got {other:?}"),
    }
}

/// Every strict prefix is `Incomplete`, the whole parses, and trailing
/// client bytes are left alone.
pub(super) fn assert_parses_only_when_whole(bytes: &[u8]) {
    for cut in 0..bytes.len() {
        match parse(&bytes[..cut]) {
            Ok(Parsed::Incomplete { at_least }) => assert!(at_least > cut, "cut {cut}"),
            other => panic!("prefix of {cut} bytes: expected Incomplete, got {other:?}"),
        }
    }
    let mut with_payload = bytes.to_vec();
    with_payload.extend_from_slice(&[0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T']);
    let (_, consumed) = complete(&with_payload);
    assert_eq!(consumed, bytes.len());
}

pub(super) fn assert_round_trips(bytes: &[u8]) {
    let (header, consumed) = complete(bytes);
    assert_eq!(consumed, bytes.len());
    let mut out = [0u8; V2_MAX_LEN];
    let n = encode_header(&mut out, &header).unwrap();
    assert_eq!(&out[..n], bytes, "re-encoding changed the bytes");
    assert_parses_only_when_whole(bytes);
}

pub(super) fn invalid(bytes: &[u8]) -> ParseError {
    match parse(bytes) {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

// ---- everything: no panics, and the round-trip property ----

/// The fuzz target's property, run here over deterministic mutations so it
/// is exercised on stable by `cargo test`.
fn check_property(input: &[u8]) {
    let Ok(Parsed::Complete { header, consumed }) = parse(input) else {
        return;
    };
    assert!(consumed <= input.len());
    let mut out = [0u8; V2_MAX_LEN];
    let n = encode_header(&mut out, &header).expect("a parsed header re-encodes");
    let (again, used) = complete(&out[..n]);
    assert_eq!(used, n);
    assert_eq!(
        (again.version, again.command, again.addresses),
        (header.version, header.command, header.addresses)
    );
    fn strip_crc(t: Tlv<'_>) -> (u8, &[u8]) {
        if t.kind == tlv_type::CRC32C {
            (t.kind, &[])
        } else {
            (t.kind, t.value)
        }
    }
    assert!(
        again
            .tlvs
            .iter()
            .map(strip_crc)
            .eq(header.tlvs.iter().map(strip_crc))
    );
}

#[test]
fn mutated_headers_never_panic_and_round_trip() {
    let mut every = vec![
        enc_v1(&tcp4()),
        enc_v1(&tcp6()),
        enc_v1(&Addresses::Unspec),
        cat(&[&v2_fixed(0x21, 0x11, 12), &TCP4_BLOCK]),
        v2_fixed(0x20, 0x00, 0),
    ];
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
        addresses: tcp6(),
        alpn: Some(b"mqtt"),
        authority: Some(b"a.example"),
        unique_id: Some(b"u"),
        tls: Some(TlsInfo {
            version: Some("TLSv1.3"),
            client_cert: Some(ClientCert {
                common_name: Some(b"cn"),
                ..ClientCert::default()
            }),
            ..TlsInfo::default()
        }),
    };
    every.push(enc_v2(&opts, &info));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for seed in &every {
        check_property(seed);
        for _ in 0..3000 {
            let mut m = seed.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % m.len();
                match next() % 4 {
                    0 => m[at] = next() as u8,
                    1 => m[at] ^= 1 << (next() % 8),
                    2 => m.truncate(at),
                    _ => m.insert(at, next() as u8),
                }
                if m.is_empty() {
                    break;
                }
            }
            check_property(&m);
        }
    }
    for len in 0..64 {
        let junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        check_property(&junk);
        check_property(&cat(&[&SIG, &junk]));
        check_property(&cat(&[b"PROXY ", &junk]));
    }
}

#[test]
fn addresses_accessors() {
    let a = tcp4();
    assert_eq!(
        a.source(),
        Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::LOCALHOST,
            39754
        )))
    );
    assert_eq!(a.destination().map(|d| d.port()), Some(11883));
    assert_eq!(Addresses::Unspec.source(), None);
}
