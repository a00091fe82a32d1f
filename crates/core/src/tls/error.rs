//! Typed TLS errors with a stable keyword for the access log.
//!
//! rustls reports failures as [`rustls::Error`], which owns `String`s and `Vec`s. The hot path
//! must not allocate to report an error (STYLE.md habit 7), so [`TlsError`] is `Copy`: the
//! rustls error is classified once into a [`TlsErrorKind`] and dropped.

use rustls::AlertDescription;
use rustls::{CertificateError, Error as RustlsError, PeerIncompatible, PeerMisbehaved};

use super::wire::CONTENT_ALERT;

/// Why a TLS session failed, and what it wrote to the client about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} ({alert})")]
pub struct TlsError {
    /// What happened.
    pub kind: TlsErrorKind,
    /// The fatal alert that was appended to `outgoing`, if any. The driver sends `outgoing`
    /// before it closes, so the client learns why.
    pub alert: SentAlert,
}

impl TlsError {
    /// An error of our own making (driver misuse, limits): no alert goes out.
    pub const fn local(kind: TlsErrorKind) -> Self {
        TlsError {
            kind,
            alert: SentAlert::None,
        }
    }

    /// The stable keyword for the access log's termination cause.
    pub fn keyword(&self) -> &'static str {
        self.kind.keyword()
    }
}

/// The alert record, if any, that a failed call left in `outgoing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentAlert {
    /// No alert was written (the peer sent one, or the error is ours).
    None,
    /// This alert was written. Read from the record when it went out in the clear, otherwise
    /// inferred from the error where rustls always pairs the two.
    Known(AlertDescription),
    /// An encrypted alert was written and rustls pairs this error with more than one alert.
    Encrypted,
}

impl std::fmt::Display for SentAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SentAlert::None => f.write_str("no alert sent"),
            SentAlert::Known(desc) => write!(f, "sent alert {desc:?}"),
            SentAlert::Encrypted => f.write_str("sent an encrypted alert"),
        }
    }
}

/// What the kernel refused, when a session is handed to kTLS or rekeyed there (the proxy's
/// `sys::ktls` errors, without their `io::Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KernelTlsFailure {
    /// kTLS does TLS 1.2 and 1.3 only.
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    /// A cipher the kernel cannot take.
    #[error("unsupported cipher")]
    UnsupportedCipher,
    /// `setsockopt(TCP_ULP, "tls")` failed.
    #[error("attaching the tls ULP failed")]
    Ulp,
    /// Installing the transmit key failed.
    #[error("installing the transmit key failed")]
    Tx,
    /// Installing the receive key failed.
    #[error("installing the receive key failed")]
    Rx,
    /// The kernel cannot take a new key (Linux before 6.14).
    #[error("rekeying is unsupported")]
    RekeyUnsupported,
}

impl KernelTlsFailure {
    /// A stable keyword for logs (`offload_fallback=...`, close causes).
    pub const fn keyword(self) -> &'static str {
        match self {
            KernelTlsFailure::UnsupportedVersion => "ktls_unsupported_version",
            KernelTlsFailure::UnsupportedCipher => "ktls_unsupported_cipher",
            KernelTlsFailure::Ulp => "ktls_ulp_failed",
            KernelTlsFailure::Tx => "ktls_tx_failed",
            KernelTlsFailure::Rx => "ktls_rx_failed",
            KernelTlsFailure::RekeyUnsupported => "ktls_rekey_unsupported",
        }
    }
}

/// What went wrong, coarse enough to be a log keyword, fine enough to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsErrorKind {
    // ---- the client's fault or incompatibility ----
    /// A record or handshake message that does not parse, or a record over the size limit.
    #[error("malformed TLS record or message")]
    BadRecord,
    /// A well-formed message at the wrong time.
    #[error("unexpected TLS message")]
    UnexpectedMessage,
    /// A record failed authentication (wrong key, corrupted, or forged).
    #[error("TLS record failed to decrypt")]
    DecryptError,
    /// The client offers no protocol version we enable (e.g. only TLS 1.0/1.1).
    #[error("client offers no TLS version we support")]
    UnsupportedVersion,
    /// No cipher suite in common.
    #[error("no cipher suite in common with the client")]
    NoCommonCipher,
    /// No key-exchange group in common.
    #[error("no key exchange group in common with the client")]
    NoCommonGroup,
    /// No signature scheme in common (for our certificate or the client's).
    #[error("no signature scheme in common with the client")]
    NoCommonSignatureScheme,
    /// The client offered ALPN protocols and none is ours.
    #[error("no ALPN protocol in common with the client")]
    NoCommonAlpn,
    /// No certificate for the server name the client asked for (the resolver gave none).
    #[error("no server certificate for the requested name")]
    NoServerCert,
    /// Client authentication is required and the client sent no certificate.
    #[error("client sent no certificate")]
    NoClientCert,
    /// The client's certificate did not verify (unknown CA, expired, wrong usage, ...).
    #[error("client certificate rejected")]
    BadClientCert,
    /// The client sent a fatal alert.
    #[error("client sent alert {0:?}")]
    PeerAlert(AlertDescription),
    /// Anything else rustls calls misbehaviour (see rustls' `PeerMisbehaved`).
    #[error("client violated the TLS protocol")]
    PeerMisbehaved,
    /// Anything else rustls calls incompatibility (see rustls' `PeerIncompatible`).
    #[error("client is incompatible with our TLS configuration")]
    PeerIncompatible,
    /// More KeyUpdates between two application-data records than
    /// [`super::post_handshake::MAX_KEY_UPDATES_WITHOUT_DATA`].
    #[error("client sent too many KeyUpdates without data")]
    TooManyKeyUpdates,
    /// More warning alerts than [`super::post_handshake::MAX_WARNING_ALERTS`].
    #[error("client sent too many warning alerts")]
    TooManyWarningAlerts,
    /// More empty application-data records in a row than
    /// [`super::post_handshake::MAX_EMPTY_RECORDS`].
    #[error("client sent too many empty records")]
    TooManyEmptyRecords,
    /// A TLS 1.2 client asked to renegotiate; we refuse (`no_renegotiation`) and close.
    #[error("client asked to renegotiate")]
    RenegotiationRefused,
    /// The client left more unfinished bytes than [`super::MAX_HELD_BYTES`].
    #[error("client left too many bytes of unfinished records")]
    TooMuchHeld,
    /// A rustls failure during the handshake that fits none of the above.
    #[error("TLS handshake failed")]
    HandshakeFailed,
    /// A rustls failure after the handshake that fits none of the above.
    #[error("TLS protocol error")]
    ProtocolError,
    /// The first bytes are not a TLS record (plain text on a TLS port, most often).
    #[error("not TLS")]
    NotTls,
    /// The ClientHello is larger than we read before routing.
    #[error("ClientHello too large")]
    HelloTooLarge,
    /// The ClientHello does not parse.
    #[error("malformed ClientHello")]
    BadHello,
    /// The client's handshake flight is larger than we hold.
    #[error("TLS handshake too large")]
    HandshakeTooLarge,
    /// A TLS 1.3 key was used for the most records it may protect and the session could not
    /// move to the next one.
    #[error("TLS key usage limit reached")]
    KeyLimit,
    /// The kernel refused the session or a new key for it.
    #[error("kernel TLS: {0}")]
    Kernel(KernelTlsFailure),

    // ---- the driver's misuse, our config, our own limits ----
    /// rustls refused the server config when creating a session.
    #[error("TLS server config rejected")]
    Config,
    /// `write` or `close_notify` before the handshake completed.
    #[error("TLS session is still handshaking")]
    NotReady,
    /// `write` after `close_notify` was sent.
    #[error("TLS session is closed for writing")]
    Closed,
    /// The held bytes presented are not the ones the last `read` left unconsumed.
    #[error("held bytes do not match what the last read left")]
    HeldBytesMismatch,
    /// Conditions for kernel TLS are not met (secret extraction off, still handshaking,
    /// bytes held) or rustls refused.
    #[error("cannot hand the TLS session to the kernel")]
    KernelHandoff,
    /// A broken invariant in this module or in rustls; never the peer's doing.
    #[error("internal TLS error")]
    Internal,
}

impl TlsErrorKind {
    /// A stable keyword for the access log. Operators grep these: never rename one.
    pub fn keyword(&self) -> &'static str {
        match self {
            TlsErrorKind::BadRecord => "tls_bad_record",
            TlsErrorKind::UnexpectedMessage => "tls_unexpected_message",
            TlsErrorKind::DecryptError => "tls_decrypt_error",
            TlsErrorKind::UnsupportedVersion => "tls_unsupported_version",
            TlsErrorKind::NoCommonCipher => "tls_no_common_cipher",
            TlsErrorKind::NoCommonGroup => "tls_no_common_group",
            TlsErrorKind::NoCommonSignatureScheme => "tls_no_common_sigalg",
            TlsErrorKind::NoCommonAlpn => "tls_no_common_alpn",
            TlsErrorKind::NoServerCert => "tls_no_server_cert",
            TlsErrorKind::NoClientCert => "tls_no_client_cert",
            TlsErrorKind::BadClientCert => "tls_bad_client_cert",
            TlsErrorKind::PeerAlert(_) => "tls_peer_alert",
            TlsErrorKind::PeerMisbehaved => "tls_peer_misbehaved",
            TlsErrorKind::PeerIncompatible => "tls_peer_incompatible",
            TlsErrorKind::TooManyKeyUpdates => "tls_too_many_key_updates",
            TlsErrorKind::TooManyWarningAlerts => "tls_too_many_warning_alerts",
            TlsErrorKind::TooManyEmptyRecords => "tls_too_many_empty_records",
            TlsErrorKind::RenegotiationRefused => "tls_renegotiation_refused",
            TlsErrorKind::TooMuchHeld => "tls_too_much_held",
            TlsErrorKind::HandshakeFailed => "tls_handshake_failed",
            TlsErrorKind::ProtocolError => "tls_protocol_error",
            TlsErrorKind::NotTls => "tls_not_tls",
            TlsErrorKind::HelloTooLarge => "tls_hello_too_large",
            TlsErrorKind::BadHello => "tls_bad_hello",
            TlsErrorKind::HandshakeTooLarge => "tls_handshake_too_large",
            TlsErrorKind::KeyLimit => "tls_key_limit",
            TlsErrorKind::Kernel(failure) => failure.keyword(),
            TlsErrorKind::Config => "tls_config",
            TlsErrorKind::NotReady => "tls_not_ready",
            TlsErrorKind::Closed => "tls_closed",
            TlsErrorKind::HeldBytesMismatch => "tls_held_bytes_mismatch",
            TlsErrorKind::KernelHandoff => "tls_kernel_handoff",
            TlsErrorKind::Internal => "tls_internal",
        }
    }

    /// Classifies a rustls error. `handshaking` picks the catch-all.
    pub(crate) fn from_rustls(err: &RustlsError, handshaking: bool) -> Self {
        match err {
            RustlsError::InvalidMessage(_) | RustlsError::PeerSentOversizedRecord => {
                TlsErrorKind::BadRecord
            }
            RustlsError::InappropriateMessage { .. }
            | RustlsError::InappropriateHandshakeMessage { .. } => TlsErrorKind::UnexpectedMessage,
            RustlsError::DecryptError => TlsErrorKind::DecryptError,
            RustlsError::NoCertificatesPresented => TlsErrorKind::NoClientCert,
            RustlsError::InvalidCertificate(_) | RustlsError::InvalidCertRevocationList(_) => {
                TlsErrorKind::BadClientCert
            }
            RustlsError::NoApplicationProtocol => TlsErrorKind::NoCommonAlpn,
            RustlsError::AlertReceived(desc) => TlsErrorKind::PeerAlert(*desc),
            // The post-handshake bounds rustls shares with ours (`post_handshake.rs`), under
            // the same keywords: `tls_records = "rustls"` reports them alike.
            RustlsError::PeerMisbehaved(PeerMisbehaved::TooManyKeyUpdateRequests) => {
                TlsErrorKind::TooManyKeyUpdates
            }
            RustlsError::PeerMisbehaved(PeerMisbehaved::TooManyWarningAlertsReceived) => {
                TlsErrorKind::TooManyWarningAlerts
            }
            RustlsError::PeerMisbehaved(PeerMisbehaved::TooManyEmptyFragments) => {
                TlsErrorKind::TooManyEmptyRecords
            }
            RustlsError::PeerMisbehaved(_) => TlsErrorKind::PeerMisbehaved,
            RustlsError::PeerIncompatible(why) => Self::from_incompatible(why),
            // rustls has no variant for "the certificate resolver returned nothing"; this is
            // its message (server/hs.rs, 0.23). Pinned by a test so a rustls upgrade that
            // rewords it fails loudly instead of logging `tls_handshake_failed`.
            RustlsError::General(msg) if msg == NO_SERVER_CERT_MESSAGE => {
                TlsErrorKind::NoServerCert
            }
            _ if handshaking => TlsErrorKind::HandshakeFailed,
            _ => TlsErrorKind::ProtocolError,
        }
    }

    fn from_incompatible(why: &PeerIncompatible) -> Self {
        match why {
            PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::SupportedVersionsExtensionRequired => {
                TlsErrorKind::UnsupportedVersion
            }
            PeerIncompatible::NoCipherSuitesInCommon => TlsErrorKind::NoCommonCipher,
            PeerIncompatible::NoKxGroupsInCommon => TlsErrorKind::NoCommonGroup,
            PeerIncompatible::NoSignatureSchemesInCommon
            | PeerIncompatible::NoCertificateRequestSignatureSchemesInCommon => {
                TlsErrorKind::NoCommonSignatureScheme
            }
            _ => TlsErrorKind::PeerIncompatible,
        }
    }
}

/// What rustls 0.23 says when the certificate resolver finds no certificate.
pub(crate) const NO_SERVER_CERT_MESSAGE: &str = "no server certificate chain resolved";

/// The alert rustls always sends with this error, where there is exactly one.
///
/// Used when the alert went out encrypted and cannot be read back. Each pairing is a single
/// call site (or a `From` impl) in rustls 0.23's source; errors with several possible alerts
/// are left out rather than guessed.
pub(crate) fn alert_paired_with(err: &RustlsError) -> Option<AlertDescription> {
    match err {
        RustlsError::InvalidMessage(m) => Some(AlertDescription::from(*m)),
        RustlsError::InvalidCertificate(e) => Some(cert_alert(e)),
        RustlsError::NoCertificatesPresented => Some(AlertDescription::CertificateRequired),
        RustlsError::PeerSentOversizedRecord => Some(AlertDescription::RecordOverflow),
        RustlsError::NoApplicationProtocol => Some(AlertDescription::NoApplicationProtocol),
        _ => None,
    }
}

fn cert_alert(e: &CertificateError) -> AlertDescription {
    AlertDescription::from(e.clone())
}

/// Reads the description of a plaintext alert record at the start of `bytes`.
///
/// A record is `type(1) version(2) length(2) payload`; an alert payload in the clear is
/// `level(1) description(1)`. Encrypted alerts are longer or typed 23 (TLS 1.3) and return None.
pub(crate) fn plaintext_alert(bytes: &[u8]) -> Option<AlertDescription> {
    match bytes {
        [CONTENT_ALERT, _, _, 0, 2, _level, desc, ..] => Some(AlertDescription::from(*desc)),
        _ => None,
    }
}
