//! The command line: parse, set up logging, run, and choose the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::pipeline::RunError;
use crate::plugin::PluginError;
use crate::source::SourceError;

/// Exit codes, documented in the README.
pub mod exit_code {
    /// A failure not listed below; for `sluice check`, a check failed.
    pub const FAILURE: u8 = 1;
    /// `sluice check`: at least one check failed.
    pub const CHECK_FAILED: u8 = FAILURE;
    /// The config file is missing, malformed or invalid.
    pub const CONFIG: u8 = 2;
    /// The source server is unusable as configured (settings, login, undecodable table).
    pub const SOURCE: u8 = 3;
    /// A plugin could not be loaded, refused its config, trapped or broke the contract.
    pub const PLUGIN: u8 = 4;
    /// Kafka refused or lost a message, or the checkpoint could not be written.
    pub const SINK: u8 = 5;
    /// A requested shutdown did not drain within `pipeline.shutdown_timeout_ms`; the checkpoint names
    /// the last fully acknowledged transaction.
    pub const SHUTDOWN_TIMEOUT: u8 = 6;
}

/// How long the runtime waits for leftover blocking work (a metadata request) once `run` returned.
const RUNTIME_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "MySQL/MariaDB change data capture into Kafka, shaped by WebAssembly plugins"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the setup without streaming: the source server, the broker and the plugins, one
    /// PASS/WARN/FAIL line each with a fix for each problem. Exits 0 when nothing failed, 1 when a
    /// check failed, 2 when the config itself is invalid.
    Check {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stream changes from the source into Kafka until stopped (SIGINT or SIGTERM). Runs the checks
    /// of `sluice check` first; a failed one stops it before streaming.
    Run {
        /// The TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Also write every row change entering the plugin chain to this file, one JSON line each:
        /// the input format of `sluice plugin test`.
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
    /// Show a running daemon at a glance: position, lag, rates, plugins and the last error, read
    /// from its metrics endpoint (`/status`). Exits 1 when no daemon answers.
    Status {
        /// The daemon's config file: its `metrics.address` is read (nothing else is needed from it).
        #[arg(long, short, conflicts_with = "address", required_unless_present = "address")]
        config: Option<PathBuf>,
        /// The daemon's metrics address, `host:port`, instead of a config file.
        #[arg(long)]
        address: Option<String>,
        /// Time between the two reads the rates are computed from, in milliseconds.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Print the daemon's report as JSON (one read, no rates) instead of the view.
        #[arg(long)]
        json: bool,
    },
    /// Work with plugins without a database or broker.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Run a plugin over recorded changes and print, per change, what would be published.
    ///
    /// The input has one JSON change per line (see `sluice::plugin::recorded`); the output one JSON
    /// object per change, in order. Exits 4 if the plugin cannot be loaded, traps or fails.
    Test {
        /// The plugin component (`.wasm`).
        plugin: PathBuf,
        /// The recorded changes, one JSON object per line.
        #[arg(long, short)]
        input: PathBuf,
        /// A `key=value` entry of the plugin's config; repeat for more.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Changes per plugin call.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Where compiled plugins are cached [default: `$SLUICE_PLUGIN_CACHE`, else
        /// `$XDG_CACHE_HOME/sluice/compiled-plugins`, else `~/.cache/sluice/compiled-plugins`].
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
    },
}

/// Sets up logging to stderr; `SLUICE_LOG` filters, else `default_filter`.
fn init_tracing(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| EnvFilter::new(default_filter));
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let format = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // The newest warning or error also shows in `sluice status`.
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(crate::status::LastErrorLayer);
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        registry.with(format).init();
    } else {
        registry.with(format.json().flatten_event(true)).init();
    }
}

fn status_command(config: Option<&std::path::Path>, address: Option<String>, interval_ms: u64, json: bool) -> ExitCode {
    let address = match (config, address) {
        (_, Some(address)) => address,
        (Some(path), None) => match crate::status::address_from_config(path) {
            Ok(address) => address,
            Err(error) => return fail(exit_code::CONFIG, &error),
        },
        (None, None) => unreachable!("clap requires --config or --address"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(exit_code::FAILURE, &error),
    };
    let result = runtime.block_on(async {
        let earlier = crate::status::fetch(&address).await?;
        if json {
            return Ok(serde_json::to_string_pretty(&earlier).expect("a status report serialises") + "\n");
        }
        let interval = std::time::Duration::from_millis(interval_ms.max(1));
        let started = std::time::Instant::now();
        tokio::time::sleep(interval).await;
        let later = crate::status::fetch(&address).await?;
        Ok::<_, crate::status::StatusError>(crate::status::render(&address, &earlier, &later, started.elapsed()))
    });
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(exit_code::FAILURE, &error),
    }
}

/// Entry point of the `sluice` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // The check's report goes to stdout; its log only says what went wrong underneath.
    init_tracing(
        if matches!(cli.command, Command::Check { .. } | Command::Status { .. }) {
            "warn"
        } else {
            "info"
        },
    );
    match cli.command {
        Command::Check { config, json } => check_command(&config, json),
        Command::Run { config, record } => run_command(&config, record),
        Command::Status {
            config,
            address,
            interval_ms,
            json,
        } => status_command(config.as_deref(), address, interval_ms, json),
        Command::Plugin {
            command:
                PluginCommand::Test {
                    plugin,
                    input,
                    config,
                    batch,
                    cache_dir,
                },
        } => plugin_test_command(&plugin, &input, &config, batch, cache_dir.or_else(default_plugin_cache)),
    }
}

/// The user's cache directory for compiled plugins, as `plugin test --cache-dir` documents it.
fn default_plugin_cache() -> Option<PathBuf> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    from_env("SLUICE_PLUGIN_CACHE")
        .or_else(|| from_env("XDG_CACHE_HOME").map(|cache| cache.join("sluice/compiled-plugins")))
        .or_else(|| from_env("HOME").map(|home| home.join(".cache/sluice/compiled-plugins")))
}

fn plugin_test_command(
    plugin: &std::path::Path,
    input: &std::path::Path,
    config: &[String],
    batch: usize,
    cache_dir: Option<PathBuf>,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(exit_code::FAILURE, &error),
    };
    let result = runtime.block_on(crate::plugin::testing::run(
        plugin,
        input,
        config,
        batch.max(1),
        cache_dir.as_deref(),
    ));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(crate::plugin::testing::TestError::Input(message)) => fail(exit_code::CONFIG, &message),
        Err(crate::plugin::testing::TestError::Plugin(error)) => fail(exit_code::PLUGIN, &error),
    }
}

fn check_command(path: &std::path::Path, json: bool) -> ExitCode {
    let config = match Config::from_file(path) {
        Ok(config) => config,
        Err(error) => return fail(exit_code::CONFIG, &error),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(exit_code::FAILURE, &error),
    };
    let report = runtime.block_on(crate::check::run_all(&config));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
    let colour = std::io::IsTerminal::is_terminal(&std::io::stdout()) && std::env::var_os("NO_COLOR").is_none();
    let text = if json {
        crate::check::render::json(&report) + "\n"
    } else {
        crate::check::render::table(&report, colour)
    };
    print!("{text}");
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit_code::CHECK_FAILED)
    }
}

fn run_command(path: &std::path::Path, record: Option<PathBuf>) -> ExitCode {
    let mut config = match Config::from_file(path) {
        Ok(config) => config,
        Err(error) => return fail(exit_code::CONFIG, &error),
    };
    config.record_changes = record;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(exit_code::FAILURE, &error),
    };
    let path = path.to_owned();
    let result = runtime.block_on(async move {
        let (trigger, shutdown) = crate::shutdown::channel();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested; draining and writing the checkpoint");
            trigger.trigger();
        });
        let (reloads_tx, reloads_rx) = tokio::sync::mpsc::channel(1);
        let record = config.record_changes.clone();
        tokio::spawn(reload_on_hangup(path, record, reloads_tx));
        crate::pipeline::run_with_reloads(config, shutdown, Some(reloads_rx)).await
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(run_error_code(&error), &error),
    }
}

/// On each SIGHUP, reads and validates the config file again and hands it to the pipeline; an
/// invalid file is refused with its error, and the running config stays.
async fn reload_on_hangup(path: PathBuf, record: Option<PathBuf>, reloads: tokio::sync::mpsc::Sender<Config>) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; config reloads are off");
        return;
    };
    while hangup.recv().await.is_some() {
        tracing::info!(config = %path.display(), "SIGHUP: reading the config file again");
        match Config::from_file(&path) {
            Ok(mut config) => {
                config.record_changes = record.clone();
                if reloads.send(config).await.is_err() {
                    return;
                }
            }
            Err(error) => tracing::error!("config reload refused, the running config stays: {error}"),
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn run_error_code(error: &RunError) -> u8 {
    match error {
        RunError::Source(SourceError::Stream(_)) => exit_code::FAILURE,
        RunError::Source(_) => exit_code::SOURCE,
        RunError::Plugin(PluginError::Engine(_)) => exit_code::FAILURE,
        RunError::Plugin(_) => exit_code::PLUGIN,
        RunError::Encode(_) => exit_code::FAILURE,
        RunError::Sink(_) | RunError::Checkpoint(_) => exit_code::SINK,
        RunError::Metrics(_) | RunError::Record { .. } => exit_code::CONFIG,
        RunError::Precheck(failed) => match failed.area {
            crate::check::Area::Source => exit_code::SOURCE,
            crate::check::Area::Broker => exit_code::SINK,
            crate::check::Area::Plugin => exit_code::PLUGIN,
        },
        RunError::ShutdownTimeout { .. } => exit_code::SHUTDOWN_TIMEOUT,
    }
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!("{error}");
    eprintln!("sluice: error: {error}");
    ExitCode::from(code)
}
