//! Appending rustls' output to the driver's `Vec`: rustls writes into slices and says how
//! much room it needs when a slice is too short.

use rustls::unbuffered::{EncodeError, EncryptError, InsufficientSizeError};

use super::wire::MAX_RECORD_PLAINTEXT;
use super::{TlsError, TlsErrorKind};

/// Runs a rustls encoder that writes into a slice, growing `outgoing` to fit.
///
/// The slice starts `estimate` bytes long; if rustls says it needs more it reports how much and
/// we retry once with exactly that. The retry calls the encoder twice, which matters for
/// `encrypt` (it may schedule a TLS 1.3 key update per call), hence a good estimate there.
pub(crate) fn append_with<E>(
    outgoing: &mut Vec<u8>,
    estimate: usize,
    mut encode: impl FnMut(&mut [u8]) -> Result<usize, E>,
    shortfall: impl Fn(&E) -> Option<usize>,
) -> Result<(), TlsError> {
    let start = outgoing.len();
    outgoing.resize(start + estimate, 0);
    let result = match encode(&mut outgoing[start..]) {
        Err(e) => match shortfall(&e) {
            Some(required) => {
                outgoing.resize(start + required, 0);
                encode(&mut outgoing[start..]).ok()
            }
            None => None,
        },
        Ok(written) => Some(written),
    };
    match result {
        Some(written) => {
            outgoing.truncate(start + written);
            Ok(())
        }
        None => {
            outgoing.truncate(start);
            Err(TlsError::local(TlsErrorKind::Internal))
        }
    }
}

/// Ciphertext size of `plaintext_len` bytes of application data, rounded up.
///
/// rustls cuts records at 16 KiB of plaintext (unless the config lowers
/// `max_fragment_size`) and adds at most 29 bytes to each: 5 of header plus, for TLS 1.2 GCM,
/// an 8-byte explicit nonce and a 16-byte tag (TLS 1.3: 1 content-type byte and the tag).
pub(crate) fn encrypted_size_estimate(plaintext_len: usize) -> usize {
    const MAX_RECORD_OVERHEAD: usize = 29;
    plaintext_len + plaintext_len.div_ceil(MAX_RECORD_PLAINTEXT) * MAX_RECORD_OVERHEAD
}

pub(crate) fn encode_shortfall(e: &EncodeError) -> Option<usize> {
    match e {
        EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}

pub(crate) fn encrypt_shortfall(e: &EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
            Some(*required_size)
        }
        _ => None,
    }
}
