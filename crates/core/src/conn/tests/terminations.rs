//! Every termination the core decides, reached through the core's own state machines — the
//! ingress, the upstream fail-over, the relay, the deadlines — with no socket. The match in
//! [`reach`] is exhaustive: a new termination does not compile until it says where it is
//! decided.

use super::*;
use crate::ingress::tests::{TestEnv, client_hello, mqtt, plain, proxied, tls};
use crate::ingress::{Action, Ingress, Policy, Read};
use crate::relay::{End, Received, Relay, Step, failed_side, failure_termination};
use crate::upstream::{Connecting, Retry, connect_failure};

/// The termination one ingress read ends with.
fn ingress_closes(policy: Policy, mut env: TestEnv, read: Read<'_>) -> Termination {
    let mut ingress = Ingress::new(policy).unwrap();
    match ingress.on_recv(read, &mut env) {
        Action::Close { cause, .. } => cause,
        other => panic!("ingress did not close: {other:?}"),
    }
}

/// A route that passes TLS through to a backend with a server up, or down.
fn routed(backend_up: bool) -> TestEnv {
    TestEnv {
        route: Some((None, backend_up)),
        ..TestEnv::new()
    }
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
    let ingress_tls = |read| ingress_closes(tls(), routed(true), read);
    Some(match t {
        Termination::ClientClosed => both_finish(Side::Client),
        Termination::ServerClosed => both_finish(Side::Server),
        Termination::ClientAborted => ingress_tls(Read::Eof),
        Termination::ClientIdleTimeout => times_out(TestStage::Relaying(Relay::new()), 10, 20),
        Termination::ServerIdleTimeout => times_out(TestStage::Relaying(Relay::new()), 20, 10),
        Termination::HandshakeTimeout => {
            let ingress = Ingress::new(tls()).unwrap();
            times_out(Stage::Ingress(Box::new(ingress)), 10, 10)
        }
        Termination::ConnectTimeout => connect_fails(libc::ETIME),
        Termination::ConnectRefused => connect_fails(libc::ECONNREFUSED),
        Termination::ConnectError => connect_fails(libc::ENETUNREACH),
        Termination::Shutdown | Termination::LimitReached | Termination::ProxyUntrusted => {
            return None;
        }
        Termination::ProxyInvalid => {
            let bad = Read::Data(b"GET / HTTP/1.1\r\n\r\n");
            ingress_closes(proxied(plain()), TestEnv::new(), bad)
        }
        Termination::NoRoute => ingress_closes(tls(), TestEnv::new(), Read::Data(&client_hello())),
        Termination::NoServerAvailable => {
            ingress_closes(tls(), routed(false), Read::Data(&client_hello()))
        }
        Termination::ServerMarkedDown => {
            TestStage::Relaying(Relay::new()).on_server_marked_down()?
        }
        Termination::Tls(_) => ingress_tls(Read::Data(b"CONNECT")),
        Termination::Mqtt(_) => ingress_closes(mqtt(1024), TestEnv::new(), Read::Data(&[0xc0, 0])),
        Termination::RateLimited => {
            let over = TestEnv {
                over_rate_limit: true,
                ..TestEnv::new()
            };
            let header = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 1883\r\n";
            ingress_closes(proxied(plain()), over, Read::Data(header))
        }
        Termination::Reset(side) => relay_fails(side, libc::ECONNRESET),
        Termination::Unreachable(side) => relay_fails(side, libc::EHOSTUNREACH),
        Termination::Io(side) => relay_fails(side, libc::EIO),
        Termination::Internal => {
            let mut ingress = Ingress::new(tls()).unwrap();
            match ingress.on_sent(Ok(1), &mut TestEnv::new()) {
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
