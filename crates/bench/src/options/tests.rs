use super::*;

#[test]
fn durations() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
    assert!(parse_duration("1d").is_err());
}

#[test]
fn source_range() {
    let v = expand_range("127.0.0.2-127.0.0.4").unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(v[2], Ipv4Addr::new(127, 0, 0, 4));
    assert!(expand_range("127.0.0.4-127.0.0.2").is_err());
}

#[test]
fn total_rate_is_split_over_connections() {
    let o = Options::try_parse_from([
        "x",
        "-t",
        "127.0.0.1:1",
        "-n",
        "10",
        "--total-rate",
        "1000",
        "--batch",
        "2",
    ])
    .unwrap();
    let p = o.plan().unwrap();
    assert_eq!(p.write_interval, Some(Duration::from_millis(20)));
}

#[test]
fn churn_rate_is_split_over_slots() {
    let o = Options::try_parse_from([
        "x",
        "-t",
        "127.0.0.1:1",
        "-n",
        "50",
        "--churn",
        "--churn-rate",
        "25",
    ])
    .unwrap();
    assert_eq!(
        o.plan().unwrap().churn_interval,
        Some(Duration::from_secs(2))
    );
}

#[test]
fn churn_rate_needs_churn_and_a_positive_rate() {
    let base = ["x", "-t", "127.0.0.1:1", "--churn-rate"];
    assert!(Options::try_parse_from(base.iter().chain(&["5"])).is_err());
    let o = Options::try_parse_from(base.iter().chain(&["0", "--churn"])).unwrap();
    assert!(o.plan().is_err());
    let o = Options::try_parse_from(["x", "-t", "127.0.0.1:1", "--churn"]).unwrap();
    assert_eq!(o.plan().unwrap().churn_interval, None);
}
