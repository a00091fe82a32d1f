//! `[[route]]` entries → [`Route`]s, each listener's SNI [`RouteTable`] and `default_route`,
//! and for terminate listeners each route's `rustls::ServerConfig` (files loaded now, so a
//! bad certificate stops ringress before it binds anything).
//!
//! Client-certificate settings are the listener's unless the route overrides them:
//! `client_ca` and `client_crl` (the whole list) replace the listener's; `client_auth`
//! defaults to `"required"` when a `client_ca` applies and to `"none"` otherwise;
//! `client_crl_expiry` defaults to `"enforce"`.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use super::file::{ClientKeys, FileListener, FileRoute};
use super::listeners::ListenerTls;
use super::locate::entry_label;
use super::validate::{Ctx, check_name, non_empty, reference};
use super::{Backend, ClientAuth, ConfigError, Listener, Route, TlsMode};
use crate::route::normalise_server_name;
use crate::tls::server_config::{CrlExpiry, ServerTlsSettings, TlsFile, build_server_config};

/// A value from the config with where it was written: its span and its key path.
struct Sourced<T> {
    value: T,
    span: Range<usize>,
    key: String,
}

pub(crate) fn routes(
    file: &[FileRoute],
    file_listeners: &[FileListener],
    listeners: &mut [Listener],
    listener_tls: &[ListenerTls],
    backends: &[Backend],
    ctx: &Ctx<'_>,
) -> Result<Vec<Route>, ConfigError> {
    let mut seen = HashMap::new();
    // (listener, normalised name) -> (route label, line), to name both routes on a clash.
    let mut claimed: HashMap<(usize, String), (String, usize)> = HashMap::new();
    let mut routes = Vec::with_capacity(file.len());
    for (index, entry) in file.iter().enumerate() {
        check_name("route", index, &entry.name, &mut seen, ctx)?;
        let label = entry_label("route", index, Some(entry.name.get_ref()));
        let names = listeners.iter().map(|l| l.name.as_str());
        let l = reference(
            "listener",
            &entry.listener,
            names,
            &format!("{label}.listener"),
            ctx,
        )?;
        let listener = &mut listeners[l];
        if listener.tls == TlsMode::None {
            let what = format!(
                "listener {:?} has tls = \"none\" and forwards everything to its backend (expected a listener with tls = \"terminate\" or \"passthrough\")",
                listener.name
            );
            return Err(ctx.error(
                Some(entry.listener.span()),
                &format!("{label}.listener"),
                what,
            ));
        }
        let backend = reference(
            "backend",
            &entry.backend,
            backends.iter().map(|b| b.name.as_str()),
            &format!("{label}.backend"),
            ctx,
        )?;

        let sni_key = format!("{label}.sni");
        let sni = non_empty(
            &entry.sni,
            &sni_key,
            "host names like [\"broker.example.com\"] or [\"*.tenant.example.com\"]",
            ctx,
        )?;
        let mut server_names = Vec::with_capacity(sni.len());
        for (i, name) in sni.iter().enumerate() {
            let key = format!("{sni_key}[{i}]");
            let normal = normalise_server_name(name.get_ref())
                .map_err(|what| ctx.error(Some(name.span()), &key, what))?;
            let here = (label.clone(), ctx.line(&name.span()));
            if let Some((other, line)) = claimed.insert((l, normal.clone()), here) {
                let what = format!(
                    "{:?} is already routed by {other} at line {line} on listener {:?} (expected each name in one route per listener)",
                    name.get_ref(),
                    listener.name
                );
                return Err(ctx.error(Some(name.span()), &key, what));
            }
            listener
                .routes
                .insert(&normal, routes.len())
                .expect("clashes were caught above");
            server_names.push(normal);
        }

        let (tls, client_auth, cert_algorithms) = match listener.tls {
            TlsMode::Terminate => {
                let settings = TerminateSettings::resolve(
                    entry,
                    &file_listeners[l],
                    &listener_tls[l],
                    &server_names,
                    &label,
                    ctx,
                )?;
                let config = build_server_config(&settings.tls)
                    .map_err(|e| settings.blame(e.file, e.to_string(), ctx))?;
                let algorithms = leaf_algorithms(&settings.tls.cert_chain);
                (Some(config), settings.tls.client_auth, algorithms)
            }
            _ => {
                check_passthrough_keys(entry, &label, ctx)?;
                (None, ClientAuth::None, None)
            }
        };
        routes.push(Route {
            name: entry.name.get_ref().clone(),
            listener: l,
            server_names,
            backend,
            tls,
            client_auth,
            cert_algorithms,
        });
    }
    default_routes(file_listeners, listeners, &routes, ctx)?;
    Ok(routes)
}

/// The leaf certificate's algorithms (the file already loaded once, so it parses).
fn leaf_algorithms(chain: &std::path::Path) -> Option<crate::tls::CertAlgorithms> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let leaf = CertificateDer::pem_file_iter(chain).ok()?.next()?.ok()?;
    crate::tls::CertAlgorithms::from_der(&leaf)
}

/// `cert`, `key` and the client keys belong to the TLS session, which ringress does not see
/// on a passthrough listener.
fn check_passthrough_keys(
    entry: &FileRoute,
    label: &str,
    ctx: &Ctx<'_>,
) -> Result<(), ConfigError> {
    let ClientKeys {
        client_ca,
        client_auth,
        client_crl,
        client_crl_expiry,
    } = entry.client_keys();
    let spans = [
        ("cert", entry.cert.as_ref().map(Spanned::span)),
        ("key", entry.key.as_ref().map(Spanned::span)),
        ("client_ca", client_ca.map(Spanned::span)),
        ("client_auth", client_auth.map(Spanned::span)),
        ("client_crl", client_crl.map(Spanned::span)),
        ("client_crl_expiry", client_crl_expiry.map(Spanned::span)),
    ];
    if let Some((key, Some(span))) = spans.into_iter().find(|(_, span)| span.is_some()) {
        let what = format!(
            "not allowed on a route of a tls = \"passthrough\" listener (ringress does not see that TLS session; expected {key} only with tls = \"terminate\")"
        );
        return Err(ctx.error(Some(span), &format!("{label}.{key}"), what));
    }
    Ok(())
}

/// A terminate route's TLS settings with where each file came from, to blame the right key
/// when a file is bad.
struct TerminateSettings {
    tls: ServerTlsSettings,
    cert: Sourced<()>,
    key: Sourced<()>,
    client_ca: Option<Sourced<()>>,
    client_crls: Vec<Sourced<()>>,
}

impl TerminateSettings {
    fn resolve(
        entry: &FileRoute,
        file_listener: &FileListener,
        listener_tls: &ListenerTls,
        server_names: &[String],
        label: &str,
        ctx: &Ctx<'_>,
    ) -> Result<TerminateSettings, ConfigError> {
        let required = |value: &Option<Spanned<String>>, key: &str, expected: &str| {
            let full_key = format!("{label}.{key}");
            match value {
                Some(v) => Ok(Sourced {
                    value: ctx.path(v, &full_key)?,
                    span: v.span(),
                    key: full_key,
                }),
                None => {
                    let what = format!(
                        "routes of a tls = \"terminate\" listener need {key} (expected {expected})"
                    );
                    Err(ctx.error(Some(entry.name.span()), &full_key, what))
                }
            }
        };
        let cert = required(
            &entry.cert,
            "cert",
            "a PEM file with the certificate chain, leaf first",
        )?;
        let key = required(
            &entry.key,
            "key",
            "a PEM file with the certificate's private key",
        )?;

        let listener_label = entry_label("listener", 0, Some(file_listener.name.get_ref()));
        let (route_keys, listener_keys) = (entry.client_keys(), file_listener.client_keys());
        // Route override first, then the listener's setting; each with its key path.
        fn pick<'a>(
            route: Option<&'a Spanned<String>>,
            listener: Option<&'a Spanned<String>>,
            labels: (&str, &str),
            name: &str,
        ) -> Option<(&'a Spanned<String>, String)> {
            let (route_label, listener_label) = labels;
            route
                .map(|v| (v, format!("{route_label}.{name}")))
                .or_else(|| listener.map(|v| (v, format!("{listener_label}.{name}"))))
        }
        let labels = (label, listener_label.as_str());
        let client_ca = match pick(
            route_keys.client_ca,
            listener_keys.client_ca,
            labels,
            "client_ca",
        ) {
            Some((v, key)) => Some(Sourced {
                value: ctx.path(v, &key)?,
                span: v.span(),
                key,
            }),
            None => None,
        };
        let client_auth = match pick(
            route_keys.client_auth,
            listener_keys.client_auth,
            labels,
            "client_auth",
        ) {
            Some((v, key)) => {
                let auth = match v.get_ref().as_str() {
                    "none" => ClientAuth::None,
                    "optional" => ClientAuth::Optional,
                    "required" => ClientAuth::Required,
                    other => {
                        let what = format!(
                            "unknown client_auth {other:?} (expected \"none\", \"optional\" or \"required\")"
                        );
                        return Err(ctx.error(Some(v.span()), &key, what));
                    }
                };
                if auth != ClientAuth::None && client_ca.is_none() {
                    let what = format!(
                        "client_auth = {:?} needs client_ca for {label} (expected client_ca = \"<PEM bundle of the CAs client certificates chain to>\" on the route or its listener)",
                        auth.as_str()
                    );
                    return Err(ctx.error(Some(v.span()), &key, what));
                }
                auth
            }
            None if client_ca.is_some() => ClientAuth::Required,
            None => ClientAuth::None,
        };
        let crl_list = match (route_keys.client_crl, listener_keys.client_crl) {
            (Some(list), _) => Some((list, format!("{label}.client_crl"))),
            (None, Some(list)) => Some((list, format!("{listener_label}.client_crl"))),
            (None, None) => None,
        };
        let crl_expiry = match pick(
            route_keys.client_crl_expiry,
            listener_keys.client_crl_expiry,
            labels,
            "client_crl_expiry",
        ) {
            None => CrlExpiry::default(),
            Some((v, key)) => match v.get_ref().as_str() {
                "enforce" => CrlExpiry::Enforce,
                "ignore" => CrlExpiry::Ignore,
                other => {
                    let what = format!(
                        "unknown client_crl_expiry {other:?} (expected \"enforce\" or \"ignore\")"
                    );
                    return Err(ctx.error(Some(v.span()), &key, what));
                }
            },
        };
        let mut client_crls = Vec::new();
        if let Some((list, list_key)) = crl_list {
            if !list.get_ref().is_empty() && client_ca.is_none() {
                let what = format!(
                    "CRLs need client_ca for {label} (expected client_ca on the route or its listener, naming the CAs that issued these CRLs)"
                );
                return Err(ctx.error(Some(list.span()), &list_key, what));
            }
            for (i, path) in list.get_ref().iter().enumerate() {
                let key = format!("{list_key}[{i}]");
                client_crls.push(Sourced {
                    value: ctx.path(path, &key)?,
                    span: path.span(),
                    key,
                });
            }
        }
        Ok(TerminateSettings {
            tls: ServerTlsSettings {
                cert_chain: cert.value.clone(),
                key: key.value.clone(),
                client_ca: client_ca.as_ref().map(|c| c.value.clone()),
                client_crls: client_crls.iter().map(|c| c.value.clone()).collect(),
                crl_expiry,
                client_auth,
                min_version: listener_tls.min_version,
                alpn: listener_tls.alpn.clone(),
                server_names: server_names.to_vec(),
            },
            cert: cert.without_value(),
            key: key.without_value(),
            client_ca: client_ca.map(Sourced::without_value),
            client_crls: client_crls
                .into_iter()
                .map(Sourced::without_value)
                .collect(),
        })
    }

    /// The error for a bad file, on the key that named it.
    fn blame(&self, file: TlsFile, what: String, ctx: &Ctx<'_>) -> ConfigError {
        let source = match file {
            TlsFile::CertChain => Some(&self.cert),
            TlsFile::Key => Some(&self.key),
            TlsFile::ClientCa => self.client_ca.as_ref(),
            TlsFile::ClientCrl(i) => self.client_crls.get(i),
        };
        let source = source.unwrap_or(&self.cert);
        ctx.error(Some(source.span.clone()), &source.key, what)
    }
}

impl Sourced<PathBuf> {
    fn without_value(self) -> Sourced<()> {
        Sourced {
            value: (),
            span: self.span,
            key: self.key,
        }
    }
}

/// Resolves each listener's `default_route` and checks that every TLS listener has routes.
fn default_routes(
    file_listeners: &[FileListener],
    listeners: &mut [Listener],
    routes: &[Route],
    ctx: &Ctx<'_>,
) -> Result<(), ConfigError> {
    for (l, (entry, listener)) in file_listeners.iter().zip(listeners.iter_mut()).enumerate() {
        let label = entry_label("listener", l, Some(entry.name.get_ref()));
        if listener.tls == TlsMode::None {
            continue;
        }
        if !routes.iter().any(|r| r.listener == l) {
            let span = entry.tls.as_ref().map(Spanned::span);
            let what = format!(
                "tls = {:?} listeners need at least one route (expected a [[route]] with listener = {:?})",
                listener.tls.as_str(),
                listener.name
            );
            return Err(ctx.error(span, &label, what));
        }
        let Some(wanted) = &entry.default_route else {
            continue;
        };
        let key = format!("{label}.default_route");
        let r = reference(
            "route",
            wanted,
            routes.iter().map(|r| r.name.as_str()),
            &key,
            ctx,
        )?;
        if routes[r].listener != l {
            let what = format!(
                "route {:?} belongs to listener {:?} (expected a route with listener = {:?})",
                routes[r].name,
                listeners_name(file_listeners, routes[r].listener),
                listener.name
            );
            return Err(ctx.error(Some(wanted.span()), &key, what));
        }
        listener.default_route = Some(r);
    }
    Ok(())
}

fn listeners_name(file_listeners: &[FileListener], index: usize) -> &str {
    file_listeners
        .get(index)
        .map_or("?", |l| l.name.get_ref().as_str())
}
