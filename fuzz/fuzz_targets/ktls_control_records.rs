//! Fuzzes the rules the kTLS path applies to the control records `recvmsg` returns
//! (`crates/core/src/tls/post_handshake.rs`): alerts, KeyUpdate, NewSessionTicket, renegotiation, unknown
//! types, on TLS 1.3 and 1.2, with our own sends in between.
//!
//! Input and property: `ringress::tls::fuzzing::ktls_control_records`. In short: never
//! panics; at most 32 KeyUpdates between two data records, at most one answer owed between two
//! sends of ours, nothing accepted after a refusal or close_notify.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringress::tls::fuzzing::ktls_control_records(data));
