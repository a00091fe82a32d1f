//! A look at the ClientHello before any TLS session exists: for SNI routing, and for SNI
//! pass-through where the bytes are replayed unchanged to a backend that terminates TLS.
//!
//! The parsing is rustls' ([`rustls::server::Acceptor`]), which validates the hello the way the
//! session will later (SNI lowercased and checked as a DNS name, duplicate extensions
//! rejected, ...). `peek` never consumes: call it with everything received so far until it
//! returns [`Peek::Hello`], then either start a [`super::TlsSession`] and `read` the same bytes,
//! or forward them.
//!
//! `peek` re-parses from the start on each call. The input is capped at
//! [`MAX_CLIENT_HELLO_BYTES`], so the worst case (a hello arriving a byte per segment) is
//! bounded, and real hellos arrive in one segment.

use rustls::AlertDescription;
use rustls::server::Acceptor;

/// TLS record header: content type (1), legacy version (2), length (2).
const RECORD_HEADER_BYTES: usize = 5;

/// Handshake message header: type (1), length (3).
const HANDSHAKE_HEADER_BYTES: usize = 4;

/// The most bytes `peek` looks at for a complete ClientHello, headers included.
///
/// One full record (16 KiB of payload, RFC 8446 §5.1). Real hellos are far smaller: ~250 bytes
/// classic, ~1.3-1.8 KiB with a post-quantum key share (X25519MLKEM768 alone is 1216 bytes).
/// A hello split over several records still has to fit.
pub const MAX_CLIENT_HELLO_BYTES: usize = RECORD_HEADER_BYTES + 16 * 1024;

/// The TLS record content type of handshake messages.
const CONTENT_TYPE_HANDSHAKE: u8 = 22;

/// The lowest `legacy_version` we accept in a ClientHello: TLS 1.2.
///
/// A TLS 1.3 client also writes 0x0303 there (its real versions are in an extension,
/// RFC 8446 §4.1.2), so anything lower is a client whose best is TLS 1.1 or older. The
/// *record* version may be lower (clients write 0x0301 for compatibility) and is not checked.
const MIN_HELLO_VERSION: u16 = 0x0303;

/// The result of looking at the first bytes of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek {
    /// So far a valid start of a ClientHello; call again with more bytes.
    Incomplete,
    /// A complete, valid ClientHello.
    Hello(HelloInfo),
}

/// What routing needs from a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloInfo {
    /// The server name, lowercased by rustls; None if absent (or an IP address, which
    /// RFC 6066 §3 forbids there and rustls ignores).
    pub sni: Option<Box<str>>,
    /// The ALPN protocols offered, in the client's order; empty if none.
    pub alpn: Vec<Box<[u8]>>,
}

/// Why the first bytes are not a ClientHello we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    /// The first byte is not a TLS handshake record: plain text (an MQTT CONNECT starts
    /// 0x10) on a TLS port, or something else entirely.
    #[error("not TLS: first byte is not a handshake record")]
    NotTls,
    /// No complete ClientHello within [`MAX_CLIENT_HELLO_BYTES`].
    #[error("ClientHello larger than {MAX_CLIENT_HELLO_BYTES} bytes")]
    TooLarge,
    /// A handshake record that rustls rejects as a ClientHello.
    #[error("invalid ClientHello")]
    Invalid,
    /// An SSLv2-format hello, or a hello whose best version is below TLS 1.2.
    #[error("ClientHello offers no version from TLS 1.2 up")]
    UnsupportedVersion,
}

impl HelloError {
    /// A stable keyword for the access log.
    pub fn keyword(&self) -> &'static str {
        match self {
            HelloError::NotTls => "tls_not_tls",
            HelloError::TooLarge => "tls_hello_too_large",
            HelloError::Invalid => "tls_bad_hello",
            HelloError::UnsupportedVersion => "tls_unsupported_version",
        }
    }

    /// The alert to send (with [`alert_record`]) before closing; None for plain text, which
    /// would not understand one.
    pub fn alert(&self) -> Option<AlertDescription> {
        match self {
            HelloError::NotTls => None,
            HelloError::TooLarge => Some(AlertDescription::HandshakeFailure),
            HelloError::Invalid => Some(AlertDescription::DecodeError),
            HelloError::UnsupportedVersion => Some(AlertDescription::ProtocolVersion),
        }
    }
}

/// Looks for a complete ClientHello at the start of `bytes` (everything received so far).
///
/// Bytes after the hello are ignored. Never panics; the work is bounded by
/// [`MAX_CLIENT_HELLO_BYTES`].
pub fn peek(bytes: &[u8]) -> Result<Peek, HelloError> {
    match bytes {
        [] => return Ok(Peek::Incomplete),
        [CONTENT_TYPE_HANDSHAKE, ..] => {}
        _ if is_sslv2_hello(bytes) => return Err(HelloError::UnsupportedVersion),
        _ => return Err(HelloError::NotTls),
    }
    let window = &bytes[..bytes.len().min(MAX_CLIENT_HELLO_BYTES)];
    let mut acceptor = Acceptor::default();
    let mut rest = window;
    while !rest.is_empty() {
        // Reading from a slice cannot fail for I/O reasons; rustls errors here mean its
        // buffer is full, i.e. more than a handshake message's worth: too large.
        match acceptor.read_tls(&mut rest) {
            Ok(0) | Err(_) => return Err(HelloError::TooLarge),
            Ok(_) => {}
        }
    }
    match acceptor.accept() {
        Ok(None) if window.len() == MAX_CLIENT_HELLO_BYTES => Err(HelloError::TooLarge),
        Ok(None) => Ok(Peek::Incomplete),
        Err(_) => Err(HelloError::Invalid),
        Ok(Some(accepted)) => {
            if hello_legacy_version(window).is_none_or(|v| v < MIN_HELLO_VERSION) {
                return Err(HelloError::UnsupportedVersion);
            }
            let hello = accepted.client_hello();
            Ok(Peek::Hello(HelloInfo {
                sni: hello.server_name().map(Box::from),
                alpn: hello
                    .alpn()
                    .map(|protocols| protocols.map(Box::from).collect())
                    .unwrap_or_default(),
            }))
        }
    }
}

/// An SSLv2-format ClientHello (what SSLv2 and some SSLv3-era clients send): a 2-byte length
/// with the high bit set, then message type 1 (draft-hickman-netscape-ssl-00, RFC 6101 E.1).
fn is_sslv2_hello(bytes: &[u8]) -> bool {
    matches!(bytes, [len_hi, _, 1, ..] if len_hi & 0x80 != 0)
}

/// The ClientHello's `legacy_version`, reading through record headers (a hello may be split
/// into records of any size, even 1 byte). Only called on bytes rustls accepted.
fn hello_legacy_version(bytes: &[u8]) -> Option<u16> {
    // The version follows the handshake header.
    const WANTED: usize = HANDSHAKE_HEADER_BYTES + 2;
    let mut prefix = [0u8; WANTED];
    let mut have = 0;
    let mut rest = bytes;
    while have < WANTED {
        let (header, after) = rest.split_at_checked(RECORD_HEADER_BYTES)?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let (payload, after) = after.split_at_checked(len)?;
        let take = payload.len().min(WANTED - have);
        prefix[have..have + take].copy_from_slice(&payload[..take]);
        have += take;
        rest = after;
    }
    Some(u16::from_be_bytes([prefix[4], prefix[5]]))
}

/// A fatal alert record in the clear, for refusing a client before any session exists
/// (unknown SNI: `UnrecognisedName`; old client: `ProtocolVersion`; ...).
///
/// Record version 0x0303 as RFC 8446 §5.1 asks of everything but an initial ClientHello;
/// TLS 1.2 clients accept it too.
pub fn alert_record(desc: AlertDescription) -> [u8; 7] {
    const CONTENT_TYPE_ALERT: u8 = 21;
    const LEVEL_FATAL: u8 = 2;
    [CONTENT_TYPE_ALERT, 3, 3, 0, 2, LEVEL_FATAL, u8::from(desc)]
}
