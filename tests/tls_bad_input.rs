//! Bad input on TLS and PROXY-in listeners, from raw sockets and a rustls client (no peers
//! needed). Every case checks the access-log termination keyword and that the proxy closed
//! the connection within bounds; the whole set runs three times, then the proxy's fd count
//! must be back at its baseline (no leak) and its RSS must not have grown (> 2 MiB) between
//! round 1 and round 3.

mod common;

use std::cell::RefCell;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::backends::EchoServer;
use common::pki::Pki;
use common::proxy_header::{self, CaptureBackend};
use common::raw_tls::{self, ALERT_UNRECOGNIZED_NAME, REC_HANDSHAKE};
use common::tls_client::TlsClient;
use common::{Proxy, TempDir, WAIT, connect, is_access_log, text};

/// How long the proxy may take to close a connection it has given up on.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

struct Bed {
    proxy: Proxy,
    pki: Pki,
    echo: EchoServer,
    capture: CaptureBackend,
    /// The access lines `expect_termination` has returned: a later connection may get the
    /// same local port as an earlier one (to another listener), and must not be given its
    /// line.
    seen: RefCell<Vec<String>>,
}

fn config(echo: SocketAddr, capture: SocketAddr) -> String {
    let route = |name: &str, listener: &str| {
        format!(
            "[[route]]\nname = \"{name}\"\nlistener = \"{listener}\"\n\
             sni = [\"test1.example.com\"]\ncert = \"pki/test1-chain.crt\"\n\
             key = \"pki/test1.key\"\nbackend = \"echo\"\n\n"
        )
    };
    format!(
        r#"[runtime]
workers = 2

[[listener]]
name = "tls"
bind = "127.0.0.1:0"
tls = "terminate"

[[listener]]
name = "dflt"
bind = "127.0.0.1:0"
tls = "terminate"
default_route = "dflt-test1"

[[listener]]
name = "mtls"
bind = "127.0.0.1:0"
tls = "terminate"
client_ca = "pki/client-ca.crt"
client_auth = "required"
client_crl = ["pki/client.crl"]
default_route = "mtls-test1"

[[listener]]
name = "pp"
bind = "127.0.0.1:0"
tls = "none"
accept_proxy = true
trusted_proxies = ["127.0.0.0/8"]
backend = "capture"

[[listener]]
name = "pp-untrusted"
bind = "127.0.0.1:0"
tls = "none"
accept_proxy = true
trusted_proxies = ["10.0.0.0/8"]
backend = "echo"

{r1}{r2}{r3}[[backend]]
name = "echo"
servers = ["{echo}"]

[[backend]]
name = "capture"
servers = ["{capture}"]
proxy_protocol = "v2"

[timeouts]
handshake = "1s"
"#,
        r1 = route("test1", "tls"),
        r2 = route("dflt-test1", "dflt"),
        r3 = route("mtls-test1", "mtls"),
    )
}

impl Bed {
    fn start() -> Bed {
        let pki = Pki::generate();
        let echo = EchoServer::start();
        let capture = CaptureBackend::start();
        let dir = TempDir::new("bad-input");
        pki.write_to(&dir.path().join("pki"));
        let proxy = Proxy::start_toml_in(dir, &config(echo.addr, capture.addr));
        Bed {
            proxy,
            pki,
            echo,
            capture,
            seen: RefCell::default(),
        }
    }

    fn addr(&self, listener: &str) -> SocketAddr {
        self.proxy.listen_addr(listener)
    }

    /// Waits for the access-log line of the connection from `local`: one not returned
    /// before, since the kernel may give a later connection the port of an earlier one (to
    /// another listener) within the same bed.
    fn access_log(&self, local: SocketAddr) -> serde_json::Value {
        let c = local.to_string();
        let log = self.proxy.wait_for(
            &format!("a new access-log line for client {c}"),
            WAIT,
            |v| {
                is_access_log(v)
                    && v["client"] == c.as_str()
                    && !self.seen.borrow().contains(&v.to_string())
            },
        );
        self.seen.borrow_mut().push(log.to_string());
        log
    }

    /// Waits for the access-log line of the connection from `local` and checks its
    /// termination keyword.
    fn expect_termination(&self, case: &str, local: SocketAddr, want: &str) -> serde_json::Value {
        let log = self.access_log(local);
        assert_eq!(
            text(&log, "termination"),
            want,
            "{case}: wrong termination in {log}\n{}",
            self.proxy.stderr_tail(20)
        );
        log
    }
}

/// Reads until the proxy closes (EOF or reset), at most `within`; returns what arrived.
fn read_until_closed(s: &mut TcpStream, case: &str, within: Duration) -> Vec<u8> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{case}: the proxy did not close the connection within {within:?} (got {} bytes: {:02x?})",
            got.len(),
            &got[..got.len().min(64)]
        );
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return got;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{case}: read error: {e}"),
        }
    }
}

/// Sends `bytes` (ignoring a reset from an early close) and expects the proxy to close;
/// returns what the proxy sent and its access-log line.
fn send_expect_close(
    bed: &Bed,
    listener: &str,
    case: &str,
    bytes: &[u8],
    want: &str,
) -> (Vec<u8>, serde_json::Value) {
    let mut s = connect(bed.addr(listener));
    let local = s.local_addr().unwrap();
    let _ = s.write_all(bytes);
    let got = read_until_closed(&mut s, case, CLOSE_WITHIN);
    let log = bed.expect_termination(case, local, want);
    (got, log)
}

fn assert_starts_with_alert_or_nothing(case: &str, got: &[u8]) {
    assert!(
        got.is_empty() || got[0] == raw_tls::REC_ALERT,
        "{case}: the proxy answered with something other than an alert: {:02x?}",
        &got[..got.len().min(32)]
    );
}

// ---------------------------------------------------------------------------------------------
// The cases

fn plain_bytes_on_a_tls_listener(bed: &Bed) {
    // An MQTT CONNECT in clear text where a ClientHello is expected.
    let connect_pkt = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd";
    let (got, _) = send_expect_close(bed, "tls", "plain bytes", connect_pkt, "tls_not_tls");
    assert_starts_with_alert_or_nothing("plain bytes", &got);
}

fn truncated_client_hello_then_close(bed: &Bed) {
    let hello = raw_tls::rustls_client_hello(Some("test1.example.com"));
    let mut s = connect(bed.addr("tls"));
    let local = s.local_addr().unwrap();
    s.write_all(&hello[..hello.len() / 2]).unwrap();
    common::shutdown_write(&s);
    read_until_closed(&mut s, "truncated hello", CLOSE_WITHIN);
    // The client left before reaching a backend: that is what happened, and the keyword
    // for it is `client_aborted` (not a TLS error: the bytes seen were a valid prefix).
    bed.expect_termination("truncated hello then close", local, "client_aborted");
}

fn oversized_client_hello(bed: &Bed) {
    let hs = raw_tls::client_hello(
        0x0303,
        Some(&[0x0304, 0x0303]),
        Some("test1.example.com"),
        20_000,
    );
    assert!(hs.len() > 16 * 1024);
    let (got, _) = send_expect_close(
        bed,
        "tls",
        "oversized hello",
        &raw_tls::records(REC_HANDSHAKE, 0x0301, &hs),
        "tls_hello_too_large",
    );
    assert_starts_with_alert_or_nothing("oversized hello", &got);
}

fn garbage_handshake_record(bed: &Bed) {
    // A handshake record whose body is not a ClientHello (handshake type 0x63, nonsense).
    let mut body = vec![0x63, 0x00, 0x00, 0x1b];
    body.extend_from_slice(b"this is not a client hello");
    body.push(0);
    let (got, _) = send_expect_close(
        bed,
        "tls",
        "garbage handshake record",
        &raw_tls::records(REC_HANDSHAKE, 0x0301, &body),
        "tls_bad_hello",
    );
    assert_starts_with_alert_or_nothing("garbage handshake record", &got);
}

fn garbage_records_after_the_handshake(bed: &Bed) {
    let cases: [(&str, Vec<u8>, &str); 2] = [
        // An application-data record that cannot decrypt.
        (
            "undecryptable record",
            raw_tls::records(0x17, 0x0303, &[0xa5; 40]),
            "tls_decrypt_error",
        ),
        // A record of a content type TLS does not have.
        (
            "record of content type 0x99",
            raw_tls::records(0x99, 0x0303, &[0xa5; 40]),
            "tls_bad_record",
        ),
    ];
    for (case, garbage, want) in cases {
        let client = TlsClient::new("test1.example.com", &[&bed.pki.ca]);
        let mut conn = client
            .connect(bed.addr("tls"))
            .unwrap_or_else(|e| panic!("handshake on `tls`: {e}\n{}", bed.proxy.stderr_tail(20)));
        assert_eq!(
            conn.echo(b"before the garbage").unwrap(),
            b"before the garbage"
        );
        let local = conn.local;
        conn.stream.sock.write_all(&garbage).unwrap();
        read_until_closed(&mut conn.stream.sock, case, CLOSE_WITHIN);
        bed.expect_termination(case, local, want);
    }
}

fn old_protocol_hellos(bed: &Bed) {
    for (case, version) in [("SSLv3 hello", 0x0300u16), ("TLS 1.0-only hello", 0x0301)] {
        let hs = raw_tls::client_hello(version, None, Some("test1.example.com"), 0);
        let (got, _) = send_expect_close(
            bed,
            "tls",
            case,
            &raw_tls::records(REC_HANDSHAKE, version, &hs),
            "tls_unsupported_version",
        );
        assert_starts_with_alert_or_nothing(case, &got);
    }
}

fn no_sni_and_unknown_sni_without_default_route(bed: &Bed) {
    for (case, sni) in [("no SNI", None), ("unknown SNI", Some("other.example.com"))] {
        let hello = raw_tls::rustls_client_hello(sni);
        let (got, log) = send_expect_close(bed, "tls", case, &hello, "no_route");
        assert_eq!(
            got, ALERT_UNRECOGNIZED_NAME,
            "{case}: expected exactly the unrecognized_name alert, got {got:02x?}"
        );
        // The name the client asked for is what an operator needs to see for a no_route.
        assert_eq!(text(&log, "sni"), sni.unwrap_or("-"), "{case}: {log}");
        assert_eq!(text(&log, "route"), "-", "{case}: {log}");
    }
}

fn default_route_serves_no_and_unknown_sni(bed: &Bed) {
    // No SNI: served with the default route's certificate (verified as test1.example.com).
    let client = TlsClient {
        sni: None,
        verify_name: Some("test1.example.com".into()),
        ..TlsClient::new("test1.example.com", &[&bed.pki.ca])
    };
    let mut conn = client
        .connect(bed.addr("dflt"))
        .unwrap_or_else(|e| panic!("no SNI on `dflt`: {e}\n{}", bed.proxy.stderr_tail(20)));
    assert_eq!(conn.server_cert(), bed.pki.test1.der);
    assert_eq!(conn.echo(b"default route").unwrap(), b"default route");
    let local = conn.local;
    conn.close();
    let log = bed.expect_termination("default route, no SNI", local, "client_closed");
    assert_eq!(text(&log, "route"), "dflt-test1", "{log}");
    assert_eq!(text(&log, "sni"), "-", "{log}");

    // Unknown SNI: the server answers with a ServerHello, not an alert.
    let mut s = connect(bed.addr("dflt"));
    let local = s.local_addr().unwrap();
    s.write_all(&raw_tls::rustls_client_hello(Some("other.example.com")))
        .unwrap();
    let mut first = [0u8; 1];
    s.read_exact(&mut first).unwrap();
    assert_eq!(
        first[0], REC_HANDSHAKE,
        "unknown SNI with default_route: no ServerHello"
    );
    drop(s);
    let log = bed.access_log(local);
    assert_eq!(text(&log, "route"), "dflt-test1", "{log}");
    assert_eq!(text(&log, "sni"), "other.example.com", "{log}");
}

fn client_certificate_failures(bed: &Bed) {
    let accepted_before = bed.echo.accepted();
    let cases = [
        ("no client cert", None, "tls_no_client_cert"),
        (
            "client cert from another CA",
            Some(&bed.pki.device1_other_ca),
            "tls_bad_client_cert",
        ),
        (
            "expired client cert",
            Some(&bed.pki.device1_expired),
            "tls_bad_client_cert",
        ),
        (
            "revoked client cert",
            Some(&bed.pki.device1_revoked),
            "tls_bad_client_cert",
        ),
    ];
    for (case, cert, want) in cases {
        let mut client = TlsClient::new("test1.example.com", &[&bed.pki.ca]);
        client.client_cert = cert.cloned();
        // TLS 1.3: the client's side of the handshake completes before the server has
        // checked the certificate; the refusal arrives as an alert on the next read.
        let local = match client.connect(bed.addr("mtls")) {
            Err(e) => panic!("{case}: the TCP/TLS client failed before the server decided: {e}"),
            Ok(mut conn) => {
                let local = conn.local;
                let r = conn.echo(b"must not be relayed");
                assert!(r.is_err(), "{case}: data was relayed: {r:?}");
                read_until_closed(&mut conn.stream.sock, case, CLOSE_WITHIN);
                local
            }
        };
        bed.expect_termination(case, local, want);
    }
    // A good certificate works on the same listener (so the failures above are specific).
    let mut conn = TlsClient::new("test1.example.com", &[&bed.pki.ca])
        .with_cert(&bed.pki.device1)
        .connect(bed.addr("mtls"))
        .unwrap_or_else(|e| panic!("good client cert: {e}\n{}", bed.proxy.stderr_tail(20)));
    assert_eq!(conn.echo(b"device1").unwrap(), b"device1");
    let local = conn.local;
    conn.close();
    let log = bed.expect_termination("good client cert", local, "client_closed");
    assert_eq!(text(&log, "client_cn"), "device1", "{log}");
    assert_eq!(text(&log, "client_verify"), "ok", "{log}");
    assert_eq!(
        bed.echo.accepted(),
        accepted_before + 1,
        "refused clients reached the backend"
    );
}

fn stalled_handshake_times_out(bed: &Bed) {
    let hello = raw_tls::rustls_client_hello(Some("test1.example.com"));
    let mut s = connect(bed.addr("tls"));
    let local = s.local_addr().unwrap();
    let started = Instant::now();
    s.write_all(&hello[..20]).unwrap();
    read_until_closed(&mut s, "stalled handshake", CLOSE_WITHIN);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "closed after {took:?}, before the 1 s handshake timeout"
    );
    bed.expect_termination("stalled handshake", local, "handshake_timeout");
}

fn proxy_header_cases(bed: &Bed) {
    let src: SocketAddr = "192.0.2.7:4711".parse().unwrap();
    let dst: SocketAddr = "198.51.100.1:8883".parse().unwrap();

    // From an address not in trusted_proxies.
    let untrusted = bed.addr("pp-untrusted");
    let accepted = bed.echo.accepted();
    send_expect_close(
        bed,
        "pp-untrusted",
        "PROXY header from an untrusted address",
        &proxy_header::v2_proxy(src, dst, &[]),
        "proxy_untrusted",
    );
    let _ = untrusted;
    assert_eq!(
        bed.echo.accepted(),
        accepted,
        "an untrusted header reached the backend"
    );

    // Malformed.
    send_expect_close(
        bed,
        "pp",
        "malformed v1",
        b"PROXY GARBAGE here\r\n",
        "proxy_invalid",
    );
    let mut bad_version = proxy_header::v2_proxy(src, dst, &[]);
    bad_version[12] = 0x31; // version 3
    send_expect_close(
        bed,
        "pp",
        "v2 with version 3",
        &bad_version,
        "proxy_invalid",
    );
    send_expect_close(
        bed,
        "pp",
        "not a PROXY header",
        b"\x10\x10\x00\x04MQTT",
        "proxy_invalid",
    );

    // Oversized v2 (> 2 KiB): NOOP TLVs make it 3,000 bytes of payload.
    let mut noop = vec![0x04];
    noop.extend_from_slice(&((3000 - 12 - 3) as u16).to_be_bytes());
    noop.resize(3000 - 12, 0);
    send_expect_close(
        bed,
        "pp",
        "oversized v2",
        &proxy_header::v2_proxy(src, dst, &noop),
        "proxy_invalid",
    );

    // Truncated, then the client closes: it left, the header was not wrong.
    let h = proxy_header::v2_proxy(src, dst, &[]);
    let mut s = connect(bed.addr("pp"));
    let local = s.local_addr().unwrap();
    s.write_all(&h[..10]).unwrap();
    common::shutdown_write(&s);
    read_until_closed(&mut s, "truncated PROXY header", CLOSE_WITHIN);
    bed.expect_termination("truncated PROXY header then close", local, "client_aborted");

    // LOCAL: served with the connection's real endpoints.
    let mut s = connect(bed.addr("pp"));
    let local = s.local_addr().unwrap();
    let mut msg = proxy_header::v2_local();
    msg.extend_from_slice(b"after LOCAL");
    s.write_all(&msg).unwrap();
    let cap = bed.capture.next(common::WAIT);
    let header = cap.header.expect("header forwarded after LOCAL");
    assert!(
        header.proxied,
        "ringress forwarded a LOCAL header: {header:?}"
    );
    assert_eq!(
        header.src,
        Some(local),
        "LOCAL: forwarded source is not the real client"
    );
    assert_eq!(
        header.dst,
        Some(bed.addr("pp")),
        "LOCAL: forwarded destination"
    );
    let mut back = [0u8; 11];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"after LOCAL");
    common::shutdown_write(&s);
    read_until_closed(&mut s, "LOCAL", CLOSE_WITHIN);
    let log = bed.access_log(local);
    let end = text(&log, "termination");
    assert!(end == "client_closed" || end == "server_closed", "{log}");
}

type Case = (&'static str, fn(&Bed));

const CASES: &[Case] = &[
    (
        "plain bytes on a TLS listener",
        plain_bytes_on_a_tls_listener,
    ),
    (
        "truncated ClientHello then close",
        truncated_client_hello_then_close,
    ),
    ("oversized ClientHello", oversized_client_hello),
    ("garbage handshake record", garbage_handshake_record),
    (
        "garbage records after the handshake",
        garbage_records_after_the_handshake,
    ),
    ("SSLv3 / TLS 1.0 hellos", old_protocol_hellos),
    (
        "no/unknown SNI without default_route",
        no_sni_and_unknown_sni_without_default_route,
    ),
    (
        "default_route serves no/unknown SNI",
        default_route_serves_no_and_unknown_sni,
    ),
    ("client certificate failures", client_certificate_failures),
    ("stalled handshake", stalled_handshake_times_out),
    ("PROXY header cases", proxy_header_cases),
];

/// Runs every case; a failing case does not hide the others: all failures are reported at
/// the end (each one's panic message is printed where it happens).
fn all_cases(bed: &Bed, round: usize) -> Vec<String> {
    let mut failed = Vec::new();
    for (name, case) in CASES {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(bed)));
        if r.is_err() {
            failed.push(format!("round {round}: {name}"));
        }
    }
    failed
}

fn wait_fds(bed: &Bed, baseline: usize, round: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = bed.proxy.fd_count();
        if n == baseline {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "round {round}: the proxy holds {n} fds, baseline {baseline}: a leak\n{}",
            bed.proxy.stderr_tail(30)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_input_is_refused_with_its_keyword_and_leaks_nothing() {
    let bed = Bed::start();
    for l in ["tls", "dflt", "mtls", "pp", "pp-untrusted"] {
        bed.addr(l);
    }
    let baseline = bed.proxy.fd_count();
    let mut rss_after_round1 = 0;
    let mut failed = Vec::new();
    for round in 1..=3 {
        failed.extend(all_cases(&bed, round));
        wait_fds(&bed, baseline, round);
        let rss = bed.proxy.rss_kib();
        eprintln!("round {round}: fds {baseline}, RSS {rss} KiB");
        if round == 1 {
            rss_after_round1 = rss;
        } else if round == 3 {
            assert!(
                rss <= rss_after_round1 + 2048,
                "RSS grew from {rss_after_round1} KiB after round 1 to {rss} KiB after round 3"
            );
        }
    }
    assert!(
        failed.is_empty(),
        "failed cases (see the panics above): {failed:#?}"
    );
}
