//! `mqtt = true` listeners (issue 6): real MQTT 5, 3.1.1 and 3.1 clients (Debian's
//! mosquitto_pub/mosquitto_sub) through plain and TLS-terminated listeners to a real
//! mosquitto broker, with their CONNECT facts in the access log; the CONNECT forwarded byte
//! for byte; and refusals, byte-exact on raw sockets: the right CONNACK (encrypted on TLS),
//! then close, and no backend connection.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::backends::TestListener;
use common::fake_broker::{self, CONNACK_ACCEPTED, PINGREQ};
use common::mosquitto::{self, Broker, Subscriber};
use common::pki::Pki;
use common::tls_client::TlsClient;
use common::{Proxy, TempDir, WAIT, connect, read_to_eof, text};

/// One plain `mqtt = true` listener named `mqtt` to `server`, with `extra` listener keys.
fn plain_toml(server: SocketAddr, extra: &str) -> String {
    format!(
        "[runtime]\nworkers = 1\n\n[[listener]]\nname = \"mqtt\"\nbind = \"127.0.0.1:0\"\n\
         backend = \"broker\"\nmqtt = true\n{extra}\n\n[[backend]]\nname = \"broker\"\n\
         servers = [\"{server}\"]\n"
    )
}

/// A proxy with one TLS-terminating `mqtt = true` listener named `mqtts` (certificate for
/// `localhost`, from a fresh test PKI) to `server`.
fn tls_proxy(server: SocketAddr) -> (Proxy, Pki) {
    let pki = Pki::generate();
    let dir = TempDir::new("mqtt-tls");
    pki.write_to(&dir.path().join("pki"));
    let toml = format!(
        "[runtime]\nworkers = 1\n\n[[listener]]\nname = \"mqtts\"\nbind = \"127.0.0.1:0\"\n\
         tls = \"terminate\"\ndefault_route = \"local\"\nmqtt = true\n\n[[route]]\n\
         name = \"local\"\nlistener = \"mqtts\"\nsni = [\"localhost\"]\n\
         cert = \"pki/localhost-chain.crt\"\nkey = \"pki/localhost.key\"\nbackend = \"broker\"\n\n\
         [[backend]]\nname = \"broker\"\nservers = [\"{server}\"]\n"
    );
    (Proxy::start_toml_in(dir, &toml), pki)
}

/// The access-log line whose `mqtt_client_id` is `id`.
fn log_for_client_id(proxy: &Proxy, id: &str) -> serde_json::Value {
    proxy.wait_for(
        &format!("the access-log line of client id {id:?}"),
        WAIT,
        |v| common::is_access_log(v) && v["mqtt_client_id"] == id,
    )
}

/// Subscribes as `sub-TAG` and publishes as `pub-TAG` (with `args` on both) through
/// `host:port`; the message must arrive.
fn pub_sub(broker: &Broker, host: &str, port: u16, tag: &str, args: &[&str]) {
    let topic = format!("ringress/mqtt/{tag}");
    let (sub_id, pub_id) = (format!("sub-{tag}"), format!("pub-{tag}"));
    let mut sub = Subscriber::start_with(broker, host, port, &sub_id, &topic, 0, args);
    let mut pub_args = vec!["-i", &pub_id];
    pub_args.extend_from_slice(args);
    let (ok, out) = mosquitto::publish_with(host, port, &topic, 0, tag, &pub_args);
    assert!(ok, "{tag}: mosquitto_pub failed: {out}\n{}", broker.log());
    let (ok, stdout, stderr) = sub.finish(Duration::from_secs(20));
    assert!(
        ok && stdout.lines().any(|l| l == tag),
        "{tag}: mosquitto_sub did not print {tag:?}: {stdout} {stderr}\n{}",
        broker.log()
    );
}

#[test]
fn mosquitto_clients_of_each_version_through_a_plain_mqtt_listener() {
    if !mosquitto::ensure_available() {
        return;
    }
    let broker = Broker::start();
    let proxy = Proxy::start_toml(&plain_toml(broker.addr, ""));
    let addr = proxy.listen_addr("mqtt");
    let port = addr.port();
    pub_sub(
        &broker,
        "127.0.0.1",
        port,
        "v5",
        &["-V", "mqttv5", "-k", "17", "-u", "alice"],
    );
    pub_sub(
        &broker,
        "127.0.0.1",
        port,
        "v311",
        &["-V", "mqttv311", "-k", "25"],
    );
    // No tag may prefix another: the subscriber waits for "Sending SUBACK to sub-TAG".
    pub_sub(&broker, "127.0.0.1", port, "v3dot1", &["-V", "mqttv31"]);
    for (id, version, keepalive, username) in [
        ("pub-v5", "5", "17", "true"),
        ("sub-v5", "5", "17", "true"),
        ("pub-v311", "3.1.1", "25", "false"),
        ("sub-v3dot1", "3.1", "60", "false"),
    ] {
        let log = log_for_client_id(&proxy, id);
        assert_eq!(text(&log, "mqtt_version"), version, "{log}");
        assert_eq!(text(&log, "mqtt_keepalive"), keepalive, "{log}");
        assert_eq!(text(&log, "mqtt_username"), username, "{log}");
        assert_eq!(text(&log, "server"), broker.addr.to_string(), "{log}");
        let end = text(&log, "termination");
        assert!(end == "client_closed" || end == "server_closed", "{log}");
    }
    // Never the password: mosquitto_pub's -P value appears nowhere in the proxy's output.
    let (ok, out) = mosquitto::publish_with(
        "127.0.0.1",
        port,
        "ringress/mqtt/pw",
        0,
        "x",
        &["-i", "pub-pw", "-u", "bob", "-P", "s3cret-pw"],
    );
    assert!(ok, "{out}");
    let log = log_for_client_id(&proxy, "pub-pw");
    assert_eq!(text(&log, "mqtt_username"), "true");
    assert!(
        proxy.raw_lines().iter().all(|l| !l.contains("s3cret-pw")),
        "the password was logged"
    );
}

#[test]
fn mosquitto_clients_through_a_tls_terminated_mqtt_listener() {
    if !mosquitto::ensure_available() {
        return;
    }
    let broker = Broker::start();
    let (proxy, _pki) = tls_proxy(broker.addr);
    let port = proxy.listen_addr("mqtts").port();
    let ca = proxy.dir.path().join("pki/ca.crt");
    let ca = ca.to_str().unwrap();
    pub_sub(
        &broker,
        "localhost",
        port,
        "tls-v5",
        &["-V", "mqttv5", "--cafile", ca],
    );
    pub_sub(
        &broker,
        "localhost",
        port,
        "tls-v311",
        &["-V", "mqttv311", "-k", "30", "--cafile", ca],
    );
    for (id, version, keepalive) in [("pub-tls-v5", "5", "60"), ("sub-tls-v311", "3.1.1", "30")] {
        let log = log_for_client_id(&proxy, id);
        assert_eq!(text(&log, "mqtt_version"), version, "{log}");
        assert_eq!(text(&log, "mqtt_keepalive"), keepalive, "{log}");
        assert_eq!(text(&log, "sni"), "localhost", "{log}");
        assert!(text(&log, "tls_version").starts_with("TLSv1."), "{log}");
        let end = text(&log, "termination");
        assert!(end == "client_closed" || end == "server_closed", "{log}");
    }
}

/// Plain listener in front of a backend the test drives: sends `bytes`, expects exactly
/// `reply` and then EOF, the access-log cause `termination`, and no backend connection.
#[track_caller]
fn refused(bytes: &[u8], reply: &[u8], termination: &str) {
    let backend = TestListener::bind();
    let proxy = Proxy::start_toml(&plain_toml(backend.addr, "max_connect_size = 1024"));
    let mut s = connect(proxy.listen_addr("mqtt"));
    s.write_all(bytes).unwrap();
    let got = read_to_eof(&mut s);
    assert_eq!(got, reply, "reply to {bytes:02x?}");
    let log = proxy.access_log_for(s.local_addr().unwrap());
    assert_eq!(text(&log, "termination"), termination, "{log}");
    assert_eq!(text(&log, "mqtt_client_id"), "-", "{log}");
    assert_eq!(text(&log, "server"), "-", "{log}");
    backend.assert_no_connection(Duration::from_millis(200));
}

#[test]
fn refusals_get_the_connack_their_protocol_has_then_close() {
    let v5 = |body: &[u8]| fake_broker::packet(0x10, body);
    // Not MQTT at all: no CONNACK.
    refused(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", &[], "mqtt_not_mqtt");
    refused(&[0x16, 0x03, 0x01, 0x00, 0x05], &[], "mqtt_not_mqtt");
    // Another MQTT packet first.
    refused(&PINGREQ, &[], "mqtt_not_connect");
    // 3.1.1 name with level 6: "unacceptable protocol version" in the 3.1.1 encoding.
    let level6 = b"\x10\x0c\x00\x04MQTT\x06\x02\x00\x3c\x00\x00";
    refused(
        level6,
        &[0x20, 0x02, 0x00, 0x01],
        "mqtt_unsupported_version",
    );
    // 3.1.1 malformed (reserved flag): close without CONNACK.
    refused(
        b"\x10\x0d\x00\x04MQTT\x04\x03\x00\x3c\x00\x01x",
        &[],
        "mqtt_malformed",
    );
    // 3.1.1 with an empty client id and no Clean Session: identifier rejected.
    refused(
        b"\x10\x0c\x00\x04MQTT\x04\x00\x00\x3c\x00\x00",
        &[0x20, 0x02, 0x00, 0x02],
        "mqtt_bad_client_id",
    );
    // MQTT 5 malformed: 0x81.
    refused(
        &v5(b"\x00\x04MQTT\x05\x03\x00\x3c\x00\x00\x00"),
        &[0x20, 0x03, 0x00, 0x81, 0x00],
        "mqtt_malformed",
    );
    // MQTT 5 over max_connect_size (1024): 0x95 as soon as the header arrives.
    let mut big = vec![0x10, 0x90, 0x08]; // Remaining Length 1040
    big.extend_from_slice(b"\x00\x04MQTT\x05");
    refused(
        &big,
        &[0x20, 0x03, 0x00, 0x95, 0x00],
        "mqtt_connect_too_large",
    );
    // 3.1.1 over it: no code, just close.
    let mut big = vec![0x10, 0x90, 0x08];
    big.extend_from_slice(b"\x00\x04MQTT\x04");
    refused(&big, &[], "mqtt_connect_too_large");
    // MQTT 5 with a wildcard will topic: 0x90.
    let will = v5(b"\x00\x04MQTT\x05\x06\x00\x3c\x00\x00\x01c\x00\x00\x01#\x00\x00");
    refused(
        &will,
        &[0x20, 0x03, 0x00, 0x90, 0x00],
        "mqtt_bad_will_topic",
    );
}

#[test]
fn a_tls_refusal_is_an_encrypted_connack_then_close_notify() {
    let backend = TestListener::bind();
    let (proxy, pki) = tls_proxy(backend.addr);
    let client = TlsClient::new("localhost", &[&pki.ca]);
    let mut tls = client.connect(proxy.listen_addr("mqtts")).unwrap();
    tls.stream
        .write_all(b"\x10\x0d\x00\x04MQTT\x05\x03\x00\x3c\x00\x00\x00")
        .unwrap();
    // read_to_end succeeds only on a clean close_notify; an EOF without it is an error.
    let mut got = Vec::new();
    tls.stream
        .read_to_end(&mut got)
        .expect("close_notify after the CONNACK");
    assert_eq!(got, [0x20, 0x03, 0x00, 0x81, 0x00]);
    let log = proxy.access_log_for(tls.local);
    assert_eq!(text(&log, "termination"), "mqtt_malformed", "{log}");
    assert!(text(&log, "tls_version").starts_with("TLSv1."), "{log}");
    backend.assert_no_connection(Duration::from_millis(200));
}

#[test]
fn the_connect_and_what_follows_reach_the_broker_unchanged() {
    let backend = TestListener::bind();
    let proxy = Proxy::start_toml(&plain_toml(backend.addr, ""));
    let mut s = connect(proxy.listen_addr("mqtt"));
    // A client id that would forge a field and a line in a text log, sent in pieces that
    // split the fixed header, the protocol name and the payload; PINGREQ right behind it.
    let connect = fake_broker::connect(4, 30, "dev 7\ntermination=ok", Some("u"));
    let mut sent = connect.clone();
    sent.extend_from_slice(&PINGREQ);
    for piece in [&sent[..1], &sent[1..5], &sent[5..20], &sent[20..]] {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut upstream = backend.accept_within(WAIT);
    let mut got = vec![0; sent.len()];
    upstream.read_exact(&mut got).unwrap();
    assert_eq!(got, sent, "the broker must get the client's bytes as sent");
    // Then it relays as before, both ways.
    upstream.write_all(&CONNACK_ACCEPTED).unwrap();
    let mut back = [0u8; 4];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, CONNACK_ACCEPTED);
    let client = s.local_addr().unwrap();
    drop((s, upstream));
    let log = proxy.access_log_for(client);
    assert_eq!(
        text(&log, "mqtt_client_id"),
        "dev\\x207\\x0atermination\\x3dok"
    );
    assert_eq!(text(&log, "mqtt_version"), "3.1.1");
    assert_eq!(text(&log, "mqtt_keepalive"), "30");
    assert_eq!(text(&log, "mqtt_username"), "true");
    assert_eq!(common::num(&log, "bytes_in"), sent.len() as u64);
}

#[test]
fn over_tls_the_decrypted_connect_is_forwarded_before_the_offload_decision() {
    let backend = TestListener::bind();
    let (proxy, pki) = tls_proxy(backend.addr);
    let client = TlsClient::new("localhost", &[&pki.ca]);
    let mut tls = client.connect(proxy.listen_addr("mqtts")).unwrap();
    let mut sent = fake_broker::connect(5, 45, "tls-dev", None);
    sent.extend_from_slice(&PINGREQ);
    tls.stream.write_all(&sent).unwrap();
    let mut upstream = backend.accept_within(WAIT);
    let mut got = vec![0; sent.len()];
    upstream.read_exact(&mut got).unwrap();
    assert_eq!(got, sent);
    upstream.write_all(&CONNACK_ACCEPTED).unwrap();
    let mut back = [0u8; 4];
    tls.stream.read_exact(&mut back).unwrap();
    assert_eq!(back, CONNACK_ACCEPTED);
    drop(upstream);
    tls.close();
    let log = log_for_client_id(&proxy, "tls-dev");
    assert_eq!(text(&log, "mqtt_version"), "5");
    assert_eq!(text(&log, "mqtt_keepalive"), "45");
    // Kernel TLS or not is the machine's business; either way the session was placed after
    // the CONNECT and says so.
    let offload = text(&log, "tls_offload");
    assert!(offload == "kernel" || offload == "userspace", "{log}");
}
