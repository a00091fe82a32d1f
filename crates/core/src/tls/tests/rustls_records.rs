//! `tls_records = "rustls"` ([`RecordLayer::Rustls`]): rustls keeps the records for the
//! session's life, with the same bounds and keywords as ours; what differs is stated here.

use std::sync::Arc;

use rustls::CipherSuite;
use rustls::version::TLS13;

use crate::tls::post_handshake::MAX_KEY_UPDATES_WITHOUT_DATA;
use crate::tls::testbed::{ClientAuth, Pair, client_config, pattern, pki, server_config};
use crate::tls::{RecordLayer, SentAlert, TlsErrorKind};

fn pair(records: RecordLayer) -> Pair {
    Pair::with_records(
        Arc::new(client_config(
            &[&TLS13],
            Some(CipherSuite::TLS13_AES_128_GCM_SHA256),
            None,
        )),
        Arc::new(server_config(&pki().server_ecdsa, ClientAuth::Off)),
        records,
    )
}

/// The client has the server's flight and is about to send its Finished.
fn before_finished(records: RecordLayer, from_the_start: bool) -> Pair {
    let mut pair = pair(records);
    if from_the_start {
        pair.server.own_records_from_the_start();
    }
    let hello = pair.client_wire();
    let flight = pair.server_read(&hello).unwrap();
    pair.client_receive(&flight).unwrap();
    pair
}

#[test]
fn rustls_keeps_the_records_whatever_the_worker_asks() {
    let mut p = pair(RecordLayer::Rustls);
    p.handshake().unwrap();
    p.server.prefer_own_records().unwrap();
    assert!(!p.server.has_own_records());
    let data = pattern(40_000);
    let wire = p.client_send(&data);
    p.server_read(&wire).unwrap();
    assert_eq!(p.received, data);
    assert_eq!(p.server_send(b"CONNACK"), b"CONNACK");

    // The default for comparison: ours takes over.
    let mut p = pair(RecordLayer::Own);
    p.handshake().unwrap();
    p.server.prefer_own_records().unwrap();
    assert!(p.server.has_own_records());
}

#[test]
fn key_updates_behind_the_finished_stay_with_rustls_and_keep_the_kernel_away() {
    for from_the_start in [false, true] {
        let what = format!("from_the_start={from_the_start}");
        let mut p = before_finished(RecordLayer::Rustls, from_the_start);
        let mut wire = p.client_wire();
        for _ in 0..5 {
            p.client.refresh_traffic_keys().unwrap();
            wire.extend(p.client_wire());
        }
        wire.extend(p.client_send(b"CONNECT"));
        let out = p.server_read(&wire).unwrap();
        assert!(p.last.handshake_complete, "{what}");
        assert!(!p.server.has_own_records(), "{what}");
        assert!(
            p.server.read_past_first_key(),
            "{what}: the kernel must not take it"
        );
        assert_eq!(p.received, b"CONNECT", "{what}");
        p.client_receive(&out).unwrap();
        // rustls answers the requests in front of its next data; the client follows.
        assert_eq!(p.server_send(b"CONNACK"), b"CONNACK", "{what}");
        p.received.clear();
        let wire = p.client_send(b"PUBLISH");
        p.server_read(&wire).unwrap();
        assert_eq!(p.received, b"PUBLISH", "{what}");
    }
}

#[test]
fn plain_data_behind_the_finished_leaves_the_kernel_possible() {
    let mut p = before_finished(RecordLayer::Rustls, false);
    let mut wire = p.client_wire();
    wire.extend(p.client_send(b"CONNECT"));
    p.server_read(&wire).unwrap();
    assert_eq!(p.received, b"CONNECT");
    assert!(!p.server.read_past_first_key());
    assert!(p.server.into_kernel().is_ok());
}

/// rustls' bound is ours (32 between two data records) and reports the same keyword; rustls
/// closes without an alert where ours sends `unexpected_message`.
#[test]
fn a_key_update_flood_is_refused_with_our_keyword() {
    for behind_finished in [false, true] {
        let mut p = before_finished(RecordLayer::Rustls, false);
        let mut wire = p.client_wire();
        if !behind_finished {
            let out = p.server_read(&wire).unwrap();
            p.client_receive(&out).unwrap();
            wire.clear();
        }
        for _ in 0..=MAX_KEY_UPDATES_WITHOUT_DATA {
            p.client.refresh_traffic_keys().unwrap();
            wire.extend(p.client_wire());
        }
        let (err, _) = p.server_read(&wire).unwrap_err();
        assert_eq!(
            err.kind,
            TlsErrorKind::TooManyKeyUpdates,
            "{behind_finished}"
        );
        assert_eq!(err.kind.keyword(), "tls_too_many_key_updates");
        assert_eq!(err.alert, SentAlert::None, "{behind_finished}");
    }
}

#[test]
fn the_bound_is_between_data_records_as_ours() {
    let mut p = pair(RecordLayer::Rustls);
    p.handshake().unwrap();
    for round in 0..4 {
        let mut wire = Vec::new();
        for _ in 0..MAX_KEY_UPDATES_WITHOUT_DATA {
            p.client.refresh_traffic_keys().unwrap();
            wire.extend(p.client_wire());
        }
        wire.extend(p.client_send(b"x"));
        p.server_read(&wire)
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
    }
}
