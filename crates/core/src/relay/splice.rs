//! The splice relay, sans-IO: one [`SpliceHalf`] per direction moves bytes source socket →
//! pipe → destination socket with splice(2), never through userspace.
//!
//! A direction waits for readiness on its source (a one-shot poll) holding no pipe; when
//! bytes arrive it borrows a pipe, fills it from the source, drains it into the destination,
//! and repeats until the source is empty, then gives the pipe back. The pipe is filled only
//! when empty, so a fill that finds nothing (`EAGAIN`) always means "source empty", never
//! "pipe full". When the destination's buffer is full the direction keeps its pipe and waits
//! for the destination to become writable — the back-pressure, as in the copy relay: while a
//! direction waits, nothing more is read from its source.
//!
//! The driver carries out each [`SpliceStep`] (a poll, a splice call) and reports the result.

use super::{Direction, End};

/// Bytes a direction moves for one readiness event before it yields to other connections
/// (by giving its pipe back and polling again, which completes at once if bytes remain).
pub const BYTES_PER_WAKE: u64 = 1024 * 1024;

/// What the driver does next for this direction.
#[derive(Debug, PartialEq)]
pub enum SpliceStep<B, P> {
    /// Arm a one-shot readability poll on the source.
    PollSource,
    /// Arm a one-shot writability poll on the destination (the pipe stays with us).
    PollDestination,
    /// Send the prelude buffer from `offset` to its end on the destination (a ring send,
    /// which owns `buf` until its completion hands it back to [`SpliceHalf::on_prelude_sent`]).
    SendPrelude { buf: B, offset: u32 },
    /// The prelude is delivered: give its buffer back to the pool, then poll the source.
    PreludeSent(B),
    /// Lend this direction a pipe ([`SpliceHalf::give_pipe`]), or park it until one is free.
    NeedPipe,
    /// splice(2) at most `len` bytes from the source into the (empty) pipe.
    Fill { len: u32 },
    /// splice(2) the `pending` bytes in the pipe to the destination.
    Drain { pending: u32 },
    /// The source is empty for now (or the direction used its share): give back this empty
    /// pipe, then poll the source.
    Park(P),
    /// The source finished: give back this empty pipe and half-close the destination.
    ShutdownDestination(P),
    /// The direction failed; close the connection. Carries the pipe it held, if any, and
    /// whether that pipe is empty (a pipe with bytes in it is closed, not pooled).
    Fail {
        failed: End,
        errno: i32,
        pipe: Option<(P, bool)>,
        prelude: Option<B>,
    },
}

#[derive(Debug, Default)]
enum State<P> {
    /// Not started, or waiting for a pipe.
    #[default]
    Idle,
    /// A ring send of the prelude (`len` bytes, `sent` delivered) is in flight; the ring
    /// holds its buffer.
    Prelude {
        len: u32,
        sent: u32,
    },
    /// A readability poll is armed on the source; no pipe held.
    WaitReadable,
    /// The source was readable: waiting for a pipe (or [`SpliceHalf::give_pipe`] is next).
    WantPipe,
    /// Holding a pipe with `pending` bytes; the driver runs the next splice now.
    Moving {
        pipe: P,
        pending: u32,
    },
    /// The destination's buffer is full: a writability poll is armed on it.
    WaitWritable {
        pipe: P,
        pending: u32,
    },
    /// FIN received and passed on.
    Done,
    Failed,
}

/// One direction of a spliced connection.
#[derive(Debug, Default)]
pub struct SpliceHalf<B, P> {
    state: State<P>,
    /// The prelude buffer's type: it passes through this half without being kept.
    _buf: std::marker::PhantomData<fn(B) -> B>,
    /// Bytes delivered to the destination.
    delivered: u64,
    /// Bytes moved since the last readiness event (for [`BYTES_PER_WAKE`]).
    this_wake: u64,
    /// How much one fill may take (the pipe's capacity, learned when lent).
    fill_len: u32,
}

/// What a pipe must say about itself.
pub trait PipeCapacity {
    fn capacity(&self) -> u32;
}

impl<B: super::RelayBuf, P: PipeCapacity> SpliceHalf<B, P> {
    pub fn new() -> Self {
        SpliceHalf {
            state: State::Idle,
            _buf: std::marker::PhantomData,
            delivered: 0,
            this_wake: 0,
            fill_len: 0,
        }
    }

    /// Starts waiting for the source. Only valid when not started.
    pub fn start(&mut self) -> SpliceStep<B, P> {
        debug_assert!(matches!(self.state, State::Idle));
        self.state = State::WaitReadable;
        SpliceStep::PollSource
    }

    /// Starts by sending `buf` (a PROXY header, replayed ClientHello, early data) before
    /// anything is spliced. `buf` must not be empty.
    pub fn start_with(&mut self, buf: B) -> SpliceStep<B, P> {
        debug_assert!(matches!(self.state, State::Idle) && buf.len() > 0);
        self.state = State::Prelude {
            len: buf.len(),
            sent: 0,
        };
        SpliceStep::SendPrelude { buf, offset: 0 }
    }

    /// The prelude's ring send completed with `result` (bytes, or a negative errno); `buf` is
    /// the buffer the ring gave back.
    pub fn on_prelude_sent(&mut self, result: i32, buf: B) -> SpliceStep<B, P> {
        let State::Prelude { len, sent } = std::mem::take(&mut self.state) else {
            debug_assert!(false, "prelude completion without a prelude send");
            let mut step = self.fail(End::Destination, libc::EINVAL);
            if let SpliceStep::Fail { prelude, .. } = &mut step {
                *prelude = Some(buf);
            }
            return step;
        };
        if result <= 0 {
            self.state = State::Failed;
            return SpliceStep::Fail {
                failed: End::Destination,
                errno: if result == 0 { libc::EPIPE } else { -result },
                pipe: None,
                prelude: Some(buf),
            };
        }
        let sent = sent + result as u32;
        self.delivered += result as u64;
        if sent < len {
            self.state = State::Prelude { len, sent };
            SpliceStep::SendPrelude { buf, offset: sent }
        } else {
            self.state = State::WaitReadable;
            SpliceStep::PreludeSent(buf)
        }
    }

    /// The source's readability poll fired.
    pub fn on_readable(&mut self) -> SpliceStep<B, P> {
        debug_assert!(matches!(self.state, State::WaitReadable));
        self.state = State::WantPipe;
        self.this_wake = 0;
        SpliceStep::NeedPipe
    }

    /// Lends the direction an empty pipe after [`SpliceStep::NeedPipe`].
    pub fn give_pipe(&mut self, pipe: P) -> SpliceStep<B, P> {
        debug_assert!(matches!(self.state, State::WantPipe));
        self.fill_len = pipe.capacity();
        self.state = State::Moving { pipe, pending: 0 };
        SpliceStep::Fill { len: self.fill_len }
    }

    /// True while parked waiting for a pipe.
    pub fn wants_pipe(&self) -> bool {
        matches!(self.state, State::WantPipe)
    }

    /// A fill returned `result`: bytes, 0 at EOF, or a negative errno.
    pub fn on_fill(&mut self, result: isize) -> SpliceStep<B, P> {
        let State::Moving { pipe, pending: 0 } = std::mem::take(&mut self.state) else {
            debug_assert!(false, "fill result without an empty pipe");
            return self.fail(End::Source, libc::EINVAL);
        };
        match result {
            n if n > 0 => {
                let pending = n as u32;
                self.state = State::Moving { pipe, pending };
                SpliceStep::Drain { pending }
            }
            0 => {
                self.state = State::Done;
                SpliceStep::ShutdownDestination(pipe)
            }
            n if -n == libc::EAGAIN as isize => {
                self.state = State::WaitReadable;
                SpliceStep::Park(pipe)
            }
            n => {
                self.state = State::Failed;
                SpliceStep::Fail {
                    failed: End::Source,
                    errno: (-n) as i32,
                    pipe: Some((pipe, true)),
                    prelude: None,
                }
            }
        }
    }

    /// The source had a record without data for us (a kTLS control record, handled by the
    /// driver): fill again.
    pub fn on_nothing_filled(&mut self) -> SpliceStep<B, P> {
        debug_assert!(matches!(self.state, State::Moving { pending: 0, .. }));
        SpliceStep::Fill { len: self.fill_len }
    }

    /// A drain returned `result`: bytes, or a negative errno.
    pub fn on_drain(&mut self, result: isize) -> SpliceStep<B, P> {
        let State::Moving { pipe, pending } = std::mem::take(&mut self.state) else {
            debug_assert!(false, "drain result without a pipe");
            return self.fail(End::Destination, libc::EINVAL);
        };
        match result {
            n if n > 0 => {
                let n = (n as u32).min(pending);
                self.delivered += n as u64;
                self.this_wake += n as u64;
                let pending = pending - n;
                if pending > 0 {
                    self.state = State::Moving { pipe, pending };
                    SpliceStep::Drain { pending }
                } else if self.this_wake >= BYTES_PER_WAKE {
                    self.state = State::WaitReadable;
                    SpliceStep::Park(pipe)
                } else {
                    self.state = State::Moving { pipe, pending: 0 };
                    SpliceStep::Fill { len: self.fill_len }
                }
            }
            n if -n == libc::EAGAIN as isize => {
                self.state = State::WaitWritable { pipe, pending };
                SpliceStep::PollDestination
            }
            n => {
                // 0 from a socket with bytes offered can't happen; read it as the peer gone.
                let errno = if n == 0 { libc::EPIPE } else { (-n) as i32 };
                self.state = State::Failed;
                SpliceStep::Fail {
                    failed: End::Destination,
                    errno,
                    pipe: Some((pipe, false)),
                    prelude: None,
                }
            }
        }
    }

    /// The destination's writability poll fired: drain again.
    pub fn on_writable(&mut self) -> SpliceStep<B, P> {
        let State::WaitWritable { pipe, pending } = std::mem::take(&mut self.state) else {
            debug_assert!(false, "writable without a pipe waiting");
            return self.fail(End::Destination, libc::EINVAL);
        };
        self.state = State::Moving { pipe, pending };
        SpliceStep::Drain { pending }
    }

    fn fail(&mut self, failed: End, errno: i32) -> SpliceStep<B, P> {
        self.state = State::Failed;
        SpliceStep::Fail {
            failed,
            errno,
            pipe: None,
            prelude: None,
        }
    }

    /// The pipe this direction holds (to run the splice the last step asked for).
    pub fn pipe(&self) -> Option<&P> {
        match &self.state {
            State::Moving { pipe, .. } | State::WaitWritable { pipe, .. } => Some(pipe),
            _ => None,
        }
    }

    /// Bytes waiting in the pipe for the destination.
    pub fn pending(&self) -> u32 {
        match &self.state {
            State::Moving { pending, .. } | State::WaitWritable { pending, .. } => *pending,
            _ => 0,
        }
    }

    /// Whether the prelude's send is in flight.
    pub fn sending_prelude(&self) -> bool {
        matches!(self.state, State::Prelude { .. })
    }

    /// When the connection closes: the pipe this direction holds, if any, and whether it is
    /// empty. The direction is failed afterwards. (A prelude's buffer is the ring's until its
    /// send completes.)
    pub fn take_pipe(&mut self) -> Option<(P, bool)> {
        match std::mem::replace(&mut self.state, State::Failed) {
            State::Moving { pipe, pending } | State::WaitWritable { pipe, pending } => {
                Some((pipe, pending == 0))
            }
            State::Done => {
                self.state = State::Done;
                None
            }
            _ => None,
        }
    }
}

impl<B, P> Direction for SpliceHalf<B, P> {
    fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn delivered(&self) -> u64 {
        self.delivered
    }
}

#[cfg(test)]
mod tests;
