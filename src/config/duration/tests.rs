use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn parses_single_units() {
    assert_eq!(parse_duration("500ms"), Ok(ms(500)));
    assert_eq!(parse_duration("1s"), Ok(ms(1_000)));
    assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
    assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
    assert_eq!(parse_duration("0s"), Ok(ms(0)));
}

#[test]
fn parses_compound() {
    assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
    assert_eq!(parse_duration("1h2m3s4ms"), Ok(ms(3_723_004)));
    assert_eq!(parse_duration("1s500ms"), Ok(ms(1_500)));
}

#[test]
fn rejects_malformed() {
    use DurationError::*;
    let cases = [
        ("", Empty),
        ("30", MissingUnit),
        ("1m30", MissingUnit),
        ("s", Malformed),
        ("1.5s", Malformed),
        (" 1s", Malformed),
        ("1s ", Malformed),
        ("-1s", Malformed),
        ("3d", UnknownUnit),
        ("5us", UnknownUnit),
        ("1S", UnknownUnit),
        ("30s1m", UnitOrder),
        ("1s1s", UnitOrder),
        ("99999999999999999999s", Overflow),
        ("18446744073709551615h", Overflow),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), Err(want), "{text:?}");
    }
}

#[test]
fn formats_like_it_parses() {
    assert_eq!(format_duration(ms(0)), "0s");
    assert_eq!(format_duration(ms(500)), "500ms");
    assert_eq!(format_duration(ms(1_000)), "1s");
    assert_eq!(format_duration(ms(90_000)), "1m30s");
    assert_eq!(format_duration(ms(3_600_000)), "1h");
    assert_eq!(format_duration(Duration::from_micros(1_500)), "1.5ms");
}

#[test]
fn round_trips() {
    for n in [
        0, 1, 999, 1_000, 1_001, 59_999, 60_000, 90_500, 3_600_000, 86_400_123,
    ] {
        let text = format_duration(ms(n));
        assert_eq!(parse_duration(&text), Ok(ms(n)), "{text}");
    }
    for text in ["500ms", "1s", "2m", "1h", "1m30s", "1h1m1s1ms"] {
        assert_eq!(format_duration(parse_duration(text).unwrap()), text);
    }
}
