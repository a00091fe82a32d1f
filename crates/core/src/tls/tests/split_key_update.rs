//! Regression: a post-handshake handshake message split across records.
//!
//! rustls keeps the first fragment in the caller's buffer (undiscarded) and remembers how far
//! into it it got. Asking rustls for `WriteTraffic` with an empty buffer at that moment makes
//! it slice past the end and panic: why `write` takes the held bytes and checks their length.
//! A rustls client never splits a 5-byte KeyUpdate, so we encrypt the records ourselves with
//! the client's extracted secrets.

use rustls::Tls13CipherSuite;
use rustls::crypto::cipher::{
    AeadKey, InboundOpaqueMessage, Iv, MessageEncrypter, OutboundChunks, OutboundPlainMessage,
};
use rustls::version::TLS13;
use rustls::{CipherSuite, ConnectionTrafficSecrets, ContentType, ProtocolVersion};

use crate::tls::testbed::{ClientAuth, Pair, client_config, pki, server_config};

fn aes128_key_iv(secrets: ConnectionTrafficSecrets) -> (AeadKey, Iv) {
    match secrets {
        ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (key, iv),
        _ => panic!("negotiated AES-128-GCM"),
    }
}

fn aes128_suite() -> &'static Tls13CipherSuite {
    match rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256 {
        rustls::SupportedCipherSuite::Tls13(suite) => suite,
        _ => unreachable!("a TLS 1.3 suite"),
    }
}

fn seal(enc: &mut dyn MessageEncrypter, typ: ContentType, payload: &[u8], seq: u64) -> Vec<u8> {
    let plain = OutboundPlainMessage {
        typ,
        version: ProtocolVersion::TLSv1_2,
        payload: OutboundChunks::Single(payload),
    };
    enc.encrypt(plain, seq).unwrap().encode()
}

#[test]
fn write_while_half_a_key_update_is_held() {
    let mut client = client_config(&[&TLS13], Some(CipherSuite::TLS13_AES_128_GCM_SHA256), None);
    client.enable_secret_extraction = true;
    let mut pair = Pair::new(client, server_config(&pki().server_ecdsa, ClientAuth::Off));
    pair.handshake().unwrap();
    let Pair {
        client, mut server, ..
    } = pair;
    let secrets = client.dangerous_extract_secrets().unwrap();
    let (tx_seq, tx) = secrets.tx;
    let (rx_seq, rx) = secrets.rx;
    let (key, iv) = aes128_key_iv(tx);
    let mut to_server = aes128_suite().aead_alg.encrypter(key, iv);
    let (key, iv) = aes128_key_iv(rx);
    let mut from_server = aes128_suite().aead_alg.decrypter(key, iv);

    // KeyUpdate(update_not_requested) is [24, 0, 0, 1, 0]; cut inside its header.
    let first = seal(&mut *to_server, ContentType::Handshake, &[24, 0, 0], tx_seq);
    let second = seal(&mut *to_server, ContentType::Handshake, &[1, 0], tx_seq + 1);

    let mut incoming = first.clone();
    let mut outgoing = Vec::new();
    let outcome = server.read(&mut incoming, &mut outgoing).unwrap();
    assert_eq!(
        outcome.consumed, 0,
        "rustls holds the fragment until the message is whole"
    );
    let mut held = incoming;

    // Without the held bytes rustls would panic; we refuse instead.
    let err = server.write(&mut [], b"x", &mut outgoing).unwrap_err();
    assert_eq!(err.keyword(), "tls_held_bytes_mismatch");

    server.write(&mut held, b"during", &mut outgoing).unwrap();
    let plain = from_server
        .decrypt(
            InboundOpaqueMessage::new(
                ContentType::ApplicationData,
                ProtocolVersion::TLSv1_2,
                &mut outgoing[5..],
            ),
            rx_seq,
        )
        .unwrap();
    assert_eq!(plain.payload, b"during");

    // The rest of the KeyUpdate completes it; the server carries on.
    let mut incoming = held;
    incoming.extend_from_slice(&second);
    let outcome = server.read(&mut incoming, &mut Vec::new()).unwrap();
    assert_eq!(outcome.consumed, incoming.len());
    server.write(&mut [], b"after", &mut Vec::new()).unwrap();
}
