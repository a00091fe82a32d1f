//! What a finished handshake negotiated, spelled the way HAProxy logs it.
//!
//! The access log and the PROXY v2 SSL TLVs carry these strings, and the brokers behind us
//! (mosquitto among them) were written against HAProxy, so we use HAProxy's spellings, which
//! are OpenSSL's:
//!
//! - version: `TLSv1.2`, `TLSv1.3` (`SSL_get_version`).
//! - cipher: OpenSSL's names (`SSL_CIPHER_get_name`, what HAProxy puts in `%sslc` and in
//!   `PP2_SUBTYPE_SSL_CIPHER`). For TLS 1.3 these equal the IANA names
//!   (`TLS_AES_256_GCM_SHA384`); for TLS 1.2 they do not (`ECDHE-ECDSA-AES256-GCM-SHA384`
//!   for IANA `TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384`). [`TlsInfo::cipher_iana`] has the IANA
//!   name too.
//! - certificate algorithms ([`CertAlgorithms`]): OpenSSL short names (`ecdsa-with-SHA256`,
//!   `RSA-SHA256`) and HAProxy's `<type><bits>` key names (`EC256`, `RSA2048`). HAProxy reports
//!   them for *its own* certificate (`SSL_get_certificate`), which rustls does not expose per
//!   connection, so they are computed once per certificate when the config is loaded.

use rustls::{CipherSuite, ProtocolVersion};
use x509_parser::oid_registry as oids;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The longest client-certificate common name we report, in bytes.
///
/// RFC 5280's upper bound is 64 characters (`ub-common-name`), at most 256 bytes of UTF-8.
/// A longer CN is reported as absent rather than cut: downstream it is an identity (mosquitto's
/// `use_identity_as_username`), and a truncated identity could name someone else.
pub const MAX_CN_BYTES: usize = 256;

/// The negotiated parameters of a session, available once its handshake completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `"TLSv1.2"` or `"TLSv1.3"`.
    pub version: &'static str,
    /// OpenSSL/HAProxy cipher name (see the module doc).
    pub cipher: &'static str,
    /// IANA cipher suite name.
    pub cipher_iana: &'static str,
    /// The ALPN protocol agreed, if the client offered one we have.
    pub alpn: Option<Box<[u8]>>,
    /// The server name the client sent (rustls has validated it as a DNS name).
    pub sni: Option<Box<str>>,
    /// The client's certificate, if it presented one: on this connection, or, when
    /// `resumed`, on the one that began the session.
    pub client_cert: ClientCert,
    /// The handshake resumed an earlier session (a TLS 1.3 PSK from a ticket, a TLS 1.2
    /// session id or ticket): no certificate was exchanged on this connection.
    pub resumed: bool,
}

/// The client certificate outcome.
///
/// There is no "presented but unverified" case: rustls verifies the chain during the
/// handshake and fails it (`tls_bad_client_cert`) otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCert {
    /// The client presented no certificate (client auth off or optional).
    None,
    /// The client presented a certificate that verified against the configured roots.
    Verified {
        /// The subject's first common name (OpenSSL's choice too), if it is a string of at most
        /// [`MAX_CN_BYTES`] bytes.
        cn: Option<Box<str>>,
    },
}

/// `SSL_get_version`'s spelling of a protocol version.
pub fn version_name(version: ProtocolVersion) -> &'static str {
    match version {
        ProtocolVersion::TLSv1_3 => "TLSv1.3",
        ProtocolVersion::TLSv1_2 => "TLSv1.2",
        ProtocolVersion::TLSv1_1 => "TLSv1.1",
        ProtocolVersion::TLSv1_0 => "TLSv1",
        ProtocolVersion::SSLv3 => "SSLv3",
        _ => "unknown",
    }
}

/// The (OpenSSL, IANA) names of a cipher suite rustls can negotiate.
pub fn cipher_names(suite: CipherSuite) -> (&'static str, &'static str) {
    use CipherSuite as S;
    match suite {
        S::TLS13_AES_128_GCM_SHA256 => ("TLS_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
        S::TLS13_AES_256_GCM_SHA384 => ("TLS_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
        S::TLS13_CHACHA20_POLY1305_SHA256 => (
            "TLS_CHACHA20_POLY1305_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256",
        ),
        S::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ),
        S::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ),
        S::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        S::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => (
            "ECDHE-RSA-AES128-GCM-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ),
        S::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => (
            "ECDHE-RSA-AES256-GCM-SHA384",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ),
        S::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => (
            "ECDHE-RSA-CHACHA20-POLY1305",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ),
        // A suite added by a custom provider: rustls' own name is the best we have.
        other => {
            let name = other.as_str().unwrap_or("unknown");
            (name, name)
        }
    }
}

/// The first common name of a certificate's subject, bounded by [`MAX_CN_BYTES`].
///
/// None if the certificate does not parse (rustls accepted it, so that would be a parser
/// disagreement), has no CN, or the CN is not a string type or is too long.
pub fn subject_cn(cert_der: &[u8]) -> Option<Box<str>> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    (cn.len() <= MAX_CN_BYTES).then(|| cn.into())
}

/// A certificate's signature and key algorithms, as HAProxy writes them in PROXY v2
/// `PP2_SUBTYPE_SSL_SIG_ALG` and `PP2_SUBTYPE_SSL_KEY_ALG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertAlgorithms {
    /// OpenSSL short name of the signature algorithm (`ecdsa-with-SHA256`, `RSA-SHA256`, ...).
    pub signature: &'static str,
    /// The public key algorithm and size.
    pub key: KeyAlgorithm,
}

/// A public key's algorithm and size; `Display` gives HAProxy's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// Elliptic curve with the curve's size in bits: `EC256`, `EC384`, `EC521`.
    Ec { bits: u16 },
    /// RSA with the modulus size in bits: `RSA2048`.
    Rsa { bits: u16 },
    /// `ED25519`.
    Ed25519,
    /// Anything else (including an EC curve we do not name).
    Unknown,
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Ec { bits } => write!(f, "EC{bits}"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA{bits}"),
            KeyAlgorithm::Ed25519 => f.write_str("ED25519"),
            KeyAlgorithm::Unknown => f.write_str("unknown"),
        }
    }
}

impl CertAlgorithms {
    /// Reads the algorithms of a DER certificate. Meant for config load (our own
    /// certificates), not for the per-connection path.
    pub fn from_der(cert_der: &[u8]) -> Option<CertAlgorithms> {
        let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
        Some(CertAlgorithms {
            signature: signature_name(&cert.signature_algorithm.algorithm),
            key: key_algorithm(&cert),
        })
    }
}

fn signature_name(oid: &oids::Oid<'_>) -> &'static str {
    // OpenSSL's OBJ_nid2sn() names, which HAProxy sends.
    const NAMES: [(&oids::Oid<'static>, &str); 10] = [
        (&oids::OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256"),
        (&oids::OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384"),
        (&oids::OID_SIG_ECDSA_WITH_SHA512, "ecdsa-with-SHA512"),
        (&oids::OID_PKCS1_SHA256WITHRSA, "RSA-SHA256"),
        (&oids::OID_PKCS1_SHA384WITHRSA, "RSA-SHA384"),
        (&oids::OID_PKCS1_SHA512WITHRSA, "RSA-SHA512"),
        (&oids::OID_PKCS1_SHA1WITHRSA, "RSA-SHA1"),
        (&oids::OID_PKCS1_RSASSAPSS, "RSASSA-PSS"),
        (&oids::OID_SIG_ED25519, "ED25519"),
        (&oids::OID_SIG_ED448, "ED448"),
    ];
    NAMES
        .iter()
        .find(|(known, _)| *known == oid)
        .map_or("unknown", |(_, name)| name)
}

fn key_algorithm(cert: &X509Certificate<'_>) -> KeyAlgorithm {
    let spki = cert.public_key();
    let alg = &spki.algorithm.algorithm;
    if *alg == oids::OID_KEY_TYPE_EC_PUBLIC_KEY {
        // The curve is the algorithm parameter; the point's length would say 528 for P-521.
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        return match curve {
            Some(c) if c == oids::OID_EC_P256 => KeyAlgorithm::Ec { bits: 256 },
            Some(c) if c == oids::OID_NIST_EC_P384 => KeyAlgorithm::Ec { bits: 384 },
            Some(c) if c == oids::OID_NIST_EC_P521 => KeyAlgorithm::Ec { bits: 521 },
            _ => KeyAlgorithm::Unknown,
        };
    }
    if *alg == oids::OID_PKCS1_RSAENCRYPTION {
        return match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => u16::try_from(rsa.key_size())
                .map_or(KeyAlgorithm::Unknown, |bits| KeyAlgorithm::Rsa { bits }),
            _ => KeyAlgorithm::Unknown,
        };
    }
    if *alg == oids::OID_SIG_ED25519 {
        return KeyAlgorithm::Ed25519;
    }
    KeyAlgorithm::Unknown
}

#[cfg(test)]
mod tests;
