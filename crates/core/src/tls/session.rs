//! One server-side TLS session over rustls' unbuffered API, fed bytes by the driver.
//!
//! # The contract with the driver
//!
//! - `read(incoming, outgoing)`: `incoming` is the bytes the last `read` left unconsumed (the
//!   *held* bytes, exactly as that call left them: rustls reassembles handshake messages in
//!   place, so they may differ from what arrived) followed by new bytes from the socket. On
//!   return, `incoming[..plaintext]` is decrypted application data and
//!   `incoming[consumed..]` must be held and presented again. Send `outgoing` after **every**
//!   call, also after one that completed the handshake: TLS 1.3 session tickets (rustls sends
//!   `ServerConfig::send_tls13_tickets`, 2 by default) go out right after the client's
//!   Finished, and after an error `outgoing` holds the alert.
//! - Until the ClientHello is complete, `read` consumes nothing (all of `incoming` is held): we
//!   look at the hello ourselves for the SNI (rustls 0.23 has no server-name accessor on an
//!   unbuffered connection) and must see it before rustls rearranges it. Held bytes are
//!   capped at [`MAX_HELD_BYTES`] (`tls_too_much_held`).
//! - `write`/`close_notify` take the held bytes too. rustls remembers how far into them it
//!   has reassembled a handshake message (a post-handshake KeyUpdate split across records),
//!   and looks at them again before it lets us encrypt. Passing anything else would make
//!   rustls index out of bounds; we check the length and refuse instead.
//! - Records that arrive in the same read as the client's TLS 1.3 Finished: rustls keeps
//!   only whole application-data records under the client's first key (an MQTT CONNECT, so
//!   that the session can still go to the kernel); anything else (a KeyUpdate, a record cut
//!   short) is processed by our record layer, which takes the session over at the end of the
//!   handshake, as it does for a session that asked with
//!   [`TlsSession::own_records_from_the_start`]. rustls never sees a post-handshake control
//!   record of a TLS 1.3 session, so one set of bounds (`post_handshake.rs`) applies.
//! - An idle established session owns no I/O buffer: no plaintext, no ciphertext, no held
//!   bytes (those are the driver's). What stays is [`TlsInfo`] and either rustls' key
//!   schedule and state (with the client's certificate chain), or, after
//!   [`TlsSession::prefer_own_records`] on TLS 1.3, only our record layer's keys
//!   (`records.rs`).
//!
//! rustls 0.23 decrypts each record in place in `incoming`, then copies the payload into a
//! `Vec` of its own that lives until we take it; we copy it back to the front of `incoming`
//! (plaintext is always shorter than the ciphertext it came from). One transient allocation
//! per application-data record, freed within the call. Our record layer decrypts in place
//! and moves the plaintext down within `incoming`, allocating nothing.

use std::sync::Arc;

use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, UnbufferedStatus, WriteTraffic};
use rustls::{ExtractedSecrets, ServerConfig};

use super::client_hello::{Peek, peek};
use super::encode::{append_with, encode_shortfall, encrypt_shortfall, encrypted_size_estimate};
use super::error::{TlsError, TlsErrorKind, alert_paired_with, plaintext_alert};
use super::info::{ClientCert, TlsInfo, cipher_names, subject_cn, version_name};
use super::records::{self, LoggedSecrets, Records};
use super::{MAX_HELD_BYTES, SentAlert};

/// States one call may step through beyond one per input byte.
///
/// Every rustls state either consumes input (a record is at least 5 bytes) or drains something
/// rustls queued: a handshake flight is under 10 chunks, plus 2 tickets and an alert. The bound
/// only exists so that a rustls bug cannot spin a worker forever; hitting it is `tls_internal`.
const MAX_STATES_WITHOUT_INPUT: usize = 64;

/// Where a session is in its life. It only moves forward.
#[derive(Debug)]
enum Stage {
    /// Nothing processed yet: the ClientHello is not complete.
    AwaitingHello,
    /// rustls is handshaking. `sni` is from our own look at the hello: rustls 0.23 has no
    /// server-name accessor on its unbuffered connection.
    Handshaking {
        sni: Option<Box<str>>,
    },
    Established(TlsInfo),
    /// A fatal error was reported; every later call reports it again.
    Failed(TlsErrorKind),
}

/// What one [`TlsSession::read`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Bytes of `incoming` done with. `incoming[consumed..]` must be held and presented again.
    pub consumed: usize,
    /// `incoming[..plaintext]` is decrypted application data, in order.
    pub plaintext: usize,
    /// The handshake completed during this call: [`TlsSession::info`] is now available.
    pub handshake_complete: bool,
    /// The client's close_notify arrived during this call. Everything after it is ignored
    /// (and counted as consumed), as RFC 8446 §6.1 requires.
    pub peer_closed: bool,
}

/// What [`TlsSession::into_kernel`] hands over for kernel TLS.
pub struct KernelHandoff {
    /// Traffic secrets and record sequence numbers for `setsockopt(TLS_TX/TLS_RX)`.
    pub secrets: ExtractedSecrets,
    /// rustls' remaining state, for key updates and post-handshake messages.
    pub connection: rustls::kernel::KernelConnection<ServerConnectionData>,
    /// What the handshake negotiated.
    pub info: TlsInfo,
}

/// Who processes the records.
enum Layer {
    /// rustls: the handshake, TLS 1.2, and TLS 1.3 until [`TlsSession::prefer_own_records`].
    Rustls(Box<UnbufferedServerConnection>),
    /// Our TLS 1.3 record layer, with what rustls handed over (`records`).
    Own {
        records: Box<Records>,
        suite: (rustls::ProtocolVersion, rustls::CipherSuite),
    },
    /// rustls was consumed and nothing replaced it (a failed hand-over): every call fails.
    Gone,
}

/// Who processes a TLS 1.3 session's records once its handshake is done in userspace
/// (`tls_records` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordLayer {
    /// Ours ([`Records`]): a tenth of rustls' memory per idle session, no copy per record.
    #[default]
    Own,
    /// rustls' own record layer, for the session's life: the fallback should ours ever
    /// misbehave. The same post-handshake bounds apply (rustls counts the same way), but a
    /// client over a bound is closed without an alert, as rustls does.
    Rustls,
}

impl RecordLayer {
    /// The config's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordLayer::Own => "own",
            RecordLayer::Rustls => "rustls",
        }
    }
}

/// A server-side TLS session: rustls' unbuffered connection plus what the driver needs.
pub struct TlsSession {
    layer: Layer,
    stage: Stage,
    /// The application traffic secrets rustls' key log gave during the handshake, for
    /// [`Records`]; dropped once used.
    logged: Option<Box<LoggedSecrets>>,
    /// Move to [`Records`] as soon as rustls can let go (TLS 1.3, nothing held or queued).
    own_records: bool,
    /// [`RecordLayer::Rustls`]: never move to [`Records`].
    records: RecordLayer,
    /// rustls was left records behind the client's Finished that are not plain data under
    /// the first key (a KeyUpdate): its keys moved on, and an answer may be queued in it,
    /// which a kernel hand-off would drop. [`RecordLayer::Rustls`] only.
    rustls_past_first_key: bool,
    /// How many bytes the last `read` left unconsumed; the driver presents them again.
    held: usize,
    close_sent: bool,
    peer_closed: bool,
    /// Copied from the config: `into_kernel` can then refuse before it consumes the session.
    secret_extraction: bool,
}

impl TlsSession {
    /// A session that will handshake with `config`, its records then processed by `records`.
    pub fn new(config: Arc<ServerConfig>, records: RecordLayer) -> Result<TlsSession, TlsError> {
        let secret_extraction = config.enable_secret_extraction;
        let conn = UnbufferedServerConnection::new(config)
            .map_err(|_| TlsError::local(TlsErrorKind::Config))?;
        Ok(TlsSession {
            layer: Layer::Rustls(Box::new(conn)),
            stage: Stage::AwaitingHello,
            logged: None,
            own_records: false,
            records,
            rustls_past_first_key: false,
            held: 0,
            close_sent: false,
            peer_closed: false,
            secret_extraction,
        })
    }

    /// Processes the held bytes and new ciphertext in `incoming`, in place.
    ///
    /// Appends what must go to the client (handshake flights, tickets, alerts) to `outgoing`.
    /// Moves decrypted application data to the front of `incoming`. Never panics on what the
    /// peer sends; the work is bounded by `incoming.len()`. After an error `outgoing` holds
    /// the alert, if one is due: send it, then close.
    pub fn read(
        &mut self,
        incoming: &mut [u8],
        outgoing: &mut Vec<u8>,
    ) -> Result<ReadOutcome, TlsError> {
        if let Stage::Failed(kind) = self.stage {
            return Err(TlsError::local(kind));
        }
        if incoming.len() < self.held {
            return Err(TlsError::local(TlsErrorKind::HeldBytesMismatch));
        }
        let mut out = ReadOutcome::default();
        if self.peer_closed {
            out.consumed = incoming.len();
            self.held = 0;
            return Ok(out);
        }
        if let Layer::Own { records, .. } = &mut self.layer {
            return match records.read(incoming, outgoing) {
                Ok(out) => {
                    self.peer_closed |= out.peer_closed;
                    self.held = incoming.len() - out.consumed;
                    if self.held > MAX_HELD_BYTES {
                        self.stage = Stage::Failed(TlsErrorKind::TooMuchHeld);
                        return Err(TlsError::local(TlsErrorKind::TooMuchHeld));
                    }
                    Ok(out)
                }
                Err(err) => {
                    self.stage = Stage::Failed(err.kind);
                    Err(err)
                }
            };
        }
        if let Stage::AwaitingHello = self.stage {
            match peek(incoming) {
                // rustls could only join records in place, which would spoil the next peek.
                Ok(Peek::Incomplete) => {
                    self.held = incoming.len();
                    return Ok(out);
                }
                Ok(Peek::Hello(hello)) => self.stage = Stage::Handshaking { sni: hello.sni },
                // rustls will fail on it too, with the right alert.
                Err(_) => self.stage = Stage::Handshaking { sni: None },
            }
        }
        let Layer::Rustls(conn) = &self.layer else {
            return Err(TlsError::local(TlsErrorKind::Internal));
        };
        let was_handshaking = conn.is_handshaking();
        if was_handshaking {
            records::clear_logged();
        }
        let stepped = self.step_until_blocked(incoming, outgoing, &mut out);
        if was_handshaking {
            self.keep_logged();
        }
        if let Err(err) = stepped {
            self.stage = Stage::Failed(err.kind);
            return Err(err);
        }
        if self.peer_closed {
            out.consumed = incoming.len();
        }
        self.held = incoming.len() - out.consumed;
        if self.held > MAX_HELD_BYTES {
            self.stage = Stage::Failed(TlsErrorKind::TooMuchHeld);
            return Err(TlsError::local(TlsErrorKind::TooMuchHeld));
        }
        self.establish(&mut out);
        if self.own_records {
            self.try_own_records()?;
        }
        Ok(out)
    }

    /// Asks for the session's records to be processed by [`Records`] rather than rustls,
    /// from the first moment that is possible (now, or after a later `read`): a TLS 1.3
    /// session with nothing held or queued, whose secrets the key log gave. Idle sessions
    /// then keep 244 bytes of Rust heap instead of ~2.3 KiB (aws-lc's AEAD contexts either
    /// way), and records are decrypted without rustls' copy.
    /// Fails only if rustls was consumed and refused (a bug): the session is then unusable.
    /// A no-op under [`RecordLayer::Rustls`].
    pub fn prefer_own_records(&mut self) -> Result<(), TlsError> {
        if self.records == RecordLayer::Rustls {
            return Ok(());
        }
        self.own_records = true;
        self.try_own_records()
    }

    /// Before the handshake: asks for [`Records`] to take the session at the end of its
    /// handshake, so that rustls sees nothing behind the client's Finished (for a session that
    /// will not go to the kernel; without this, rustls keeps what is plain data there).
    /// A no-op under [`RecordLayer::Rustls`].
    pub fn own_records_from_the_start(&mut self) {
        self.own_records = self.records == RecordLayer::Own;
    }

    /// Test hook: our record layer, once the session runs on it.
    #[cfg(test)]
    pub(crate) fn own_records_mut(&mut self) -> Option<&mut Records> {
        match &mut self.layer {
            Layer::Own { records, .. } => Some(records),
            _ => None,
        }
    }

    /// Whether [`Records`] processes the records now.
    pub fn has_own_records(&self) -> bool {
        matches!(self.layer, Layer::Own { .. })
    }

    /// Whether records past the first key's plain data were read (by either layer): the
    /// kernel can then not take the session over (its keys or a queued answer would be lost).
    pub fn read_past_first_key(&self) -> bool {
        self.has_own_records() || self.rustls_past_first_key
    }

    fn try_own_records(&mut self) -> Result<(), TlsError> {
        let Layer::Rustls(conn) = &self.layer else {
            return Ok(());
        };
        let suite = match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
            (Some(v @ rustls::ProtocolVersion::TLSv1_3), Some(s)) => (v, s.suite()),
            // TLS 1.2 stays with rustls: stop asking on every read.
            (Some(_), Some(_)) => {
                self.own_records = false;
                return Ok(());
            }
            // Still handshaking: wait.
            _ => return Ok(()),
        };
        let ready = matches!(self.stage, Stage::Established(_))
            && self.held == 0
            && !conn.wants_write()
            && self.secret_extraction
            && self
                .logged
                .as_ref()
                .is_some_and(|l| l.client.is_some() && l.server.is_some());
        if !ready {
            return Ok(());
        }
        self.move_to_own(suite)
    }

    /// Moves the records to [`Records`]: rustls hands over its keys and sequence numbers.
    /// The caller has checked that rustls holds nothing (no bytes, nothing queued) and that
    /// the key log gave both secrets.
    fn move_to_own(
        &mut self,
        suite: (rustls::ProtocolVersion, rustls::CipherSuite),
    ) -> Result<(), TlsError> {
        let Layer::Rustls(conn) = std::mem::replace(&mut self.layer, Layer::Gone) else {
            return Ok(());
        };
        let logged = self.logged.take().map(|b| *b).unwrap_or_default();
        let records = conn
            .dangerous_into_kernel_connection()
            .ok()
            .and_then(|(secrets, _rekey)| Records::new(suite.1, secrets, logged));
        match records {
            Some(records) => {
                self.layer = Layer::Own {
                    records: Box::new(records),
                    suite,
                };
                Ok(())
            }
            None => {
                self.stage = Stage::Failed(TlsErrorKind::Internal);
                Err(TlsError::local(TlsErrorKind::Internal))
            }
        }
    }

    /// Marks the handshake complete once rustls says so; once per session.
    fn establish(&mut self, out: &mut ReadOutcome) {
        if !matches!(self.stage, Stage::Handshaking { .. }) || self.rustls_handshaking() {
            return;
        }
        let Layer::Rustls(_) = self.layer else {
            return;
        };
        let sni = match &mut self.stage {
            Stage::Handshaking { sni } => sni.take(),
            _ => None,
        };
        self.stage = Stage::Established(self.negotiated(sni));
        out.handshake_complete = true;
    }

    /// The TLS 1.3 suite, if rustls has just finished the handshake of this read and holds
    /// nothing back: the moment its records can still move to [`Records`].
    fn at_handshake_end(&self) -> Option<(rustls::ProtocolVersion, rustls::CipherSuite)> {
        let Layer::Rustls(conn) = &self.layer else {
            return None;
        };
        if !matches!(self.stage, Stage::Handshaking { .. })
            || conn.is_handshaking()
            || conn.wants_write()
        {
            return None;
        }
        match (conn.protocol_version(), conn.negotiated_cipher_suite()) {
            (Some(v @ rustls::ProtocolVersion::TLSv1_3), Some(s)) => Some((v, s.suite())),
            _ => None,
        }
    }

    /// At the end of a TLS 1.3 handshake, with `behind` the bytes that came behind the
    /// client's Finished (not yet seen by rustls): whether [`Records`] takes the session now.
    ///
    /// rustls processing a KeyUpdate there would leave it with keys the logged secrets no
    /// longer match (our layer could not take over) and, for a requested update, with an
    /// answer that only leaves on its next encrypt (a kernel hand-off would drop it). And our
    /// post-handshake bounds would not apply. So rustls keeps only whole application-data
    /// records under the first key, which a kernel hand-off can follow; anything else, or a
    /// session that asked for our layer, moves now.
    ///
    /// Under [`RecordLayer::Rustls`] rustls keeps everything; what it was left is noted for
    /// [`TlsSession::read_past_first_key`].
    fn own_takes_over(&mut self, suite: rustls::CipherSuite, behind: &[u8]) -> bool {
        self.keep_logged();
        let secrets = self
            .logged
            .as_deref()
            .filter(|l| self.secret_extraction && l.client.is_some() && l.server.is_some());
        if self.records == RecordLayer::Rustls {
            self.rustls_past_first_key = match secrets {
                Some(logged) => !records::only_first_data(suite, logged, behind),
                None => !behind.is_empty(),
            };
            return false;
        }
        let Some(logged) = secrets else {
            return false;
        };
        self.own_records || !records::only_first_data(suite, logged, behind)
    }

    /// Processes what came behind the client's Finished with [`Records`], which just took
    /// over, as part of the same `read`.
    fn read_behind_finished(
        &mut self,
        incoming: &mut [u8],
        outgoing: &mut Vec<u8>,
        out: &mut ReadOutcome,
    ) -> Result<(), TlsError> {
        let Layer::Own { records, .. } = &mut self.layer else {
            return Err(TlsError::local(TlsErrorKind::Internal));
        };
        let behind = records.read(&mut incoming[out.consumed..], outgoing)?;
        // Our layer moved its plaintext to the front of what it was given; move it on to
        // follow what rustls decrypted (nothing, unless 0-RTT is enabled).
        let from = out.consumed;
        incoming.copy_within(from..from + behind.plaintext, out.plaintext);
        out.plaintext += behind.plaintext;
        out.consumed += behind.consumed;
        if behind.peer_closed {
            self.peer_closed = true;
            out.peer_closed = true;
        }
        Ok(())
    }

    /// Keeps what rustls' key log gave during the last call into rustls.
    fn keep_logged(&mut self) {
        let got = records::take_logged();
        if got.client.is_none() && got.server.is_none() {
            return;
        }
        let kept = self.logged.get_or_insert_with(Box::default);
        if got.client.is_some() {
            kept.client = got.client;
        }
        if got.server.is_some() {
            kept.server = got.server;
        }
    }

    fn rustls_handshaking(&self) -> bool {
        match &self.layer {
            Layer::Rustls(conn) => conn.is_handshaking(),
            Layer::Own { .. } | Layer::Gone => false,
        }
    }

    fn rustls(&mut self) -> Result<&mut UnbufferedServerConnection, TlsError> {
        match &mut self.layer {
            Layer::Rustls(conn) => Ok(conn),
            Layer::Own { .. } | Layer::Gone => Err(TlsError::local(TlsErrorKind::Internal)),
        }
    }

    /// Drives rustls until it needs more input, recording progress in `out`.
    fn step_until_blocked(
        &mut self,
        incoming: &mut [u8],
        outgoing: &mut Vec<u8>,
        out: &mut ReadOutcome,
    ) -> Result<(), TlsError> {
        // Whether the end of the handshake was looked at (once: rustls keeps the rest if so).
        let mut looked = false;
        // While handshaking, rustls gets the input a record at a time: with no tickets to send
        // (a client that cannot resume), it would otherwise go on from the client's Finished
        // into what follows before we can look. It has seen the held bytes already.
        let mut window = self.held.max(next_record_end(incoming, 0));
        for _ in 0..incoming.len() + MAX_STATES_WITHOUT_INPUT {
            if let Some(suite) = self.at_handshake_end().filter(|_| !looked) {
                looked = true;
                if self.own_takes_over(suite.1, &incoming[out.consumed..]) {
                    self.establish(out);
                    self.move_to_own(suite)?;
                    return self.read_behind_finished(incoming, outgoing, out);
                }
            }
            let limit = if self.rustls_handshaking() {
                window.max(out.consumed)
            } else {
                incoming.len()
            };
            // `head` is ciphertext already discarded: plaintext goes there. `tail` is rustls'.
            let (head, tail) = incoming[..limit].split_at_mut(out.consumed);
            let UnbufferedStatus { discard, state } = self.rustls()?.process_tls_records(tail);
            let state = match state {
                Ok(state) => state,
                Err(err) => {
                    out.consumed += discard;
                    let tail = &mut incoming[out.consumed..limit];
                    return Err(self.fail(&err, tail, outgoing));
                }
            };
            let mut blocked = false;
            match state {
                // The records' discard is only known once all are taken, so we take them on
                // the next turn, when `head` covers their ciphertext.
                ConnectionState::ReadTraffic(_) | ConnectionState::ReadEarlyData(_)
                    if discard > 0 => {}
                ConnectionState::ReadTraffic(mut records) => {
                    while let Some(record) = records.next_record() {
                        let record = record.map_err(|_| TlsError::local(TlsErrorKind::Internal))?;
                        out.plaintext = copy_plaintext(head, out.plaintext, record.payload)?;
                    }
                }
                // Only if the config enables 0-RTT (`max_early_data_size`); it is replayable.
                ConnectionState::ReadEarlyData(mut records) => {
                    while let Some(record) = records.next_record() {
                        let record = record.map_err(|_| TlsError::local(TlsErrorKind::Internal))?;
                        out.plaintext = copy_plaintext(head, out.plaintext, record.payload)?;
                    }
                }
                ConnectionState::EncodeTlsData(mut data) => {
                    append_with(outgoing, 0, |buf| data.encode(buf), encode_shortfall)?;
                }
                // `outgoing` is the driver's to send; rustls just wants to know it is taken.
                ConnectionState::TransmitTlsData(transmit) => transmit.done(),
                ConnectionState::PeerClosed => {
                    self.peer_closed = true;
                    out.peer_closed = true;
                }
                ConnectionState::BlockedHandshake
                | ConnectionState::WriteTraffic(_)
                | ConnectionState::Closed => blocked = true,
                _ => return Err(TlsError::local(TlsErrorKind::Internal)),
            }
            out.consumed += discard;
            if blocked && limit < incoming.len() {
                // More records behind the window: the next one for the handshake, or, once it
                // is done, the look at the end of the handshake (at the top) and then the rest.
                window = next_record_end(incoming, limit);
                continue;
            }
            if blocked {
                return Ok(());
            }
        }
        Err(TlsError::local(TlsErrorKind::Internal))
    }

    /// Encrypts `plaintext` as application data records appended to `outgoing`.
    ///
    /// `held` is what the last `read` left unconsumed (empty if nothing).
    pub fn write(
        &mut self,
        held: &mut [u8],
        plaintext: &[u8],
        outgoing: &mut Vec<u8>,
    ) -> Result<(), TlsError> {
        self.check_writable(held)?;
        if self.close_sent {
            return Err(TlsError::local(TlsErrorKind::Closed));
        }
        if plaintext.is_empty() {
            return Ok(());
        }
        if let Layer::Own { records, .. } = &mut self.layer {
            return records.write(plaintext, outgoing);
        }
        self.with_write_traffic(held, outgoing, |traffic, outgoing| {
            let estimate = encrypted_size_estimate(plaintext.len());
            append_with(
                outgoing,
                estimate,
                |buf| traffic.encrypt(plaintext, buf),
                encrypt_shortfall,
            )
        })
    }

    /// Appends an encrypted close_notify alert to `outgoing`. Calling it again does nothing.
    pub fn close_notify(
        &mut self,
        held: &mut [u8],
        outgoing: &mut Vec<u8>,
    ) -> Result<(), TlsError> {
        self.check_writable(held)?;
        if self.close_sent {
            return Ok(());
        }
        if let Layer::Own { records, .. } = &mut self.layer {
            records.close_notify(outgoing)?;
            self.close_sent = true;
            return Ok(());
        }
        self.with_write_traffic(held, outgoing, |traffic, outgoing| {
            append_with(
                outgoing,
                0,
                |buf| traffic.queue_close_notify(buf),
                encrypt_shortfall,
            )
        })?;
        self.close_sent = true;
        Ok(())
    }

    /// True until the handshake completed (and also after a failure during it).
    pub fn is_handshaking(&self) -> bool {
        match &self.stage {
            Stage::AwaitingHello | Stage::Handshaking { .. } => true,
            Stage::Established(_) => false,
            Stage::Failed(_) => self.rustls_handshaking(),
        }
    }

    /// What the handshake negotiated, once it completed.
    pub fn info(&self) -> Option<&TlsInfo> {
        match &self.stage {
            Stage::Established(info) => Some(info),
            _ => None,
        }
    }

    /// The negotiated protocol version and cipher suite, once the handshake completed (to ask
    /// whether the kernel can take the session before [`TlsSession::into_kernel`] consumes it).
    pub fn negotiated_suite(&self) -> Option<(rustls::ProtocolVersion, rustls::CipherSuite)> {
        match &self.layer {
            Layer::Rustls(conn) => {
                let version = conn.protocol_version()?;
                let suite = conn.negotiated_cipher_suite()?.suite();
                Some((version, suite))
            }
            Layer::Own { suite, .. } => Some(*suite),
            Layer::Gone => None,
        }
    }

    /// Gives the session up for kernel TLS offload.
    ///
    /// Needs `ServerConfig::enable_secret_extraction`, a completed handshake and no held
    /// bytes (the kernel cannot be handed bytes already read from the socket). Those are
    /// checked first; a refusal by rustls after that still consumes the session.
    pub fn into_kernel(self) -> Result<KernelHandoff, TlsError> {
        let info = match self.stage {
            Stage::Established(info) => info,
            Stage::AwaitingHello | Stage::Handshaking { .. } => {
                return Err(TlsError::local(TlsErrorKind::NotReady));
            }
            Stage::Failed(kind) => return Err(TlsError::local(kind)),
        };
        if !self.secret_extraction || self.held != 0 {
            return Err(TlsError::local(TlsErrorKind::KernelHandoff));
        }
        let Layer::Rustls(conn) = self.layer else {
            return Err(TlsError::local(TlsErrorKind::KernelHandoff));
        };
        let (secrets, connection) = conn
            .dangerous_into_kernel_connection()
            .map_err(|_| TlsError::local(TlsErrorKind::KernelHandoff))?;
        Ok(KernelHandoff {
            secrets,
            connection,
            info,
        })
    }

    fn check_writable(&self, held: &[u8]) -> Result<(), TlsError> {
        match self.stage {
            Stage::Established(_) if held.len() == self.held => Ok(()),
            Stage::Established(_) => Err(TlsError::local(TlsErrorKind::HeldBytesMismatch)),
            Stage::AwaitingHello | Stage::Handshaking { .. } => {
                Err(TlsError::local(TlsErrorKind::NotReady))
            }
            Stage::Failed(kind) => Err(TlsError::local(kind)),
        }
    }

    /// Steps rustls over the held bytes to its `WriteTraffic` state and runs `f` there.
    fn with_write_traffic(
        &mut self,
        held: &mut [u8],
        outgoing: &mut Vec<u8>,
        f: impl FnOnce(
            &mut WriteTraffic<'_, ServerConnectionData>,
            &mut Vec<u8>,
        ) -> Result<(), TlsError>,
    ) -> Result<(), TlsError> {
        for _ in 0..MAX_STATES_WITHOUT_INPUT {
            let UnbufferedStatus { discard, state } = self.rustls()?.process_tls_records(held);
            // `read` left no complete record in `held`, so rustls has nothing to discard.
            if discard != 0 {
                return Err(TlsError::local(TlsErrorKind::Internal));
            }
            match state {
                Ok(ConnectionState::WriteTraffic(mut traffic)) => return f(&mut traffic, outgoing),
                // A KeyUpdate response or similar that rustls queued.
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    append_with(outgoing, 0, |buf| data.encode(buf), encode_shortfall)?;
                }
                Ok(ConnectionState::TransmitTlsData(transmit)) => transmit.done(),
                Ok(ConnectionState::PeerClosed) => self.peer_closed = true,
                Ok(ConnectionState::Closed) => return Err(TlsError::local(TlsErrorKind::Closed)),
                Ok(_) => return Err(TlsError::local(TlsErrorKind::Internal)),
                Err(err) => return Err(self.fail(&err, held, outgoing)),
            }
        }
        Err(TlsError::local(TlsErrorKind::Internal))
    }

    /// Records a fatal rustls error and drains the alert rustls queued into `outgoing`.
    ///
    /// rustls queues the alert when it fails and hands it out as `EncodeTlsData` on the next
    /// `process_tls_records`, before it looks at input again. We stop while its queue is empty
    /// (`wants_write`): one call more and it would parse `rest` again, hit the same error and
    /// queue a second alert (a `debug_assert` in rustls). `rest` must still be the undiscarded
    /// input, since that is what rustls' bookkeeping points into.
    fn fail(&mut self, err: &rustls::Error, rest: &mut [u8], outgoing: &mut Vec<u8>) -> TlsError {
        let kind = TlsErrorKind::from_rustls(err, self.rustls_handshaking());
        self.stage = Stage::Failed(kind);
        let before = outgoing.len();
        let Layer::Rustls(conn) = &mut self.layer else {
            return TlsError::local(kind);
        };
        for _ in 0..MAX_STATES_WITHOUT_INPUT {
            if !conn.wants_write() {
                break;
            }
            let Ok(ConnectionState::EncodeTlsData(mut data)) = conn.process_tls_records(rest).state
            else {
                break;
            };
            if append_with(outgoing, 0, |buf| data.encode(buf), encode_shortfall).is_err() {
                break;
            }
        }
        let sent = &outgoing[before..];
        let alert = if sent.is_empty() {
            SentAlert::None
        } else if let Some(desc) = plaintext_alert(sent) {
            SentAlert::Known(desc)
        } else {
            alert_paired_with(err).map_or(SentAlert::Encrypted, SentAlert::Known)
        };
        TlsError { kind, alert }
    }

    /// Collects what the handshake negotiated. Called once, when it completes.
    fn negotiated(&self, sni: Option<Box<str>>) -> TlsInfo {
        let Layer::Rustls(conn) = &self.layer else {
            return TlsInfo {
                version: "unknown",
                cipher: "unknown",
                cipher_iana: "unknown",
                alpn: None,
                sni,
                client_cert: ClientCert::None,
                resumed: false,
            };
        };
        let version = conn.protocol_version().map_or("unknown", version_name);
        let (cipher, cipher_iana) = conn
            .negotiated_cipher_suite()
            .map_or(("unknown", "unknown"), |s| cipher_names(s.suite()));
        let client_cert = match conn.peer_certificates().and_then(|c| c.first()) {
            Some(leaf) => ClientCert::Verified {
                cn: subject_cn(leaf),
            },
            None => ClientCert::None,
        };
        TlsInfo {
            version,
            cipher,
            cipher_iana,
            alpn: conn.alpn_protocol().map(Box::from),
            sni,
            client_cert,
            resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }
}

/// Where the record starting at `incoming[at..]` ends: `incoming.len()` if it is not complete
/// (rustls then sees all there is, as without a window).
fn next_record_end(incoming: &[u8], at: usize) -> usize {
    match incoming.get(at..at + 5) {
        Some(&[_, _, _, hi, lo]) => {
            (at + 5 + usize::from(u16::from_be_bytes([hi, lo]))).min(incoming.len())
        }
        _ => incoming.len(),
    }
}

/// Copies one record's plaintext to `head[at..]`; returns the new end.
fn copy_plaintext(head: &mut [u8], at: usize, payload: &[u8]) -> Result<usize, TlsError> {
    // Cannot fail: a record's plaintext is shorter than its ciphertext, which is in `head`.
    let end = at + payload.len();
    let dst = head
        .get_mut(at..end)
        .ok_or(TlsError::local(TlsErrorKind::Internal))?;
    dst.copy_from_slice(payload);
    Ok(end)
}
