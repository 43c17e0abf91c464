//! Steady-stream latency: single-row transactions at a fixed rate, each timed from the moment its
//! `INSERT` (autocommit) returned to the writer to the moment a consumer received its message.
//!
//! Both ends run in this process, so one monotonic clock times them. The commit-return time is later
//! than the server's commit by one loopback round trip, so the figure slightly understates the true
//! commit-to-receipt time; the consumer's fetch wait (`fetch.wait.max.ms = 1`) adds to it instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use mysql_async::prelude::Queryable as _;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};

use super::workload::DATABASE;
use crate::harness::MariaDb;

/// Writers sharing the schedule: one connection's round trip must not pace the whole stream.
const WRITERS: u64 = 4;

/// Latency percentiles, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub struct Latencies {
    pub rows: u64,
    pub received: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Rows written per second, as achieved.
    pub write_rate: f64,
}

/// Inserts rows with ids `1..=rate*seconds` into `table` at `rate` rows per second, one row per
/// transaction, while a consumer reads `topic` (partition 0) from the beginning; returns the
/// commit-to-receipt latencies once every row arrived (or 60 s after the last write).
pub async fn measure(
    db: &MariaDb,
    bootstrap: &str,
    table: &str,
    topic: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Latencies> {
    let rows = rate * seconds;
    let receipts = Receipts::start(bootstrap, topic, rows);
    let start = Instant::now() + Duration::from_millis(200);
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let mut conn = db.admin_conn().await?;
        let table = table.to_owned();
        writers.push(tokio::spawn(async move {
            let mut committed = Vec::with_capacity((rows / WRITERS + 1) as usize);
            for id in (1 + writer..=rows).step_by(WRITERS as usize) {
                let due = start + Duration::from_secs_f64((id - 1) as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
                conn.query_drop(format!(
                    "INSERT INTO {DATABASE}.{table} VALUES ({id}, {id} % 50000, 'new', 12.50, 1, \
                     CONCAT('order note ', {id}), NOW(3), NOW(3), 0)"
                ))
                .await?;
                committed.push((id, Instant::now()));
            }
            anyhow::Ok(committed)
        }));
    }
    let mut committed = vec![None::<Instant>; rows as usize + 1];
    for writer in writers {
        for (id, at) in writer.await.context("a writer panicked")?? {
            committed[id as usize] = Some(at);
        }
    }
    let write_rate = rows as f64 / (Instant::now() - start).as_secs_f64();
    receipts.latencies(&committed, write_rate).await
}

/// The limit of [`measure`]: a plain rdkafka producer (sluice's settings: idempotent, `acks=all`,
/// `linger.ms=5`) sends one `[id]`-keyed message of `payload_bytes` per row to `topic` at `rate` per
/// second, and the same consumer times each from the moment its send was handed to the producer:
/// the broker's own path at the same rate, with nothing of sluice's (nor of MariaDB's) in it.
pub async fn measure_plain_producer(
    bootstrap: &str,
    topic: &str,
    payload_bytes: usize,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Latencies> {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
    let rows = rate * seconds;
    let receipts = Receipts::start(bootstrap, topic, rows);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "0")
        .create()?;
    let payload = vec![b'x'; payload_bytes];
    let mut sent = vec![None::<Instant>; rows as usize + 1];
    let start = Instant::now() + Duration::from_millis(200);
    for id in 1..=rows {
        let due = start + Duration::from_secs_f64((id - 1) as f64 / rate as f64);
        tokio::time::sleep_until(due.into()).await;
        let key = format!("[{id}]");
        producer
            .send(BaseRecord::to(topic).key(&key).payload(&payload))
            .map_err(|(error, _)| error)?;
        sent[id as usize] = Some(Instant::now());
    }
    producer.flush(Duration::from_secs(60))?;
    let write_rate = rows as f64 / (Instant::now() - start).as_secs_f64();
    receipts.latencies(&sent, write_rate).await
}

/// A consumer thread noting when each row's message (by its `[id]` key) arrived.
struct Receipts {
    consumer: std::thread::JoinHandle<anyhow::Result<()>>,
    received: Arc<std::sync::Mutex<Vec<Option<Instant>>>>,
    stop: Arc<AtomicBool>,
}

impl Receipts {
    /// Starts reading partition 0 of `topic` from the beginning, for rows `1..=rows`.
    fn start(bootstrap: &str, topic: &str, rows: u64) -> Self {
        let received = Arc::new(std::sync::Mutex::new(vec![None::<Instant>; rows as usize + 1]));
        let stop = Arc::new(AtomicBool::new(false));
        let consumer = {
            let (bootstrap, topic, received, stop) =
                (bootstrap.to_owned(), topic.to_owned(), received.clone(), stop.clone());
            std::thread::spawn(move || consume(&bootstrap, &topic, rows, &received, &stop))
        };
        Receipts {
            consumer,
            received,
            stop,
        }
    }

    /// Waits (at most 60 s) for every row, then the latencies from each row's start (`started`, by
    /// id) to its receipt.
    async fn latencies(self, started: &[Option<Instant>], write_rate: f64) -> anyhow::Result<Latencies> {
        let Receipts {
            consumer,
            received,
            stop,
        } = self;
        let rows = started.len() as u64 - 1;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && !consumer.is_finished() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.store(true, Ordering::Relaxed);
        consumer
            .join()
            .map_err(|_| anyhow::anyhow!("the consumer panicked"))??;
        let received = received.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut latencies: Vec<f64> = started
            .iter()
            .zip(received.iter())
            .filter_map(|(started, received)| Some((*received)?.saturating_duration_since((*started)?)))
            .map(|latency| latency.as_secs_f64() * 1e3)
            .collect();
        latencies.sort_by(f64::total_cmp);
        let percentile = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        Ok(Latencies {
            rows,
            received: latencies.len() as u64,
            p50_ms: percentile(0.50),
            p99_ms: percentile(0.99),
            max_ms: latencies.last().copied().unwrap_or(f64::NAN),
            write_rate,
        })
    }
}

/// Reads partition 0 of `topic` from the beginning, noting when each row (by its `[id]` key) arrived,
/// until `rows` arrived or `stop` is set. Blocks.
fn consume(
    bootstrap: &str,
    topic: &str,
    rows: u64,
    received: &std::sync::Mutex<Vec<Option<Instant>>>,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "sluice-bench-latency")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "1")
        .set("fetch.min.bytes", "1")
        .create()
        .context("creating the latency consumer")?;
    let mut partitions = TopicPartitionList::new();
    partitions.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&partitions)?;
    let mut count = 0;
    while count < rows && !stop.load(Ordering::Relaxed) {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let Ok(message) = message else {
            continue;
        };
        let now = Instant::now();
        let id = message
            .key()
            .and_then(|key| std::str::from_utf8(key).ok())
            .and_then(|key| key.trim_start_matches('[').trim_end_matches(']').parse::<usize>().ok());
        let mut received = received.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slot) = id.and_then(|id| received.get_mut(id))
            && slot.is_none()
        {
            *slot = Some(now);
            count += 1;
        }
    }
    Ok(())
}
