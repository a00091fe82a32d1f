use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Held writes reach the peer only at the flush, together; unheld ones at once.
#[tokio::test(flavor = "current_thread")]
async fn holds_until_flush() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tcp, accepted) = tokio::join!(TcpStream::connect(addr), l.accept());
    let mut c = Coalesce::new(tcp.unwrap());
    let (mut peer, _) = accepted.unwrap();
    let mut buf = [0u8; 16];

    c.write_all(b"now").await.unwrap();
    let n = peer.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"now");

    c.hold_writes();
    c.write_all(b"ab").await.unwrap();
    c.write_all(b"cd").await.unwrap();
    let early =
        tokio::time::timeout(std::time::Duration::from_millis(50), peer.read(&mut buf)).await;
    assert!(early.is_err(), "held bytes were sent before the flush");
    c.flush().await.unwrap();
    let mut got = [0u8; 4];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"abcd");

    c.write_all(b"end").await.unwrap();
    c.shutdown().await.unwrap();
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"end");
}
