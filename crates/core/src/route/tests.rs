use super::*;

fn table(names: &[(&str, usize)]) -> RouteTable {
    let mut t = RouteTable::new();
    for (name, route) in names {
        t.insert(&normalise_server_name(name).unwrap(), *route)
            .unwrap();
    }
    t
}

#[test]
fn exact_names_match() {
    let t = table(&[("test1.example.com", 0), ("test2.example.com", 1)]);
    assert_eq!(t.lookup("test1.example.com"), Some(0));
    assert_eq!(t.lookup("test2.example.com"), Some(1));
    assert_eq!(t.len(), 2);
}

#[test]
fn wildcard_matches_one_label_only() {
    let t = table(&[("*.tenant.example.com", 3)]);
    assert_eq!(t.lookup("x.tenant.example.com"), Some(3));
    assert_eq!(t.lookup("a-1.tenant.example.com"), Some(3));
    assert_eq!(t.lookup("a.b.tenant.example.com"), None);
    assert_eq!(t.lookup("tenant.example.com"), None);
    assert_eq!(t.lookup(".tenant.example.com"), None);
    assert_eq!(t.lookup("xtenant.example.com"), None);
}

#[test]
fn exact_wins_over_wildcard() {
    let t = table(&[("*.tenant.example.com", 0), ("vip.tenant.example.com", 1)]);
    assert_eq!(t.lookup("vip.tenant.example.com"), Some(1));
    assert_eq!(t.lookup("other.tenant.example.com"), Some(0));
}

#[test]
fn case_is_ignored_both_ways() {
    let t = table(&[("Test1.Example.COM", 0), ("*.Tenant.example.com", 1)]);
    assert_eq!(t.lookup("TEST1.example.com"), Some(0));
    assert_eq!(t.lookup("test1.example.com"), Some(0));
    assert_eq!(t.lookup("X.TENANT.EXAMPLE.COM"), Some(1));
}

#[test]
fn one_trailing_dot_is_ignored() {
    let t = table(&[("test1.example.com.", 0)]);
    assert_eq!(t.lookup("test1.example.com."), Some(0));
    assert_eq!(t.lookup("test1.example.com"), Some(0));
    assert_eq!(t.lookup("test1.example.com.."), None);
}

#[test]
fn unknown_empty_too_long_and_non_ascii_match_nothing() {
    let t = table(&[("test1.example.com", 0), ("*.example.com", 1)]);
    assert_eq!(t.lookup("test1.example.org"), None);
    assert_eq!(t.lookup(""), None);
    assert_eq!(t.lookup("."), None);
    let long = format!("{}.example.com", "a.".repeat(130));
    assert!(long.len() > MAX_NAME_LEN);
    assert_eq!(t.lookup(&long), None);
    assert_eq!(t.lookup("tëst.example.com"), None);
}

#[test]
fn longest_allowed_name_matches() {
    // 61 + 1 + 63*3 + 2 = 253 bytes.
    let label = "a".repeat(63);
    let name = format!("{}.{label}.{label}.{label}", "b".repeat(61));
    assert_eq!(name.len(), MAX_NAME_LEN);
    let t = table(&[(&name, 7)]);
    assert_eq!(t.lookup(&name), Some(7));
    assert_eq!(t.lookup(&format!("{name}.")), Some(7));
}

#[test]
fn ip_literals_match_nothing() {
    let t = table(&[("*.0.0.example.com", 0)]);
    assert_eq!(t.lookup("10.0.0.1"), None);
    assert_eq!(t.lookup("::1"), None);
    assert_eq!(t.lookup("127.0.0.1."), None);
}

#[test]
fn a_name_is_taken_once() {
    let mut t = table(&[("a.example.com", 0), ("*.example.com", 1)]);
    assert_eq!(t.insert("a.example.com", 2), Err(0));
    assert_eq!(t.insert("*.example.com", 2), Err(1));
    assert_eq!(t.lookup("a.example.com"), Some(0));
}

#[test]
fn configured_names_are_validated() {
    for (good, normal) in [
        ("a.example.com", "a.example.com"),
        ("A.Example.COM.", "a.example.com"),
        ("localhost", "localhost"),
        ("*.tenant.example.com", "*.tenant.example.com"),
        ("1password.com", "1password.com"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ] {
        assert_eq!(normalise_server_name(good).as_deref(), Ok(normal), "{good}");
    }
    for (bad, what) in [
        ("", "empty server name"),
        (".", "empty server name"),
        ("a..b", "empty label"),
        ("a_b.example.com", "character '_' not allowed"),
        ("-a.example.com", "starts or ends with '-'"),
        (
            "a.*.example.com",
            "a wildcard must be the whole first label",
        ),
        ("x*.example.com", "a wildcard must be the whole first label"),
        ("*.com", "at least two labels"),
        ("**.example.com", "character '*' not allowed"),
        ("10.0.0.1", "is an IP address"),
        ("::1", "is an IP address"),
        ("1.2.3.4.5", "all-numeric last label"),
        ("tëst.example.com", "not allowed"),
        (&format!("{}.com", "a".repeat(64)), "longer than 63"),
        (&"a.".repeat(128), "longer than 253"),
    ] {
        let err = normalise_server_name(bad).unwrap_err();
        assert!(err.contains(what), "{bad:?}: {err}");
        assert!(err.contains("expected a DNS name"), "{err}");
    }
}
