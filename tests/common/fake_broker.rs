//! A broker stand-in for tests that must control the server side: it answers CONNECT with
//! CONNACK, SUBSCRIBE with SUBACK and PINGREQ with PINGRESP, never closes first and never
//! enforces a keep-alive itself — so when a connection ends, the proxy ended it. Also MQTT
//! packet bytes for raw-socket clients.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// What the fake broker saw, per connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A packet, whole: fixed header and body as received.
    Packet(Vec<u8>),
    /// The proxy closed the connection (EOF or error).
    Closed,
}

/// A fake broker on 127.0.0.1, one thread per connection. Events arrive on `seen` as
/// (connection number from 0, event).
pub struct FakeBroker {
    pub addr: SocketAddr,
    pub seen: Receiver<(usize, Seen)>,
}

impl FakeBroker {
    pub fn start() -> FakeBroker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake broker");
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = channel();
        std::thread::Builder::new()
            .name("fake-broker".into())
            .spawn(move || {
                for (n, stream) in listener.incoming().enumerate() {
                    let Ok(stream) = stream else { return };
                    let tx = tx.clone();
                    std::thread::spawn(move || serve(n, stream, &tx));
                }
            })
            .expect("spawn fake broker");
        FakeBroker { addr, seen }
    }

    /// The next event, waiting at most `timeout`.
    pub fn next(&self, timeout: Duration) -> (usize, Seen) {
        self.seen
            .recv_timeout(timeout)
            .unwrap_or_else(|e| panic!("fake broker: nothing within {timeout:?}: {e}"))
    }

    /// Waits for a packet whose first byte is `first` (skipping other events); returns it
    /// with its connection number.
    pub fn packet_starting(&self, first: u8, timeout: Duration) -> (usize, Vec<u8>) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if let (n, Seen::Packet(p)) = self.next(left)
                && p.first() == Some(&first)
            {
                return (n, p);
            }
        }
    }
}

fn serve(n: usize, mut stream: TcpStream, tx: &Sender<(usize, Seen)>) {
    while let Some(packet) = read_packet(&mut stream) {
        let reply: Vec<u8> = match packet[0] >> 4 {
            1 => CONNACK_ACCEPTED.to_vec(),
            8 => {
                // SUBACK for the packet identifier after the header, granting QoS 0.
                let at = 1 + remaining_length_bytes(&packet);
                let id = packet.get(at..at + 2).unwrap_or(&[0, 1]);
                vec![0x90, 0x03, id[0], id[1], 0x00]
            }
            12 => PINGRESP.to_vec(),
            _ => Vec::new(),
        };
        let _ = stream.write_all(&reply);
        if tx.send((n, Seen::Packet(packet))).is_err() {
            return;
        }
    }
    let _ = tx.send((n, Seen::Closed));
}

fn remaining_length_bytes(packet: &[u8]) -> usize {
    packet[1..].iter().take_while(|b| *b & 0x80 != 0).count() + 1
}

/// One whole MQTT packet (3.1.1 §2.2: type byte, Remaining Length, body), or None at EOF.
pub fn read_packet(stream: &mut impl Read) -> Option<Vec<u8>> {
    let mut packet = vec![0u8; 1];
    stream.read_exact(&mut packet).ok()?;
    let mut remaining = 0usize;
    for i in 0..4 {
        let mut b = [0u8];
        stream.read_exact(&mut b).ok()?;
        packet.push(b[0]);
        remaining |= usize::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let start = packet.len();
    packet.resize(start + remaining, 0);
    stream.read_exact(&mut packet[start..]).ok()?;
    Some(packet)
}

/// A CONNECT: `level` 3 (`MQIsdp`), 4 or 5 (`MQTT`), Clean Session, `keepalive` seconds,
/// `client_id`, and a user name when given. MQTT 5 gets an empty property block.
pub fn connect(level: u8, keepalive: u16, client_id: &str, username: Option<&str>) -> Vec<u8> {
    let name: &[u8] = if level == 3 { b"MQIsdp" } else { b"MQTT" };
    let mut body = Vec::new();
    put_binary(&mut body, name);
    body.push(level);
    body.push(0x02 | if username.is_some() { 0x80 } else { 0 });
    body.extend_from_slice(&keepalive.to_be_bytes());
    if level == 5 {
        body.push(0x00);
    }
    put_binary(&mut body, client_id.as_bytes());
    if let Some(user) = username {
        put_binary(&mut body, user.as_bytes());
    }
    packet(0x10, &body)
}

/// A packet with first byte `first` and `body` (Remaining Length encoded).
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut b = (len & 0x7f) as u8;
        len >>= 7;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

fn put_binary(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

pub const PINGREQ: [u8; 2] = [0xc0, 0x00];
pub const PINGRESP: [u8; 2] = [0xd0, 0x00];
pub const CONNACK_ACCEPTED: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
