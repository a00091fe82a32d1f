//! Accepted TLS, routing and PROXY configurations: the example from the design brief and
//! every file in `docs/examples/`, loaded with real certificates made in a temporary
//! directory, then exercised with in-memory TLS handshakes. Also the embedded default's
//! certificate generation and reuse.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::test_pki::{TestPki, client_config_trusting, handshake};
use crate::config::{ClientAuth, Config, ProxyProtocol, TlsMode, ensure_default_pki};
use crate::proxy_protocol::V2Options;

/// The example of the design brief, plus the `broker2` backend its second route names.
const BRIEF_EXAMPLE: &str = r#"[[listener]]
name = "mqtts"
bind = "0.0.0.0:8883"
tls = "terminate"                  # "none" | "terminate" | "passthrough"
client_ca = "pki/client-ca.crt"    # enables mutual TLS (PEM bundle)
client_auth = "required"           # "none" | "optional" | "required"  (default: "required" if client_ca set, else "none")
client_crl = ["pki/client.crl"]    # optional CRL files (PEM)
default_route = "test1"            # optional
accept_proxy = false
trusted_proxies = ["10.0.0.0/8"]
min_tls_version = "1.2"            # "1.2" | "1.3", default "1.2"
alpn = ["mqtt"]                    # optional ALPN list offered by the server

[[route]]
name = "test1"
listener = "mqtts"
sni = ["test1.example.com"]
cert = "pki/test1-chain.crt"
key = "pki/test1.key"
backend = "broker1"
# optional per-route overrides: client_ca, client_auth, client_crl

[[route]]
name = "test2"
listener = "mqtts"
sni = ["test2.example.com", "*.tenant.example.com"]
cert = "pki/test2-chain.crt"
key = "pki/test2.key"
backend = "broker2"

[[backend]]
name = "broker1"
servers = ["192.168.1.1:1883"]
connect_timeout = "1s"
proxy_protocol = "v2-ssl-cn"       # "none" | "v1" | "v2" | "v2-ssl" | "v2-ssl-cn"
proxy_v2_options = ["ssl-cipher", "authority"]

[[backend]]
name = "broker2"
servers = ["192.168.1.2:1883"]

[timeouts]
handshake = "5s"                   # new; default 5s: PROXY-in + ClientHello + TLS handshake must finish within it
"#;

/// Writes `text` as `ringress.toml` beside the files it names and loads it the way
/// `ringress check --config` does.
fn load(pki: &TestPki, text: &str) -> Config {
    pki.supply_files(text);
    let path = pki.write("ringress.toml", text);
    Config::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn brief_example_resolves() {
    let pki = TestPki::new("brief");
    let config = load(&pki, BRIEF_EXAMPLE);
    assert_eq!(config.timeouts.handshake, Duration::from_secs(5));

    let l = &config.listeners[0];
    assert_eq!(l.tls, TlsMode::Terminate);
    assert_eq!(l.backend, None);
    assert_eq!(l.default_route, Some(0));
    assert!(!l.accept_proxy);
    assert_eq!(l.trusted_proxies.len(), 1);
    assert!(l.trusted_proxies[0].contains(ip("10.1.2.3")));
    assert_eq!(l.routes.len(), 3);
    assert_eq!(l.routes.lookup("test1.example.com"), Some(0));
    assert_eq!(l.routes.lookup("TEST2.example.com."), Some(1));
    assert_eq!(l.routes.lookup("x.tenant.example.com"), Some(1));
    assert_eq!(l.routes.lookup("a.b.tenant.example.com"), None);

    let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["test1", "test2"]);
    let (r1, r2) = (&config.routes[0], &config.routes[1]);
    assert_eq!((r1.listener, r1.backend), (0, 0));
    assert_eq!((r2.listener, r2.backend), (0, 1));
    assert_eq!(
        r2.server_names,
        ["test2.example.com", "*.tenant.example.com"]
    );
    assert_eq!(r1.client_auth, ClientAuth::Required);
    let tls = r1.tls.as_ref().unwrap();
    assert!(tls.enable_secret_extraction);
    assert_eq!(tls.max_early_data_size, 0);
    assert!(!tls.ignore_client_order);
    assert_eq!(tls.alpn_protocols, vec![b"mqtt".to_vec()]);

    let want = V2Options::SEND_PROXY_V2_SSL_CN
        .with_option("ssl-cipher")
        .and_then(|o| o.with_option("authority"))
        .unwrap();
    assert_eq!(config.backends[0].proxy_protocol, ProxyProtocol::V2(want));
    assert_eq!(config.backends[1].proxy_protocol, ProxyProtocol::None);

    let summary = config.summary();
    assert!(
        summary.contains(
            "listener mqtts: bind 0.0.0.0:8883, tls terminate, 3 routes, default_route test1,"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("route test2: listener mqtts, sni test2.example.com *.tenant.example.com, backend broker2, client_auth required\n"),
        "{summary}"
    );
    assert!(
        summary.contains("proxy_protocol v2 [ssl cert-cn ssl-cipher authority]"),
        "{summary}"
    );
}

#[test]
fn brief_example_handshakes_with_mutual_tls() {
    let pki = TestPki::new("brief-mtls");
    let config = load(&pki, BRIEF_EXAMPLE);
    let server = config.routes[0].tls.clone().unwrap();

    let mut client = (*pki.client_config(Some(pki.client_identity("device-1")))).clone();
    client.alpn_protocols = vec![b"mqtt".to_vec()];
    let (server_conn, _) = handshake(server.clone(), client.into(), "test1.example.com").unwrap();
    assert_eq!(server_conn.server_name(), Some("test1.example.com"));
    assert_eq!(server_conn.alpn_protocol(), Some(&b"mqtt"[..]));
    assert_eq!(server_conn.peer_certificates().map(<[_]>::len), Some(1));

    // Required: no certificate, no session.
    let err = handshake(server.clone(), pki.client_config(None), "test1.example.com").unwrap_err();
    assert!(
        matches!(err, rustls::Error::NoCertificatesPresented),
        "{err:?}"
    );
    // A certificate from another CA is refused too.
    let stranger = TestPki::new("stranger");
    let client = client_config_trusting(
        vec![pki.ca_der()],
        Some(stranger.client_identity("intruder")),
    );
    assert!(handshake(server, client, "test1.example.com").is_err());
}

/// Issue 11, finding 11: a CRL past its nextUpdate was used silently. By default
/// (`client_crl_expiry = "enforce"`) it now refuses the certificates it covers; `"ignore"`
/// keeps using it, on the listener or as a route override.
#[test]
fn expired_crl_is_enforced_unless_ignored() {
    let pki = TestPki::new("expired-crl");
    let connect = |text: &str, route: usize| {
        pki.supply_files(text);
        pki.write_expired_crl("pki/client.crl");
        let path = pki.write("ringress.toml", text);
        let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let server = config.routes[route].tls.clone().unwrap();
        let client = pki.client_config(Some(pki.client_identity("device-1")));
        let sni = ["test1.example.com", "test2.example.com"][route];
        handshake(server, client, sni).map(|_| ())
    };
    let err = connect(BRIEF_EXAMPLE, 0).unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::ExpiredRevocationList
                    | rustls::CertificateError::ExpiredRevocationListContext { .. }
            )
        ),
        "{err:?}"
    );
    let ignore = BRIEF_EXAMPLE.replace(
        "client_crl = [\"pki/client.crl\"]    # optional CRL files (PEM)",
        "client_crl = [\"pki/client.crl\"]\nclient_crl_expiry = \"ignore\"",
    );
    connect(&ignore, 0).unwrap();
    // A route override beats the listener's setting, both ways.
    let route_ignores = BRIEF_EXAMPLE.replace(
        "key = \"pki/test2.key\"",
        "key = \"pki/test2.key\"\nclient_crl_expiry = \"ignore\"",
    );
    connect(&route_ignores, 1).unwrap();
    assert!(connect(&route_ignores, 0).is_err());
    let route_enforces = ignore.replace(
        "key = \"pki/test2.key\"",
        "key = \"pki/test2.key\"\nclient_crl_expiry = \"enforce\"",
    );
    assert!(connect(&route_enforces, 1).is_err());
    connect(&route_enforces, 0).unwrap();
}

#[test]
fn optional_client_auth_and_route_overrides() {
    let pki = TestPki::new("optional");
    let text = BRIEF_EXAMPLE
        .replace(
            "client_auth = \"required\"  ",
            "client_auth = \"optional\"  ",
        )
        .replace(
            "# optional per-route overrides: client_ca, client_auth, client_crl",
            "client_auth = \"none\"",
        );
    let config = load(&pki, &text);
    assert_eq!(config.routes[0].client_auth, ClientAuth::None);
    assert_eq!(config.routes[1].client_auth, ClientAuth::Optional);
    for route in &config.routes {
        let server = route.tls.clone().unwrap();
        handshake(server, pki.client_config(None), &route.server_names[0]).unwrap();
    }
    let server = config.routes[1].tls.clone().unwrap();
    let (server_conn, _) = handshake(
        server,
        pki.client_config(Some(pki.client_identity("d"))),
        "test2.example.com",
    )
    .unwrap();
    assert!(server_conn.peer_certificates().is_some());
}

#[test]
fn client_auth_defaults_follow_client_ca() {
    let pki = TestPki::new("defaults");
    let text = BRIEF_EXAMPLE
        .replace("client_auth = \"required\"  ", "")
        .replace("client_crl = [\"pki/client.crl\"]", "");
    let config = load(&pki, &text);
    assert_eq!(config.routes[0].client_auth, ClientAuth::Required);
    let text = text.replace("client_ca = \"pki/client-ca.crt\"", "");
    let config = load(&pki, &text);
    assert_eq!(config.routes[0].client_auth, ClientAuth::None);
    // A route may bring its own CA.
    let text = text.replace(
        "# optional per-route overrides: client_ca, client_auth, client_crl",
        "client_ca = \"pki/route-ca.crt\"",
    );
    let config = load(&pki, &text);
    assert_eq!(config.routes[0].client_auth, ClientAuth::Required);
    assert_eq!(config.routes[1].client_auth, ClientAuth::None);
}

#[test]
fn min_tls_version_13_refuses_tls12_clients() {
    let pki = TestPki::new("tls13");
    let text = BRIEF_EXAMPLE
        .replace("min_tls_version = \"1.2\"", "min_tls_version = \"1.3\"")
        .replace("client_auth = \"required\"", "client_auth = \"none\"");
    let config = load(&pki, &text);
    let server = config.routes[0].tls.clone().unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der()).unwrap();
    let tls12_only = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    assert!(handshake(server.clone(), tls12_only.into(), "test1.example.com").is_err());
    let (server_conn, _) = handshake(server, pki.client_config(None), "test1.example.com").unwrap();
    assert_eq!(
        server_conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[test]
fn proxy_protocol_modes_map_to_v2_options() {
    let pki = TestPki::new("proxy-modes");
    let cases = [
        ("none", "", ProxyProtocol::None),
        ("v1", "", ProxyProtocol::V1),
        ("v2", "", ProxyProtocol::V2(V2Options::SEND_PROXY_V2)),
        (
            "v2-ssl",
            "",
            ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL),
        ),
        (
            "v2-ssl-cn",
            "",
            ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL_CN),
        ),
        (
            "v2",
            "\"crc32c\", \"unique-id\"",
            ProxyProtocol::V2(
                V2Options::SEND_PROXY_V2
                    .with_option("crc32c")
                    .and_then(|o| o.with_option("unique-id"))
                    .unwrap(),
            ),
        ),
        (
            "v2",
            "\"cert-cn\"",
            ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL_CN),
        ),
        ("v1", "", ProxyProtocol::V1),
    ];
    for (mode, options, want) in cases {
        let text = format!(
            "[[listener]]\nname = \"m\"\nbind = \"127.0.0.1:0\"\nbackend = \"b\"\n\
             [[backend]]\nname = \"b\"\nservers = [\"127.0.0.1:1883\"]\nproxy_protocol = \"{mode}\"\n\
             proxy_v2_options = [{options}]\n"
        );
        let config = load(&pki, &text);
        assert_eq!(
            config.backends[0].proxy_protocol, want,
            "{mode} [{options}]"
        );
    }
}

#[test]
fn passthrough_routes_carry_no_tls() {
    let pki = TestPki::new("passthrough");
    let config = load(
        &pki,
        include_str!("../../../docs/examples/sni-passthrough.toml"),
    );
    let l = &config.listeners[0];
    assert_eq!(l.tls, TlsMode::Passthrough);
    assert_eq!(l.backend, None);
    assert!(config.routes.iter().all(|r| r.tls.is_none()));
    assert!(
        config
            .routes
            .iter()
            .all(|r| r.client_auth == ClientAuth::None)
    );
}

/// Every example in `docs/examples/` loads, with its `pki/` files generated.
#[test]
fn doc_examples_load() {
    let examples: [(&str, &str); 8] = [
        (
            "sni-routing.toml",
            include_str!("../../../docs/examples/sni-routing.toml"),
        ),
        (
            "sni-passthrough.toml",
            include_str!("../../../docs/examples/sni-passthrough.toml"),
        ),
        (
            "haproxy-proxy-v2.toml",
            include_str!("../../../docs/examples/haproxy-proxy-v2.toml"),
        ),
        (
            "haproxy-v2-ssl.toml",
            include_str!("../../../docs/examples/haproxy-v2-ssl.toml"),
        ),
        (
            "haproxy-mtls-v2-ssl-cn.toml",
            include_str!("../../../docs/examples/haproxy-mtls-v2-ssl-cn.toml"),
        ),
        (
            "behind-l4-lb.toml",
            include_str!("../../../docs/examples/behind-l4-lb.toml"),
        ),
        (
            "broker-pool.toml",
            include_str!("../../../docs/examples/broker-pool.toml"),
        ),
        (
            "mqtt-aware.toml",
            include_str!("../../../docs/examples/mqtt-aware.toml"),
        ),
    ];
    let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/examples"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    assert_eq!(on_disk, examples.len(), "a new example needs a line here");
    for (name, text) in examples {
        assert!(text.starts_with('#'), "{name} opens with a comment header");
        assert!(
            text.contains("mosquitto"),
            "{name} shows the mosquitto side"
        );
        let pki = TestPki::new("example");
        pki.supply_files(text);
        let path = pki.write(name, text);
        if let Err(e) = Config::load(&path) {
            panic!("{name}: {e}");
        }
    }
    // Spot checks of what each example is about.
    let pki = TestPki::new("example-checks");
    let mtls = load(
        &pki,
        include_str!("../../../docs/examples/haproxy-mtls-v2-ssl-cn.toml"),
    );
    assert_eq!(mtls.routes[0].client_auth, ClientAuth::Required);
    assert_eq!(
        mtls.backends[0].proxy_protocol,
        ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL_CN)
    );
    let v2ssl = load(
        &pki,
        include_str!("../../../docs/examples/haproxy-v2-ssl.toml"),
    );
    assert_eq!(
        v2ssl.backends[0].proxy_protocol,
        ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL)
    );
    let plain = load(
        &pki,
        include_str!("../../../docs/examples/haproxy-proxy-v2.toml"),
    );
    assert_eq!(plain.listeners[0].tls, TlsMode::None);
    assert_eq!(
        plain.backends[0].proxy_protocol,
        ProxyProtocol::V2(V2Options::SEND_PROXY_V2)
    );
    let lb = load(
        &pki,
        include_str!("../../../docs/examples/behind-l4-lb.toml"),
    );
    assert!(lb.listeners[0].accept_proxy);
    assert!(lb.listeners[0].trusted_proxies[0].contains(ip("::ffff:10.0.3.4")));
    let sni = load(
        &pki,
        include_str!("../../../docs/examples/sni-routing.toml"),
    );
    assert_eq!(sni.listeners[0].routes.len(), 3);
    assert_eq!(sni.routes[1].backend, 1);
}

#[test]
fn default_pki_is_generated_then_reused() {
    let pki = TestPki::new("state");
    let dir = pki.path("state/ringress");
    let first = ensure_default_pki(&dir).unwrap();
    assert!(first.generated);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&first.key).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let cert = std::fs::read(&first.cert).unwrap();

    let second = ensure_default_pki(&dir).unwrap();
    assert!(!second.generated);
    assert_eq!(std::fs::read(&second.cert).unwrap(), cert);

    // A broken file is replaced, all three together.
    std::fs::write(&first.key, "garbage").unwrap();
    let third = ensure_default_pki(&dir).unwrap();
    assert!(third.generated);
    assert_ne!(std::fs::read(&third.cert).unwrap(), cert);
    // A certificate that does not chain to ca.pem is replaced as well.
    let foreign = TestPki::new("foreign");
    foreign.write_server("c.pem", "k.pem", &["localhost"]);
    std::fs::copy(foreign.path("c.pem"), &third.cert).unwrap();
    std::fs::copy(foreign.path("k.pem"), &third.key).unwrap();
    assert!(ensure_default_pki(&dir).unwrap().generated);
}

#[test]
fn default_certificate_verifies_for_localhost_against_ca_pem() {
    let pki = TestPki::new("embedded-handshake");
    let config = Config::embedded_default_in(pki.dir()).unwrap();
    let ca_path = config.embedded_ca_path().unwrap();
    let ca = rustls::pki_types::pem::PemObject::from_pem_file(ca_path).unwrap();
    let client = client_config_trusting(vec![ca], None);
    let server = config.routes[0].tls.clone().unwrap();
    handshake(server.clone(), client.clone(), "localhost").unwrap();
    handshake(server.clone(), client.clone(), "127.0.0.1").unwrap();
    // Other names are refused by the client's host name check.
    assert!(handshake(server, client, "example.com").is_err());
}

/// The TLS example and the embedded default shown in `docs/config.md` are the real ones.
#[test]
fn docs_tls_example_loads_and_embedded_default_is_shown() {
    let docs = include_str!("../../../docs/config.md");
    let start = docs
        .find("A TLS-terminating listener")
        .and_then(|at| docs[at..].find("```toml\n").map(|s| at + s + 8))
        .unwrap();
    let end = start + docs[start..].find("```\n").unwrap();
    let pki = TestPki::new("docs-tls");
    let config = load(&pki, &docs[start..end]);
    assert_eq!(config.routes[1].client_auth, ClientAuth::Optional);
    for line in crate::config::EMBEDDED_DEFAULT.lines() {
        let setting = line.split('#').next().unwrap().trim_end();
        if !setting.is_empty() {
            assert!(docs.contains(setting), "docs miss {setting:?}");
        }
    }
}
