//! What a client may send after the handshake, once its records are decrypted: the rules both
//! post-handshake record layers share — ours in userspace ([`super::records`]) and the kernel's
//! (kTLS, `worker::kernel_tls`) — so the two cannot drift apart.
//!
//! Each decrypted record is a content type and its content (padding already stripped). The
//! rules, from RFC 8446 and, where the RFC allows without limit what costs us, from rustls
//! 0.23 and BoringSSL:
//! - application data passes on; at most [`MAX_EMPTY_RECORDS`] empty ones in a row;
//! - alerts are exactly `level(1) description(1)`, with level warning(1) or fatal(2) (else
//!   `illegal_parameter`); close_notify ends the stream (RFC 8446 §6.1); user_canceled at
//!   level warning is ignored, [`MAX_WARNING_ALERTS`] times in all; any other warning-level
//!   alert is `decode_error` (§6: "all alerts are fatal" in TLS 1.3 but user_canceled and
//!   close_notify); a fatal alert ends the session;
//! - handshake messages: only KeyUpdate (§4.6.3), possibly cut across records (§5.1), which
//!   must end its record (§5.1: a key change ends the record) — so at most one per record;
//!   `request_update` other than 0 or 1 is `illegal_parameter`; at most
//!   [`MAX_KEY_UPDATES_WITHOUT_DATA`] KeyUpdates between two application-data records; a
//!   requested answer is owed once however many requests come before our next data (§4.6.3:
//!   "prior to sending its next Application Data record"), so a flood of requests costs one
//!   27-byte reply, not one per request;
//! - anything else (ChangeCipherSpec or heartbeat inside encryption, an unknown type) is
//!   `unexpected_message`.
//!
//! TLS 1.2 sessions (kTLS only: our own layer is TLS 1.3) differ in two rules: warning alerts
//! are not fatal (RFC 5246 §7.2), only counted; and the only handshake message a client can send
//! is a ClientHello asking to renegotiate, which we refuse with the `no_renegotiation` warning
//! (RFC 5746 §4.2 leaves that choice to the server; rustls, HAProxy and nginx refuse too) and
//! close.
//!
//! Over a bound the client is closed with a fatal `unexpected_message` alert (BoringSSL's
//! choice for the same bounds; rustls closes without an alert) and a keyword of its own in the
//! access log.

use rustls::AlertDescription;

use super::error::TlsErrorKind;

/// TLS record content types (RFC 8446 §5.1, RFC 6520 for heartbeat).
pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;

/// Alert levels (RFC 8446 §6).
pub const ALERT_LEVEL_WARNING: u8 = 1;
pub const ALERT_LEVEL_FATAL: u8 = 2;

/// Handshake type of KeyUpdate (RFC 8446 §4).
pub const HANDSHAKE_KEY_UPDATE: u8 = 24;
/// A KeyUpdate message: type, 3-byte length (1), `request_update`.
pub const KEY_UPDATE_LEN: usize = 5;
/// Our answer to a requested KeyUpdate, and our own rekey: KeyUpdate(update_not_requested).
pub const KEY_UPDATE_NOT_REQUESTED: [u8; KEY_UPDATE_LEN] = [HANDSHAKE_KEY_UPDATE, 0, 0, 1, 0];

/// We rekey (TLS 1.3) or close (TLS 1.2) after this many records under one AES-GCM key: below
/// its confidentiality limit of 2^24.5 full-size records (RFC 8446 §5.5); rustls uses the same
/// bound. ChaCha20-Poly1305's limit is beyond any connection's life.
pub const RECORD_BUDGET: u64 = 1 << 24;

/// KeyUpdates a client may send between two application-data records. Each costs a key
/// derivation (and on kTLS a setsockopt); rustls and BoringSSL allow 32.
pub const MAX_KEY_UPDATES_WITHOUT_DATA: u8 = 32;
/// Warning alerts (user_canceled) a client may send in a session's life: rustls and BoringSSL
/// allow 4.
pub const MAX_WARNING_ALERTS: u8 = 4;
/// Empty application-data records a client may send in a row: each costs an AEAD open and
/// carries nothing; rustls allows 32.
pub const MAX_EMPTY_RECORDS: u8 = 32;

/// What a record meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Application data: pass the content on (it may be empty).
    Data,
    /// close_notify: the client is done; ignore whatever follows (RFC 8446 §6.1).
    PeerClosed,
    /// A complete KeyUpdate: install the client's next key. `reply`: also send
    /// [`KEY_UPDATE_NOT_REQUESTED`] under the current send key, then switch send keys.
    KeyUpdate { reply: bool },
    /// Nothing to act on (part of a KeyUpdate, user_canceled).
    Nothing,
}

/// Why the session must end, and the alert to send the client first (none if the client sent
/// a fatal alert itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fatal {
    pub kind: TlsErrorKind,
    pub alert: Option<AlertDescription>,
}

impl Fatal {
    /// The level to send [`Fatal::alert`] at: `no_renegotiation` is always a warning
    /// (RFC 5246 §7.2.2), everything else fatal.
    pub fn alert_level(&self) -> u8 {
        match self.alert {
            Some(AlertDescription::NoRenegotiation) => ALERT_LEVEL_WARNING,
            _ => ALERT_LEVEL_FATAL,
        }
    }

    const fn with_alert(kind: TlsErrorKind, alert: AlertDescription) -> Fatal {
        Fatal {
            kind,
            alert: Some(alert),
        }
    }

    const fn unexpected() -> Fatal {
        Fatal::with_alert(
            TlsErrorKind::UnexpectedMessage,
            AlertDescription::UnexpectedMessage,
        )
    }

    const fn decode_error() -> Fatal {
        Fatal::with_alert(TlsErrorKind::BadRecord, AlertDescription::DecodeError)
    }

    const fn illegal_parameter() -> Fatal {
        Fatal::with_alert(TlsErrorKind::BadRecord, AlertDescription::IllegalParameter)
    }
}

/// The client's post-handshake state: a KeyUpdate cut across records, and the bounds.
#[derive(Debug, Clone)]
pub struct PostHandshake {
    /// The first bytes of a KeyUpdate cut across records (RFC 8446 §5.1 allows it).
    partial: [u8; KEY_UPDATE_LEN - 1],
    partial_len: u8,
    key_updates_left: u8,
    warning_alerts_left: u8,
    empty_records_left: u8,
    /// We owe (or have queued) a KeyUpdate answer that has not been followed by application
    /// data of ours yet: further requests are covered by it.
    reply_owed: bool,
    /// A TLS 1.2 session (see the module doc for the two rules that differ).
    tls12: bool,
}

impl Default for PostHandshake {
    /// A TLS 1.3 session's state.
    fn default() -> Self {
        PostHandshake {
            partial: [0; KEY_UPDATE_LEN - 1],
            partial_len: 0,
            key_updates_left: MAX_KEY_UPDATES_WITHOUT_DATA,
            warning_alerts_left: MAX_WARNING_ALERTS,
            empty_records_left: MAX_EMPTY_RECORDS,
            reply_owed: false,
            tls12: false,
        }
    }
}

impl PostHandshake {
    /// A TLS 1.2 session's state.
    pub fn tls12() -> PostHandshake {
        PostHandshake {
            tls12: true,
            ..PostHandshake::default()
        }
    }

    /// One decrypted record from the client: its content type and content.
    pub fn on_record(&mut self, content_type: u8, content: &[u8]) -> Result<Event, Fatal> {
        // Nothing may come between the pieces of a handshake message (RFC 8446 §5.1).
        if self.partial_len > 0 && content_type != CONTENT_HANDSHAKE {
            return Err(Fatal::unexpected());
        }
        match content_type {
            CONTENT_APPLICATION_DATA => self.on_application_data(content),
            CONTENT_ALERT => self.on_alert(content),
            CONTENT_HANDSHAKE => self.on_handshake(content),
            // ChangeCipherSpec inside encryption (§5), heartbeat, unknown types.
            _ => Err(Fatal::unexpected()),
        }
    }

    /// We are about to send application data: any KeyUpdate answer we owed went out before it.
    pub fn sending_application_data(&mut self) {
        self.reply_owed = false;
    }

    /// Application data arrived by a path that does not see each record (a plain `recv` on a
    /// kTLS socket): the same as [`Self::on_record`] with non-empty data.
    pub fn application_data_received(&mut self) {
        self.empty_records_left = MAX_EMPTY_RECORDS;
        self.key_updates_left = MAX_KEY_UPDATES_WITHOUT_DATA;
    }

    fn on_application_data(&mut self, content: &[u8]) -> Result<Event, Fatal> {
        if content.is_empty() {
            if self.empty_records_left == 0 {
                return Err(Fatal::with_alert(
                    TlsErrorKind::TooManyEmptyRecords,
                    AlertDescription::UnexpectedMessage,
                ));
            }
            self.empty_records_left -= 1;
        } else {
            self.application_data_received();
        }
        Ok(Event::Data)
    }

    fn on_alert(&mut self, content: &[u8]) -> Result<Event, Fatal> {
        const CLOSE_NOTIFY: u8 = 0;
        const USER_CANCELED: u8 = 90;
        let &[level, description] = content else {
            return Err(Fatal::decode_error());
        };
        match (level, description) {
            (ALERT_LEVEL_WARNING | ALERT_LEVEL_FATAL, CLOSE_NOTIFY) => Ok(Event::PeerClosed),
            (ALERT_LEVEL_WARNING, _) => {
                if self.warning_alerts_left == 0 {
                    return Err(Fatal::with_alert(
                        TlsErrorKind::TooManyWarningAlerts,
                        AlertDescription::UnexpectedMessage,
                    ));
                }
                self.warning_alerts_left -= 1;
                if description == USER_CANCELED || self.tls12 {
                    // A close_notify should follow.
                    Ok(Event::Nothing)
                } else {
                    Err(Fatal::with_alert(
                        TlsErrorKind::PeerAlert(AlertDescription::from(description)),
                        AlertDescription::DecodeError,
                    ))
                }
            }
            (ALERT_LEVEL_FATAL, _) => Err(Fatal {
                kind: TlsErrorKind::PeerAlert(AlertDescription::from(description)),
                alert: None,
            }),
            _ => Err(Fatal::illegal_parameter()),
        }
    }

    fn on_handshake(&mut self, fragment: &[u8]) -> Result<Event, Fatal> {
        if self.tls12 {
            // A ClientHello: renegotiation (there is no KeyUpdate before TLS 1.3).
            return Err(Fatal::with_alert(
                TlsErrorKind::RenegotiationRefused,
                AlertDescription::NoRenegotiation,
            ));
        }
        if fragment.is_empty() {
            // Zero-length handshake fragments are forbidden (RFC 8446 §5.1).
            return Err(Fatal::unexpected());
        }
        let held = usize::from(self.partial_len);
        let mut message = [0u8; KEY_UPDATE_LEN];
        message[..held].copy_from_slice(&self.partial[..held]);
        match held + fragment.len() {
            n if n < KEY_UPDATE_LEN => {
                if held == 0 && fragment[0] != HANDSHAKE_KEY_UPDATE {
                    return Err(Fatal::unexpected());
                }
                self.partial[held..n].copy_from_slice(fragment);
                self.partial_len = n as u8;
                Ok(Event::Nothing)
            }
            // A KeyUpdate changes the key, so it must end its record (§5.1): a record holds at
            // most one, and nothing after it.
            KEY_UPDATE_LEN => {
                message[held..].copy_from_slice(fragment);
                self.partial_len = 0;
                self.on_key_update(message)
            }
            // More than one message, or something after the KeyUpdate.
            _ => Err(Fatal::unexpected()),
        }
    }

    fn on_key_update(&mut self, message: [u8; KEY_UPDATE_LEN]) -> Result<Event, Fatal> {
        let [HANDSHAKE_KEY_UPDATE, 0, 0, 1, request] = message else {
            return Err(match message[0] {
                // A KeyUpdate whose length is not 1.
                HANDSHAKE_KEY_UPDATE => Fatal::decode_error(),
                _ => Fatal::unexpected(),
            });
        };
        if self.key_updates_left == 0 {
            return Err(Fatal::with_alert(
                TlsErrorKind::TooManyKeyUpdates,
                AlertDescription::UnexpectedMessage,
            ));
        }
        self.key_updates_left -= 1;
        match request {
            0 => Ok(Event::KeyUpdate { reply: false }),
            1 => {
                let reply = !self.reply_owed;
                self.reply_owed = true;
                Ok(Event::KeyUpdate { reply })
            }
            _ => Err(Fatal::illegal_parameter()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
