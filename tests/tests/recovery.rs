//! Proves delivery and recovery end to end: the stream survives database and broker restarts with
//! nothing lost; an idle stream publishes DTS heartbeats and its checkpoint follows the binlog; a
//! million-row transaction and a 64 MiB row pass in bounded memory; a message too large for Kafka
//! fails the pipeline or goes to a dead-letter topic, as configured; and SIGTERM drains, checkpoints
//! and exits 0, or exits 6 when Kafka does not answer within the shutdown timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use sluice::source::position::BinlogPosition;
use sluice_tests::daemon::{
    DaemonProcess, DecodedRecord, RunningDaemon, config_toml, current_position, decode_record, reference_schema,
};
use sluice_tests::harness::{Broker, ConsumedMessage, MariaDb, MariaDbOptions, consume, consume_all, end_offsets};
use sluice_tests::replay::{Random, TableState, assert_nothing_doubled, replay, select_state};

const CONSUME_TIMEOUT: Duration = Duration::from_secs(60);

async fn servers() -> anyhow::Result<(MariaDb, Broker)> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    Ok((db?, broker?))
}

/// A config streaming `shop.*` from the current position into `topic`, with no snapshot (so whatever
/// repeats is the stream's doing) and quick reconnects.
async fn stream_config(db: &MariaDb, broker: &Broker, state: &Path, topic: &str) -> anyhow::Result<String> {
    let start = current_position(db).await?;
    let checkpoint = state.join("checkpoint.json");
    Ok(config_toml(db, broker, &checkpoint, &start, &["shop.*"], topic, &[])
        .replace("server_id = 4242", "server_id = 4242\nreconnect_max_backoff_ms = 1000")
        + "\n[snapshot]\nmode = \"never\"\n")
}

/// Adds `lines` to the config's `[section]` (appending the section if it is not there).
fn with_settings(config: &str, section: &str, lines: &str) -> String {
    let header = format!("[{section}]\n");
    match config.find(&header) {
        Some(at) => {
            let mut text = config.to_owned();
            text.insert_str(at + header.len(), &format!("{lines}\n"));
            text
        }
        None => format!("{config}\n{header}{lines}\n"),
    }
}

fn write_config(state: &Path, text: &str) -> anyhow::Result<PathBuf> {
    let path = state.join("sluice.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// The checkpoint file's position and next record id, if it exists.
fn read_checkpoint(state: &Path) -> anyhow::Result<Option<(BinlogPosition, i64)>> {
    let path = state.join("checkpoint.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let json: serde_json::Value = serde_json::from_str(&text)?;
    let position = json["position"].as_str().unwrap_or_default().parse()?;
    Ok(Some((position, json["next_record_id"].as_i64().unwrap_or(-1))))
}

async fn wait_for_checkpoint(
    state: &Path,
    what: &str,
    done: impl Fn(&BinlogPosition) -> bool,
) -> anyhow::Result<BinlogPosition> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = read_checkpoint(state)?;
        if let Some((position, _)) = &stored
            && done(position)
        {
            return Ok(position.clone());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the checkpoint never {what}; it holds {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn decode_all(messages: &[ConsumedMessage]) -> Vec<DecodedRecord> {
    let schema = reference_schema().expect("the DTS reference schema");
    messages
        .iter()
        .map(|message| decode_record(&schema, &message.payload).expect("every message decodes with the DTS schema"))
        .collect()
}

/// Replays the topic until it equals `expected`, or returns what it last saw.
async fn replay_until(bootstrap: &str, topic: &str, expected: &TableState) -> anyhow::Result<Vec<DecodedRecord>> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let records = decode_all(&consume_all(bootstrap, topic, CONSUME_TIMEOUT).await?);
        if replay(&records) == *expected || Instant::now() >= deadline {
            return Ok(records);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `shop.accounts`, which [`ChurnWriter`] inserts into, updates and deletes from.
const ACCOUNTS: &str = "CREATE TABLE shop.accounts (id INT PRIMARY KEY, balance INT NOT NULL, note VARCHAR(40))";

/// Keeps committing small transactions (inserts, updates, deletes over 100 keys), reconnecting when
/// the server goes away, until stopped.
struct ChurnWriter {
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl ChurnWriter {
    fn start(db: &MariaDb, seed: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicU64::new(0));
        let url = db.admin_url();
        let (stop_flag, counter) = (stop.clone(), committed.clone());
        let task = tokio::spawn(async move {
            let mut random = Random::new(seed);
            let mut conn: Option<mysql_async::Conn> = None;
            while !stop_flag.load(Ordering::Relaxed) {
                let Some(open) = conn.as_mut() else {
                    match mysql_async::Conn::from_url(url.as_str()).await {
                        Ok(new) => conn = Some(new),
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                    continue;
                };
                let statements = churn_transaction(&mut random);
                let result: Result<(), mysql_async::Error> = async {
                    open.query_drop("BEGIN").await?;
                    for statement in &statements {
                        open.query_drop(statement).await?;
                    }
                    open.query_drop("COMMIT").await
                }
                .await;
                match result {
                    Ok(()) => {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        conn = None;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Self { stop, committed, task }
    }

    /// Stops after the current transaction; returns how many committed (as far as the writer knows).
    async fn stop(self) -> anyhow::Result<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await?;
        Ok(self.committed.load(Ordering::Relaxed))
    }
}

fn churn_transaction(random: &mut Random) -> Vec<String> {
    (0..1 + random.below(3))
        .map(|_| {
            let id = 1 + random.below(100);
            match random.below(3) {
                0 => format!(
                    "INSERT INTO shop.accounts VALUES ({id}, {}, 'opened') \
                     ON DUPLICATE KEY UPDATE balance = balance + 1",
                    random.below(1000)
                ),
                1 => format!("UPDATE shop.accounts SET balance = balance - 1, note = 'moved {id}' WHERE id = {id}"),
                _ => format!("DELETE FROM shop.accounts WHERE id = {id}"),
            }
        })
        .collect()
}

/// Stderr lines (JSON log events) that contain every one of `needles`.
fn count_lines(output: &str, needles: &[&str]) -> usize {
    output
        .lines()
        .filter(|line| needles.iter().all(|needle| line.contains(needle)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_survives_three_database_and_three_broker_restarts_and_loses_nothing() -> anyhow::Result<()> {
    let (mut db, mut broker) = servers().await?;
    db.execute_all(&["CREATE DATABASE shop", ACCOUNTS]).await?;
    let state = tempfile::tempdir()?;
    let config = stream_config(&db, &broker, state.path(), "accounts").await?;
    let mut daemon = DaemonProcess::start(&write_config(state.path(), &config)?)?;
    let bootstrap = broker.bootstrap_servers();

    let writer = ChurnWriter::start(&db, 7);
    assert_eq!(consume(&bootstrap, "accounts", 1, CONSUME_TIMEOUT).await?.len(), 1);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        db.restart().await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        broker.restart().await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let committed = writer.stop().await?;
    assert!(committed > 50, "the writer committed only {committed} transactions");

    let expected = select_state(&db, "shop.accounts", &[0]).await?;
    let records = replay_until(&bootstrap, "accounts", &expected).await?;
    assert!(daemon.is_running(), "the daemon gave up: {}", daemon.output());
    assert_eq!(
        replay(&records),
        expected,
        "the topic, replayed in order, differs from the table"
    );

    daemon.terminate()?;
    let (code, output) = daemon.wait()?;
    assert_eq!(code, Some(0), "{output}");
    // Each outage is reported once when it starts and once when it ends; attempts stay at debug.
    let mysql_lost = count_lines(&output, &["\"WARN\"", "lost the connection to MySQL (binlog stream)"]);
    let mysql_back = count_lines(
        &output,
        &["\"INFO\"", "connection to MySQL (binlog stream)", "is back after"],
    );
    assert!(
        mysql_lost >= 3,
        "{mysql_lost} MySQL outages reported for 3 restarts:\n{output}"
    );
    assert_eq!(
        mysql_lost, mysql_back,
        "every MySQL outage ends with one report:\n{output}"
    );
    let kafka_lost = count_lines(&output, &["\"WARN\"", "lost the connection to Kafka"]);
    let kafka_back = count_lines(&output, &["\"INFO\"", "connection to Kafka at", "is back after"]);
    assert!(
        kafka_lost >= 1,
        "no Kafka outage reported for 3 broker restarts:\n{output}"
    );
    assert_eq!(
        kafka_lost, kafka_back,
        "every Kafka outage ends with one report:\n{output}"
    );
    assert_eq!(
        count_lines(&output, &["still unreachable"]),
        0,
        "attempts are logged at debug only"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_stream_publishes_heartbeats_and_its_checkpoint_follows_the_binlog() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, label VARCHAR(20))",
        "CREATE DATABASE other",
        "CREATE TABLE other.noise (id INT PRIMARY KEY)",
    ])
    .await?;
    let state = tempfile::tempdir()?;
    let config = with_settings(
        &stream_config(&db, &broker, state.path(), "changes").await?,
        "pipeline",
        "heartbeat_interval_ms = 300",
    );
    let daemon = RunningDaemon::start(&config, state.path())?;

    // A transaction of a table that is not captured moves the checkpoint past it.
    db.execute("INSERT INTO other.noise VALUES (1)").await?;
    let after_noise: BinlogPosition = current_position(&db).await?.parse()?;
    wait_for_checkpoint(state.path(), "passed the uncaptured transaction", |at| {
        at.is_at_or_past(&after_noise)
    })
    .await?;
    // A rotation writes no transaction: the server's heartbeat moves the checkpoint into the new file.
    db.execute("FLUSH BINARY LOGS").await?;
    let new_file = current_position(&db).await?.parse::<BinlogPosition>()?.file;
    wait_for_checkpoint(state.path(), "moved into the new binlog file", |at| at.file == new_file).await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    daemon.stop().await?;

    let heartbeats = decode_all(
        &consume(
            &broker.bootstrap_servers(),
            "changes",
            usize::MAX,
            Duration::from_secs(3),
        )
        .await?,
    );
    assert!(heartbeats.len() >= 3, "only {} heartbeats", heartbeats.len());
    for (index, heartbeat) in heartbeats.iter().enumerate() {
        assert_eq!(heartbeat.operation, "HEARTBEAT");
        assert_eq!(heartbeat.object_name, None);
        assert!(heartbeat.fields.is_empty() && heartbeat.before.is_none() && heartbeat.after.is_none());
        assert!(
            heartbeat.source_position.parse::<BinlogPosition>().is_ok(),
            "{}",
            heartbeat.source_position
        );
        if index > 0 {
            assert!(heartbeat.id > heartbeats[index - 1].id, "heartbeat ids increase");
        }
    }
    let last: BinlogPosition = heartbeats.last().expect("heartbeats").source_position.parse()?;
    assert_eq!(
        last.file, new_file,
        "the last heartbeat reports the position in the new file"
    );

    // The old file may now go: a restart resumes from the new one and streams on.
    db.execute(&format!("PURGE BINARY LOGS TO '{new_file}'")).await?;
    let daemon = RunningDaemon::start(&config, state.path())?;
    db.execute("INSERT INTO shop.items VALUES (1, 'after the purge')")
        .await?;
    let deadline = Instant::now() + CONSUME_TIMEOUT;
    let records = loop {
        let records = decode_all(
            &consume(
                &broker.bootstrap_servers(),
                "changes",
                usize::MAX,
                Duration::from_secs(2),
            )
            .await?,
        );
        if records.iter().any(|record| record.operation == "INSERT") || Instant::now() >= deadline {
            break records;
        }
    };
    assert!(!daemon.has_stopped(), "the daemon stopped after the purge");
    daemon.stop().await?;
    let inserts: Vec<_> = records.iter().filter(|record| record.operation == "INSERT").collect();
    assert_eq!(inserts.len(), 1, "the row written after the purge arrives once");
    let ids: Vec<i64> = records.iter().map(|record| record.id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "ids increase across the restart, none used twice: {ids:?}"
    );
    Ok(())
}

/// The daemon's peak RSS while `done` is not yet true, sampled every 200 ms, in MiB.
async fn watch_peak_rss(
    daemon: &mut DaemonProcess,
    timeout: Duration,
    mut done: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<u64> {
    let deadline = Instant::now() + timeout;
    let mut peak = 0;
    loop {
        anyhow::ensure!(daemon.is_running(), "the daemon exited: {}", daemon.output());
        peak = peak.max(daemon.peak_rss_kib()?);
        if done().await? {
            return Ok(peak.max(daemon.peak_rss_kib()?) / 1024);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not done within {timeout:?}: {}",
            daemon.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn message_count(bootstrap: &str, topic: &str) -> anyhow::Result<i64> {
    Ok(end_offsets(bootstrap, topic).await?.iter().map(|(_, end)| end).sum())
}

/// Peak RSS allowed for the million-row transaction. Buffering it whole would hold a million decoded
/// changes (~300 bytes each) or their records (~150 bytes each): 400 MiB and more.
const MILLION_ROWS_PEAK_MIB: u64 = 250;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_row_transaction_streams_in_bounded_memory() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.bulk (id INT PRIMARY KEY, n INT NOT NULL, label VARCHAR(16) NOT NULL)",
    ])
    .await?;
    let state = tempfile::tempdir()?;
    let config = stream_config(&db, &broker, state.path(), "bulk").await?;
    let mut daemon = DaemonProcess::start(&write_config(state.path(), &config)?)?;
    let bootstrap = broker.bootstrap_servers();
    assert!(
        daemon.wait_for_lines("streaming binlog", 1, CONSUME_TIMEOUT),
        "{}",
        daemon.output()
    );
    let idle_mib = daemon.peak_rss_kib()? / 1024;

    db.execute("INSERT INTO shop.bulk SELECT seq, seq % 1000, CONCAT('row ', seq) FROM shop.seq_1_to_1000000")
        .await?;
    let started = Instant::now();
    let peak_mib = watch_peak_rss(&mut daemon, Duration::from_secs(600), async || {
        Ok(message_count(&bootstrap, "bulk").await? >= 1_000_000)
    })
    .await?;
    eprintln!(
        "1,000,000-row transaction: {:.0} s, daemon peak RSS {peak_mib} MiB (idle {idle_mib} MiB)",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(message_count(&bootstrap, "bulk").await?, 1_000_000);
    assert!(
        peak_mib < MILLION_ROWS_PEAK_MIB,
        "peak RSS {peak_mib} MiB for a million-row transaction (bound {MILLION_ROWS_PEAK_MIB} MiB)"
    );
    daemon.terminate()?;
    let (code, output) = daemon.wait()?;
    assert_eq!(code, Some(0), "{output}");
    Ok(())
}

/// The big row, and the peak RSS it may cost above the idle daemon: four copies. The binlog event,
/// the decoded value, the encoded record and librdkafka's copy could all be alive at once; a design
/// that also kept a copy per stage or per retry would break the bound.
const BIG_ROW_BYTES: usize = 64 << 20;
const BIG_ROW_PEAK_ABOVE_IDLE_MIB: u64 = 4 * 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_64_mib_row_streams_in_bounded_memory() -> anyhow::Result<()> {
    let (db, broker) = tokio::join!(
        MariaDb::start_with(MariaDbOptions {
            extra_args: vec!["--max-allowed-packet=256M".into()],
            ..MariaDbOptions::default()
        }),
        Broker::start()
    );
    let (db, broker) = (db?, broker?);
    // MyISAM: InnoDB refuses a BLOB larger than a tenth of its redo log, which the harness keeps small.
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.blobs (id INT PRIMARY KEY, body LONGBLOB) ENGINE=MyISAM",
    ])
    .await?;
    let state = tempfile::tempdir()?;
    let config = with_settings(
        &stream_config(&db, &broker, state.path(), "blobs").await?,
        "kafka.options",
        "\"message.max.bytes\" = \"100000000\"",
    );
    let mut daemon = DaemonProcess::start(&write_config(state.path(), &config)?)?;
    let bootstrap = broker.bootstrap_servers();
    assert!(
        daemon.wait_for_lines("streaming binlog", 1, CONSUME_TIMEOUT),
        "{}",
        daemon.output()
    );
    let idle_mib = daemon.peak_rss_kib()? / 1024;

    db.execute(&format!(
        "INSERT INTO shop.blobs VALUES (1, REPEAT('x', {BIG_ROW_BYTES}))"
    ))
    .await?;
    let started = Instant::now();
    let peak_mib = watch_peak_rss(&mut daemon, Duration::from_secs(300), async || {
        Ok(message_count(&bootstrap, "blobs").await? >= 1)
    })
    .await?;
    eprintln!(
        "64 MiB row: {:.0} s, daemon peak RSS {peak_mib} MiB (idle {idle_mib} MiB)",
        started.elapsed().as_secs_f64()
    );
    assert!(
        peak_mib < idle_mib + BIG_ROW_PEAK_ABOVE_IDLE_MIB,
        "peak RSS {peak_mib} MiB for a 64 MiB row (idle {idle_mib} MiB, bound {BIG_ROW_PEAK_ABOVE_IDLE_MIB} MiB above)"
    );
    daemon.terminate()?;
    let (code, output) = daemon.wait()?;
    assert_eq!(code, Some(0), "{output}");
    Ok(())
}

/// A config whose producer accepts messages up to 100 kB, for `shop.docs`.
async fn small_limit_config(db: &MariaDb, broker: &Broker, state: &Path, kafka_lines: &str) -> anyhow::Result<String> {
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.docs (id INT PRIMARY KEY, body MEDIUMTEXT)",
    ])
    .await?;
    let config = with_settings(&stream_config(db, broker, state, "docs").await?, "kafka", kafka_lines);
    Ok(with_settings(
        &config,
        "kafka.options",
        "\"message.max.bytes\" = \"100000\"",
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_stops_the_pipeline_without_advancing_the_checkpoint() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    let state = tempfile::tempdir()?;
    let config = small_limit_config(&db, &broker, state.path(), "oversized_message = \"fail\"").await?;
    let daemon = RunningDaemon::start(&config, state.path())?;
    db.execute("INSERT INTO shop.docs VALUES (1, 'small')").await?;
    assert_eq!(
        consume(&broker.bootstrap_servers(), "docs", 1, CONSUME_TIMEOUT)
            .await?
            .len(),
        1
    );
    let before_big: BinlogPosition = current_position(&db).await?.parse()?;
    wait_for_checkpoint(state.path(), "reached the small row's commit", |at| *at == before_big).await?;

    db.execute("INSERT INTO shop.docs VALUES (2, REPEAT('x', 300000))")
        .await?;
    let error = daemon
        .wait_for_exit(CONSUME_TIMEOUT)
        .await
        .expect_err("the pipeline stops on an oversized message")
        .to_string();
    for part in [
        "`shop.docs`",
        &format!("{}:", before_big.file),
        "message.max.bytes = 100000",
        "bytes",
    ] {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
    let (checkpoint, _) = read_checkpoint(state.path())?.expect("a checkpoint");
    assert_eq!(
        checkpoint, before_big,
        "the checkpoint stays before the oversized change"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_goes_to_the_dead_letter_topic_and_the_stream_moves_on() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    let state = tempfile::tempdir()?;
    let config = small_limit_config(
        &db,
        &broker,
        state.path(),
        "oversized_message = \"dead_letter\"\noversized_dead_letter_topic = \"docs.too-big\"",
    )
    .await?;
    let daemon = RunningDaemon::start(&config, state.path())?;
    db.execute_all(&[
        "INSERT INTO shop.docs VALUES (1, 'small')",
        "INSERT INTO shop.docs VALUES (2, REPEAT('x', 300000))",
        "INSERT INTO shop.docs VALUES (3, 'small again')",
    ])
    .await?;
    let bootstrap = broker.bootstrap_servers();
    let kept = consume(&bootstrap, "docs", 2, CONSUME_TIMEOUT).await?;
    let dead = consume(&bootstrap, "docs.too-big", 1, CONSUME_TIMEOUT).await?;
    let end: BinlogPosition = current_position(&db).await?.parse()?;
    wait_for_checkpoint(state.path(), "passed every row", |at| *at == end).await?;
    assert!(!daemon.has_stopped(), "the daemon stopped");
    daemon.stop().await?;

    let keys: Vec<Option<&[u8]>> = kept.iter().map(|message| message.key.as_deref()).collect();
    assert_eq!(keys, [Some(&b"[1]"[..]), Some(&b"[3]"[..])]);
    assert_eq!(dead.len(), 1);
    let message = &dead[0];
    assert_eq!(message.key.as_deref(), Some(&b"[2]"[..]));
    let why = String::from_utf8_lossy(message.header("sluice-error").expect("a sluice-error header"));
    assert!(why.contains("message.max.bytes = 100000"), "{why}");
    assert_eq!(message.header("sluice-topic"), Some(&b"docs"[..]));
    let record = &decode_all(&dead)[0];
    assert_eq!(record.operation, "INSERT");
    assert_eq!(record.object_name.as_deref(), Some("shop.docs"));
    assert!(record.fields.is_empty() && record.after.is_none(), "no column values");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_checkpoints_and_a_restart_continues_without_gaps_or_repeats() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    db.execute_all(&["CREATE DATABASE shop", ACCOUNTS]).await?;
    let state = tempfile::tempdir()?;
    let config = with_settings(
        &stream_config(&db, &broker, state.path(), "accounts").await?,
        "pipeline",
        "shutdown_timeout_ms = 20000",
    );
    let config_path = write_config(state.path(), &config)?;
    let bootstrap = broker.bootstrap_servers();
    let writer = ChurnWriter::start(&db, 11);

    let mut daemon = DaemonProcess::start(&config_path)?;
    assert_eq!(consume(&bootstrap, "accounts", 300, CONSUME_TIMEOUT).await?.len(), 300);
    let asked = Instant::now();
    daemon.terminate()?;
    let code = daemon.wait_timeout(Duration::from_secs(25))?;
    let stopped_after = asked.elapsed();
    let (_, output) = daemon.wait()?;
    assert_eq!(code, Some(0), "{output}");
    assert!(
        stopped_after < Duration::from_secs(20),
        "took {stopped_after:?}, past the timeout"
    );
    // Everything sent was acknowledged and checkpointed: the next id is the number of records sent.
    let (_, next_record_id) = read_checkpoint(state.path())?.expect("a checkpoint after a graceful stop");
    let sent = decode_all(&consume_all(&bootstrap, "accounts", CONSUME_TIMEOUT).await?);
    let ids: Vec<i64> = sent.iter().map(|record| record.id).collect();
    assert_eq!(
        ids,
        (0..next_record_id).collect::<Vec<_>>(),
        "records sent and checkpoint agree"
    );

    tokio::time::sleep(Duration::from_secs(1)).await;
    writer.stop().await?;
    let expected = select_state(&db, "shop.accounts", &[0]).await?;
    let daemon = DaemonProcess::start(&config_path)?;
    let records = replay_until(&bootstrap, "accounts", &expected).await?;
    daemon.interrupt()?;
    let (code, output) = daemon.wait()?;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(
        replay(&records),
        expected,
        "the topic, replayed in order, differs from the table"
    );
    assert_nothing_doubled(&records);
    let ids: Vec<i64> = records.iter().map(|record| record.id).collect();
    assert_eq!(
        ids,
        (0..records.len() as i64).collect::<Vec<_>>(),
        "ids run on without gaps or repeats"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_kafka_gone_exits_6_after_the_timeout_without_checkpointing_the_unacknowledged()
-> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, label VARCHAR(20))",
    ])
    .await?;
    let state = tempfile::tempdir()?;
    let config = with_settings(
        &stream_config(&db, &broker, state.path(), "items").await?,
        "pipeline",
        "shutdown_timeout_ms = 3000",
    );
    let mut daemon = DaemonProcess::start(&write_config(state.path(), &config)?)?;
    db.execute("INSERT INTO shop.items VALUES (1, 'delivered')").await?;
    assert_eq!(
        consume(&broker.bootstrap_servers(), "items", 1, CONSUME_TIMEOUT)
            .await?
            .len(),
        1
    );
    let delivered: BinlogPosition = current_position(&db).await?.parse()?;
    wait_for_checkpoint(state.path(), "reached the delivered row", |at| *at == delivered).await?;

    broker.stop();
    db.execute("INSERT INTO shop.items VALUES (2, 'stuck')").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let asked = Instant::now();
    daemon.terminate()?;
    let code = daemon.wait_timeout(Duration::from_secs(20))?;
    let stopped_after = asked.elapsed();
    let (_, output) = daemon.wait()?;
    assert_eq!(code, Some(6), "{output}");
    assert!(
        stopped_after >= Duration::from_secs(3),
        "stopped before the timeout: {stopped_after:?}"
    );
    assert!(output.contains("shutdown_timeout_ms = 3000"), "{output}");
    assert!(output.contains("1 messages were not acknowledged"), "{output}");
    let (checkpoint, _) = read_checkpoint(state.path())?.expect("a checkpoint");
    assert_eq!(
        checkpoint, delivered,
        "the checkpoint stays at the last acknowledged transaction"
    );
    Ok(())
}
