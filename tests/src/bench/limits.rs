//! The limits sluice is judged against, measured on the same machine in the same run.

use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};

use super::usage::{ChildUsage, own_cpu_seconds, wait_with_usage};
use crate::harness::{Broker, ConsumedMessage};

/// What a limit measured.
#[derive(Clone, Copy, Debug)]
pub struct LimitRun {
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
    /// Peak memory of the measured process, when it ran as a child of its own.
    pub peak_rss_mib: Option<f64>,
}

/// The program that decodes a binlog file to text: MariaDB's, or MySQL's name for it.
fn binlog_program() -> &'static str {
    if Command::new("mariadb-binlog").arg("--version").output().is_ok() {
        "mariadb-binlog"
    } else {
        "mysqlbinlog"
    }
}

/// `mariadb-binlog -v --base64-output=decode-rows` over `files`, its output read and its row
/// comments (`### INSERT INTO`, `### UPDATE`, `### DELETE FROM`) counted on another thread; the time is
/// until the program ends. `bytes` is the size of the binlog files.
pub fn mariadb_binlog(files: &[PathBuf]) -> anyhow::Result<LimitRun> {
    let bytes = files
        .iter()
        .map(|file| std::fs::metadata(file).map(|m| m.len()))
        .sum::<std::io::Result<u64>>()
        .context("reading the binlog files' sizes")?;
    let started = Instant::now();
    let mut child = Command::new(binlog_program())
        .args(["-v", "--base64-output=decode-rows"])
        .args(files)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binlog_program()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut rows = 0u64;
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut line = Vec::new();
    while reader.read_until(b'\n', &mut line)? > 0 {
        if line.starts_with(b"### INSERT INTO")
            || line.starts_with(b"### UPDATE")
            || line.starts_with(b"### DELETE FROM")
        {
            rows += 1;
        }
        line.clear();
    }
    let ChildUsage {
        cpu_seconds,
        peak_rss_mib,
        exit_code,
    } = wait_with_usage(child)?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(exit_code == Some(0), "{} failed ({exit_code:?})", binlog_program());
    Ok(LimitRun {
        rows,
        bytes,
        seconds,
        cpu_seconds,
        peak_rss_mib: Some(peak_rss_mib),
    })
}

/// A plain rdkafka producer with sluice's producer settings sending `rows` messages to a new topic,
/// cycling through `sample` (keys and payloads as sluice published them). Runs in this process; the
/// CPU time is this process's over the run.
pub async fn plain_producer(
    broker: &Broker,
    topic: &str,
    sample: &[ConsumedMessage],
    rows: u64,
) -> anyhow::Result<LimitRun> {
    anyhow::ensure!(!sample.is_empty(), "no sample messages to send");
    broker.create_topic(topic, 1).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "0")
        .create()?;
    let (cpu, started) = (own_cpu_seconds(), Instant::now());
    let mut deliveries = VecDeque::new();
    let mut bytes = 0u64;
    for index in 0..rows {
        let message = &sample[index as usize % sample.len()];
        bytes += (message.payload.len() + message.key.as_ref().map_or(0, Vec::len)) as u64;
        loop {
            let mut record = FutureRecord::to(topic).payload(&message.payload);
            if let Some(key) = &message.key {
                record = record.key(key);
            }
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push_back(delivery);
                    break;
                }
                Err(_) => match deliveries.pop_front() {
                    Some(oldest) => {
                        oldest.await?.map_err(|(error, _)| error)?;
                    }
                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                },
            }
        }
        if deliveries.len() >= 100_000
            && let Some(oldest) = deliveries.pop_front()
        {
            oldest.await?.map_err(|(error, _)| error)?;
        }
    }
    for delivery in deliveries {
        delivery.await?.map_err(|(error, _)| error)?;
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(LimitRun {
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        cpu_seconds: own_cpu_seconds() - cpu,
        peak_rss_mib: None,
    })
}
