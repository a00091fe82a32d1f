use super::*;

const DOC: &str = r#"[runtime]
workers = 2

[[listener]]
name = "mqtt"
bind = "127.0.0.1:1884"

[[listener]]
name = "bad name"
tls = "none"

[[backend]]
name = "broker"
servers = ["a:1", "b:2"]
"#;

fn path_of(needle: &str) -> Option<String> {
    key_path_at(DOC, DOC.find(needle).expect("needle in DOC"))
}

#[test]
fn lines_are_one_based() {
    assert_eq!(line_of("a\nb\nc", 0), 1);
    assert_eq!(line_of("a\nb\nc", 2), 2);
    assert_eq!(line_of("a\nb\nc", 4), 3);
    assert_eq!(line_of("a\n", 99), 2);
}

#[test]
fn paths_name_entries_by_name_or_position() {
    assert_eq!(path_of("workers").as_deref(), Some("runtime.workers"));
    assert_eq!(path_of("2\n").as_deref(), Some("runtime.workers"));
    assert_eq!(path_of("bind").as_deref(), Some("listener \"mqtt\".bind"));
    assert_eq!(path_of("tls").as_deref(), Some("listener[1].tls"));
    assert_eq!(
        path_of("\"b:2\"").as_deref(),
        Some("backend \"broker\".servers[1]")
    );
    assert_eq!(
        path_of("[[backend]]").as_deref(),
        Some("backend \"broker\"")
    );
    assert_eq!(path_of("\n\n[[listener]]"), None);
}

#[test]
fn names() {
    for good in ["mqtt", "a", "broker-1", "eu_west.2"] {
        assert!(is_valid_name(good), "{good}");
    }
    for bad in ["", "a b", "\"", "é", "a/b", "a:b"] {
        assert!(!is_valid_name(bad), "{bad}");
    }
}
