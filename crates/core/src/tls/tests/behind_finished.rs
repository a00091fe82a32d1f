//! What comes in the same read as the client's TLS 1.3 Finished: data (an MQTT CONNECT, the
//! common case), KeyUpdates, a record cut short. rustls keeps only whole data records under
//! the first key (a kernel hand-off can follow those); anything else goes to our record layer
//! at the end of the handshake, with its bounds.
//!
//! Regression: rustls used to process KeyUpdates there; the session then could not move to our
//! layer (the logged secrets no longer matched its keys: `tls_internal`), and rustls' own limit
//! rather than ours refused a flood.

use rustls::version::TLS13;
use rustls::{AlertDescription, CipherSuite};

use crate::tls::post_handshake::MAX_KEY_UPDATES_WITHOUT_DATA;
use crate::tls::testbed::{ClientAuth, Pair, client_config, pki, server_config};
use crate::tls::{SentAlert, TlsErrorKind};

/// A pair whose client has the server's flight and is about to send its Finished.
fn before_finished(suite: CipherSuite, from_the_start: bool) -> Pair {
    let mut pair = Pair::new(
        client_config(&[&TLS13], Some(suite), None),
        server_config(&pki().server_ecdsa, ClientAuth::Off),
    );
    if from_the_start {
        pair.server.own_records_from_the_start();
    }
    let hello = pair.client_wire();
    let flight = pair.server_read(&hello).unwrap();
    pair.client_receive(&flight).unwrap();
    assert!(pair.server.is_handshaking());
    pair
}

/// The client's Finished, `updates` KeyUpdate(update_requested) records, then `data`.
fn finished_then(pair: &mut Pair, updates: usize, data: &[u8]) -> Vec<u8> {
    let mut wire = pair.client_wire();
    for _ in 0..updates {
        pair.client.refresh_traffic_keys().unwrap();
        wire.extend(pair.client_wire());
    }
    wire.extend(pair.client_send(data));
    wire
}

#[test]
fn key_updates_behind_the_finished_go_to_our_layer() {
    for from_the_start in [false, true] {
        for updates in [1, 5, usize::from(MAX_KEY_UPDATES_WITHOUT_DATA)] {
            let what = format!("from_the_start={from_the_start} updates={updates}");
            let mut pair = before_finished(CipherSuite::TLS13_AES_128_GCM_SHA256, from_the_start);
            let wire = finished_then(&mut pair, updates, b"CONNECT");
            let answer = pair
                .server_read(&wire)
                .unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert!(pair.last.handshake_complete, "{what}");
            assert!(pair.server.has_own_records(), "{what}");
            assert_eq!(pair.received, b"CONNECT", "{what}");
            assert_eq!(pair.last.consumed, wire.len(), "{what}");
            // Tickets, then one answer to the requests: the client follows our new key.
            pair.client_receive(&answer).unwrap();
            assert_eq!(pair.server_send(b"CONNACK"), b"CONNACK", "{what}");
            let wire = pair.client_send(b"PUBLISH");
            pair.received.clear();
            pair.server_read(&wire).unwrap();
            assert_eq!(pair.received, b"PUBLISH", "{what}");
        }
    }
}

#[test]
fn key_updates_behind_the_finished_are_bounded() {
    for from_the_start in [false, true] {
        let mut pair = before_finished(CipherSuite::TLS13_AES_256_GCM_SHA384, from_the_start);
        let updates = usize::from(MAX_KEY_UPDATES_WITHOUT_DATA) + 1;
        let mut wire = pair.client_wire();
        for _ in 0..updates {
            pair.client.refresh_traffic_keys().unwrap();
            wire.extend(pair.client_wire());
        }
        let (err, _) = pair.server_read(&wire).unwrap_err();
        assert_eq!(
            err.kind,
            TlsErrorKind::TooManyKeyUpdates,
            "{from_the_start}"
        );
        assert_eq!(
            err.alert,
            SentAlert::Known(AlertDescription::UnexpectedMessage)
        );
    }
}

/// The common case: rustls keeps the session, so that it can still go to the kernel (which
/// continues from the record after the CONNECT); or our layer takes it if asked.
#[test]
fn data_behind_the_finished_leaves_the_kernel_possible() {
    let mut pair = before_finished(CipherSuite::TLS13_AES_128_GCM_SHA256, false);
    let wire = finished_then(&mut pair, 0, b"CONNECT");
    pair.server_read(&wire).unwrap();
    assert_eq!(pair.received, b"CONNECT");
    assert!(!pair.server.has_own_records());
    let handoff = pair.server.into_kernel().unwrap();
    assert_eq!(
        handoff.secrets.rx.0, 1,
        "the kernel reads from the second record"
    );

    let mut pair = before_finished(CipherSuite::TLS13_AES_128_GCM_SHA256, true);
    let wire = finished_then(&mut pair, 0, b"CONNECT");
    pair.server_read(&wire).unwrap();
    assert_eq!(pair.received, b"CONNECT");
    assert!(pair.server.has_own_records());
}

/// A record cut short behind the Finished: the kernel cannot take bytes already read, so our
/// layer takes the session and holds the piece until the rest comes.
#[test]
fn a_record_cut_short_behind_the_finished_is_held_by_our_layer() {
    let mut pair = before_finished(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256, false);
    let wire = finished_then(&mut pair, 0, b"CONNECT");
    let cut = wire.len() - 3;
    pair.server_read(&wire[..cut]).unwrap();
    assert!(pair.last.handshake_complete);
    assert!(pair.server.has_own_records());
    assert!(pair.received.is_empty());
    // The CONNECT record: header, 7 bytes, content type, 16-byte tag; 3 bytes short.
    assert_eq!(pair.held.len(), 5 + 7 + 1 + 16 - 3);
    pair.server_read(&wire[cut..]).unwrap();
    assert_eq!(pair.received, b"CONNECT");
    assert!(pair.held.is_empty());
}

/// A record behind the Finished that does not open under the client's key is refused by our
/// layer with the alert rustls would send.
#[test]
fn a_forged_record_behind_the_finished_is_refused() {
    let mut pair = before_finished(CipherSuite::TLS13_AES_128_GCM_SHA256, false);
    let mut wire = finished_then(&mut pair, 0, b"CONNECT");
    let last = wire.len() - 1;
    wire[last] ^= 1;
    let (err, _) = pair.server_read(&wire).unwrap_err();
    assert_eq!(err.kind, TlsErrorKind::DecryptError);
    assert_eq!(err.alert, SentAlert::Known(AlertDescription::BadRecordMac));
}

/// A client that cannot resume (no `psk_key_exchange_modes`) gets no tickets, so nothing makes
/// rustls stop between its Finished and what follows: the session gives rustls a record at a
/// time while handshaking.
#[test]
fn key_updates_behind_the_finished_of_a_client_without_tickets() {
    // rustls' client always offers resumption; no tickets configured is the same for us.
    let mut server = server_config(&pki().server_ecdsa, ClientAuth::Off);
    server.send_tls13_tickets = 0;
    let mut pair = Pair::new(client_config(&[&TLS13], None, None), server);
    let hello = pair.client_wire();
    let flight = pair.server_read(&hello).unwrap();
    pair.client_receive(&flight).unwrap();
    let wire = finished_then(&mut pair, 2, b"CONNECT");
    let answer = pair.server_read(&wire).unwrap();
    assert_eq!(
        answer.len(),
        27,
        "no tickets: only the answer to the requests"
    );
    assert!(pair.server.has_own_records());
    assert_eq!(pair.received, b"CONNECT");
    pair.client_receive(&answer).unwrap();
    assert_eq!(pair.server_send(b"CONNACK"), b"CONNACK");
}
