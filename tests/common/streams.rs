//! Byte streams for relay tests: a reproducible pseudo-random stream written in writes of
//! random size and checked byte for byte on the other side (a mismatch names its offset),
//! and many small TCP_NODELAY writes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

use super::shutdown_write;

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
pub fn send_stream(mut s: TcpStream, seed: u64, len: usize) -> usize {
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
pub fn expect_stream(mut s: TcpStream, seed: u64, len: usize, who: &str) -> usize {
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

/// `count` writes of 1–100 bytes each (TCP_NODELAY, so each is its own segment as far as
/// the sender can make it), then SHUT_WR. Returns the concatenation of what was written.
pub fn small_writes(mut s: TcpStream, seed: u64, count: usize) -> Vec<u8> {
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

pub fn read_all(mut s: TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v)
        .unwrap_or_else(|e| panic!("read failed after {} bytes: {e}", v.len()));
    v
}

pub fn assert_same_stream(got: &[u8], sent: &[u8], what: &str) {
    if let Some(i) = (0..got.len().min(sent.len())).find(|&i| got[i] != sent[i]) {
        panic!("{what}: first difference at byte {i} of {}", sent.len());
    }
    assert_eq!(got.len(), sent.len(), "{what}: byte count differs");
}

/// `len` bytes each way at once (two writers, two readers), each checked byte for byte.
/// Returns the bytes the backend and the client received (client→server, server→client).
pub fn both_ways(client: &TcpStream, server: &TcpStream, len: usize) -> (usize, usize) {
    let (c2s, s2c) = (0xC2_5EED, 0x52_C5EED);
    let clone = |s: &TcpStream| s.try_clone().expect("clone a test socket");
    let (cw, sw, sr, cr) = (clone(client), clone(server), clone(server), clone(client));
    let writers = [
        thread::spawn(move || send_stream(cw, c2s, len)),
        thread::spawn(move || send_stream(sw, s2c, len)),
    ];
    let server_reader =
        thread::spawn(move || expect_stream(sr, c2s, len, "backend reading client→server"));
    let client_reader =
        thread::spawn(move || expect_stream(cr, s2c, len, "client reading server→client"));
    for w in writers {
        w.join().expect("writer thread");
    }
    (
        server_reader.join().expect("reader thread"),
        client_reader.join().expect("reader thread"),
    )
}

/// Every client writes its message, then every client reads it back from the echo server
/// behind the proxy (writes first: all connections carry data at once). `tail` names what to
/// print when one fails (the proxy's stderr).
pub fn echo_all(clients: &mut [(TcpStream, Vec<u8>)], tail: impl Fn() -> String) {
    for (s, msg) in clients.iter_mut() {
        s.write_all(msg).expect("write");
    }
    for (i, (s, msg)) in clients.iter_mut().enumerate() {
        let mut back = vec![0; msg.len()];
        s.read_exact(&mut back)
            .unwrap_or_else(|e| panic!("connection {i}: no echo: {e}\n{}", tail()));
        assert_eq!(&back, msg, "connection {i}: echo differs");
    }
}
