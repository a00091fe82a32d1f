//! Byte-exact relaying in both directions, and the byte counts in the access log.

mod common;

use std::io::{Read, Write};
use std::thread;

use common::backends::TestListener;
use common::streams::{assert_same_stream, both_ways, read_all, small_writes};
use common::{Proxy, WAIT, connect, num, text};

const BIG: usize = 100 * 1024 * 1024;

fn hundred_mib_each_way_concurrently_arrive_byte_exact(relay: &'static str) {
    let backend = TestListener::bind();
    let proxy = Proxy::start_relay(&[backend.addr], relay);
    let client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    let server = backend.accept_within(WAIT);

    let results = both_ways(&client, &server, BIG);
    assert_eq!(
        results,
        (BIG, BIG),
        "short streams (client→server, server→client)"
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
    assert_eq!(text(&log, "relay"), relay, "{log}");
}

fn twenty_thousand_small_nodelay_writes_arrive_in_order(relay: &'static str) {
    let backend = TestListener::bind();
    let proxy = Proxy::start_relay(&[backend.addr], relay);
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

fn access_log_counts_bytes_of_a_short_exchange(relay: &'static str) {
    let backend = TestListener::bind();
    let proxy = Proxy::start_relay(&[backend.addr], relay);
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
    assert_eq!(text(&log, "relay"), relay, "{log}");
    assert_eq!(text(&log, "client"), client_addr.to_string());
    num(&log, "worker");
    num(&log, "duration_ms");
}

for_each_relay!(
    hundred_mib_each_way_concurrently_arrive_byte_exact,
    twenty_thousand_small_nodelay_writes_arrive_in_order,
    access_log_counts_bytes_of_a_short_exchange,
);
