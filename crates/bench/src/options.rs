//! Command-line options of `ringress-load`, parsed once into [`Plan`] (sources expanded,
//! rates resolved, payload sizes checked) before any socket is opened.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};

use super::tls::ClientTls;
use ringress_core::mqtt::frames::Version;

/// Bytes at the start of a payload used for the latency stamp: 8 magic + 8 timestamp.
pub const STAMP_BYTES: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MqttVersion {
    #[value(name = "3.1.1", alias = "3", alias = "4")]
    V311,
    #[value(name = "5")]
    V5,
}

/// MQTT load generator for ringress benchmarks: opens connections (TCP or TLS), sends
/// CONNECT, then publishes, idles, subscribes or churns; prints a JSON summary on stdout.
#[derive(Parser, Debug, Clone)]
#[command(name = "ringress-load", version)]
pub struct Options {
    /// Address to connect to, `ip:port`.
    #[arg(short, long)]
    pub target: SocketAddr,
    /// Speak TLS (rustls client).
    #[arg(long)]
    pub tls: bool,
    /// Server name to send (SNI and certificate check); default: none (connect by IP).
    #[arg(long)]
    pub sni: Option<String>,
    /// PEM file of the CA that signed the server's certificate.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM chain) for mutual TLS.
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Restrict to one TLS 1.3 suite: aes256, aes128, chacha20 (key exchange is always X25519).
    #[arg(long)]
    pub cipher: Option<String>,
    /// Accept any server certificate without checking it or its signature (benchmarks only).
    #[arg(long)]
    pub insecure: bool,
    /// MQTT version.
    #[arg(long, value_enum, default_value = "3.1.1")]
    pub mqtt: MqttVersion,
    /// Connections to open (in --churn mode: connections kept in flight at once).
    #[arg(short = 'n', long, default_value_t = 1)]
    pub connections: usize,
    /// New connections per second while opening (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub connect_rate: f64,
    /// Source addresses, comma separated: 127.0.0.2,127.0.0.3 (bound before connect).
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<Ipv4Addr>,
    /// Source address range, inclusive: 127.0.0.2-127.0.0.9.
    #[arg(long)]
    pub sources: Option<String>,
    /// Client identifier; `{n}` is replaced by the connection number.
    #[arg(long, default_value = "dev-{n}")]
    pub client_id: String,
    /// Topic to publish to; `{n}` is replaced by the connection number.
    #[arg(long, default_value = "bench/{n}")]
    pub topic: String,
    /// MQTT keepalive in seconds (PINGREQ every half of it when idle; 0: none).
    #[arg(long, default_value_t = 60)]
    pub keepalive: u16,
    /// QoS of published messages (0 or 1).
    #[arg(long, default_value_t = 0)]
    pub qos: u8,
    /// Payload bytes per message (≥ 16 to carry the latency stamp).
    #[arg(short, long, default_value_t = 64)]
    pub size: usize,
    /// Messages per second per connection (default: as fast as possible).
    #[arg(long, conflicts_with = "total_rate")]
    pub rate: Option<f64>,
    /// Messages per second over all connections.
    #[arg(long)]
    pub total_rate: Option<f64>,
    /// Messages per write (one write of N PUBLISH packets → one TLS record while < 16 KiB).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// TLS records per write: K records of --batch messages each go to the socket in one
    /// write(2), as from a client with a backlog in its socket buffer.
    #[arg(long, default_value_t = 1)]
    pub records_per_write: usize,
    /// QoS 1 messages in flight per connection before waiting for PUBACKs.
    #[arg(long, default_value_t = 64)]
    pub inflight: u32,
    /// Publish (or hold idle connections) for this long after all connections are open.
    #[arg(short, long, value_parser = parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Open the connections, then hold them idle (no PUBLISH) for --duration.
    #[arg(long)]
    pub idle: bool,
    /// Subscribe to this topic filter and measure latency of what arrives (no PUBLISH).
    #[arg(long)]
    pub subscribe: Option<String>,
    /// Handshake storm: each slot connects, handshakes, (CONNECT/CONNACK,) closes, repeats.
    #[arg(long)]
    pub churn: bool,
    /// With --churn: close right after the TLS handshake, without MQTT.
    #[arg(long)]
    pub no_mqtt: bool,
    /// With --churn: reconnections per second over all slots (default: as fast as possible).
    /// Each slot then holds its connection open until its next cycle starts, so
    /// `-n 50 --churn-rate 50` keeps ~50 connections up, each replaced once a second.
    #[arg(long, requires = "churn")]
    pub churn_rate: Option<f64>,
    /// Worker threads (default: CPUs this process may run on).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Time allowed for connect + TLS + CONNACK of one connection.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub connect_timeout: Duration,
    /// Write this file (empty) when the measured phase starts (all connections open).
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Live progress line on stderr: auto (when stderr is a TTY), always, never.
    #[arg(long, default_value = "auto")]
    pub progress: String,
}

/// `"10s"`, `"500ms"`, `"2m"`, or plain seconds (`"1.5"`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let v: f64 = num.parse().map_err(|_| format!("bad duration {s:?}"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("bad unit in {s:?} (ms, s, m, h)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("bad duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What each connection does after CONNACK.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Publish,
    Idle,
    Subscribe(String),
    Churn { mqtt: bool },
}

/// Options resolved for the run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub opts: Options,
    pub mode: Mode,
    pub version: Version,
    pub sources: Vec<IpAddr>,
    pub threads: usize,
    /// Time between two writes of one connection; `None`: as fast as possible.
    pub write_interval: Option<Duration>,
    /// With --churn-rate: time between two cycle starts of one churn slot.
    pub churn_interval: Option<Duration>,
    pub tls: Option<ClientTls>,
}

fn expand_range(spec: &str) -> Result<Vec<Ipv4Addr>> {
    let (a, b) = spec
        .split_once('-')
        .context("--sources: expected FIRST-LAST, like 127.0.0.2-127.0.0.9")?;
    let (a, b): (Ipv4Addr, Ipv4Addr) = (a.trim().parse()?, b.trim().parse()?);
    let (a, b) = (u32::from(a), u32::from(b));
    if b < a || b - a > 4096 {
        bail!("--sources {spec}: empty or more than 4096 addresses");
    }
    Ok((a..=b).map(Ipv4Addr::from).collect())
}

impl Options {
    pub fn plan(self) -> Result<Plan> {
        let mode = match (self.idle, &self.subscribe, self.churn) {
            (false, None, false) => Mode::Publish,
            (true, None, false) => Mode::Idle,
            (false, Some(t), false) => Mode::Subscribe(t.clone()),
            (false, None, true) => Mode::Churn {
                mqtt: !self.no_mqtt,
            },
            _ => bail!("--idle, --subscribe and --churn exclude each other"),
        };
        if self.qos > 1 {
            bail!("--qos: 0 or 1");
        }
        if self.connections == 0 || self.batch == 0 || self.records_per_write == 0 {
            bail!("--connections, --batch and --records-per-write must be at least 1");
        }
        let mut sources: Vec<IpAddr> = self.source.iter().map(|&a| a.into()).collect();
        if let Some(spec) = &self.sources {
            sources.extend(expand_range(spec)?.into_iter().map(IpAddr::from));
        }
        let threads = self
            .threads
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(1)
            .clamp(1, 256);
        let per_conn = match (self.rate, self.total_rate) {
            (Some(r), _) => Some(r),
            (None, Some(t)) => Some(t / self.connections as f64),
            (None, None) => None,
        };
        let write_interval = match per_conn {
            Some(r) if r > 0.0 => Some(Duration::from_secs_f64(
                (self.batch * self.records_per_write) as f64 / r,
            )),
            Some(_) => bail!("--rate/--total-rate must be positive"),
            None => None,
        };
        let churn_interval = match self.churn_rate {
            Some(r) if r > 0.0 && r.is_finite() => {
                Some(Duration::from_secs_f64(self.connections as f64 / r))
            }
            Some(_) => bail!("--churn-rate must be positive"),
            None => None,
        };
        let tls = self.tls.then(|| ClientTls {
            ca_file: self.ca.clone(),
            cert_file: self.cert.clone(),
            key_file: self.key.clone(),
            cipher: self.cipher.clone(),
            insecure: self.insecure,
        });
        let version = match self.mqtt {
            MqttVersion::V311 => Version::V311,
            MqttVersion::V5 => Version::V5,
        };
        Ok(Plan {
            opts: self,
            mode,
            version,
            sources,
            threads,
            write_interval,
            churn_interval,
            tls,
        })
    }
}

#[cfg(test)]
mod tests;
