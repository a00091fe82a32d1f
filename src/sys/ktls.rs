//! Kernel TLS (kTLS): hands an established rustls session's record layer to the kernel.
//!
//! After the handshake, rustls gives up the traffic secrets and record sequence numbers
//! (`UnbufferedServerConnection::dangerous_into_kernel_connection`). [`enable`] attaches the
//! `tls` upper-layer protocol to the TCP socket and installs one key per direction; from then
//! on plain `recv`/`send`/`splice` on the socket move plaintext and the kernel does the
//! records. See <https://docs.kernel.org/networking/tls.html>.
//!
//! Kernel behaviour the caller must know (documented there, observed in `tests/vm/`):
//! - A record that is not application data (alert, TLS 1.3 KeyUpdate or NewSessionTicket,
//!   which travel as handshake records) makes a plain `recv` fail with `EIO` and `splice` fail;
//!   read it with [`recv_record`], which passes a control-message buffer so the kernel can
//!   return the record type (`TLS_GET_RECORD_TYPE`). One `recvmsg` never mixes record types.
//! - TLS 1.3 KeyUpdate: kernels since 6.14 pause decryption after handing out a KeyUpdate
//!   (reads fail with `EKEYEXPIRED`, poll reports nothing) until [`update_rx`] installs the
//!   new key; older kernels refuse a second `TLS_RX` (`EBUSY`, [`KtlsError::RekeyUnsupported`])
//!   and would decrypt the next record with the old key, so the caller must close.
//! - Secrets are extracted by consuming the rustls session: once [`enable`] fails the session
//!   cannot go back to userspace. Decide before extraction with [`probe`] (at start-up) and
//!   [`supports`] (per session).
//! - The kernel does not enforce AES-GCM usage limits: the caller rekeys or closes.
//! - Bytes the caller already read from the socket past the handshake cannot be handed to the
//!   kernel; enable only when nothing is held.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

use ringress_core::tls::KernelTlsFailure;
use rustls::{CipherSuite, ConnectionTrafficSecrets, ExtractedSecrets, ProtocolVersion};

/// Name of the kernel's TLS upper-layer protocol, as `setsockopt(TCP_ULP)` wants it.
const TLS_ULP: &[u8] = b"tls";

#[cfg(test)]
pub(crate) use ringress_core::tls::wire::CONTENT_HANDSHAKE as CONTENT_TYPE_HANDSHAKE;
/// The wire constants a kTLS caller meets (record types, close_notify, the largest record).
pub(crate) use ringress_core::tls::wire::{
    ALERT_CLOSE_NOTIFY, ALERT_LEVEL_WARNING, CONTENT_ALERT as CONTENT_TYPE_ALERT,
    MAX_RECORD_PLAINTEXT,
};

/// What [`Record::content_type`] says when `recvmsg` returned no record type (end of stream).
pub(crate) const CONTENT_TYPE_NONE: u8 = 0;

/// Why this kernel cannot do kTLS (from [`probe`]). The Display names the failing step and the
/// errno, so the start-up log line is enough to diagnose it.
#[derive(Debug)]
pub(crate) struct KtlsUnavailable {
    step: &'static str,
    error: io::Error,
}

impl KtlsUnavailable {
    /// The errno of the failing call, if it was a syscall.
    pub(crate) fn errno(&self) -> Option<i32> {
        self.error.raw_os_error()
    }
}

impl fmt::Display for KtlsUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel TLS unavailable: {}: {}", self.step, self.error)?;
        if self.errno() == Some(libc::ENOENT) {
            f.write_str(" (the kernel lacks CONFIG_TLS or the tls module is not loaded)")?;
        }
        Ok(())
    }
}

impl std::error::Error for KtlsUnavailable {}

/// Why a session could not be handed to (or rekeyed in) the kernel.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KtlsError {
    /// kTLS does TLS 1.2 and 1.3 only.
    #[error("kernel TLS does not support protocol version {0:?}")]
    UnsupportedVersion(ProtocolVersion),
    /// A cipher the kernel (or this module) cannot take: serve the session in userspace.
    #[error("kernel TLS does not support this cipher")]
    UnsupportedCipher,
    /// `setsockopt(TCP_ULP, "tls")` failed: no kTLS in this kernel, or the socket is not
    /// an established TCP connection.
    #[error("setsockopt(TCP_ULP, \"tls\"): {0}")]
    Ulp(io::Error),
    /// Installing the transmit key failed.
    #[error("setsockopt(SOL_TLS, TLS_TX): {0}")]
    Tx(io::Error),
    /// Installing the receive key failed.
    #[error("setsockopt(SOL_TLS, TLS_RX): {0}")]
    Rx(io::Error),
    /// The kernel refused a new key for a direction that already has one: rekeying needs
    /// Linux 6.14+. The connection cannot continue after a KeyUpdate.
    #[error("kernel cannot rekey kTLS (needs Linux 6.14+): {0}")]
    RekeyUnsupported(io::Error),
}

impl KtlsError {
    /// A stable keyword for logs.
    #[cfg(test)]
    pub(crate) fn keyword(&self) -> &'static str {
        self.failure().keyword()
    }

    /// What failed, without the `io::Error`: a connection's termination.
    pub(crate) fn failure(&self) -> KernelTlsFailure {
        match self {
            KtlsError::UnsupportedVersion(_) => KernelTlsFailure::UnsupportedVersion,
            KtlsError::UnsupportedCipher => KernelTlsFailure::UnsupportedCipher,
            KtlsError::Ulp(_) => KernelTlsFailure::Ulp,
            KtlsError::Tx(_) => KernelTlsFailure::Tx,
            KtlsError::Rx(_) => KernelTlsFailure::Rx,
            KtlsError::RekeyUnsupported(_) => KernelTlsFailure::RekeyUnsupported,
        }
    }
}

/// What this kernel's kTLS can do, as [`probe`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KtlsSupport {
    /// A direction that has a key accepts a new one (TLS 1.3 KeyUpdate): Linux 6.14+.
    pub(crate) rekey: bool,
}

/// Can this kernel do kTLS, and rekey? Attaches the `tls` ULP to one end of a connected
/// loopback TCP pair (the kernel only accepts it on an established socket), then installs a
/// throwaway TLS 1.3 transmit key twice (nothing is ever sent with it): kernels before 6.14
/// refuse the second with `EBUSY`. The sockets close on return.
pub(crate) fn probe() -> Result<KtlsSupport, KtlsUnavailable> {
    let fail = |step| move |error| KtlsUnavailable { step, error };
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(fail("bind a loopback listener"))?;
    let addr = listener.local_addr().map_err(fail("getsockname"))?;
    let client = TcpStream::connect(addr).map_err(fail("connect over loopback"))?;
    let (_server, _) = listener.accept().map_err(fail("accept over loopback"))?;
    attach_ulp(client.as_raw_fd()).map_err(fail("setsockopt(TCP_ULP, \"tls\")"))?;
    let key = CryptoInfo::from_parts(
        Direction::Tx,
        libc::TLS_1_3_VERSION,
        0,
        Cipher::Aes128Gcm,
        &[0; 16],
        &[0; 12],
    );
    let rekey = key.is_ok_and(|key| {
        let fd = client.as_raw_fd();
        set_crypto_info(fd, libc::TLS_TX, &key).is_ok()
            && set_crypto_info(fd, libc::TLS_TX, &key).is_ok()
    });
    Ok(KtlsSupport { rekey })
}

/// Can kTLS carry a session with this version and cipher suite? Ask before extracting the
/// secrets: extraction consumes the rustls session.
pub(crate) fn supports(version: ProtocolVersion, suite: CipherSuite) -> bool {
    let version_ok = matches!(version, ProtocolVersion::TLSv1_2 | ProtocolVersion::TLSv1_3);
    let suite_ok = matches!(
        suite,
        CipherSuite::TLS13_AES_128_GCM_SHA256
            | CipherSuite::TLS13_AES_256_GCM_SHA384
            | CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
            | CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            | CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
    );
    version_ok && suite_ok
}

/// Hands both directions of an established session on `fd` to the kernel.
///
/// `fd` must be a connected TCP socket with nothing of the peer's read past the handshake.
/// On error the connection must be closed (the secrets are gone from rustls), except for
/// [`KtlsError::UnsupportedVersion`]/[`KtlsError::UnsupportedCipher`], which are detected
/// before any syscall.
pub(crate) fn enable(
    fd: RawFd,
    secrets: &ExtractedSecrets,
    version: ProtocolVersion,
) -> Result<(), KtlsError> {
    // Build both first: an unsupported cipher is then reported before the socket changes.
    let tx = CryptoInfo::new(Direction::Tx, version, secrets.tx.0, &secrets.tx.1)?;
    let rx = CryptoInfo::new(Direction::Rx, version, secrets.rx.0, &secrets.rx.1)?;
    attach_ulp(fd).map_err(KtlsError::Ulp)?;
    set_crypto_info(fd, libc::TLS_TX, &tx).map_err(KtlsError::Tx)?;
    set_crypto_info(fd, libc::TLS_RX, &rx).map_err(KtlsError::Rx)
}

/// Installs the receive key that follows the peer's TLS 1.3 KeyUpdate: pass what
/// `KernelConnection::update_rx_secret` returned. Needs Linux 6.14+.
pub(crate) fn update_rx(
    fd: RawFd,
    version: ProtocolVersion,
    secrets: &(u64, ConnectionTrafficSecrets),
) -> Result<(), KtlsError> {
    let info = CryptoInfo::new(Direction::Rx, version, secrets.0, &secrets.1)?;
    set_crypto_info(fd, libc::TLS_RX, &info).map_err(rekey_error(KtlsError::Rx))
}

/// Installs a new transmit key, after sending our KeyUpdate with the old one (see
/// [`send_record`]): pass what `KernelConnection::update_tx_secret` returned. Linux 6.14+.
pub(crate) fn update_tx(
    fd: RawFd,
    version: ProtocolVersion,
    secrets: &(u64, ConnectionTrafficSecrets),
) -> Result<(), KtlsError> {
    let info = CryptoInfo::new(Direction::Tx, version, secrets.0, &secrets.1)?;
    set_crypto_info(fd, libc::TLS_TX, &info).map_err(rekey_error(KtlsError::Tx))
}

/// Kernels before 6.14 refuse a second key for a direction with EBUSY.
fn rekey_error(other: fn(io::Error) -> KtlsError) -> impl Fn(io::Error) -> KtlsError {
    move |e| match e.raw_os_error() {
        Some(libc::EBUSY) => KtlsError::RekeyUnsupported(e),
        _ => other(e),
    }
}

/// One record (or the first part of one, if `buf` was shorter) read by [`recv_record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record {
    /// TLS content type: alert, handshake or application data (the `tls::wire` constants);
    /// [`CONTENT_TYPE_NONE`] with `len == 0` at end of stream.
    pub(crate) content_type: u8,
    /// Decrypted bytes at the front of `buf`.
    pub(crate) len: usize,
}

/// Reads the next record's plaintext and its content type from a kTLS socket.
///
/// Call it when a plain `recv` failed with `EIO`: the next record is not application data
/// (an alert, or a handshake record carrying KeyUpdate (type 24) or NewSessionTicket (4)).
/// Application data comes back too, with type 23. A control record longer than `buf` is
/// returned in pieces; [`MAX_RECORD_PLAINTEXT`] bytes always suffice. Follows the socket's
/// blocking mode (`EAGAIN` on a non-blocking socket with nothing ready).
pub(crate) fn recv_record(fd: RawFd, buf: &mut [u8]) -> io::Result<Record> {
    let mut control = CmsgBuffer::zeroed();
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid (null name, no iovecs, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes.as_mut_ptr().cast();
    msg.msg_controllen = control.bytes.len();
    // SAFETY: msg points at one iovec describing `buf` (live, exclusively borrowed, its real
    // length) and at `control` (live, aligned for cmsghdr); both outlive the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other(
            "TLS record type control message truncated",
        ));
    }
    let mut content_type = CONTENT_TYPE_NONE;
    // SAFETY: msg was filled by recvmsg; msg_controllen now covers only what the kernel wrote
    // into `control`, so the CMSG_* walk stays inside it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_TLS
                && (*cmsg).cmsg_type == libc::TLS_GET_RECORD_TYPE
                && (*cmsg).cmsg_len >= libc::CMSG_LEN(1) as usize
            {
                content_type = *libc::CMSG_DATA(cmsg);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(Record {
        content_type,
        len: n as usize,
    })
}

/// Sends `payload` as one record of `content_type` (the kernel encrypts it), e.g. a
/// KeyUpdate handshake message. A short send is reported as `WriteZero`: control records
/// are tiny and must not be split. MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE.
pub(crate) fn send_record(fd: RawFd, content_type: u8, payload: &[u8]) -> io::Result<()> {
    let mut control = CmsgBuffer::zeroed();
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr().cast_mut().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: an all-zero msghdr is valid (null name, no iovecs, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is pure arithmetic.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(1) } as usize;
    // SAFETY: msg_control points at `control`, which is aligned for cmsghdr and at least
    // CMSG_SPACE(1) bytes (checked by a unit test), so the first header and its one data
    // byte are inside it. sendmsg only reads the iovec (the cast to *mut is for the C type).
    let n = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_TLS;
        (*cmsg).cmsg_type = libc::TLS_SET_RECORD_TYPE;
        (*cmsg).cmsg_len = libc::CMSG_LEN(1) as usize;
        *libc::CMSG_DATA(cmsg) = content_type;
        libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != payload.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short send of a TLS control record",
        ));
    }
    Ok(())
}

/// Sends an alert record, e.g. close_notify ([`ALERT_LEVEL_WARNING`], [`ALERT_CLOSE_NOTIFY`])
/// before closing a kTLS connection.
pub(crate) fn send_alert(fd: RawFd, level: u8, description: u8) -> io::Result<()> {
    send_record(fd, CONTENT_TYPE_ALERT, &[level, description])
}

/// The kernel's kTLS counters (`/proc/net/tls_stat`), or None without kTLS.
#[cfg(test)]
pub(crate) fn tls_stat() -> Option<String> {
    std::fs::read_to_string("/proc/net/tls_stat").ok()
}

/// One counter (e.g. `TlsCurrTxSw`) from [`tls_stat`]'s text.
#[cfg(test)]
pub(crate) fn tls_stat_value(stat: &str, name: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        (fields.next()? == name).then_some(())?;
        fields.next()?.parse().ok()
    })
}

/// Room for one control message carrying a one-byte record type, aligned like a cmsghdr.
#[repr(C, align(8))]
struct CmsgBuffer {
    /// CMSG_SPACE(1) is 24 on 64-bit Linux; 32 leaves slack and is checked by a test.
    bytes: [u8; 32],
}

impl CmsgBuffer {
    fn zeroed() -> CmsgBuffer {
        CmsgBuffer { bytes: [0; 32] }
    }
}

/// The `setsockopt(SOL_TLS, TLS_TX/TLS_RX)` argument for one direction.
pub(crate) enum CryptoInfo {
    Aes128Gcm(libc::tls12_crypto_info_aes_gcm_128),
    Aes256Gcm(libc::tls12_crypto_info_aes_gcm_256),
    Chacha20Poly1305(libc::tls12_crypto_info_chacha20_poly1305),
}

#[derive(Debug, Clone, Copy)]
enum Cipher {
    Aes128Gcm,
    Aes256Gcm,
    Chacha20Poly1305,
}

/// GCM's 12-byte nonce base: the first 4 bytes are the kernel's `salt`, the last 8 its `iv`
/// (RFC 5288 §3 for TLS 1.2; the same split is how the kernel takes TLS 1.3's static IV).
const GCM_SALT_LEN: usize = 4;

/// Which way a key protects records: what we send, or what we receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Tx,
    Rx,
}

/// The explicit nonce the kernel is to put on its first TLS 1.2 AES-GCM record, when rustls
/// already sent `seq` records under the same key with fixed IV tail `explicit`.
///
/// rustls builds record `s`'s nonce as `salt || (explicit XOR s)` and sends the second part on
/// the wire (RFC 5288 §3 leaves the choice to the sender; RFC 9325 §7.2.1 asks that it never
/// repeat). The kernel does it differently: for TLS 1.2 AES-GCM it sends `crypto_info.iv`
/// verbatim as the first record's explicit nonce and *adds one* per record after that
/// (net/tls: `tls_fill_prepend`, `tls_advance_record_sn`). Handing it rustls' `explicit` made
/// the first kernel record reuse the server Finished's (key, nonce) pair.
///
/// We start the kernel at `n0 = explicit + seq` (big-endian, mod 2^64). Why that never meets a
/// nonce rustls used, for any `explicit = a`:
/// - For every `s`, `a ^ s = a + s - 2·(a & s)`, and `0 <= a & s <= s`, so
///   `a - s <= a ^ s <= a + s` as integers. rustls' nonces (`s < seq`) therefore all lie in
///   `[a - (seq - 1), a + (seq - 1)]`.
/// - The kernel's `k`-th record (`k >= 0`) uses `(a + seq + k) mod 2^64`. For it to equal
///   some `x` in that interval, `k ≡ x - a - seq (mod 2^64)` with `x - a - seq` in
///   `[-(2·seq - 1), -1]`, i.e. `k >= 2^64 - 2·seq + 1`.
/// - `seq` counts the records rustls sent during the handshake and before the hand-off (a
///   handful), and the kernel sends far fewer than `2^64 - 2·seq` records under one key (the
///   worker closes TLS 1.2 AES-GCM connections at `tls::post_handshake::RECORD_BUDGET`, 2^24
///   records, anyway). So no kernel
///   nonce meets a rustls one, and the kernel's own `k` are distinct mod 2^64.
///
/// The receive direction needs none of this: for TLS 1.2 AES-GCM the kernel decrypts with
/// the explicit nonce carried in each received record (chosen by the client, under the client's
/// own write key), and uses `crypto_info.iv` only for its salt part.
pub(crate) fn tls12_gcm_first_kernel_nonce(explicit: [u8; 8], seq: u64) -> [u8; 8] {
    u64::from_be_bytes(explicit).wrapping_add(seq).to_be_bytes()
}

impl CryptoInfo {
    /// Builds the kernel's crypto_info from rustls' secrets for one direction.
    /// `seq` is the next record sequence number in that direction.
    pub(crate) fn new(
        direction: Direction,
        version: ProtocolVersion,
        seq: u64,
        secrets: &ConnectionTrafficSecrets,
    ) -> Result<CryptoInfo, KtlsError> {
        let version = match version {
            ProtocolVersion::TLSv1_2 => libc::TLS_1_2_VERSION,
            ProtocolVersion::TLSv1_3 => libc::TLS_1_3_VERSION,
            other => return Err(KtlsError::UnsupportedVersion(other)),
        };
        let (cipher, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (Cipher::Aes128Gcm, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (Cipher::Aes256Gcm, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (Cipher::Chacha20Poly1305, key, iv)
            }
            _ => return Err(KtlsError::UnsupportedCipher),
        };
        CryptoInfo::from_parts(direction, version, seq, cipher, key.as_ref(), iv.as_ref())
    }

    /// The same from raw key and nonce bytes (lengths checked against the cipher).
    fn from_parts(
        direction: Direction,
        version: u16,
        seq: u64,
        cipher: Cipher,
        key: &[u8],
        iv: &[u8],
    ) -> Result<CryptoInfo, KtlsError> {
        let rec_seq = seq.to_be_bytes();
        // TLS 1.2 AES-GCM sends an explicit nonce the kernel counts up from `iv`: start it
        // where rustls' nonces cannot be (see `tls12_gcm_first_kernel_nonce`). ChaCha20-Poly1305
        // and TLS 1.3 have none: the kernel XORs the sequence number into the IV, as rustls does.
        let explicit = |iv: [u8; 8]| match (direction, version) {
            (Direction::Tx, libc::TLS_1_2_VERSION) => tls12_gcm_first_kernel_nonce(iv, seq),
            _ => iv,
        };
        let info = |cipher_type| libc::tls_crypto_info {
            version,
            cipher_type,
        };
        Ok(match cipher {
            Cipher::Aes128Gcm => {
                let (salt, iv) = split_gcm_iv(iv)?;
                CryptoInfo::Aes128Gcm(libc::tls12_crypto_info_aes_gcm_128 {
                    info: info(libc::TLS_CIPHER_AES_GCM_128),
                    iv: explicit(iv),
                    key: fixed(key)?,
                    salt,
                    rec_seq,
                })
            }
            Cipher::Aes256Gcm => {
                let (salt, iv) = split_gcm_iv(iv)?;
                CryptoInfo::Aes256Gcm(libc::tls12_crypto_info_aes_gcm_256 {
                    info: info(libc::TLS_CIPHER_AES_GCM_256),
                    iv: explicit(iv),
                    key: fixed(key)?,
                    salt,
                    rec_seq,
                })
            }
            Cipher::Chacha20Poly1305 => {
                CryptoInfo::Chacha20Poly1305(libc::tls12_crypto_info_chacha20_poly1305 {
                    info: info(libc::TLS_CIPHER_CHACHA20_POLY1305),
                    iv: fixed(iv)?,
                    key: fixed(key)?,
                    salt: [],
                    rec_seq,
                })
            }
        })
    }

    /// The struct as the bytes the kernel reads.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        let (ptr, len): (*const u8, usize) = match self {
            CryptoInfo::Aes128Gcm(i) => ((i as *const _ as *const u8), size_of_val(i)),
            CryptoInfo::Aes256Gcm(i) => ((i as *const _ as *const u8), size_of_val(i)),
            CryptoInfo::Chacha20Poly1305(i) => ((i as *const _ as *const u8), size_of_val(i)),
        };
        // SAFETY: the libc structs are repr(C) with two u16s followed by u8 arrays, so they
        // have no padding and every byte is initialised; the slice borrows `self`.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

impl Drop for CryptoInfo {
    /// Wipes the key copy (rustls wipes its own on drop).
    fn drop(&mut self) {
        let bytes: &mut [u8] = match self {
            CryptoInfo::Aes128Gcm(i) => &mut i.key,
            CryptoInfo::Aes256Gcm(i) => &mut i.key,
            CryptoInfo::Chacha20Poly1305(i) => &mut i.key,
        };
        for b in bytes {
            // SAFETY: `b` is a valid, exclusively borrowed byte; the volatile write keeps the
            // compiler from dropping the wipe as a dead store.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

fn split_gcm_iv(iv: &[u8]) -> Result<([u8; GCM_SALT_LEN], [u8; 8]), KtlsError> {
    let (salt, rest) = iv
        .split_at_checked(GCM_SALT_LEN)
        .ok_or(KtlsError::UnsupportedCipher)?;
    Ok((fixed(salt)?, fixed(rest)?))
}

/// A slice of exactly N bytes as an array; any other length means rustls handed a cipher
/// shape this module does not know.
fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], KtlsError> {
    bytes.try_into().map_err(|_| KtlsError::UnsupportedCipher)
}

fn attach_ulp(fd: RawFd) -> io::Result<()> {
    // SAFETY: the option value is a live byte string of the given length; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_TCP,
            libc::TCP_ULP,
            TLS_ULP.as_ptr().cast(),
            TLS_ULP.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_crypto_info(fd: RawFd, direction: libc::c_int, info: &CryptoInfo) -> io::Result<()> {
    let bytes = info.as_bytes();
    // SAFETY: the option value is the live crypto_info struct of the given size; the kernel
    // copies it before returning.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_TLS,
            direction,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests;
