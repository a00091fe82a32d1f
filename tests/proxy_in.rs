//! PROXY-in with the client's first bytes in the same read (issue 11, finding 8): a load
//! balancer forwards the header together with whatever the client sent first, so a header
//! and a whole ClientHello or MQTT CONNECT often arrive in one read. Only the header counts
//! against the header's limit; what follows it against the next stage's.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;

use common::backends::EchoServer;
use common::fake_broker;
use common::pki::Pki;
use common::proxy_header::v2_proxy;
use common::tls_client::{TlsClient, tcp_connect_from};
use common::{Proxy, TempDir, text};

/// The client behind the balancer, as its header names it (one port per case, to find
/// each case's access-log line).
fn client(port: u16) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 7], port))
}

fn frontend() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 1], 8883))
}

/// A v2 header of `len` bytes: addresses, then a balancer's vendor TLV (type 0xEA, as AWS
/// uses) padding it out. Headers up to `proxy_protocol::V2_MAX_LEN` (2048) are valid.
fn v2_header_of(len: usize, port: u16) -> Vec<u8> {
    let vendor_len = len - 16 - 12 - 3;
    let mut tlv = vec![0xEA];
    tlv.extend_from_slice(&(vendor_len as u16).to_be_bytes());
    tlv.resize(3 + vendor_len, b'v');
    let header = v2_proxy(client(port), frontend(), &tlv);
    assert_eq!(header.len(), len);
    header
}

fn proxy(echo: &EchoServer) -> (Proxy, Pki) {
    let pki = Pki::generate();
    let dir = TempDir::new("proxy-in");
    pki.write_to(&dir.path().join("pki"));
    let toml = format!(
        "[runtime]\nworkers = 1\n\n\
         [[listener]]\nname = \"plain\"\nbind = \"127.0.0.1:0\"\naccept_proxy = true\n\
         trusted_proxies = [\"127.0.0.0/8\"]\nbackend = \"echo\"\n\n\
         [[listener]]\nname = \"mqtt\"\nbind = \"127.0.0.1:0\"\naccept_proxy = true\n\
         trusted_proxies = [\"127.0.0.0/8\"]\nmqtt = true\nbackend = \"echo\"\n\n\
         [[listener]]\nname = \"tls\"\nbind = \"127.0.0.1:0\"\ntls = \"terminate\"\n\
         accept_proxy = true\ntrusted_proxies = [\"127.0.0.0/8\"]\ndefault_route = \"local\"\n\n\
         [[route]]\nname = \"local\"\nlistener = \"tls\"\nsni = [\"localhost\"]\n\
         cert = \"pki/localhost-chain.crt\"\nkey = \"pki/localhost.key\"\nbackend = \"echo\"\n\n\
         [[backend]]\nname = \"echo\"\nservers = [\"{}\"]\n",
        echo.addr
    );
    (Proxy::start_toml_in(dir, &toml), pki)
}

/// Writes a `header_len` byte header naming `client(port)` and `after` in one write, reads
/// `after` back from the echo backend, closes, and returns the access-log line.
fn echoed_after_header(
    proxy: &Proxy,
    listener: &str,
    (header_len, port): (usize, u16),
    after: &[u8],
) -> serde_json::Value {
    let mut s = tcp_connect_from(None, proxy.listen_addr(listener)).unwrap();
    s.write_all(&[&v2_header_of(header_len, port)[..], after].concat())
        .unwrap();
    let local = s.local_addr().unwrap();
    let mut back = vec![0; after.len()];
    let read = s.read_exact(&mut back);
    drop(s);
    if read.is_err() {
        // Refused before the header took effect: logged under the balancer's address.
        let log = proxy.access_log_for(local);
        panic!(
            "{listener}: {header_len} byte header + {} bytes in one write: {read:?}\n{log}",
            after.len()
        );
    }
    assert_eq!(back, after, "{listener}: echoed bytes");
    proxy.access_log_for(client(port))
}

#[test]
fn header_and_the_first_bytes_after_it_in_one_read_regression() {
    let echo = EchoServer::start();
    let (proxy, pki) = proxy(&echo);

    // A header with a balancer's TLVs and 1.5 KiB after it: 2.6 KiB in one read.
    let data: Vec<u8> = (0..1536u32).map(|i| i as u8).collect();
    echoed_after_header(&proxy, "plain", (1100, 40001), &data);

    // A CONNECT of 3 KiB (a token as user name) behind a small header.
    let token = "t".repeat(3000);
    let connect = fake_broker::connect(4, 60, "behind-lb", Some(&token));
    let log = echoed_after_header(&proxy, "mqtt", (64, 40002), &connect);
    assert_eq!(text(&log, "mqtt_client_id"), "behind-lb", "{log}");

    // A ClientHello with an X25519MLKEM768 key share (rustls' default, ~1.4 KiB) behind a
    // header carrying a balancer's TLVs.
    let sock = tcp_connect_from(None, proxy.listen_addr("tls")).unwrap();
    let mut conn = TlsClient::new("localhost", &[&pki.ca])
        .handshake_after(&v2_header_of(700, 40003), sock)
        .unwrap_or_else(|e| {
            let log = proxy.access_log_for(client(40003));
            panic!("TLS behind a 700 byte header: {e}\n{log}")
        });
    assert_eq!(conn.echo(b"hello").unwrap(), b"hello");
    conn.close();
    let log = proxy.access_log_for(client(40003));
    assert_eq!(text(&log, "tls_version"), "TLSv1.3", "{log}");
}
