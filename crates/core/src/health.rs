//! Health checks, sans-IO: each server's up/down state from check results (HAProxy's
//! `rise`/`fall`), and the MQTT conversation a check holds with a broker. The driver owns
//! the sockets, the check interval and the timeout; this module decides.
//!
//! A check is: connect (with the server line's PROXY header, if any), send
//! [`mqtt_check_connect`], read until [`check_connack`] is not `Incomplete`, send
//! [`DISCONNECT`] if the broker accepted, close. A timeout, a refused connection or
//! anything but `CheckResult::Ok` is a failure.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::mqtt::frames::{ConnectFields, Version, encode_connect_fields};

/// Keep Alive the check's CONNECT announces, seconds.
///
/// Not 0: mosquitto ≥ 2.0.12 applies `max_keepalive` to 3.1.1 clients and refuses a Keep
/// Alive of 0 with "identifier rejected" (eclipse-mosquitto/mosquitto#2309), which would mark
/// a healthy broker down. 10 s is below any sane `max_keepalive`, and longer than a check
/// lasts (the check disconnects right after CONNACK).
pub const CHECK_KEEPALIVE_SECS: u16 = 10;

/// MQTT DISCONNECT (3.1.1 §3.14): ends the check's session politely, so the broker logs a
/// clean disconnect instead of a socket error and does not publish a will (there is none).
pub const DISCONNECT: [u8; 2] = [0xe0, 0x00];

/// A server's state at start-up, as HAProxy's `init-state` (3.1+).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InitialState {
    /// Up, and down at the first failed check (HAProxy's default).
    #[default]
    Up,
    /// Up, and down only after `fall` failed checks.
    FullyUp,
    /// Down, and up at the first successful check.
    Down,
    /// Down, and up only after `rise` successful checks.
    FullyDown,
}

/// A change of a server's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Up → down: stop picking the server; the caller may shut its sessions down.
    WentDown,
    /// Down → up: pick the server again.
    WentUp,
}

/// One server's health, HAProxy's model (`check->health` in `src/check.c`): a counter in
/// `0..=rise+fall-1`, up when it is at least `rise`. A failure while up steps it down and
/// drops it to 0 once below `rise`, so `fall` consecutive failures take a fully up server
/// down; a success while up restores it to the top. A success while down steps it up and
/// jumps to the top at `rise`, so `rise` consecutive successes bring it up; a failure
/// while down resets it to 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthState {
    rise: u64,
    /// `rise + fall - 1`: full health. In `u64` so any `u32` pair fits.
    top: u64,
    health: u64,
}

impl HealthState {
    /// `rise` and `fall` below 1 are taken as 1 (HAProxy refuses 0).
    pub fn new(rise: u32, fall: u32, initial: InitialState) -> Self {
        let rise = u64::from(rise.max(1));
        let top = rise + u64::from(fall.max(1)) - 1;
        let health = match initial {
            InitialState::Up => rise,
            InitialState::FullyUp => top,
            InitialState::Down => rise - 1,
            InitialState::FullyDown => 0,
        };
        Self { rise, top, health }
    }

    pub fn is_up(&self) -> bool {
        self.health >= self.rise
    }

    /// Records one check's result; returns the transition it caused, if any.
    pub fn on_result(&mut self, ok: bool) -> Option<Transition> {
        let was_up = self.is_up();
        if ok {
            self.health = (self.health + 1).min(self.top);
            if self.health >= self.rise {
                self.health = self.top;
            }
        } else if self.health > 0 {
            self.health -= 1;
            if self.health < self.rise {
                self.health = 0;
            }
        }
        match (was_up, self.is_up()) {
            (true, false) => Some(Transition::WentDown),
            (false, true) => Some(Transition::WentUp),
            _ => None,
        }
    }
}

/// Every server's up/down state as all workers see it. Written only by the worker that runs
/// the checks; read by every worker with one relaxed load of the epoch per new connection
/// and per tick, and the flags only after the epoch moved. Nothing here is touched per byte.
pub struct HealthBoard {
    /// Bumped (Release) after every transition; a worker whose copy differs re-reads
    /// (after an Acquire load) the flags of every server.
    epoch: AtomicU64,
    /// `[backend][server]`, in config order.
    servers: Vec<Vec<ServerFlags>>,
}

#[derive(Default)]
struct ServerFlags {
    up: AtomicBool,
    /// Times the server was marked down: a worker that remembers a smaller number has
    /// sessions to shut down, even if the server came back up before it looked.
    downs: AtomicU32,
}

impl HealthBoard {
    /// Every server starts up (see [`InitialState::Up`]); `servers[b]` is backend `b`'s count.
    pub fn new(servers: impl IntoIterator<Item = usize>) -> HealthBoard {
        let servers = servers
            .into_iter()
            .map(|n| {
                (0..n)
                    .map(|_| ServerFlags {
                        up: AtomicBool::new(true),
                        downs: AtomicU32::new(0),
                    })
                    .collect()
            })
            .collect();
        HealthBoard {
            epoch: AtomicU64::new(0),
            servers,
        }
    }

    /// Changes after every [`publish`](Self::publish); compare with a remembered value.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A missing server counts as down.
    pub fn is_up(&self, backend: usize, server: usize) -> bool {
        self.flags(backend, server)
            .is_some_and(|f| f.up.load(Ordering::Relaxed))
    }

    /// How many times the server has been marked down so far.
    pub fn downs(&self, backend: usize, server: usize) -> u32 {
        self.flags(backend, server)
            .map_or(0, |f| f.downs.load(Ordering::Relaxed))
    }

    pub fn publish(&self, backend: usize, server: usize, transition: Transition) {
        let Some(flags) = self.flags(backend, server) else {
            return;
        };
        match transition {
            Transition::WentDown => {
                flags.downs.fetch_add(1, Ordering::Relaxed);
                flags.up.store(false, Ordering::Relaxed);
            }
            Transition::WentUp => flags.up.store(true, Ordering::Relaxed),
        }
        self.epoch.fetch_add(1, Ordering::Release);
    }

    fn flags(&self, backend: usize, server: usize) -> Option<&ServerFlags> {
        self.servers.get(backend)?.get(server)
    }
}

/// Why [`mqtt_check_connect`] cannot build the packet: a config mistake, caught when the
/// config is validated (call it once there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CheckConnectError {
    /// MQTT 3.1.1 forbids a password without a user name [MQTT-3.1.2-22].
    #[error("a health-check password needs a user name (MQTT 3.1.1)")]
    PasswordWithoutUsername,
    /// A field longer than the 65,535 bytes a two-byte length can say.
    #[error("a health-check client id, user name or password is over 65535 bytes")]
    FieldTooLong,
}

/// The CONNECT a health check sends: MQTT 3.1.1 (every broker speaks it), Clean Session
/// (the check leaves no session behind), no will, Keep Alive [`CHECK_KEEPALIVE_SECS`].
///
/// `client_id` may be empty: with Clean Session the broker assigns one, so checks from
/// several workers never take over each other's session. A fixed non-empty id shared by
/// workers or proxies makes concurrent checks kick each other off.
pub fn mqtt_check_connect(
    client_id: &str,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Result<Vec<u8>, CheckConnectError> {
    if password.is_some() && username.is_none() {
        return Err(CheckConnectError::PasswordWithoutUsername);
    }
    let fields = ConnectFields {
        version: Version::V311,
        client_id: client_id.as_bytes(),
        keepalive_s: CHECK_KEEPALIVE_SECS,
        username: username.map(str::as_bytes),
        password,
    };
    let mut packet = Vec::with_capacity(17 + client_id.len());
    encode_connect_fields(&mut packet, &fields).map_err(|_| CheckConnectError::FieldTooLong)?;
    Ok(packet)
}

/// What the broker's first bytes say about the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Fewer than the 4 bytes of a 3.1.1 CONNACK: read more (within the check timeout).
    Incomplete,
    /// Connection Accepted (return code 0): the broker is up and takes logins.
    Ok,
    /// A CONNACK refusing the login: 1 unacceptable protocol, 2 identifier rejected,
    /// 3 server unavailable, 4 bad user name or password, 5 not authorized. The check
    /// failed; the code goes to the log (4 and 5 mean the check's credentials are wrong).
    Refused(u8),
    /// Not a CONNACK, or a CONNACK with reserved bits set or an undefined code.
    Malformed,
}

/// Reads the broker's reply to [`mqtt_check_connect`]: a 3.1.1 CONNACK (§3.2), `20 02 flags
/// code`. Bytes after it are ignored (a broker sends nothing else before our DISCONNECT).
pub fn check_connack(bytes: &[u8]) -> CheckResult {
    // Judge the fixed header as soon as it arrives: a broker that answers with something
    // else fails the check without waiting for the timeout.
    match bytes {
        [] => CheckResult::Incomplete,
        [0x20] | [0x20, 0x02] | [0x20, 0x02, _] => match bytes.get(2) {
            Some(flags) if flags & 0xfe != 0 => CheckResult::Malformed,
            _ => CheckResult::Incomplete,
        },
        [0x20, 0x02, flags, code, ..] => {
            // Acknowledge Flags bits 7-1 are reserved [MQTT-3.2.2.1]; a refusal must not
            // claim a session [MQTT-3.2.2-4].
            if flags & 0xfe != 0 || (*code != 0 && *flags != 0) {
                return CheckResult::Malformed;
            }
            match code {
                0 => CheckResult::Ok,
                1..=5 => CheckResult::Refused(*code),
                _ => CheckResult::Malformed,
            }
        }
        _ => CheckResult::Malformed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::{ConnectLimits, ConnectOutcome, Protocol, parse_connect};

    fn run(state: &mut HealthState, results: &[bool]) -> Vec<Option<Transition>> {
        results.iter().map(|&ok| state.on_result(ok)).collect()
    }

    #[test]
    fn fully_up_goes_down_after_fall_consecutive_failures() {
        let mut s = HealthState::new(2, 3, InitialState::FullyUp);
        assert!(s.is_up());
        assert_eq!(
            run(&mut s, &[false, false, false]),
            [None, None, Some(Transition::WentDown)]
        );
        assert!(!s.is_up());
    }

    #[test]
    fn a_success_while_up_restores_full_health() {
        let mut s = HealthState::new(2, 3, InitialState::FullyUp);
        assert_eq!(run(&mut s, &[false, false, true]), [None, None, None]);
        // Back at the top: it takes three failures again.
        assert_eq!(
            run(&mut s, &[false, false, false]),
            [None, None, Some(Transition::WentDown)]
        );
    }

    #[test]
    fn down_goes_up_after_rise_consecutive_successes() {
        let mut s = HealthState::new(3, 2, InitialState::FullyDown);
        assert!(!s.is_up());
        // A failure in the middle resets the count.
        assert_eq!(
            run(&mut s, &[true, true, false, true, true, true]),
            [None, None, None, None, None, Some(Transition::WentUp)]
        );
        // Just came up: it is fully up, so `fall` failures take it down.
        assert_eq!(
            run(&mut s, &[false, false]),
            [None, Some(Transition::WentDown)]
        );
    }

    #[test]
    fn haproxy_default_up_falls_at_the_first_failure() {
        let mut s = HealthState::new(2, 3, InitialState::Up);
        assert!(s.is_up());
        assert_eq!(s.on_result(false), Some(Transition::WentDown));
        let mut s = HealthState::new(2, 3, InitialState::Up);
        assert_eq!(s.on_result(true), None);
        assert_eq!(run(&mut s, &[false, false]), [None, None]);
    }

    #[test]
    fn down_rises_at_the_first_success() {
        let mut s = HealthState::new(5, 2, InitialState::Down);
        assert!(!s.is_up());
        assert_eq!(s.on_result(true), Some(Transition::WentUp));
    }

    #[test]
    fn rise_and_fall_of_one_flip_every_time() {
        let mut s = HealthState::new(1, 1, InitialState::Up);
        assert_eq!(
            run(&mut s, &[false, false, true, true, false]),
            [
                Some(Transition::WentDown),
                None,
                Some(Transition::WentUp),
                None,
                Some(Transition::WentDown)
            ]
        );
        // Zero is taken as one rather than a never-changing state.
        assert_eq!(
            HealthState::new(0, 0, InitialState::FullyUp),
            HealthState::new(1, 1, InitialState::FullyUp)
        );
    }

    #[test]
    fn huge_rise_and_fall_do_not_overflow() {
        let mut s = HealthState::new(u32::MAX, u32::MAX, InitialState::FullyUp);
        assert_eq!(s.on_result(false), None);
        assert_eq!(s.on_result(true), None);
        assert!(s.is_up());
    }

    #[test]
    fn check_connect_anonymous_byte_for_byte() {
        let p = mqtt_check_connect("", None, None).unwrap();
        assert_eq!(
            p,
            [
                0x10, 0x0c, // CONNECT, Remaining Length 12
                0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, // MQTT 3.1.1
                0x02, // Clean Session
                0x00, 0x0a, // Keep Alive 10
                0x00, 0x00, // empty Client Identifier: the broker assigns one
            ]
        );
    }

    #[test]
    fn check_connect_with_credentials_byte_for_byte() {
        let p = mqtt_check_connect("hc", Some("u"), Some(b"pw")).unwrap();
        assert_eq!(
            p,
            [
                0x10, 0x15, // Remaining Length 21
                0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, //
                0xc2, // User Name, Password, Clean Session
                0x00, 0x0a, //
                0x00, 0x02, b'h', b'c', //
                0x00, 0x01, b'u', //
                0x00, 0x02, b'p', b'w',
            ]
        );
        // Our own parser accepts what we send.
        let Ok(ConnectOutcome::Complete { connect, consumed }) =
            parse_connect(&p, &ConnectLimits::default())
        else {
            panic!("check CONNECT does not parse");
        };
        assert_eq!(consumed, p.len());
        assert_eq!(connect.protocol, Protocol::V311);
        assert_eq!(connect.client_id, "hc");
        assert!(connect.clean_start && connect.username_present && connect.password_present);
    }

    #[test]
    fn check_connect_refuses_what_3_1_1_cannot_say() {
        assert_eq!(
            mqtt_check_connect("x", None, Some(b"pw")),
            Err(CheckConnectError::PasswordWithoutUsername)
        );
        let long = "x".repeat(65_536);
        assert_eq!(
            mqtt_check_connect(&long, None, None),
            Err(CheckConnectError::FieldTooLong)
        );
        // 65,535 bytes is the most a field can hold, and needs a 3-byte Remaining Length.
        let longest = "x".repeat(65_535);
        let p = mqtt_check_connect(&longest, None, None).unwrap();
        assert_eq!(&p[..4], &[0x10, 0x8b, 0x80, 0x04]); // 65,547
        assert_eq!(p.len(), 4 + 65_547);
    }

    #[test]
    fn connack_results() {
        assert_eq!(check_connack(&[0x20, 0x02, 0x00, 0x00]), CheckResult::Ok);
        // Session Present is odd with Clean Session but not a failure of the broker.
        assert_eq!(check_connack(&[0x20, 0x02, 0x01, 0x00]), CheckResult::Ok);
        for code in 1..=5 {
            assert_eq!(
                check_connack(&[0x20, 0x02, 0x00, code]),
                CheckResult::Refused(code)
            );
        }
        // Trailing bytes are not ours to judge.
        assert_eq!(
            check_connack(&[0x20, 0x02, 0x00, 0x00, 0xd0]),
            CheckResult::Ok
        );
    }

    #[test]
    fn connack_incomplete_at_every_cut() {
        let ack = [0x20, 0x02, 0x00, 0x00];
        for cut in 0..ack.len() {
            assert_eq!(
                check_connack(&ack[..cut]),
                CheckResult::Incomplete,
                "cut {cut}"
            );
        }
    }

    #[test]
    fn connack_malformed() {
        for bytes in [
            &[0x21][..],                     // CONNACK type with flags
            &[0x20, 0x03],                   // MQTT 5 length (we asked for 3.1.1)
            &[0x20, 0x02, 0x02],             // reserved acknowledge flag
            &[0x20, 0x02, 0x01, 0x05],       // a refusal claiming a session
            &[0x20, 0x02, 0x00, 0x06],       // undefined return code
            &[0x20, 0x02, 0x00, 0x80],       // an MQTT 5 reason code
            b"HTTP/1.1 400 Bad Request\r\n", // not a broker
            &[0xe0, 0x00],                   // DISCONNECT
        ] {
            assert_eq!(check_connack(bytes), CheckResult::Malformed, "{bytes:02x?}");
        }
    }

    #[test]
    fn board_publishes_transitions_with_a_new_epoch() {
        let board = HealthBoard::new([2, 1]);
        let epoch = board.epoch();
        assert!(board.is_up(0, 0) && board.is_up(0, 1) && board.is_up(1, 0));
        assert!(
            !board.is_up(1, 1) && !board.is_up(2, 0),
            "missing servers are down"
        );
        board.publish(0, 1, Transition::WentDown);
        assert_ne!(board.epoch(), epoch);
        assert!(!board.is_up(0, 1) && board.is_up(0, 0));
        assert_eq!(board.downs(0, 1), 1);
        let epoch = board.epoch();
        board.publish(0, 1, Transition::WentUp);
        assert_ne!(board.epoch(), epoch);
        assert!(board.is_up(0, 1));
        // The down count stays: a worker that missed the short outage still sees it.
        assert_eq!(board.downs(0, 1), 1);
        board.publish(9, 9, Transition::WentDown); // ignored, no panic
    }

    #[test]
    fn disconnect_bytes() {
        assert_eq!(DISCONNECT, [0xe0, 0x00]);
    }
}
