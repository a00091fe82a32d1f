//! Keep-alive → idle timeout.

use std::time::Duration;

/// The idle timeout for a client that announced `keepalive_secs` in its CONNECT.
///
/// A server disconnects a client that sends nothing for one and a half times its Keep Alive
/// [MQTT-3.1.2-24], so the proxy can do the same without cutting a well-behaved client.
/// `0` turns keep-alive off (§3.1.2.10): `None`, and the caller uses its configured idle
/// timeout. The result is clamped to `[floor, cap]`; if `floor > cap`, `cap` wins (no panic).
///
/// MQTT 5 brokers may override the client's value with a Server Keep Alive in CONNACK; the
/// proxy does not read CONNACK, so `cap` should cover the broker's `max_keepalive` × 1.5.
pub fn idle_timeout_for_keepalive(
    keepalive_secs: u16,
    floor: Duration,
    cap: Duration,
) -> Option<Duration> {
    if keepalive_secs == 0 {
        return None;
    }
    // 65535 × 1500 ms fits a u64 with room to spare; no overflow.
    let one_and_a_half = Duration::from_millis(u64::from(keepalive_secs) * 1500);
    Some(one_and_a_half.max(floor).min(cap))
}

#[cfg(test)]
mod tests;
