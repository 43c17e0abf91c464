//! The benchmark suite (issue 9): real MariaDB and broker servers on loopback, generated data, and
//! one results table per run, each scenario next to the limit it is judged by, measured in the same run.
//!
//! ```text
//! sluice-bench [drain|snapshot|latency|plugins-overhead|all] [rows]     (default: all, 1,000,000)
//! ```
//! - `drain`: a backlog of `rows` row changes already in the binlog (9-column orders table,
//!   transactions of 1–1000 rows inserting, updating or deleting), drained
//!   1. pipeline-only (binlog → decode → 2 Rust plugins → DTS Avro → discarded), against
//!      `mariadb-binlog -v` decoding the same binlog files;
//!   2. end to end by the daemon into the broker, against a plain rdkafka producer sending the same
//!      encoded messages with the same settings;
//! - `snapshot`: a table of `rows` rows snapshotted pipeline-only and end to end (`initial_only`),
//!   against the plain producer;
//! - `latency`: 5,000 single-row transactions per second for 60 s through the daemon (2 plugins);
//!   commit-to-receipt p50, p99 and max;
//! - `plugins-overhead`: the pipeline-only drain with 0, 1, 2 and 4 plugins.
//!
//! Pipeline-only drains run three rounds, the chains taking turns, and report each chain's median.
//!
//! Every sluice figure is of a child process alone: pipeline-only runs are this binary again
//! (`sluice-bench pipeline-only ...`, see `sluice_tests::bench::pipeline_only`), end-to-end runs the
//! release `sluice` binary; CPU time and peak RSS come from `wait4`. Pipeline-only CPU covers the
//! measured part only; a daemon's covers its whole life (plugins are compiled once, into a shared
//! cache, by the first pipeline-only run). Run it with `scripts/bench.sh`, which builds both binaries in
//! release mode.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sluice_tests::bench::latency::{self, Latencies};
use sluice_tests::bench::limits::{self, LimitRun};
use sluice_tests::bench::pipeline_only::{self, Report, Source};
use sluice_tests::bench::usage::{terminate, wait_with_usage};
use sluice_tests::bench::workload::{self, Backlog, DATABASE};
use sluice_tests::daemon::{PluginEntry, config_toml, current_position, with_metrics_address};
use sluice_tests::harness::{Broker, MariaDb, MariaDbOptions, consume, end_offsets, http_get};
use sluice_tests::plugins::build_plugin;

const CHUNK_SIZE: usize = 10_000;
const DRAIN_TABLE: &str = "orders";
const SNAPSHOT_TABLE: &str = "snapshot_orders";
const LATENCY_TABLE: &str = "latency_orders";
/// The size of a steady-stream record (a 9-column orders row in DTS Avro), for its plain-producer limit.
const LATENCY_PAYLOAD_BYTES: usize = 330;
const LATENCY_RATE: u64 = 5_000;
const LATENCY_SECONDS: u64 = 60;
/// How many times each pipeline-only drain runs.
const PIPELINE_ONLY_ROUNDS: usize = 3;
/// How many published messages the plain producer cycles through.
const SAMPLE_MESSAGES: usize = 10_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Selection {
    Drain,
    Snapshot,
    Latency,
    PluginsOverhead,
    All,
}

impl Selection {
    fn includes(self, other: Selection) -> bool {
        self == Selection::All || self == other
    }
}

/// One line of the results table.
struct Line {
    scenario: String,
    rows: u64,
    bytes: u64,
    seconds: f64,
    cpu_seconds: f64,
    peak_rss_mib: Option<f64>,
}

impl Line {
    fn rate(&self) -> f64 {
        self.rows as f64 / self.seconds
    }

    fn of_report(scenario: String, report: Report, peak_rss_mib: f64) -> Self {
        Line {
            scenario,
            rows: report.rows,
            bytes: report.bytes,
            seconds: report.seconds,
            cpu_seconds: report.cpu_seconds,
            peak_rss_mib: Some(peak_rss_mib),
        }
    }

    fn of_limit(scenario: String, limit: LimitRun) -> Self {
        Line {
            scenario,
            rows: limit.rows,
            bytes: limit.bytes,
            seconds: limit.seconds,
            cpu_seconds: limit.cpu_seconds,
            peak_rss_mib: limit.peak_rss_mib,
        }
    }
}

/// The servers, the plugins and a directory for configs and the plugin cache, for one run.
struct Bench {
    db: MariaDb,
    broker: Broker,
    reference: PathBuf,
    router: PathBuf,
    state: tempfile::TempDir,
    rows: u64,
    lines: Vec<Line>,
    notes: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("pipeline-only") {
        return runtime.block_on(pipeline_only_child(&args[1..]));
    }
    let (selection, rows) = parse_arguments(&args)?;
    runtime.block_on(run(selection, rows))
}

fn parse_arguments(args: &[String]) -> anyhow::Result<(Selection, u64)> {
    let mut selection = Selection::All;
    let mut rows = 1_000_000;
    for arg in args {
        match arg.as_str() {
            "drain" => selection = Selection::Drain,
            "snapshot" => selection = Selection::Snapshot,
            "latency" => selection = Selection::Latency,
            "plugins-overhead" => selection = Selection::PluginsOverhead,
            "all" => selection = Selection::All,
            number => {
                rows = number.parse().with_context(|| {
                    format!("`{number}`: expected drain, snapshot, latency, plugins-overhead, all or a row count")
                })?
            }
        }
    }
    Ok((selection, rows))
}

/// `sluice-bench pipeline-only <binlog|snapshot> <config> <database.table> <rows>`: one pipeline-only
/// run in this process, reported on stdout.
async fn pipeline_only_child(args: &[String]) -> anyhow::Result<()> {
    let [source, config, table, rows] = args else {
        bail!("usage: sluice-bench pipeline-only <binlog|snapshot> <config> <database.table> <rows>");
    };
    let report = pipeline_only::run(Source::parse(source)?, Path::new(config), table, rows.parse()?).await?;
    println!("{}", report.to_line());
    Ok(())
}

async fn run(selection: Selection, rows: u64) -> anyhow::Result<()> {
    eprintln!("starting MariaDB and the broker; building the plugins");
    let options = MariaDbOptions {
        // The harness's 32 MiB pool is for many test servers at once; one benchmark table of 1M rows
        // is updated and scanned here.
        extra_args: vec!["--innodb-buffer-pool-size=256M".into()],
        ..MariaDbOptions::default()
    };
    let (db, broker) = tokio::join!(MariaDb::start_with(options), Broker::start());
    let (reference, router) =
        tokio::task::spawn_blocking(|| anyhow::Ok((build_plugin("reference-rust")?, build_plugin("route-by-table")?)))
            .await??;
    let mut bench = Bench {
        db: db?,
        broker: broker?,
        reference,
        router,
        state: tempfile::tempdir()?,
        rows,
        lines: Vec::new(),
        notes: Vec::new(),
    };
    let load_average = load_average();
    let drain = selection.includes(Selection::Drain);
    let overhead = selection.includes(Selection::PluginsOverhead);
    if drain || overhead {
        eprintln!("writing a backlog of {rows} row changes");
        let started = Instant::now();
        let backlog = workload::write_backlog(&bench.db, DRAIN_TABLE, rows).await?;
        eprintln!(
            "backlog written in {:.1} s: {} transactions, {} inserts, {} updates, {} deletes, {} binlog file(s)",
            started.elapsed().as_secs_f64(),
            backlog.transactions,
            backlog.inserts,
            backlog.updates,
            backlog.deletes,
            backlog.files.len()
        );
        bench.notes.push(format!(
            "backlog: {} row changes in {} transactions ({} inserts, {} updates, {} deletes)",
            backlog.rows, backlog.transactions, backlog.inserts, backlog.updates, backlog.deletes
        ));
        bench.drain_scenarios(&backlog, drain, overhead).await?;
    }
    if selection.includes(Selection::Snapshot) {
        bench.snapshot_scenarios().await?;
    }
    if selection.includes(Selection::Latency) {
        bench.latency_scenario().await?;
    }
    bench.print(load_average);
    Ok(())
}

impl Bench {
    /// A config for the benchmark's servers: `tables`, starting at `start`, publishing to `topic`
    /// through `plugins` of the drain chain (0, 1, 2 or 4), with `extra` TOML sections appended.
    fn config(&self, name: &str, start: &str, table: &str, topic: &str, plugins: usize, extra: &str) -> PathBuf {
        let entries: Vec<PluginEntry> = (0..plugins)
            .map(|index| {
                let (path, mut config) = if index % 2 == 0 {
                    (self.reference.clone(), vec![("mask_column".into(), "note".into())])
                } else {
                    (self.router.clone(), Vec::new())
                };
                config.push(("topic_template".into(), topic.to_owned()));
                PluginEntry {
                    name: format!("plugin{index}"),
                    path,
                    config,
                    ..PluginEntry::default()
                }
            })
            .collect();
        let directory = self.state.path();
        let text = config_toml(
            &self.db,
            &self.broker,
            &directory.join(format!("{name}.checkpoint.json")),
            start,
            &[&format!("{DATABASE}.{table}")],
            topic,
            &entries,
        ) + &format!(
            "\n[pipeline]\nplugin_cache_dir = \"{}\"\n{extra}",
            directory.join("plugin-cache").display()
        );
        let path = directory.join(format!("{name}.toml"));
        std::fs::write(&path, text).expect("writing a config into the benchmark's directory");
        path
    }

    async fn drain_scenarios(&mut self, backlog: &Backlog, drain: bool, overhead: bool) -> anyhow::Result<()> {
        let never = "\n[snapshot]\nmode = \"never\"\n";
        let chains: &[usize] = match (drain, overhead) {
            (_, true) => &[0, 1, 2, 4],
            _ => &[2],
        };
        // The chains take turns, `PIPELINE_ONLY_ROUNDS` times, so a burst of load on the shared machine
        // falls on all of them; each keeps its median run.
        let table = format!("{DATABASE}.{DRAIN_TABLE}");
        let mut runs: Vec<Vec<(Report, f64)>> = vec![Vec::new(); chains.len()];
        for round in 1..=PIPELINE_ONLY_ROUNDS {
            for (&plugins, runs) in chains.iter().zip(&mut runs) {
                let name = format!("drain-{plugins}");
                let config = self.config(&name, &backlog.start, DRAIN_TABLE, "bench-drain", plugins, never);
                let (report, peak) = pipeline_only_run(Source::Binlog, &config, &table, backlog.rows)?;
                eprintln!(
                    "1/5. drain, pipeline-only, {plugins} plugin(s), round {round}: {:.0} rows/s",
                    report.rows as f64 / report.seconds
                );
                runs.push((report, peak));
            }
        }
        for (&plugins, mut runs) in chains.iter().zip(runs) {
            runs.sort_by(|a, b| a.0.seconds.total_cmp(&b.0.seconds));
            let rates: Vec<String> = runs
                .iter()
                .map(|(report, _)| format!("{:.0}", report.rows as f64 / report.seconds))
                .collect();
            self.notes.push(format!(
                "1/5. drain, pipeline-only, {plugins} plugin(s): rows/s of each round, fastest first: {}",
                rates.join(", ")
            ));
            let peak = runs.iter().map(|(_, peak)| *peak).fold(0.0, f64::max);
            let (median, _) = runs[runs.len() / 2];
            self.lines.push(Line::of_report(
                format!("1/5. drain, pipeline-only, {plugins} plugin(s) (median of {PIPELINE_ONLY_ROUNDS})"),
                median,
                peak,
            ));
        }
        if !drain {
            return Ok(());
        }
        eprintln!("limit: mariadb-binlog over {} file(s)", backlog.files.len());
        let files = backlog.files.clone();
        let decoded = tokio::task::spawn_blocking(move || limits::mariadb_binlog(&files)).await??;
        anyhow::ensure!(
            decoded.rows == backlog.rows,
            "mariadb-binlog decoded {} of {} rows",
            decoded.rows,
            backlog.rows
        );
        self.lines.push(Line::of_limit(
            "1. limit: mariadb-binlog -v --base64-output=decode-rows (bytes: binlog)".into(),
            decoded,
        ));

        let topic = "bench-drain-e2e";
        let config = self.config("drain-e2e", &backlog.start, DRAIN_TABLE, topic, 2, never);
        eprintln!("2. drain end to end");
        let line = self.daemon_until_published(&config, topic, backlog.rows).await?;
        let sample = consume(
            &self.broker.bootstrap_servers(),
            topic,
            SAMPLE_MESSAGES,
            Duration::from_secs(60),
        )
        .await?;
        self.lines.push(Line {
            scenario: "2. drain, end to end into the broker, 2 plugins".into(),
            bytes: average_size(&sample) * backlog.rows,
            ..line
        });
        eprintln!("limit: plain producer");
        let limit = limits::plain_producer(&self.broker, "bench-drain-plain", &sample, backlog.rows).await?;
        self.lines.push(Line::of_limit(
            "2. limit: plain rdkafka producer, same messages and settings".into(),
            limit,
        ));
        Ok(())
    }

    async fn snapshot_scenarios(&mut self) -> anyhow::Result<()> {
        eprintln!("loading {} rows for the snapshot", self.rows);
        let started = Instant::now();
        workload::load_orders(&self.db, SNAPSHOT_TABLE, self.rows).await?;
        eprintln!("loaded in {:.1} s", started.elapsed().as_secs_f64());
        let start = current_position(&self.db).await?;
        let table = format!("{DATABASE}.{SNAPSHOT_TABLE}");
        let initial_only = format!("\n[snapshot]\nmode = \"initial_only\"\nchunk_size = {CHUNK_SIZE}\n");
        let config = self.config("snapshot", &start, SNAPSHOT_TABLE, "bench-snapshot", 0, &initial_only);
        let (report, peak) = pipeline_only_run(Source::Snapshot, &config, &table, self.rows)?;
        eprintln!(
            "3. snapshot pipeline-only: {:.0} rows/s",
            report.rows as f64 / report.seconds
        );
        self.lines.push(Line::of_report(
            "3. snapshot, pipeline-only, no plugin".into(),
            report,
            peak,
        ));

        let topic = "bench-snapshot-e2e";
        let config = self.config("snapshot-e2e", &start, SNAPSHOT_TABLE, topic, 0, &initial_only);
        eprintln!("3. snapshot end to end");
        let (child, started) = (self.spawn_daemon(&config)?, Instant::now());
        let usage = tokio::task::spawn_blocking(move || wait_with_usage(child)).await??;
        let seconds = started.elapsed().as_secs_f64();
        anyhow::ensure!(
            usage.exit_code == Some(0),
            "the daemon failed ({:?}); its log: {}",
            usage.exit_code,
            self.daemon_log(&config)
        );
        let published = published(&self.broker, topic).await?;
        anyhow::ensure!(published == self.rows, "published {published} of {}", self.rows);
        let sample = consume(
            &self.broker.bootstrap_servers(),
            topic,
            SAMPLE_MESSAGES,
            Duration::from_secs(60),
        )
        .await?;
        self.lines.push(Line {
            scenario: "3. snapshot, end to end into the broker, no plugin".into(),
            rows: self.rows,
            bytes: average_size(&sample) * self.rows,
            seconds,
            cpu_seconds: usage.cpu_seconds,
            peak_rss_mib: Some(usage.peak_rss_mib),
        });
        let limit = limits::plain_producer(&self.broker, "bench-snapshot-plain", &sample, self.rows).await?;
        self.lines.push(Line::of_limit(
            "3. limit: plain rdkafka producer, same messages and settings".into(),
            limit,
        ));
        Ok(())
    }

    async fn latency_scenario(&mut self) -> anyhow::Result<()> {
        let mut conn = self.db.admin_conn().await?;
        use mysql_async::prelude::Queryable as _;
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {DATABASE}"))
            .await?;
        conn.query_drop(workload::create_orders(LATENCY_TABLE)).await?;
        let topic = "bench-latency";
        self.broker.create_topic(topic, 1).await?;
        let start = current_position(&self.db).await?;
        let config = self.config(
            "latency",
            &start,
            LATENCY_TABLE,
            topic,
            2,
            "\n[snapshot]\nmode = \"never\"\n",
        );
        let (text, metrics) = with_metrics_address(&std::fs::read_to_string(&config)?)?;
        std::fs::write(&config, text)?;
        let child = self.spawn_daemon(&config)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(http_get(&metrics, "/ready").await, Ok((200, _))) {
            anyhow::ensure!(Instant::now() < deadline, "the daemon was not ready within 60 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("4. steady stream: {LATENCY_RATE} rows/s for {LATENCY_SECONDS} s");
        let measured = latency::measure(
            &self.db,
            &self.broker.bootstrap_servers(),
            LATENCY_TABLE,
            topic,
            LATENCY_RATE,
            LATENCY_SECONDS,
        )
        .await;
        terminate(&child)?;
        let usage = tokio::task::spawn_blocking(move || wait_with_usage(child)).await??;
        let Latencies {
            rows,
            received,
            p50_ms,
            p99_ms,
            max_ms,
            write_rate,
        } = measured?;
        self.lines.push(Line {
            scenario: format!("4. steady stream, {LATENCY_RATE} rows/s, end to end, 2 plugins"),
            rows: received,
            bytes: 0,
            seconds: received as f64 / write_rate,
            cpu_seconds: usage.cpu_seconds,
            peak_rss_mib: Some(usage.peak_rss_mib),
        });
        self.notes.push(format!(
            "4. commit-to-receipt latency over {received} of {rows} rows (written at {write_rate:.0} rows/s): \
             p50 {p50_ms:.1} ms, p99 {p99_ms:.1} ms, max {max_ms:.1} ms"
        ));
        eprintln!("limit: plain producer, {LATENCY_RATE} messages/s for {LATENCY_SECONDS} s");
        let limit_topic = "bench-latency-limit";
        self.broker.create_topic(limit_topic, 1).await?;
        let limit = latency::measure_plain_producer(
            &self.broker.bootstrap_servers(),
            limit_topic,
            LATENCY_PAYLOAD_BYTES,
            LATENCY_RATE,
            LATENCY_SECONDS,
        )
        .await?;
        self.notes.push(format!(
            "4. limit: send-to-receipt latency of a plain producer over {} of {} messages (sent at {:.0}/s): \
             p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            limit.received, limit.rows, limit.write_rate, limit.p50_ms, limit.p99_ms, limit.max_ms
        ));
        Ok(())
    }

    /// The release `sluice` binary running `config` as a child, its log in a file beside the config.
    fn spawn_daemon(&self, config: &Path) -> anyhow::Result<std::process::Child> {
        let log = std::fs::File::create(config.with_extension("log"))?;
        Command::new(daemon_binary()?)
            .args(["run", "--config"])
            .arg(config)
            .env("SLUICE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the sluice daemon")
    }

    fn daemon_log(&self, config: &Path) -> String {
        std::fs::read_to_string(config.with_extension("log")).unwrap_or_default()
    }

    /// Runs the daemon on `config` until `topic` holds `rows` messages, then stops it.
    async fn daemon_until_published(&self, config: &Path, topic: &str, rows: u64) -> anyhow::Result<Line> {
        let (mut child, started) = (self.spawn_daemon(config)?, Instant::now());
        let deadline = started + Duration::from_secs(3600);
        loop {
            if published(&self.broker, topic).await? >= rows {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("the daemon exited ({status}); its log: {}", self.daemon_log(config));
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the daemon did not publish {rows} rows within an hour"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let seconds = started.elapsed().as_secs_f64();
        terminate(&child)?;
        let usage = tokio::task::spawn_blocking(move || wait_with_usage(child)).await??;
        Ok(Line {
            scenario: String::new(),
            rows,
            bytes: 0,
            seconds,
            cpu_seconds: usage.cpu_seconds,
            peak_rss_mib: Some(usage.peak_rss_mib),
        })
    }

    fn print(&self, load_average_at_start: String) {
        println!();
        println!(
            "sluice benchmark, {} rows, {} cores, load average at start {load_average_at_start}, at end {}",
            self.rows,
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            load_average()
        );
        println!("| scenario | rows/s | MB/s | CPU s per 1M rows | peak RSS MiB | wall s |");
        println!("|---|---:|---:|---:|---:|---:|");
        for line in &self.lines {
            println!(
                "| {} | {:.0} | {:.1} | {:.2} | {} | {:.2} |",
                line.scenario,
                line.rate(),
                line.bytes as f64 / line.seconds / 1e6,
                line.cpu_seconds / (line.rows as f64 / 1e6),
                line.peak_rss_mib.map_or("—".into(), |mib| format!("{mib:.0}")),
                line.seconds
            );
        }
        for note in &self.notes {
            println!("{note}");
        }
        let rate = |prefix: &str| {
            self.lines
                .iter()
                .find(|line| line.scenario.starts_with(prefix))
                .map(Line::rate)
        };
        let ratio = |label: &str, numerator: Option<f64>, denominator: Option<f64>| {
            if let (Some(numerator), Some(denominator)) = (numerator, denominator) {
                println!("{label}: {:.2}", numerator / denominator);
            }
        };
        ratio(
            "1. drain pipeline-only (2 plugins) / mariadb-binlog",
            rate("1/5. drain, pipeline-only, 2"),
            rate("1. limit"),
        );
        ratio(
            "2. drain end to end / plain producer",
            rate("2. drain"),
            rate("2. limit"),
        );
        ratio(
            "3. snapshot end to end / plain producer",
            rate("3. snapshot, end"),
            rate("3. limit"),
        );
        if let Some(none) = rate("1/5. drain, pipeline-only, 0") {
            for plugins in [1, 2, 4] {
                if let Some(with) = rate(&format!("1/5. drain, pipeline-only, {plugins}")) {
                    println!(
                        "5. {plugins} plugin(s) cost {:.1}% of the rate without plugins",
                        (1.0 - with / none) * 100.0
                    );
                }
            }
        }
    }
}

/// Runs one pipeline-only child and returns its report and peak RSS.
fn pipeline_only_run(source: Source, config: &Path, table: &str, rows: u64) -> anyhow::Result<(Report, f64)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(["pipeline-only", source.name()])
        .arg(config)
        .args([table, &rows.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a pipeline-only child")?;
    let mut output = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().context("no stdout")?, &mut output)?;
    let usage = wait_with_usage(child)?;
    anyhow::ensure!(
        usage.exit_code == Some(0),
        "the pipeline-only child failed ({:?})",
        usage.exit_code
    );
    Ok((Report::from_output(&output)?, usage.peak_rss_mib))
}

/// The release daemon binary, built beside this one (`scripts/bench.sh` builds both).
fn daemon_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::current_exe()?.with_file_name("sluice");
    anyhow::ensure!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release -p sluice --bin sluice` (scripts/bench.sh does)",
        path.display()
    );
    Ok(path)
}

async fn published(broker: &Broker, topic: &str) -> anyhow::Result<u64> {
    let offsets = end_offsets(&broker.bootstrap_servers(), topic).await?;
    Ok(offsets.iter().map(|(_, high)| *high as u64).sum())
}

fn average_size(sample: &[sluice_tests::harness::ConsumedMessage]) -> u64 {
    let total: usize = sample
        .iter()
        .map(|message| message.payload.len() + message.key.as_ref().map_or(0, Vec::len))
        .sum();
    (total / sample.len().max(1)) as u64
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
