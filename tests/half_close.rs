//! Half-close: a FIN from one side becomes shutdown(SHUT_WR) toward the other, and the
//! other direction keeps working until it is done too.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::backends::TestListener;
use common::{Proxy, WAIT, connect, expect_open_and_silent, read_to_eof, shutdown_write, text};

fn client_shutdown_write_still_gets_the_reply(relay: &'static str) {
    let backend = TestListener::bind();
    let proxy = Proxy::start_relay(&[backend.addr], relay);
    let mut client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    let mut server = backend.accept_within(WAIT);

    client.write_all(b"request").unwrap();
    shutdown_write(&client);
    // The backend sees the request and then EOF...
    assert_eq!(read_to_eof(&mut server), b"request");
    // ...but the connection is not over: the reply still reaches the client.
    server.write_all(b"reply part 1, ").unwrap();
    let mut first = [0u8; 14];
    client.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"reply part 1, ");
    proxy.assert_no_access_log_for(client_addr, "one direction is still open");
    server.write_all(b"part 2").unwrap();
    drop(server);
    assert_eq!(read_to_eof(&mut client), b"part 2");

    let log = proxy.access_log_for(client_addr);
    assert_eq!(text(&log, "termination"), "client_closed", "{log}");
    assert_eq!(common::num(&log, "bytes_in"), 7, "{log}");
    assert_eq!(common::num(&log, "bytes_out"), 20, "{log}");
}

fn server_shutdown_write_still_gets_the_client_data(relay: &'static str) {
    let backend = TestListener::bind();
    let proxy = Proxy::start_relay(&[backend.addr], relay);
    let mut client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    let mut server = backend.accept_within(WAIT);

    server.write_all(b"greeting").unwrap();
    shutdown_write(&server);
    assert_eq!(read_to_eof(&mut client), b"greeting");
    // The client's direction still works after the server's FIN.
    client.write_all(b"late data").unwrap();
    let mut got = [0u8; 9];
    server.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"late data");
    proxy.assert_no_access_log_for(client_addr, "one direction is still open");
    drop(client);
    assert_eq!(read_to_eof(&mut server), b"");

    let log = proxy.access_log_for(client_addr);
    assert_eq!(text(&log, "termination"), "server_closed", "{log}");
    assert_eq!(common::num(&log, "bytes_in"), 9, "{log}");
    assert_eq!(common::num(&log, "bytes_out"), 8, "{log}");
}

/// Half-closed from the client side, the proxy must neither close early nor forward a
/// spurious EOF to the client while the server is still thinking.
fn half_closed_connection_stays_open_while_the_server_is_silent(relay: &'static str) {
    let backend = TestListener::bind();
    let proxy = Proxy::start_relay(&[backend.addr], relay);
    let mut client = connect(proxy.listen_addr("mqtt"));
    let client_addr = client.local_addr().unwrap();
    let mut server = backend.accept_within(WAIT);

    shutdown_write(&client);
    assert_eq!(read_to_eof(&mut server), b"");
    expect_open_and_silent(&mut client, Duration::from_millis(500));
    server.write_all(b"done").unwrap();
    drop(server);
    assert_eq!(read_to_eof(&mut client), b"done");
    let log = proxy.access_log_for(client_addr);
    assert_eq!(text(&log, "termination"), "client_closed", "{log}");
}

for_each_relay!(
    client_shutdown_write_still_gets_the_reply,
    server_shutdown_write_still_gets_the_client_data,
    half_closed_connection_stays_open_while_the_server_is_silent,
);
