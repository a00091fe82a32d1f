//! Choosing a backend server, pure: a [`Selector`] per backend per worker, fed the health
//! mask and the worker's own connection counts. No state is shared between workers, so
//! round-robin and least-connections balance each worker's share; with SO_REUSEPORT
//! spreading clients evenly over workers that balances the whole.
//!
//! | [`Balance`] | algorithm |
//! |---|---|
//! | `RoundRobin` | nginx's smooth weighted round-robin |
//! | `LeastConnections` | fewest `(active + 1) / weight` (HAProxy's `leastconn` key), ties in turn |
//! | `ClientId`, `Source` | weighted rendezvous (highest-random-weight) hashing on a stable hash |
//!
//! A server with weight 0 is never picked (drained). Rendezvous hashing sends a client id
//! (or source address) to the same server from every worker and every process, across
//! restarts, and when a server leaves only its own keys move: MQTT sessions held by the
//! other servers stay where they are.

use std::net::IpAddr;

/// How a backend picks a server for a new connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastConnections,
    /// Rendezvous hashing on the MQTT client identifier (empty or missing: round-robin).
    ClientId,
    /// Rendezvous hashing on the client's address (see [`source_key`]).
    Source,
}

impl Balance {
    /// As spelt in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round-robin",
            Balance::LeastConnections => "least-connections",
            Balance::ClientId => "client-id",
            Balance::Source => "source",
        }
    }
}

/// One server as the selector sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerSpec<'a> {
    /// A stable identity for hashing: the server's configured name (or `host:port`). Not
    /// its index, so that removing a server does not move other servers' keys.
    pub id: &'a str,
    /// Relative share of new connections; 0 = disabled.
    pub weight: u32,
}

/// Server selection state for one backend on one worker.
#[derive(Clone, Debug)]
pub struct Selector {
    balance: Balance,
    weights: Vec<u32>,
    id_hashes: Vec<u64>,
    /// Smooth weighted round-robin's `current_weight` per server (nginx
    /// `ngx_http_upstream_get_peer`).
    current: Vec<i64>,
    /// Where least-connections starts looking, so ties go round.
    next_tie: usize,
}

impl Selector {
    pub fn new(balance: Balance, servers: &[ServerSpec<'_>]) -> Self {
        Self {
            balance,
            weights: servers.iter().map(|s| s.weight).collect(),
            id_hashes: servers
                .iter()
                .map(|s| stable_hash(s.id.as_bytes()))
                .collect(),
            current: vec![0; servers.len()],
            next_tie: 0,
        }
    }

    pub fn balance(&self) -> Balance {
        self.balance
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Advances the round-robin state by `n` picks over all servers, so that workers
    /// (pass the worker index) do not all send their first connection to the same server.
    pub fn stagger(&mut self, n: usize) {
        let n = n % self.len().max(1);
        for _ in 0..n {
            self.smooth_round_robin(|_| true);
        }
        self.next_tie = n;
    }

    /// The server for a new connection, or `None` if no server is up with a weight.
    ///
    /// `key` is the client identifier's bytes for [`Balance::ClientId`] and
    /// [`source_key`]'s bytes for [`Balance::Source`]; other modes ignore it. `up[i]` and
    /// `active[i]` describe server `i`; a missing entry counts as down / 0.
    pub fn pick(&mut self, key: Option<&[u8]>, up: &[bool], active: &[u32]) -> Option<usize> {
        self.pick_next(key, up, active, &[])
    }

    /// The next server to try after connecting to each of `tried` failed: the same choice
    /// [`pick`](Self::pick) would make among the others. For the hash modes that is the key's
    /// next-highest rendezvous score, so a key fails over to the same server every time.
    pub fn pick_next(
        &mut self,
        key: Option<&[u8]>,
        up: &[bool],
        active: &[u32],
        tried: &[usize],
    ) -> Option<usize> {
        // Each algorithm also skips weight 0.
        let eligible = |i: usize| up.get(i).copied().unwrap_or(false) && !tried.contains(&i);
        match (self.balance, key) {
            (Balance::ClientId | Balance::Source, Some(key)) if !key.is_empty() => {
                self.rendezvous(key, eligible)
            }
            (Balance::LeastConnections, _) => self.least_connections(active, eligible),
            _ => self.smooth_round_robin(eligible),
        }
    }

    /// Every other healthy server in the order to try after `first` failed, as repeated
    /// [`pick_next`](Self::pick_next) calls would give. Allocates: for the failure path.
    pub fn failover_order(
        &mut self,
        key: Option<&[u8]>,
        up: &[bool],
        active: &[u32],
        first: usize,
    ) -> Vec<usize> {
        let mut tried = vec![first];
        while let Some(next) = self.pick_next(key, up, active, &tried) {
            tried.push(next);
        }
        tried.remove(0);
        tried
    }

    /// nginx's smooth weighted round-robin: every eligible server's current weight grows
    /// by its weight, the largest wins (first on ties) and pays back the total. Over any
    /// `total` picks each server gets exactly its weight, interleaved rather than in runs.
    fn smooth_round_robin(&mut self, eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for (i, (current, &weight)) in self.current.iter_mut().zip(&self.weights).enumerate() {
            if weight == 0 || !eligible(i) {
                continue;
            }
            let weight = i64::from(weight);
            *current = current.saturating_add(weight);
            total = total.saturating_add(weight);
            if best.is_none_or(|(_, b)| *current > b) {
                best = Some((i, *current));
            }
        }
        let (best, _) = best?;
        if let Some(c) = self.current.get_mut(best) {
            *c = c.saturating_sub(total);
        }
        Some(best)
    }

    /// Fewest `(active + 1) / weight`: the `+ 1` (HAProxy's `fwlc` key) makes weights count
    /// when counts are low, so an idle 3:1 pair still takes its first connections 3:1.
    fn least_connections(
        &mut self,
        active: &[u32],
        eligible: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.len();
        let mut best: Option<(usize, u64, u64)> = None;
        for k in 0..n {
            let i = (self.next_tie + k) % n;
            let weight = u64::from(self.weights.get(i).copied().unwrap_or(0));
            if weight == 0 || !eligible(i) {
                continue;
            }
            let load = u64::from(active.get(i).copied().unwrap_or(0)) + 1;
            // load_i / weight_i < load_b / weight_b, without division; both fit in u64.
            if best.is_none_or(|(_, bl, bw)| load * bw < bl * weight) {
                best = Some((i, load, weight));
            }
        }
        let (best, _, _) = best?;
        self.next_tie = (best + 1) % n;
        Some(best)
    }

    /// Weighted rendezvous hashing: the highest `weight / -ln(u)`, `u` the key and server
    /// hashed together into (0, 1). This is the standard weighted form (Schindelhauer &
    /// Schomaker 2005; "Weighted HRW" in Resch, 2015): server `i` wins a share of keys
    /// proportional to its weight, and a server's departure moves only the keys it won.
    fn rendezvous(&self, key: &[u8], eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let key_hash = stable_hash(key);
        let mut best: Option<(usize, f64, u64)> = None;
        for (i, (&weight, &server_hash)) in self.weights.iter().zip(&self.id_hashes).enumerate() {
            if weight == 0 || !eligible(i) {
                continue;
            }
            let (score, h) = rendezvous_score(weight, key_hash, server_hash);
            // Exact score ties (never seen in practice) go to the larger hash, not the
            // lower index, so the result does not depend on the server order.
            if best.is_none_or(|(_, bs, bh)| score > bs || (score == bs && h > bh)) {
                best = Some((i, score, h));
            }
        }
        best.map(|(i, _, _)| i)
    }
}

/// A server's rendezvous score for a key, and the combined hash behind it.
///
/// `u = (top 53 bits of h + 0.5) / 2^53` is never 0 or 1, so `ln(u)` is finite and
/// negative. `f64::ln` is the platform's libm: a result differing in its last bit on
/// another libm could flip a key only when two scores agree to 1 ulp, which is negligible.
fn rendezvous_score(weight: u32, key_hash: u64, server_hash: u64) -> (f64, u64) {
    const TWO_POW_53: f64 = 9_007_199_254_740_992.0;
    let h = fmix64(key_hash ^ server_hash);
    let u = ((h >> 11) as f64 + 0.5) / TWO_POW_53;
    (f64::from(weight) / -u.ln(), h)
}

/// The hash behind rendezvous hashing. It must never change: every client would move
/// (the fixed-table test fails first). FNV-1a 64-bit over the bytes (offset basis
/// 0xcbf29ce484222325, prime 0x100000001b3; <http://www.isthe.com/chongo/tech/comp/fnv/>),
/// finished with MurmurHash3's 64-bit finalizer `fmix64` so that keys differing in one
/// byte differ in about half the bits. Not keyed: a client can aim for a server, but it
/// chooses its own client id anyway, so this is no new power.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    fmix64(fnv1a64(bytes))
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET_BASIS, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// MurmurHash3's `fmix64` (Austin Appleby, public domain): a bijection on u64.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The key [`Balance::Source`] hashes: 4 octets for IPv4, and for an IPv4-mapped IPv6
/// address (a dual-stack listener's view of an IPv4 client) too, so one client hashes the
/// same on either kind of listener; 16 octets otherwise. Send `bytes[..len]`.
pub fn source_key(ip: IpAddr) -> ([u8; 16], usize) {
    let four = |v4: std::net::Ipv4Addr| {
        let [a, b, c, d] = v4.octets();
        ([a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 4)
    };
    match ip {
        IpAddr::V4(v4) => four(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => four(v4),
            None => (v6.octets(), 16),
        },
    }
}

#[cfg(test)]
mod tests;
