//! The admin listener: `GET /metrics` over HTTP/1.x, served by one blocking thread on the
//! main side, never by a worker ring.
//!
//! One request per connection, one connection at a time: a scraper asks every few seconds,
//! and a request that is slow, too large or not HTTP is answered (400/404/405/431) or cut off
//! after a short deadline, so it can hold the thread only that long. Request parsing is
//! sans-IO ([`parse_request`]) and never panics on any input.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::text::CONTENT_TYPE;
use crate::worker::Shared;

/// The largest request head read. A Prometheus scrape's is about 300 bytes; curl's less.
pub(crate) const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Time a client has to send its whole request head. A scraper sends it in one packet; a
/// client that trickles it holds the only admin thread, so not for long. Well under
/// Prometheus' default 10 s scrape timeout, so a scrape queued behind it still succeeds.
pub(crate) const READ_DEADLINE: Duration = Duration::from_secs(2);
/// Time allowed for each write of the response to a client that stopped reading.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long, and how much, to read after answering before closing (see `linger`).
const LINGER: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 64 * 1024;
/// Pause after a failed accept (out of fds): the thread must not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Binds the admin listener (at start-up, so a port in use is a start-up error).
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Serves `listener` on a thread of its own until the process exits.
pub(crate) fn spawn(listener: TcpListener, shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ringress-admin".into())
        .spawn(move || serve(&listener, &shared))
}

fn serve(listener: &TcpListener, shared: &Shared) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(error) = serve_one(stream, shared) {
                    tracing::debug!(%peer, %error, "admin request failed");
                }
            }
            Err(error) if error.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(error) => {
                tracing::warn!(%error, "admin listener: accept failed; retrying shortly");
                std::thread::sleep(ACCEPT_BACKOFF);
            }
        }
    }
}

fn serve_one(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let response = match read_head(&mut stream)? {
        Some(head) => respond(parse_request(&head), || super::render(shared)),
        // Nothing, or not all of it, before the client closed or the deadline passed.
        None => return Ok(()),
    };
    stream.write_all(&response)?;
    stream.shutdown(Shutdown::Write)?;
    linger(&mut stream);
    Ok(())
}

/// After answering, reads what the client still sends (a body we ignored, the rest of an
/// oversized head) until it closes, briefly: closing with unread bytes would reset the
/// connection, and a reset can destroy the answer before the client reads it.
fn linger(stream: &mut TcpStream) {
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// Reads until the end of the request head, [`MAX_REQUEST_BYTES`] or [`READ_DEADLINE`].
/// `None` when the client closed or ran out of time first; a head over the limit is
/// returned as it is, for [`parse_request`] to refuse.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + READ_DEADLINE;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if head_end(&head).is_some() || head.len() > MAX_REQUEST_BYTES {
            return Ok(Some(head));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(None),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Where the head ends (after the blank line), if it has.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a request asked for, as far as this server cares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// `GET /metrics` (`head`: a HEAD request, headers only).
    Metrics { head: bool },
    /// Another path.
    NotFound,
    /// `/metrics` with a method other than GET or HEAD.
    MethodNotAllowed,
    /// Not an HTTP/1.x request line.
    Bad,
    /// The head is over [`MAX_REQUEST_BYTES`].
    TooLarge,
}

/// Classifies a request head. Headers are not looked at: none changes the answer.
pub(crate) fn parse_request(head: &[u8]) -> Request {
    let end = head_end(head);
    if end.is_none_or(|end| end > MAX_REQUEST_BYTES) {
        return if head.len() > MAX_REQUEST_BYTES {
            Request::TooLarge
        } else {
            Request::Bad
        };
    }
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Request::Bad;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Bad;
    };
    let valid_method = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !valid_method || !matches!(version, "HTTP/1.0" | "HTTP/1.1") || !target.starts_with('/') {
        return Request::Bad;
    }
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    match (path, method) {
        ("/metrics", "GET") => Request::Metrics { head: false },
        ("/metrics", "HEAD") => Request::Metrics { head: true },
        ("/metrics", _) => Request::MethodNotAllowed,
        _ => Request::NotFound,
    }
}

/// The whole response; `metrics` renders the body when one is asked for.
fn respond(request: Request, metrics: impl FnOnce() -> String) -> Vec<u8> {
    let (status, extra, content_type, body, head) = match request {
        Request::Metrics { head } => ("200 OK", "", CONTENT_TYPE, metrics(), head),
        Request::NotFound => (
            "404 Not Found",
            "",
            "text/plain; charset=utf-8",
            "not found: metrics are at /metrics\n".to_owned(),
            false,
        ),
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "text/plain; charset=utf-8",
            "method not allowed: use GET\n".to_owned(),
            false,
        ),
        Request::Bad => (
            "400 Bad Request",
            "",
            "text/plain; charset=utf-8",
            "bad request: expected an HTTP/1.x request such as GET /metrics\n".to_owned(),
            false,
        ),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "",
            "text/plain; charset=utf-8",
            format!("request head over {MAX_REQUEST_BYTES} bytes\n"),
            false,
        ),
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head {
        out.extend_from_slice(body.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests;
