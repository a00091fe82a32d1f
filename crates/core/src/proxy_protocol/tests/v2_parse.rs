//! v2 input that must be refused, and odd input that must be accepted.

use super::*;

#[test]
fn v2_bad_signature_is_not_proxy_protocol() {
    let mut h = cat(&[&v2_fixed(0x21, 0x11, 12), &TCP4_BLOCK]);
    h[10] = b'X';
    assert_eq!(invalid(&h), ParseError::NotProxyProtocol);
    assert_eq!(invalid(&h[..11]), ParseError::NotProxyProtocol);
    assert_eq!(invalid(b"\r\n\r\nX"), ParseError::NotProxyProtocol);
}

#[test]
fn v2_bad_version_or_command_nibble() {
    for ver_cmd in [0x11, 0x31, 0x01, 0x22, 0x2F] {
        let h = cat(&[&v2_fixed(ver_cmd, 0x11, 12), &TCP4_BLOCK]);
        assert!(
            matches!(invalid(&h), ParseError::Invalid(_)),
            "{ver_cmd:#x}"
        );
        // Refused as soon as the byte arrives.
        assert!(
            matches!(invalid(&h[..13]), ParseError::Invalid(_)),
            "{ver_cmd:#x}"
        );
    }
}

#[test]
fn v2_bad_family_with_proxy_command() {
    for fam in [0x12, 0x22, 0x31, 0x32, 0x41, 0x10, 0x01] {
        let h = cat(&[&v2_fixed(0x21, fam, 216), &[0u8; 216]]);
        assert!(
            matches!(invalid(&h[..14]), ParseError::Invalid(_)),
            "{fam:#x}"
        );
    }
}

#[test]
fn v2_local_ignores_any_address_block() {
    let h = cat(&[
        &v2_fixed(0x20, 0x11, 12 + 7),
        &TCP4_BLOCK,
        &[0x05, 0x00, 0x04],
        b"id-1",
    ]);
    let (hdr, n) = complete(&h);
    assert_eq!(
        (hdr.command, hdr.addresses, n),
        (Command::Local, Addresses::Unspec, h.len())
    );
    assert_eq!(hdr.tlvs.unique_id(), Some(&b"id-1"[..]));
    let odd = cat(&[&v2_fixed(0x20, 0x77, 3), &[1, 2, 3]]);
    assert!(complete(&odd).0.tlvs.is_empty());
}

#[test]
fn v2_proxy_unspec_has_no_address_block() {
    let h = cat(&[&v2_fixed(0x21, 0x00, 6), &[0x01, 0x00, 0x03], b"abc"]);
    let (hdr, _) = complete(&h);
    assert_eq!(
        (hdr.command, hdr.addresses),
        (Command::Proxy, Addresses::Unspec)
    );
    assert_round_trips(&h);
}

#[test]
fn v2_length_beyond_limit_is_too_long_at_once() {
    let over = u16::try_from(V2_MAX_LEN - V2_FIXED_LEN + 1).unwrap();
    assert_eq!(invalid(&v2_fixed(0x21, 0x11, over)), ParseError::TooLong);
    assert_eq!(
        invalid(&v2_fixed(0x21, 0x11, u16::MAX)),
        ParseError::TooLong
    );
    let max = u16::try_from(V2_MAX_LEN - V2_FIXED_LEN).unwrap();
    assert_eq!(
        parse(&v2_fixed(0x21, 0x11, max)),
        Ok(Parsed::Incomplete {
            at_least: V2_MAX_LEN
        })
    );
}

#[test]
fn v2_short_address_block_is_invalid() {
    let h = cat(&[&v2_fixed(0x21, 0x11, 8), &TCP4_BLOCK[..8]]);
    assert!(matches!(invalid(&h), ParseError::Invalid(_)));
    let h = cat(&[&v2_fixed(0x21, 0x21, 12), &TCP4_BLOCK]);
    assert!(matches!(invalid(&h), ParseError::Invalid(_)));
}

#[test]
fn v2_tlv_overflowing_the_header_is_invalid() {
    // A TLV claiming 16 bytes with 2 left.
    let h = cat(&[
        &v2_fixed(0x21, 0x11, 12 + 5),
        &TCP4_BLOCK,
        &[0x01, 0x00, 0x10, b'a', b'b'],
    ]);
    assert!(matches!(invalid(&h), ParseError::Invalid(_)));
    // Two stray bytes: a TLV header cut short.
    let h = cat(&[&v2_fixed(0x21, 0x11, 12 + 2), &TCP4_BLOCK, &[0x01, 0x00]]);
    assert!(matches!(invalid(&h), ParseError::Invalid(_)));
}

#[test]
fn v2_bad_crc32c_is_invalid() {
    let mut h = cat(&[
        &v2_fixed(0x21, 0x11, 19),
        &TCP4_BLOCK,
        &[0x03, 0x00, 0x04, 0x1B, 0x21, 0xAB, 0x39],
    ]);
    assert!(complete(&h).0.tlvs.crc32c().is_some());
    h[16] ^= 1; // flip an address bit
    assert_eq!(invalid(&h), ParseError::Invalid("v2 CRC32C mismatch"));
    let h = cat(&[
        &v2_fixed(0x21, 0x11, 18),
        &TCP4_BLOCK,
        &[0x03, 0x00, 0x03, 0, 0, 0],
    ]);
    assert!(matches!(invalid(&h), ParseError::Invalid(_)));
}

#[test]
fn v2_ssl_tlv_must_be_well_formed() {
    let short = cat(&[
        &v2_fixed(0x21, 0x11, 12 + 7),
        &TCP4_BLOCK,
        &[0x20, 0x00, 0x04, 1, 0, 0, 0],
    ]);
    assert!(matches!(invalid(&short), ParseError::Invalid(_)));
    let sub_overflow = cat(&[
        &v2_fixed(0x21, 0x11, 12 + 3 + 9),
        &TCP4_BLOCK,
        &[0x20, 0x00, 0x09, 1, 0, 0, 0, 0, 0x22, 0x00, 0x09, b'x'],
    ]);
    assert!(matches!(invalid(&sub_overflow), ParseError::Invalid(_)));
}

#[test]
fn v2_authority_and_unique_id_limits() {
    let mut h = cat(&[
        &v2_fixed(0x21, 0x11, 12 + 3 + 256),
        &TCP4_BLOCK,
        &[0x02, 0x01, 0x00],
    ]);
    h.extend_from_slice(&[b'a'; 256]);
    assert!(matches!(invalid(&h), ParseError::Invalid(_)));
    let mut h = cat(&[
        &v2_fixed(0x21, 0x11, 12 + 3 + 129),
        &TCP4_BLOCK,
        &[0x05, 0x00, 129],
    ]);
    h.extend_from_slice(&[b'a'; 129]);
    assert!(matches!(invalid(&h), ParseError::Invalid(_)));
}

#[test]
fn v2_unknown_tlvs_are_kept_in_order() {
    let h = cat(&[
        &v2_fixed(0x21, 0x11, 12 + 4 + 3),
        &TCP4_BLOCK,
        &[0xEA, 0x00, 0x01, 0x7A],
        &[tlv_type::NOOP, 0x00, 0x00],
    ]);
    let kinds: Vec<u8> = complete(&h).0.tlvs.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [0xEA, tlv_type::NOOP]);
    assert_round_trips(&h);
}
