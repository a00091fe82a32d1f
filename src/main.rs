//! The `ringress` command: `run` the proxy, or `check` a configuration.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ringress::config::Config;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "ringress", version, about = "io_uring ingress proxy for MQTT")]
struct Cli {
    /// Log line format (stderr). Filter with RINGRESS_LOG, e.g. `info` or `access=off,info`.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy (without --config: an embedded default, see the README).
    Run {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file and print a summary.
    Check {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("RINGRESS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

/// `ringress check`: validate, print the summary.
fn check(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(config) => {
            print!("{}", config.summary());
            println!("configuration OK");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { config } => {
            // Logging as for `run`, so that what loading warns about (key permissions,
            // expired CRLs, names a certificate does not cover) is reported here alike.
            init_logging(cli.log_format);
            check(&config)
        }
        Command::Run { config } => {
            init_logging(cli.log_format);
            let config = match config {
                Some(path) => match Config::load(&path) {
                    Ok(config) => config,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                },
                None => match Config::embedded_default() {
                    Ok(config) => {
                        let ca = config
                            .embedded_ca_path()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default();
                        tracing::info!(
                            "no --config given: running the embedded default (TLS on 127.0.0.1:8883 → broker 127.0.0.1:1883); CA certificate: {ca} (mosquitto_sub -h localhost -p 8883 --cafile {ca} -t test)"
                        );
                        config
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            match ringress::runtime::run(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
