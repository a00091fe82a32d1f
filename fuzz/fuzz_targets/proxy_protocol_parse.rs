//! Fuzzes `ringress::proxy_protocol::parse`, the first parser to see a
//! client's (or load balancer's) bytes.
//!
//! Property, for every input:
//! 1. `parse` returns (never panics, never allocates by a peer-given size),
//!    and a `Complete` header's `consumed` is within the input.
//! 2. For `Complete`, encoding the parsed header (`encode_header`, into a
//!    `V2_MAX_LEN` buffer) succeeds, and parsing that encoding gives a
//!    `Complete` header with the same version, command, addresses and TLVs in
//!    the same order, consuming exactly the encoded bytes. The CRC32C TLV's
//!    value is excepted: it is recomputed, and differs when a `LOCAL`
//!    header's ignored address block was dropped.
//! 3. The encoding is a fixed point: encoding that second parse gives the same bytes again
//!    (encode(parse(encode(parse(x)))) == encode(parse(x))), so a header forwarded through
//!    any number of ringress hops stays byte for byte what the first hop sent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringress::proxy_protocol::{Parsed, Tlv, V2_MAX_LEN, encode_header, parse, tlv_type};

fn without_crc_value(t: Tlv<'_>) -> (u8, &[u8]) {
    if t.kind == tlv_type::CRC32C {
        (t.kind, &[])
    } else {
        (t.kind, t.value)
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(Parsed::Complete { header, consumed }) = parse(data) else {
        return;
    };
    assert!(consumed <= data.len());

    let mut out = [0u8; V2_MAX_LEN];
    let n = encode_header(&mut out, &header).expect("a parsed header re-encodes");
    let Ok(Parsed::Complete {
        header: again,
        consumed: used,
    }) = parse(&out[..n])
    else {
        panic!("our own encoding does not parse: {:?}", &out[..n]);
    };
    assert_eq!(used, n);
    assert_eq!(again.version, header.version);
    assert_eq!(again.command, header.command);
    assert_eq!(again.addresses, header.addresses);
    assert!(
        again
            .tlvs
            .iter()
            .map(without_crc_value)
            .eq(header.tlvs.iter().map(without_crc_value))
    );

    let mut twice = [0u8; V2_MAX_LEN];
    let m = encode_header(&mut twice, &again).expect("our own encoding re-encodes");
    assert_eq!(&twice[..m], &out[..n], "the encoding is not a fixed point");
});
