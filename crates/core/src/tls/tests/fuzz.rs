//! Fuzz-style tests: random and mutated input never panics a session, and every failure is a
//! typed error with a keyword. Seeded, so a failure reproduces.
//!
//! Property: for any bytes, in any chunking, `TlsSession::read` returns (no panic, no hang),
//! never reports more plaintext or consumption than it was given, and keeps held bytes within
//! `MAX_HELD_BYTES`.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustls::ServerConfig;
use rustls::version::{TLS12, TLS13};

use crate::tls::testbed::{ClientAuth, Pair, client_config, pki, server_config};
use crate::tls::{MAX_HELD_BYTES, RecordLayer, TlsSession};

const ITERATIONS: usize = 3000;

/// Feeds `bytes` to `session` in random chunks, as the driver would, until it fails.
/// `held` is carried between calls, as the driver's per-connection Vec.
fn feed_in_chunks(session: &mut TlsSession, held: &mut Vec<u8>, bytes: &[u8], rng: &mut StdRng) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = rng.random_range(1..=rest.len());
        let (chunk, after) = rest.split_at(n);
        rest = after;
        let mut incoming = std::mem::take(held);
        incoming.extend_from_slice(chunk);
        let mut outgoing = Vec::new();
        match session.read(&mut incoming, &mut outgoing) {
            Ok(out) => {
                assert!(out.consumed <= incoming.len());
                assert!(out.plaintext <= out.consumed);
                *held = incoming[out.consumed..].to_vec();
                assert!(held.len() <= MAX_HELD_BYTES);
            }
            Err(err) => {
                assert!(err.keyword().starts_with("tls_"));
                return;
            }
        }
    }
}

fn mutate(bytes: &mut Vec<u8>, rng: &mut StdRng) {
    for _ in 0..rng.random_range(1..6) {
        match rng.random_range(0..3) {
            0 if !bytes.is_empty() => {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            1 if !bytes.is_empty() => {
                let at = rng.random_range(0..bytes.len());
                bytes.truncate(at.max(1));
            }
            _ => {
                let at = rng.random_range(0..=bytes.len());
                bytes.insert(at, rng.random());
            }
        }
    }
}

fn config() -> Arc<ServerConfig> {
    Arc::new(server_config(&pki().server_ecdsa, ClientAuth::Optional))
}

#[test]
fn random_bytes_never_panic_a_fresh_session() {
    let config = config();
    let mut rng = StdRng::seed_from_u64(1);
    for i in 0..ITERATIONS {
        let mut bytes = vec![0u8; rng.random_range(0..2048)];
        rng.fill(&mut bytes[..]);
        // Half start like a handshake record, to get past the first check.
        if i % 2 == 0 && bytes.len() >= 3 {
            bytes[..3].copy_from_slice(&[0x16, 3, 1]);
        }
        let mut session = TlsSession::new(config.clone(), RecordLayer::Own).unwrap();
        feed_in_chunks(&mut session, &mut Vec::new(), &bytes, &mut rng);
    }
}

#[test]
fn mutated_client_flights_never_panic() {
    let config = config();
    let mut rng = StdRng::seed_from_u64(2);
    // Real first and second flights, with and without a client certificate, both versions.
    let mut flights = Vec::new();
    for version in [&TLS12, &TLS13] {
        for identity in [None, Some(&pki().device1)] {
            let mut pair = Pair::new(
                client_config(&[version], None, identity),
                server_config(&pki().server_ecdsa, ClientAuth::Optional),
            );
            let hello = pair.client_wire();
            let reply = pair.server_read(&hello).unwrap();
            pair.client_receive(&reply).unwrap();
            let second = pair.client_wire();
            flights.push((hello, second));
        }
    }
    for i in 0..ITERATIONS {
        let (hello, second) = &flights[i % flights.len()];
        let mut session = TlsSession::new(config.clone(), RecordLayer::Own).unwrap();
        if i % 2 == 0 {
            let mut hello = hello.clone();
            mutate(&mut hello, &mut rng);
            feed_in_chunks(&mut session, &mut Vec::new(), &hello, &mut rng);
        } else {
            // A genuine hello, then a mangled second flight: this reaches the encrypted
            // handshake and certificate parsing.
            let mut bytes = hello.clone();
            let mut second = second.clone();
            mutate(&mut second, &mut rng);
            bytes.extend(second);
            feed_in_chunks(&mut session, &mut Vec::new(), &bytes, &mut rng);
        }
    }
}

#[test]
fn random_records_after_the_handshake_never_panic() {
    let mut rng = StdRng::seed_from_u64(3);
    for i in 0..ITERATIONS / 10 {
        let version = if i % 2 == 0 { &TLS12 } else { &TLS13 };
        let mut pair = Pair::new(
            client_config(&[version], None, None),
            server_config(&pki().server_ecdsa, ClientAuth::Off),
        );
        pair.handshake().unwrap();
        for _ in 0..10 {
            let mut bytes = pair.client_send(b"PUBLISH");
            mutate(&mut bytes, &mut rng);
            if rng.random_bool(0.3) {
                rng.fill(&mut bytes[..]);
            }
            feed_in_chunks(&mut pair.server, &mut pair.held, &bytes, &mut rng);
        }
    }
}
