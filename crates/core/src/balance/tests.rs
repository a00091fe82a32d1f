use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

fn selector(balance: Balance, weights: &[u32]) -> Selector {
    let ids: Vec<String> = (0..weights.len())
        .map(|i| format!("mqtt-{i}:1883"))
        .collect();
    let specs: Vec<ServerSpec<'_>> = ids
        .iter()
        .zip(weights)
        .map(|(id, &weight)| ServerSpec { id, weight })
        .collect();
    Selector::new(balance, &specs)
}

fn counts(sel: &mut Selector, picks: usize, up: &[bool], active: &[u32]) -> Vec<usize> {
    let mut n = vec![0; sel.len()];
    for _ in 0..picks {
        n[sel.pick(None, up, active).unwrap()] += 1;
    }
    n
}

// ---- the hash ----

#[test]
fn fnv1a64_reference_vectors() {
    // From the FNV reference test suite.
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    assert_eq!(fmix64(0), 0);
}

#[test]
fn stable_hash_is_pinned() {
    // Changing the hash moves every client to another server: this must never change.
    assert_eq!(stable_hash(b""), PINNED_EMPTY);
    assert_eq!(stable_hash(b"device-0001"), PINNED_DEVICE);
}

// Computed independently of this code (a short Python script), and matching it.
const PINNED_EMPTY: u64 = 0xefd0_1f60_ba99_2926;
const PINNED_DEVICE: u64 = 0x79f4_88b5_82d8_d8ea;

// ---- round-robin ----

#[test]
fn smooth_round_robin_matches_nginx() {
    // nginx's documented sequence for weights a=5, b=1, c=1.
    let mut sel = selector(Balance::RoundRobin, &[5, 1, 1]);
    let up = [true; 3];
    let seq: Vec<usize> = (0..7).map(|_| sel.pick(None, &up, &[]).unwrap()).collect();
    assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0]);
}

#[test]
fn round_robin_is_proportional_to_weight() {
    let mut sel = selector(Balance::RoundRobin, &[1, 2, 3, 0]);
    assert_eq!(counts(&mut sel, 600, &[true; 4], &[]), [100, 200, 300, 0]);
}

#[test]
fn round_robin_skips_down_servers() {
    let mut sel = selector(Balance::RoundRobin, &[1, 1, 1]);
    let up = [true, false, true];
    assert_eq!(counts(&mut sel, 100, &up, &[]), [50, 0, 50]);
    assert_eq!(sel.pick(None, &[false; 3], &[]), None);
    // Missing entries count as down.
    assert_eq!(sel.pick(None, &[true], &[]), Some(0));
    assert_eq!(sel.pick(None, &[], &[]), None);
}

#[test]
fn stagger_spreads_workers_first_picks() {
    let firsts: Vec<usize> = (0..3)
        .map(|worker| {
            let mut sel = selector(Balance::RoundRobin, &[1, 1, 1]);
            sel.stagger(worker);
            sel.pick(None, &[true; 3], &[]).unwrap()
        })
        .collect();
    assert_eq!(firsts, [0, 1, 2]);
}

#[test]
fn no_servers() {
    let mut sel = selector(Balance::ClientId, &[]);
    assert!(sel.is_empty());
    assert_eq!(sel.pick(Some(b"c"), &[], &[]), None);
    sel.stagger(3);
}

// ---- least connections ----

#[test]
fn least_connections_weighs_active_counts() {
    let mut sel = selector(Balance::LeastConnections, &[1, 1, 1]);
    assert_eq!(sel.pick(None, &[true; 3], &[5, 2, 9]), Some(1));
    // (3+1)/2 = 2 beats (2+1)/1 = 3.
    let mut sel = selector(Balance::LeastConnections, &[2, 1]);
    assert_eq!(sel.pick(None, &[true; 2], &[3, 2]), Some(0));
    // Idle servers with weights 3:1 take new connections 3:1.
    let mut sel = selector(Balance::LeastConnections, &[3, 1]);
    let mut active = [0u32; 2];
    for _ in 0..400 {
        let i = sel.pick(None, &[true; 2], &active).unwrap();
        active[i] += 1;
    }
    assert_eq!(active, [300, 100]);
}

#[test]
fn least_connections_ties_go_round() {
    let mut sel = selector(Balance::LeastConnections, &[1, 1, 1, 0]);
    let up = [true; 4];
    let seq: Vec<usize> = (0..6)
        .map(|_| sel.pick(None, &up, &[0; 4]).unwrap())
        .collect();
    assert_eq!(seq, [0, 1, 2, 0, 1, 2]);
    assert_eq!(sel.pick(None, &[false, false, false, true], &[0; 4]), None);
}

// ---- rendezvous ----

fn key(i: usize) -> Vec<u8> {
    format!("client-{i}").into_bytes()
}

#[test]
fn rendezvous_is_stable_across_selectors() {
    // Two workers, or two processes: same key, same server.
    let mut a = selector(Balance::ClientId, &[1, 1, 1, 1]);
    let mut b = selector(Balance::ClientId, &[1, 1, 1, 1]);
    b.stagger(3);
    for i in 0..1000 {
        let k = key(i);
        assert_eq!(
            a.pick(Some(&k), &[true; 4], &[]),
            b.pick(Some(&k), &[true; 4], &[9; 4])
        );
    }
}

#[test]
fn rendezvous_moves_only_the_removed_servers_keys() {
    let before = selector(Balance::ClientId, &[1, 1, 1, 1, 1]);
    // The same servers without "mqtt-2:1883": indices shift, identities don't.
    let ids = ["mqtt-0:1883", "mqtt-1:1883", "mqtt-3:1883", "mqtt-4:1883"];
    let specs: Vec<ServerSpec<'_>> = ids.iter().map(|id| ServerSpec { id, weight: 1 }).collect();
    let after = Selector::new(Balance::ClientId, &specs);
    let old_id = |i: usize| format!("mqtt-{i}:1883");
    let (mut stayed, mut others) = (0, 0);
    for i in 0..10_000 {
        let k = key(i);
        let was = before.rendezvous(&k, |_| true).unwrap();
        let now = after.rendezvous(&k, |_| true).unwrap();
        if was != 2 {
            others += 1;
            stayed += usize::from(old_id(was) == ids[now]);
        }
    }
    assert!(
        stayed * 100 >= others * 95,
        "{stayed}/{others} kept their server"
    );
    // HRW in fact keeps all of them.
    assert_eq!(stayed, others);
}

#[test]
fn rendezvous_down_server_moves_only_its_keys() {
    let mut sel = selector(Balance::Source, &[1, 1, 1]);
    for i in 0..2000 {
        let k = key(i);
        let was = sel.pick(Some(&k), &[true; 3], &[]).unwrap();
        let now = sel.pick(Some(&k), &[true, false, true], &[]).unwrap();
        if was != 1 {
            assert_eq!(was, now);
        } else {
            assert_ne!(now, 1);
        }
    }
}

#[test]
fn rendezvous_is_proportional_to_weight() {
    let mut sel = selector(Balance::ClientId, &[1, 2, 3, 0]);
    let mut n = [0usize; 4];
    let keys = 60_000;
    for i in 0..keys {
        n[sel.pick(Some(&key(i)), &[true; 4], &[]).unwrap()] += 1;
    }
    // Expected 10,000 / 20,000 / 30,000 / 0; allow ±5% of the expectation.
    for (got, want) in n.iter().zip([10_000usize, 20_000, 30_000, 0]) {
        assert!(got.abs_diff(want) * 20 <= want.max(1), "{n:?}");
    }
}

#[test]
fn rendezvous_matches_the_fixed_table() {
    // Five equal servers "mqtt-0:1883".."mqtt-4:1883", keys "client-0".."client-19".
    // A change here moves real clients: it must be deliberate. Both tables were also
    // computed independently (Python: the same hash and `math.log`).
    let mut sel = selector(Balance::ClientId, &[1, 1, 1, 1, 1]);
    let got: Vec<usize> = (0..20)
        .map(|i| sel.pick(Some(&key(i)), &[true; 5], &[]).unwrap())
        .collect();
    assert_eq!(got, FIXED_TABLE);
    // With weights 1..5, keys "client-20".."client-39" (where weights change winners).
    let mut sel = selector(Balance::ClientId, &[1, 2, 3, 4, 5]);
    let got: Vec<usize> = (20..40)
        .map(|i| sel.pick(Some(&key(i)), &[true; 5], &[]).unwrap())
        .collect();
    assert_eq!(got, FIXED_TABLE_WEIGHTED);
}

const FIXED_TABLE: [usize; 20] = [1, 1, 1, 3, 1, 2, 4, 3, 4, 0, 2, 2, 2, 3, 4, 3, 1, 3, 4, 2];
const FIXED_TABLE_WEIGHTED: [usize; 20] =
    [4, 2, 2, 4, 4, 4, 4, 3, 3, 1, 4, 4, 4, 2, 4, 2, 3, 3, 2, 2];

#[test]
fn empty_or_missing_key_falls_back_to_round_robin() {
    let mut sel = selector(Balance::ClientId, &[1, 1]);
    let up = [true; 2];
    let seq: Vec<usize> = (0..4)
        .map(|i| {
            sel.pick(if i % 2 == 0 { None } else { Some(b"") }, &up, &[])
                .unwrap()
        })
        .collect();
    assert_eq!(seq, [0, 1, 0, 1]);
}

// ---- failover ----

#[test]
fn rendezvous_failover_follows_the_score_order() {
    let mut sel = selector(Balance::ClientId, &[1, 1, 1, 1]);
    let up = [true, true, false, true];
    let k = key(7);
    let first = sel.pick(Some(&k), &up, &[]).unwrap();
    let order = sel.failover_order(Some(&k), &up, &[], first);
    assert_eq!(order.len(), 2);
    assert!(!order.contains(&first) && !order.contains(&2));
    // Deterministic: the same key fails over the same way every time.
    assert_eq!(sel.failover_order(Some(&k), &up, &[], first), order);
    assert_eq!(sel.pick_next(Some(&k), &up, &[], &[first]), Some(order[0]));
    assert_eq!(
        sel.pick_next(Some(&k), &up, &[], &[first, order[0]]),
        Some(order[1])
    );
    assert_eq!(
        sel.pick_next(Some(&k), &up, &[], &[first, order[0], order[1]]),
        None
    );
}

#[test]
fn round_robin_and_leastconn_failover_cover_every_other_healthy_server() {
    for balance in [Balance::RoundRobin, Balance::LeastConnections] {
        let mut sel = selector(balance, &[1, 3, 0, 2, 1]);
        let up = [true, true, true, true, false];
        let mut order = sel.failover_order(None, &up, &[4, 1, 0, 2, 0], 1);
        order.sort_unstable();
        assert_eq!(order, [0, 3], "{balance:?}");
    }
    let mut sel = selector(Balance::LeastConnections, &[1, 1, 1]);
    assert_eq!(sel.failover_order(None, &[true; 3], &[5, 0, 2], 1), [2, 0]);
}

// ---- source key ----

#[test]
fn source_key_canonicalises_mapped_ipv4() {
    let v4 = source_key(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)));
    let mapped = source_key(IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped()));
    assert_eq!(v4, mapped);
    assert_eq!(&v4.0[..v4.1], &[192, 0, 2, 7]);
    let v6 = source_key(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)));
    assert_eq!(v6.1, 16);
    assert_eq!(v6.0[..2], [0x20, 0x01]);
}
