//! What ringress makes of the TLS files a config names and of what is in them, through the
//! real binary: a client certificate's CN in the access log (escaped, so it cannot forge a
//! line), CRLs past their nextUpdate (`client_crl_expiry`), and private-key permissions,
//! reported alike by `check` and `run`.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::backends::EchoServer;
use common::pki::{FORGING_CN, Pki};
use common::tls_client::TlsClient;
use common::{Proxy, TempDir, WAIT, run_to_exit, text};
use serde_json::Value;

/// One mTLS listener per `(name, extra listener lines)`, each with a default route to `echo`
/// served with `test1`'s certificate; client certificates from the client CA.
fn mtls_config(echo: SocketAddr, listeners: &[(&str, &str)]) -> String {
    let mut toml = String::from("[runtime]\nworkers = 1\n\n");
    for (name, extra) in listeners {
        toml.push_str(&format!(
            "[[listener]]\nname = \"{name}\"\nbind = \"127.0.0.1:0\"\ntls = \"terminate\"\n\
             client_ca = \"pki/client-ca.crt\"\ndefault_route = \"{name}-r\"\n{extra}\n\n\
             [[route]]\nname = \"{name}-r\"\nlistener = \"{name}\"\nsni = [\"test1.example.com\"]\n\
             cert = \"pki/test1-chain.crt\"\nkey = \"pki/test1.key\"\nbackend = \"echo\"\n\n"
        ));
    }
    toml.push_str(&format!(
        "[[backend]]\nname = \"echo\"\nservers = [\"{echo}\"]\n"
    ));
    toml
}

/// A temp dir holding the test PKI (as ringress wants it) under `pki/` and `toml` as
/// `ringress.toml`; returns the config's path too.
fn dir_with(pki: &Pki, toml: &str) -> (TempDir, String) {
    let dir = TempDir::new("tls-files");
    pki.write_to(&dir.path().join("pki"));
    let path = dir.write("ringress.toml", toml);
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The JSON log lines of `ringress check --log-format json`, and its exit code.
fn check_json(path: &str) -> (Option<i32>, Vec<Value>, String) {
    let out = run_to_exit(&["check", "-c", path, "--log-format", "json"], WAIT);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    (out.status.code(), lines, stderr)
}

/// The value of field `key` in a text-format log line (`key=value`, up to the next space).
fn text_field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    let rest = &line[start..];
    Some(rest.split(' ').next().unwrap_or(rest))
}

/// Issue 11, finding 6: the CN was written unescaped in text access-log lines, so a
/// certificate from the trusted client CA with spaces, `=`, quotes and a newline in its CN
/// added fields to the real line and wrote a whole forged one.
#[test]
fn client_cn_with_a_newline_stays_in_one_field_of_one_text_line() {
    let pki = Pki::generate();
    let echo = EchoServer::start();
    let (dir, path) = dir_with(&pki, &mtls_config(echo.addr, &[("mtls", "")]));
    let proxy = Proxy::spawn_args(&["run", "-c", &path, "--log-format", "text"], dir);
    let listening = proxy.wait_for_raw("the `listening` line", WAIT, |l| {
        l.contains(" listening ") && l.contains(" listener=mtls ")
    });
    proxy.wait_for_raw("the `ready` line", WAIT, |l| l.contains(": ready "));
    let addr: SocketAddr = text_field(&listening, "addr").unwrap().parse().unwrap();

    let mut conn = TlsClient::new("test1.example.com", &[&pki.ca])
        .with_cert(&pki.device_forging_cn)
        .connect(addr)
        .unwrap_or_else(|e| panic!("the client with the forging CN: {e}"));
    assert_eq!(conn.echo(b"hello").unwrap(), b"hello");
    let local = conn.local;
    conn.close();

    let line = proxy.wait_for_raw("the access line", WAIT, |l| {
        l.contains(" access: close ") && l.contains(&format!(" client={local} "))
    });
    let lines = proxy.raw_lines();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(" access: close "))
            .count(),
        1,
        "one connection, one access line:\n{}",
        lines.join("\n")
    );
    assert_eq!(line.matches(" termination=").count(), 1, "{line}");
    assert_eq!(line.matches(" client=").count(), 1, "{line}");
    assert_eq!(
        text_field(&line, "termination"),
        Some("client_closed"),
        "{line}"
    );
    let cn = text_field(&line, "client_cn").unwrap_or_else(|| panic!("no client_cn: {line}"));
    assert!(
        !cn.contains(['"', '=', '\n', ' ']),
        "client_cn not escaped: {cn:?}"
    );
    assert!(
        cn.starts_with("dev\\x201\\x22\\x20\\x5ctermination\\x3d"),
        "{cn:?}"
    );
    assert!(cn.contains("\\x0a2026-01-01T00:00:00.000000Z"), "{cn:?}");
    assert!(
        line.contains(&format!(" client_cn={cn} client_verify=ok ")),
        "the CN is not one field followed by client_verify: {line}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with(FORGING_CN.split('\n').nth(1).unwrap())),
        "a forged line was written:\n{}",
        lines.join("\n")
    );
}

/// The WARN line about an expired CRL in `lines`, for the listener whose CRL setting says
/// `expiry`.
fn expired_crl_warnings(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|v| v["level"] == "WARN" && text(v, "crl").ends_with("client-expired.crl"))
        .cloned()
        .collect()
}

/// Connects with `cert` to `addr`; `Ok` if bytes were relayed, else the termination keyword.
fn mtls_outcome(proxy: &Proxy, pki: &Pki, addr: SocketAddr, cert: &common::pki::CertKey) -> String {
    let mut conn = TlsClient::new("test1.example.com", &[&pki.ca])
        .with_cert(cert)
        .connect(addr)
        .unwrap_or_else(|e| panic!("TLS client: {e}"));
    let local = conn.local;
    if conn.echo(b"ping").is_ok_and(|r| r == b"ping") {
        conn.close();
    }
    text(&proxy.access_log_for(local), "termination")
}

/// Issue 11, finding 11: a CRL past its nextUpdate was used silently. Now load warns (in
/// `run` and `check` alike), `client_crl_expiry = "enforce"` (the default) refuses every
/// certificate of that CA, and `"ignore"` keeps using the stale list.
#[test]
fn crl_past_next_update_warns_and_is_enforced_unless_ignored() {
    let pki = Pki::generate();
    let echo = EchoServer::start();
    let crl = "client_crl = [\"pki/client-expired.crl\"]";
    let listeners = [
        ("enforce", crl.to_owned()),
        ("ignore", format!("{crl}\nclient_crl_expiry = \"ignore\"")),
    ];
    let listeners: Vec<(&str, &str)> = listeners.iter().map(|(n, e)| (*n, e.as_str())).collect();
    let (dir, path) = dir_with(&pki, &mtls_config(echo.addr, &listeners));

    let (code, check_lines, stderr) = check_json(&path);
    assert_eq!(code, Some(0), "check refused the config:\n{stderr}");
    let from_check = expired_crl_warnings(&check_lines);
    assert_eq!(from_check.len(), 2, "one warning per route:\n{stderr}");

    let proxy = Proxy::spawn_args(&["run", "-c", &path, "--log-format", "json"], dir);
    proxy.wait_ready();
    let from_run = expired_crl_warnings(&proxy.json_lines());
    let same =
        |v: &Value| ["message", "crl", "next_update", "client_crl_expiry"].map(|k| v[k].clone());
    assert_eq!(
        from_run.iter().map(same).collect::<Vec<_>>(),
        from_check.iter().map(same).collect::<Vec<_>>(),
        "run and check warn differently"
    );
    for (v, policy) in from_run.iter().zip(["enforce", "ignore"]) {
        assert_eq!(text(v, "client_crl_expiry"), policy, "{v}");
        assert_eq!(text(v, "next_update"), "Jan  1 00:00:00 2021 +00:00", "{v}");
    }

    let enforce = proxy.listen_addr("enforce");
    let ignore = proxy.listen_addr("ignore");
    assert_eq!(
        mtls_outcome(&proxy, &pki, enforce, &pki.device1),
        "tls_bad_client_cert",
        "enforce: a certificate checked against an expired CRL was let in"
    );
    assert_eq!(
        mtls_outcome(&proxy, &pki, ignore, &pki.device1),
        "client_closed",
        "ignore: the expired CRL refused a good certificate"
    );
    assert_eq!(
        mtls_outcome(&proxy, &pki, ignore, &pki.device1_revoked),
        "tls_bad_client_cert",
        "ignore: the stale CRL's revocations must still apply"
    );
}

/// Issue 11, finding 5: private keys readable by other users were loaded without a word.
/// Now a key others may access is refused, one its group may access is loaded with a
/// warning, by `check` and `run` alike.
#[test]
fn private_key_permissions_are_checked_alike_by_check_and_run() {
    let pki = Pki::generate();
    let echo = EchoServer::start();
    let toml = mtls_config(echo.addr, &[("mtls", "")]);
    let key_line = toml.lines().position(|l| l.starts_with("key = ")).unwrap() + 1;

    let (dir, path) = dir_with(&pki, &toml);
    chmod(&dir.path().join("pki/test1.key"), 0o644);
    let (code, _, check_err) = check_json(&path);
    assert_eq!(
        code,
        Some(1),
        "a world-readable key was accepted:\n{check_err}"
    );
    let first = check_err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or("");
    assert!(
        first.starts_with(&format!("error: {path}:{key_line}: route \"mtls-r\".key: ")),
        "{check_err}"
    );
    assert!(first.contains("mode 0644"), "{first}");
    let out = run_to_exit(&["run", "-c", &path, "--log-format", "json"], WAIT);
    let run_err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{run_err}");
    let run_first = run_err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or("");
    assert_eq!(run_first, first, "run and check refuse differently");

    chmod(&dir.path().join("pki/test1.key"), 0o640);
    let (code, lines, check_err) = check_json(&path);
    assert_eq!(
        code,
        Some(0),
        "a group-readable key was refused:\n{check_err}"
    );
    let warned = |lines: &[Value]| -> Vec<Value> {
        lines
            .iter()
            .filter(|v| v["level"] == "WARN" && text(v, "key").ends_with("test1.key"))
            .cloned()
            .collect()
    };
    let from_check = warned(&lines);
    assert_eq!(from_check.len(), 1, "{check_err}");
    assert_eq!(text(&from_check[0], "mode"), "0640", "{}", from_check[0]);
    let proxy = Proxy::spawn_args(&["run", "-c", &path, "--log-format", "json"], dir);
    proxy.wait_ready();
    let from_run = warned(&proxy.json_lines());
    assert_eq!(from_run.len(), 1, "{}", proxy.stderr_tail(20));
    assert_eq!(from_run[0]["message"], from_check[0]["message"]);
}
