//! ringress in front of mosquitto 2.1 (sid rootfs), with mosquitto_pub/mosquitto_sub:
//! plain pass-through, TLS termination and mutual TLS, each with and without PROXY v2 to
//! the broker, using the shipped examples (`docs/examples/haproxy-*.toml`).
//!
//! "Without PROXY" runs the same example with the backend's `proxy_protocol` removed.

mod common;

use std::time::Duration;

use common::backends::free_port;
use common::examples::Example;
use common::mqtt_peers::{Bed, Conn, access_log_from_ip, loopback, new_clients};
use common::sid::Daemon;
use common::{Proxy, text};

/// The broker's PROXY settings for each ringress `proxy_protocol`.
fn broker_listener(port: u16, proxy: &str) -> String {
    let pp = match proxy {
        "none" => "",
        "v2" => "enable_proxy_protocol 2\n",
        "v2-ssl" => "enable_proxy_protocol 2\nproxy_protocol_v2_require_tls true\n",
        "v2-ssl-cn" => {
            "enable_proxy_protocol 2\nproxy_protocol_v2_require_tls true\n\
             require_certificate true\nuse_identity_as_username true\n"
        }
        other => panic!("no broker setting for {other}"),
    };
    format!("listener {port} 127.0.0.1\n{pp}listener_allow_anonymous true\n")
}

/// Loads `example`, points `backend` at the broker, and removes `proxy_protocol` when
/// `with_proxy` is false.
fn example(name: &str, backend: &str, broker_port: u16, with_proxy: bool) -> Example {
    let mut ex = Example::load(name);
    ex.servers(backend, &[loopback(broker_port)]);
    if !with_proxy {
        ex.entry("backend", backend).remove("proxy_protocol");
    }
    ex
}

/// Subscribes from 127.0.0.5 and publishes from 127.0.0.6 through the proxy; the message
/// must arrive. Returns the broker's "New client connected" line for the subscriber.
fn pub_sub(bed: &Bed, broker: &Daemon, proxy: &Proxy, sub: Conn, publ: Conn, tag: &str) -> String {
    let topic = format!("ringress/{tag}");
    let msg = format!("hello {tag}");
    let sub_id = format!("sub-{tag}");
    let mut s = bed.subscribe(broker, &sub, &sub_id, &topic);
    let (ok, out) = bed.publish(&publ, &format!("pub-{tag}"), &topic, &msg);
    assert!(
        ok,
        "{tag}: publish failed:\n{out}\n{}\n{}",
        broker.log_tail(30),
        proxy.stderr_tail(20)
    );
    let (ok, stdout, stderr) = s.finish(Duration::from_secs(20));
    assert!(
        ok && stdout.lines().any(|l| l == msg),
        "{tag}: subscriber did not get {msg:?}: {stdout} {stderr}\n{}\n{}",
        broker.log_tail(30),
        proxy.stderr_tail(20)
    );
    new_clients(broker)
        .into_iter()
        .find(|l| l.contains(&format!(" as {sub_id} ")))
        .unwrap_or_else(|| {
            panic!(
                "{tag}: no connect line for {sub_id}\n{}",
                broker.log_tail(30)
            )
        })
}

fn run_case(example_name: &str, backend: &str, listener: &str, mode: Mode, with_proxy: bool) {
    let tag = format!("{}-{}", mode.tag(), if with_proxy { "pp" } else { "nopp" });
    let Some(bed) = Bed::new(&tag) else { return };
    let port = free_port();
    let ex = example(example_name, backend, port, with_proxy);
    let pp = ex.proxy_protocol(backend);
    assert_eq!(
        pp != "none",
        with_proxy,
        "{example_name}: proxy_protocol {pp}"
    );
    let broker = bed
        .peers
        .mosquitto("broker", &broker_listener(port, &pp), &[port]);
    let proxy = bed.proxy(ex);
    let addr = proxy.listen_addr(listener);
    let conn = |bind: &str| match mode {
        Mode::Plain => Conn::plain(addr.port(), bind),
        Mode::Tls => Conn::tls(&bed, "broker.example.com", addr.port(), bind, None),
        Mode::Mtls => Conn::tls(
            &bed,
            "devices.example.com",
            addr.port(),
            bind,
            Some("device1"),
        ),
    };
    let line = pub_sub(
        &bed,
        &broker,
        &proxy,
        conn("127.0.0.5"),
        conn("127.0.0.6"),
        &tag,
    );
    // With PROXY v2 the broker sees the client's own address; without, the proxy's.
    let want_from = if with_proxy {
        "from 127.0.0.5:"
    } else {
        "from 127.0.0.1:"
    };
    assert!(
        line.contains(want_from),
        "{tag}: broker logged {line:?}, expected {want_from}"
    );
    if mode == Mode::Mtls && with_proxy {
        assert!(
            line.contains("u'device1'"),
            "{tag}: the CN is not the user name: {line}"
        );
    }
    let log = access_log_from_ip(&proxy, "127.0.0.5");
    assert_eq!(text(&log, "proxy"), pp, "{log}");
    assert_eq!(text(&log, "server"), loopback(port).to_string(), "{log}");
    match mode {
        Mode::Plain => assert_eq!(text(&log, "tls_version"), "-", "{log}"),
        Mode::Tls | Mode::Mtls => {
            assert_eq!(text(&log, "tls_version"), "TLSv1.3", "{log}");
            assert_ne!(text(&log, "cipher"), "-", "{log}");
        }
    }
    if mode == Mode::Mtls {
        assert_eq!(text(&log, "client_cn"), "device1", "{log}");
        assert_eq!(text(&log, "client_verify"), "ok", "{log}");
    }
    let end = text(&log, "termination");
    assert!(end == "client_closed" || end == "server_closed", "{log}");
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Tls,
    Mtls,
}

impl Mode {
    fn tag(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Tls => "tls",
            Mode::Mtls => "mtls",
        }
    }
}

#[test]
fn plain_pass_through_to_mosquitto() {
    run_case(
        "haproxy-proxy-v2.toml",
        "broker",
        "mqtt",
        Mode::Plain,
        false,
    );
}

#[test]
fn plain_with_proxy_v2_mosquitto_sees_the_real_client_address() {
    run_case("haproxy-proxy-v2.toml", "broker", "mqtt", Mode::Plain, true);
}

#[test]
fn tls_termination_to_mosquitto() {
    run_case(
        "haproxy-v2-ssl.toml",
        "mosquitto",
        "mqtts",
        Mode::Tls,
        false,
    );
}

#[test]
fn tls_termination_with_proxy_v2_ssl_to_mosquitto() {
    run_case("haproxy-v2-ssl.toml", "mosquitto", "mqtts", Mode::Tls, true);
}

#[test]
fn mutual_tls_to_mosquitto() {
    run_case(
        "haproxy-mtls-v2-ssl-cn.toml",
        "mosquitto",
        "mqtts",
        Mode::Mtls,
        false,
    );
}

#[test]
fn mutual_tls_with_proxy_v2_ssl_cn_to_mosquitto() {
    run_case(
        "haproxy-mtls-v2-ssl-cn.toml",
        "mosquitto",
        "mqtts",
        Mode::Mtls,
        true,
    );
}

/// `proxy_protocol_v2_require_tls true` accepts ringress's `v2-ssl` (TLS terminated) and
/// refuses a plain listener's `v2` header to the same broker port.
#[test]
fn mosquitto_require_tls_accepts_v2_ssl_and_refuses_plain_v2() {
    let Some(bed) = Bed::new("require-tls") else {
        return;
    };
    let port = free_port();
    let broker = bed
        .peers
        .mosquitto("broker", &broker_listener(port, "v2-ssl"), &[port]);
    let tls_proxy = bed.proxy(example("haproxy-v2-ssl.toml", "mosquitto", port, true));
    let plain_proxy = bed.proxy(example("haproxy-proxy-v2.toml", "broker", port, true));

    let tls = tls_proxy.listen_addr("mqtts");
    let c = |bind: &str| Conn::tls(&bed, "broker.example.com", tls.port(), bind, None);
    let line = pub_sub(
        &bed,
        &broker,
        &tls_proxy,
        c("127.0.0.5"),
        c("127.0.0.6"),
        "require-tls",
    );
    assert!(line.contains("from 127.0.0.5:"), "{line}");

    let plain = Conn::plain(plain_proxy.listen_addr("mqtt").port(), "127.0.0.7");
    let (ok, out) = bed.publish(&plain, "plain-v2", "ringress/refused", "must not arrive");
    assert!(
        !ok,
        "a plain client with PROXY v2 (no SSL TLV) was accepted:\n{out}"
    );
    assert!(
        !new_clients(&broker).iter().any(|l| l.contains("127.0.0.7")),
        "the broker accepted the plain client\n{}",
        broker.log_tail(30)
    );
    // The proxy relayed the header; the broker closed.
    let log = access_log_from_ip(&plain_proxy, "127.0.0.7");
    assert_eq!(text(&log, "proxy"), "v2", "{log}");
}

/// Mutual TLS + `v2-ssl-cn`: the broker takes the CN as user name and applies its ACL;
/// clients without a valid certificate never reach it.
#[test]
fn mutual_tls_cn_is_the_mosquitto_user_and_bad_certificates_never_reach_it() {
    let Some(bed) = Bed::new("mtls-acl") else {
        return;
    };
    let (port, monitor_port) = (free_port(), free_port());
    let acl = bed.peers.write(
        "acl",
        "# anonymous clients (the monitor) may read everything\ntopic read #\n\n\
         user device1\ntopic readwrite devices/device1/#\n",
    );
    let conf = format!(
        "acl_file {acl}\n{}listener {monitor_port} 127.0.0.1\nlistener_allow_anonymous true\n",
        broker_listener(port, "v2-ssl-cn")
    );
    let broker = bed.peers.mosquitto("broker", &conf, &[port, monitor_port]);
    let proxy = bed.proxy(example(
        "haproxy-mtls-v2-ssl-cn.toml",
        "mosquitto",
        port,
        true,
    ));
    let addr = proxy.listen_addr("mqtts");
    let device = |bind: &str, cert: Option<&str>| {
        Conn::tls(&bed, "devices.example.com", addr.port(), bind, cert)
    };

    // The monitor reads devices/# straight from the broker; its first message must be the
    // allowed one, so the denied publish (sent first) was dropped.
    let mut monitor = bed.subscribe(
        &broker,
        &Conn::plain(monitor_port, "127.0.0.4"),
        "monitor",
        "devices/#",
    );
    let (ok, out) = bed.publish(
        &device("127.0.0.5", Some("device1")),
        "dev-denied",
        "devices/device2/temp",
        "denied",
    );
    assert!(
        ok,
        "publish (denied by ACL, but the client is told nothing):\n{out}"
    );
    let (ok, out) = bed.publish(
        &device("127.0.0.6", Some("device1")),
        "dev-allowed",
        "devices/device1/temp",
        "allowed",
    );
    assert!(ok, "publish to the device's own topic:\n{out}");
    let (ok, stdout, stderr) = monitor.finish(Duration::from_secs(20));
    assert!(ok, "monitor: {stdout} {stderr}\n{}", broker.log_tail(30));
    assert_eq!(
        stdout.trim(),
        "allowed",
        "the ACL did not drop the other device's topic\n{}",
        broker.log_tail(30)
    );
    let line = new_clients(&broker)
        .into_iter()
        .find(|l| l.contains(" as dev-allowed "))
        .expect("connect line for dev-allowed");
    assert!(
        line.contains("from 127.0.0.6:") && line.contains("u'device1'"),
        "{line}"
    );

    for (ip, cert, want) in [
        ("127.0.0.8", None, "tls_no_client_cert"),
        ("127.0.0.9", Some("device1-other-ca"), "tls_bad_client_cert"),
        ("127.0.0.10", Some("device1-expired"), "tls_bad_client_cert"),
    ] {
        let (ok, out) = bed.publish(&device(ip, cert), "bad-cert", "devices/device1/x", "no");
        assert!(!ok, "client {cert:?} was served:\n{out}");
        let log = access_log_from_ip(&proxy, ip);
        assert_eq!(
            text(&log, "termination"),
            want,
            "client cert {cert:?}: {log}"
        );
        assert_eq!(text(&log, "server"), "-", "{log}");
    }
    assert!(
        !broker.log().contains("bad-cert"),
        "a client without a valid certificate reached the broker\n{}",
        broker.log_tail(30)
    );
}
