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
mod tests {
    use std::sync::Arc;

    use rustls::pki_types::ServerName;
    use rustls::version::{TLS12, TLS13};

    use super::*;
    use crate::proxy_protocol::{Addresses, V2Writer};
    use crate::tls::client_hello::{MAX_CLIENT_HELLO_BYTES, Peek, peek};
    use crate::tls::testbed::client_config;

    fn source() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 7], 40000))
    }

    fn destination() -> SocketAddr {
        SocketAddr::from(([198, 51, 100, 1], 8883))
    }

    /// A v2 PROXY header for [`source`] → [`destination`], padded with a vendor TLV to
    /// `len` bytes in all.
    fn v2_header(len: usize) -> Vec<u8> {
        let mut out = vec![0u8; V2_MAX_LEN];
        let addresses = Addresses::from_pair(source(), destination());
        let mut w = V2Writer::new(&mut out, Command::Proxy, &addresses).unwrap();
        // 16 fixed + 12 addresses + a TLV's 3-byte type and length.
        let vendor = vec![0x5a; len - 16 - 12 - 3];
        w.tlv(0xEA, &vendor).unwrap();
        let n = w.finish().unwrap();
        out.truncate(n);
        assert_eq!(out.len(), len);
        out
    }

    /// The first flight of a rustls client: TLS 1.3 with an X25519MLKEM768 key share (rustls'
    /// default with aws-lc-rs), about 1.4 KiB.
    fn post_quantum_hello() -> Vec<u8> {
        let config = client_config(&[&TLS13, &TLS12], None, None);
        let name = ServerName::try_from("mqtt.example.com").unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        wire
    }

    fn expect_header(result: Result<Received, ReceiveError>) -> (Option<SocketAddr>, Vec<u8>) {
        match result {
            Ok(Received::Header { source, rest, .. }) => (source, rest),
            other => panic!("expected a complete header, got {other:?}"),
        }
    }

    /// Finding 8 of issue 11: the stage capped the header and what followed it together at
    /// 2048 bytes.
    #[test]
    fn header_and_1_5_kib_after_it_in_one_read_regression() {
        let after: Vec<u8> = (0..1536).map(|i| i as u8).collect();
        for header in [v2_header(28 + 3 + 64), v2_header(MAX_HEADER_BYTES)] {
            let mut read = header.clone();
            read.extend_from_slice(&after);
            let mut pending = Vec::new();
            let (from, rest) = expect_header(receive(&mut pending, &read, MAX_CLIENT_HELLO_BYTES));
            assert_eq!(from, Some(source()), "{} byte header", header.len());
            assert_eq!(rest, after, "{} byte header", header.len());
            assert!(pending.is_empty());
        }
    }

    #[test]
    fn a_post_quantum_client_hello_with_the_header_reaches_the_next_stage_whole() {
        let hello = post_quantum_hello();
        assert!(
            hello.len() > 1216,
            "no ML-KEM key share? {} bytes",
            hello.len()
        );
        let v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 8883\r\n".to_vec();
        for header in [v1, v2_header(MAX_HEADER_BYTES)] {
            let read = [&header[..], &hello[..]].concat();
            let (from, rest) =
                expect_header(receive(&mut Vec::new(), &read, MAX_CLIENT_HELLO_BYTES));
            assert_eq!(from, Some(source()));
            assert!(matches!(peek(&rest), Ok(Peek::Hello(_))), "{rest:02x?}");
        }
    }

    #[test]
    fn header_over_several_reads_then_the_rest() {
        let header = v2_header(600);
        let read = [&header[..], b"CONNECT"].concat();
        let mut pending = Vec::new();
        for chunk in read[..599].chunks(100) {
            assert_eq!(receive(&mut pending, chunk, 16), Ok(Received::Incomplete));
        }
        let (_, rest) = expect_header(receive(&mut pending, &read[599..], 16));
        assert_eq!(rest, b"CONNECT");
    }

    #[test]
    fn what_follows_the_header_is_capped_by_the_next_stage() {
        let header = v2_header(64);
        let read = [&header[..], &[0x16; 100][..]].concat();
        let (_, rest) = expect_header(receive(&mut Vec::new(), &read, 100));
        assert_eq!(rest.len(), 100);
        assert_eq!(
            receive(&mut Vec::new(), &read, 99),
            Err(ReceiveError::RestTooLong)
        );
        // Nothing after the header is fine too (a client that waits for the server).
        let (_, rest) = expect_header(receive(&mut Vec::new(), &header, 0));
        assert!(rest.is_empty());
    }

    #[test]
    fn the_header_itself_stays_capped() {
        // A v2 length past the cap is refused from the 16 bytes that carry it.
        let mut long = v2_header(64);
        long[14..16].copy_from_slice(&(MAX_HEADER_BYTES as u16 - 15).to_be_bytes());
        assert_eq!(
            receive(&mut Vec::new(), &long[..16], usize::MAX),
            Err(ReceiveError::Header(ParseError::TooLong))
        );
        // A v1 line without its CRLF, however much follows.
        let mut v1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 8883".to_vec();
        v1.resize(4096, b' ');
        assert!(matches!(
            receive(&mut Vec::new(), &v1, usize::MAX),
            Err(ReceiveError::Header(_))
        ));
        assert_eq!(
            receive(&mut Vec::new(), &[0x16, 0x03, 0x01], usize::MAX),
            Err(ReceiveError::Header(ParseError::NotProxyProtocol))
        );
    }

    #[test]
    fn a_local_header_names_no_client() {
        let mut out = [0u8; 16];
        let n = V2Writer::new(&mut out, Command::Local, &Addresses::Unspec)
            .and_then(|w| w.finish())
            .unwrap();
        let read = [&out[..n], b"x"].concat();
        match receive(&mut Vec::new(), &read, 1) {
            Ok(Received::Header {
                source,
                destination,
                rest,
            }) => assert_eq!((source, destination, &rest[..]), (None, None, &b"x"[..])),
            other => panic!("{other:?}"),
        }
    }
}
