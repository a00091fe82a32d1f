//! TLS: the sans-IO session, ClientHello peek and record layers live in `ringress-core`
//! (re-exported here); this package builds the per-route [`rustls::ServerConfig`]s from the
//! config ([`server_config`]).

pub use ringress_core::tls::*;

pub(crate) mod server_config;

#[cfg(test)]
mod tests;
