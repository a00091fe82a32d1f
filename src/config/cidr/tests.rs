use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn v4_blocks() {
    let c = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(c.contains(ip("10.0.0.1")));
    assert!(c.contains(ip("10.255.255.255")));
    assert!(!c.contains(ip("11.0.0.0")));
    assert!(!c.contains(ip("9.255.255.255")));
    assert!(!c.contains(ip("::1")));
    assert_eq!(c.to_string(), "10.0.0.0/8");
    let c = Cidr::parse("192.168.1.0/24").unwrap();
    assert!(c.contains(ip("192.168.1.77")));
    assert!(!c.contains(ip("192.168.2.1")));
}

#[test]
fn single_hosts_and_everything() {
    let c = Cidr::parse("10.1.2.3").unwrap();
    assert_eq!(c.to_string(), "10.1.2.3/32");
    assert!(c.contains(ip("10.1.2.3")));
    assert!(!c.contains(ip("10.1.2.4")));
    let all = Cidr::parse("0.0.0.0/0").unwrap();
    assert!(all.contains(ip("255.255.255.255")));
    assert!(all.contains(ip("::ffff:1.2.3.4")));
    assert!(!all.contains(ip("2001:db8::1")));
    let all6 = Cidr::parse("::/0").unwrap();
    assert!(all6.contains(ip("2001:db8::1")));
    assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
}

#[test]
fn v6_blocks() {
    let c = Cidr::parse("2001:db8::/32").unwrap();
    assert!(c.contains(ip("2001:db8:ffff::1")));
    assert!(!c.contains(ip("2001:db9::1")));
    assert!(!c.contains(ip("32.1.13.184")));
    let c = Cidr::parse("fd00::/7").unwrap_err();
    assert!(c.contains("host bits set"), "{c}");
    assert!(Cidr::parse("fc00::/7").unwrap().contains(ip("fdab::1")));
}

#[test]
fn mapped_clients_match_v4_blocks() {
    let c = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(c.contains(ip("::ffff:10.9.8.7")));
    assert!(!c.contains(ip("::ffff:11.0.0.1")));
    // A block written in mapped form is the IPv4 block it denotes.
    let m = Cidr::parse("::ffff:10.0.0.0/104").unwrap();
    assert_eq!(m, c);
    assert!(m.contains(ip("10.1.1.1")));
    assert!(m.contains(ip("::ffff:10.1.1.1")));
}

#[test]
fn malformed_blocks_are_rejected() {
    for (bad, what) in [
        ("10.0.0.0/33", "prefix \"33\" out of range"),
        ("::/129", "prefix 0..=128"),
        ("10.0.0.0/", "prefix \"\" out of range"),
        ("10.0.0.0/+8", "out of range"),
        ("10.0.0/8", "is not an IP address"),
        ("localhost", "is not an IP address"),
        ("", "is not an IP address"),
        ("10.0.0.1/8", "has host bits set"),
    ] {
        let err = Cidr::parse(bad).unwrap_err();
        assert!(err.contains(what), "{bad:?}: {err}");
        assert!(err.contains("expected \"ip/prefix\""), "{err}");
    }
    let err = Cidr::parse("10.0.0.1/8").unwrap_err();
    assert!(err.contains("did you mean \"10.0.0.0/8\""), "{err}");
}
