//! `tls_offload`: kernel TLS when the kernel has it, userspace rustls otherwise, and the
//! access log says which and why. On a kernel without the `tls` module (this project's build
//! machines), `tls_offload = "kernel"` must refuse to start and `auto` must fall back per
//! connection; on one with it, both must offload. (The offload itself is tested in a VM with
//! the module loaded: tests/vm/run.)

mod common;

use std::time::Duration;

use common::backends::EchoServer;
use common::offload::{dir_with_pki, kernel_has_ktls, terminate_config as config};
use common::pki::Pki;
use common::tls_client::{TlsClient, TlsConn};
use common::{Proxy, run_to_exit, text};

/// A proxy with `tls_offload = offload` in front of an echo server, and a TLS client
/// connected through it.
fn connected(offload: &str) -> (EchoServer, Proxy, TlsConn) {
    let pki = Pki::generate();
    let echo = EchoServer::start();
    let dir = dir_with_pki(&pki);
    let proxy = Proxy::start_toml_in(dir, &config(offload, echo.addr));
    let client = TlsClient::new("test1.example.com", &[&pki.ca]);
    let conn = client.connect(proxy.listen_addr("mqtts")).unwrap();
    (echo, proxy, conn)
}

#[test]
fn kernel_offload_refuses_to_start_without_ktls() {
    let pki = Pki::generate();
    let echo = EchoServer::start();
    let dir = dir_with_pki(&pki);
    let path = dir.write("ringress.toml", &config("kernel", echo.addr));
    if kernel_has_ktls() {
        let proxy = Proxy::start_toml_in(dir, &config("kernel", echo.addr));
        drop(proxy);
        return;
    }
    let out = run_to_exit(
        &["run", "-c", path.to_str().unwrap()],
        Duration::from_secs(20),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error_lines: Vec<_> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error_lines.len(), 1, "{stderr}");
    assert!(
        error_lines[0].contains("tls_offload = \"kernel\"")
            && error_lines[0].contains("kernel TLS is unavailable")
            && error_lines[0].contains("mqtts"),
        "{stderr}"
    );
}

#[test]
fn auto_offload_says_per_connection_who_does_the_crypto() {
    let (_echo, proxy, mut conn) = connected("auto");
    assert_eq!(conn.echo(b"who encrypts?").unwrap(), b"who encrypts?");
    let local = conn.local;
    conn.close();
    let log = proxy.access_log_for(local);
    if kernel_has_ktls() {
        assert_eq!(text(&log, "tls_offload"), "kernel", "{log}");
        assert_eq!(text(&log, "offload_fallback"), "-", "{log}");
    } else {
        assert_eq!(text(&log, "tls_offload"), "userspace", "{log}");
        assert_eq!(text(&log, "offload_fallback"), "ktls_unavailable", "{log}");
    }
}

#[test]
fn userspace_offload_is_never_kernel() {
    let (_echo, proxy, mut conn) = connected("userspace");
    assert_eq!(conn.echo(b"in userspace").unwrap(), b"in userspace");
    let local = conn.local;
    conn.close();
    let log = proxy.access_log_for(local);
    assert_eq!(text(&log, "tls_offload"), "userspace", "{log}");
    assert_eq!(text(&log, "offload_fallback"), "-", "{log}");
}

/// Userspace TLS under a bulk stream: reads end mid-record all the time, and the relay then
/// receives behind the incomplete record (`Ring::recv_into`) instead of into a pool buffer.
/// Both directions byte-exact, and the access log counts payload bytes only.
#[test]
fn userspace_tls_carries_a_bulk_stream_byte_exact_both_ways() {
    let (_echo, proxy, mut conn) = connected("userspace");
    let mut total = 0usize;
    for round in 0..24usize {
        // Odd sizes so record boundaries fall differently against reads in every round.
        let len = (1 << 20) + round * 4099;
        let msg: Vec<u8> = (0..len)
            .map(|i| (i * 31 + round * 7 + i / 977) as u8)
            .collect();
        let back = conn.echo(&msg).unwrap();
        assert!(back == msg, "round {round}: echoed bytes differ");
        total += len;
    }
    let local = conn.local;
    conn.close();
    let log = proxy.access_log_for(local);
    assert_eq!(text(&log, "bytes_in"), total.to_string(), "{log}");
    assert_eq!(text(&log, "bytes_out"), total.to_string(), "{log}");
    assert_eq!(text(&log, "termination"), "client_closed", "{log}");
}
