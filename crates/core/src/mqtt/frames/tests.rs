use super::*;

#[test]
fn connect_v311_bytes() {
    let mut out = Vec::new();
    encode_connect(&mut out, Version::V311, b"dev-1", 60);
    assert_eq!(
        out,
        b"\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05dev-1".to_vec()
    );
    let mut s = Scanner::default();
    let (n, f) = s.next(&out, 1024).unwrap();
    assert_eq!(n, out.len());
    let Some(Frame::Whole { first, body }) = f else {
        panic!()
    };
    assert_eq!(first >> 4, kind::CONNECT);
    assert_eq!(connect_version(body), Ok(Version::V311));
    assert_eq!(connect_client_id(body), Ok(&b"dev-1"[..]));
}

#[test]
fn connect_v5_round_trip() {
    let mut out = Vec::new();
    encode_connect(&mut out, Version::V5, b"dev-77", 30);
    let (_, f) = Scanner::default().next(&out, 1024).unwrap();
    let Some(Frame::Whole { body, .. }) = f else {
        panic!()
    };
    assert_eq!(connect_version(body), Ok(Version::V5));
    assert_eq!(connect_client_id(body), Ok(&b"dev-77"[..]));
}

#[test]
fn publish_layout_and_payload() {
    for version in [Version::V311, Version::V5] {
        for qos in [0, 1] {
            let mut out = vec![0xAA];
            let l = encode_publish(&mut out, version, b"bench/1", qos, 300);
            assert_eq!(l.len, out.len() - 1);
            let pkt = &out[1..];
            assert_eq!(pkt.len() - l.payload_at, 300);
            let (_, f) = Scanner::default().next(pkt, 4096).unwrap();
            let Some(Frame::Whole { first, body }) = f else {
                panic!()
            };
            assert_eq!(publish_payload(version, first, body).unwrap().len(), 300);
            assert_eq!(
                publish_packet_id(first, body),
                (qos > 0).then_some(1),
                "{version:?} {qos}"
            );
            assert_eq!(l.packet_id_at.is_some(), qos > 0);
        }
    }
}

#[test]
fn scanner_waits_then_skips_large() {
    let mut out = Vec::new();
    encode_publish(&mut out, Version::V311, b"t", 0, 100_000);
    let mut s = Scanner::default();
    // Partial header of a packet that fits: wait.
    assert_eq!(s.next(&out[..1], 200_000).unwrap(), (0, None));
    assert_eq!(s.next(&out[..50], 200_000).unwrap(), (0, None));
    // Larger than the buffer: the prefix comes out, the rest is skipped.
    let (n, f) = s.next(&out[..50], 1000).unwrap();
    assert_eq!(n, 50);
    assert!(matches!(f, Some(Frame::Large { body_len, .. }) if body_len == out.len() - 4));
    let (n, f) = s.next(&out[50..], 1000).unwrap();
    assert_eq!((n, f), (out.len() - 50, None));
    assert_eq!(s.next(&PINGREQ, 1000).unwrap().0, 2);
}

#[test]
fn scanner_rejects_five_byte_length() {
    let bad = [0x30, 0xff, 0xff, 0xff, 0xff, 0x01];
    assert_eq!(
        Scanner::default().next(&bad, 10),
        Err(FrameError::BadRemainingLength)
    );
}
