//! The relay, sans-IO: one [`Half`] per direction moves bytes from a source socket to a
//! destination socket — recv, send everything, recv again — and turns a FIN into a half-close.
//!
//! The driver feeds it completions (what a recv or send returned) and carries out the
//! [`Step`] it answers with. Only one operation per direction is ever in flight, which is the
//! back-pressure: a slow reader stops us reading from the fast writer, and no buffer is held
//! while a direction waits for data.
//!
//! That is the copy relay, through the worker's provided-buffer pool. [`splice`] is the
//! other one: socket → pipe → socket, for connections whose client bytes need no userspace
//! work (plain TCP, TLS pass-through, kernel TLS). Both share [`Both`]: two directions and
//! who finished first.

pub mod splice;

use crate::conn::{Side, Termination};
pub use splice::{SpliceHalf, SpliceStep};

/// Which relay a listener asks for (`relay = "auto" | "splice" | "copy"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayMode {
    /// Chosen per connection by what the measurements favour (see [`RelayMode::resolve`]).
    Auto,
    Splice,
    Copy,
}

/// The relay a connection actually uses (the access log's `relay` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    Splice,
    Copy,
}

impl RelayKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayKind::Splice => "splice",
            RelayKind::Copy => "copy",
        }
    }
}

/// What the client side of a connection carries at the socket, as far as the relay cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBytes {
    /// Plain TCP (`tls = "none"`).
    Plain,
    /// TLS passed through untouched: opaque bytes.
    PassedThrough,
    /// TLS terminated by the kernel (kTLS): plaintext at the socket.
    KernelTls,
    /// TLS terminated by rustls in userspace: every byte goes through userspace anyway.
    UserspaceTls,
}

impl RelayMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RelayMode::Auto => "auto",
            RelayMode::Splice => "splice",
            RelayMode::Copy => "copy",
        }
    }

    /// The relay for one connection. Userspace TLS always copies (the bytes must pass
    /// through rustls). `auto` follows the measurements in perf/README.md ("Relay modes").
    pub fn resolve(self, client: ClientBytes) -> RelayKind {
        match (self, client) {
            (_, ClientBytes::UserspaceTls) => RelayKind::Copy,
            (RelayMode::Splice, _) => RelayKind::Splice,
            (RelayMode::Copy, _) => RelayKind::Copy,
            // Measured (perf/README.md, "Relay modes"): splice takes 0.40–0.44× the proxy
            // CPU per GB of copy on bulk transfers and is level with it (within this host's
            // run-to-run noise) on 64-byte messages, plain and pass-through alike.
            (RelayMode::Auto, ClientBytes::Plain | ClientBytes::PassedThrough) => RelayKind::Splice,
            // Splice on a kTLS socket can only run in the VM test bed, where timings are
            // not performance numbers: until it is measured on a kTLS host, auto keeps the
            // copy path there (`relay = "splice"` asks for it explicitly).
            (RelayMode::Auto, ClientBytes::KernelTls) => RelayKind::Copy,
        }
    }
}

/// What the relay needs to know about a buffer handed over by a recv completion.
pub trait RelayBuf {
    /// Bytes in the buffer.
    fn len(&self) -> u32;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a recv on the source returned.
#[derive(Debug)]
pub enum Received<B> {
    /// Bytes arrived (never an empty buffer).
    Data(B),
    /// The source sent FIN.
    Eof,
    /// The buffer pool was empty; nothing was read.
    NoBuffer,
    /// Bytes arrived that carry nothing to pass on (a TLS control record); read again.
    NoData,
    /// The recv failed with this errno.
    Error(i32),
}

/// What the driver does next for this direction.
#[derive(Debug, PartialEq)]
pub enum Step<B> {
    /// Submit a recv on the source.
    Recv,
    /// Submit a send of `buf` from `offset` to its end on the destination. The ring owns `buf`
    /// until the send's completion hands it back to [`Half::on_send`].
    Send { buf: B, offset: u32 },
    /// The buffer is fully delivered: give it back to the pool, then submit a recv.
    RecycleThenRecv(B),
    /// The source finished: half-close the destination (`shutdown(SHUT_WR)`).
    ShutdownDestination,
    /// The pool was empty: park this direction until a buffer comes back, then [`Half::resume`].
    WaitForBuffer,
    /// The direction failed; close the connection. Carries any buffer it held.
    Fail {
        failed: End,
        errno: i32,
        buf: Option<B>,
    },
}

impl<B> Step<B> {
    /// The buffer this step carries, if any (to give it back when the step is not carried out:
    /// the connection is closing).
    pub fn into_buf(self) -> Option<B> {
        match self {
            Step::Send { buf, .. } | Step::RecycleThenRecv(buf) => Some(buf),
            Step::Fail { buf, .. } => buf,
            Step::Recv | Step::ShutdownDestination | Step::WaitForBuffer => None,
        }
    }
}

/// Which end of a direction an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Source,
    Destination,
}

#[derive(Debug, Default)]
enum HalfState {
    /// Nothing in flight: not started yet, or parked waiting for a buffer.
    #[default]
    Idle,
    /// A recv is in flight on the source.
    Receiving,
    /// A send of bytes `sent..len` of a buffer is in flight on the destination; the ring
    /// holds the buffer.
    Sending { len: u32, sent: u32 },
    /// FIN received and passed on; nothing more will happen in this direction.
    Done,
    /// Failed; the connection is closing.
    Failed,
}

/// One direction of a relayed connection.
#[derive(Debug, Default)]
pub struct Half<B> {
    state: HalfState,
    /// The buffers' type: they pass through this half without being kept.
    _buf: std::marker::PhantomData<fn(B) -> B>,
    /// Bytes delivered to the destination (acknowledged by send completions).
    delivered: u64,
}

impl<B: RelayBuf> Half<B> {
    pub fn new() -> Self {
        Half {
            state: HalfState::Idle,
            _buf: std::marker::PhantomData,
            delivered: 0,
        }
    }

    /// Starts (or, after [`Step::WaitForBuffer`], resumes) reading. Only valid when idle.
    pub fn resume(&mut self) -> Step<B> {
        debug_assert!(matches!(self.state, HalfState::Idle));
        self.state = HalfState::Receiving;
        Step::Recv
    }

    /// Starts with bytes to send before anything is read (the prelude: a PROXY header, a
    /// replayed ClientHello, early data). Only valid when idle; `buf` must not be empty.
    pub fn start_with(&mut self, buf: B) -> Step<B> {
        debug_assert!(matches!(self.state, HalfState::Idle) && buf.len() > 0);
        self.state = HalfState::Sending {
            len: buf.len(),
            sent: 0,
        };
        Step::Send { buf, offset: 0 }
    }

    pub fn on_recv(&mut self, received: Received<B>) -> Step<B> {
        debug_assert!(matches!(self.state, HalfState::Receiving));
        match received {
            Received::Data(buf) => {
                debug_assert!(buf.len() > 0);
                self.state = HalfState::Sending {
                    len: buf.len(),
                    sent: 0,
                };
                Step::Send { buf, offset: 0 }
            }
            Received::Eof => {
                self.state = HalfState::Done;
                Step::ShutdownDestination
            }
            Received::NoBuffer => {
                self.state = HalfState::Idle;
                Step::WaitForBuffer
            }
            Received::NoData => Step::Recv,
            Received::Error(errno) => {
                self.state = HalfState::Failed;
                Step::Fail {
                    failed: End::Source,
                    errno,
                    buf: None,
                }
            }
        }
    }

    /// `result` is the send's CQE result: bytes written, or a negative errno; `buf` is the
    /// buffer the ring gave back with it.
    pub fn on_send(&mut self, result: i32, buf: B) -> Step<B> {
        let HalfState::Sending { len, sent } = std::mem::take(&mut self.state) else {
            debug_assert!(false, "send completion without a send in flight");
            self.state = HalfState::Failed;
            return Step::Fail {
                failed: End::Destination,
                errno: libc::EINVAL,
                buf: Some(buf),
            };
        };
        if result <= 0 {
            // A zero-byte send of a non-empty buffer cannot happen on a stream socket; treat
            // it as the destination going away rather than looping on it.
            let errno = if result == 0 { libc::EPIPE } else { -result };
            self.state = HalfState::Failed;
            return Step::Fail {
                failed: End::Destination,
                errno,
                buf: Some(buf),
            };
        }
        let sent = sent + result as u32;
        self.delivered += result as u64;
        if sent < len {
            self.state = HalfState::Sending { len, sent };
            Step::Send { buf, offset: sent }
        } else {
            self.state = HalfState::Receiving;
            Step::RecycleThenRecv(buf)
        }
    }

    /// Whether a send of this direction is in flight.
    pub fn is_sending(&self) -> bool {
        matches!(self.state, HalfState::Sending { .. })
    }

    pub fn is_idle(&self) -> bool {
        matches!(self.state, HalfState::Idle)
    }
}

/// What [`Both`] needs of a direction.
pub trait Direction {
    /// FIN received and passed on.
    fn is_done(&self) -> bool;
    /// Bytes delivered to the destination.
    fn delivered(&self) -> u64;
}

impl<B> Direction for Half<B> {
    fn is_done(&self) -> bool {
        matches!(self.state, HalfState::Done)
    }

    fn delivered(&self) -> u64 {
        self.delivered
    }
}

/// Both directions, and who finished first.
#[derive(Debug)]
pub struct Both<H> {
    /// Client → server.
    pub upstream: H,
    /// Server → client.
    pub downstream: H,
    first_fin: Option<Side>,
}

/// The copy relay of a connection.
pub type Relay<B> = Both<Half<B>>;
/// The splice relay of a connection.
pub type SpliceRelay<B, P> = Both<SpliceHalf<B, P>>;

impl<B: RelayBuf> Default for Relay<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B: RelayBuf> Relay<B> {
    pub fn new() -> Self {
        Both::of(Half::new(), Half::new())
    }
}

impl<B: RelayBuf, P: splice::PipeCapacity> SpliceRelay<B, P> {
    pub fn new() -> Self {
        Both::of(SpliceHalf::new(), SpliceHalf::new())
    }
}

impl<H: Direction> Both<H> {
    fn of(upstream: H, downstream: H) -> Self {
        Both {
            upstream,
            downstream,
            first_fin: None,
        }
    }

    /// The half that reads from `source`.
    pub fn half_from(&mut self, source: Side) -> &mut H {
        match source {
            Side::Client => &mut self.upstream,
            Side::Server => &mut self.downstream,
        }
    }

    /// Records that `source` sent FIN; returns the termination if both directions are now done.
    pub fn on_fin(&mut self, source: Side) -> Option<Termination> {
        self.first_fin.get_or_insert(source);
        if self.upstream.is_done() && self.downstream.is_done() {
            Some(match self.first_fin {
                Some(Side::Server) => Termination::ServerClosed,
                _ => Termination::ClientClosed,
            })
        } else {
            None
        }
    }

    /// Client→server and server→client bytes delivered.
    pub fn bytes(&self) -> (u64, u64) {
        (self.upstream.delivered(), self.downstream.delivered())
    }
}

/// The termination for a failed operation on `side`'s socket.
pub fn failure_termination(side: Side, errno: i32) -> Termination {
    match errno {
        libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED => Termination::Reset(side),
        libc::ETIMEDOUT | libc::EHOSTUNREACH | libc::ENETUNREACH => Termination::Unreachable(side),
        _ => Termination::Io(side),
    }
}

/// Maps a failure in the half reading from `source` to the side whose socket failed.
pub fn failed_side(source: Side, end: End) -> Side {
    match end {
        End::Source => source,
        End::Destination => source.other(),
    }
}

#[cfg(test)]
mod tests;
