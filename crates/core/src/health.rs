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
mod tests;
