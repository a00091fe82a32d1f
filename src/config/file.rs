//! The serde file model: the TOML as written, before any checking beyond types.
//!
//! `deny_unknown_fields` everywhere, so a misspelt key is an error instead of a silently
//! ignored setting. Integers are read as `i64` and range-checked in `validate.rs`, so that
//! `workers = -1` gets the same "out of range (expected 1..=1024)" message as
//! `workers = 5000` rather than serde's "expected usize". Fields checked after parsing are
//! `Spanned`, so their errors can name the line.

use serde::Deserialize;
use toml::Spanned;

use super::duration::{AnyDuration, NonZeroDuration, max_ms};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) runtime: FileRuntime,
    #[serde(default)]
    pub(crate) timeouts: FileTimeouts,
    #[serde(default)]
    pub(crate) listener: Vec<FileListener>,
    #[serde(default)]
    pub(crate) route: Vec<FileRoute>,
    #[serde(default)]
    pub(crate) backend: Vec<FileBackend>,
    pub(crate) admin: Option<FileAdmin>,
}

/// `[admin]`: the metrics endpoint. Absent: no admin listener.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAdmin {
    pub(crate) listen: Spanned<String>,
}

/// A list of strings, each with its span, and the list's own span.
pub(crate) type SpannedList = Spanned<Vec<Spanned<String>>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRuntime {
    pub(crate) workers: Option<Spanned<i64>>,
    pub(crate) pin_workers: Option<bool>,
    pub(crate) shutdown_grace: Option<AnyDuration<{ max_ms::SHUTDOWN_GRACE }>>,
    pub(crate) relay_buffer_size: Option<Spanned<i64>>,
    pub(crate) relay_buffers: Option<Spanned<i64>>,
    pub(crate) relay_pipes: Option<Spanned<i64>>,
    pub(crate) relay_pipe_size: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileTimeouts {
    pub(crate) client_idle: Option<NonZeroDuration<{ max_ms::IDLE }>>,
    pub(crate) server_idle: Option<NonZeroDuration<{ max_ms::IDLE }>>,
    pub(crate) handshake: Option<NonZeroDuration<{ max_ms::HANDSHAKE }>>,
    pub(crate) keepalive_idle_min: Option<Spanned<NonZeroDuration<{ max_ms::IDLE }>>>,
    pub(crate) keepalive_idle_max: Option<Spanned<NonZeroDuration<{ max_ms::IDLE }>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileListener {
    pub(crate) name: Spanned<String>,
    pub(crate) bind: Spanned<String>,
    pub(crate) tls: Option<Spanned<String>>,
    pub(crate) backend: Option<Spanned<String>>,
    pub(crate) max_connections: Option<Spanned<i64>>,
    pub(crate) backlog: Option<Spanned<i64>>,
    pub(crate) default_route: Option<Spanned<String>>,
    pub(crate) accept_proxy: Option<Spanned<bool>>,
    pub(crate) trusted_proxies: Option<SpannedList>,
    pub(crate) min_tls_version: Option<Spanned<String>>,
    pub(crate) tls_offload: Option<Spanned<String>>,
    pub(crate) tls_records: Option<Spanned<String>>,
    pub(crate) relay: Option<Spanned<String>>,
    pub(crate) alpn: Option<SpannedList>,
    pub(crate) client_ca: Option<Spanned<String>>,
    pub(crate) client_auth: Option<Spanned<String>>,
    pub(crate) client_crl: Option<SpannedList>,
    pub(crate) client_crl_expiry: Option<Spanned<String>>,
    pub(crate) mqtt: Option<Spanned<bool>>,
    pub(crate) max_connect_size: Option<Spanned<i64>>,
    /// A duration, or `"mqtt-keepalive"`: parsed in `listeners.rs`.
    pub(crate) client_idle: Option<Spanned<String>>,
    pub(crate) max_connection_rate_per_source: Option<Spanned<String>>,
}

/// The client-certificate keys, allowed on a terminate listener and, as overrides, on its
/// routes. Written out in both structs because `#[serde(flatten)]` loses spans and
/// `deny_unknown_fields`; this borrowed view lets validation treat them alike.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientKeys<'a> {
    pub(crate) client_ca: Option<&'a Spanned<String>>,
    pub(crate) client_auth: Option<&'a Spanned<String>>,
    pub(crate) client_crl: Option<&'a SpannedList>,
    pub(crate) client_crl_expiry: Option<&'a Spanned<String>>,
}

impl FileListener {
    pub(crate) fn client_keys(&self) -> ClientKeys<'_> {
        ClientKeys {
            client_ca: self.client_ca.as_ref(),
            client_auth: self.client_auth.as_ref(),
            client_crl: self.client_crl.as_ref(),
            client_crl_expiry: self.client_crl_expiry.as_ref(),
        }
    }
}

impl FileRoute {
    pub(crate) fn client_keys(&self) -> ClientKeys<'_> {
        ClientKeys {
            client_ca: self.client_ca.as_ref(),
            client_auth: self.client_auth.as_ref(),
            client_crl: self.client_crl.as_ref(),
            client_crl_expiry: self.client_crl_expiry.as_ref(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileRoute {
    pub(crate) name: Spanned<String>,
    pub(crate) listener: Spanned<String>,
    pub(crate) sni: SpannedList,
    pub(crate) cert: Option<Spanned<String>>,
    pub(crate) key: Option<Spanned<String>>,
    pub(crate) backend: Spanned<String>,
    pub(crate) client_ca: Option<Spanned<String>>,
    pub(crate) client_auth: Option<Spanned<String>>,
    pub(crate) client_crl: Option<SpannedList>,
    pub(crate) client_crl_expiry: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileBackend {
    pub(crate) name: Spanned<String>,
    pub(crate) servers: Spanned<Vec<Spanned<FileServer>>>,
    pub(crate) connect_timeout: Option<NonZeroDuration<{ max_ms::CONNECT_TIMEOUT }>>,
    pub(crate) proxy_protocol: Option<Spanned<String>>,
    pub(crate) proxy_v2_options: Option<SpannedList>,
    pub(crate) balance: Option<Spanned<String>>,
    pub(crate) health_check: Option<Spanned<FileHealthCheck>>,
    pub(crate) on_marked_down: Option<Spanned<String>>,
}

/// One entry of `servers`: `"host:port"`, or `{ addr = "host:port", weight = 3 }` for a
/// server with a weight. The string form is the one every existing config uses, so it stays.
#[derive(Debug)]
pub(crate) struct FileServer {
    pub(crate) addr: String,
    pub(crate) weight: Option<Spanned<i64>>,
}

impl<'de> Deserialize<'de> for FileServer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // By hand rather than `#[serde(untagged)]`: untagged buffers the value, and a
        // buffered value loses the spans `Spanned` needs for line numbers.
        struct ServerVisitor;
        impl<'de> serde::de::Visitor<'de> for ServerVisitor {
            type Value = FileServer;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"host:port\" or a table { addr = \"host:port\", weight = 1 }")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<FileServer, E> {
                Ok(FileServer {
                    addr: text.to_owned(),
                    weight: None,
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<FileServer, A::Error> {
                let (mut addr, mut weight) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "addr" if addr.is_none() => addr = Some(map.next_value::<String>()?),
                        "weight" if weight.is_none() => weight = Some(map.next_value()?),
                        "addr" | "weight" => {
                            return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
                        }
                        other => {
                            return Err(serde::de::Error::unknown_field(
                                other,
                                &["addr", "weight"],
                            ));
                        }
                    }
                }
                let addr = addr.ok_or_else(|| serde::de::Error::missing_field("addr"))?;
                Ok(FileServer { addr, weight })
            }
        }
        deserializer.deserialize_any(ServerVisitor)
    }
}

/// `health_check = { ... }` of a backend.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileHealthCheck {
    pub(crate) interval: Option<NonZeroDuration<{ max_ms::CHECK_PERIOD }>>,
    pub(crate) timeout: Option<NonZeroDuration<{ max_ms::CHECK_PERIOD }>>,
    pub(crate) rise: Option<Spanned<i64>>,
    pub(crate) fall: Option<Spanned<i64>>,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) username: Option<Spanned<String>>,
    pub(crate) password: Option<Spanned<String>>,
}
