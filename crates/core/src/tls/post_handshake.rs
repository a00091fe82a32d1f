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

use rustls::{AlertDescription, CipherSuite, ProtocolVersion};

use super::error::TlsErrorKind;
use super::wire::{
    ALERT_LEVEL_FATAL, ALERT_LEVEL_WARNING, CONTENT_ALERT, CONTENT_APPLICATION_DATA,
    CONTENT_HANDSHAKE, HANDSHAKE_KEY_UPDATE, KEY_UPDATE_LEN,
};

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
    /// A complete KeyUpdate: install the client's next key. `reply`: an answer is now owed
    /// ([`PostHandshake::rekey_due`]): send [`super::wire::KEY_UPDATE_NOT_REQUESTED`] under the current
    /// send key, then switch send keys and say [`PostHandshake::rekeyed`].
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

/// The record budget of one key of `suite`: [`RECORD_BUDGET`] for AES-GCM, none (`u64::MAX`)
/// for ChaCha20-Poly1305.
pub fn record_limit(suite: CipherSuite) -> u64 {
    match suite {
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => u64::MAX,
        _ => RECORD_BUDGET,
    }
}

/// A session's post-handshake state, both directions: the client's KeyUpdate cut across
/// records and the bounds on what it sends; our send key's record count and whether our
/// KeyUpdate is due. Both record layers keep one of these and ask it, so the rules, the
/// budget and the pending answer live in one place.
#[derive(Debug, Clone)]
pub struct PostHandshake {
    /// The first bytes of a KeyUpdate cut across records (RFC 8446 §5.1 allows it).
    partial: [u8; KEY_UPDATE_LEN - 1],
    partial_len: u8,
    key_updates_left: u8,
    warning_alerts_left: u8,
    empty_records_left: u8,
    /// We owe (or have sent) a KeyUpdate answer that has not been followed by application
    /// data of ours yet: further requests are covered by it.
    reply_owed: bool,
    /// The one "KeyUpdate reply pending" flag: a requested answer that has not gone out yet
    /// (our record layer sends it within the same read; kTLS after a send in flight).
    reply_pending: bool,
    /// Records sent under our current key: exact for our record layer, an upper bound on kTLS
    /// (one per 16 KiB of each send).
    tx_records: u64,
    /// [`record_limit`] of the session's suite.
    tx_record_limit: u64,
    /// A TLS 1.2 session (see the module doc for the two rules that differ).
    tls12: bool,
}

impl Default for PostHandshake {
    /// A TLS 1.3 AES-GCM session's state.
    fn default() -> Self {
        PostHandshake {
            partial: [0; KEY_UPDATE_LEN - 1],
            partial_len: 0,
            key_updates_left: MAX_KEY_UPDATES_WITHOUT_DATA,
            warning_alerts_left: MAX_WARNING_ALERTS,
            empty_records_left: MAX_EMPTY_RECORDS,
            reply_owed: false,
            reply_pending: false,
            tx_records: 0,
            tx_record_limit: RECORD_BUDGET,
            tls12: false,
        }
    }
}

impl PostHandshake {
    /// The state of a session that negotiated `version` and `suite`, with `sent` records
    /// already sent under our current key (the session tickets).
    pub fn new(version: ProtocolVersion, suite: CipherSuite, sent: u64) -> PostHandshake {
        PostHandshake {
            tls12: version != ProtocolVersion::TLSv1_3,
            tx_records: sent,
            tx_record_limit: record_limit(suite),
            ..PostHandshake::default()
        }
    }

    /// A TLS 1.2 AES-GCM session's state.
    pub fn tls12() -> PostHandshake {
        PostHandshake {
            tls12: true,
            ..PostHandshake::default()
        }
    }

    /// `n` records went out under our current key.
    pub fn records_sent(&mut self, n: u64) {
        self.tx_records = self.tx_records.saturating_add(n);
    }

    /// Whether our send key must change before the next record: a KeyUpdate answer is
    /// pending, or the key's record budget is spent. (TLS 1.2 cannot rekey: close instead.)
    pub fn rekey_due(&self) -> bool {
        self.reply_pending || self.tx_records >= self.tx_record_limit
    }

    /// Our KeyUpdate went out and the new send key is in place.
    pub fn rekeyed(&mut self) {
        self.tx_records = 0;
        self.reply_pending = false;
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
                self.reply_pending |= reply;
                Ok(Event::KeyUpdate { reply })
            }
            _ => Err(Fatal::illegal_parameter()),
        }
    }
}

#[cfg(test)]
mod tests;
