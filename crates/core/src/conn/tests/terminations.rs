//! Every termination the core decides, reached through the core's own state machines — the
//! ingress, the upstream fail-over, the relay, the deadlines — with no socket. The match in
//! [`reach`] is exhaustive: a new termination does not compile until it says where it is
//! decided.

use std::net::SocketAddr;

use super::*;
use crate::ingress::{Action, Env, Ingress, Policy, Read, Route};
use crate::relay::{End, Received, Relay, Step, failed_side, failure_termination};
use crate::tls::{RecordLayer, TlsInfo};
use crate::upstream::{Connecting, Retry, connect_failure};

/// The proxy around an ingress: no route unless given, a rate limit that always refuses.
struct Lookups {
    route: Option<bool>,
}

impl Env for Lookups {
    fn client(&self) -> SocketAddr {
        "192.0.2.1:1".parse().unwrap()
    }
    fn proxied(&mut self, _: Option<SocketAddr>, _: Option<SocketAddr>) {}
    fn rate_limited(&mut self, _: SocketAddr) -> bool {
        true
    }
    fn route(&mut self, _: Option<Box<str>>) -> Option<Route> {
        self.route.map(|backend_up| Route {
            tls: None,
            backend_up,
        })
    }
    fn established(&mut self, _: Option<&TlsInfo>) {}
}

fn policy() -> Policy {
    Policy {
        accept_proxy: false,
        client_hello: false,
        mqtt_max_connect: None,
        read_size: 16 * 1024,
        records: RecordLayer::Own,
        kernel_tls_possible: false,
    }
}

/// The termination one ingress read ends with.
fn ingress_closes(policy: Policy, route: Option<bool>, read: Read<'_>) -> Termination {
    let mut ingress = Ingress::new(policy).unwrap();
    match ingress.on_recv(read, &mut Lookups { route }) {
        Action::Close { cause, .. } => cause,
        other => panic!("ingress did not close: {other:?}"),
    }
}

fn tls_listener() -> Policy {
    Policy {
        client_hello: true,
        ..policy()
    }
}

/// A ClientHello with an SNI (from a rustls client), for the routing cases.
fn hello() -> Vec<u8> {
    let config = crate::tls::testbed::client_config(rustls::ALL_VERSIONS, None, None);
    let name = rustls::pki_types::ServerName::try_from("a.example.com").unwrap();
    let mut client = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    client.write_tls(&mut out).unwrap();
    out
}

/// Both directions of a relay finish; `first` sends FIN first.
fn both_finish(first: Side) -> Termination {
    let mut relay = Relay::<TestBuf>::new();
    relay.upstream.resume();
    relay.downstream.resume();
    relay.half_from(first).on_recv(Received::Eof);
    assert_eq!(relay.on_fin(first), None);
    relay.half_from(first.other()).on_recv(Received::Eof);
    relay
        .on_fin(first.other())
        .expect("both directions are done")
}

/// A relaying socket on `side` fails with `errno`, seen by the direction reading from it.
fn relay_fails(side: Side, errno: i32) -> Termination {
    let mut relay = Relay::<TestBuf>::new();
    relay.half_from(side).resume();
    match relay.half_from(side).on_recv(Received::Error(errno)) {
        Step::Fail { failed, errno, .. } => {
            assert_eq!(failed, End::Source);
            failure_termination(failed_side(side, failed), errno)
        }
        other => panic!("a failed recv did not fail the direction: {other:?}"),
    }
}

/// The only server refuses, or times out, or cannot be reached.
fn connect_fails(errno: i32) -> Termination {
    let mut connecting = Connecting::<TestBuf>::new(0, None);
    match connecting.failed(connect_failure(errno), |_| Vec::new()) {
        Retry::Close(cause) => cause,
        Retry::Connect(server) => panic!("a one-server backend retried server {server}"),
    }
}

/// The cause a stage's deadline closes with, given the client's and the server's idle
/// timeouts (and a handshake timeout of 10 ms).
fn times_out(stage: TestStage, client_idle_ms: u64, server_idle_ms: u64) -> Termination {
    let clock = Clock {
        handshake_ms: 10,
        client_idle_ms,
        server_idle_ms,
        ..Clock::default()
    };
    stage
        .deadline(&clock)
        .cause
        .expect("a deadline that closes")
}

/// Where `t` is decided, reached there; `None` for the terminations the driver decides,
/// around the core: at accept (`limit_reached`: the listener's shared connection counter;
/// `proxy_untrusted`: the peer's address against `trusted_proxies`) and on a signal
/// (`shutdown`). Those are covered by the real binary's tests (tests/limits.rs,
/// tests/tls_bad_input.rs, tests/shutdown.rs).
fn reach(t: Termination) -> Option<Termination> {
    let ingress_tls = |read| ingress_closes(tls_listener(), Some(true), read);
    Some(match t {
        Termination::ClientClosed => both_finish(Side::Client),
        Termination::ServerClosed => both_finish(Side::Server),
        Termination::ClientAborted => ingress_tls(Read::Eof),
        Termination::ClientIdleTimeout => times_out(TestStage::Relaying(Relay::new()), 10, 20),
        Termination::ServerIdleTimeout => times_out(TestStage::Relaying(Relay::new()), 20, 10),
        Termination::HandshakeTimeout => {
            let ingress = Ingress::new(tls_listener()).unwrap();
            times_out(Stage::Ingress(Box::new(ingress)), 10, 10)
        }
        Termination::ConnectTimeout => connect_fails(libc::ETIME),
        Termination::ConnectRefused => connect_fails(libc::ECONNREFUSED),
        Termination::ConnectError => connect_fails(libc::ENETUNREACH),
        Termination::Shutdown | Termination::LimitReached | Termination::ProxyUntrusted => {
            return None;
        }
        Termination::ProxyInvalid => {
            let proxied = Policy {
                accept_proxy: true,
                ..policy()
            };
            ingress_closes(proxied, None, Read::Data(b"GET / HTTP/1.1\r\n\r\n"))
        }
        Termination::NoRoute => ingress_closes(tls_listener(), None, Read::Data(&hello())),
        Termination::NoServerAvailable => {
            ingress_closes(tls_listener(), Some(false), Read::Data(&hello()))
        }
        Termination::ServerMarkedDown => {
            TestStage::Relaying(Relay::new()).on_server_marked_down()?
        }
        Termination::Tls(_) => ingress_tls(Read::Data(b"CONNECT")),
        Termination::Mqtt(_) => {
            let mqtt = Policy {
                mqtt_max_connect: Some(1024),
                ..policy()
            };
            ingress_closes(mqtt, None, Read::Data(&[0xc0, 0]))
        }
        Termination::RateLimited => {
            let proxied = Policy {
                accept_proxy: true,
                ..policy()
            };
            let header = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 1883\r\n";
            ingress_closes(proxied, None, Read::Data(header))
        }
        Termination::Reset(side) => relay_fails(side, libc::ECONNRESET),
        Termination::Unreachable(side) => relay_fails(side, libc::EHOSTUNREACH),
        Termination::Io(side) => relay_fails(side, libc::EIO),
        Termination::Internal => {
            let mut ingress = Ingress::new(tls_listener()).unwrap();
            match ingress.on_sent(Ok(1), &mut Lookups { route: None }) {
                Action::Close { cause, .. } => cause,
                other => panic!("an unasked-for send completion was taken: {other:?}"),
            }
        }
    })
}

#[test]
fn every_termination_the_core_decides_is_reached_without_sockets() {
    use crate::mqtt::ConnectErrorKind;
    use crate::tls::TlsErrorKind;
    let all = [
        Termination::ClientClosed,
        Termination::ServerClosed,
        Termination::ClientAborted,
        Termination::ClientIdleTimeout,
        Termination::ServerIdleTimeout,
        Termination::HandshakeTimeout,
        Termination::ConnectTimeout,
        Termination::ConnectRefused,
        Termination::ConnectError,
        Termination::Shutdown,
        Termination::LimitReached,
        Termination::ProxyUntrusted,
        Termination::ProxyInvalid,
        Termination::NoRoute,
        Termination::NoServerAvailable,
        Termination::ServerMarkedDown,
        Termination::Tls(TlsErrorKind::NotTls),
        Termination::Mqtt(ConnectErrorKind::NotConnect),
        Termination::RateLimited,
        Termination::Reset(Side::Client),
        Termination::Reset(Side::Server),
        Termination::Unreachable(Side::Client),
        Termination::Unreachable(Side::Server),
        Termination::Io(Side::Client),
        Termination::Io(Side::Server),
        Termination::Internal,
    ];
    let mut by_the_core = 0;
    for t in all {
        if let Some(reached) = reach(t) {
            assert_eq!(reached, t, "{t} reached as {reached}");
            by_the_core += 1;
        }
    }
    assert_eq!(by_the_core, all.len() - 3, "only three are the driver's");
}
