//! Fuzzes `ringress::tls::client_hello::peek`, which reads a client's first bytes on a TLS
//! listener (for SNI routing and pass-through) before any session exists.
//!
//! Property, for every input:
//! 1. `peek` returns (never panics; its work is bounded by `MAX_CLIENT_HELLO_BYTES`), and
//!    gives the same answer when called twice on the same bytes.
//! 2. An SNI it returns obeys the normalisation `HelloInfo::sni` promises and
//!    `route::RouteTable::lookup` relies on: non-empty, at most 253 bytes (RFC 1035
//!    §2.3.4), ASCII lowercase, no trailing dot, not an IP address (RFC 6066 §3), a valid
//!    `DnsName` that rustls leaves unchanged; and a route table holding exactly that name
//!    finds it.
//! 3. A hello does not depend on how the bytes were cut: when `peek(x)` is `Hello(h)`,
//!    every prefix of `x` gives `Incomplete` or the same `Hello(h)` (the driver calls `peek`
//!    on everything received so far and stops at the first answer that is not
//!    `Incomplete`), and appending an application-data record after the hello changes
//!    nothing ("bytes after the hello are ignored").
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use ringress::route::{MAX_NAME_LEN, RouteTable};
use ringress::tls::client_hello::{HelloInfo, MAX_CLIENT_HELLO_BYTES, Peek, peek};
use rustls::pki_types::DnsName;

/// A whole application-data record (type 23, version 3.3, one byte), as a client that sends
/// early data right behind its hello would.
const TRAILING_RECORD: [u8; 6] = [23, 3, 3, 0, 1, 0];

/// Prefixes past the first that is a hello are tried this far apart (a prime, so the cuts
/// fall at different offsets within records).
const STEP_AFTER_HELLO: usize = 61;

fn check_sni(sni: &str) {
    assert!(!sni.is_empty(), "empty SNI");
    assert!(sni.len() <= MAX_NAME_LEN, "SNI of {} bytes", sni.len());
    assert!(sni.is_ascii(), "non-ASCII SNI {sni:?}");
    assert!(!sni.bytes().any(|b| b.is_ascii_uppercase()), "SNI {sni:?}");
    assert!(!sni.ends_with('.'), "SNI with a trailing dot {sni:?}");
    assert!(sni.parse::<IpAddr>().is_err(), "IP address as SNI {sni:?}");
    let dns = DnsName::try_from(sni).expect("SNI is a valid DNS name");
    assert_eq!(dns.as_ref(), sni, "rustls would normalise the SNI further");
    let mut table = RouteTable::new();
    table.insert(sni, 7).expect("an empty table takes any name");
    assert_eq!(
        table.lookup(sni),
        Some(7),
        "SNI {sni:?} does not find its route"
    );
}

fn check_hello(hello: &HelloInfo) {
    if let Some(sni) = &hello.sni {
        check_sni(sni);
    }
}

fuzz_target!(|data: &[u8]| {
    let result = peek(data);
    assert_eq!(result, peek(data), "peek is not deterministic");
    let Ok(Peek::Hello(hello)) = result else {
        return;
    };
    check_hello(&hello);
    // Every prefix up to the first that is a hello: they are cheap (the framing check answers
    // `Incomplete` before rustls runs). Past it each prefix is a full rustls parse, so only
    // every `STEP_AFTER_HELLO`th, and the last.
    let mut seen_hello = false;
    let mut end = 0;
    while end < data.len() {
        match peek(&data[..end]) {
            Ok(Peek::Incomplete) => {}
            Ok(Peek::Hello(h)) if h == hello => seen_hello = true,
            other => panic!(
                "prefix of {end} of {} bytes gives {other:?}, the whole a hello",
                data.len()
            ),
        }
        end = match seen_hello {
            false => end + 1,
            true if end + STEP_AFTER_HELLO < data.len() => end + STEP_AFTER_HELLO,
            true if end + 1 < data.len() => data.len() - 1,
            true => data.len(),
        };
    }
    if data.len() + TRAILING_RECORD.len() <= MAX_CLIENT_HELLO_BYTES {
        let mut longer = data.to_vec();
        longer.extend_from_slice(&TRAILING_RECORD);
        assert_eq!(
            peek(&longer),
            Ok(Peek::Hello(hello)),
            "a record after the hello changed the answer"
        );
    }
});
