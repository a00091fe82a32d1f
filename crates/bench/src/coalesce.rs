//! A TCP stream that can hold writes until a flush, so the TLS layer above it can put several
//! records into one `write(2)`.
//!
//! tokio-rustls writes each record to its transport as soon as it is sealed. With
//! `--records-per-write K` the publisher writes K messages (K records) and then flushes: with
//! holding on, the K records reach the socket in one syscall, as they do from a client whose
//! socket buffer holds a backlog. Reads pass through untouched.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A [`TcpStream`] whose writes are either passed through or held until the next flush.
pub struct Coalesce {
    tcp: TcpStream,
    hold: bool,
    out: Vec<u8>,
    sent: usize,
}

impl Coalesce {
    pub fn new(tcp: TcpStream) -> Self {
        Self {
            tcp,
            hold: false,
            out: Vec::new(),
            sent: 0,
        }
    }

    /// From now on, writes are held until a flush (or shutdown).
    pub fn hold_writes(&mut self) {
        self.hold = true;
    }

    /// Writes out what is held; `Ready(Ok)` once all of it is in the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.out[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.out.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Coalesce {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Coalesce {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if !me.hold {
            return Pin::new(&mut me.tcp).poll_write(cx, buf);
        }
        // A flush that could not finish is completed before more is taken, so what is held
        // stays bounded by one flush's worth.
        if me.sent > 0 {
            ready!(me.poll_drain(cx))?;
        }
        me.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
