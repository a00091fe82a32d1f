//! The TLS session's unit tests, in memory against a rustls client (`super::testbed`), by topic.

mod behind_finished;
mod client_hello;
mod failures;
mod fuzz;
mod records;
mod rustls_records;
mod session;
mod split_key_update;
