use super::*;

#[test]
fn vbi_boundaries_from_the_spec_table() {
    // MQTT 5 §1.5.5 / 3.1.1 Table 2.4: the first and last value of each length.
    let cases: [(&[u8], u32); 8] = [
        (&[0x00], 0),
        (&[0x7f], 127),
        (&[0x80, 0x01], 128),
        (&[0xff, 0x7f], 16_383),
        (&[0x80, 0x80, 0x01], 16_384),
        (&[0xff, 0xff, 0x7f], 2_097_151),
        (&[0x80, 0x80, 0x80, 0x01], 2_097_152),
        (&[0xff, 0xff, 0xff, 0x7f], VBI_MAX),
    ];
    for (bytes, value) in cases {
        assert_eq!(
            decode_vbi(bytes),
            Vbi::Complete {
                value,
                len: bytes.len()
            },
            "{bytes:02x?}"
        );
        let mut out = Vec::new();
        encode_vbi(value, &mut out).unwrap();
        assert_eq!(out, bytes);
    }
    assert_eq!(encode_vbi(VBI_MAX + 1, &mut Vec::new()), None);
}

#[test]
fn vbi_rejects_five_bytes_and_non_minimal() {
    assert_eq!(decode_vbi(&[0xff, 0xff, 0xff, 0xff]), Vbi::TooLong);
    assert_eq!(decode_vbi(&[0x80, 0x80, 0x80, 0x80, 0x01]), Vbi::TooLong);
    assert_eq!(decode_vbi(&[0x80, 0x00]), Vbi::NotMinimal);
    assert_eq!(decode_vbi(&[0x81, 0x80, 0x00]), Vbi::NotMinimal);
    assert_eq!(decode_vbi(&[]), Vbi::Incomplete);
    assert_eq!(decode_vbi(&[0x80, 0x80, 0x80]), Vbi::Incomplete);
}

#[test]
fn strings_are_bounds_checked_and_validated() {
    assert_eq!(Reader::new(&[0x00, 0x02, b'h', b'i']).utf8(), Ok("hi"));
    assert_eq!(
        Reader::new(&[0x00, 0x03, b'h', b'i']).utf8(),
        Err(ReadError::Short)
    );
    assert_eq!(Reader::new(&[0x00]).utf8(), Err(ReadError::Short));
    assert_eq!(
        Reader::new(&[0x00, 0x01, 0x00]).utf8(),
        Err(ReadError::BadUtf8)
    );
    // A lone surrogate (U+D800 as CESU-style bytes) and an over-long '/'.
    assert_eq!(
        Reader::new(&[0x00, 0x03, 0xed, 0xa0, 0x80]).utf8(),
        Err(ReadError::BadUtf8)
    );
    assert_eq!(
        Reader::new(&[0x00, 0x02, 0xc0, 0xaf]).utf8(),
        Err(ReadError::BadUtf8)
    );
    // U+FEFF is a valid character and must not be stripped [MQTT-1.5.4-3].
    assert_eq!(
        Reader::new(&[0x00, 0x03, 0xef, 0xbb, 0xbf]).utf8(),
        Ok("\u{feff}")
    );
}

#[test]
fn failed_take_consumes_nothing() {
    let mut r = Reader::new(&[1, 2, 3]);
    assert_eq!(r.u32(), Err(ReadError::Short));
    assert_eq!(r.u16(), Ok(0x0102));
    assert_eq!(r.vbi(), Ok(3));
    assert!(r.is_empty());
}
