//! The snapshot benchmark: a table of N rows (default 1,000,000; 9 columns) on a private MariaDB,
//! snapshotted
//! 1. pipeline-only: chunk reads → decode → the example plugin → DTS Avro, output discarded;
//! 2. end to end: the daemon with `snapshot.mode = "initial_only"` into the local broker;
//! 3. the limit for (2): a plain rdkafka producer sending the same number of messages of the same
//!    sizes with the same producer settings.
//!
//! Prints one table. Run with `scripts/bench.sh` (release build).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use sluice::change::{Change, TableName};
use sluice::config::PluginConfig;
use sluice::encode::dts_avro::DtsAvroEncoder;
use sluice::plugin::chain::{PluginChain, Routed};
use sluice::source::schema::{load_catalog_table, schema_from_catalog};
use sluice::source::snapshot::chunk::{ChunkReader, chunk_query};
use sluice::source::snapshot::progress::TableProgress;
use sluice_tests::daemon::{PluginEntry, RunningDaemon, config_toml, current_position};
use sluice_tests::harness::{Broker, MariaDb};
use sluice_tests::plugins::build_plugin;

const CHUNK_SIZE: usize = 10_000;

struct Measured {
    scenario: &'static str,
    rows: u64,
    bytes: u64,
    seconds: f64,
    cpu_seconds: f64,
}

/// User plus system CPU time of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct we own; on failure it stays zeroed.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let seconds = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rows: u64 = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    eprintln!("starting MariaDB and the broker; loading {rows} rows");
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&[
        "SET SESSION max_recursive_iterations = 100000000",
        "CREATE DATABASE bench",
        "CREATE TABLE bench.orders (id BIGINT PRIMARY KEY, customer_id INT, status VARCHAR(16), amount DECIMAL(10,2), \
         quantity INT, note VARCHAR(64), created_at DATETIME(3), updated_at TIMESTAMP(3) NULL, flags TINYINT)",
    ])
    .await?;
    let load_started = Instant::now();
    let step = 200_000u64;
    for first in (1..=rows).step_by(step as usize) {
        let last = (first + step - 1).min(rows);
        db.execute_all(&[
            "SET SESSION max_recursive_iterations = 100000000",
            &format!(
                "INSERT INTO bench.orders WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
                 SELECT i, i % 50000, ELT(1 + i % 3, 'new', 'paid', 'shipped'), (i % 100000) / 100, i % 7, \
                 CONCAT('order note ', i), '2024-05-01 12:00:00.250', '2024-05-02 08:30:00.500', i % 2 FROM n"
            ),
        ])
        .await?;
    }
    eprintln!("loaded in {:.1} s", load_started.elapsed().as_secs_f64());
    let plugin = tokio::task::spawn_blocking(|| build_plugin("route-by-table")).await??;
    let mut results = Vec::new();

    results.push(pipeline_only(&db, None, rows).await?);
    results.push(pipeline_only(&db, Some(&plugin), rows).await?);
    let (without_plugin, _) = end_to_end(&db, &broker, None, "bench-plain", rows).await?;
    results.push(without_plugin);
    let (with_plugin, payload_sizes) = end_to_end(&db, &broker, Some(&plugin), "bench-routed", rows).await?;
    results.push(with_plugin);
    results.push(plain_producer(&broker, &payload_sizes, rows).await?);

    println!();
    println!(
        "snapshot benchmark, {rows} rows x 9 columns, chunk {CHUNK_SIZE}, {} cores",
        num_cpus()
    );
    println!("| scenario | rows/s | MB/s | CPU s per 1M rows | wall s |");
    println!("|---|---:|---:|---:|---:|");
    for m in &results {
        println!(
            "| {} | {:.0} | {:.1} | {:.2} | {:.2} |",
            m.scenario,
            m.rows as f64 / m.seconds,
            m.bytes as f64 / m.seconds / 1e6,
            m.cpu_seconds / (m.rows as f64 / 1e6),
            m.seconds
        );
    }
    println!("peak RSS of the whole benchmark process: {:.0} MiB", peak_rss_mib());
    let rate = |m: &Measured| m.rows as f64 / m.seconds;
    println!(
        "end to end / plain producer: {:.2} without a plugin, {:.2} with the example plugin",
        rate(&results[2]) / rate(&results[4]),
        rate(&results[3]) / rate(&results[4])
    );
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Reads every chunk, runs the plugin chain and the encoder, and discards the output.
async fn pipeline_only(db: &MariaDb, plugin: Option<&std::path::Path>, rows: u64) -> anyhow::Result<Measured> {
    let table = TableName::new("bench", "orders");
    let mut conn = mysql_async::Conn::from_url(db.admin_url()).await?;
    let catalog = load_catalog_table(&mut conn, &table).await?.context("bench.orders")?;
    let schema = Arc::new(schema_from_catalog(&table, &catalog)?);
    let mut reader = ChunkReader::new(conn, CHUNK_SIZE, false).await?;
    let plugins: Vec<PluginConfig> = plugin
        .map(|path| {
            let config = [("topic_template".to_owned(), "{database}.{table}".to_owned())].into();
            PluginConfig::fixed("router", path, config)
        })
        .into_iter()
        .collect();
    let engine = sluice::plugin::engine::PluginEngine::new(None)?;
    let metrics = std::sync::Arc::new(sluice::metrics::Metrics::new());
    let mut chain = PluginChain::load(&plugins, Some(&engine), metrics).await?;
    let mut encoder = DtsAvroEncoder::new("bench");
    let first = chunk_query(&schema, false, CHUNK_SIZE);
    let next = chunk_query(&schema, true, CHUNK_SIZE);
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let mut after = None;
    let (mut count, mut bytes, mut id) = (0u64, 0u64, 0i64);
    loop {
        let chunk = reader
            .read(
                &schema,
                if after.is_some() { &next } else { &first },
                after.as_deref(),
                count,
            )
            .await?;
        let progress = chunk.progress.clone();
        let (rows, _) = chunk.into_changes(0);
        let changes: Vec<Change> = rows.into_iter().map(Change::Row).collect();
        for batch in changes.chunks(1024) {
            for routed in chain.apply(batch.to_vec()).await? {
                if let Routed::Row(row) = routed {
                    bytes += encoder.encode(id, &row)?.len() as u64;
                    id += 1;
                    count += 1;
                }
            }
        }
        match progress {
            TableProgress::After(key) => after = Some(key),
            _ => break,
        }
    }
    anyhow::ensure!(count == rows, "pipeline saw {count} of {rows} rows");
    Ok(Measured {
        scenario: if plugin.is_some() {
            "snapshot, pipeline-only (decode, 1 plugin, DTS Avro)"
        } else {
            "snapshot, pipeline-only (decode, DTS Avro)"
        },
        rows: count,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu,
    })
}

/// The daemon snapshots into the broker and exits (`initial_only`).
async fn end_to_end(
    db: &MariaDb,
    broker: &Broker,
    plugin: Option<&std::path::Path>,
    topic: &str,
    rows: u64,
) -> anyhow::Result<(Measured, Vec<usize>)> {
    let state = tempfile::tempdir()?;
    let start = current_position(db).await?;
    let config = config_toml(
        db,
        broker,
        &state.path().join("checkpoint.json"),
        &start,
        &["bench.*"],
        topic,
        &plugin
            .map(|path| PluginEntry {
                name: "router".into(),
                path: path.to_path_buf(),
                config: vec![("topic_template".into(), topic.to_owned())],
                ..Default::default()
            })
            .into_iter()
            .collect::<Vec<_>>(),
    ) + &format!("\n[snapshot]\nmode = \"initial_only\"\nchunk_size = {CHUNK_SIZE}\n");
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let daemon = RunningDaemon::start(&config, state.path())?;
    daemon.wait_for_exit(Duration::from_secs(3600)).await?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = cpu_seconds() - cpu;
    let messages = sluice_tests::harness::end_offsets(&broker.bootstrap_servers(), topic).await?;
    let published: i64 = messages.iter().map(|(_, high)| high).sum();
    anyhow::ensure!(published as u64 == rows, "published {published} of {rows}");
    // Sizes of a sample of the published records, for the plain producer to send alike.
    let sample =
        sluice_tests::harness::consume(&broker.bootstrap_servers(), topic, 10_000, Duration::from_secs(60)).await?;
    let sizes: Vec<usize> = sample.iter().map(|m| m.payload.len()).collect();
    let average = sizes.iter().sum::<usize>() as u64 / sizes.len().max(1) as u64;
    Ok((
        Measured {
            scenario: if plugin.is_some() {
                "snapshot, end to end into the broker (1 plugin)"
            } else {
                "snapshot, end to end into the broker"
            },
            rows,
            bytes: average * rows,
            seconds,
            cpu_seconds,
        },
        sizes,
    ))
}

/// A plain producer with sluice's producer settings sending the same count of same-sized messages.
async fn plain_producer(broker: &Broker, sizes: &[usize], rows: u64) -> anyhow::Result<Measured> {
    broker.create_topic("plain", 1).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "0")
        .create()?;
    let payloads: Vec<Vec<u8>> = sizes.iter().map(|&size| vec![7u8; size]).collect();
    let (cpu, started) = (cpu_seconds(), Instant::now());
    let mut deliveries = std::collections::VecDeque::new();
    let mut bytes = 0u64;
    for index in 0..rows {
        let payload = &payloads[index as usize % payloads.len()];
        bytes += payload.len() as u64;
        let key = format!("[{index}]");
        loop {
            match producer.send_result(FutureRecord::to("plain").payload(payload).key(&key)) {
                Ok(delivery) => {
                    deliveries.push_back(delivery);
                    break;
                }
                Err((_, _)) => {
                    if let Some(oldest) = deliveries.pop_front() {
                        oldest.await?.map_err(|(error, _)| error)?;
                    } else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
        }
        if deliveries.len() >= 100_000 {
            deliveries.pop_front().unwrap().await?.map_err(|(error, _)| error)?;
        }
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(error, _)| error)?;
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(Measured {
        scenario: "limit: plain rdkafka producer, same sizes and settings",
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: cpu_seconds() - cpu,
    })
}
