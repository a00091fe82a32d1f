use std::io::Write;
use std::sync::{Arc, Mutex};

use super::{CloseRecord, Escaped, log_close};
use crate::conn::Termination;
use crate::tls::{ClientCert, TlsInfo};

fn escaped(s: &str) -> String {
    Escaped(s).to_string()
}

#[test]
fn client_ids_are_escaped_for_any_log_format() {
    assert_eq!(escaped("sensor-42_a.b/c:d"), "sensor-42_a.b/c:d");
    assert_eq!(escaped(""), "");
    assert_eq!(escaped("-"), "\\x2d");
    assert_eq!(escaped("--"), "--");
    // Would fake a field, end the line, or quote in a text line.
    assert_eq!(escaped("a termination=ok"), "a\\x20termination\\x3dok");
    assert_eq!(escaped("x\ny\r"), "x\\x0ay\\x0d");
    assert_eq!(escaped("q\"b\\"), "q\\x22b\\x5c");
    assert_eq!(escaped("\u{1b}[31m"), "\\x1b[31m");
    assert_eq!(escaped("\u{7f}"), "\\x7f");
    // Non-ASCII: bidi override, zero-width space, line separator, and plain letters.
    assert_eq!(escaped("\u{202e}"), "\\u{202e}");
    assert_eq!(escaped("\u{200b}\u{2028}"), "\\u{200b}\\u{2028}");
    assert_eq!(escaped("gerät"), "ger\\u{00e4}t");
    assert_eq!(escaped("\u{1f600}"), "\\u{1f600}");
}

/// What `log_close` writes, captured from a subscriber set up as `main` sets it up.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn rendered(record: &CloseRecord<'_>, json: bool) -> String {
    let out = Captured::default();
    let writer = out.clone();
    let builder = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone());
    if json {
        let subscriber = builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || log_close(record));
    } else {
        tracing::subscriber::with_default(builder.finish(), || log_close(record));
    }
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

/// Issue 11, finding 6: a CN chosen by whoever the client CA issued a certificate to.
const FORGING_CN: &str = "dev 1\" termination=client_closed\n2026-01-01T00:00:00Z  INFO access: close worker=0 client=10.9.9.9:1 bytes_in=0";

fn record_with_cn(tls: &TlsInfo) -> CloseRecord<'_> {
    CloseRecord {
        tls: Some(tls),
        termination: Termination::ServerClosed,
        ..CloseRecord::default()
    }
}

fn tls_with_cn(cn: &str) -> TlsInfo {
    TlsInfo {
        version: "TLSv1.3",
        cipher: "TLS_AES_128_GCM_SHA256",
        cipher_iana: "TLS_AES_128_GCM_SHA256",
        alpn: None,
        sni: Some("devices.example.com".into()),
        client_cert: ClientCert::Verified {
            cn: Some(cn.into()),
        },
        resumed: false,
    }
}

#[test]
fn client_cn_stays_in_one_field_of_one_text_line() {
    let tls = tls_with_cn(FORGING_CN);
    let line = rendered(&record_with_cn(&tls), false);
    assert_eq!(line.matches('\n').count(), 1, "not one line: {line:?}");
    assert_eq!(line.matches("termination=").count(), 1, "{line:?}");
    assert_eq!(line.matches("client=").count(), 1, "{line:?}");
    let value = line
        .split_once(" client_cn=")
        .and_then(|(_, rest)| rest.split_once(' '))
        .map(|(value, _)| value)
        .unwrap_or_else(|| panic!("no client_cn field: {line:?}"));
    assert_eq!(value, Escaped(FORGING_CN).to_string(), "{line:?}");
    assert!(line.contains(" client_verify=ok "), "{line:?}");
}

#[test]
fn client_cn_is_escaped_alike_in_json_lines() {
    let tls = tls_with_cn(FORGING_CN);
    let line = rendered(&record_with_cn(&tls), true);
    assert_eq!(line.matches('\n').count(), 1, "not one line: {line:?}");
    let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(v["client_cn"], Escaped(FORGING_CN).to_string().as_str());
    assert_eq!(v["termination"], "server_closed");
}
