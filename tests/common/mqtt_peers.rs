//! MQTT through ringress with real peers from the sid rootfs: brokers (mosquitto 2.1) and
//! clients (`mosquitto_pub`/`mosquitto_sub`) run in the chroot, ringress on the host; the
//! test PKI is written both into the rootfs (for the peers) and the proxy's dir.

use std::net::SocketAddr;
use std::time::Duration;

use super::examples::Example;
use super::pki::Pki;
use super::sid::{ClientProc, Daemon, Peers};
use super::{Proxy, TempDir, WAIT, is_access_log};

pub struct Bed {
    pub peers: Peers,
    pub pki: Pki,
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Bed {
    /// None: the peers are unavailable (skip; the reason was printed).
    pub fn new(tag: &str) -> Option<Bed> {
        let peers = Peers::new(tag)?;
        let pki = Pki::generate();
        pki.write_for_peers(&peers.host_path("pki"));
        Some(Bed { peers, pki })
    }

    /// A chroot path of a PKI file.
    pub fn pki(&self, file: &str) -> String {
        self.peers.path(&format!("pki/{file}"))
    }

    /// Starts ringress from `ex` with the PKI in its dir.
    pub fn proxy(&self, mut ex: Example) -> Proxy {
        let dir = TempDir::new(&ex.name.replace(".toml", ""));
        ex.materialise_pki(&dir, &self.pki);
        Proxy::start_toml_in(dir, &ex.to_toml())
    }

    /// TLS client options for mosquitto_pub/sub: the server CA, plus a client cert when
    /// `cert` names one (`device1`, `device1-other-ca`, ...).
    pub fn tls_args(&self, cert: Option<&str>) -> Vec<String> {
        let mut v = vec!["--cafile".to_string(), self.pki("ca.crt")];
        if let Some(c) = cert {
            v.extend([
                "--cert".into(),
                self.pki(&format!("{c}.crt")),
                "--key".into(),
                self.pki(&format!("{c}.key")),
            ]);
        }
        v
    }

    /// `mosquitto_sub -C 1` as `id` from `bind`; waits until `broker` sent its SUBACK.
    pub fn subscribe(&self, broker: &Daemon, conn: &Conn, id: &str, topic: &str) -> ClientProc {
        let mut argv: Vec<String> = conn.args(id);
        argv.extend(["-t", topic, "-C", "1", "-W", "30"].map(String::from));
        argv.insert(0, "mosquitto_sub".into());
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut sub = ClientProc::spawn(&self.peers, &argv);
        let marker = format!("Sending SUBACK to {id}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !broker.log().contains(&marker) {
            if std::time::Instant::now() >= deadline {
                let out = sub.finish(Duration::from_secs(1));
                panic!(
                    "{} never sent a SUBACK to {id}\n{argv:?}: {out:?}\n{}",
                    broker.name,
                    broker.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        sub
    }

    /// `mosquitto_pub` to completion: (success, output).
    pub fn publish(&self, conn: &Conn, id: &str, topic: &str, msg: &str) -> (bool, String) {
        let mut argv: Vec<String> = vec!["mosquitto_pub".into()];
        argv.extend(conn.args(id));
        argv.extend(["-t", topic, "-m", msg].map(String::from));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.peers.run_client(&argv)
    }
}

/// How an MQTT client connects: host name, port, source address, TLS options.
#[derive(Clone)]
pub struct Conn {
    pub host: String,
    pub port: u16,
    pub bind: String,
    pub tls: Vec<String>,
}

impl Conn {
    pub fn plain(port: u16, bind: &str) -> Conn {
        Conn {
            host: "127.0.0.1".into(),
            port,
            bind: bind.into(),
            tls: vec![],
        }
    }

    pub fn tls(bed: &Bed, host: &str, port: u16, bind: &str, cert: Option<&str>) -> Conn {
        Conn {
            host: host.into(),
            port,
            bind: bind.into(),
            tls: bed.tls_args(cert),
        }
    }

    fn args(&self, id: &str) -> Vec<String> {
        let mut v: Vec<String> = [
            "-h",
            &self.host,
            "-p",
            &self.port.to_string(),
            "-A",
            &self.bind,
            "-i",
            id,
        ]
        .map(String::from)
        .to_vec();
        v.extend(self.tls.iter().cloned());
        v
    }
}

/// The access-log line of a connection from source IP `ip` (clients bind distinct loopback
/// addresses, so the IP identifies the client).
pub fn access_log_from_ip(proxy: &Proxy, ip: &str) -> serde_json::Value {
    let prefix = format!("{ip}:");
    proxy.wait_for(
        &format!("the access-log line for a client from {ip}"),
        WAIT,
        |v| is_access_log(v) && v["client"].as_str().is_some_and(|c| c.starts_with(&prefix)),
    )
}

/// The broker's "New client connected from …" lines.
pub fn new_clients(broker: &Daemon) -> Vec<String> {
    broker.log_lines("New client connected from")
}
