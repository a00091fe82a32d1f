//! Fuzzes our TLS 1.3 record layer (`crates/core/src/tls/records.rs`) past the AEAD: the fuzzer's bytes
//! are sealed under a known client key, so every record decrypts and the fuzzer explores
//! content types, padding, alerts, KeyUpdate (whole, split, requested or not) and records cut
//! across reads, which random ciphertext would never reach.
//!
//! Input and property: `ringress::tls::fuzzing::records_past_the_aead`. In short: never
//! panics; what the server queues for a client it sends no data stays within one KeyUpdate
//! answer and one alert; plaintext handed out never exceeds what was consumed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringress::tls::fuzzing::records_past_the_aead(data));
