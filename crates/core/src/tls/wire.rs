//! TLS wire constants, defined once for the ClientHello peek, our record layer, the
//! post-handshake rules and the kernel TLS path (RFC 8446 §§4-6, RFC 5246 §6.2).

/// Bytes of a record header: type(1), legacy_record_version(2), length(2).
pub const RECORD_HEADER_BYTES: usize = 5;
/// The largest record plaintext (RFC 8446 §5.1): 2^14.
pub const MAX_RECORD_PLAINTEXT: usize = 16 * 1024;

/// Record content types (RFC 8446 §5.1; 24 is heartbeat, RFC 6520).
pub const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub const CONTENT_ALERT: u8 = 21;
pub const CONTENT_HANDSHAKE: u8 = 22;
pub const CONTENT_APPLICATION_DATA: u8 = 23;
pub const CONTENT_HEARTBEAT: u8 = 24;

/// Alert levels (RFC 8446 §6).
pub const ALERT_LEVEL_WARNING: u8 = 1;
pub const ALERT_LEVEL_FATAL: u8 = 2;
/// close_notify's description (RFC 8446 §6.1).
pub const ALERT_CLOSE_NOTIFY: u8 = 0;

/// Handshake type of KeyUpdate (RFC 8446 §4).
pub const HANDSHAKE_KEY_UPDATE: u8 = 24;
/// A KeyUpdate message: type, 3-byte length (1), `request_update`.
pub const KEY_UPDATE_LEN: usize = 5;
/// Our answer to a requested KeyUpdate, and our own rekey: KeyUpdate(update_not_requested).
pub const KEY_UPDATE_NOT_REQUESTED: [u8; KEY_UPDATE_LEN] = [HANDSHAKE_KEY_UPDATE, 0, 0, 1, 0];
