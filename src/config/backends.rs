//! `[[backend]]` entries → [`Backend`]s: servers (resolved once, with weights), the
//! balancing algorithm, PROXY-out mode, health checks and what a marked-down server means
//! for its sessions.

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::RangeInclusive;
use std::time::Duration;

use toml::Spanned;

use super::file::{FileBackend, FileHealthCheck};
use super::locate::entry_label;
use super::validate::{Ctx, check_name, in_range};
use super::{
    Backend, CheckKind, ConfigError, HealthCheck, OnMarkedDown, ProxyProtocol, V2_OPTIONS, defaults,
};
use crate::balance::Balance;
use crate::proxy_protocol::V2Options;

/// Ranges of the backend keys, each with its reason.
mod limits {
    use std::ops::RangeInclusive;
    use std::time::Duration;

    /// HAProxy's `weight` range: enough to say "3 times that one", small enough that the
    /// smooth round-robin sums never come near overflowing.
    pub(crate) const WEIGHT: RangeInclusive<i64> = 0..=256;
    /// `rise`/`fall`: 0 would never change state; past 100 checks a server would take
    /// minutes to change state at any sane interval.
    pub(crate) const RISE_FALL: RangeInclusive<i64> = 1..=100;
    /// Checks are started and timed out on the workers' 100 ms tick.
    pub(crate) const MIN_CHECK_PERIOD: Duration = Duration::from_millis(100);
}

pub(crate) fn backends(file: &[FileBackend], ctx: &Ctx<'_>) -> Result<Vec<Backend>, ConfigError> {
    let mut seen = HashMap::new();
    let mut backends = Vec::with_capacity(file.len());
    for (index, entry) in file.iter().enumerate() {
        check_name("backend", index, &entry.name, &mut seen, ctx)?;
        let label = entry_label("backend", index, Some(entry.name.get_ref()));
        let (servers, weights) = servers(entry, &label, ctx)?;
        let health_check = match &entry.health_check {
            Some(check) => Some(health_check(check, &label, ctx)?),
            None => None,
        };
        let on_marked_down = on_marked_down(entry, health_check.is_some(), &label, ctx)?;
        backends.push(Backend {
            name: entry.name.get_ref().clone(),
            servers,
            weights,
            balance: balance(entry, &label, ctx)?,
            connect_timeout: entry
                .connect_timeout
                .map_or(defaults::CONNECT_TIMEOUT, |d| d.0),
            proxy_protocol: proxy_protocol(entry, &label, ctx)?,
            health_check,
            on_marked_down,
        });
    }
    Ok(backends)
}

/// Every server's addresses with its weight.
fn servers(
    entry: &FileBackend,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<(Vec<SocketAddr>, Vec<u32>), ConfigError> {
    if entry.servers.get_ref().is_empty() {
        let what = "empty list (expected at least one \"host:port\")".to_owned();
        return Err(ctx.error(
            Some(entry.servers.span()),
            &format!("{label}.servers"),
            what,
        ));
    }
    let (mut servers, mut weights) = (Vec::new(), Vec::new());
    for (i, server) in entry.servers.get_ref().iter().enumerate() {
        let key = format!("{label}.servers[{i}]");
        let resolved = resolve_server(&server.get_ref().addr)
            .map_err(|what| ctx.error(Some(server.span()), &key, what))?;
        let weight_key = format!("{key}.weight");
        let weight = in_range(&server.get_ref().weight, &weight_key, limits::WEIGHT, ctx)?;
        for addr in resolved {
            // A name listed twice, or a name and its address, would double that
            // server's share of connections; keep the first occurrence only.
            if !servers.contains(&addr) {
                servers.push(addr);
                weights.push(weight.unwrap_or(1));
            }
        }
    }
    if weights.iter().all(|&w| w == 0) {
        let what = "every server has weight 0 (expected at least one server with a weight of 1 or more; weight 0 drains a server)".to_owned();
        return Err(ctx.error(
            Some(entry.servers.span()),
            &format!("{label}.servers"),
            what,
        ));
    }
    Ok((servers, weights))
}

fn balance(entry: &FileBackend, label: &str, ctx: &Ctx<'_>) -> Result<Balance, ConfigError> {
    let Some(value) = &entry.balance else {
        return Ok(Balance::RoundRobin);
    };
    Ok(match value.get_ref().as_str() {
        "round-robin" => Balance::RoundRobin,
        "least-connections" => Balance::LeastConnections,
        "client-id" => Balance::ClientId,
        "source" => Balance::Source,
        other => {
            let what = format!(
                "unknown balance {other:?} (expected \"round-robin\", \"least-connections\", \"client-id\" or \"source\")"
            );
            return Err(ctx.error(Some(value.span()), &format!("{label}.balance"), what));
        }
    })
}

fn health_check(
    check: &Spanned<FileHealthCheck>,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<HealthCheck, ConfigError> {
    let key = format!("{label}.health_check");
    let file = check.get_ref();
    let interval = file.interval.map_or(defaults::CHECK_INTERVAL, |d| d.0);
    let timeout = file
        .timeout
        .map_or(defaults::CHECK_TIMEOUT.min(interval), |d| d.0);
    let short = |name: &str, d: Duration| {
        let what = format!(
            "{name} {} is below the 100 ms the checks are timed on (expected at least \"100ms\")",
            super::format_duration(d)
        );
        ctx.error(Some(check.span()), &format!("{key}.{name}"), what)
    };
    if interval < limits::MIN_CHECK_PERIOD {
        return Err(short("interval", interval));
    }
    if timeout < limits::MIN_CHECK_PERIOD {
        return Err(short("timeout", timeout));
    }
    if timeout > interval {
        let what = format!(
            "timeout {} is longer than the interval {} (expected timeout <= interval: one check per server at a time)",
            super::format_duration(timeout),
            super::format_duration(interval)
        );
        return Err(ctx.error(Some(check.span()), &format!("{key}.timeout"), what));
    }
    let count = |value: &Option<Spanned<i64>>, name: &str, default: u32| {
        let range: RangeInclusive<i64> = limits::RISE_FALL;
        in_range(value, &format!("{key}.{name}"), range, ctx).map(|n| n.unwrap_or(default))
    };
    let rise = count(&file.rise, "rise", defaults::CHECK_RISE)?;
    let fall = count(&file.fall, "fall", defaults::CHECK_FALL)?;
    let kind = match file.kind.as_ref().map(|k| (k, k.get_ref().as_str())) {
        None | Some((_, "tcp")) => CheckKind::Tcp,
        Some((_, "mqtt")) => {
            let username = file.username.as_ref().map(|u| u.get_ref().as_str());
            let password = file.password.as_ref().map(|p| p.get_ref().as_bytes());
            let connect =
                crate::health::mqtt_check_connect("", username, password).map_err(|e| {
                    let span = file
                        .password
                        .as_ref()
                        .or(file.username.as_ref())
                        .map(Spanned::span);
                    let field = if file.password.is_some() {
                        "password"
                    } else {
                        "username"
                    };
                    ctx.error(
                        span,
                        &format!("{key}.{field}"),
                        format!("{e} (expected username with password, each at most 65535 bytes)"),
                    )
                })?;
            CheckKind::Mqtt { connect }
        }
        Some((k, other)) => {
            let what = format!("unknown check kind {other:?} (expected \"tcp\" or \"mqtt\")");
            return Err(ctx.error(Some(k.span()), &format!("{key}.kind"), what));
        }
    };
    if kind == CheckKind::Tcp
        && let Some((name, value)) = [("username", &file.username), ("password", &file.password)]
            .into_iter()
            .find_map(|(name, v)| v.as_ref().map(|v| (name, v)))
    {
        let what =
            format!("a tcp check sends no credentials (expected {name} only with kind = \"mqtt\")");
        return Err(ctx.error(Some(value.span()), &format!("{key}.{name}"), what));
    }
    Ok(HealthCheck {
        interval,
        timeout,
        rise,
        fall,
        kind,
    })
}

fn on_marked_down(
    entry: &FileBackend,
    checked: bool,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<OnMarkedDown, ConfigError> {
    let Some(value) = &entry.on_marked_down else {
        return Ok(OnMarkedDown::Keep);
    };
    let key = format!("{label}.on_marked_down");
    let mode = match value.get_ref().as_str() {
        "keep" => OnMarkedDown::Keep,
        "shutdown-sessions" => OnMarkedDown::ShutdownSessions,
        other => {
            let what =
                format!("unknown value {other:?} (expected \"keep\" or \"shutdown-sessions\")");
            return Err(ctx.error(Some(value.span()), &key, what));
        }
    };
    if mode == OnMarkedDown::ShutdownSessions && !checked {
        let what = "servers are only marked down by health checks (expected a health_check on this backend)".to_owned();
        return Err(ctx.error(Some(value.span()), &key, what));
    }
    Ok(mode)
}

/// `ip:port`, `[v6]:port` or `host:port`; a host name is resolved now, once, to all its
/// addresses (the runtime never calls the resolver: it would block a worker's ring).
fn resolve_server(text: &str) -> Result<Vec<SocketAddr>, String> {
    const EXPECTED: &str = "expected \"host:port\", \"ip:port\" or \"[ipv6]:port\"";
    let addrs = match text.parse::<SocketAddr>() {
        Ok(addr) => vec![addr],
        Err(_) => {
            let Some((host, port)) = text.rsplit_once(':') else {
                return Err(format!("{text:?} has no port ({EXPECTED})"));
            };
            if host.contains(':') {
                return Err(format!(
                    "{text:?}: an IPv6 address needs brackets ({EXPECTED})"
                ));
            }
            let Ok(port) = port.parse::<u16>() else {
                return Err(format!(
                    "{text:?}: invalid port {port:?} ({EXPECTED}, port 1..=65535)"
                ));
            };
            if host.is_empty() {
                return Err(format!("{text:?} has no host ({EXPECTED})"));
            }
            let addrs: Vec<SocketAddr> = (host, port)
                .to_socket_addrs()
                .map_err(|e| {
                    format!("cannot resolve host {host:?}: {e} ({EXPECTED} with a resolvable host)")
                })?
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "host {host:?} resolved to no address ({EXPECTED} with a resolvable host)"
                ));
            }
            addrs
        }
    };
    if addrs.iter().any(|a| a.port() == 0) {
        return Err(format!(
            "{text:?}: port 0 cannot be connected to ({EXPECTED}, port 1..=65535)"
        ));
    }
    Ok(addrs)
}

/// `proxy_protocol` and `proxy_v2_options`, as HAProxy's `send-proxy*` server keywords.
fn proxy_protocol(
    entry: &FileBackend,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<ProxyProtocol, ConfigError> {
    const MODES: &str = "expected one of \"none\", \"v1\", \"v2\", \"v2-ssl\", \"v2-ssl-cn\"";
    let mode = entry.proxy_protocol.as_ref();
    let base = match mode.map(|m| m.get_ref().as_str()) {
        None | Some("none") => None,
        Some("v1") => Some(ProxyProtocol::V1),
        Some("v2") => Some(ProxyProtocol::V2(V2Options::SEND_PROXY_V2)),
        Some("v2-ssl") => Some(ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL)),
        Some("v2-ssl-cn") => Some(ProxyProtocol::V2(V2Options::SEND_PROXY_V2_SSL_CN)),
        Some(other) => {
            let mode = mode.expect("matched Some");
            let what = format!("unknown PROXY protocol mode {other:?} ({MODES})");
            return Err(ctx.error(Some(mode.span()), &format!("{label}.proxy_protocol"), what));
        }
    };
    let options_key = format!("{label}.proxy_v2_options");
    let options = entry.proxy_v2_options.as_ref();
    let mut protocol = base.unwrap_or(ProxyProtocol::None);
    let Some(options) = options.filter(|o| !o.get_ref().is_empty()) else {
        return Ok(protocol);
    };
    let ProxyProtocol::V2(mut v2) = protocol else {
        let mode = mode.map_or("none", |m| m.get_ref().as_str());
        let what = format!(
            "options need a v2 mode, but proxy_protocol is {mode:?} (expected proxy_protocol = \"v2\", \"v2-ssl\" or \"v2-ssl-cn\")"
        );
        return Err(ctx.error(Some(options.span()), &options_key, what));
    };
    for (i, option) in options.get_ref().iter().enumerate() {
        v2 = v2.with_option(option.get_ref()).ok_or_else(|| {
            let known: Vec<String> = V2_OPTIONS.iter().map(|o| format!("{o:?}")).collect();
            let what = format!(
                "unknown option {:?} (expected HAProxy proxy-v2-options: {})",
                option.get_ref(),
                known.join(", ")
            );
            ctx.error(Some(option.span()), &format!("{options_key}[{i}]"), what)
        })?;
    }
    protocol = ProxyProtocol::V2(v2);
    Ok(protocol)
}
