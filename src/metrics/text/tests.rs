use super::*;

#[test]
fn families_and_samples_render_byte_for_byte() {
    let mut e = Exposition::new();
    e.family("ringress_workers", Kind::Gauge, "Worker threads.");
    e.sample("ringress_workers", &[], 2);
    e.family(
        "ringress_connections_closed_total",
        Kind::Counter,
        "Connections closed, by termination.",
    );
    e.sample(
        "ringress_connections_closed_total",
        &[("listener", "mqtt"), ("termination", "client_closed")],
        3,
    );
    e.sample(
        "ringress_connections_closed_total",
        &[("listener", "mqtt"), ("termination", "error:server_reset")],
        18_446_744_073_709_551_615,
    );
    assert_eq!(
        e.finish(),
        "# HELP ringress_workers Worker threads.\n\
             # TYPE ringress_workers gauge\n\
             ringress_workers 2\n\
             # HELP ringress_connections_closed_total Connections closed, by termination.\n\
             # TYPE ringress_connections_closed_total counter\n\
             ringress_connections_closed_total{listener=\"mqtt\",termination=\"client_closed\"} 3\n\
             ringress_connections_closed_total{listener=\"mqtt\",termination=\"error:server_reset\"} 18446744073709551615\n"
    );
}

#[test]
fn label_values_and_help_are_escaped() {
    let mut e = Exposition::new();
    e.family("x_total", Kind::Counter, "a \\ b\nc \"q\"");
    e.sample("x_total", &[("l", "back\\slash \"quote\"\nline")], 0);
    assert_eq!(
        e.finish(),
        "# HELP x_total a \\\\ b\\nc \"q\"\n\
             # TYPE x_total counter\n\
             x_total{l=\"back\\\\slash \\\"quote\\\"\\nline\"} 0\n"
    );
}

#[test]
fn a_family_without_samples_is_just_its_header() {
    let mut e = Exposition::new();
    e.family("y_total", Kind::Counter, "None yet.");
    assert_eq!(
        e.finish(),
        "# HELP y_total None yet.\n# TYPE y_total counter\n"
    );
}
