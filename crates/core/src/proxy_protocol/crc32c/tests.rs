use super::*;

#[test]
fn check_value_of_123456789() {
    // The standard CRC catalogue check value for CRC-32/ISCSI.
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
}

#[test]
fn rfc3720_vectors() {
    // RFC 3720 §B.4: 32 bytes of zeroes, of 0xFF, and ascending 0..31.
    assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    assert_eq!(crc32c(&[0xFFu8; 32]), 0x62A8_AB43);
    let ascending: Vec<u8> = (0u8..32).collect();
    assert_eq!(crc32c(&ascending), 0x46DD_794E);
}

#[test]
fn incremental_equals_one_shot() {
    let mut crc = Crc32c::new();
    crc.update(b"1234");
    crc.update(b"");
    crc.update(b"56789");
    assert_eq!(crc.finish(), crc32c(b"123456789"));
    assert_eq!(crc32c(b""), 0);
}
