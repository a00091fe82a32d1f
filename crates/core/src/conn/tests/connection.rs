use super::*;

fn connection() -> Connection<TestBuf, TestPipe> {
    Connection {
        listener: 0,
        backend: None,
        client_fd: 7,
        server_fd: None,
        client: "192.0.2.1:4000".parse().unwrap(),
        server: None,
        started_ms: 10,
        client_active_ms: 10,
        server_active_ms: 10,
        inflight: 0,
        stage: Stage::Ready,
        facts: None,
        transport: ClientTransport::Plain,
        mqtt: None,
        client_idle_ms: 1_000,
    }
}

#[test]
fn facts_are_allocated_on_first_use_only() {
    let mut c = connection();
    assert!(c.facts.is_none());
    c.facts_mut().sni = Some("a.example.com".into());
    c.facts_mut().route = Some(3);
    let facts = c.facts.as_deref().unwrap();
    assert_eq!(
        (facts.sni.as_deref(), facts.route),
        (Some("a.example.com"), Some(3))
    );
}

#[test]
fn activity_restarts_one_sides_idle_clock() {
    let mut c = connection();
    c.touch(Side::Server, 500);
    assert_eq!((c.client_active_ms, c.server_active_ms), (10, 500));
    c.touch(Side::Client, 900);
    assert_eq!((c.client_active_ms, c.server_active_ms), (900, 500));
}

#[test]
fn each_side_has_its_socket() {
    let mut c = connection();
    c.server_fd = Some(9);
    assert_eq!((c.fd(Side::Client), c.fd(Side::Server)), (7, 9));
}
