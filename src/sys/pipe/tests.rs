use super::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

fn socket_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

#[test]
fn bytes_go_socket_to_pipe_to_socket() {
    let (mut src_peer, src) = socket_pair();
    let (dst, mut dst_peer) = socket_pair();
    let pipe = Pipe::new(256 * 1024).unwrap();
    assert!(pipe.capacity() >= 4096);
    assert_eq!(
        pipe.fill_from(src.as_raw_fd(), 1024),
        -(libc::EAGAIN as isize)
    );
    src_peer.write_all(b"hello pipe").unwrap();
    let mut n = -1;
    for _ in 0..1000 {
        n = pipe.fill_from(src.as_raw_fd(), 1024);
        if n != -(libc::EAGAIN as isize) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(n, 10);
    assert_eq!(pipe.drain_to(dst.as_raw_fd(), 10), 10);
    dst_peer.set_nonblocking(false).unwrap();
    let mut got = [0u8; 10];
    dst_peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello pipe");
    assert_eq!(pipe.write(b"xyz"), 3);
    assert_eq!(pipe.drain_to(dst.as_raw_fd(), 3), 3);
    drop(src_peer);
    let mut eof = -1;
    for _ in 0..1000 {
        eof = pipe.fill_from(src.as_raw_fd(), 1024);
        if eof != -(libc::EAGAIN as isize) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(eof, 0, "EOF reads as 0");
}

#[test]
fn the_pool_creates_up_to_its_cap_and_closes_pipes_returned_full() {
    let mut pool = PipePool::new(2, 4096).unwrap();
    assert_eq!(pool.created(), 1, "one pipe is made up front");
    let a = pool.take().unwrap();
    let b = pool.take().unwrap();
    assert!(pool.take().is_none());
    assert!(!pool.can_lend());
    pool.give_back(a, true);
    assert!(pool.can_lend());
    let a = pool.take().unwrap();
    pool.give_back(b, false);
    assert_eq!(pool.created(), 1);
    assert!(pool.take().is_some());
    pool.give_back(a, true);
}
