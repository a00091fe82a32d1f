//! The serde file model: the TOML as written, before any checking beyond types.
//!
//! `deny_unknown_fields` everywhere, so a misspelt key is an error instead of a silently
//! ignored setting. Integers are read as `i64` and range-checked in `validate.rs`, so that
//! `workers = -1` gets the same "out of range (expected 1..=1024)" message as
//! `workers = 5000` rather than serde's "expected usize". Fields checked after parsing are
//! `Spanned`, so their errors can name the line.

use serde::Deserialize;
use toml::Spanned;

use super::duration::{AnyDuration, NonZeroDuration};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub runtime: FileRuntime,
    #[serde(default)]
    pub timeouts: FileTimeouts,
    #[serde(default)]
    pub listener: Vec<FileListener>,
    #[serde(default)]
    pub backend: Vec<FileBackend>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRuntime {
    pub workers: Option<Spanned<i64>>,
    pub pin_workers: Option<bool>,
    pub shutdown_grace: Option<AnyDuration>,
    pub relay_buffer_size: Option<Spanned<i64>>,
    pub relay_buffers: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTimeouts {
    pub client_idle: Option<NonZeroDuration>,
    pub server_idle: Option<NonZeroDuration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileListener {
    pub name: Spanned<String>,
    pub bind: Spanned<String>,
    pub tls: Option<Spanned<String>>,
    pub backend: Spanned<String>,
    pub max_connections: Option<Spanned<i64>>,
    pub backlog: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBackend {
    pub name: Spanned<String>,
    pub servers: Spanned<Vec<Spanned<String>>>,
    pub connect_timeout: Option<NonZeroDuration>,
}
