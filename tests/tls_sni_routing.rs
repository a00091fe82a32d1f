//! SNI routing to two mosquitto 2.1 brokers (sid rootfs), from the shipped examples:
//! `sni-routing.toml` (TLS terminated here, one certificate per name) and
//! `sni-passthrough.toml` (the brokers terminate TLS themselves).

mod common;

use std::time::Duration;

use common::backends::free_port;
use common::examples::Example;
use common::mqtt_peers::{Bed, Conn, loopback, new_clients};
use common::pki::CertKey;
use common::tls_client::TlsClient;
use common::{WAIT, is_access_log, text};

/// Publishes `msg` through `via` (host name `host`) while a subscriber on the same name
/// waits; then checks only `own` broker saw the clients.
fn exchange(
    bed: &Bed,
    own: &common::sid::Daemon,
    other: &common::sid::Daemon,
    host: &str,
    port: u16,
    tag: &str,
) {
    let conn = |bind: &str| Conn::tls(bed, host, port, bind, None);
    let topic = "ringress/sni";
    let msg = format!("via {host}");
    let mut sub = bed.subscribe(own, &conn("127.0.0.5"), &format!("sub-{tag}"), topic);
    let (ok, out) = bed.publish(&conn("127.0.0.6"), &format!("pub-{tag}"), topic, &msg);
    assert!(ok, "publish via {host}:\n{out}\n{}", own.log_tail(20));
    let (ok, stdout, stderr) = sub.finish(Duration::from_secs(20));
    // -C 1: the first message the subscriber got is the one published via its own name.
    assert!(
        ok,
        "subscriber via {host}: {stdout} {stderr}\n{}",
        own.log_tail(20)
    );
    assert_eq!(
        stdout.trim(),
        msg,
        "subscriber via {host} got another broker's message"
    );
    assert!(
        !other.log().contains(&format!("-{tag}")),
        "clients via {host} reached {}\n{}",
        other.name,
        other.log_tail(20)
    );
}

fn served_cert(bed: &Bed, addr: std::net::SocketAddr, sni: &str, want: &CertKey, what: &str) {
    let conn = TlsClient::new(sni, &[&bed.pki.ca])
        .connect(addr)
        .unwrap_or_else(|e| panic!("TLS to {addr} with SNI {sni}: {e}"));
    assert!(
        conn.server_cert() == want.der,
        "SNI {sni}: not served {what}'s certificate"
    );
    conn.close();
}

#[test]
fn two_hostnames_reach_two_brokers_each_with_its_own_certificate() {
    let Some(bed) = Bed::new("sni-routing") else {
        return;
    };
    let (p1, p2) = (free_port(), free_port());
    let listener = |p: u16| format!("listener {p} 127.0.0.1\nlistener_allow_anonymous true\n");
    let b1 = bed.peers.mosquitto("broker1", &listener(p1), &[p1]);
    let b2 = bed.peers.mosquitto("broker2", &listener(p2), &[p2]);
    let mut ex = Example::load("sni-routing.toml");
    ex.servers("broker1", &[loopback(p1)])
        .servers("broker2", &[loopback(p2)]);
    let proxy = bed.proxy(ex);
    let addr = proxy.listen_addr("mqtts");

    // Each name is served its own certificate (checked by DER with a rustls client, and by
    // subject with OpenSSL from the rootfs); the wildcard name gets test2's.
    served_cert(&bed, addr, "test1.example.com", &bed.pki.test1, "test1");
    served_cert(&bed, addr, "test2.example.com", &bed.pki.test2, "test2");
    served_cert(
        &bed,
        addr,
        "device.tenant.example.com",
        &bed.pki.test2,
        "test2 (wildcard)",
    );
    for (name, subject) in [
        ("test1.example.com", "CN=test1.example.com, O=tenant one"),
        ("test2.example.com", "CN=test2.example.com, O=tenant two"),
    ] {
        let connect = format!("127.0.0.1:{}", addr.port());
        let ca = bed.pki("ca.crt");
        let (ok, out) = bed.peers.run_client(&[
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-servername",
            name,
            "-showcerts",
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-verify_hostname",
            name,
        ]);
        assert!(ok, "openssl s_client -servername {name}:\n{out}");
        assert!(
            out.contains(&format!("subject={subject}")),
            "{name}: subject not {subject}:\n{out}"
        );
        assert!(out.contains("Verify return code: 0 (ok)"), "{name}:\n{out}");
    }

    exchange(&bed, &b1, &b2, "test1.example.com", addr.port(), "t1");
    exchange(&bed, &b2, &b1, "test2.example.com", addr.port(), "t2");
    assert!(new_clients(&b1).iter().any(|l| l.contains(" as sub-t1 ")));
    assert!(new_clients(&b2).iter().any(|l| l.contains(" as sub-t2 ")));

    for (sni, route, backend, server) in [
        ("test1.example.com", "test1", "broker1", loopback(p1)),
        ("test2.example.com", "test2", "broker2", loopback(p2)),
    ] {
        let log = proxy.wait_for(&format!("a relayed connection for {sni}"), WAIT, |v| {
            is_access_log(v) && v["sni"] == sni && v["server"] != "-"
        });
        assert_eq!(text(&log, "route"), route, "{log}");
        assert_eq!(text(&log, "backend"), backend, "{log}");
        assert_eq!(text(&log, "server"), server.to_string(), "{log}");
        assert_eq!(text(&log, "tls_version"), "TLSv1.3", "{log}");
    }
}

#[test]
fn sni_passthrough_reaches_the_broker_that_terminates_tls() {
    let Some(bed) = Bed::new("sni-passthrough") else {
        return;
    };
    let (p1, p2) = (free_port(), free_port());
    let listener = |p: u16, name: &str| {
        format!(
            "listener {p} 127.0.0.1\nlistener_allow_anonymous true\ncertfile {}\nkeyfile {}\n",
            bed.pki(&format!("{name}-chain.crt")),
            bed.pki(&format!("{name}.key"))
        )
    };
    let b1 = bed
        .peers
        .mosquitto("broker1", &listener(p1, "test1"), &[p1]);
    let b2 = bed
        .peers
        .mosquitto("broker2", &listener(p2, "test2"), &[p2]);
    let mut ex = Example::load("sni-passthrough.toml");
    ex.servers("broker1", &[loopback(p1)])
        .servers("broker2", &[loopback(p2)]);
    let proxy = bed.proxy(ex);
    let addr = proxy.listen_addr("tls-in");

    // The certificates come from the brokers, end to end.
    served_cert(&bed, addr, "test1.example.com", &bed.pki.test1, "broker1");
    served_cert(&bed, addr, "test2.example.com", &bed.pki.test2, "broker2");
    // No SNI: the default route (test1).
    let no_sni = TlsClient {
        sni: None,
        verify_name: Some("test1.example.com".into()),
        ..TlsClient::new("test1.example.com", &[&bed.pki.ca])
    };
    let conn = no_sni
        .connect(addr)
        .unwrap_or_else(|e| panic!("no SNI: {e}"));
    assert!(
        conn.server_cert() == bed.pki.test1.der,
        "no SNI: not the default route's broker"
    );
    conn.close();

    exchange(&bed, &b1, &b2, "test1.example.com", addr.port(), "t1");
    exchange(&bed, &b2, &b1, "test2.example.com", addr.port(), "t2");
    let log = proxy.wait_for("a relayed connection for test2", WAIT, |v| {
        is_access_log(v) && v["sni"] == "test2.example.com" && v["server"] != "-"
    });
    assert_eq!(text(&log, "route"), "test2", "{log}");
    assert_eq!(text(&log, "server"), loopback(p2).to_string(), "{log}");
}
