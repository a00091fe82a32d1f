use super::*;

fn collect(set: &CounterSet<(u16, &'static str)>) -> Vec<((u16, &'static str), u64)> {
    let mut out = Vec::new();
    set.for_each(|k, v| out.push((k, v)));
    out
}

#[test]
fn keys_count_separately_in_order_of_first_use() {
    let set = CounterSet::default();
    set.add((0, "client_closed"), 1);
    set.add((1, "client_closed"), 1);
    set.add((0, "client_closed"), 2);
    set.add((0, "tls_not_tls"), 1);
    assert_eq!(
        collect(&set),
        [
            ((0, "client_closed"), 3),
            ((1, "client_closed"), 1),
            ((0, "tls_not_tls"), 1)
        ]
    );
    assert_eq!(set.dropped(), 0);
}

#[test]
fn a_full_set_counts_what_it_drops() {
    let set: CounterSet<(u16, &'static str)> = CounterSet::default();
    for i in 0..CAPACITY as u16 {
        set.add((i, "k"), 1);
    }
    set.add((CAPACITY as u16, "k"), 5);
    set.add((0, "k"), 1);
    assert_eq!(set.dropped(), 5);
    assert_eq!(collect(&set).len(), CAPACITY);
    assert_eq!(collect(&set)[0], ((0, "k"), 2));
}
