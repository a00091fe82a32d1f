//! Micro-benchmarks of the per-connection CPU work outside TLS: SNI route lookup, PROXY
//! header encoding, MQTT CONNECT framing. Measurements, not tests (STYLE habit 12): compare
//! medians of one `cargo bench` run; record notable results in `perf/`.
//!
//! CONNECT parsing: `ringress::mqtt::parse_connect` (the proxy's, with its size limits), next
//! to the load generator's own CONNECT encode and scan (`ringress::mqtt::frames`).

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use ringress::mqtt::frames::{self as mqtt, Scanner, Version};
use ringress::proxy_protocol::{self, Addresses, ClientCert, SendInfo, TlsInfo, V2Options};
use ringress::route::{RouteTable, normalise_server_name};

fn route_table(exact: usize, wildcards: usize) -> RouteTable {
    let mut table = RouteTable::new();
    for i in 0..exact {
        let name = normalise_server_name(&format!("device-{i}.broker.example.com")).unwrap();
        table.insert(&name, i).unwrap();
    }
    for i in 0..wildcards {
        let name = normalise_server_name(&format!("*.tenant-{i}.example.com")).unwrap();
        table.insert(&name, exact + i).unwrap();
    }
    table
}

fn route_lookup(c: &mut Criterion) {
    let table = route_table(1000, 100);
    let mut g = c.benchmark_group("route_lookup");
    for (label, sni) in [
        ("exact", "device-517.broker.example.com"),
        ("exact_upper_dot", "DEVICE-517.Broker.Example.COM."),
        ("wildcard", "sensor-9.tenant-42.example.com"),
        ("miss", "nobody.nowhere.example.org"),
    ] {
        g.bench_function(label, |b| b.iter(|| table.lookup(black_box(sni))));
    }
    g.finish();
}

fn proxy_encode(c: &mut Criterion) {
    let client: SocketAddr = "203.0.113.7:51234".parse().unwrap();
    let local: SocketAddr = "10.0.0.1:8883".parse().unwrap();
    let addresses = Addresses::from_pair(client, local);
    let mut out = [0u8; 1024];
    let mut g = c.benchmark_group("proxy_header_encode");
    g.bench_function("v1", |b| {
        b.iter(|| proxy_protocol::encode_v1(black_box(&mut out), black_box(&addresses)))
    });
    let plain = SendInfo {
        addresses,
        ..SendInfo::default()
    };
    g.bench_function("v2", |b| {
        b.iter(|| {
            proxy_protocol::encode_v2(
                black_box(&mut out),
                &V2Options::SEND_PROXY_V2,
                black_box(&plain),
            )
        })
    });
    let ssl_cn = SendInfo {
        addresses,
        authority: Some(b"test1.example.com"),
        tls: Some(TlsInfo {
            version: Some("TLSv1.3"),
            cipher: Some("TLS_AES_256_GCM_SHA384"),
            cert_sig_alg: None,
            cert_key_alg: None,
            client_cert: Some(ClientCert {
                verify_result: 0,
                on_this_connection: true,
                common_name: Some(b"device1"),
            }),
        }),
        ..SendInfo::default()
    };
    let options = V2Options::SEND_PROXY_V2_SSL_CN
        .with_option("ssl-cipher")
        .and_then(|o| o.with_option("authority"))
        .unwrap();
    g.bench_function("v2_ssl_cn_cipher_authority", |b| {
        b.iter(|| proxy_protocol::encode_v2(black_box(&mut out), &options, black_box(&ssl_cn)))
    });
    g.finish();
}

fn connect_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("mqtt_connect");
    for version in [Version::V311, Version::V5] {
        let mut packet = Vec::new();
        mqtt::encode_connect(&mut packet, version, b"dev-123456", 60);
        let name = format!("{version:?}");
        let limits = ringress::mqtt::ConnectLimits::default();
        g.bench_function(format!("parse_connect_{name}"), |b| {
            b.iter(|| ringress::mqtt::parse_connect(black_box(&packet), &limits).is_ok())
        });
        g.bench_function(format!("loadgen_scan_and_client_id_{name}"), |b| {
            b.iter(|| {
                let (_, frame) = Scanner::default().next(black_box(&packet), 4096).unwrap();
                match frame {
                    Some(mqtt::Frame::Whole { body, .. }) => {
                        (mqtt::connect_version(body), mqtt::connect_client_id(body))
                    }
                    _ => unreachable!(),
                }
            })
        });
        let mut out = Vec::with_capacity(64);
        g.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                out.clear();
                mqtt::encode_connect(&mut out, version, black_box(b"dev-123456"), 60);
                out.len()
            })
        });
    }
    g.finish();
}

/// The counters' cost where events happen: a payload bump (per recv) and a close counted by
/// termination keyword when 20 keys are already in the worker's set (per connection).
fn metrics_events(c: &mut Criterion) {
    use ringress::config::{Config, ConfigSource};
    use ringress::conn::{Side, Termination};
    use ringress::worker::Shared;

    let toml = "[runtime]\nworkers = 2\n[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:0\"\nbackend = \"b\"\n[[backend]]\nname = \"b\"\nservers = [\"127.0.0.1:1883\"]\n";
    let config = Config::from_toml(toml, ConfigSource::Embedded).expect("bench config");
    let shared = Shared::new(config, Err("bench".into()));
    let w = shared.metrics.worker(0);
    use ringress::tls::TlsErrorKind as K;
    const KINDS: [K; 20] = [
        K::BadRecord,
        K::UnexpectedMessage,
        K::DecryptError,
        K::UnsupportedVersion,
        K::NoCommonCipher,
        K::NoCommonGroup,
        K::NoCommonSignatureScheme,
        K::NoCommonAlpn,
        K::NoServerCert,
        K::NoClientCert,
        K::BadClientCert,
        K::PeerMisbehaved,
        K::PeerIncompatible,
        K::TooManyKeyUpdates,
        K::TooManyWarningAlerts,
        K::TooManyEmptyRecords,
        K::RenegotiationRefused,
        K::TooMuchHeld,
        K::HandshakeFailed,
        K::NotTls,
    ];
    for k in KINDS {
        w.closed(0, Termination::Tls(k));
    }
    let mut g = c.benchmark_group("metrics");
    g.bench_function("payload", |b| {
        b.iter(|| w.payload(black_box(0), Side::Client, black_box(1500)))
    });
    g.bench_function("closed_20th_keyword", |b| {
        b.iter(|| w.closed(black_box(0), Termination::Tls(black_box(K::NotTls))))
    });
    g.bench_function("scrape_2_workers", |b| {
        b.iter(|| ringress::metrics::render(black_box(&shared)))
    });
    g.finish();
}

criterion_group!(
    benches,
    route_lookup,
    proxy_encode,
    connect_parse,
    metrics_events
);
criterion_main!(benches);
