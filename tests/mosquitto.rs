//! Interop with a real MQTT broker and clients (Debian's mosquitto) through ringress.

mod common;

use std::time::Duration;

use common::mosquitto::{self, Broker, Subscriber};
use common::{Proxy, ProxyConfig, WAIT, text};

fn pub_sub_through_proxy(qos: u8) {
    if !mosquitto::ensure_available() {
        return;
    }
    let broker = Broker::start();
    let proxy = Proxy::start(&ProxyConfig::to(&[broker.addr]));
    let addr = proxy.listen_addr("mqtt");
    let topic = format!("ringress/test/qos{qos}");
    let message = format!("hello over ringress qos {qos}");
    let sub_id = format!("ringress-sub-q{qos}");

    let mut sub = Subscriber::start(&broker, addr, &sub_id, &topic, qos);
    let (ok, out) = mosquitto::publish(addr, &topic, qos, &message);
    assert!(
        ok,
        "mosquitto_pub -q {qos} through the proxy failed:\n{out}\nbroker:\n{}",
        broker.log()
    );
    let (ok, stdout, stderr) = sub.finish(Duration::from_secs(20));
    assert!(
        ok && stdout.lines().any(|l| l == message),
        "mosquitto_sub did not print {message:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nbroker:\n{}",
        broker.log()
    );

    // Both clients really went through the proxy and ended cleanly. After DISCONNECT the
    // client and the broker both close, so either side's FIN may reach the proxy first.
    let logs = proxy.wait_for_count(
        "access-log lines for pub and sub",
        2,
        WAIT,
        common::is_access_log,
    );
    for log in &logs {
        assert_eq!(text(log, "server"), broker.addr.to_string(), "{log}");
        let end = text(log, "termination");
        assert!(end == "client_closed" || end == "server_closed", "{log}");
    }
}

#[test]
fn publish_and_subscribe_qos0_through_the_proxy() {
    pub_sub_through_proxy(0);
}

#[test]
fn publish_and_subscribe_qos1_through_the_proxy() {
    pub_sub_through_proxy(1);
}
