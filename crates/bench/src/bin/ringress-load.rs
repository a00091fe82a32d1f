//! `ringress-load`: MQTT 3.1.1/5 load generator over TCP or TLS. See `perf/README.md`.

use clap::Parser;
use ringress_bench::{options::Options, run};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let plan = Options::parse().plan()?;
    let summary = run::run(plan)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
