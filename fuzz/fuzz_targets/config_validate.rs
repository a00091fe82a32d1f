//! Fuzzes the configuration file: TOML text → the serde file model → `validate` into a
//! `Config` (`ringress::config::Config::from_toml_in`), which covers durations, CIDRs
//! (`trusted_proxies`), addresses, names, routes and certificate loading. Also
//! `ringress::config::Cidr::parse` directly on short inputs.
//!
//! Property, for every input:
//! 1. `from_toml_in` returns (never panics).
//! 2. An error names the file first and, when it has a line, a line of the text
//!    (1 ..= lines + 1; a missing key may be reported at the end).
//! 3. A valid config's `summary` (what `ringress check` prints) returns; its keep-alive
//!    clamp is ordered (`keepalive_idle_min <= keepalive_idle_max`); every
//!    `trusted_proxies` block prints as text that parses back to the same block.
//! 4. `Cidr::parse(x)` ok means the block prints as text that parses back to itself and
//!    contains the address written in `x`.
//!
//! Hermetic: relative certificate paths resolve in one temporary directory, made once per
//! process and holding certificates for every path the seed corpus names. Inputs that would
//! leave it (an absolute path or `..` in a path key) or ask the resolver (a backend server
//! by host name other than `localhost`) are skipped, so a run reads no other file, waits on
//! no FIFO or `/dev/zero` and sends no DNS query.
#![no_main]

use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CertifiedIssuer, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, SerialNumber, date_time_ymd,
};
use ringress::config::{Cidr, Config, ConfigSource};

/// The file name errors must start with.
const FILE_NAME: &str = "fuzz.toml";

/// Keys whose values are file paths (`[[listener]]` and `[[route]]`).
const PATH_KEYS: [&str; 4] = ["cert", "key", "client_ca", "client_crl"];

/// Server certificate and key paths the seed corpus uses (docs/examples, the embedded
/// default); one leaf for every name below is written at each.
const SERVER_FILES: [(&str, &str); 5] = [
    ("pki/test1-chain.crt", "pki/test1.key"),
    ("pki/test2-chain.crt", "pki/test2.key"),
    ("pki/broker-chain.crt", "pki/broker.key"),
    ("pki/devices-chain.crt", "pki/devices.key"),
    ("default-cert.pem", "default-key.pem"),
];
const SERVER_NAMES: [&str; 6] = [
    "test1.example.com",
    "test2.example.com",
    "*.tenant.example.com",
    "broker.example.com",
    "devices.example.com",
    "localhost",
];
const CA_FILES: [&str; 2] = ["pki/client-ca.crt", "ca.pem"];
const CRL_FILE: &str = "pki/client.crl";

/// Longest input also tried as a CIDR: `ffff:...:ffff/128` is 43 bytes.
const CIDR_MAX_INPUT: usize = 64;

fn pki_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ringress-fuzz-config-{}", std::process::id()));
        write_pki(&dir).unwrap_or_else(|e| panic!("cannot prepare {}: {e}", dir.display()));
        dir
    })
}

fn write_pki(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("pki"))?;
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let key = KeyPair::generate()?;
    let names: Vec<String> = SERVER_NAMES.iter().map(|n| n.to_string()).collect();
    let leaf = CertificateParams::new(names)?.signed_by(&key, &ca)?;
    for (cert_path, key_path) in SERVER_FILES {
        std::fs::write(dir.join(cert_path), leaf.pem())?;
        std::fs::write(dir.join(key_path), key.serialize_pem())?;
    }
    for ca_path in CA_FILES {
        std::fs::write(dir.join(ca_path), ca.pem())?;
    }
    let crl = CertificateRevocationListParams {
        this_update: date_time_ymd(2024, 1, 1),
        next_update: date_time_ymd(2099, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    };
    std::fs::write(dir.join(CRL_FILE), crl.signed_by(&ca)?.pem()?)?;
    Ok(())
}

/// Whether validating `text` stays inside the temporary directory and off the network.
/// Text that is not TOML fails before validation, so it is always safe.
fn is_hermetic(text: &str) -> bool {
    let Ok(doc) = toml::from_str::<toml::Table>(text) else {
        return true;
    };
    doc.iter().all(|(key, value)| value_is_hermetic(key, value))
}

fn value_is_hermetic(key: &str, value: &toml::Value) -> bool {
    match value {
        toml::Value::String(s) if PATH_KEYS.contains(&key) => path_stays_inside(s),
        toml::Value::String(s) if key == "servers" || key == "addr" => needs_no_resolver(s),
        toml::Value::Array(items) => items.iter().all(|v| value_is_hermetic(key, v)),
        // A server table inherits "servers" only through its `addr`, checked above.
        toml::Value::Table(table) => table.iter().all(|(k, v)| value_is_hermetic(k, v)),
        _ => true,
    }
}

fn path_stays_inside(path: &str) -> bool {
    Path::new(path)
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// `backends.rs` calls the resolver for `host:port` that is not a socket address.
fn needs_no_resolver(server: &str) -> bool {
    server.parse::<std::net::SocketAddr>().is_ok()
        || match server.rsplit_once(':') {
            Some((host, port)) => {
                host == "localhost"
                    || host.is_empty()
                    || host.contains(':')
                    || port.parse::<u16>().is_err()
            }
            None => true,
        }
}

fn check_cidr(text: &str) {
    let Ok(cidr) = Cidr::parse(text) else {
        return;
    };
    let printed = cidr.to_string();
    assert_eq!(
        Cidr::parse(&printed),
        Ok(cidr),
        "{text:?} prints as {printed:?}"
    );
    let ip_text = text.split_once('/').map_or(text, |(ip, _)| ip);
    let ip: IpAddr = ip_text.parse().expect("Cidr::parse took it as an address");
    assert!(cidr.contains(ip), "{printed} does not contain {ip}");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() <= CIDR_MAX_INPUT {
        check_cidr(text);
    }
    if !is_hermetic(text) {
        return;
    }
    let source = ConfigSource::File(PathBuf::from(FILE_NAME));
    match Config::from_toml_in(text, source, pki_dir()) {
        Err(e) => {
            assert!(e.message.starts_with(FILE_NAME), "{}", e.message);
            if let Some(line) = e.line {
                let lines = text.lines().count();
                assert!(
                    (1..=lines + 1).contains(&line),
                    "line {line} of {lines}: {}",
                    e.message
                );
            }
        }
        Ok(config) => {
            let _ = config.summary();
            let t = &config.timeouts;
            assert!(t.keepalive_idle_min <= t.keepalive_idle_max, "{t:?}");
            for cidr in config.listeners.iter().flat_map(|l| &l.trusted_proxies) {
                let printed = cidr.to_string();
                assert_eq!(Cidr::parse(&printed), Ok(*cidr), "{printed:?}");
            }
        }
    }
});
