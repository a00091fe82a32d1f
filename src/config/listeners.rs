//! `[[listener]]` entries → [`Listener`]s. Routes, and so `routes` and `default_route`, are
//! filled in by `routes.rs` afterwards; this file checks which keys each TLS mode allows.

use std::collections::HashMap;
use std::net::SocketAddr;

use toml::Spanned;

use super::duration::{
    DurationError, EXPECTED as DURATION_EXPECTED, max_ms, parse_duration, too_long,
};
use super::file::{ClientKeys, FileListener};
use super::locate::entry_label;
use super::validate::{Ctx, alpn, check_name, in_range, limits, non_empty, reference};
use super::{
    Backend, Cidr, ClientIdle, ConfigError, Listener, MqttListener, RecordLayer, SourceRate,
    Timeouts, TlsMode, TlsOffload, defaults,
};
use crate::relay::RelayMode;
use crate::route::RouteTable;
use crate::tls::server_config::MinTlsVersion;

/// What a terminate listener passes on to each of its routes' TLS configurations.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListenerTls {
    pub(crate) min_version: MinTlsVersion,
    pub(crate) alpn: Vec<String>,
}

pub(crate) fn listeners(
    file: &[FileListener],
    backends: &[Backend],
    timeouts: &Timeouts,
    ctx: &Ctx<'_>,
) -> Result<(Vec<Listener>, Vec<ListenerTls>), ConfigError> {
    let mut seen = HashMap::new();
    // Address -> (label, line) of the listener that binds it.
    let mut bound: HashMap<SocketAddr, (String, usize)> = HashMap::new();
    let mut listeners = Vec::with_capacity(file.len());
    let mut tls_settings = Vec::with_capacity(file.len());
    for (index, entry) in file.iter().enumerate() {
        check_name("listener", index, &entry.name, &mut seen, ctx)?;
        let label = entry_label("listener", index, Some(entry.name.get_ref()));
        let bind = bind_address(entry, &label, ctx)?;
        // Workers bind with SO_REUSEPORT, so the kernel would accept a second listener on the
        // same address and silently split its connections between the two: refuse it here.
        // Port 0 is exempt: each such listener gets its own port.
        if bind.port() != 0 {
            let line = ctx.line(&entry.bind.span());
            if let Some((other, other_line)) = bound.insert(bind, (label.clone(), line)) {
                let what = format!(
                    "{bind} is already bound by {other} at line {other_line} (expected a distinct address)"
                );
                return Err(ctx.error(Some(entry.bind.span()), &format!("{label}.bind"), what));
            }
        }
        let tls = tls_mode(entry.tls.as_ref(), &label, ctx)?;
        check_keys_for_mode(entry, tls, &label, ctx)?;
        let (accept_proxy, trusted_proxies) = proxy_in(entry, &label, ctx)?;
        let mqtt = mqtt(entry, tls, &label, ctx)?;
        listeners.push(Listener {
            name: entry.name.get_ref().clone(),
            bind,
            tls,
            backend: backend(entry, tls, &label, backends, ctx)?,
            max_connections: in_range(
                &entry.max_connections,
                &format!("{label}.max_connections"),
                limits::MAX_CONNECTIONS,
                ctx,
            )?
            .unwrap_or(defaults::MAX_CONNECTIONS),
            backlog: in_range(
                &entry.backlog,
                &format!("{label}.backlog"),
                limits::BACKLOG,
                ctx,
            )?
            .unwrap_or(defaults::BACKLOG),
            routes: RouteTable::new(),
            default_route: None,
            accept_proxy,
            trusted_proxies,
            tls_offload: tls_offload(entry.tls_offload.as_ref(), &label, ctx)?,
            tls_records: tls_records(entry.tls_records.as_ref(), &label, ctx)?,
            relay: relay_mode(entry, &label, ctx)?,
            mqtt,
            client_idle: client_idle(entry, mqtt.is_some(), timeouts, &label, ctx)?,
            rate_per_source: rate_per_source(entry, &label, ctx)?,
        });
        tls_settings.push(ListenerTls {
            min_version: min_tls_version(entry.min_tls_version.as_ref(), &label, ctx)?,
            alpn: match &entry.alpn {
                Some(list) => alpn(list, &format!("{label}.alpn"), ctx)?,
                None => Vec::new(),
            },
        });
    }
    Ok((listeners, tls_settings))
}

fn bind_address(
    entry: &FileListener,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<SocketAddr, ConfigError> {
    entry.bind.get_ref().parse().map_err(|_| {
        let what = format!(
            "{:?} is not an IP socket address (expected \"ip:port\" like \"127.0.0.1:1884\" or \"[::]:1884\"; host names are not resolved for bind)",
            entry.bind.get_ref()
        );
        ctx.error(Some(entry.bind.span()), &format!("{label}.bind"), what)
    })
}

fn tls_mode(
    tls: Option<&Spanned<String>>,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<TlsMode, ConfigError> {
    let Some(tls) = tls else {
        return Ok(TlsMode::None);
    };
    match tls.get_ref().as_str() {
        "none" => Ok(TlsMode::None),
        "terminate" => Ok(TlsMode::Terminate),
        "passthrough" => Ok(TlsMode::Passthrough),
        other => {
            let what = format!(
                "unknown tls mode {other:?} (expected one of \"none\", \"terminate\", \"passthrough\")"
            );
            Err(ctx.error(Some(tls.span()), &format!("{label}.tls"), what))
        }
    }
}

/// Keys that only some modes allow: routing keys need TLS (the SNI), TLS settings need
/// termination (a passthrough listener never sees the TLS session).
fn check_keys_for_mode(
    entry: &FileListener,
    tls: TlsMode,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<(), ConfigError> {
    if tls == TlsMode::None
        && let Some(value) = &entry.default_route
    {
        let what = "only allowed with tls = \"terminate\" or \"passthrough\" (expected backend = \"...\" for a tls = \"none\" listener, which has no SNI to route on)".to_owned();
        return Err(ctx.error(Some(value.span()), &format!("{label}.default_route"), what));
    }
    if tls == TlsMode::Terminate {
        return Ok(());
    }
    let ClientKeys {
        client_ca,
        client_auth,
        client_crl,
        client_crl_expiry,
    } = entry.client_keys();
    let spans = [
        ("client_ca", client_ca.map(Spanned::span)),
        ("client_auth", client_auth.map(Spanned::span)),
        ("client_crl", client_crl.map(Spanned::span)),
        ("client_crl_expiry", client_crl_expiry.map(Spanned::span)),
        (
            "min_tls_version",
            entry.min_tls_version.as_ref().map(Spanned::span),
        ),
        ("alpn", entry.alpn.as_ref().map(Spanned::span)),
        ("tls_offload", entry.tls_offload.as_ref().map(Spanned::span)),
        ("tls_records", entry.tls_records.as_ref().map(Spanned::span)),
    ];
    if let Some((key, Some(span))) = spans.into_iter().find(|(_, span)| span.is_some()) {
        let why = match tls {
            TlsMode::Passthrough => {
                "ringress does not see the TLS session of a passthrough listener"
            }
            _ => "a tls = \"none\" listener has no TLS",
        };
        let what = format!("only allowed with tls = \"terminate\" ({why})");
        return Err(ctx.error(Some(span), &format!("{label}.{key}"), what));
    }
    Ok(())
}

/// `backend` is required for `tls = "none"` and refused for the TLS modes, which route.
fn backend(
    entry: &FileListener,
    tls: TlsMode,
    label: &str,
    backends: &[Backend],
    ctx: &Ctx<'_>,
) -> Result<Option<usize>, ConfigError> {
    let key = format!("{label}.backend");
    match (&entry.backend, tls) {
        (Some(wanted), TlsMode::None) => {
            let names = backends.iter().map(|b| b.name.as_str());
            reference("backend", wanted, names, &key, ctx).map(Some)
        }
        (None, TlsMode::None) => {
            let span = entry.tls.as_ref().unwrap_or(&entry.name).span();
            let what = "tls = \"none\" listeners need backend (expected backend = \"<name of a [[backend]]>\")".to_owned();
            Err(ctx.error(Some(span), &key, what))
        }
        (Some(wanted), mode) => {
            let what = format!(
                "not allowed with tls = {:?}: connections are routed by SNI (expected [[route]] entries with listener = {:?}, and default_route for clients whose SNI matches none)",
                mode.as_str(),
                entry.name.get_ref()
            );
            Err(ctx.error(Some(wanted.span()), &key, what))
        }
        (None, _) => Ok(None),
    }
}

fn proxy_in(
    entry: &FileListener,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<(bool, Vec<Cidr>), ConfigError> {
    let key = format!("{label}.trusted_proxies");
    let mut trusted = Vec::new();
    if let Some(list) = &entry.trusted_proxies {
        let entries = non_empty(list, &key, "CIDRs like [\"10.0.0.0/8\"]", ctx)?;
        for (i, cidr) in entries.iter().enumerate() {
            trusted.push(
                Cidr::parse(cidr.get_ref())
                    .map_err(|what| ctx.error(Some(cidr.span()), &format!("{key}[{i}]"), what))?,
            );
        }
    }
    let accept_proxy = entry.accept_proxy.as_ref().is_some_and(|a| *a.get_ref());
    if accept_proxy && trusted.is_empty() {
        let span = entry.accept_proxy.as_ref().map(Spanned::span);
        let what = "accept_proxy = true needs trusted_proxies (expected trusted_proxies = [\"10.0.0.0/8\", ...] naming the load balancers allowed to send a PROXY header; anyone else could forge client addresses)".to_owned();
        return Err(ctx.error(span, &format!("{label}.accept_proxy"), what));
    }
    Ok((accept_proxy, trusted))
}

fn tls_offload(
    value: Option<&Spanned<String>>,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<TlsOffload, ConfigError> {
    match value.map(|v| v.get_ref().as_str()) {
        None | Some("auto") => Ok(TlsOffload::Auto),
        Some("kernel") => Ok(TlsOffload::Kernel),
        Some("userspace") => Ok(TlsOffload::Userspace),
        Some(other) => {
            let what = format!(
                "unknown tls_offload {other:?} (expected \"auto\", \"kernel\" or \"userspace\")"
            );
            let span = value.map(Spanned::span);
            Err(ctx.error(span, &format!("{label}.tls_offload"), what))
        }
    }
}

fn tls_records(
    value: Option<&Spanned<String>>,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<RecordLayer, ConfigError> {
    match value.map(|v| v.get_ref().as_str()) {
        None | Some("own") => Ok(RecordLayer::Own),
        Some("rustls") => Ok(RecordLayer::Rustls),
        Some(other) => {
            let what = format!("unknown tls_records {other:?} (expected \"own\" or \"rustls\")");
            let span = value.map(Spanned::span);
            Err(ctx.error(span, &format!("{label}.tls_records"), what))
        }
    }
}

/// `relay`: any mode may ask for splice except a terminate listener that keeps TLS in
/// userspace, where every byte passes through rustls and splice cannot apply.
fn relay_mode(entry: &FileListener, label: &str, ctx: &Ctx<'_>) -> Result<RelayMode, ConfigError> {
    let value = entry.relay.as_ref();
    let key = format!("{label}.relay");
    let mode = match value.map(|v| v.get_ref().as_str()) {
        None | Some("auto") => RelayMode::Auto,
        Some("splice") => RelayMode::Splice,
        Some("copy") => RelayMode::Copy,
        Some(other) => {
            let what =
                format!("unknown relay {other:?} (expected \"auto\", \"splice\" or \"copy\")");
            return Err(ctx.error(value.map(Spanned::span), &key, what));
        }
    };
    let userspace = entry
        .tls_offload
        .as_ref()
        .is_some_and(|o| o.get_ref() == "userspace");
    if mode == RelayMode::Splice && userspace {
        let what = "relay = \"splice\" needs the client's bytes in plaintext at the socket, but tls_offload = \"userspace\" decrypts them in userspace (expected relay = \"copy\" or \"auto\", or tls_offload = \"kernel\" or \"auto\")".to_owned();
        return Err(ctx.error(value.map(Spanned::span), &key, what));
    }
    Ok(mode)
}

fn min_tls_version(
    value: Option<&Spanned<String>>,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<MinTlsVersion, ConfigError> {
    match value.map(|v| v.get_ref().as_str()) {
        None | Some("1.2") => Ok(MinTlsVersion::Tls12),
        Some("1.3") => Ok(MinTlsVersion::Tls13),
        Some(other) => {
            let what = format!("unknown TLS version {other:?} (expected \"1.2\" or \"1.3\")");
            let span = value.map(Spanned::span);
            Err(ctx.error(span, &format!("{label}.min_tls_version"), what))
        }
    }
}

/// `mqtt` and `max_connect_size`: on plain and terminate listeners only, where ringress reads
/// the client's bytes.
fn mqtt(
    entry: &FileListener,
    tls: TlsMode,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<Option<MqttListener>, ConfigError> {
    let on = entry.mqtt.as_ref().is_some_and(|m| *m.get_ref());
    if on && tls == TlsMode::Passthrough {
        let span = entry.mqtt.as_ref().map(Spanned::span);
        let what = "not allowed with tls = \"passthrough\": the CONNECT travels inside TLS that ringress does not terminate (expected tls = \"terminate\" or \"none\", or mqtt = false)".to_owned();
        return Err(ctx.error(span, &format!("{label}.mqtt"), what));
    }
    let key = format!("{label}.max_connect_size");
    let size = in_range(&entry.max_connect_size, &key, limits::MAX_CONNECT_SIZE, ctx)?;
    if let (Some(value), false) = (&entry.max_connect_size, on) {
        let what = "only allowed with mqtt = true (expected mqtt = true on this listener)";
        return Err(ctx.error(Some(value.span()), &key, what.to_owned()));
    }
    Ok(on.then(|| MqttListener {
        max_connect_size: size.unwrap_or(defaults::MAX_CONNECT_SIZE),
    }))
}

/// The value of `client_idle` that derives the timeout from the CONNECT.
const MQTT_KEEPALIVE: &str = "mqtt-keepalive";

/// `client_idle`: a duration like `timeouts.client_idle`, or `"mqtt-keepalive"` on an
/// `mqtt = true` listener. Absent: `timeouts.client_idle`.
fn client_idle(
    entry: &FileListener,
    mqtt: bool,
    timeouts: &Timeouts,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<ClientIdle, ConfigError> {
    let Some(value) = &entry.client_idle else {
        return Ok(ClientIdle::Fixed(timeouts.client_idle));
    };
    let key = format!("{label}.client_idle");
    let text = value.get_ref().as_str();
    if text == MQTT_KEEPALIVE {
        if !mqtt {
            let what = "\"mqtt-keepalive\" needs mqtt = true: only an MQTT-aware listener reads the keep-alive (expected mqtt = true, or a duration like \"60s\")";
            return Err(ctx.error(Some(value.span()), &key, what.to_owned()));
        }
        return Ok(ClientIdle::MqttKeepalive);
    }
    match parse_duration(text) {
        Ok(d) if d > std::time::Duration::from_millis(max_ms::IDLE) => {
            Err(ctx.error(Some(value.span()), &key, too_long(text, max_ms::IDLE)))
        }
        Err(DurationError::Overflow) => {
            Err(ctx.error(Some(value.span()), &key, too_long(text, max_ms::IDLE)))
        }
        Ok(d) if !d.is_zero() => Ok(ClientIdle::Fixed(d)),
        Ok(_) => Err(ctx.error(
            Some(value.span()),
            &key,
            format!(
                "{text:?} is zero (expected a duration greater than zero, or \"mqtt-keepalive\")"
            ),
        )),
        Err(e) => Err(ctx.error(
            Some(value.span()),
            &key,
            format!("{e} {text:?} ({DURATION_EXPECTED}, or \"mqtt-keepalive\")"),
        )),
    }
}

/// `max_connection_rate_per_source = "20/s"`: a count, `/`, and a period: a unit alone
/// (`s`, `m`, `h`: one of it) or a duration (`"100/10s"`).
fn rate_per_source(
    entry: &FileListener,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<Option<SourceRate>, ConfigError> {
    let Some(value) = &entry.max_connection_rate_per_source else {
        return Ok(None);
    };
    let key = format!("{label}.max_connection_rate_per_source");
    let fail = |what: String| {
        let what = format!(
            "{what} (expected \"COUNT/PERIOD\" like \"20/s\", \"600/m\" or \"100/10s\", COUNT {}..={}, PERIOD at most {:?})",
            limits::RATE_CONNECTIONS.start(),
            limits::RATE_CONNECTIONS.end(),
            super::format_duration(std::time::Duration::from_millis(max_ms::RATE_PERIOD)),
        );
        Err(ctx.error(Some(value.span()), &key, what))
    };
    let text = value.get_ref().as_str();
    let Some((count, period)) = text.split_once('/') else {
        return fail(format!("{text:?} has no '/'"));
    };
    let Ok(connections) = count.parse::<u32>() else {
        return fail(format!("{count:?} is not a whole number"));
    };
    if !limits::RATE_CONNECTIONS.contains(&connections) {
        return fail(format!("{connections} is out of range"));
    }
    let per = match period {
        "s" | "m" | "h" => parse_duration(&format!("1{period}")),
        other => parse_duration(other),
    };
    match per {
        Ok(per) if per > std::time::Duration::from_millis(max_ms::RATE_PERIOD) => {
            fail(format!("period {period:?} is too long"))
        }
        Err(DurationError::Overflow) => fail(format!("period {period:?} is too long")),
        Ok(per) if !per.is_zero() => Ok(Some(SourceRate { connections, per })),
        Ok(_) => fail(format!("period {period:?} is zero")),
        Err(e) => fail(format!("period {period:?}: {e}")),
    }
}
