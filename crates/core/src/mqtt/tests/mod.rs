//! The MQTT codecs' unit tests, by topic.

mod connect;
