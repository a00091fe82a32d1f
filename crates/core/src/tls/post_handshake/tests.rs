use super::*;
use crate::tls::wire::CONTENT_CHANGE_CIPHER_SPEC;

const KU_REQUESTED: [u8; 5] = [24, 0, 0, 1, 1];
const KU_NOT_REQUESTED: [u8; 5] = [24, 0, 0, 1, 0];

fn handshake(p: &mut PostHandshake, bytes: &[u8]) -> Result<Event, Fatal> {
    p.on_record(CONTENT_HANDSHAKE, bytes)
}

#[test]
fn a_flood_of_key_update_requests_is_answered_once_then_refused() {
    let mut p = PostHandshake::default();
    let first = handshake(&mut p, &KU_REQUESTED).unwrap();
    assert_eq!(first, Event::KeyUpdate { reply: true });
    for _ in 1..MAX_KEY_UPDATES_WITHOUT_DATA {
        // Still rekey the receive side each time, but owe no second answer.
        assert_eq!(
            handshake(&mut p, &KU_REQUESTED).unwrap(),
            Event::KeyUpdate { reply: false }
        );
    }
    let over = handshake(&mut p, &KU_REQUESTED).unwrap_err();
    assert_eq!(over.kind, TlsErrorKind::TooManyKeyUpdates);
    assert_eq!(over.alert, Some(AlertDescription::UnexpectedMessage));
    assert_eq!(over.kind.keyword(), "tls_too_many_key_updates");
}

#[test]
fn application_data_resets_the_key_update_count_and_our_data_the_owed_answer() {
    let mut p = PostHandshake::default();
    for round in 0..5 {
        for i in 0..MAX_KEY_UPDATES_WITHOUT_DATA {
            let event = handshake(&mut p, &KU_REQUESTED).unwrap();
            assert_eq!(
                event,
                Event::KeyUpdate { reply: i == 0 },
                "round {round}, {i}"
            );
        }
        assert_eq!(
            p.on_record(CONTENT_APPLICATION_DATA, b"x").unwrap(),
            Event::Data
        );
        p.sending_application_data();
    }
    // Empty records do not count as data for the KeyUpdate bound.
    for _ in 0..MAX_KEY_UPDATES_WITHOUT_DATA {
        handshake(&mut p, &KU_NOT_REQUESTED).unwrap();
        p.on_record(CONTENT_APPLICATION_DATA, b"").unwrap();
    }
    assert!(handshake(&mut p, &KU_NOT_REQUESTED).is_err());
}

#[test]
fn request_update_other_than_0_or_1_is_illegal_parameter() {
    for value in [2u8, 3, 0x7f, 0xff] {
        let err = handshake(&mut PostHandshake::default(), &[24, 0, 0, 1, value]).unwrap_err();
        assert_eq!(
            err.alert,
            Some(AlertDescription::IllegalParameter),
            "{value}"
        );
    }
}

#[test]
fn a_key_update_must_end_its_record() {
    let mut two = KU_NOT_REQUESTED.to_vec();
    two.extend(KU_NOT_REQUESTED);
    for bytes in [
        &two[..],
        &[24, 0, 0, 1, 0, 0xff][..],
        &[24, 0, 0, 2, 0, 0][..],
    ] {
        let err = handshake(&mut PostHandshake::default(), bytes).unwrap_err();
        assert_eq!(
            err.alert,
            Some(AlertDescription::UnexpectedMessage),
            "{bytes:?}"
        );
    }
    // A KeyUpdate whose length field is not 1.
    let err = handshake(&mut PostHandshake::default(), &[24, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(err.alert, Some(AlertDescription::DecodeError));
}

#[test]
fn a_key_update_cut_across_records_is_joined_and_nothing_may_interleave() {
    let mut p = PostHandshake::default();
    assert_eq!(handshake(&mut p, &[24]).unwrap(), Event::Nothing);
    assert_eq!(handshake(&mut p, &[0, 0]).unwrap(), Event::Nothing);
    assert_eq!(
        handshake(&mut p, &[1, 1]).unwrap(),
        Event::KeyUpdate { reply: true }
    );

    let mut p = PostHandshake::default();
    handshake(&mut p, &[24, 0]).unwrap();
    let err = p
        .on_record(CONTENT_APPLICATION_DATA, b"between")
        .unwrap_err();
    assert_eq!(err.alert, Some(AlertDescription::UnexpectedMessage));

    // Any other handshake message (a second Finished, a ticket) is unexpected.
    for first in [20u8, 4, 1] {
        let err = handshake(&mut PostHandshake::default(), &[first, 0]).unwrap_err();
        assert_eq!(err.alert, Some(AlertDescription::UnexpectedMessage));
    }
    assert!(handshake(&mut PostHandshake::default(), &[]).is_err());
}

#[test]
fn alerts_follow_rustls() {
    // What the record means, or the alert it gets.
    type Outcome = Result<Event, Option<AlertDescription>>;
    let cases: [(&[u8], Outcome); 9] = [
        (&[1, 0], Ok(Event::PeerClosed)),
        (&[2, 0], Ok(Event::PeerClosed)),
        (&[1, 90], Ok(Event::Nothing)),
        // A warning other than user_canceled is not allowed in TLS 1.3.
        (&[1, 10], Err(Some(AlertDescription::DecodeError))),
        // A fatal alert: nothing to answer.
        (&[2, 40], Err(None)),
        (&[2, 90], Err(None)),
        // Unknown levels.
        (&[0, 0], Err(Some(AlertDescription::IllegalParameter))),
        (&[3, 90], Err(Some(AlertDescription::IllegalParameter))),
        // Trailing bytes.
        (&[1, 0, 0], Err(Some(AlertDescription::DecodeError))),
    ];
    for (bytes, want) in cases {
        let got = PostHandshake::default().on_record(CONTENT_ALERT, bytes);
        assert_eq!(got.map_err(|f| f.alert), want, "{bytes:?}");
    }
    for bytes in [&[][..], &[1][..]] {
        let got = PostHandshake::default().on_record(CONTENT_ALERT, bytes);
        assert_eq!(got.unwrap_err().alert, Some(AlertDescription::DecodeError));
    }
}

#[test]
fn at_most_four_warning_alerts() {
    let mut p = PostHandshake::default();
    for _ in 0..MAX_WARNING_ALERTS {
        assert_eq!(
            p.on_record(CONTENT_ALERT, &[1, 90]).unwrap(),
            Event::Nothing
        );
        // Data in between does not reset this bound (rustls neither).
        p.on_record(CONTENT_APPLICATION_DATA, b"x").unwrap();
    }
    let err = p.on_record(CONTENT_ALERT, &[1, 90]).unwrap_err();
    assert_eq!(err.kind, TlsErrorKind::TooManyWarningAlerts);
    assert_eq!(err.alert, Some(AlertDescription::UnexpectedMessage));
}

#[test]
fn at_most_32_empty_records_in_a_row() {
    let mut p = PostHandshake::default();
    for _ in 0..3 {
        for _ in 0..MAX_EMPTY_RECORDS {
            assert_eq!(
                p.on_record(CONTENT_APPLICATION_DATA, b"").unwrap(),
                Event::Data
            );
        }
        // A record with content resets the run.
        p.on_record(CONTENT_APPLICATION_DATA, b"x").unwrap();
    }
    for _ in 0..MAX_EMPTY_RECORDS {
        p.on_record(CONTENT_APPLICATION_DATA, b"").unwrap();
    }
    let err = p.on_record(CONTENT_APPLICATION_DATA, b"").unwrap_err();
    assert_eq!(err.kind, TlsErrorKind::TooManyEmptyRecords);
}

#[test]
fn tls12_warnings_are_counted_and_renegotiation_refused() {
    let mut p = PostHandshake::tls12();
    for _ in 0..MAX_WARNING_ALERTS {
        assert_eq!(
            p.on_record(CONTENT_ALERT, &[1, 100]).unwrap(),
            Event::Nothing
        );
    }
    assert!(p.on_record(CONTENT_ALERT, &[1, 100]).is_err());
    let hello = [1u8, 0, 0, 40, 3, 3];
    let err = PostHandshake::tls12()
        .on_record(CONTENT_HANDSHAKE, &hello)
        .unwrap_err();
    assert_eq!(err.kind, TlsErrorKind::RenegotiationRefused);
    assert_eq!(err.alert, Some(AlertDescription::NoRenegotiation));
    assert_eq!(err.alert_level(), ALERT_LEVEL_WARNING);
    assert_eq!(Fatal::unexpected().alert_level(), ALERT_LEVEL_FATAL);
}

#[test]
fn other_content_types_are_unexpected() {
    for typ in [
        CONTENT_CHANGE_CIPHER_SPEC,
        24, /* heartbeat */
        0,
        99,
        255,
    ] {
        let err = PostHandshake::default().on_record(typ, &[1]).unwrap_err();
        assert_eq!(
            err.alert,
            Some(AlertDescription::UnexpectedMessage),
            "{typ}"
        );
    }
}

#[test]
fn a_requested_answer_stays_pending_until_we_rekey_and_one_covers_a_flood() {
    let mut p = PostHandshake::default();
    assert!(!p.rekey_due());
    handshake(&mut p, &KU_NOT_REQUESTED).unwrap();
    assert!(!p.rekey_due(), "update_not_requested owes nothing");
    handshake(&mut p, &KU_REQUESTED).unwrap();
    assert!(p.rekey_due());
    // A send in flight (kTLS) delays the answer; more requests do not add a second one.
    handshake(&mut p, &KU_REQUESTED).unwrap();
    p.rekeyed();
    assert!(!p.rekey_due());
    handshake(&mut p, &KU_REQUESTED).unwrap();
    assert!(
        !p.rekey_due(),
        "covered by the answer already sent, until our next data"
    );
    p.sending_application_data();
    handshake(&mut p, &KU_REQUESTED).unwrap();
    assert!(
        p.rekey_due(),
        "after our data, a request is owed an answer again"
    );
}

#[test]
fn the_send_budget_is_per_key_and_only_for_aes_gcm() {
    use rustls::{CipherSuite, ProtocolVersion};
    let aes = CipherSuite::TLS13_AES_128_GCM_SHA256;
    // The tickets rustls sent count against the first key.
    let mut p = PostHandshake::new(ProtocolVersion::TLSv1_3, aes, 2);
    p.records_sent(RECORD_BUDGET - 3);
    assert!(!p.rekey_due());
    p.records_sent(1);
    assert!(p.rekey_due(), "2^24 records under one AES-GCM key");
    p.rekeyed();
    assert!(!p.rekey_due());
    p.records_sent(RECORD_BUDGET - 1);
    assert!(!p.rekey_due(), "the count starts again for the new key");

    let chacha = CipherSuite::TLS13_CHACHA20_POLY1305_SHA256;
    let mut p = PostHandshake::new(ProtocolVersion::TLSv1_3, chacha, 0);
    p.records_sent(u64::MAX - 1);
    assert!(!p.rekey_due(), "ChaCha20-Poly1305 has no practical limit");
    assert_eq!(record_limit(chacha), u64::MAX);

    // TLS 1.2 keeps the 1.2 rules (renegotiation refused) and the same budget.
    let suite12 = CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256;
    let mut p = PostHandshake::new(ProtocolVersion::TLSv1_2, suite12, 0);
    assert_eq!(
        handshake(&mut p, &[1, 0, 0, 0]).unwrap_err().kind,
        TlsErrorKind::RenegotiationRefused
    );
    let p = PostHandshake::new(ProtocolVersion::TLSv1_2, suite12, RECORD_BUDGET);
    assert!(p.rekey_due());
}
