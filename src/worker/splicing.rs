//! Splicing: carries out the sans-IO splice relay's steps — one-shot readiness polls on the
//! ring, then non-blocking splice(2) source → pipe → destination right here — lends and
//! takes back the worker's pipes, and on a kTLS client socket hands non-data records to the
//! control-record path (`kernel_tls`), since splice cannot carry them.

use super::submit::Io;
use super::{Conn, Op, Worker};
use crate::conn::{Side, Stage, Termination};
use crate::relay::{Received, SpliceRelay, SpliceStep, failed_side, failure_termination};
use crate::slab::Key;
use crate::sys::buf_ring::Buf;
use crate::sys::net;
use crate::sys::pipe::Pipe;
use crate::tls::TlsErrorKind;

type Step = SpliceStep<Buf, Pipe>;

/// Non-data kTLS records one wake-up may handle before we call the stream broken: each one
/// is a whole record read and acted on, so a peer that sends only these still makes progress
/// through the idle timeout, not an endless loop here.
const CONTROL_RECORDS_PER_WAKE: u32 = 64;

impl Worker {
    /// Enters the splice relay: the prelude (if any) goes out first through a ring send, then
    /// both directions wait for their source to become readable.
    pub(super) fn start_splice(&mut self, key: Key, conn: &mut Conn, prelude: Option<Buf>) {
        conn.stage = Stage::Splicing(SpliceRelay::new());
        let upstream = match prelude {
            Some(buf) => splice_of(conn).upstream.start_with(buf),
            None => splice_of(conn).upstream.start(),
        };
        self.run_splice(key, conn, Side::Client, upstream);
        if let Stage::Splicing(relay) = &mut conn.stage {
            let downstream = relay.downstream.start();
            self.run_splice(key, conn, Side::Server, downstream);
        }
    }

    /// A readiness poll of a spliced connection fired (or was cancelled by a close).
    pub(super) fn on_poll(&mut self, key: Key, conn: &mut Conn, op: Op) {
        let Stage::Splicing(relay) = &mut conn.stage else {
            return;
        };
        // An error or hang-up shows as readiness too: the splice that follows reports it.
        let (source, step) = match op {
            Op::ReadableClient => (Side::Client, relay.upstream.on_readable()),
            Op::ReadableServer => (Side::Server, relay.downstream.on_readable()),
            Op::WritableServer => (Side::Client, relay.upstream.on_writable()),
            Op::WritableClient => (Side::Server, relay.downstream.on_writable()),
            _ => return,
        };
        self.run_splice(key, conn, source, step);
    }

    /// The prelude's send to the server completed; `buf` is the buffer the ring gave back.
    pub(super) fn on_prelude_sent(&mut self, key: Key, conn: &mut Conn, result: i32, buf: Buf) {
        let step = splice_of(conn).upstream.on_prelude_sent(result, buf);
        if result > 0 {
            conn.touch(Side::Server, self.now_ms);
        }
        self.run_splice(key, conn, Side::Client, step);
    }

    /// Carries out steps of the direction reading from `source` until one waits for the ring
    /// (a poll or send), for a pipe, or ends the direction.
    fn run_splice(&mut self, key: Key, conn: &mut Conn, source: Side, mut step: Step) {
        let destination = source.other();
        let mut control_records = 0;
        loop {
            step = match step {
                SpliceStep::PollSource => {
                    let io = Io::Poll {
                        side: source,
                        writable: false,
                    };
                    return self.submit(key, conn, io);
                }
                SpliceStep::PollDestination => {
                    let io = Io::Poll {
                        side: destination,
                        writable: true,
                    };
                    return self.submit(key, conn, io);
                }
                SpliceStep::SendPrelude { buf, offset } => {
                    let to = destination;
                    return self.submit(key, conn, Io::Send { to, buf, offset });
                }
                SpliceStep::PreludeSent(buf) => {
                    self.ring.bufs_mut().recycle(buf);
                    SpliceStep::PollSource
                }
                SpliceStep::NeedPipe => match self.pipes.take() {
                    Some(pipe) => splice_of(conn).half_from(source).give_pipe(pipe),
                    None => {
                        self.pipe_waiters.push_back((key, source));
                        return;
                    }
                },
                SpliceStep::Fill { len } => {
                    match self.fill(conn, source, len, &mut control_records) {
                        Some(step) => step,
                        None => return,
                    }
                }
                SpliceStep::Drain { pending } => match self.drain(conn, source, pending) {
                    Some(step) => step,
                    None => return,
                },
                SpliceStep::Park(pipe) => {
                    self.pipes.give_back(pipe, true);
                    SpliceStep::PollSource
                }
                SpliceStep::ShutdownDestination(pipe) => {
                    self.pipes.give_back(pipe, true);
                    if destination == Side::Client {
                        // A kTLS client gets close_notify before the FIN; nothing else is
                        // being sent to it (this direction's pipe is empty).
                        self.send_close_notify(conn, false);
                    }
                    net::shutdown_write(conn.fd(destination));
                    if let Some(cause) = splice_of(conn).on_fin(source) {
                        self.begin_close(conn, cause);
                    }
                    return;
                }
                SpliceStep::Fail {
                    failed,
                    errno,
                    pipe,
                    prelude,
                } => {
                    if let Some((pipe, empty)) = pipe {
                        self.pipes.give_back(pipe, empty);
                    }
                    if let Some(buf) = prelude {
                        self.ring.bufs_mut().recycle(buf);
                    }
                    let cause = failure_termination(failed_side(source, failed), errno);
                    self.begin_close(conn, cause);
                    return;
                }
            };
        }
    }

    /// splice(2) from the source into the direction's empty pipe. `None`: the connection is
    /// closing (the kTLS control path decided so).
    fn fill(
        &mut self,
        conn: &mut Conn,
        source: Side,
        len: u32,
        control_records: &mut u32,
    ) -> Option<Step> {
        let fd = conn.fd(source);
        let half = splice_of(conn).half_from(source);
        let result = half
            .pipe()
            .expect("a fill step holds a pipe")
            .fill_from(fd, len);
        let kernel_tls = source == Side::Client && conn.transport.is_kernel();
        if result >= 0 {
            conn.touch(source, self.now_ms);
        }
        // On a kTLS socket, splice refuses a record that is not application data (EINVAL;
        // the kernel leaves it queued), and the copy path's recv sees EIO for the same thing.
        let not_data = result == -(libc::EINVAL as isize) || result == -(libc::EIO as isize);
        if !(kernel_tls && not_data) {
            if result > 0 {
                // As the copy path counts: payload read from `source`, as it is read.
                self.counters()
                    .payload(conn.listener, source, result as u64);
            }
            return Some(splice_of(conn).half_from(source).on_fill(result));
        }
        *control_records += 1;
        if *control_records > CONTROL_RECORDS_PER_WAKE {
            self.begin_close(conn, Termination::Tls(TlsErrorKind::UnexpectedMessage));
            return None;
        }
        conn.touch(source, self.now_ms);
        let client_send_pending = splice_of(conn).downstream.pending() > 0;
        let received = self.on_ktls_control(conn, client_send_pending)?;
        let step = match received {
            Received::Eof => splice_of(conn).upstream.on_fill(0),
            Received::NoData => splice_of(conn).upstream.on_nothing_filled(),
            Received::Data(buf) => {
                // Application data read by recvmsg (only if the record at the head changed
                // between the two calls): put it in the empty pipe, where it always fits —
                // a record is at most 16 KiB and a pipe at least 64 KiB.
                let bytes = self.ring.bufs().bytes(&buf);
                let half = splice_of(conn).half_from(source);
                let written = half.pipe().expect("a fill step holds a pipe").write(bytes);
                let whole = written == bytes.len() as isize;
                self.ring.bufs_mut().recycle(buf);
                if !whole {
                    self.begin_close(conn, Termination::Internal);
                    return None;
                }
                self.counters()
                    .payload(conn.listener, source, written as u64);
                splice_of(conn).upstream.on_fill(written)
            }
            Received::Error(errno) => splice_of(conn).upstream.on_fill(-(errno as isize)),
            Received::NoBuffer => splice_of(conn).upstream.on_fill(-(libc::EIO as isize)),
        };
        Some(step)
    }

    /// splice(2) from the direction's pipe to the destination. `None`: the connection is
    /// closing (a kTLS key limit that could not be met by a rekey).
    fn drain(&mut self, conn: &mut Conn, source: Side, pending: u32) -> Option<Step> {
        let destination = source.other();
        let fd = conn.fd(destination);
        let half = splice_of(conn).half_from(source);
        let result = half
            .pipe()
            .expect("a drain step holds a pipe")
            .drain_to(fd, pending);
        if result > 0 {
            conn.touch(destination, self.now_ms);
            if destination == Side::Client
                && let Err(cause) = self.after_ktls_send(conn, result as u32)
            {
                self.begin_close(conn, cause);
                return None;
            }
        }
        Some(splice_of(conn).half_from(source).on_drain(result))
    }

    /// Lends pipes that came back to directions that found the pool empty, oldest first.
    pub(super) fn resume_pipe_waiters(&mut self) {
        while self.pipes.can_lend() {
            let Some((key, side)) = self.pipe_waiters.pop_front() else {
                return;
            };
            let Some(mut conn) = self.conns.take(key) else {
                continue;
            };
            if let Stage::Splicing(relay) = &mut conn.stage
                && relay.half_from(side).wants_pipe()
            {
                match self.pipes.take() {
                    Some(pipe) => {
                        let step = relay.half_from(side).give_pipe(pipe);
                        self.run_splice(key, &mut conn, side, step);
                    }
                    None => {
                        // The kernel refused a new pipe (out of fds): try again later.
                        self.pipe_waiters.push_front((key, side));
                        self.settle(key, conn);
                        return;
                    }
                }
            }
            self.settle(key, conn);
        }
    }

    /// When a spliced connection closes: its pipes go back to the pool (or are closed if
    /// they hold bytes).
    pub(super) fn return_pipes(&mut self, relay: &mut SpliceRelay<Buf, Pipe>) {
        for half in [&mut relay.upstream, &mut relay.downstream] {
            if let Some((pipe, empty)) = half.take_pipe() {
                self.pipes.give_back(pipe, empty);
            }
        }
    }
}

fn splice_of(conn: &mut Conn) -> &mut SpliceRelay<Buf, Pipe> {
    match &mut conn.stage {
        Stage::Splicing(relay) => relay,
        _ => unreachable!("splice step outside the splicing stage"),
    }
}
