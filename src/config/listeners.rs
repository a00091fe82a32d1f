//! `[[listener]]` entries → [`Listener`]s. Routes, and so `routes` and `default_route`, are
//! filled in by `routes.rs` afterwards; this file checks which keys each TLS mode allows.

use std::collections::HashMap;
use std::net::SocketAddr;

use toml::Spanned;

use super::file::{ClientKeys, FileListener};
use super::locate::entry_label;
use super::validate::{Ctx, alpn, check_name, in_range, limits, non_empty, reference};
use super::{Backend, Cidr, ConfigError, Listener, TlsMode, TlsOffload, defaults};
use crate::relay::RelayMode;
use crate::route::RouteTable;
use crate::tls::server_config::MinTlsVersion;

/// What a terminate listener passes on to each of its routes' TLS configurations.
#[derive(Debug, Clone, Default)]
pub struct ListenerTls {
    pub min_version: MinTlsVersion,
    pub alpn: Vec<String>,
}

pub fn listeners(
    file: &[FileListener],
    backends: &[Backend],
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
            relay: relay_mode(entry, &label, ctx)?,
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
    } = entry.client_keys();
    let spans = [
        ("client_ca", client_ca.map(Spanned::span)),
        ("client_auth", client_auth.map(Spanned::span)),
        ("client_crl", client_crl.map(Spanned::span)),
        (
            "min_tls_version",
            entry.min_tls_version.as_ref().map(Spanned::span),
        ),
        ("alpn", entry.alpn.as_ref().map(Spanned::span)),
        ("tls_offload", entry.tls_offload.as_ref().map(Spanned::span)),
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
