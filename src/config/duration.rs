//! Durations in the config file: strings like `"500ms"`, `"30s"`, `"1m30s"`.
//!
//! Hand-written because the grammar is four units and a loop; the crates that do this
//! (humantime and friends) accept far more than we want to document. A bare integer is
//! rejected on purpose: `connect_timeout = 5` is seconds to one reader and milliseconds to
//! the next.
//!
//! The parse runs inside `Deserialize`, so a bad value is reported by `toml` with its span
//! and therefore with its line.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Units in the order they must appear (largest first), with their length in milliseconds.
const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];

/// Why a duration string was rejected. Small and `Copy`, rendered by `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DurationError {
    Empty,
    /// Digits without a unit, e.g. `"30"`.
    MissingUnit,
    /// A unit without digits before it, or a character that is neither digit nor unit.
    Malformed,
    /// A unit we do not know, e.g. `"3d"` or `"5us"`.
    UnknownUnit,
    /// Units repeated or out of order, e.g. `"30s1m"` or `"1s1s"`.
    UnitOrder,
    Overflow,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            Self::Empty => "empty duration",
            Self::MissingUnit => "number without a unit",
            Self::Malformed => "malformed duration",
            Self::UnknownUnit => "unknown unit",
            Self::UnitOrder => "units repeated or out of order",
            Self::Overflow => "duration too large",
        };
        f.write_str(what)
    }
}

/// The longest value each duration key accepts, in milliseconds, each with its reason. They
/// keep every `now + timeout` sum in the workers far from overflowing (2^64 ms is 584
/// million years), and catch a unit typo (`"30h"` for `"30s"`) at load.
pub(crate) mod max_ms {
    const MINUTE: u64 = 60_000;
    const HOUR: u64 = 60 * MINUTE;
    /// `runtime.shutdown_grace`: MQTT sessions never end on their own, so a drain only
    /// lets short exchanges finish; a stop that takes over an hour is a stuck deploy.
    pub(crate) const SHUTDOWN_GRACE: u64 = HOUR;
    /// `client_idle` and `server_idle` (in `[timeouts]` and on listeners) and
    /// `keepalive_idle_min`/`_max`: above 1.5 × the longest MQTT keep-alive (65535 s,
    /// 27 h 18 m), with room; a connection silent for two days is a dead link holding a slot.
    pub(crate) const IDLE: u64 = 48 * HOUR;
    /// `timeouts.handshake`: a client holds a slot and its buffered bytes meanwhile; one
    /// that cannot send a PROXY header, a TLS handshake and a CONNECT in 5 minutes is stalled.
    pub(crate) const HANDSHAKE: u64 = 5 * MINUTE;
    /// `connect_timeout`: Linux itself gives up on an unanswered SYN after about 2 minutes
    /// (`net.ipv4.tcp_syn_retries = 6`), so a longer timeout would never fire.
    pub(crate) const CONNECT_TIMEOUT: u64 = 5 * MINUTE;
    /// `health_check.interval` and `.timeout`: a server checked less than hourly is not
    /// checked; its clients find out it is down first.
    pub(crate) const CHECK_PERIOD: u64 = HOUR;
    /// The period of `max_connection_rate_per_source`: a source is remembered for a period,
    /// and a limit per day is a ban list, not a rate.
    pub(crate) const RATE_PERIOD: u64 = 24 * HOUR;
}

/// The message for `text`, a duration above `max_ms` (or too large to parse at all).
pub(crate) fn too_long(text: &str, max_ms: u64) -> String {
    let max = format_duration(Duration::from_millis(max_ms));
    format!("{text:?} is too long (expected at most {max:?})")
}

/// What every duration error message ends with.
pub(crate) const EXPECTED: &str = "expected a string of whole numbers with units h, m, s, ms, largest first, like \"500ms\", \"30s\" or \"1m30s\"";

/// Parses `"1h"`, `"2m"`, `"30s"`, `"500ms"` and their concatenations, largest unit first.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = text;
    let mut total_ms: u64 = 0;
    // Index into UNITS of the next unit allowed; enforces "largest first, each once".
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(DurationError::Malformed);
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        if unit_len == 0 {
            return Err(if after.is_empty() {
                DurationError::MissingUnit
            } else {
                DurationError::Malformed
            });
        }
        let (unit, after) = after.split_at(unit_len);
        let position = UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or(DurationError::UnknownUnit)?;
        if position < next_unit {
            return Err(DurationError::UnitOrder);
        }
        next_unit = position + 1;
        let value: u64 = number.parse().map_err(|_| DurationError::Overflow)?;
        total_ms = value
            .checked_mul(UNITS[position].1)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or(DurationError::Overflow)?;
        rest = after;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Formats a duration the way the parser reads it: `1m30s`, `500ms`, `0s`.
/// Sub-millisecond parts (never produced by the parser) fall back to `Debug`.
pub(crate) fn format_duration(duration: Duration) -> String {
    if duration.subsec_nanos() % 1_000_000 != 0 {
        return format!("{duration:?}");
    }
    let mut ms = duration.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, unit_ms) in UNITS {
        let unit_ms = u128::from(unit_ms);
        if ms >= unit_ms {
            out.push_str(&format!("{}{unit}", ms / unit_ms));
            ms %= unit_ms;
        }
    }
    out
}

/// A duration that may be zero (`shutdown_grace = "0s"` means "close at once"), at most
/// `MAX_MS` milliseconds (one of [`max_ms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnyDuration<const MAX_MS: u64>(pub Duration);

/// A duration that must be greater than zero: a zero connect or idle timeout would fail
/// every connection, so it is a mistake rather than a way to switch the timeout off. At
/// most `MAX_MS` milliseconds (one of [`max_ms`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonZeroDuration<const MAX_MS: u64>(pub Duration);

struct DurationVisitor {
    allow_zero: bool,
    max_ms: u64,
}

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration string like \"30s\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        let duration = parse_duration(text).map_err(|e| match e {
            DurationError::Overflow => E::custom(too_long(text, self.max_ms)),
            e => E::custom(format!("{e} {text:?} ({EXPECTED})")),
        })?;
        if duration > Duration::from_millis(self.max_ms) {
            return Err(E::custom(too_long(text, self.max_ms)));
        }
        if !self.allow_zero && duration.is_zero() {
            return Err(E::custom(format!(
                "{text:?} is zero (expected a duration greater than zero)"
            )));
        }
        Ok(duration)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(format!(
                "{n} is a negative number (expected a string with a unit, like \"30s\")"
            ))),
        }
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
        Err(E::custom(format!(
            "{n} has no unit (expected a string with a unit, like \"{n}s\" or \"{n}ms\")"
        )))
    }
}

impl<'de, const MAX_MS: u64> serde::Deserialize<'de> for AnyDuration<MAX_MS> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = DurationVisitor {
            allow_zero: true,
            max_ms: MAX_MS,
        };
        deserializer.deserialize_any(visitor).map(AnyDuration)
    }
}

impl<'de, const MAX_MS: u64> serde::Deserialize<'de> for NonZeroDuration<MAX_MS> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let visitor = DurationVisitor {
            allow_zero: false,
            max_ms: MAX_MS,
        };
        deserializer.deserialize_any(visitor).map(NonZeroDuration)
    }
}

#[cfg(test)]
mod tests;
