use super::super::tests::{MINIMAL, parse};

#[track_caller]
fn assert_rejected(text: &str, want: &str) {
    match parse(text) {
        Ok(_) => panic!("accepted, expected {want:?}:\n{text}"),
        Err(err) => assert!(
            err.message.starts_with(want),
            "want {want:?}, got: {}",
            err.message
        ),
    }
}

#[test]
fn admin_is_off_unless_configured() {
    assert!(parse(MINIMAL).unwrap().admin.is_none());
    let config = parse(&format!(
        "{MINIMAL}\n[admin]\nlisten = \"127.0.0.1:9090\"\n"
    ))
    .unwrap();
    assert_eq!(
        config.admin.unwrap().listen,
        "127.0.0.1:9090".parse().unwrap()
    );
    let config = parse(&format!("[admin]\nlisten = \"[::1]:0\"\n{MINIMAL}")).unwrap();
    assert_eq!(config.admin.unwrap().listen, "[::1]:0".parse().unwrap());
}

#[test]
fn admin_listen_must_be_an_ip_socket_address() {
    for bad in ["localhost:9090", "127.0.0.1", "9090", ""] {
        assert_rejected(
            &format!("[admin]\nlisten = \"{bad}\"\n{MINIMAL}"),
            &format!(
                "test.toml:2: admin.listen: {bad:?} is not an IP socket address (expected \"ip:port\""
            ),
        );
    }
}

#[test]
fn admin_rejects_unknown_and_missing_keys() {
    assert_rejected(
        &format!("[admin]\nlisten = \"127.0.0.1:9090\"\npath = \"/m\"\n{MINIMAL}"),
        "test.toml:3: admin.path: unknown field `path`, expected `listen`",
    );
    assert_rejected(
        &format!("[admin]\n{MINIMAL}"),
        "test.toml:1: admin: missing field `listen`",
    );
    assert_rejected(
        &format!("[admin]\nlisten = 9090\n{MINIMAL}"),
        "test.toml:2: admin.listen: invalid type: integer `9090`, expected a string",
    );
}

#[test]
fn admin_may_not_share_a_listeners_address() {
    assert_rejected(
        &format!("{MINIMAL}\n[admin]\nlisten = \"127.0.0.1:1884\"\n"),
        "test.toml:11: admin.listen: 127.0.0.1:1884 is already bound by listener \"mqtt\" at line 3 (expected a distinct address)",
    );
}
