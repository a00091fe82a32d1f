//! TLS termination, sans-IO: bytes in, bytes out, no sockets.
//!
//! # Layout
//!
//! | step | module | what happens there |
//! |---|---|---|
//! | before a session | [`client_hello`] | peek at the ClientHello for SNI routing or pass-through; alerts for refusing a client |
//! | handshake, records | [`session`] | [`TlsSession`]: rustls' unbuffered server connection over the driver's buffers |
//! | after the handshake, both record layers | [`post_handshake`] | what the client may send once encrypted (alerts, KeyUpdate), and the bounds on it, shared by `records` and the kTLS path |
//! | TLS 1.3 records after the handshake | `records` | our own record layer (AEAD keys, KeyUpdate) when the kernel has no TLS: 244 B of Rust heap per session instead of rustls' ~2.3 KiB |
//! | outcome | [`info`] | [`TlsInfo`]: version, cipher, ALPN, SNI, client certificate, as HAProxy spells them |
//! | failure | [`error`] | [`TlsError`]: `Copy`, with the alert sent and a stable access-log keyword; [`TlsErrorKind`] is every TLS termination, the kernel's refusals included |
//! | wire | [`wire`] | record types, alert levels, the KeyUpdate message: defined once for every path |
//!
//! The server configuration ([`rustls::ServerConfig`]) is built by the proxy package, from the config.

pub mod client_hello;
mod encode;
pub mod error;
#[cfg(any(fuzzing, test))]
#[doc(hidden)]
pub mod fuzzing;
pub mod info;
pub mod post_handshake;
mod records;
pub mod session;
pub mod wire;

#[cfg(any(test, feature = "testbed"))]
#[doc(hidden)]
pub mod testbed;
#[cfg(test)]
mod tests;

pub use error::{KernelTlsFailure, SentAlert, TlsError, TlsErrorKind};
pub use info::{CertAlgorithms, ClientCert, KeyAlgorithm, TlsInfo};
pub use records::SecretLog;
pub use session::{KernelHandoff, ReadOutcome, RecordLayer, TlsSession};

/// The most bytes a session lets the driver hold between reads.
///
/// Held bytes are an unfinished record (at most 5 + 16 KiB + 2 KiB expansion, RFC 8446 §5.2)
/// plus, while a handshake message is split across records, the records rustls has joined in
/// place but not finished with. 64 KiB holds a client certificate flight of ~40 KiB (IoT chains
/// are under 8 KiB) plus a partial record. Without a cap a client could make the driver keep up
/// to 64 KiB of handshake message spread over 1-byte records: 6 bytes held per byte, 384 KiB.
pub const MAX_HELD_BYTES: usize = 64 * 1024;
