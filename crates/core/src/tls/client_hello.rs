//! A look at the ClientHello before any TLS session exists: for SNI routing, and for SNI
//! pass-through where the bytes are replayed unchanged to a backend that terminates TLS.
//!
//! The parsing is rustls' ([`rustls::server::Acceptor`]), which validates the hello the way the
//! session will later (SNI lowercased and checked as a DNS name, duplicate extensions
//! rejected, ...). `peek` never consumes: call it with everything received so far until it
//! returns [`Peek::Hello`], then either start a [`super::TlsSession`] and `read` the same bytes,
//! or forward them.
//!
//! `peek` starts over on each call, but only hands the bytes to rustls once the record framing
//! says the whole hello is there, so a hello arriving a byte per segment is parsed once. The
//! input is capped at [`MAX_CLIENT_HELLO_BYTES`].

use rustls::AlertDescription;
use rustls::server::Acceptor;

use super::TlsErrorKind;
use super::wire::{ALERT_LEVEL_FATAL, CONTENT_ALERT, CONTENT_HANDSHAKE, RECORD_HEADER_BYTES};

/// Handshake message header: type (1), length (3).
const HANDSHAKE_HEADER_BYTES: usize = 4;

/// The most bytes `peek` looks at for a complete ClientHello, headers included.
///
/// One full record (16 KiB of payload, RFC 8446 §5.1). Real hellos are far smaller: ~250 bytes
/// classic, ~1.3-1.8 KiB with a post-quantum key share (X25519MLKEM768 alone is 1216 bytes).
/// A hello split over several records still has to fit.
pub const MAX_CLIENT_HELLO_BYTES: usize = RECORD_HEADER_BYTES + 16 * 1024;

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
        self.kind().keyword()
    }

    /// The termination this is.
    pub fn kind(&self) -> TlsErrorKind {
        match self {
            HelloError::NotTls => TlsErrorKind::NotTls,
            HelloError::TooLarge => TlsErrorKind::HelloTooLarge,
            HelloError::Invalid => TlsErrorKind::BadHello,
            HelloError::UnsupportedVersion => TlsErrorKind::UnsupportedVersion,
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
        [CONTENT_HANDSHAKE, ..] => {}
        _ if is_sslv2_hello(bytes) => return Err(HelloError::UnsupportedVersion),
        _ => return Err(HelloError::NotTls),
    }
    let window = &bytes[..bytes.len().min(MAX_CLIENT_HELLO_BYTES)];
    // Cheap framing first, so a hello trickling in a byte per segment is parsed once, not
    // once per segment.
    let framing = HandshakeFraming::of(window);
    match framing.announced_len() {
        None => return incomplete_or_too_large(window),
        Some(len)
            if len + HANDSHAKE_HEADER_BYTES + RECORD_HEADER_BYTES > MAX_CLIENT_HELLO_BYTES =>
        {
            return Err(HelloError::TooLarge);
        }
        Some(len) if !framing.other_record && framing.payload < len + HANDSHAKE_HEADER_BYTES => {
            return incomplete_or_too_large(window);
        }
        Some(_) => {}
    }
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
        Ok(None) => incomplete_or_too_large(window),
        Err(_) => Err(HelloError::Invalid),
        Ok(Some(accepted)) => {
            if framing
                .legacy_version()
                .is_none_or(|v| v < MIN_HELLO_VERSION)
            {
                return Err(HelloError::UnsupportedVersion);
            }
            let hello = accepted.client_hello();
            Ok(Peek::Hello(HelloInfo {
                sni: hello.server_name().map(Box::from),
            }))
        }
    }
}

fn incomplete_or_too_large(window: &[u8]) -> Result<Peek, HelloError> {
    if window.len() == MAX_CLIENT_HELLO_BYTES {
        Err(HelloError::TooLarge)
    } else {
        Ok(Peek::Incomplete)
    }
}

/// An SSLv2-format ClientHello (what SSLv2 and some SSLv3-era clients send): a 2-byte length
/// with the high bit set, then message type 1 (draft-hickman-netscape-ssl-00, RFC 6101 E.1).
fn is_sslv2_hello(bytes: &[u8]) -> bool {
    matches!(bytes, [len_hi, _, 1, ..] if len_hi & 0x80 != 0)
}

/// Record framing of the handshake records at the start of the input: how much handshake
/// payload they carry, and its first bytes (a hello may be cut into records of any size,
/// even 1 byte, so its header can span several).
struct HandshakeFraming {
    /// The first payload bytes: handshake header (type, u24 length), then `legacy_version`.
    prefix: [u8; HANDSHAKE_HEADER_BYTES + 2],
    /// How many of `prefix` are filled.
    prefix_len: usize,
    /// Payload bytes in the complete handshake records at the start.
    payload: usize,
    /// A complete record of another type follows them: rustls must judge.
    other_record: bool,
}

impl HandshakeFraming {
    fn of(bytes: &[u8]) -> HandshakeFraming {
        let mut framing = HandshakeFraming {
            prefix: [0; HANDSHAKE_HEADER_BYTES + 2],
            prefix_len: 0,
            payload: 0,
            other_record: false,
        };
        let mut rest = bytes;
        while let Some((header, after)) = rest.split_at_checked(RECORD_HEADER_BYTES) {
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let Some((payload, after)) = after.split_at_checked(len) else {
                break;
            };
            if header[0] != CONTENT_HANDSHAKE {
                framing.other_record = true;
                break;
            }
            let take = payload.len().min(framing.prefix.len() - framing.prefix_len);
            framing.prefix[framing.prefix_len..framing.prefix_len + take]
                .copy_from_slice(&payload[..take]);
            framing.prefix_len += take;
            framing.payload += len;
            rest = after;
        }
        framing
    }

    /// The handshake message length its header announces, once the header is in.
    fn announced_len(&self) -> Option<usize> {
        let [_, a, b, c, ..] = self.prefix;
        (self.prefix_len >= HANDSHAKE_HEADER_BYTES)
            .then(|| usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c))
    }

    /// The ClientHello's `legacy_version`.
    fn legacy_version(&self) -> Option<u16> {
        let [.., hi, lo] = self.prefix;
        (self.prefix_len == self.prefix.len()).then(|| u16::from_be_bytes([hi, lo]))
    }
}

/// A fatal alert record in the clear, for refusing a client before any session exists
/// (unknown SNI: `UnrecognisedName`; old client: `ProtocolVersion`; ...).
///
/// Record version 0x0303 as RFC 8446 §5.1 asks of everything but an initial ClientHello;
/// TLS 1.2 clients accept it too.
pub fn alert_record(desc: AlertDescription) -> [u8; 7] {
    [CONTENT_ALERT, 3, 3, 0, 2, ALERT_LEVEL_FATAL, u8::from(desc)]
}
