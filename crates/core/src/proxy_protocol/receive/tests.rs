use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::version::{TLS12, TLS13};

use super::*;
use crate::proxy_protocol::{Addresses, V2Writer};
use crate::tls::client_hello::{MAX_CLIENT_HELLO_BYTES, Peek, peek};
use crate::tls::testbed::client_config;

fn source() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], 40000))
}

fn destination() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 1], 8883))
}

/// A v2 PROXY header for [`source`] → [`destination`], padded with a vendor TLV to
/// `len` bytes in all.
fn v2_header(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; V2_MAX_LEN];
    let addresses = Addresses::from_pair(source(), destination());
    let mut w = V2Writer::new(&mut out, Command::Proxy, &addresses).unwrap();
    // 16 fixed + 12 addresses + a TLV's 3-byte type and length.
    let vendor = vec![0x5a; len - 16 - 12 - 3];
    w.tlv(0xEA, &vendor).unwrap();
    let n = w.finish().unwrap();
    out.truncate(n);
    assert_eq!(out.len(), len);
    out
}

/// The first flight of a rustls client: TLS 1.3 with an X25519MLKEM768 key share (rustls'
/// default with aws-lc-rs), about 1.4 KiB.
fn post_quantum_hello() -> Vec<u8> {
    let config = client_config(&[&TLS13, &TLS12], None, None);
    let name = ServerName::try_from("mqtt.example.com").unwrap();
    let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut wire = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut wire).unwrap();
    }
    wire
}

fn expect_header(result: Result<Received, ReceiveError>) -> (Option<SocketAddr>, Vec<u8>) {
    match result {
        Ok(Received::Header { source, rest, .. }) => (source, rest),
        other => panic!("expected a complete header, got {other:?}"),
    }
}

/// Finding 8 of issue 11: the stage capped the header and what followed it together at
/// 2048 bytes.
#[test]
fn header_and_1_5_kib_after_it_in_one_read_regression() {
    let after: Vec<u8> = (0..1536).map(|i| i as u8).collect();
    for header in [v2_header(28 + 3 + 64), v2_header(MAX_HEADER_BYTES)] {
        let mut read = header.clone();
        read.extend_from_slice(&after);
        let mut pending = Vec::new();
        let (from, rest) = expect_header(receive(&mut pending, &read, MAX_CLIENT_HELLO_BYTES));
        assert_eq!(from, Some(source()), "{} byte header", header.len());
        assert_eq!(rest, after, "{} byte header", header.len());
        assert!(pending.is_empty());
    }
}

#[test]
fn a_post_quantum_client_hello_with_the_header_reaches_the_next_stage_whole() {
    let hello = post_quantum_hello();
    assert!(
        hello.len() > 1216,
        "no ML-KEM key share? {} bytes",
        hello.len()
    );
    let v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 8883\r\n".to_vec();
    for header in [v1, v2_header(MAX_HEADER_BYTES)] {
        let read = [&header[..], &hello[..]].concat();
        let (from, rest) = expect_header(receive(&mut Vec::new(), &read, MAX_CLIENT_HELLO_BYTES));
        assert_eq!(from, Some(source()));
        assert!(matches!(peek(&rest), Ok(Peek::Hello(_))), "{rest:02x?}");
    }
}

#[test]
fn header_over_several_reads_then_the_rest() {
    let header = v2_header(600);
    let read = [&header[..], b"CONNECT"].concat();
    let mut pending = Vec::new();
    for chunk in read[..599].chunks(100) {
        assert_eq!(receive(&mut pending, chunk, 16), Ok(Received::Incomplete));
    }
    let (_, rest) = expect_header(receive(&mut pending, &read[599..], 16));
    assert_eq!(rest, b"CONNECT");
}

#[test]
fn what_follows_the_header_is_capped_by_the_next_stage() {
    let header = v2_header(64);
    let read = [&header[..], &[0x16; 100][..]].concat();
    let (_, rest) = expect_header(receive(&mut Vec::new(), &read, 100));
    assert_eq!(rest.len(), 100);
    assert_eq!(
        receive(&mut Vec::new(), &read, 99),
        Err(ReceiveError::RestTooLong)
    );
    // Nothing after the header is fine too (a client that waits for the server).
    let (_, rest) = expect_header(receive(&mut Vec::new(), &header, 0));
    assert!(rest.is_empty());
}

#[test]
fn the_header_itself_stays_capped() {
    // A v2 length past the cap is refused from the 16 bytes that carry it.
    let mut long = v2_header(64);
    long[14..16].copy_from_slice(&(MAX_HEADER_BYTES as u16 - 15).to_be_bytes());
    assert_eq!(
        receive(&mut Vec::new(), &long[..16], usize::MAX),
        Err(ReceiveError::Header(ParseError::TooLong))
    );
    // A v1 line without its CRLF, however much follows.
    let mut v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 8883".to_vec();
    v1.resize(4096, b' ');
    assert!(matches!(
        receive(&mut Vec::new(), &v1, usize::MAX),
        Err(ReceiveError::Header(_))
    ));
    assert_eq!(
        receive(&mut Vec::new(), &[0x16, 0x03, 0x01], usize::MAX),
        Err(ReceiveError::Header(ParseError::NotProxyProtocol))
    );
}

#[test]
fn a_local_header_names_no_client() {
    let mut out = [0u8; 16];
    let n = V2Writer::new(&mut out, Command::Local, &Addresses::Unspec)
        .and_then(|w| w.finish())
        .unwrap();
    let read = [&out[..n], b"x"].concat();
    match receive(&mut Vec::new(), &read, 1) {
        Ok(Received::Header {
            source,
            destination,
            rest,
        }) => assert_eq!((source, destination, &rest[..]), (None, None, &b"x"[..])),
        other => panic!("{other:?}"),
    }
}
