//! PROXY-in as a stage, sans-IO: the bytes read from a load balancer go in, one read at a
//! time; the header's addresses and the bytes that came after it come out.
//!
//! Two limits, each on its own part of the buffer:
//! - the header: [`MAX_HEADER_BYTES`], enforced by the parser as soon as a v1 line runs past
//!   [`super::V1_MAX_LEN`] without its CRLF or a v2 length field says more than
//!   [`super::V2_MAX_LEN`];
//! - what follows it: the next stage's own limit (the ClientHello or MQTT CONNECT limit),
//!   passed in by the caller. A balancer forwards the client's first flight as soon as it
//!   has it, so the header and a whole ClientHello (1.3-1.8 KiB with a post-quantum key
//!   share) or CONNECT often arrive in one read; they are the client's bytes, not the
//!   header's, and must not count against the header's limit.
//!
//! Until the header is complete everything held is header, so the buffer holds at most
//! [`MAX_HEADER_BYTES`] plus one read.

use std::net::SocketAddr;

use super::{Command, ParseError, Parsed, V2_MAX_LEN, parse};

/// The longest header accepted, in bytes: v1 is at most 107, and the v2 codec caps headers
/// (vendor TLVs included) at this.
pub const MAX_HEADER_BYTES: usize = V2_MAX_LEN;

/// What the stage made of the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// The header is not complete: read more.
    Incomplete,
    /// The header is complete.
    Header {
        /// The client behind the balancer; `None` for a `LOCAL` header (the balancer's own
        /// health check) or an unknown address family: use the socket's peer.
        source: Option<SocketAddr>,
        /// The address the client connected to (the balancer's frontend); `None` as above.
        destination: Option<SocketAddr>,
        /// The bytes after the header, for the next stage: at most its limit.
        rest: Vec<u8>,
    },
}

/// Why the stage refuses the connection. Small and `Copy`: no allocation for a bad peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// Not an acceptable PROXY header (malformed, too long, or none at all).
    Header(ParseError),
    /// The header is fine, but more bytes came after it than the next stage holds: refused
    /// for what the next stage would refuse it for.
    RestTooLong,
}

/// Appends one read to `pending` (the stage's bytes so far, all of them header bytes) and
/// looks for the whole header. On [`Received::Header`] `pending` is left empty; the bytes
/// after the header are in `rest`, which is refused when longer than `rest_limit`.
pub fn receive(
    pending: &mut Vec<u8>,
    read: &[u8],
    rest_limit: usize,
) -> Result<Received, ReceiveError> {
    pending.extend_from_slice(read);
    let (source, destination, consumed) = match parse(pending) {
        Err(error) => return Err(ReceiveError::Header(error)),
        // The parser refuses a too-long header as soon as it knows; this keeps the bound
        // here even if it ever did not.
        Ok(Parsed::Incomplete { .. }) if pending.len() > MAX_HEADER_BYTES => {
            return Err(ReceiveError::Header(ParseError::TooLong));
        }
        Ok(Parsed::Incomplete { .. }) => return Ok(Received::Incomplete),
        Ok(Parsed::Complete { header, consumed }) => match header.command {
            // A LOCAL header carries no client: the spec says to use the connection's real
            // endpoints.
            Command::Local => (None, None, consumed),
            Command::Proxy => (
                header.addresses.source(),
                header.addresses.destination(),
                consumed,
            ),
        },
    };
    if pending.len() - consumed > rest_limit {
        return Err(ReceiveError::RestTooLong);
    }
    pending.drain(..consumed);
    Ok(Received::Header {
        source,
        destination,
        rest: std::mem::take(pending),
    })
}

#[cfg(test)]
mod tests;
