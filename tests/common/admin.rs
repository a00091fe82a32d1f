//! The admin listener seen from outside: raw HTTP requests over a real socket, and a parsed
//! Prometheus text scrape whose samples tests look up by name and labels.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{IO_TIMEOUT, Proxy, WAIT};

impl Proxy {
    /// The admin listener's address, from its `admin listening` line.
    pub fn admin_addr(&self) -> SocketAddr {
        let v = self.wait_for("`admin listening`", WAIT, |v| {
            v["message"] == "admin listening"
        });
        super::text(&v, "addr")
            .parse()
            .unwrap_or_else(|e| panic!("`admin listening` addr {v}: {e}"))
    }
}

/// An HTTP response as bytes arrived: status code, head, body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Sends `request` as is and reads the response to EOF (the server closes after one).
pub fn request(addr: SocketAddr, request: &[u8]) -> Response {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("connect to the admin listener {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(request).expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read the response after {} bytes: {e}", raw.len()));
    let raw = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {raw:?}"));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP/1.1 status line in {head:?}"));
    Response {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// One scrape: sample → value, the sample written as in the exposition
/// (`name{label="value",...}`).
pub struct Scrape {
    pub text: String,
    pub samples: BTreeMap<String, u64>,
}

impl Scrape {
    /// The value of the sample `name{labels}`; 0 when absent (a counter never incremented).
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.samples
            .get(&series(name, labels))
            .copied()
            .unwrap_or(0)
    }

    /// Whether the sample is present at all.
    pub fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.samples.contains_key(&series(name, labels))
    }

    /// Samples of family `name` (any labels).
    pub fn family(&self, name: &str) -> Vec<(&str, u64)> {
        self.samples
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name}{{")))
            .map(|(k, v)| (k.as_str(), *v))
            .collect()
    }
}

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// `GET /metrics`, asserting a 200 in the Prometheus text format, and parses it.
pub fn scrape(addr: SocketAddr) -> Scrape {
    let r = request(addr, b"GET /metrics HTTP/1.1\r\nHost: ringress\r\n\r\n");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.head
            .contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{}",
        r.head
    );
    let mut samples = BTreeMap::new();
    for line in r.body.lines() {
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("sample line without a value: {line:?}"));
        let value = value
            .parse()
            .unwrap_or_else(|e| panic!("sample {line:?}: value not an integer: {e}"));
        assert!(
            samples.insert(series.to_owned(), value).is_none(),
            "sample {series} twice in:\n{}",
            r.body
        );
    }
    Scrape {
        text: r.body,
        samples,
    }
}

/// Scrapes until `sample{labels}` equals `want` (counters are bumped by the workers as
/// events happen; a scrape may come just before), and returns that scrape. Panics with the
/// last value if it does not get there within [`WAIT`] — also when it went past.
pub fn scrape_until(addr: SocketAddr, name: &str, labels: &[(&str, &str)], want: u64) -> Scrape {
    let deadline = Instant::now() + WAIT;
    loop {
        let s = scrape(addr);
        let got = s.get(name, labels);
        if got == want {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{} is {got}, expected {want}; scrape:\n{}",
            series(name, labels),
            s.text
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
