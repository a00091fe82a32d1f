//! Ingress in memory: every step and every way it ends, driven by hand the way the worker
//! drives it from the ring — reads in, actions out — against a rustls client where TLS is
//! involved. No sockets, no clock.

use std::io::Read as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConfig};

use super::*;
use crate::mqtt::ConnectErrorKind;
use crate::mqtt::frames::{self, Version};
use crate::tls::testbed::{self, ClientAuth, SERVER_NAME, pki};

const BALANCER: &str = "10.0.0.9:5000";
const PROXY_V1: &[u8] = b"PROXY TCP4 192.0.2.7 198.51.100.1 40000 8883\r\n";
/// Level 3 (MQTT 3.1), 4 (3.1.1) and 5 are spoken; 6 is not.
const UNSUPPORTED_LEVEL: u8 = 6;

/// The proxy around the ingress, as a test sees it: canned answers, and a record of what
/// the ingress reported. (Also the connection's termination tests' ingress.)
pub(crate) struct TestEnv {
    pub(crate) client: SocketAddr,
    /// What `route` answers (for any SNI): the route's TLS config, and whether its backend
    /// has a server up.
    pub(crate) route: Option<(Option<Arc<ServerConfig>>, bool)>,
    /// What `rate_limited` answers.
    pub(crate) over_rate_limit: bool,
    pub(crate) proxied: Vec<(Option<SocketAddr>, Option<SocketAddr>)>,
    pub(crate) snis: Vec<Option<Box<str>>>,
    pub(crate) established: Vec<Option<TlsInfo>>,
}

impl TestEnv {
    pub(crate) fn new() -> TestEnv {
        TestEnv {
            client: BALANCER.parse().unwrap(),
            route: None,
            over_rate_limit: false,
            proxied: Vec::new(),
            snis: Vec::new(),
            established: Vec::new(),
        }
    }

    pub(crate) fn routing_to(tls: Option<Arc<ServerConfig>>) -> TestEnv {
        TestEnv {
            route: Some((tls, true)),
            ..TestEnv::new()
        }
    }

    fn terminating() -> TestEnv {
        TestEnv::routing_to(Some(server_config()))
    }
}

impl Env for TestEnv {
    fn client(&self) -> SocketAddr {
        self.client
    }

    fn proxied(&mut self, source: Option<SocketAddr>, destination: Option<SocketAddr>) {
        self.proxied.push((source, destination));
    }

    fn rate_limited(&mut self, _client: SocketAddr) -> bool {
        self.over_rate_limit
    }

    fn route(&mut self, sni: Option<Box<str>>) -> Option<Route> {
        self.snis.push(sni);
        self.route
            .clone()
            .map(|(tls, backend_up)| Route { tls, backend_up })
    }

    fn established(&mut self, info: Option<&TlsInfo>) {
        self.established.push(info.cloned());
    }
}

fn server_config() -> Arc<ServerConfig> {
    Arc::new(testbed::server_config(&pki().server_ecdsa, ClientAuth::Off))
}

fn client() -> ClientConnection {
    let config = testbed::client_config(rustls::ALL_VERSIONS, None, None);
    ClientConnection::new(Arc::new(config), ServerName::try_from(SERVER_NAME).unwrap()).unwrap()
}

pub(crate) fn plain() -> Policy {
    Policy {
        accept_proxy: false,
        client_hello: false,
        mqtt_max_connect: None,
        read_size: 16 * 1024,
        records: RecordLayer::Own,
        kernel_tls_possible: false,
    }
}

pub(crate) fn proxied(policy: Policy) -> Policy {
    Policy {
        accept_proxy: true,
        ..policy
    }
}

pub(crate) fn tls() -> Policy {
    Policy {
        client_hello: true,
        ..plain()
    }
}

pub(crate) fn mqtt(max_connect: u32) -> Policy {
    Policy {
        mqtt_max_connect: Some(max_connect),
        ..plain()
    }
}

fn ingress(policy: Policy) -> Ingress {
    Ingress::new(policy).expect("the policy needs an ingress")
}

/// An action, owned, for comparing.
#[derive(Debug, PartialEq)]
enum Did {
    Recv,
    Send(Vec<u8>),
    Done {
        early: Vec<u8>,
        tls: bool,
        client_id: Option<String>,
    },
    Close(&'static str, Vec<u8>),
}

fn did(action: Action<'_>) -> Did {
    match action {
        Action::Recv => Did::Recv,
        Action::Send(bytes) => Did::Send(bytes.to_vec()),
        Action::Done(done) => Did::Done {
            early: done.early,
            tls: done.tls.is_some(),
            client_id: done.mqtt.map(|m| m.client_id.to_string()),
        },
        Action::Close { cause, alert } => Did::Close(cause.keyword(), alert),
    }
}

fn read(ingress: &mut Ingress, env: &mut TestEnv, bytes: &[u8]) -> Did {
    did(ingress.on_recv(Read::Data(bytes), env))
}

fn closed(keyword: &'static str) -> Did {
    Did::Close(keyword, Vec::new())
}

fn done(early: &[u8]) -> Did {
    Did::Done {
        early: early.to_vec(),
        tls: false,
        client_id: None,
    }
}

fn connect(version: Version, client_id: &str) -> Vec<u8> {
    let mut out = Vec::new();
    frames::encode_connect(&mut out, version, client_id.as_bytes(), 30);
    out
}

pub(crate) fn client_hello() -> Vec<u8> {
    wire(&mut client())
}

/// Everything the client wants to send now.
fn wire(client: &mut ClientConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut out).unwrap();
    }
    out
}

/// Hands server bytes to the client; returns the plaintext it got.
fn to_client(client: &mut ClientConnection, mut bytes: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    while !bytes.is_empty() {
        client.read_tls(&mut bytes).unwrap();
        let state = client.process_new_packets().unwrap();
        let mut chunk = vec![0; state.plaintext_bytes_to_read()];
        client.reader().read_exact(&mut chunk).unwrap();
        plain.extend_from_slice(&chunk);
    }
    plain
}

/// The end of one ingress run against a rustls client.
enum End {
    Done(Ingressed),
    Close(Termination, Vec<u8>),
}

/// Carries the ingress's actions out against `client` until it is done or closes, as the
/// worker would against the client's socket: each send is delivered whole, each receive
/// gets what the client has written by then. `after_handshake` is written by the client as
/// soon as its handshake is done.
fn run(
    ingress: &mut Ingress,
    env: &mut TestEnv,
    client: &mut ClientConnection,
    after: &[u8],
) -> End {
    let mut action_was_recv = true;
    let mut sent = 0;
    let mut wrote_after = after.is_empty();
    for _ in 0..20 {
        let action = if action_was_recv {
            if !client.is_handshaking() && !wrote_after {
                client.writer().write_all(after).unwrap();
                wrote_after = true;
            }
            let bytes = wire(client);
            assert!(
                !bytes.is_empty(),
                "the ingress waits for a client with nothing to say"
            );
            ingress.on_recv(Read::Data(&bytes), env)
        } else {
            ingress.on_sent(Ok(sent), env)
        };
        match action {
            Action::Recv => action_was_recv = true,
            Action::Send(bytes) => {
                let bytes = bytes.to_vec();
                assert!(ingress.sending());
                sent = bytes.len();
                to_client(client, &bytes);
                action_was_recv = false;
            }
            Action::Done(done) => return End::Done(done),
            Action::Close { cause, alert } => return End::Close(cause, alert),
        }
    }
    panic!("ingress did not finish in 20 actions");
}

fn run_to_done(
    ingress: &mut Ingress,
    env: &mut TestEnv,
    client: &mut ClientConnection,
    after: &[u8],
) -> Ingressed {
    match run(ingress, env, client, after) {
        End::Done(done) => done,
        End::Close(cause, _) => panic!("closed with {cause}"),
    }
}

#[test]
fn a_plain_listener_needs_no_ingress() {
    assert!(Ingress::new(plain()).is_none());
}

#[test]
fn steps_start_where_the_listener_needs_them() {
    assert_eq!(ingress(proxied(tls())).step(), Step::ProxyIn);
    assert_eq!(ingress(tls()).step(), Step::ClientHello);
    assert_eq!(ingress(mqtt(1024)).step(), Step::MqttConnect);
    assert!(ingress(tls()).in_handshake());
    assert!(!ingress(mqtt(1024)).in_handshake());
}

#[test]
fn eof_and_errors_during_any_step_end_it() {
    for policy in [proxied(plain()), tls(), mqtt(1024)] {
        let mut env = TestEnv::new();
        let cases = [
            (Read::Eof, "client_aborted"),
            (Read::Data(&[]), "client_aborted"),
            (Read::Failed(libc::ECONNRESET), "error:client_reset"),
            (Read::Failed(libc::ETIMEDOUT), "error:client_unreachable"),
            (Read::Failed(libc::EINVAL), "error:client_io"),
        ];
        for (event, keyword) in cases {
            assert_eq!(
                did(ingress(policy).on_recv(event, &mut env)),
                closed(keyword)
            );
        }
    }
}

#[test]
fn proxy_header_over_several_reads_then_the_rest_goes_upstream() {
    let mut ingress = ingress(proxied(plain()));
    let mut env = TestEnv::new();
    let (first, second) = PROXY_V1.split_at(10);
    assert_eq!(read(&mut ingress, &mut env, first), Did::Recv);
    assert!(env.proxied.is_empty());
    let mut rest = second.to_vec();
    rest.extend_from_slice(b"client bytes");
    assert_eq!(read(&mut ingress, &mut env, &rest), done(b"client bytes"));
    assert_eq!(
        env.proxied,
        [(
            Some("192.0.2.7:40000".parse().unwrap()),
            Some("198.51.100.1:8883".parse().unwrap())
        )]
    );
}

#[test]
fn a_local_header_is_not_rate_limited() {
    // The balancer's own health check names no client: nothing to limit.
    let mut env = TestEnv {
        over_rate_limit: true,
        ..TestEnv::new()
    };
    let mut ingress = ingress(proxied(plain()));
    assert_eq!(
        read(&mut ingress, &mut env, b"PROXY UNKNOWN\r\n"),
        done(b"")
    );
    assert_eq!(env.proxied, [(None, None)]);
}

#[test]
fn a_client_over_its_rate_limit_behind_the_balancer_is_refused() {
    let mut env = TestEnv {
        over_rate_limit: true,
        ..TestEnv::new()
    };
    let mut ingress = ingress(proxied(tls()));
    assert_eq!(
        read(&mut ingress, &mut env, PROXY_V1),
        closed("rate_limited")
    );
}

#[test]
fn a_bad_proxy_header_is_refused() {
    let mut ingress = ingress(proxied(tls()));
    let did = read(&mut ingress, &mut TestEnv::new(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(did, closed("proxy_invalid"));
}

#[test]
fn bytes_after_the_proxy_header_are_bounded_as_the_next_step_bounds_them() {
    let too_many = |policy: Policy, bound: usize| {
        let mut bytes = PROXY_V1.to_vec();
        bytes.extend(std::iter::repeat_n(0x16, bound + 1));
        read(&mut ingress(policy), &mut TestEnv::new(), &bytes)
    };
    let small = Policy {
        read_size: 100,
        ..plain()
    };
    assert_eq!(too_many(proxied(small), 100), closed("proxy_invalid"));
    assert_eq!(
        too_many(proxied(tls()), client_hello::MAX_CLIENT_HELLO_BYTES),
        closed("tls_hello_too_large")
    );
    let mqtt_small = Policy {
        read_size: 100,
        ..mqtt(200)
    };
    assert_eq!(
        too_many(proxied(mqtt_small), 300),
        closed("mqtt_connect_too_large")
    );
}

#[test]
fn proxy_header_then_client_hello_in_the_same_read() {
    let mut env = TestEnv::routing_to(None);
    let mut ingress = ingress(proxied(tls()));
    let hello = client_hello();
    let mut bytes = PROXY_V1.to_vec();
    bytes.extend_from_slice(&hello);
    assert_eq!(read(&mut ingress, &mut env, &bytes), done(&hello));
    assert_eq!(env.proxied.len(), 1);
}

#[test]
fn a_pass_through_route_gets_the_client_hello_replayed_unchanged() {
    let mut env = TestEnv::routing_to(None);
    let mut ingress = ingress(tls());
    let hello = client_hello();
    // A byte at a time until the record header is whole, then the rest.
    for i in 0..5 {
        assert_eq!(read(&mut ingress, &mut env, &hello[i..=i]), Did::Recv);
    }
    assert_eq!(ingress.step(), Step::ClientHello);
    assert_eq!(read(&mut ingress, &mut env, &hello[5..]), done(&hello));
    assert_eq!(env.snis, [Some(SERVER_NAME.into())]);
}

#[test]
fn a_client_hello_with_no_route_gets_unrecognized_name() {
    let mut env = TestEnv::new();
    let mut ingress = ingress(tls());
    let alert = alert_record(AlertDescription::UnrecognisedName).to_vec();
    assert_eq!(
        read(&mut ingress, &mut env, &client_hello()),
        Did::Close("no_route", alert)
    );
    // The SNI is reported for the access log all the same.
    assert_eq!(env.snis, [Some(SERVER_NAME.into())]);
}

#[test]
fn a_route_whose_servers_are_all_down_refuses_before_the_handshake() {
    let mut env = TestEnv {
        route: Some((Some(server_config()), false)),
        ..TestEnv::new()
    };
    let mut ingress = ingress(tls());
    let alert = alert_record(AlertDescription::InternalError).to_vec();
    assert_eq!(
        read(&mut ingress, &mut env, &client_hello()),
        Did::Close("no_server_available", alert)
    );
}

#[test]
fn what_is_not_a_client_hello_is_refused() {
    let refused = |bytes: &[u8]| read(&mut ingress(tls()), &mut TestEnv::terminating(), bytes);
    // Plain text gets no alert: it would not understand one.
    assert_eq!(refused(b"CONNECT"), closed("tls_not_tls"));
    let mut too_large = vec![0x16];
    too_large.resize(client_hello::MAX_CLIENT_HELLO_BYTES + 1, 0);
    assert_eq!(refused(&too_large), closed("tls_hello_too_large"));
}

#[test]
fn a_handshake_ends_with_the_session_and_its_facts() {
    let mut env = TestEnv::terminating();
    let mut ingress = ingress(tls());
    let mut client = client();
    let done = run_to_done(&mut ingress, &mut env, &mut client, b"");
    let established = done.tls.expect("a terminated session");
    assert!(!established.session.is_handshaking());
    assert!(done.early.is_empty());
    assert!(done.mqtt.is_none());
    let [Some(info)] = &env.established[..] else {
        panic!("established not reported once with its details");
    };
    assert_eq!(info.version, "TLSv1.3");
    assert_eq!(info.sni.as_deref(), Some(SERVER_NAME));
}

#[test]
fn data_behind_the_clients_finished_is_early_data_for_the_server() {
    let mut env = TestEnv::terminating();
    let mut ingress = ingress(tls());
    let mut client = client();
    let done = run_to_done(&mut ingress, &mut env, &mut client, b"first bytes");
    assert_eq!(done.early, b"first bytes");
    assert!(done.tls.is_some());
}

#[test]
fn a_short_send_sends_the_rest_next() {
    let mut env = TestEnv::terminating();
    let mut ingress = ingress(tls());
    let flight = did(ingress.on_recv(Read::Data(&client_hello()), &mut env));
    let Did::Send(flight) = flight else {
        panic!("no server flight: {flight:?}");
    };
    assert!(ingress.sending());
    assert_eq!(ingress.step(), Step::Handshake);
    let rest = did(ingress.on_sent(Ok(10), &mut env));
    assert_eq!(rest, Did::Send(flight[10..].to_vec()));
    assert_eq!(
        did(ingress.on_sent(Ok(flight.len() - 10), &mut env)),
        Did::Recv
    );
    assert!(!ingress.sending());
}

#[test]
fn a_failed_send_ends_the_handshake() {
    for (result, keyword) in [
        (Err(libc::EPIPE), "error:client_reset"),
        (Ok(0), "error:client_reset"),
        (Err(libc::EHOSTUNREACH), "error:client_unreachable"),
    ] {
        let mut env = TestEnv::terminating();
        let mut ingress = ingress(tls());
        let flight = did(ingress.on_recv(Read::Data(&client_hello()), &mut env));
        assert!(matches!(flight, Did::Send(_)));
        assert_eq!(did(ingress.on_sent(result, &mut env)), closed(keyword));
    }
}

#[test]
fn a_send_completion_nobody_asked_for_is_an_internal_error() {
    let mut ingress = ingress(tls());
    let did = did(ingress.on_sent(Ok(5), &mut TestEnv::terminating()));
    assert_eq!(did, closed("error:internal"));
}

#[test]
fn a_broken_handshake_gets_the_sessions_alert() {
    let mut env = TestEnv::terminating();
    let mut ingress = ingress(tls());
    let mut client = client();
    let hello = wire(&mut client);
    assert!(matches!(read(&mut ingress, &mut env, &hello), Did::Send(_)));
    assert_eq!(did(ingress.on_sent(Ok(usize::MAX), &mut env)), Did::Recv);
    // A handshake record that is not the client's next message.
    let Did::Close(keyword, alert) = read(&mut ingress, &mut env, &[0x16, 3, 3, 0, 4, 1, 0, 0, 0])
    else {
        panic!("a broken handshake did not close");
    };
    assert!(keyword.starts_with("tls_"), "{keyword}");
    assert!(!alert.is_empty(), "no alert for {keyword}");
    assert!(env.established.is_empty());
}

#[test]
fn a_handshake_holding_too_much_is_refused() {
    let mut env = TestEnv::terminating();
    let mut ingress = ingress(tls());
    assert!(matches!(
        read(&mut ingress, &mut env, &client_hello()),
        Did::Send(_)
    ));
    assert_eq!(did(ingress.on_sent(Ok(usize::MAX), &mut env)), Did::Recv);
    // One incomplete record's worth past the bound.
    let mut bytes = vec![0x17, 3, 3, 0xff, 0xff];
    bytes.resize(MAX_HELD_BYTES + 1, 0);
    assert_eq!(
        read(&mut ingress, &mut env, &bytes),
        closed("tls_handshake_too_large")
    );
}

#[test]
fn a_connect_over_several_reads_goes_upstream_with_what_followed() {
    let mut env = TestEnv::new();
    let mut ingress = ingress(mqtt(1024));
    let mut bytes = connect(Version::V311, "device-7");
    bytes.extend_from_slice(&[0xc0, 0]); // PINGREQ behind it
    let (first, second) = bytes.split_at(7);
    assert_eq!(read(&mut ingress, &mut env, first), Did::Recv);
    let Did::Done {
        early,
        tls,
        client_id,
    } = read(&mut ingress, &mut env, second)
    else {
        panic!("the CONNECT was not taken");
    };
    assert_eq!(early, bytes);
    assert!(!tls);
    assert_eq!(client_id.as_deref(), Some("device-7"));
}

#[test]
fn what_is_not_a_valid_connect_is_refused_with_the_connack_it_has() {
    let refused = |bytes: &[u8]| read(&mut ingress(mqtt(1024)), &mut TestEnv::new(), bytes);
    // A PINGREQ first: no CONNACK for a client that never said which protocol it speaks.
    assert_eq!(refused(&[0xc0, 0]), closed("mqtt_not_connect"));
    // MQTT 3.1.1 knows "unacceptable protocol version" (return code 1).
    let mut unsupported = connect(Version::V311, "d");
    unsupported[8] = UNSUPPORTED_LEVEL;
    assert_eq!(
        refused(&unsupported),
        Did::Close("mqtt_unsupported_version", vec![0x20, 2, 0, 1])
    );
    // A CONNECT larger than max_connect_size is refused once its length is known.
    let big = connect(Version::V311, &"x".repeat(2000));
    assert_eq!(refused(&big[..10]), closed("mqtt_connect_too_large"));
}

#[test]
fn connect_bytes_past_the_bound_are_refused() {
    let policy = Policy {
        read_size: 16,
        ..mqtt(64)
    };
    let mut ingress = ingress(policy);
    let mut env = TestEnv::new();
    // A valid, incomplete start of a 3.1.1 CONNECT, then more than one read's worth after it.
    let start = connect(Version::V311, "abcdefghij");
    assert_eq!(read(&mut ingress, &mut env, &start[..4]), Did::Recv);
    assert_eq!(
        read(&mut ingress, &mut env, &[0; 77]),
        closed("mqtt_connect_too_large")
    );
}

#[test]
fn a_connect_over_tls_goes_upstream_with_the_session() {
    let mut env = TestEnv::terminating();
    let mut ingress = ingress(Policy {
        mqtt_max_connect: Some(1024),
        ..tls()
    });
    let mut client = client();
    let bytes = connect(Version::V5, "tls-device");
    let done = run_to_done(&mut ingress, &mut env, &mut client, &bytes);
    assert_eq!(done.early, bytes);
    assert!(done.tls.is_some());
    assert_eq!(done.mqtt.map(|m| m.client_id), Some("tls-device".into()));
    assert_eq!(env.established.len(), 1);
}

#[test]
fn a_refused_connect_over_tls_gets_an_encrypted_connack_and_close_notify() {
    let mut env = TestEnv::terminating();
    let mut ingress = ingress(Policy {
        mqtt_max_connect: Some(1024),
        ..tls()
    });
    let mut client = client();
    let mut bytes = connect(Version::V311, "d");
    bytes[8] = UNSUPPORTED_LEVEL;
    let End::Close(cause, records) = run(&mut ingress, &mut env, &mut client, &bytes) else {
        panic!("a bad CONNECT over TLS was taken");
    };
    assert_eq!(
        cause,
        Termination::Mqtt(ConnectErrorKind::UnsupportedVersion)
    );
    assert_eq!(to_client(&mut client, &records), [0x20, 2, 0, 1]);
    // The client saw the close_notify behind it.
    let mut rest = [0u8; 1];
    assert_eq!(client.reader().read(&mut rest).unwrap(), 0);
}
