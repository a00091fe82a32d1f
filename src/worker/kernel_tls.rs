//! Kernel TLS: after the handshake, hand the session's keys to the kernel so records are
//! encrypted and decrypted in the socket and the relay moves plaintext with the same copy
//! path as a plain connection — and userspace keeps only what later control records need.
//!
//! Falls back to userspace rustls per connection (`tls_offload = "auto"`), saying why in the
//! access log. On the kTLS socket, a `recv` fails with EIO when the next record is not
//! application data: it is read here with `recvmsg` and judged by the rules and bounds the
//! userspace record layer uses too (`tls::post_handshake`): close_notify is an orderly end;
//! KeyUpdate rekeys the kernel (Linux 6.14+, else close with a logged cause); a refusal sends
//! its alert through the kernel, then closes.

use rustls::ProtocolVersion;

use super::{Conn, Worker};
use crate::access_log::{Offload, OffloadFallback};
use crate::config::TlsOffload;
use crate::conn::{ClientTransport, KernelTls, Side, Termination, UserspaceTls};
use crate::relay::Received;
use crate::sys::buf_ring::Buf;
use crate::sys::ktls;
use crate::tls::post_handshake::{Event, Fatal, PostHandshake};
use crate::tls::wire::{CONTENT_HANDSHAKE, KEY_UPDATE_NOT_REQUESTED};
use crate::tls::{KernelTlsFailure, TlsErrorKind, TlsSession};

/// The outcome of trying to move a session to the kernel.
enum Handoff {
    Kernel(Box<KernelTls>),
    /// Stay in userspace, for this reason (None: configured so).
    Userspace(Box<TlsSession>, Vec<u8>, Option<OffloadFallback>),
    /// The session was consumed but the kernel refused it: close.
    Failed(Termination),
}

impl Worker {
    /// Moves a fresh session to the kernel or keeps it in userspace, per the listener's
    /// `tls_offload`. Returns false if the connection must close.
    pub(super) fn place_tls(
        &mut self,
        conn: &mut Conn,
        session: TlsSession,
        held: Vec<u8>,
    ) -> bool {
        self.counters().handshake_done(conn.listener);
        match self.handoff(conn, session, held) {
            Handoff::Kernel(state) => {
                self.counters().offload(conn.listener, true, None);
                conn.facts_mut().tls_offload = Some(Offload::Kernel);
                conn.transport = ClientTransport::Kernel(state);
                true
            }
            Handoff::Userspace(mut session, mut held, reason) => {
                // The handshake's buffer held the ClientHello and the client's Finished; an
                // idle connection must not keep its capacity (1-2 KiB).
                held.shrink_to_fit();
                // TLS 1.3 records go through our own record layer from here on (a tenth of
                // the memory of rustls' state); TLS 1.2 stays with rustls.
                if let Err(error) = session.prefer_own_records() {
                    self.begin_close(conn, Termination::Tls(error.kind));
                    return false;
                }
                self.counters().offload(conn.listener, false, reason);
                let facts = conn.facts_mut();
                facts.tls_offload = Some(Offload::Userspace);
                facts.offload_fallback = reason;
                conn.transport =
                    ClientTransport::Userspace(Box::new(UserspaceTls::new(*session, held)));
                true
            }
            Handoff::Failed(cause) => {
                self.begin_close(conn, cause);
                false
            }
        }
    }

    /// Whether a session on `listener` may go to the kernel once its handshake is done.
    pub(super) fn kernel_tls_possible(&self, listener: &crate::config::Listener) -> bool {
        listener.tls_offload != TlsOffload::Userspace && self.shared.ktls.is_ok()
    }

    fn handoff(&self, conn: &Conn, session: TlsSession, held: Vec<u8>) -> Handoff {
        let mode = self.shared.config.listeners[conn.listener as usize].tls_offload;
        if mode == TlsOffload::Userspace {
            return Handoff::Userspace(Box::new(session), held, None);
        }
        let Ok(support) = self.shared.ktls else {
            return Handoff::Userspace(Box::new(session), held, Some(OffloadFallback::Unavailable));
        };
        // Bytes already read past the handshake can't be given to the kernel.
        // Held bytes, or records behind the client's Finished that were not plain data under
        // the first key (our record layer took those, or rustls moved its keys on for them;
        // `TlsSession::read`).
        if !held.is_empty() || session.read_past_first_key() {
            return Handoff::Userspace(Box::new(session), held, Some(OffloadFallback::BytesHeld));
        }
        let Some((version, suite)) = session.negotiated_suite() else {
            return Handoff::Userspace(Box::new(session), held, Some(OffloadFallback::NoSuite));
        };
        if !ktls::supports(version, suite) {
            return Handoff::Userspace(
                Box::new(session),
                held,
                Some(OffloadFallback::UnsupportedCipher),
            );
        }
        let handoff = match session.into_kernel() {
            Ok(handoff) => handoff,
            Err(error) => return Handoff::Failed(Termination::Tls(error.kind)),
        };
        if let Err(error) = ktls::enable(conn.client_fd, &handoff.secrets, version) {
            tracing::warn!(worker = self.id, client = %conn.client, %error, "kernel TLS hand-off failed; closing");
            return Handoff::Failed(Termination::Tls(TlsErrorKind::Kernel(error.failure())));
        }
        let rekey = (support.rekey && version == ProtocolVersion::TLSv1_3)
            .then(|| Box::new(handoff.connection));
        // AES-GCM keys may protect at most 2^24.5 records (RFC 8446 §5.5); the kernel does not
        // count, so we do, conservatively, and rekey (TLS 1.3) or close (TLS 1.2) at the
        // budget. What rustls sent under the key (the tickets) counts too.
        let post = PostHandshake::new(version, suite, handoff.secrets.tx.0);
        Handoff::Kernel(Box::new(KernelTls {
            rekey,
            version,
            post,
        }))
    }

    /// A recv on a kTLS client socket failed with EIO: the next record is not application
    /// data. Reads it and says what the relay should make of it (`None`: handled here, and a
    /// recv was resubmitted or the connection is closing).
    pub(super) fn on_ktls_control(
        &mut self,
        conn: &mut Conn,
        client_send_in_flight: bool,
    ) -> Option<Received<Buf>> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(ktls::MAX_RECORD_PLAINTEXT, 0);
        let result = ktls::recv_record(conn.client_fd, &mut scratch);
        let outcome = match result {
            Ok(record) if record.len == 0 => Some(Received::Eof),
            Ok(record) => {
                let payload = &scratch[..record.len];
                let judged = match conn.transport.kernel_mut() {
                    Some(state) => state.post.on_record(record.content_type, payload),
                    None => Err(Fatal {
                        kind: crate::tls::TlsErrorKind::Internal,
                        alert: None,
                    }),
                };
                match judged {
                    Ok(Event::Data) if payload.is_empty() => Some(Received::NoData),
                    Ok(Event::Data) => Some(Received::Data(self.ring.bufs_mut().tx_from(payload))),
                    Ok(Event::PeerClosed) => Some(Received::Eof),
                    Ok(Event::Nothing) => Some(Received::NoData),
                    Ok(Event::KeyUpdate { .. }) => {
                        match self.on_key_update(conn, client_send_in_flight) {
                            Ok(()) => Some(Received::NoData),
                            Err(cause) => {
                                self.begin_close(conn, cause);
                                None
                            }
                        }
                    }
                    Err(fatal) => {
                        if let Some(desc) = fatal.alert {
                            // Best effort, like every alert before a close.
                            let _ = ktls::send_alert(
                                conn.client_fd,
                                fatal.alert_level(),
                                u8::from(desc),
                            );
                        }
                        tracing::debug!(worker = self.id, client = %conn.client, cause = fatal.kind.keyword(), "kTLS control record refused");
                        self.begin_close(conn, Termination::Tls(fatal.kind));
                        None
                    }
                }
            }
            Err(error) if error.raw_os_error() == Some(libc::EAGAIN) => Some(Received::NoData),
            Err(error) => Some(Received::Error(error.raw_os_error().unwrap_or(libc::EIO))),
        };
        self.scratch = scratch;
        outcome
    }

    /// A complete KeyUpdate from the client (TLS 1.3): install its next key in the kernel, and
    /// answer if we owe an answer — now, or after the send to the client that is in flight.
    fn on_key_update(
        &mut self,
        conn: &mut Conn,
        client_send_in_flight: bool,
    ) -> Result<(), Termination> {
        let Some(state) = conn.transport.kernel_mut() else {
            return Err(Termination::Internal);
        };
        let Some(connection) = state.rekey.as_mut() else {
            tracing::info!(worker = self.id, client = %conn.client, "client KeyUpdate: the kernel cannot rekey (Linux 6.14+ needed); closing");
            return Err(Termination::Tls(TlsErrorKind::Kernel(
                KernelTlsFailure::RekeyUnsupported,
            )));
        };
        let secrets = connection
            .update_rx_secret()
            .map_err(|_| Termination::Tls(TlsErrorKind::UnexpectedMessage))?;
        ktls::update_rx(conn.client_fd, state.version, &secrets).map_err(|e| {
            tracing::info!(worker = self.id, client = %conn.client, error = %e, "client KeyUpdate: the kernel cannot rekey (Linux 6.14+ needed); closing");
            Termination::Tls(TlsErrorKind::Kernel(e.failure()))
        })?;
        // An answer owed is pending in `post`: it goes out now, or after the send to the client
        // that is in flight (our KeyUpdate must not land inside its records).
        if state.post.rekey_due() && !client_send_in_flight {
            rekey_tx(conn.client_fd, state)?;
        }
        Ok(())
    }

    /// Application data arrived on a kTLS socket (a plain recv): resets the KeyUpdate bound.
    pub(super) fn ktls_data_received(conn: &mut Conn) {
        if let Some(state) = conn.transport.kernel_mut() {
            state.post.application_data_received();
        }
    }

    /// After a send to a kTLS client completed: count records and rekey or close at the
    /// AES-GCM limit, and answer a KeyUpdate request that waited for the send.
    pub(super) fn after_ktls_send(
        &mut self,
        conn: &mut Conn,
        sent: u32,
    ) -> Result<(), Termination> {
        let Some(state) = conn.transport.kernel_mut() else {
            return Ok(());
        };
        state
            .post
            .records_sent((sent as u64).div_ceil(ktls::MAX_RECORD_PLAINTEXT as u64));
        state.post.sending_application_data();
        if state.post.rekey_due() {
            // TLS 1.2 cannot rekey; nor can a kernel before 6.14 (`rekey` is None for both).
            if state.rekey.is_none() {
                return Err(Termination::Tls(TlsErrorKind::KeyLimit));
            }
            rekey_tx(conn.client_fd, state)?;
        }
        Ok(())
    }

    /// Best effort close_notify on a kTLS socket (the kernel encrypts it).
    pub(super) fn ktls_close_notify(&self, conn: &Conn) {
        if conn.transport.is_kernel() {
            let _ = ktls::send_alert(
                conn.client_fd,
                ktls::ALERT_LEVEL_WARNING,
                ktls::ALERT_CLOSE_NOTIFY,
            );
        }
    }
}

/// Sends our KeyUpdate under the old key, then gives the kernel the new transmit key.
fn rekey_tx(fd: std::os::fd::RawFd, state: &mut KernelTls) -> Result<(), Termination> {
    let connection = state
        .rekey
        .as_mut()
        .ok_or(Termination::Tls(TlsErrorKind::KeyLimit))?;
    ktls::send_record(fd, CONTENT_HANDSHAKE, &KEY_UPDATE_NOT_REQUESTED)
        .map_err(|_| Termination::Io(Side::Client))?;
    let secrets = connection
        .update_tx_secret()
        .map_err(|_| Termination::Tls(TlsErrorKind::KeyLimit))?;
    ktls::update_tx(fd, state.version, &secrets)
        .map_err(|e| Termination::Tls(TlsErrorKind::Kernel(e.failure())))?;
    state.post.rekeyed();
    Ok(())
}
