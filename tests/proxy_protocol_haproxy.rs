//! PROXY protocol interop with HAProxy 3.2 (sid rootfs):
//! - the v2-ssl-cn header ringress sends is structurally HAProxy's (same client, both in
//!   front of capture listeners, parsed fields compared);
//! - on resumed sessions too: the SSL client flags say what happened on this connection
//!   (TLS 1.2 and 1.3, full and resumed, with and without client authentication);
//! - HAProxy's `accept-proxy` accepts ringress's v1 and v2 headers;
//! - ringress behind HAProxy `send-proxy-v2` (`behind-l4-lb.toml`) takes the client
//!   address from the header and forwards it, also when the header comes with a large
//!   post-quantum ClientHello from OpenSSL 3.6.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::backends::{EchoServer, free_port};
use common::examples::Example;
use common::mqtt_peers::{Bed, loopback};
use common::proxy_header::{
    CaptureBackend, Captured, PP2_SUBTYPE_SSL_CIPHER, PP2_SUBTYPE_SSL_CN, PP2_SUBTYPE_SSL_VERSION,
    ProxyHeader,
};
use common::tls_client::{TlsClient, tcp_connect_from};
use common::{WAIT, echo_roundtrip, is_access_log, text};

const HAPROXY_GLOBAL: &str = "global\n    log stdout format raw local0 info\n\n\
defaults\n    mode tcp\n    log global\n    option tcplog\n    timeout connect 5s\n\
    timeout client 60s\n    timeout server 60s\n\n";

/// The client both proxies see: device1's certificate, from 127.0.0.5, one cipher suite.
fn device_client(bed: &Bed) -> TlsClient {
    let mut c = TlsClient::new("devices.example.com", &[&bed.pki.ca])
        .with_cert(&bed.pki.device1)
        .bound_to("127.0.0.5");
    c.aes256_only = true;
    c
}

fn capture_through(
    bed: &Bed,
    addr: SocketAddr,
    capture: &CaptureBackend,
    who: &str,
) -> (Captured, SocketAddr) {
    let mut conn = device_client(bed)
        .connect(addr)
        .unwrap_or_else(|e| panic!("TLS through {who}: {e}"));
    assert_eq!(
        conn.echo(b"ping").unwrap_or_else(|e| panic!("{who}: {e}")),
        b"ping"
    );
    let local = conn.local;
    conn.close();
    (capture.next(WAIT), local)
}

/// One TLS connection through `addr` with `config` (whose session store decides whether it
/// resumes), a round trip, and the header the capture backend got. Also: did it resume.
fn capture_with(
    client: &TlsClient,
    config: &Arc<rustls::ClientConfig>,
    addr: SocketAddr,
    capture: &CaptureBackend,
    who: &str,
) -> (Captured, bool) {
    let mut conn = client
        .connect_with(config, addr)
        .unwrap_or_else(|e| panic!("TLS through {who}: {e}"));
    // The echo also reads the TLS 1.3 tickets, which arrive before it.
    assert_eq!(
        conn.echo(b"ping").unwrap_or_else(|e| panic!("{who}: {e}")),
        b"ping"
    );
    let resumed = conn.resumed();
    conn.close();
    (capture.next(WAIT), resumed)
}

fn header(c: &Captured, who: &str) -> ProxyHeader {
    c.header
        .clone()
        .unwrap_or_else(|e| panic!("{who}: bad header: {e}"))
}

#[test]
fn v2_ssl_cn_header_is_structurally_identical_to_haproxy_3_2() {
    let Some(bed) = Bed::new("hap-compare") else {
        return;
    };
    let (cap_r, cap_h) = (CaptureBackend::start(), CaptureBackend::start());
    let hport = free_port();
    let cfg = format!(
        "{HAPROXY_GLOBAL}frontend mqtts\n    bind 127.0.0.1:{hport} ssl crt {crt} ca-file {ca} verify required\n\
         \x20   default_backend be\nbackend be\n    server s1 {cap} send-proxy-v2-ssl-cn proxy-v2-options ssl-cipher,authority\n",
        crt = bed.pki("devices.pem"),
        ca = bed.pki("client-ca.crt"),
        cap = cap_h.addr,
    );
    let haproxy = bed.peers.haproxy("haproxy", &cfg, &[hport]);
    let mut ex = Example::load("haproxy-mtls-v2-ssl-cn.toml");
    ex.servers("mosquitto", &[cap_r.addr]);
    // The example's HAProxy equivalent plus the options the comparison line uses.
    ex.entry("backend", "mosquitto").insert(
        "proxy_v2_options".into(),
        toml::Value::Array(vec!["ssl-cipher".into(), "authority".into()]),
    );
    let proxy = bed.proxy(ex);
    let raddr = proxy.listen_addr("mqtts");

    let (hc, hlocal) = capture_through(&bed, loopback(hport), &cap_h, "haproxy");
    let (rc, rlocal) = capture_through(&bed, raddr, &cap_r, "ringress");
    let (h, r) = (header(&hc, "haproxy"), header(&rc, "ringress"));
    let (hs, rs) = (
        h.ssl().expect("haproxy: SSL TLV"),
        r.ssl().expect("ringress: SSL TLV"),
    );
    let ctx = format!(
        "\nhaproxy:  {h:?}\nringress: {r:?}\n{}",
        haproxy.log_tail(5)
    );

    assert_eq!(h.src, Some(hlocal), "haproxy src{ctx}");
    assert_eq!(
        r.src,
        Some(rlocal),
        "ringress src: not the client's address{ctx}"
    );
    assert_eq!(
        r.dst,
        Some(raddr),
        "ringress dst: not its listener's address{ctx}"
    );
    assert_eq!(
        (r.version, r.proxied, r.family),
        (h.version, h.proxied, h.family),
        "command/family{ctx}"
    );
    assert_eq!(r.tlv_types(), h.tlv_types(), "TLV types in order{ctx}");
    assert_eq!(r.authority(), h.authority(), "AUTHORITY{ctx}");
    assert_eq!(
        r.authority().as_deref(),
        Some("devices.example.com"),
        "{ctx}"
    );
    assert_eq!(rs.client, hs.client, "SSL client flags{ctx}");
    assert_eq!(rs.verify, hs.verify, "SSL verify{ctx}");
    assert_eq!(
        rs.sub_types(),
        hs.sub_types(),
        "SSL sub-TLV types in order{ctx}"
    );
    for (t, name) in [
        (PP2_SUBTYPE_SSL_VERSION, "SSL_VERSION"),
        (PP2_SUBTYPE_SSL_CN, "SSL_CN"),
        (PP2_SUBTYPE_SSL_CIPHER, "SSL_CIPHER"),
    ] {
        assert_eq!(rs.sub(t), hs.sub(t), "{name}{ctx}");
    }
    assert_eq!(
        rs.sub(PP2_SUBTYPE_SSL_CN).as_deref(),
        Some("device1"),
        "{ctx}"
    );
    // Mosquitto treats a first read shorter than the header as a lost connection.
    assert!(
        rc.first_read >= r.raw.len(),
        "ringress split the header ({} bytes first){ctx}",
        rc.first_read
    );
    assert!(
        hc.first_read >= h.raw.len(),
        "haproxy split the header ({} bytes first){ctx}",
        hc.first_read
    );
    assert_eq!(r.raw.len(), h.raw.len(), "header length{ctx}");
}

/// Finding 10 of issue 11: ringress sent `PP2_CLIENT_CERT_CONN` (0x02) on resumed sessions,
/// where no certificate is exchanged. HAProxy 3.2 sends SSL | CERT_SESS (0x05) there, the
/// session's verify result (0) and its certificate's CN; 0x07 on a full handshake with a
/// certificate; 0x01 without one.
#[test]
fn resumed_sessions_send_haproxys_client_flags_regression() {
    let Some(bed) = Bed::new("hap-resume") else {
        return;
    };
    let (cap_r, cap_h) = (CaptureBackend::start(), CaptureBackend::start());
    let (h_auth, h_none) = (free_port(), free_port());
    let cfg = format!(
        "{HAPROXY_GLOBAL}frontend auth\n    bind 127.0.0.1:{h_auth} ssl crt {crt} ca-file {ca} verify required\n\
         \x20   default_backend be\nfrontend noauth\n    bind 127.0.0.1:{h_none} ssl crt {crt} verify none\n\
         \x20   default_backend be\nbackend be\n    server s1 {cap} send-proxy-v2-ssl-cn proxy-v2-options ssl-cipher,authority\n",
        crt = bed.pki("devices.pem"),
        ca = bed.pki("client-ca.crt"),
        cap = cap_h.addr,
    );
    let haproxy = bed.peers.haproxy("haproxy", &cfg, &[h_auth, h_none]);
    let ringress = |client_auth: &str| {
        let mut ex = Example::load("haproxy-mtls-v2-ssl-cn.toml");
        ex.servers("mosquitto", &[cap_r.addr]);
        ex.entry("backend", "mosquitto").insert(
            "proxy_v2_options".into(),
            toml::Value::Array(vec!["ssl-cipher".into(), "authority".into()]),
        );
        ex.entry("listener", "mqtts")
            .insert("client_auth".into(), client_auth.into());
        bed.proxy(ex)
    };
    let (r_auth, r_none) = (ringress("required"), ringress("none"));

    for tls12 in [false, true] {
        for auth in [true, false] {
            let mut client = device_client(&bed);
            client.tls12_only = tls12;
            let (haddr, raddr) = match auth {
                true => (loopback(h_auth), r_auth.listen_addr("mqtts")),
                false => (loopback(h_none), r_none.listen_addr("mqtts")),
            };
            // One session store per server: the second connection resumes the first.
            let (config_h, config_r) = (client.config(), client.config());
            for resume in [false, true] {
                let case = format!("tls12={tls12} client_auth={auth} resumed={resume}");
                let (hc, h_resumed) = capture_with(&client, &config_h, haddr, &cap_h, "haproxy");
                let (rc, r_resumed) = capture_with(&client, &config_r, raddr, &cap_r, "ringress");
                assert_eq!((h_resumed, r_resumed), (resume, resume), "{case}: resumed?");
                let (h, r) = (header(&hc, "haproxy"), header(&rc, "ringress"));
                let (hs, rs) = (
                    h.ssl().expect("haproxy: SSL TLV"),
                    r.ssl().expect("ringress: SSL TLV"),
                );
                let ctx = format!(
                    "\n{case}\nhaproxy:  {h:?}\nringress: {r:?}\n{}",
                    haproxy.log_tail(4)
                );
                let expected = match (auth, resume) {
                    (true, false) => 0x07,
                    (true, true) => 0x05,
                    (false, _) => 0x01,
                };
                assert_eq!(hs.client, expected, "haproxy's flags changed{ctx}");
                assert_eq!(rs.client, hs.client, "SSL client flags{ctx}");
                assert_eq!(rs.verify, hs.verify, "SSL verify{ctx}");
                assert_eq!(rs.sub_types(), hs.sub_types(), "SSL sub-TLVs{ctx}");
                for t in [PP2_SUBTYPE_SSL_VERSION, PP2_SUBTYPE_SSL_CN] {
                    assert_eq!(rs.sub(t), hs.sub(t), "sub-TLV {t:#x}{ctx}");
                }
            }
        }
    }
}

#[test]
fn haproxy_accept_proxy_takes_ringress_v1_and_v2_headers() {
    let Some(bed) = Bed::new("hap-accept") else {
        return;
    };
    let echo = EchoServer::start();
    let hport = free_port();
    let cfg = format!(
        "{HAPROXY_GLOBAL}frontend fe_pp\n    bind 127.0.0.1:{hport} accept-proxy\n    default_backend be_echo\n\
         backend be_echo\n    server e {}\n",
        echo.addr
    );
    let haproxy = bed.peers.haproxy("haproxy", &cfg, &[hport]);
    for version in ["v1", "v2"] {
        let mut ex = Example::load("haproxy-proxy-v2.toml");
        ex.servers("broker", &[loopback(hport)]);
        ex.entry("backend", "broker")
            .insert("proxy_protocol".into(), version.into());
        let proxy = bed.proxy(ex);
        let mut s = tcp_connect_from(
            Some("127.0.0.5".parse().unwrap()),
            proxy.listen_addr("mqtt"),
        )
        .expect("connect to ringress");
        let local = s.local_addr().unwrap();
        echo_roundtrip(&mut s, format!("through haproxy with {version}").as_bytes());
        drop(s);
        let log = proxy.access_log_for(local);
        assert_eq!(text(&log, "proxy"), version, "{log}");
        // haproxy logs the connection with the address from ringress's header.
        let line = haproxy.wait_log(&format!("{local} "), WAIT);
        assert!(line.contains("fe_pp"), "{version}: {line}");
    }
}

#[test]
fn ringress_behind_haproxy_send_proxy_v2_sees_and_forwards_the_client_address() {
    let Some(bed) = Bed::new("behind-lb") else {
        return;
    };
    let capture = CaptureBackend::start();
    let mut ex = Example::load("behind-l4-lb.toml");
    ex.servers("mosquitto", &[capture.addr]);
    // The balancer of this test is on loopback.
    ex.entry("listener", "mqtts").insert(
        "trusted_proxies".into(),
        toml::Value::Array(vec!["127.0.0.0/8".into()]),
    );
    let proxy = bed.proxy(ex);
    let raddr = proxy.listen_addr("mqtts");
    let hport = free_port();
    let cfg = format!(
        "{HAPROXY_GLOBAL}frontend lb\n    bind 127.0.0.1:{hport}\n    default_backend to_ringress\n\
         backend to_ringress\n    server r {raddr} send-proxy-v2\n"
    );
    let haproxy = bed.peers.haproxy("haproxy", &cfg, &[hport]);

    let mut client = TlsClient::new("broker.example.com", &[&bed.pki.ca]).bound_to("127.0.0.5");
    client.aes256_only = false;
    let mut conn = client
        .connect(loopback(hport))
        .unwrap_or_else(|e| panic!("TLS via haproxy to ringress: {e}\n{}", haproxy.log_tail(10)));
    assert_eq!(
        conn.echo(b"behind a balancer").unwrap(),
        b"behind a balancer"
    );
    let local = conn.local;
    conn.close();

    let cap = capture.next(WAIT);
    let h = header(&cap, "ringress");
    assert_eq!(
        h.src,
        Some(local),
        "forwarded source is not the client's: {h:?}"
    );
    assert!(h.ssl().is_some(), "v2-ssl without SSL TLV: {h:?}");
    let log = proxy.access_log_for(local);
    let by = text(&log, "proxied_by");
    assert!(
        by.starts_with("127.0.0.1:") && by != local.to_string(),
        "proxied_by {by}: {log}"
    );
    assert_eq!(text(&log, "proxy"), "v2-ssl", "{log}");
    assert_eq!(text(&log, "tls_version"), "TLSv1.3", "{log}");
}

/// What an SNI-routing balancer in `mode tcp` does: wait for the whole ClientHello (to
/// read its SNI) before connecting to the server, which then gets the PROXY header and the
/// hello in one segment.
const SNI_INSPECT: &str = "    tcp-request inspect-delay 5s\n\
    \x20   tcp-request content accept if { req.ssl_hello_type 1 }\n";

/// Finding 8 of issue 11: the PROXY-in stage counted the ClientHello that came with the
/// header against the header's 2048-byte cap. OpenSSL 3.6 offers X25519MLKEM768 by default
/// (a 1.5 KiB hello); with a second post-quantum key share its hello is 3.1 KiB, which
/// HAProxy forwards together with its header.
#[test]
fn behind_haproxy_a_post_quantum_client_hello_completes_regression() {
    let Some(bed) = Bed::new("behind-lb-pq") else {
        return;
    };
    let capture = CaptureBackend::start();
    let mut ex = Example::load("behind-l4-lb.toml");
    ex.servers("mosquitto", &[capture.addr]);
    ex.entry("listener", "mqtts").insert(
        "trusted_proxies".into(),
        toml::Value::Array(vec!["127.0.0.0/8".into()]),
    );
    let proxy = bed.proxy(ex);
    let hport = free_port();
    let cfg = format!(
        "{HAPROXY_GLOBAL}frontend lb\n    bind 127.0.0.1:{hport}\n{SNI_INSPECT}    default_backend to_ringress\n\
         backend to_ringress\n    server r {} send-proxy-v2\n",
        proxy.listen_addr("mqtts")
    );
    let haproxy = bed.peers.haproxy("haproxy", &cfg, &[hport]);
    let connect = format!("127.0.0.1:{hport}");
    let ca = bed.pki("ca.crt");
    // HAProxy writes its header and the hello in two sends, so whether ringress reads them
    // together depends on timing: ten connections make it all but certain (on the code
    // before the fix, the fourth connection of the first run was refused).
    let two_shares = "*X25519MLKEM768:*SecP384r1MLKEM1024";
    let clients = std::iter::once(("127.0.0.5:0".to_string(), None))
        .chain((6..16).map(|i| (format!("127.0.0.{i}:0"), Some(two_shares))));
    for (bind, groups) in clients {
        let mut argv = vec![
            "openssl",
            "s_client",
            "-bind",
            &bind,
            "-connect",
            &connect,
            "-servername",
            "broker.example.com",
            "-CAfile",
            &ca,
            "-verify_return_error",
        ];
        if let Some(groups) = groups {
            argv.extend(["-groups", groups]);
        }
        let (ok, out) = bed.peers.run_client(&argv);
        let ctx = format!("{groups:?}:\n{out}\n{}", haproxy.log_tail(5));
        assert!(
            ok && out.contains("Verify return code: 0 (ok)"),
            "s_client through haproxy and ringress failed, {ctx}"
        );
        assert!(
            out.contains("Negotiated TLS1.3 group: X25519MLKEM768"),
            "not X25519MLKEM768, {ctx}"
        );
        let ip = format!("{}:", &bind[..bind.len() - 2]);
        let log = proxy.wait_for(&format!("the access-log line for {ip}"), WAIT, |v| {
            is_access_log(v) && v["client"].as_str().is_some_and(|c| c.starts_with(&ip))
        });
        // The hello reached routing. (s_client closes as soon as its handshake is done, which
        // may be before ringress has read its Finished: the termination is not checked.)
        assert_eq!(text(&log, "route"), "broker", "{log}\n{ctx}");
        assert_eq!(text(&log, "sni"), "broker.example.com", "{log}\n{ctx}");
    }
}
