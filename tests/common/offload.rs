//! A terminate listener with one route to a backend, for the tests about kernel TLS offload
//! (tests/tls_offload.rs) and what the metrics say about it (tests/metrics.rs).

use std::net::SocketAddr;

use super::TempDir;
use super::pki::Pki;

/// Whether this kernel accepts the `tls` ULP, judged the way the kernel documents it.
pub fn kernel_has_ktls() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp")
        .is_ok_and(|ulps| ulps.split_whitespace().any(|u| u == "tls"))
}

/// One worker; listener `mqtts` terminating TLS with `tls_offload = offload`, its default
/// route `r1` (certificate `pki/test1.*`, SNI `test1.example.com`) to `echo`.
pub fn terminate_config(offload: &str, echo: SocketAddr) -> String {
    format!(
        r#"[runtime]
workers = 1

[[listener]]
name = "mqtts"
bind = "127.0.0.1:0"
tls = "terminate"
tls_offload = "{offload}"
default_route = "r1"

[[route]]
name = "r1"
listener = "mqtts"
sni = ["test1.example.com"]
cert = "pki/test1.crt"
key = "pki/test1.key"
backend = "echo"

[[backend]]
name = "echo"
servers = ["{echo}"]
"#
    )
}

/// A temp dir holding `pki` under `pki/`, where [`terminate_config`] looks.
pub fn dir_with_pki(pki: &Pki) -> TempDir {
    let dir = TempDir::new("offload");
    pki.write_to(&dir.path().join("pki"));
    dir
}
