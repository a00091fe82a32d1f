//! Byte-exact relaying in both directions, and the byte counts in the access log.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use common::backends::TestListener;
use common::{Proxy, ProxyConfig, WAIT, connect, num, shutdown_write, text};

const BIG: usize = 100 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// A reproducible pseudo-random byte stream: the little-endian bytes of successive
/// `next_u64()`s. Unlike `fill_bytes`, the bytes do not depend on how the stream is cut into
/// pieces, so a reader can regenerate what a writer with different chunking sent.
struct ByteStream {
    rng: SmallRng,
    word: [u8; 8],
    used: usize,
}

impl ByteStream {
    fn new(seed: u64) -> ByteStream {
        ByteStream {
            rng: SmallRng::seed_from_u64(seed),
            word: [0; 8],
            used: 8,
        }
    }

    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            if self.used == 8 {
                self.word = self.rng.next_u64().to_le_bytes();
                self.used = 0;
            }
            *b = self.word[self.used];
            self.used += 1;
        }
    }
}

/// Writes `len` bytes of stream `seed` in writes of random size, then SHUT_WR.
fn send_stream(mut s: TcpStream, seed: u64, len: usize) -> usize {
    let mut stream = ByteStream::new(seed);
    let mut sizes = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0;
    while sent < len {
        let n = sizes.random_range(1..=CHUNK).min(len - sent);
        stream.fill(&mut buf[..n]);
        s.write_all(&buf[..n])
            .unwrap_or_else(|e| panic!("write failed after {sent} of {len} bytes: {e}"));
        sent += n;
    }
    shutdown_write(&s);
    sent
}

/// Reads until EOF, comparing every byte with stream `seed` (regenerated here, so a
/// mismatch names its offset). Returns the number of bytes received.
fn expect_stream(mut s: TcpStream, seed: u64, len: usize, who: &str) -> usize {
    let mut stream = ByteStream::new(seed);
    let mut got = vec![0u8; CHUNK];
    let mut want = vec![0u8; CHUNK];
    let mut received = 0;
    loop {
        let n = s
            .read(&mut got)
            .unwrap_or_else(|e| panic!("{who}: read failed after {received} bytes: {e}"));
        if n == 0 {
            return received;
        }
        assert!(
            received + n <= len,
            "{who}: more bytes than were sent ({} > {len})",
            received + n
        );
        stream.fill(&mut want[..n]);
        if let Some(i) = (0..n).find(|&i| got[i] != want[i]) {
            panic!(
                "{who}: byte {} differs: got {:#04x}, expected {:#04x}",
                received + i,
                got[i],
                want[i]
            );
        }
        received += n;
    }
}

fn proxy_to(backend: &TestListener) -> Proxy {
    Proxy::start(&ProxyConfig::to(&[backend.addr]))
}

#[test]
fn hundred_mib_each_way_concurrently_arrive_byte_exact() {
    let backend = TestListener::bind();
    let proxy = proxy_to(&backend);
    let client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    let server = backend.accept_within(WAIT);

    let (c2s, s2c) = (0xC2_5EED, 0x52_C5EED);
    let threads = [
        {
            let w = client.try_clone().unwrap();
            thread::spawn(move || send_stream(w, c2s, BIG))
        },
        {
            let w = server.try_clone().unwrap();
            thread::spawn(move || send_stream(w, s2c, BIG))
        },
        {
            let r = server.try_clone().unwrap();
            thread::spawn(move || expect_stream(r, c2s, BIG, "backend reading client→server"))
        },
        {
            let r = client.try_clone().unwrap();
            thread::spawn(move || expect_stream(r, s2c, BIG, "client reading server→client"))
        },
    ];
    let results: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        results[2], BIG,
        "backend received a short client→server stream"
    );
    assert_eq!(
        results[3], BIG,
        "client received a short server→client stream"
    );
    drop((client, server));

    let log = proxy.access_log_for(client_addr);
    assert_eq!(num(&log, "bytes_in"), BIG as u64, "bytes_in in {log}");
    assert_eq!(num(&log, "bytes_out"), BIG as u64, "bytes_out in {log}");
    assert_eq!(
        text(&log, "server"),
        backend.addr.to_string(),
        "server in {log}"
    );
    assert_eq!(text(&log, "listener"), "mqtt");
    assert_eq!(text(&log, "backend"), "broker");
}

/// `count` writes of 1–100 bytes each (TCP_NODELAY, so each is its own segment as far as
/// the sender can make it), then SHUT_WR. Returns the concatenation of what was written.
fn small_writes(mut s: TcpStream, seed: u64, count: usize) -> Vec<u8> {
    s.set_nodelay(true).unwrap();
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut sent = Vec::new();
    for _ in 0..count {
        let n = rng.random_range(1..=100usize);
        let mut piece = vec![0u8; n];
        rng.fill_bytes(&mut piece);
        s.write_all(&piece).expect("small write");
        sent.extend_from_slice(&piece);
    }
    shutdown_write(&s);
    sent
}

fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v)
        .unwrap_or_else(|e| panic!("read failed after {} bytes: {e}", v.len()));
    v
}

fn assert_same_stream(got: &[u8], sent: &[u8], what: &str) {
    if let Some(i) = (0..got.len().min(sent.len())).find(|&i| got[i] != sent[i]) {
        panic!("{what}: first difference at byte {i} of {}", sent.len());
    }
    assert_eq!(got.len(), sent.len(), "{what}: byte count differs");
}

#[test]
fn twenty_thousand_small_nodelay_writes_arrive_in_order() {
    let backend = TestListener::bind();
    let proxy = proxy_to(&backend);
    let client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    let server = backend.accept_within(WAIT);

    let (c, s) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let client_writer = thread::spawn(move || small_writes(c, 42, 20_000));
    let server_writer = thread::spawn(move || small_writes(s, 43, 20_000));
    let server_reader = thread::spawn(move || read_all(server));
    let client_got = read_all(client);
    let c2s_sent = client_writer.join().unwrap();
    let s2c_sent = server_writer.join().unwrap();
    let server_got = server_reader.join().unwrap();

    assert_same_stream(&server_got, &c2s_sent, "client→server");
    assert_same_stream(&client_got, &s2c_sent, "server→client");
    let log = proxy.access_log_for(client_addr);
    assert_eq!(
        num(&log, "bytes_in"),
        c2s_sent.len() as u64,
        "bytes_in in {log}"
    );
    assert_eq!(
        num(&log, "bytes_out"),
        s2c_sent.len() as u64,
        "bytes_out in {log}"
    );
}

#[test]
fn access_log_counts_bytes_of_a_short_exchange() {
    let backend = TestListener::bind();
    let proxy = proxy_to(&backend);
    let mut client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    let mut server = backend.accept_within(WAIT);
    client.write_all(b"0123456789").unwrap();
    let mut got = [0u8; 10];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"0123456789");
    server.write_all(b"abc").unwrap();
    let mut got = [0u8; 3];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"abc");
    drop(client);
    assert_eq!(common::read_to_eof(&mut server), b"");
    drop(server);
    let log = proxy.access_log_for(client_addr);
    assert_eq!(num(&log, "bytes_in"), 10, "{log}");
    assert_eq!(num(&log, "bytes_out"), 3, "{log}");
    assert_eq!(text(&log, "termination"), "client_closed", "{log}");
    assert_eq!(text(&log, "client"), client_addr.to_string());
    num(&log, "worker");
    num(&log, "duration_ms");
}
