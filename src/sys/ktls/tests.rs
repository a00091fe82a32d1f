//! Pure tests run everywhere. Tests that need a kernel with kTLS are `#[ignore]`d (this
//! project's build machines have none) and run in the VM by `tests/vm/run`:
//! `cargo test --lib -- --ignored ktls`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, mpsc};
use std::thread;

use rustls::client::ClientConnection;
use rustls::kernel::KernelConnection;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, UnbufferedStatus};
use rustls::{
    CipherSuite, ClientConfig, ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion,
    RootCertStore, ServerConfig, SupportedProtocolVersion,
};

use super::*;

const NEEDS_KTLS: &str = "needs a kernel with kTLS: run by tests/vm/run";

/// The layout the kernel reads (include/uapi/linux/tls.h), on little-endian x86-64.
/// (rustls builds 16-byte AES keys only internally, hence `from_parts` here.)
#[cfg(target_endian = "little")]
#[test]
fn crypto_info_aes128_tls13_bytes() {
    let key: [u8; 16] = core::array::from_fn(|i| 0x10 + i as u8);
    let nonce: [u8; 12] = core::array::from_fn(|i| 0xa0 + i as u8);
    let seq = 0x0102_0304_0506_0708;
    let info = CryptoInfo::from_parts(
        Direction::Tx,
        libc::TLS_1_3_VERSION,
        seq,
        Cipher::Aes128Gcm,
        &key,
        &nonce,
    )
    .unwrap();
    let mut want = vec![0x04, 0x03, 51, 0]; // version 0x0304, cipher 51
    want.extend([0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab]); // iv = nonce[4..]
    want.extend(0x10..0x20u8); // key
    want.extend([0xa0, 0xa1, 0xa2, 0xa3]); // salt = nonce[..4]
    want.extend([1, 2, 3, 4, 5, 6, 7, 8]); // rec_seq, big-endian
    assert_eq!(info.as_bytes(), &want[..]);
}

/// A key of the wrong size for the cipher is a typed refusal, not a panic.
#[test]
fn crypto_info_refuses_wrong_key_size() {
    let secrets = ConnectionTrafficSecrets::Aes128Gcm {
        key: rustls::crypto::cipher::AeadKey::from([0; 32]),
        iv: rustls::crypto::cipher::Iv::new([0; 12]),
    };
    let err = CryptoInfo::new(Direction::Tx, ProtocolVersion::TLSv1_3, 0, &secrets).err();
    assert!(matches!(err, Some(KtlsError::UnsupportedCipher)));
}

#[cfg(target_endian = "little")]
#[test]
fn crypto_info_aes256_tls12_bytes() {
    let secrets = ConnectionTrafficSecrets::Aes256Gcm {
        key: rustls::crypto::cipher::AeadKey::from(core::array::from_fn(|i| i as u8)),
        iv: rustls::crypto::cipher::Iv::new(core::array::from_fn(|i| 0xb0 + i as u8)),
    };
    let layout = |iv: [u8; 8]| {
        let mut want = vec![0x03, 0x03, 52, 0];
        want.extend(iv);
        want.extend(0..32u8);
        want.extend([0xb0, 0xb1, 0xb2, 0xb3]);
        want.extend([0, 0, 0, 0, 0, 0, 0, 1]);
        want
    };
    // Receive: the IV tail as rustls has it (the kernel takes nonces off the wire).
    let rx = CryptoInfo::new(Direction::Rx, ProtocolVersion::TLSv1_2, 1, &secrets).unwrap();
    assert_eq!(
        rx.as_bytes(),
        &layout(core::array::from_fn(|i| 0xb4 + i as u8))[..]
    );
    // Transmit: the tail plus the records rustls sent (one, the Finished).
    let tx = CryptoInfo::new(Direction::Tx, ProtocolVersion::TLSv1_2, 1, &secrets).unwrap();
    let mut iv: [u8; 8] = core::array::from_fn(|i| 0xb4 + i as u8);
    iv[7] += 1;
    assert_eq!(tx.as_bytes(), &layout(iv)[..]);
}

/// Regression (nonce reuse on the TLS 1.2 AES-GCM hand-off): the kernel's explicit
/// nonces — its starting value, then +1 per record — never meet one rustls used
/// (`explicit XOR s` for `s < seq`), including where the sum wraps around 2^64.
#[test]
fn tls12_gcm_kernel_nonces_never_meet_rustls_nonces() {
    let tails = [
        0,
        1,
        0x5555_5555_5555_5555,
        0x4cfb_8eda_84b3_12ea, // from the VM run that found the reuse
        0x7fff_ffff_ffff_fff0,
        u64::MAX - 40,
        u64::MAX - 1,
        u64::MAX,
    ];
    for a in tails {
        for seq in 1..=40u64 {
            let rustls: Vec<u64> = (0..seq).map(|s| a ^ s).collect();
            let start = u64::from_be_bytes(tls12_gcm_first_kernel_nonce(a.to_be_bytes(), seq));
            for k in 0..4096u64 {
                let kernel = start.wrapping_add(k);
                assert!(
                    !rustls.contains(&kernel),
                    "explicit {a:#x}, seq {seq}: kernel record {k} reuses nonce {kernel:#x}"
                );
            }
        }
    }
}

/// The same property in the shape the reuse was found: rustls sent only the Finished (seq
/// 1), so the first kernel record must not carry the Finished's explicit nonce.
#[test]
fn tls12_gcm_first_kernel_record_differs_from_finished() {
    let finished = [0x4c, 0xfb, 0x8e, 0xda, 0x84, 0xb3, 0x12, 0xea];
    let mut nonce = [0x11, 0x22, 0x33, 0x44, 0, 0, 0, 0, 0, 0, 0, 0];
    nonce[4..].copy_from_slice(&finished);
    for (cipher, key) in [
        (Cipher::Aes128Gcm, &[7u8; 16][..]),
        (Cipher::Aes256Gcm, &[9u8; 32][..]),
    ] {
        let version = libc::TLS_1_2_VERSION;
        let tx = CryptoInfo::from_parts(Direction::Tx, version, 1, cipher, key, &nonce).unwrap();
        let rx = CryptoInfo::from_parts(Direction::Rx, version, 1, cipher, key, &nonce).unwrap();
        // Both layouts put the 8-byte iv right after the 4-byte header.
        assert_ne!(&tx.as_bytes()[4..12], &finished, "{cipher:?}");
        assert_eq!(
            tx.as_bytes()[4..12],
            [0x4c, 0xfb, 0x8e, 0xda, 0x84, 0xb3, 0x12, 0xeb]
        );
        assert_eq!(
            &rx.as_bytes()[4..12],
            &finished,
            "{cipher:?}: rx keeps rustls' iv"
        );
    }
}

#[test]
fn crypto_info_refuses_other_versions() {
    let secrets = ConnectionTrafficSecrets::Chacha20Poly1305 {
        key: rustls::crypto::cipher::AeadKey::from([0; 32]),
        iv: rustls::crypto::cipher::Iv::new([0; 12]),
    };
    let err = CryptoInfo::new(Direction::Rx, ProtocolVersion::TLSv1_1, 0, &secrets).err();
    assert!(matches!(err, Some(KtlsError::UnsupportedVersion(_))));
    assert_eq!(err.unwrap().keyword(), "ktls_unsupported_version");
}

#[test]
fn cmsg_buffer_holds_one_record_type() {
    // SAFETY: pure arithmetic.
    let space = unsafe { libc::CMSG_SPACE(1) } as usize;
    assert!(space <= CmsgBuffer::zeroed().bytes.len());
    assert!(align_of::<CmsgBuffer>() >= align_of::<libc::cmsghdr>());
}

#[test]
fn supports_the_kernel_ciphers_only() {
    let v13 = ProtocolVersion::TLSv1_3;
    assert!(supports(v13, CipherSuite::TLS13_AES_128_GCM_SHA256));
    assert!(supports(v13, CipherSuite::TLS13_CHACHA20_POLY1305_SHA256));
    assert!(supports(
        ProtocolVersion::TLSv1_2,
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    ));
    assert!(!supports(v13, CipherSuite::TLS13_AES_128_CCM_SHA256));
    assert!(!supports(
        ProtocolVersion::TLSv1_1,
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    ));
}

#[test]
fn tls_stat_value_reads_a_counter() {
    let stat = "TlsCurrTxSw                     \t2\nTlsCurrRxSw                     \t1\n";
    assert_eq!(tls_stat_value(stat, "TlsCurrTxSw"), Some(2));
    assert_eq!(tls_stat_value(stat, "TlsCurrRxSw"), Some(1));
    assert_eq!(tls_stat_value(stat, "TlsTxSw"), None);
}

/// Either answer is right; without kTLS the message names the call and the errno.
#[test]
fn probe_reports_the_failing_call() {
    if let Err(e) = probe() {
        let text = e.to_string();
        assert!(text.contains("TCP_ULP"), "{text}");
        assert!(text.contains("os error"), "{text}");
    }
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_probe_ok() {
    let support = probe().unwrap();
    assert_eq!(
        support.rekey,
        kernel_at_least(6, 14),
        "rekey probe vs kernel version"
    );
    assert!(tls_stat().is_some(), "{NEEDS_KTLS}");
}

// ---- a real session: rustls client thread <-> our server handed to the kernel ----

struct Certs {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

fn certs() -> &'static Certs {
    static CERTS: std::sync::OnceLock<Certs> = std::sync::OnceLock::new();
    CERTS.get_or_init(|| {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        Certs {
            cert: ck.cert.der().clone(),
            key: ck.signing_key.serialize_der(),
        }
    })
}

fn server_config() -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs().key.clone()));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certs().cert.clone()], key)
        .unwrap();
    config.enable_secret_extraction = true;
    Arc::new(config)
}

fn client_config(
    version: &'static SupportedProtocolVersion,
    suite: CipherSuite,
) -> Arc<ClientConfig> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.retain(|s| s.suite() == suite);
    let mut roots = RootCertStore::empty();
    roots.add(certs().cert.clone()).unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[version])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Drives rustls' unbuffered server over a blocking socket to the end of the handshake,
/// the way the worker does, then takes the secrets for the kernel.
fn server_handshake(
    sock: &mut TcpStream,
) -> (ExtractedSecrets, KernelConnection<ServerConnectionData>) {
    server_handshake_then(sock, &[])
}

/// [`server_handshake`], then `records` sent by rustls in userspace (one record each)
/// before the secrets are taken: a hand-off with a send sequence number above 1.
fn server_handshake_then(
    sock: &mut TcpStream,
    records: &[&[u8]],
) -> (ExtractedSecrets, KernelConnection<ServerConnectionData>) {
    let mut conn = UnbufferedServerConnection::new(server_config()).unwrap();
    let mut incoming = vec![0u8; 64 * 1024];
    let mut filled = 0;
    let mut outgoing = vec![0u8; 64 * 1024];
    let mut pending = 0;
    loop {
        let UnbufferedStatus { discard, state } = conn.process_tls_records(&mut incoming[..filled]);
        let (mut need_read, mut established) = (false, false);
        match state.unwrap() {
            ConnectionState::EncodeTlsData(mut s) => {
                pending += s.encode(&mut outgoing[pending..]).unwrap();
            }
            ConnectionState::TransmitTlsData(s) => {
                sock.write_all(&outgoing[..pending]).unwrap();
                pending = 0;
                s.done();
            }
            ConnectionState::BlockedHandshake => need_read = true,
            ConnectionState::WriteTraffic(mut traffic) => {
                for record in records {
                    let n = traffic.encrypt(record, &mut outgoing).unwrap();
                    sock.write_all(&outgoing[..n]).unwrap();
                }
                established = true;
            }
            _ => panic!("unexpected rustls state during the handshake"),
        }
        incoming.copy_within(discard..filled, 0);
        filled -= discard;
        if established {
            assert_eq!(filled, 0, "the client sent data before it was told to");
            return conn.dangerous_into_kernel_connection().unwrap();
        }
        if need_read {
            let n = sock.read(&mut incoming[filled..]).unwrap();
            assert!(n > 0, "client closed during the handshake");
            filled += n;
        }
    }
}

const PING: &[u8] = b"ping from the rustls client";
const PONG: &[u8] = b"pong from the kernel";
const AFTER_UPDATE: &[u8] = b"sent after a KeyUpdate";

/// What the client thread does once the server said it handed the session to the kernel.
#[derive(Clone, Copy, PartialEq)]
enum Script {
    /// PING, expect PONG, close_notify both ways.
    Exchange,
    /// PING, expect PONG, KeyUpdate (update requested), AFTER_UPDATE, then wait for the
    /// server's verdict: rekeyed → expect PONG under the new key; not → stop.
    KeyUpdate,
}

fn run_client(
    mut sock: TcpStream,
    config: Arc<ClientConfig>,
    script: Script,
    go: mpsc::Receiver<bool>,
) {
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = ClientConnection::new(config, name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).unwrap();
    }
    while conn.wants_write() {
        conn.write_tls(&mut sock).unwrap();
    }
    assert!(go.recv().unwrap(), "server failed to enable kTLS");
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(PING).unwrap();
    let mut buf = vec![0u8; PONG.len()];
    tls.read_exact(&mut buf).unwrap();
    assert_eq!(buf, PONG);
    if script == Script::KeyUpdate {
        tls.conn.refresh_traffic_keys().unwrap();
        tls.write_all(AFTER_UPDATE).unwrap();
        if !go.recv().unwrap() {
            return;
        }
        tls.read_exact(&mut buf).unwrap();
        assert_eq!(buf, PONG, "reply under the server's new key");
    }
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let mut rest = Vec::new();
    // Ok(0) only after the server's close_notify; a bare FIN is UnexpectedEof.
    tls.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>());
    let (Some(Ok(ma)), Some(Ok(mi))) = (parts.next(), parts.next()) else {
        return false;
    };
    (ma, mi) >= (major, minor)
}

/// Reads a control record after a plain read failed with EIO.
fn expect_control_record(server: &mut TcpStream, content_type: u8) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_RECORD_PLAINTEXT];
    let err = server.read(&mut buf).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let record = recv_record(server.as_raw_fd(), &mut buf).unwrap();
    assert_eq!(record.content_type, content_type);
    buf.truncate(record.len);
    buf
}

fn session(version: &'static SupportedProtocolVersion, suite: CipherSuite, script: Script) {
    let stat_before = tls_stat().expect(NEEDS_KTLS);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client_sock = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let (go_tx, go_rx) = mpsc::channel();
    let config = client_config(version, suite);
    let client = thread::spawn(move || run_client(client_sock, config, script, go_rx));

    let (secrets, mut kconn) = server_handshake(&mut server);
    let version = kconn.protocol_version();
    assert_eq!(kconn.negotiated_cipher_suite().suite(), suite);
    assert!(supports(version, suite));
    let fd = server.as_raw_fd();
    let enabled = enable(fd, &secrets, version);
    go_tx.send(enabled.is_ok()).unwrap();
    enabled.unwrap();

    // Plain read/write on the socket: the kernel decrypts and encrypts.
    let mut buf = vec![0u8; PING.len()];
    server.read_exact(&mut buf).unwrap();
    assert_eq!(buf, PING);
    server.write_all(PONG).unwrap();

    let stat = tls_stat().unwrap();
    for counter in ["TlsTxSw", "TlsRxSw"] {
        let before = tls_stat_value(&stat_before, counter).unwrap();
        let now = tls_stat_value(&stat, counter).unwrap();
        assert!(now > before, "{counter} did not rise: {before} -> {now}");
    }

    if script == Script::KeyUpdate {
        // KeyUpdate is handshake type 24, length 1, request_update = update_requested(1).
        let msg = expect_control_record(&mut server, CONTENT_TYPE_HANDSHAKE);
        assert_eq!(msg, [24, 0, 0, 1, 1]);
        let rekeyed = update_rx(fd, version, &kconn.update_rx_secret().unwrap());
        if !kernel_at_least(6, 14) {
            assert!(
                matches!(rekeyed, Err(KtlsError::RekeyUnsupported(_))),
                "{rekeyed:?}"
            );
            go_tx.send(false).unwrap();
            client.join().unwrap();
            return;
        }
        rekeyed.unwrap();
        // Answer with our own KeyUpdate (update_not_requested) under the old key, then
        // switch the transmit key.
        send_record(fd, CONTENT_TYPE_HANDSHAKE, &[24, 0, 0, 1, 0]).unwrap();
        update_tx(fd, version, &kconn.update_tx_secret().unwrap()).unwrap();
        let mut buf = vec![0u8; AFTER_UPDATE.len()];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(buf, AFTER_UPDATE);
        go_tx.send(true).unwrap();
        server.write_all(PONG).unwrap();
    }

    // The client's close_notify arrives as an alert record; answer in kind.
    let alert = expect_control_record(&mut server, CONTENT_TYPE_ALERT);
    assert_eq!(alert, [ALERT_LEVEL_WARNING, ALERT_CLOSE_NOTIFY]);
    send_alert(fd, ALERT_LEVEL_WARNING, ALERT_CLOSE_NOTIFY).unwrap();
    server.shutdown(std::net::Shutdown::Write).unwrap();
    client.join().unwrap();
}

use rustls::version::{TLS12, TLS13};

/// A socket that keeps a copy of every byte read from it: what the server put on the wire
/// toward the client, as the client received it.
struct Recording {
    sock: TcpStream,
    seen: Vec<u8>,
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.sock.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.sock.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.sock.flush()
    }
}

/// The explicit nonces (first 8 bytes of each record's body) of every TLS 1.2 record the
/// server sent after its ChangeCipherSpec, in order.
fn tls12_explicit_nonces(wire: &[u8]) -> Vec<[u8; 8]> {
    let (mut at, mut encrypted, mut nonces) = (0, false, Vec::new());
    while let Some(header) = wire.get(at..at + 5) {
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        let body = &wire[at + 5..at + 5 + len];
        match header[0] {
            20 => encrypted = true,
            21..=23 if encrypted => nonces.push(body[..8].try_into().unwrap()),
            _ => {}
        }
        at += 5 + len;
    }
    assert_eq!(at, wire.len(), "the capture ends on a record boundary");
    nonces
}

/// Regression (nonce reuse on the TLS 1.2 AES-GCM hand-off), against the live kernel:
/// every explicit nonce the server sent — rustls' Finished, `userspace` records rustls
/// sent after the handshake, then the kernel's records and close_notify — is distinct.
fn tls12_nonces_on_the_wire(suite: CipherSuite, userspace: usize) {
    const KERNEL_RECORDS: usize = 8;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let sock = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    let config = client_config(&TLS12, suite);
    let client = thread::spawn(move || {
        let mut conn =
            ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
        let mut rec = Recording {
            sock,
            seen: Vec::new(),
        };
        let mut tls = rustls::Stream::new(&mut conn, &mut rec);
        let mut got = Vec::new();
        // Ok only after the server's close_notify.
        tls.read_to_end(&mut got).unwrap();
        (got, rec.seen)
    });
    let before: Vec<Vec<u8>> = (0..userspace)
        .map(|i| format!("user{i}").into_bytes())
        .collect();
    let before_refs: Vec<&[u8]> = before.iter().map(Vec::as_slice).collect();
    let (secrets, kconn) = server_handshake_then(&mut server, &before_refs);
    assert_eq!(
        secrets.tx.0,
        1 + userspace as u64,
        "Finished plus the userspace records"
    );
    enable(server.as_raw_fd(), &secrets, kconn.protocol_version()).unwrap();
    let mut want = before.concat();
    for i in 0..KERNEL_RECORDS {
        // One write, one record (no MSG_MORE).
        let msg = format!("kernel{i}");
        server.write_all(msg.as_bytes()).unwrap();
        want.extend_from_slice(msg.as_bytes());
    }
    send_alert(server.as_raw_fd(), ALERT_LEVEL_WARNING, ALERT_CLOSE_NOTIFY).unwrap();
    server.shutdown(std::net::Shutdown::Write).unwrap();
    let (got, wire) = client.join().unwrap();
    assert_eq!(got, want, "the client decrypted everything");
    let nonces = tls12_explicit_nonces(&wire);
    // Finished + userspace + kernel records + close_notify.
    assert_eq!(
        nonces.len(),
        1 + userspace + KERNEL_RECORDS + 1,
        "{suite:?}"
    );
    let mut unique = nonces.clone();
    unique.sort();
    unique.dedup();
    let hex: Vec<String> = nonces
        .iter()
        .map(|n| format!("{:016x}", u64::from_be_bytes(*n)))
        .collect();
    assert_eq!(
        unique.len(),
        nonces.len(),
        "{suite:?}, {userspace} userspace records: a nonce repeats: {hex:?}"
    );
    eprintln!(
        "{suite:?} userspace={userspace}: {} distinct explicit nonces: {}",
        nonces.len(),
        hex.join(" ")
    );
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls12_aes128_gcm_nonces_never_repeat() {
    for userspace in [0, 1, 3] {
        tls12_nonces_on_the_wire(
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            userspace,
        );
    }
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls12_aes256_gcm_nonces_never_repeat() {
    for userspace in [0, 1, 3] {
        tls12_nonces_on_the_wire(
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            userspace,
        );
    }
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls13_aes128_gcm() {
    session(
        &TLS13,
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        Script::Exchange,
    );
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls13_aes256_gcm() {
    session(
        &TLS13,
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        Script::Exchange,
    );
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls13_chacha20_poly1305() {
    session(
        &TLS13,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        Script::Exchange,
    );
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls12_aes128_gcm() {
    let suite = CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
    session(&TLS12, suite, Script::Exchange);
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls12_aes256_gcm() {
    let suite = CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384;
    session(&TLS12, suite, Script::Exchange);
}

#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls12_chacha20_poly1305() {
    let suite = CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256;
    session(&TLS12, suite, Script::Exchange);
}

/// On 6.14+ both directions rekey; on older kernels the new RX key is refused with a
/// typed error (the worker then closes).
#[test]
#[ignore = "needs a kernel with kTLS: run by tests/vm/run"]
fn ktls_tls13_client_key_update() {
    session(
        &TLS13,
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        Script::KeyUpdate,
    );
}
