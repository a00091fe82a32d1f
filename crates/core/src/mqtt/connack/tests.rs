use super::*;

fn sent(c: Connack) -> Vec<u8> {
    let (buf, len) = c.bytes();
    buf[..len].to_vec()
}

#[test]
fn v311_refusals_byte_for_byte() {
    let c = Connack {
        protocol: Protocol::V311,
        code: return_code::UNACCEPTABLE_PROTOCOL_VERSION,
    };
    assert_eq!(sent(c), [0x20, 0x02, 0x00, 0x01]);
    let c = Connack {
        protocol: Protocol::V31,
        code: return_code::IDENTIFIER_REJECTED,
    };
    assert_eq!(sent(c), [0x20, 0x02, 0x00, 0x02]);
}

#[test]
fn v5_refusals_byte_for_byte() {
    for (code, byte) in [
        (reason_code::MALFORMED_PACKET, 0x81),
        (reason_code::PROTOCOL_ERROR, 0x82),
        (reason_code::UNSUPPORTED_PROTOCOL_VERSION, 0x84),
        (reason_code::CLIENT_IDENTIFIER_NOT_VALID, 0x85),
        (reason_code::TOPIC_NAME_INVALID, 0x90),
        (reason_code::PACKET_TOO_LARGE, 0x95),
    ] {
        let c = Connack {
            protocol: Protocol::V5,
            code,
        };
        assert_eq!(sent(c), [0x20, 0x03, 0x00, byte, 0x00]);
    }
}
