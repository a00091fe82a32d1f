//! Rejections of the TLS, routing and PROXY keys, each asserting file, line and key. The
//! files a config names are made in a temporary directory, so certificate errors are real.

use crate::config::test_pki::TestPki;
use crate::config::{Config, ConfigError, ConfigSource};
use crate::relay::RelayMode;

/// A terminate listener with one route; tests edit it.
const BASE: &str = r#"[[listener]]
name = "mqtts"
bind = "127.0.0.1:8883"
tls = "terminate"

[[route]]
name = "r1"
listener = "mqtts"
sni = ["a.example.com"]
cert = "pki/a.crt"
key = "pki/a.key"
backend = "broker"

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883"]
"#;

/// A plain listener and a passthrough listener with one route each.
const MIXED: &str = r#"[[listener]]
name = "plain"
bind = "127.0.0.1:1884"
backend = "broker"

[[listener]]
name = "pass"
bind = "127.0.0.1:8884"
tls = "passthrough"

[[route]]
name = "p1"
listener = "pass"
sni = ["p.example.com"]
backend = "broker"

[[backend]]
name = "broker"
servers = ["127.0.0.1:1883"]
"#;

fn parse_in(pki: &TestPki, text: &str) -> Result<Config, ConfigError> {
    pki.supply_files(text);
    Config::from_toml_in(text, ConfigSource::File("test.toml".into()), pki.dir())
}

/// Asserts `text` is rejected on `key` at the line of the first occurrence of `needle`,
/// with a message containing `what`.
#[track_caller]
fn assert_rejected(text: &str, needle: &str, key: &str, what: &str) {
    let pki = TestPki::new("reject");
    assert_rejected_in(&pki, text, needle, key, what);
}

#[track_caller]
fn assert_rejected_in(pki: &TestPki, text: &str, needle: &str, key: &str, what: &str) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"));
    let line = text[..offset].matches('\n').count() + 1;
    let err = match parse_in(pki, text) {
        Ok(_) => panic!("accepted, expected an error at line {line} on {key}:\n{text}"),
        Err(err) => err,
    };
    let prefix = format!("test.toml:{line}: {key}: ");
    assert!(
        err.message.starts_with(&prefix),
        "want prefix {prefix:?}, got: {}",
        err.message
    );
    assert!(
        err.message.contains(what),
        "want {what:?} in: {}",
        err.message
    );
    assert_eq!(err.line, Some(line));
    assert_eq!(err.key.as_deref(), Some(key));
}

/// `BASE` with `extra` inserted after the line `after`.
fn base_with(after: &str, extra: &str) -> String {
    insert(BASE, after, extra)
}

fn insert(text: &str, after: &str, extra: &str) -> String {
    let at = text.find(after).expect("anchor") + after.len();
    format!("{}\n{extra}{}", &text[..at], &text[at..])
}

const L: &str = "listener \"mqtts\"";
const R: &str = "route \"r1\"";

#[test]
fn base_loads() {
    let pki = TestPki::new("base");
    parse_in(&pki, BASE).unwrap();
    parse_in(&pki, MIXED).unwrap();
}

#[test]
fn plain_listener_needs_backend() {
    let text = MIXED.replace("backend = \"broker\"\n\n[[listener]]", "\n[[listener]]");
    assert_rejected(
        &text,
        "name = \"plain\"",
        "listener \"plain\".backend",
        "tls = \"none\" listeners need backend (expected backend = ",
    );
}

#[test]
fn tls_listener_refuses_backend() {
    let text = base_with("tls = \"terminate\"", "backend = \"broker\"");
    assert_rejected(
        &text,
        "backend = \"broker\"\n\n",
        &format!("{L}.backend"),
        "not allowed with tls = \"terminate\": connections are routed by SNI (expected [[route]] entries with listener = \"mqtts\"",
    );
    let text = insert(MIXED, "tls = \"passthrough\"", "backend = \"broker\"");
    assert_rejected(
        &text,
        "backend = \"broker\"\n\n[[route]]",
        "listener \"pass\".backend",
        "not allowed with tls = \"passthrough\"",
    );
}

#[test]
fn tls_listener_needs_a_route() {
    let text = BASE.replace("listener = \"mqtts\"", "listener = \"other\"");
    let text = format!(
        "{text}[[listener]]\nname = \"other\"\nbind = \"127.0.0.1:8885\"\ntls = \"terminate\"\n"
    );
    assert_rejected(
        &text,
        "tls = \"terminate\"",
        L,
        "tls = \"terminate\" listeners need at least one route (expected a [[route]] with listener = \"mqtts\")",
    );
}

#[test]
fn routes_need_a_tls_listener() {
    let text = MIXED.replace("listener = \"pass\"", "listener = \"plain\"");
    assert_rejected(
        &text,
        "listener = \"plain\"",
        "route \"p1\".listener",
        "listener \"plain\" has tls = \"none\" and forwards everything to its backend (expected a listener with tls = \"terminate\" or \"passthrough\")",
    );
}

#[test]
fn route_references_must_exist() {
    let text = BASE.replace("listener = \"mqtts\"", "listener = \"mqtt\"");
    assert_rejected(
        &text,
        "listener = \"mqtt\"",
        &format!("{R}.listener"),
        "unknown listener \"mqtt\" (expected one of the defined listeners: \"mqtts\")",
    );
    let text = BASE.replace("backend = \"broker\"\n\n", "backend = \"brokr\"\n\n");
    assert_rejected(
        &text,
        "backend = \"brokr\"",
        &format!("{R}.backend"),
        "unknown backend \"brokr\" (expected one of the defined backends: \"broker\")",
    );
}

#[test]
fn route_names_are_checked_like_others() {
    let text = BASE.replace("name = \"r1\"", "name = \"r 1\"");
    assert_rejected(&text, "name = \"r 1\"", "route[0].name", "invalid name");
    let text = insert(
        BASE,
        "backend = \"broker\"\n",
        "\n[[route]]\nname = \"r1\"\nlistener = \"mqtts\"\nsni = [\"b.example.com\"]\ncert = \"pki/a.crt\"\nkey = \"pki/a.key\"\nbackend = \"broker\"\n",
    );
    assert_rejected(
        &text,
        "name = \"r1\"\nlistener = \"mqtts\"\nsni = [\"b",
        "route[1].name",
        "duplicate route name \"r1\" (first defined at line 7",
    );
    let text = base_with("backend = \"broker\"", "colour = 1");
    assert_rejected(
        &text,
        "colour",
        &format!("{R}.colour"),
        "unknown field `colour`",
    );
}

#[test]
fn terminate_routes_need_cert_and_key() {
    let text = BASE.replace("cert = \"pki/a.crt\"\n", "");
    assert_rejected(
        &text,
        "name = \"r1\"",
        &format!("{R}.cert"),
        "routes of a tls = \"terminate\" listener need cert (expected a PEM file with the certificate chain",
    );
    let text = BASE.replace("key = \"pki/a.key\"\n", "");
    assert_rejected(
        &text,
        "name = \"r1\"",
        &format!("{R}.key"),
        "need key (expected a PEM file with the certificate's private key)",
    );
    let text = BASE.replace("\"pki/a.crt\"", "\"\"");
    assert_rejected(&text, "cert = \"\"", &format!("{R}.cert"), "empty path");
}

#[test]
fn passthrough_routes_refuse_tls_keys() {
    for (line, key) in [
        ("cert = \"pki/p.crt\"", "cert"),
        ("key = \"pki/p.key\"", "key"),
        ("client_ca = \"pki/ca.crt\"", "client_ca"),
        ("client_auth = \"required\"", "client_auth"),
        ("client_crl = [\"pki/c.crl\"]", "client_crl"),
    ] {
        let text = insert(MIXED, "sni = [\"p.example.com\"]", line);
        assert_rejected(
            &text,
            line,
            &format!("route \"p1\".{key}"),
            "not allowed on a route of a tls = \"passthrough\" listener (ringress does not see that TLS session",
        );
    }
}

#[test]
fn tls_keys_need_a_terminate_listener() {
    for (line, key) in [
        ("client_ca = \"pki/ca.crt\"", "client_ca"),
        ("client_auth = \"optional\"", "client_auth"),
        ("client_crl = []", "client_crl"),
        ("min_tls_version = \"1.3\"", "min_tls_version"),
        ("alpn = [\"mqtt\"]", "alpn"),
        ("tls_offload = \"kernel\"", "tls_offload"),
        ("tls_records = \"rustls\"", "tls_records"),
    ] {
        let text = insert(MIXED, "tls = \"passthrough\"", line);
        assert_rejected(
            &text,
            line,
            &format!("listener \"pass\".{key}"),
            "only allowed with tls = \"terminate\" (ringress does not see the TLS session of a passthrough listener)",
        );
        let text = insert(MIXED, "bind = \"127.0.0.1:1884\"", line);
        assert_rejected(
            &text,
            line,
            &format!("listener \"plain\".{key}"),
            "only allowed with tls = \"terminate\" (a tls = \"none\" listener has no TLS)",
        );
    }
}

#[test]
fn default_route_is_checked() {
    let text = insert(MIXED, "bind = \"127.0.0.1:1884\"", "default_route = \"p1\"");
    assert_rejected(
        &text,
        "default_route",
        "listener \"plain\".default_route",
        "only allowed with tls = \"terminate\" or \"passthrough\"",
    );
    let text = base_with("tls = \"terminate\"", "default_route = \"r2\"");
    assert_rejected(
        &text,
        "default_route",
        &format!("{L}.default_route"),
        "unknown route \"r2\" (expected one of the defined routes: \"r1\")",
    );
    // A route of another listener.
    let text = format!(
        "{}\n[[listener]]\nname = \"pass\"\nbind = \"127.0.0.1:8884\"\ntls = \"passthrough\"\ndefault_route = \"r1\"\n\n[[route]]\nname = \"p1\"\nlistener = \"pass\"\nsni = [\"p.example.com\"]\nbackend = \"broker\"\n",
        BASE
    );
    assert_rejected(
        &text,
        "default_route",
        "listener \"pass\".default_route",
        "route \"r1\" belongs to listener \"mqtts\" (expected a route with listener = \"pass\")",
    );
}

#[test]
fn sni_names_are_validated() {
    let key = format!("{R}.sni");
    let text = BASE.replace("[\"a.example.com\"]", "[]");
    assert_rejected(&text, "sni = []", &key, "empty list (expected host names");
    for (bad, what) in [
        (
            "10.0.0.1",
            "is an IP address; SNI carries only host names (RFC 6066 §3)",
        ),
        ("*.com", "a wildcard needs at least two labels"),
        (
            "a.*.example.com",
            "a wildcard must be the whole first label",
        ),
        ("a_b.example.com", "character '_' not allowed"),
        ("", "empty server name"),
    ] {
        let text = BASE.replace(
            "[\"a.example.com\"]",
            &format!("[\"ok.example.com\",\n  \"{bad}\"]"),
        );
        assert_rejected(&text, &format!("\"{bad}\"]"), &format!("{key}[1]"), what);
    }
}

#[test]
fn an_sni_name_belongs_to_one_route_per_listener() {
    let second = |sni: &str| {
        insert(
            BASE,
            "backend = \"broker\"\n",
            &format!(
                "\n[[route]]\nname = \"r2\"\nlistener = \"mqtts\"\nsni = [\"b.example.com\", \"{sni}\"]\ncert = \"pki/b.crt\"\nkey = \"pki/b.key\"\nbackend = \"broker\"\n"
            ),
        )
    };
    for sni in ["a.example.com", "A.Example.com.", "a.EXAMPLE.COM"] {
        let text = second(sni);
        assert_rejected(
            &text,
            "sni = [\"b.",
            "route \"r2\".sni[1]",
            "is already routed by route \"r1\" at line 9 on listener \"mqtts\" (expected each name in one route per listener)",
        );
    }
    // Same wildcard twice; an exact name under a wildcard is fine.
    let text = second("*.example.com").replace(
        "[\"a.example.com\"]",
        "[\"a.example.com\", \"*.example.com\"]",
    );
    assert_rejected(
        &text,
        "sni = [\"b.",
        "route \"r2\".sni[1]",
        "\"*.example.com\" is already routed by route \"r1\"",
    );
    let pki = TestPki::new("exact-under-wildcard");
    parse_in(
        &pki,
        &second("x.example.com").replace("a.example.com", "*.example.com"),
    )
    .unwrap();
    // Twice within one route.
    let text = BASE.replace(
        "[\"a.example.com\"]",
        "[\"a.example.com\", \"a.example.com\"]",
    );
    assert_rejected(
        &text,
        "sni",
        &format!("{R}.sni[1]"),
        "already routed by route \"r1\" at line 9",
    );
}

#[test]
fn accept_proxy_needs_trusted_proxies() {
    let text = base_with("tls = \"terminate\"", "accept_proxy = true");
    assert_rejected(
        &text,
        "accept_proxy",
        &format!("{L}.accept_proxy"),
        "accept_proxy = true needs trusted_proxies (expected trusted_proxies = [\"10.0.0.0/8\", ...]",
    );
    let text = base_with(
        "tls = \"terminate\"",
        "accept_proxy = true\ntrusted_proxies = []",
    );
    assert_rejected(
        &text,
        "trusted_proxies",
        &format!("{L}.trusted_proxies"),
        "empty list (expected CIDRs",
    );
    let text = base_with(
        "tls = \"terminate\"",
        "accept_proxy = true\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.1/8\"]",
    );
    assert_rejected(
        &text,
        "trusted_proxies",
        &format!("{L}.trusted_proxies[1]"),
        "\"10.0.0.1/8\" has host bits set (expected \"ip/prefix\"",
    );
    let text = base_with("tls = \"terminate\"", "accept_proxy = \"yes\"");
    assert_rejected(
        &text,
        "accept_proxy",
        &format!("{L}.accept_proxy"),
        "expected a boolean",
    );
}

#[test]
fn tls_offload_is_validated() {
    let text = base_with("tls = \"terminate\"", "tls_offload = \"hardware\"");
    assert_rejected(
        &text,
        "tls_offload",
        &format!("{L}.tls_offload"),
        "unknown tls_offload \"hardware\" (expected \"auto\", \"kernel\" or \"userspace\")",
    );
    let pki = TestPki::new("offload");
    for (value, expected) in [
        ("auto", crate::config::TlsOffload::Auto),
        ("kernel", crate::config::TlsOffload::Kernel),
        ("userspace", crate::config::TlsOffload::Userspace),
    ] {
        let text = base_with("tls = \"terminate\"", &format!("tls_offload = \"{value}\""));
        let config = parse_in(&pki, &text).unwrap();
        assert_eq!(config.listeners[0].tls_offload, expected);
    }
    let config = parse_in(&pki, BASE).unwrap();
    assert_eq!(
        config.listeners[0].tls_offload,
        crate::config::TlsOffload::Auto
    );
}

#[test]
fn tls_records_is_validated() {
    let text = base_with("tls = \"terminate\"", "tls_records = \"openssl\"");
    assert_rejected(
        &text,
        "tls_records",
        &format!("{L}.tls_records"),
        "unknown tls_records \"openssl\" (expected \"own\" or \"rustls\")",
    );
    let pki = TestPki::new("records");
    for (value, expected) in [
        ("own", crate::config::RecordLayer::Own),
        ("rustls", crate::config::RecordLayer::Rustls),
    ] {
        let text = base_with("tls = \"terminate\"", &format!("tls_records = \"{value}\""));
        let config = parse_in(&pki, &text).unwrap();
        assert_eq!(config.listeners[0].tls_records, expected);
        assert_eq!(expected.as_str(), value);
    }
    let config = parse_in(&pki, BASE).unwrap();
    assert_eq!(
        config.listeners[0].tls_records,
        crate::config::RecordLayer::Own
    );
}

#[test]
fn relay_is_validated() {
    let text = base_with("tls = \"terminate\"", "relay = \"zerocopy\"");
    assert_rejected(
        &text,
        "relay",
        &format!("{L}.relay"),
        "unknown relay \"zerocopy\" (expected \"auto\", \"splice\" or \"copy\")",
    );
    let text = base_with(
        "tls = \"terminate\"",
        "tls_offload = \"userspace\"\nrelay = \"splice\"",
    );
    assert_rejected(
        &text,
        "relay",
        &format!("{L}.relay"),
        "relay = \"splice\" needs the client's bytes in plaintext at the socket",
    );
    let pki = TestPki::new("relay");
    for (extra, expected) in [
        ("relay = \"splice\"", RelayMode::Splice),
        ("relay = \"copy\"", RelayMode::Copy),
        (
            "tls_offload = \"userspace\"\nrelay = \"copy\"",
            RelayMode::Copy,
        ),
        (
            "tls_offload = \"kernel\"\nrelay = \"splice\"",
            RelayMode::Splice,
        ),
    ] {
        let config = parse_in(&pki, &base_with("tls = \"terminate\"", extra)).unwrap();
        assert_eq!(config.listeners[0].relay, expected, "{extra}");
    }
    let config = parse_in(&pki, BASE).unwrap();
    assert_eq!(config.listeners[0].relay, RelayMode::Auto);
}

#[test]
fn tls_settings_are_validated() {
    let text = base_with("tls = \"terminate\"", "min_tls_version = \"1.1\"");
    assert_rejected(
        &text,
        "min_tls_version",
        &format!("{L}.min_tls_version"),
        "unknown TLS version \"1.1\" (expected \"1.2\" or \"1.3\")",
    );
    let text = base_with("tls = \"terminate\"", "min_tls_version = 1.3");
    assert_rejected(
        &text,
        "min_tls_version",
        &format!("{L}.min_tls_version"),
        "expected a string",
    );
    let text = base_with("tls = \"terminate\"", "alpn = []");
    assert_rejected(
        &text,
        "alpn",
        &format!("{L}.alpn"),
        "empty list (expected protocol names",
    );
    let text = base_with("tls = \"terminate\"", "alpn = [\"mqtt\", \"mqtt\"]");
    assert_rejected(
        &text,
        "alpn",
        &format!("{L}.alpn[1]"),
        "\"mqtt\" is listed twice (expected each protocol once)",
    );
    let text = base_with(
        "tls = \"terminate\"",
        &format!("alpn = [\"{}\"]", "x".repeat(256)),
    );
    assert_rejected(
        &text,
        "alpn",
        &format!("{L}.alpn[0]"),
        "is 256 bytes (expected a protocol name of 1..=255 bytes",
    );
}

#[test]
fn client_auth_is_validated() {
    let text = base_with("tls = \"terminate\"", "client_auth = \"maybe\"");
    assert_rejected(
        &text,
        "client_auth",
        &format!("{L}.client_auth"),
        "unknown client_auth \"maybe\" (expected \"none\", \"optional\" or \"required\")",
    );
    let text = base_with("tls = \"terminate\"", "client_auth = \"required\"");
    assert_rejected(
        &text,
        "client_auth",
        &format!("{L}.client_auth"),
        "client_auth = \"required\" needs client_ca for route \"r1\" (expected client_ca = ",
    );
    let text = base_with("backend = \"broker\"", "client_auth = \"optional\"");
    assert_rejected(
        &text,
        "client_auth",
        &format!("{R}.client_auth"),
        "client_auth = \"optional\" needs client_ca",
    );
    let text = base_with("tls = \"terminate\"", "client_crl = [\"pki/c.crl\"]");
    assert_rejected(
        &text,
        "client_crl",
        &format!("{L}.client_crl"),
        "CRLs need client_ca for route \"r1\"",
    );
}

#[test]
fn proxy_protocol_is_validated() {
    let with = |lines: &str| format!("{BASE}{lines}\n");
    let key = "backend \"broker\"";
    assert_rejected(
        &with("proxy_protocol = \"v3\""),
        "proxy_protocol",
        &format!("{key}.proxy_protocol"),
        "unknown PROXY protocol mode \"v3\" (expected one of \"none\", \"v1\", \"v2\", \"v2-ssl\", \"v2-ssl-cn\")",
    );
    assert_rejected(
        &with("proxy_protocol = \"v2\"\nproxy_v2_options = [\"ssl-cipher\", \"tlv-fmt\"]"),
        "proxy_v2_options",
        &format!("{key}.proxy_v2_options[1]"),
        "unknown option \"tlv-fmt\" (expected HAProxy proxy-v2-options: \"ssl\", \"cert-cn\", \"cert-key\", \"cert-sig\", \"ssl-cipher\", \"authority\", \"crc32c\", \"unique-id\")",
    );
    for mode in [
        "proxy_protocol = \"v1\"\n",
        "proxy_protocol = \"none\"\n",
        "",
    ] {
        let spelled = if mode.contains("v1") { "v1" } else { "none" };
        assert_rejected(
            &with(&format!("{mode}proxy_v2_options = [\"crc32c\"]")),
            "proxy_v2_options",
            &format!("{key}.proxy_v2_options"),
            &format!(
                "options need a v2 mode, but proxy_protocol is \"{spelled}\" (expected proxy_protocol = \"v2\", \"v2-ssl\" or \"v2-ssl-cn\")"
            ),
        );
    }
}

#[test]
fn handshake_timeout_must_be_positive() {
    let text = format!("[timeouts]\nhandshake = \"0s\"\n{BASE}");
    assert_rejected(
        &text,
        "handshake",
        "timeouts.handshake",
        "is zero (expected a duration greater than zero)",
    );
    let text = format!("[timeouts]\nhandshake = 5\n{BASE}");
    assert_rejected(&text, "handshake", "timeouts.handshake", "5 has no unit");
}

#[test]
fn certificate_files_are_checked() {
    let cert_key = format!("{R}.cert");
    let key_key = format!("{R}.key");

    let pki = TestPki::new("missing");
    let text = BASE.replace("pki/a.crt", "pki/missing.crt");
    pki.write_server("pki/other.crt", "pki/a.key", &["a.example.com"]);
    let err =
        Config::from_toml_in(&text, ConfigSource::File("test.toml".into()), pki.dir()).unwrap_err();
    let want = format!(
        "test.toml:10: {cert_key}: {}: no such file",
        pki.path("pki/missing.crt").display()
    );
    assert_eq!(err.message, want);

    let pki = TestPki::new("no-cert");
    pki.supply_files(BASE);
    pki.write("pki/a.crt", "not a certificate\n");
    assert_rejected_files(
        &pki,
        "cert =",
        &cert_key,
        "pki/a.crt: no certificate in file (expected PEM",
    );

    let pki = TestPki::new("no-key");
    pki.supply_files(BASE);
    let cert_pem = std::fs::read_to_string(pki.path("pki/a.crt")).unwrap();
    pki.write_key("pki/a.key", &cert_pem);
    assert_rejected_files(
        &pki,
        "key =",
        &key_key,
        "pki/a.key: no private key in file (expected PEM \"PRIVATE KEY\" (PKCS#8)",
    );

    let pki = TestPki::new("mismatch");
    pki.supply_files(BASE);
    pki.write_server("pki/a.crt", "pki/unused.key", &["a.example.com"]);
    assert_rejected_files(
        &pki,
        "key =",
        &key_key,
        "pki/a.key: private key does not match the certificate in ",
    );

    let pki = TestPki::new("bad-ca");
    let text = base_with("tls = \"terminate\"", "client_ca = \"pki/ca.crt\"");
    pki.supply_files(&text);
    pki.write("pki/ca.crt", "# empty bundle\n");
    assert_rejected_in_files(
        &pki,
        &text,
        "client_ca",
        &format!("{L}.client_ca"),
        "pki/ca.crt: no certificate in CA file",
    );

    let pki = TestPki::new("bad-crl");
    let text = base_with(
        "tls = \"terminate\"",
        "client_ca = \"pki/ca.crt\"\nclient_crl = [\"pki/good.crl\", \"pki/bad.crl\"]",
    );
    pki.supply_files(&text);
    pki.write(
        "pki/bad.crl",
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    );
    assert_rejected_in_files(
        &pki,
        &text,
        "client_crl",
        &format!("{L}.client_crl[1]"),
        "pki/bad.crl: CRL unparsable",
    );
    pki.write("pki/bad.crl", "nothing here\n");
    assert_rejected_in_files(
        &pki,
        &text,
        "client_crl",
        &format!("{L}.client_crl[1]"),
        "pki/bad.crl: no CRL in file",
    );
}

/// Issue 11, finding 5: a private key file's mode was never looked at. Any permission for
/// other users refuses it (naming the mode), permissions for its group only warn.
#[test]
fn private_keys_other_users_may_access_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let pki = TestPki::new("key-modes");
    pki.supply_files(BASE);
    let key = pki.path("pki/a.key");
    let chmod = |mode| std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode));
    for mode in [0o644, 0o604, 0o602, 0o601, 0o666, 0o777] {
        chmod(mode).unwrap();
        let what = format!("pki/a.key: mode {mode:04o} lets other users access the private key");
        assert_rejected_files(&pki, "key =", &format!("{R}.key"), &what);
    }
    for mode in [0o600, 0o400, 0o640, 0o660, 0o440] {
        chmod(mode).unwrap();
        if let Err(e) =
            Config::from_toml_in(BASE, ConfigSource::File("test.toml".into()), pki.dir())
        {
            panic!("mode {mode:04o} refused: {e}");
        }
    }
}

#[test]
fn client_crl_expiry_is_validated() {
    let text = base_with(
        "tls = \"terminate\"",
        "client_ca = \"pki/ca.crt\"\nclient_crl = [\"pki/c.crl\"]\nclient_crl_expiry = \"sometimes\"",
    );
    assert_rejected(
        &text,
        "client_crl_expiry",
        &format!("{L}.client_crl_expiry"),
        "unknown client_crl_expiry \"sometimes\" (expected \"enforce\" or \"ignore\")",
    );
    let text = insert(
        MIXED,
        "tls = \"passthrough\"",
        "client_crl_expiry = \"ignore\"",
    );
    assert_rejected(
        &text,
        "client_crl_expiry",
        "listener \"pass\".client_crl_expiry",
        "only allowed with tls = \"terminate\"",
    );
    let text = insert(
        MIXED,
        "sni = [\"p.example.com\"]",
        "client_crl_expiry = \"ignore\"",
    );
    assert_rejected(
        &text,
        "client_crl_expiry",
        "route \"p1\".client_crl_expiry",
        "not allowed on a route of a tls = \"passthrough\" listener",
    );
}

/// Like `assert_rejected`, but with the files already in place (not supplied afresh).
#[track_caller]
fn assert_rejected_files(pki: &TestPki, needle: &str, key: &str, what: &str) {
    assert_rejected_in_files(pki, BASE, needle, key, what);
}

#[track_caller]
fn assert_rejected_in_files(pki: &TestPki, text: &str, needle: &str, key: &str, what: &str) {
    let line = text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    let err =
        Config::from_toml_in(text, ConfigSource::File("test.toml".into()), pki.dir()).unwrap_err();
    let prefix = format!("test.toml:{line}: {key}: {}", pki.dir().display());
    assert!(
        err.message.starts_with(&prefix),
        "want {prefix:?}, got: {}",
        err.message
    );
    assert!(
        err.message.contains(what),
        "want {what:?} in: {}",
        err.message
    );
}
