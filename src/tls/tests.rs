//! Heap held by one established userspace TLS session: the figure behind the idle-connection
//! RSS budget (perf/README.md, `idle-9000`). Measured with a counting allocator that tracks
//! only the measuring thread (`sys::alloc_count`), so tests running in parallel don't disturb it.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConfig};

use ringress_core::tls::testbed::{self, ClientAuth, SERVER_NAME};
use ringress_core::tls::{RecordLayer, TlsSession};

use crate::sys::alloc_count::live;

/// Heap bytes one session keeps after its handshake, with the server config shared.
fn session_bytes(
    server: &Arc<ServerConfig>,
    version: &'static rustls::SupportedProtocolVersion,
    own_records: bool,
) -> isize {
    let client_config = Arc::new(testbed::client_config(&[version], None, None));
    // Warm up caches that belong to the config, not the session (resumption cache entries
    // are bounded per config).
    let _ = established(server, &client_config);
    let before = live();
    let mut session = established(server, &client_config);
    if own_records {
        session.prefer_own_records().unwrap();
    }
    let after = live();
    drop(session);
    after - before
}

fn established(
    server: &Arc<ServerConfig>,
    client_config: &Arc<rustls::ClientConfig>,
) -> TlsSession {
    let name = ServerName::try_from(SERVER_NAME).unwrap();
    let mut client = ClientConnection::new(client_config.clone(), name).unwrap();
    let mut session = TlsSession::new(server.clone(), RecordLayer::Own).unwrap();
    let mut held = Vec::new();
    for _ in 0..10 {
        let mut wire = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut wire).unwrap();
        }
        held.extend_from_slice(&wire);
        let mut out = Vec::new();
        let outcome = session.read(&mut held, &mut out).unwrap();
        held.drain(..outcome.consumed);
        let mut slice = &out[..];
        while !slice.is_empty() {
            client.read_tls(&mut slice).unwrap();
            client.process_new_packets().unwrap();
        }
        if !session.is_handshaking() && !client.is_handshaking() && !client.wants_write() {
            break;
        }
    }
    assert!(!session.is_handshaking());
    session
}

#[test]
fn an_established_session_holds_little_heap() {
    let pki = testbed::pki();
    let mut config = testbed::server_config(&pki.server_ecdsa, ClientAuth::Off);
    // The default stateful resumption cache keeps the sessions behind the tickets sent (at
    // most 256 per config, so not per connection): out of the way here.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    let server = Arc::new(config);
    let inline = size_of::<TlsSession>();
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let bytes = session_bytes(&server, version, false);
        eprintln!("{version:?} with rustls: {bytes} heap bytes per session, plus {inline} inline");
        // Measured 2026-11-24 (rustls 0.23, aws-lc-rs): 2,284 bytes for TLS 1.3 (rustls'
        // connection, boxed: state machine, key schedule, record layer), 2,072 for TLS 1.2.
        // A budget, so a change that inflates it shows here.
        assert!(bytes < 2600, "{version:?}: {bytes} bytes");
    }
    // What userspace TLS 1.3 keeps after `prefer_own_records` (the worker's default). Not
    // counted here: aws-lc allocates its two AEAD contexts with C malloc (~1.2 KiB), which
    // the idle-connection RSS figure of perf/compare does include.
    let bytes = session_bytes(&server, &rustls::version::TLS13, true);
    eprintln!("TLSv1_3 on our records: {bytes} heap bytes per session, plus {inline} inline");
    // Measured 2026-11-24: 244 bytes (the boxed record layer and the session's TlsInfo).
    assert!(bytes < 400, "own records: {bytes} bytes");
    assert!(inline <= 160, "TlsSession is {inline} bytes inline");
}
