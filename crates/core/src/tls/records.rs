//! TLS 1.3 application-data records after the handshake, without rustls: what kernel TLS does
//! in the kernel, done here when the kernel cannot.
//!
//! rustls keeps ~2.3 KiB of Rust heap per established TLS 1.3 session (its state machine, key
//! schedule, record layer) and copies every record's plaintext into a `Vec` of its own. Once
//! the handshake is over a server needs much less: per direction an AEAD key, an IV, a
//! sequence number and the traffic secret (for KeyUpdate, RFC 8446 §4.6.3 and §7.2).
//! [`Records`] is that: 244 bytes of Rust heap (`tls::tests_memory`) plus aws-lc's two AEAD
//! contexts (~1.2 KiB, allocated by aws-lc, which rustls has too), and it decrypts in place.
//!
//! How a session gets here ([`super::TlsSession::prefer_own_records`]): rustls hands over the
//! keys and sequence numbers (`dangerous_into_kernel_connection`, as for kernel TLS) and its
//! key log hands over the traffic secrets ([`SecretLog`]); the keys derived from the secrets
//! must equal the keys rustls gave, or the session stays with rustls. TLS 1.2 sessions stay
//! with rustls (no KeyUpdate there, but other record rules; IoT fleets speak 1.3).
//!
//! What this layer accepts from the client, per RFC 8446 §5: encrypted records (outer type
//! 23, version 3.x, at most 2^14 + 256 bytes of ciphertext, at most 2^14 + 1 bytes of
//! TLSInnerPlaintext including padding, else `record_overflow`; a plaintext of only padding is
//! `unexpected_message`). What the content may be — application data, alerts, KeyUpdate — and
//! the bounds on it are [`super::post_handshake`]'s rules, shared with the kTLS path. Each
//! failure sends the alert RFC 8446 names, encrypted, like rustls would.

use std::cell::RefCell;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::hkdf;
use rustls::{
    AlertDescription, CipherSuite, ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion,
};
use zeroize::{Zeroize, Zeroizing};

use super::error::{SentAlert, TlsError, TlsErrorKind};
use super::post_handshake::{Event, PostHandshake};
use super::session::ReadOutcome;
use super::wire::{
    ALERT_LEVEL_FATAL, CONTENT_ALERT, CONTENT_APPLICATION_DATA, CONTENT_CHANGE_CIPHER_SPEC,
    CONTENT_HANDSHAKE, CONTENT_HEARTBEAT, KEY_UPDATE_NOT_REQUESTED,
};

const RECORD_HEADER: usize = 5;
const TAG: usize = 16;
/// RFC 8446 §5.1: a TLSPlaintext fragment is at most 2^14 bytes.
const MAX_PLAINTEXT: usize = 1 << 14;
/// RFC 8446 §5.2: a TLSInnerPlaintext (content, type byte, padding) is at most 2^14 + 1 bytes.
const MAX_INNER_PLAINTEXT: usize = MAX_PLAINTEXT + 1;
/// RFC 8446 §5.2: a TLSCiphertext is at most 2^14 + 256 bytes.
const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 256;

/// A traffic secret: as long as the suite's hash (32 or 48 bytes). Not `Clone` (no copy of a
/// secret is made by accident) and not `Debug`; wiped when dropped.
pub(crate) struct Secret {
    bytes: [u8; 48],
    len: u8,
}

impl Secret {
    fn new(bytes: &[u8]) -> Option<Secret> {
        let mut s = Secret {
            bytes: [0; 48],
            len: u8::try_from(bytes.len()).ok()?,
        };
        s.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(s)
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Moves may have left copies on the stack, but do not leave secrets in freed memory.
        self.bytes.zeroize();
    }
}

/// The application traffic secrets the key log saw during one session's `read`.
#[derive(Default)]
pub(crate) struct LoggedSecrets {
    pub client: Option<Secret>,
    pub server: Option<Secret>,
}

thread_local! {
    /// Filled by [`SecretLog`] while rustls processes records on this thread. A session
    /// clears it before it calls rustls and takes it after: rustls runs synchronously, so
    /// what is logged in between is that session's.
    static LOGGED: RefCell<LoggedSecrets> = RefCell::default();
}

/// Clears what the key log has noted on this thread.
pub(crate) fn clear_logged() {
    LOGGED.with(|l| *l.borrow_mut() = LoggedSecrets::default());
}

/// Takes what the key log has noted on this thread since [`clear_logged`].
pub(crate) fn take_logged() -> LoggedSecrets {
    LOGGED.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// rustls' key log, used only to learn the first application traffic secrets (which rustls
/// hands out nowhere else). Nothing is written anywhere.
#[derive(Debug)]
pub struct SecretLog;

impl rustls::KeyLog for SecretLog {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        let Some(secret) = Secret::new(secret) else {
            return;
        };
        LOGGED.with(|l| {
            let mut l = l.borrow_mut();
            match label {
                "CLIENT_TRAFFIC_SECRET_0" => l.client = Some(secret),
                "SERVER_TRAFFIC_SECRET_0" => l.server = Some(secret),
                _ => {}
            }
        });
    }

    fn will_log(&self, label: &str) -> bool {
        matches!(label, "CLIENT_TRAFFIC_SECRET_0" | "SERVER_TRAFFIC_SECRET_0")
    }
}

/// A TLS 1.3 cipher suite this layer implements.
#[derive(Clone, Copy)]
struct Suite {
    id: CipherSuite,
    aead: &'static aead::Algorithm,
    hkdf: hkdf::Algorithm,
    key_len: usize,
}

impl Suite {
    fn of(id: CipherSuite) -> Option<Suite> {
        let (aead, hkdf, key_len) = match id {
            CipherSuite::TLS13_AES_128_GCM_SHA256 => (&aead::AES_128_GCM, hkdf::HKDF_SHA256, 16),
            CipherSuite::TLS13_AES_256_GCM_SHA384 => (&aead::AES_256_GCM, hkdf::HKDF_SHA384, 32),
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256 => {
                (&aead::CHACHA20_POLY1305, hkdf::HKDF_SHA256, 32)
            }
            _ => return None,
        };
        Some(Suite {
            id,
            aead,
            hkdf,
            key_len,
        })
    }

    /// HKDF-Expand-Label(secret, label, "", out.len()) (RFC 8446 §7.1).
    fn expand_label(&self, secret: &[u8], label: &[u8], out: &mut [u8]) -> Option<()> {
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let len = u16::try_from(out.len()).ok()?.to_be_bytes();
        let label_len = [u8::try_from(6 + label.len()).ok()?];
        let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
        let prk = hkdf::Prk::new_less_safe(self.hkdf, secret);
        let okm = prk.expand(&info, Len(out.len())).ok()?;
        okm.fill(out).ok()
    }

    /// The record key and IV of a traffic secret (RFC 8446 §7.3).
    fn traffic_keys(&self, secret: &Secret) -> Option<([u8; 32], [u8; 12])> {
        let (mut key, mut iv) = ([0u8; 32], [0u8; 12]);
        self.expand_label(secret.as_slice(), b"key", &mut key[..self.key_len])?;
        self.expand_label(secret.as_slice(), b"iv", &mut iv)?;
        Some((key, iv))
    }

    /// The next traffic secret after a KeyUpdate (RFC 8446 §7.2).
    fn next_secret(&self, secret: &Secret) -> Option<Secret> {
        let mut next = Secret {
            bytes: [0; 48],
            len: secret.len,
        };
        let n = usize::from(next.len);
        self.expand_label(secret.as_slice(), b"traffic upd", &mut next.bytes[..n])?;
        Some(next)
    }
}

/// Whether `bytes` are whole records of application data from the client, protected by its
/// first traffic secret (`logged.client`) from sequence number 0: the records rustls may
/// decrypt behind the client's Finished without changing a key, so that the session can still
/// go to the kernel. A KeyUpdate there would leave rustls with keys our layer cannot follow
/// and, if the update was requested, with an answer queued that a hand-off would drop.
/// Decrypts a copy (at most what one read brought behind the Finished); `false` for anything
/// else, including a record cut short, a bad tag or an unknown suite.
pub(crate) fn only_first_data(suite: CipherSuite, logged: &LoggedSecrets, bytes: &[u8]) -> bool {
    let Some(suite) = Suite::of(suite) else {
        return false;
    };
    let Some(secret) = logged
        .client
        .as_ref()
        .and_then(|s| Secret::new(s.as_slice()))
    else {
        return false;
    };
    let Some(mut rx) = Direction::new(&suite, secret, 0) else {
        return false;
    };
    let mut copy = Zeroizing::new(bytes.to_vec());
    let mut at = 0;
    while at < copy.len() {
        let Some(header) = copy.get(at..at + RECORD_HEADER) else {
            return false;
        };
        let header: [u8; RECORD_HEADER] = header.try_into().unwrap_or_default();
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if !matches!(header, [CONTENT_APPLICATION_DATA, 3, ..]) || len > MAX_CIPHERTEXT {
            return false;
        }
        let start = at + RECORD_HEADER;
        let Some(body) = copy.get_mut(start..start + len) else {
            return false;
        };
        let nonce = rx.nonce();
        let Ok(plain) = rx.key.open_in_place(nonce, Aad::from(header), body) else {
            return false;
        };
        if plain.len() > MAX_INNER_PLAINTEXT
            || plain.iter().rposition(|&b| b != 0).map(|i| plain[i])
                != Some(CONTENT_APPLICATION_DATA)
        {
            return false;
        }
        rx.seq += 1;
        at = start + len;
    }
    true
}

/// One direction's record protection.
struct Direction {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
    secret: Secret,
}

impl Direction {
    fn new(suite: &Suite, secret: Secret, seq: u64) -> Option<Direction> {
        let (mut key, iv) = suite.traffic_keys(&secret)?;
        let unbound = UnboundKey::new(suite.aead, &key[..suite.key_len]).ok();
        key.zeroize();
        Some(Direction {
            key: LessSafeKey::new(unbound?),
            iv,
            seq,
            secret,
        })
    }

    /// The per-record nonce: the IV XOR the sequence number, right-aligned (RFC 8446 §5.3).
    fn nonce(&self) -> Nonce {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(n)
    }

    fn rekey(&mut self, suite: &Suite) -> Option<()> {
        *self = Direction::new(suite, suite.next_secret(&self.secret)?, 0)?;
        Some(())
    }
}

/// Established TLS 1.3 record protection, both directions.
pub(crate) struct Records {
    suite: Suite,
    rx: Direction,
    tx: Direction,
    /// What the client's decrypted records may be, and the bounds on them.
    post: PostHandshake,
}

impl Records {
    /// Takes over from rustls: `extracted` gives the keys and sequence numbers, `logged`
    /// the secrets behind them. `None` if the suite is not one of ours or the two disagree.
    pub(crate) fn new(
        suite: CipherSuite,
        extracted: ExtractedSecrets,
        logged: LoggedSecrets,
    ) -> Option<Records> {
        let suite = Suite::of(suite)?;
        let (rx_seq, rx_keys) = extracted.rx;
        let (tx_seq, tx_keys) = extracted.tx;
        let rx = Direction::new(&suite, logged.client?, rx_seq)?;
        let tx = Direction::new(&suite, logged.server?, tx_seq)?;
        // The secrets must be the ones the keys came from (a KeyUpdate rustls already
        // processed, or a rustls change in what it logs, would make them differ).
        if !same_keys(&suite, &rx.secret, &rx_keys) || !same_keys(&suite, &tx.secret, &tx_keys) {
            return None;
        }
        // Whatever rustls sent under our key so far (the session tickets) counts against
        // its budget.
        let post = PostHandshake::new(ProtocolVersion::TLSv1_3, suite.id, tx.seq);
        Some(Records {
            suite,
            rx,
            tx,
            post,
        })
    }

    /// Decrypts the complete records at the start of `incoming` in place, moving their
    /// application data to the front. Same contract as [`super::TlsSession::read`].
    pub(crate) fn read(
        &mut self,
        incoming: &mut [u8],
        outgoing: &mut Vec<u8>,
    ) -> Result<ReadOutcome, TlsError> {
        let mut out = ReadOutcome::default();
        while let Some(header) = incoming.get(out.consumed..out.consumed + RECORD_HEADER) {
            let header: [u8; RECORD_HEADER] = header.try_into().unwrap_or_default();
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            // As rustls frames records: a content type TLS does not have, or a version that is
            // not 3.x, is a decode error; a known type other than application data has no
            // business outside encryption now.
            match header {
                [CONTENT_APPLICATION_DATA, 3, ..] => {}
                [CONTENT_CHANGE_CIPHER_SPEC..=CONTENT_HEARTBEAT, 3, ..] => {
                    return Err(self.fatal(UNEXPECTED_MESSAGE, outgoing));
                }
                _ => return Err(self.fatal(DECODE_ERROR, outgoing)),
            }
            if len > MAX_CIPHERTEXT {
                return Err(self.fatal(RECORD_OVERFLOW, outgoing));
            }
            let start = out.consumed + RECORD_HEADER;
            let Some(body) = incoming.get_mut(start..start + len) else {
                break;
            };
            let nonce = self.rx.nonce();
            let Ok(plain) = self.rx.key.open_in_place(nonce, Aad::from(header), body) else {
                return Err(self.fatal(DECRYPT_ERROR, outgoing));
            };
            self.rx.seq += 1;
            if plain.len() > MAX_INNER_PLAINTEXT {
                return Err(self.fatal(RECORD_OVERFLOW, outgoing));
            }
            // Strip the zero padding; the last non-zero byte is the real content type.
            let Some(type_at) = plain.iter().rposition(|&b| b != 0) else {
                return Err(self.fatal(UNEXPECTED_MESSAGE, outgoing));
            };
            let content_type = plain[type_at];
            out.consumed = start + len;
            match self.post.on_record(content_type, &plain[..type_at]) {
                Ok(Event::Data) => {
                    // The plaintext moves down over ciphertext already consumed.
                    incoming.copy_within(start..start + type_at, out.plaintext);
                    out.plaintext += type_at;
                }
                Ok(Event::PeerClosed) => {
                    // What follows a close_notify is ignored (RFC 8446 §6.1).
                    out.peer_closed = true;
                    out.consumed = incoming.len();
                    return Ok(out);
                }
                Ok(Event::KeyUpdate { .. }) => {
                    if self.rx.rekey(&self.suite).is_none() {
                        return Err(self.fatal(INTERNAL, outgoing));
                    }
                    // An answer owed goes out here, before anything else of ours.
                    if self.post.rekey_due() {
                        self.send_key_update(outgoing)?;
                    }
                }
                Ok(Event::Nothing) => {}
                Err(fatal) => {
                    return Err(match fatal.alert {
                        Some(desc) => self.fatal((fatal.kind, desc), outgoing),
                        None => TlsError::local(fatal.kind),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Sends KeyUpdate(update_not_requested) under the current key, then switches keys.
    fn send_key_update(&mut self, outgoing: &mut Vec<u8>) -> Result<(), TlsError> {
        self.seal(CONTENT_HANDSHAKE, &KEY_UPDATE_NOT_REQUESTED, outgoing)?;
        self.tx
            .rekey(&self.suite)
            .ok_or(TlsError::local(TlsErrorKind::Internal))?;
        self.post.rekeyed();
        Ok(())
    }

    /// Encrypts `plaintext` as application-data records appended to `outgoing`.
    pub(crate) fn write(
        &mut self,
        plaintext: &[u8],
        outgoing: &mut Vec<u8>,
    ) -> Result<(), TlsError> {
        outgoing.reserve(plaintext.len() + plaintext.len().div_ceil(MAX_PLAINTEXT) * 22);
        if !plaintext.is_empty() {
            self.post.sending_application_data();
        }
        for chunk in plaintext.chunks(MAX_PLAINTEXT) {
            if self.post.rekey_due() {
                self.send_key_update(outgoing)?;
            }
            self.seal(CONTENT_APPLICATION_DATA, chunk, outgoing)?;
        }
        Ok(())
    }

    /// Appends an encrypted close_notify.
    pub(crate) fn close_notify(&mut self, outgoing: &mut Vec<u8>) -> Result<(), TlsError> {
        self.seal(CONTENT_ALERT, &[1, 0], outgoing)
    }

    /// One record: header, `content`, its type, tag.
    fn seal(&mut self, kind: u8, content: &[u8], outgoing: &mut Vec<u8>) -> Result<(), TlsError> {
        self.seal_inner(content, Some(kind), outgoing)
    }

    /// One record around the TLSInnerPlaintext `content` followed by `kind` (when given).
    fn seal_inner(
        &mut self,
        content: &[u8],
        kind: Option<u8>,
        outgoing: &mut Vec<u8>,
    ) -> Result<(), TlsError> {
        let len = content.len() + usize::from(kind.is_some()) + TAG;
        let len16 = u16::try_from(len).map_err(|_| TlsError::local(TlsErrorKind::Internal))?;
        let [hi, lo] = len16.to_be_bytes();
        let header = [CONTENT_APPLICATION_DATA, 3, 3, hi, lo];
        let start = outgoing.len();
        outgoing.extend_from_slice(&header);
        outgoing.extend_from_slice(content);
        outgoing.extend(kind);
        let nonce = self.tx.nonce();
        let sealed = self.tx.key.seal_in_place_separate_tag(
            nonce,
            Aad::from(header),
            &mut outgoing[start + RECORD_HEADER..],
        );
        let Ok(tag) = sealed else {
            outgoing.truncate(start);
            return Err(TlsError::local(TlsErrorKind::Internal));
        };
        outgoing.extend_from_slice(tag.as_ref());
        self.tx.seq += 1;
        self.post.records_sent(1);
        Ok(())
    }

    /// Appends the fatal alert (encrypted) and returns the error it stands for.
    fn fatal(
        &mut self,
        (kind, desc): (TlsErrorKind, AlertDescription),
        outgoing: &mut Vec<u8>,
    ) -> TlsError {
        let alert = match self.seal(
            CONTENT_ALERT,
            &[ALERT_LEVEL_FATAL, u8::from(desc)],
            outgoing,
        ) {
            Ok(()) => SentAlert::Known(desc),
            Err(_) => SentAlert::None,
        };
        TlsError { kind, alert }
    }

    /// Fuzzing and tests: record protection from two traffic secrets, without a handshake.
    /// `rx` is the peer's secret, `tx` ours.
    #[cfg(any(fuzzing, test))]
    pub(crate) fn from_secrets(suite: CipherSuite, rx: &[u8], tx: &[u8]) -> Option<Records> {
        let suite = Suite::of(suite)?;
        Some(Records {
            rx: Direction::new(&suite, Secret::new(rx)?, 0)?,
            tx: Direction::new(&suite, Secret::new(tx)?, 0)?,
            post: PostHandshake::new(ProtocolVersion::TLSv1_3, suite.id, 0),
            suite,
        })
    }

    /// Fuzzing and tests: seals `inner` as a whole TLSInnerPlaintext (type byte and padding
    /// included, or not), as a peer could.
    #[cfg(any(fuzzing, test))]
    pub(crate) fn seal_raw(
        &mut self,
        inner: &[u8],
        outgoing: &mut Vec<u8>,
    ) -> Result<(), TlsError> {
        self.seal_inner(inner, None, outgoing)
    }

    /// Fuzzing and tests: switch to the next send key, as after sending a KeyUpdate.
    #[cfg(any(fuzzing, test))]
    pub(crate) fn rekey_tx(&mut self) -> Option<()> {
        self.tx.rekey(&self.suite)
    }

    /// Test hook: the next record we send gets sequence number `seq` (to reach the
    /// [`super::post_handshake::RECORD_BUDGET`] rekey without sending 2^24 records).
    #[cfg(test)]
    pub(crate) fn set_tx_seq(&mut self, seq: u64) {
        self.tx.seq = seq;
        self.post.rekeyed();
        self.post.records_sent(seq);
    }
}

/// The record-layer failures and the alert each sends.
const DECRYPT_ERROR: (TlsErrorKind, AlertDescription) =
    (TlsErrorKind::DecryptError, AlertDescription::BadRecordMac);
const RECORD_OVERFLOW: (TlsErrorKind, AlertDescription) =
    (TlsErrorKind::BadRecord, AlertDescription::RecordOverflow);
const DECODE_ERROR: (TlsErrorKind, AlertDescription) =
    (TlsErrorKind::BadRecord, AlertDescription::DecodeError);
const UNEXPECTED_MESSAGE: (TlsErrorKind, AlertDescription) = (
    TlsErrorKind::UnexpectedMessage,
    AlertDescription::UnexpectedMessage,
);
const INTERNAL: (TlsErrorKind, AlertDescription) =
    (TlsErrorKind::Internal, AlertDescription::InternalError);

/// Whether `secret` yields the key and IV rustls extracted.
fn same_keys(suite: &Suite, secret: &Secret, extracted: &ConnectionTrafficSecrets) -> bool {
    let Some((mut key, iv)) = suite.traffic_keys(secret) else {
        return false;
    };
    let (k, i) = match extracted {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv }
        | ConnectionTrafficSecrets::Aes256Gcm { key, iv }
        | ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (key.as_ref(), iv.as_ref()),
        _ => return false,
    };
    let same = k == &key[..suite.key_len] && i == iv.as_slice();
    key.zeroize();
    same
}
