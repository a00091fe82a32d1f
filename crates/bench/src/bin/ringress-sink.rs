//! `ringress-sink`: MQTT sink for proxy benchmarks. See `perf/README.md`.

use clap::Parser;
use ringress_bench::sink::{self, SinkOptions};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let summary = sink::run(SinkOptions::parse())?;
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
