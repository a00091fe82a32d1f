//! Latency histograms: HdrHistogram (the `hdrhistogram` crate) over nanoseconds, 2 significant
//! digits (any percentile within 1 % of the true value), up to an hour. About 36 KiB each, no
//! allocation when recording; one per measuring connection, merged at the end.

/// A latency histogram in nanoseconds.
pub type Histogram = hdrhistogram::Histogram<u64>;

/// The largest latency told apart: an hour (longer ones count as an hour).
const MAX_NANOS: u64 = 3_600 * 1_000_000_000;

/// An empty histogram with the bounds every histogram of a run shares (so they merge).
pub fn new() -> Histogram {
    Histogram::new_with_bounds(1, MAX_NANOS, 2).expect("1 ns ..= 1 h at 2 digits is valid")
}

/// Adds `part` to `total`: the same bounds, so this cannot fail.
pub fn merge(total: &mut Histogram, part: &Histogram) {
    total
        .add(part)
        .expect("histograms of one run share their bounds");
}

#[cfg(test)]
mod tests;
