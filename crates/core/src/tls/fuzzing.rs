//! Entry points for the fuzz targets of the post-handshake record layers (`fuzz/`), compiled
//! only under `--cfg fuzzing` (cargo fuzz sets it) and in this crate's tests, so they never ship.
//!
//! Both reach past what random bytes alone cannot: [`records_past_the_aead`] seals the
//! fuzzer's bytes with a known key, so every input decrypts and the fuzzer explores content
//! types, padding, alerts and KeyUpdate; [`ktls_control_records`] feeds decrypted records to
//! the rules the kTLS path applies to what `recvmsg` returns.

use rustls::CipherSuite;

use super::post_handshake::{Event, MAX_KEY_UPDATES_WITHOUT_DATA, PostHandshake};
use super::records::Records;
use super::wire::CONTENT_APPLICATION_DATA;

const SUITES: [CipherSuite; 3] = [
    CipherSuite::TLS13_AES_128_GCM_SHA256,
    CipherSuite::TLS13_AES_256_GCM_SHA384,
    CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
];

/// The most a read may queue for the client while we send no data: one KeyUpdate answer (27
/// bytes: header, 5-byte message, type, tag) and one fatal alert (24 bytes).
pub const MAX_QUEUED_WITHOUT_DATA: usize = 27 + 24;

/// Pulls `n` bytes off the front of `data` (fewer at the end).
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

/// Input: a suite selector byte, then chunks `len_hi len_lo cut inner[len]`: each `inner` is a
/// whole TLSInnerPlaintext (content, type byte, padding: whatever the fuzzer wrote) that a
/// client sealed under its current key; `cut` splits the resulting bytes across two reads.
///
/// Property: never panics; what the server queues for the client stays within
/// [`MAX_QUEUED_WITHOUT_DATA`] (we never send data here, so one answer covers every KeyUpdate
/// request); plaintext handed out never exceeds what was consumed; after an error the session
/// stays failed.
pub fn records_past_the_aead(mut data: &[u8]) {
    let Some(&selector) = data.first() else {
        return;
    };
    data = &data[1..];
    let suite = SUITES[usize::from(selector) % SUITES.len()];
    // Traffic secrets are as long as the suite's hash.
    let secret_len = if suite == CipherSuite::TLS13_AES_256_GCM_SHA384 {
        48
    } else {
        32
    };
    let (client_secret, server_secret) = (&[0x11u8; 48][..secret_len], &[0x22u8; 48][..secret_len]);
    let mut client = Records::from_secrets(suite, server_secret, client_secret).expect("suite");
    let mut server = Records::from_secrets(suite, client_secret, server_secret).expect("suite");
    // What the client knows of its own KeyUpdates, to switch keys as a real client would.
    let mut mirror = PostHandshake::default();
    let (mut pending, mut queued) = (Vec::new(), Vec::new());
    while data.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let cut = usize::from(data[2]);
        data = &data[3..];
        let inner = take(&mut data, len);
        let mut wire = Vec::new();
        if client.seal_raw(inner, &mut wire).is_err() {
            // Over 2^16 bytes of ciphertext: not a record anyone can send.
            continue;
        }
        if let Some(type_at) = inner.iter().rposition(|&b| b != 0)
            && let Ok(Event::KeyUpdate { .. }) = mirror.on_record(inner[type_at], &inner[..type_at])
        {
            client.rekey_tx().expect("rekey");
        }
        let cut = cut * wire.len() / 256;
        for piece in [&wire[..cut], &wire[cut..]] {
            pending.extend_from_slice(piece);
            let before = queued.len();
            match server.read(&mut pending, &mut queued) {
                Ok(outcome) => {
                    assert!(outcome.plaintext <= outcome.consumed);
                    assert!(outcome.consumed <= pending.len());
                    pending.drain(..outcome.consumed);
                    if outcome.peer_closed {
                        return;
                    }
                }
                Err(_) => {
                    assert!(queued.len() - before <= 24, "more than one alert");
                    assert!(
                        queued.len() <= MAX_QUEUED_WITHOUT_DATA,
                        "{} queued",
                        queued.len()
                    );
                    return;
                }
            }
            assert!(
                queued.len() <= MAX_QUEUED_WITHOUT_DATA,
                "{} queued",
                queued.len()
            );
        }
    }
}

/// Input: a selector byte (TLS 1.2 or 1.3), then records `type len payload[len]` as `recvmsg`
/// returns them on a kTLS socket; type 0xff stands for "we sent the client data".
///
/// Property: never panics; at most [`MAX_KEY_UPDATES_WITHOUT_DATA`] KeyUpdates are accepted
/// between two application-data records; at most one answer is owed between two sends of
/// ours; nothing is accepted after a refusal or close_notify.
pub fn ktls_control_records(mut data: &[u8]) {
    let Some(&selector) = data.first() else {
        return;
    };
    data = &data[1..];
    let mut post = if selector & 1 == 0 {
        PostHandshake::default()
    } else {
        PostHandshake::tls12()
    };
    let (mut key_updates, mut answers) = (0u32, 0u32);
    while data.len() >= 2 {
        let (content_type, len) = (data[0], usize::from(data[1]));
        data = &data[2..];
        let payload = take(&mut data, len);
        if content_type == 0xff {
            post.sending_application_data();
            answers = 0;
            continue;
        }
        match post.on_record(content_type, payload) {
            Ok(Event::Data) => {
                assert_eq!(content_type, CONTENT_APPLICATION_DATA);
                if !payload.is_empty() {
                    key_updates = 0;
                }
            }
            Ok(Event::KeyUpdate { reply }) => {
                assert_eq!(selector & 1, 0, "no KeyUpdate in TLS 1.2");
                key_updates += 1;
                answers += u32::from(reply);
                assert!(key_updates <= u32::from(MAX_KEY_UPDATES_WITHOUT_DATA));
                assert!(answers <= 1, "a second answer owed before our data");
            }
            Ok(Event::Nothing) => {}
            Ok(Event::PeerClosed) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests;
