//! Proves the snapshot: 200k rows across three tables (one with a composite key) are snapshotted while
//! writers keep changing them, and replaying the topics in order equals a final SELECT, with no binlog
//! change published twice; a daemon killed mid-snapshot resumes at its last finished chunk; a table can
//! be snapshotted again while streaming, on a signal row; and `when_needed` snapshots again when the
//! checkpointed binlog was purged, where the default mode refuses with the missing file named.

use std::path::Path;
use std::time::Duration;

use sluice_tests::daemon::{
    DecodedRecord, RunningDaemon, config_toml, current_position, decode_record, plugin_toml, reference_schema,
    with_metrics_address,
};
use sluice_tests::harness::{Broker, MariaDb, consume_all, end_offsets, http_get, metric_value};
use sluice_tests::replay::{Random, Workload, assert_nothing_doubled, key_columns, replay, select_state};

const TABLES: [&str; 3] = ["shop.orders", "shop.lines", "shop.customers"];

async fn servers() -> anyhow::Result<(MariaDb, Broker)> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    Ok((db?, broker?))
}

/// Servers with the three tables loaded, a state directory, and the binlog position after the load.
struct Scenario {
    db: MariaDb,
    broker: Broker,
    state: tempfile::TempDir,
    checkpoint: std::path::PathBuf,
    start: String,
}

impl Scenario {
    async fn new(orders: u32, lines: u32, customers: u32) -> anyhow::Result<Self> {
        let (db, broker) = servers().await?;
        create_tables(&db, orders, lines, customers).await?;
        let state = tempfile::tempdir()?;
        let checkpoint = state.path().join("checkpoint.json");
        let start = current_position(&db).await?;
        Ok(Self {
            db,
            broker,
            state,
            checkpoint,
            start,
        })
    }
}

/// Waits until the checkpoint records every table's snapshot as done.
async fn wait_for_snapshots(checkpoint: &Path) -> anyhow::Result<()> {
    wait_until("every table's snapshot to finish", Duration::from_secs(600), || {
        TABLES.iter().all(|table| snapshot_state(checkpoint, table) == "done")
    })
    .await
}

/// Creates the three tables with `orders` + `lines` + `customers` rows.
async fn create_tables(db: &MariaDb, orders: u32, lines: u32, customers: u32) -> anyhow::Result<()> {
    db.execute_all(&[
        "SET SESSION max_recursive_iterations = 10000000",
        "CREATE DATABASE shop",
        "CREATE DATABASE ops",
        "CREATE TABLE ops.signal (id INT AUTO_INCREMENT PRIMARY KEY, target VARCHAR(200))",
        "CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(10,2), note VARCHAR(60))",
        "CREATE TABLE shop.lines (order_id INT, line_no INT, sku VARCHAR(20), qty INT, PRIMARY KEY (order_id, line_no))",
        "CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(60), tier INT)",
        &format!(
            "INSERT INTO shop.orders SELECT seq, CONCAT('c', seq % 1000), (seq % 997) + 0.25, REPEAT('n', seq % 40) \
             FROM {}",
            numbers(1, orders)
        ),
        &format!(
            "INSERT INTO shop.lines SELECT (seq DIV 4) + 1, seq % 4, CONCAT('sku-', seq % 313), seq % 9 FROM {}",
            numbers(0, lines - 1)
        ),
        &format!(
            "INSERT INTO shop.customers SELECT seq, CONCAT('customer ', seq), seq % 5 FROM {}",
            numbers(1, customers)
        ),
    ])
    .await
}

/// A derived table `seq` of the whole numbers from `first` to `last`.
fn numbers(first: u32, last: u32) -> String {
    format!(
        "(WITH RECURSIVE s(seq) AS (SELECT {first} UNION ALL SELECT seq + 1 FROM s WHERE seq < {last}) \
         SELECT seq FROM s) AS numbers"
    )
}

/// One transaction of 1–3 random writes across the three tables.
fn writes(random: &mut Random) -> Vec<String> {
    (0..1 + random.below(3))
        .map(|_| {
            let id = 1 + random.below(120_000);
            match random.below(9) {
                0 => format!(
                    "INSERT IGNORE INTO shop.orders VALUES ({}, 'late', 1.00, 'new')",
                    200_000 + id
                ),
                1 => format!("DELETE FROM shop.orders WHERE id = {id}"),
                2 | 3 => format!("UPDATE shop.orders SET amount = amount + 1, note = 'touched {id}' WHERE id = {id}"),
                4 => format!(
                    "UPDATE shop.lines SET qty = qty + 1 WHERE order_id = {} AND line_no = {}",
                    id % 20_000,
                    id % 4
                ),
                5 => format!(
                    "DELETE FROM shop.lines WHERE order_id = {} AND line_no = {}",
                    id % 20_000,
                    id % 4
                ),
                6 => format!(
                    "INSERT IGNORE INTO shop.lines VALUES ({}, {}, 'late', 1)",
                    100_000 + id % 5000,
                    id % 7
                ),
                7 => format!("UPDATE shop.customers SET tier = tier + 1 WHERE id = {}", id % 40_000),
                _ => format!("INSERT IGNORE INTO shop.customers VALUES ({}, 'late', 0)", 100_000 + id),
            }
        })
        .collect()
}

fn checkpoint_json(path: &Path) -> serde_json::Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// The checkpointed snapshot state of a table: `pending`, `after` or `done`.
fn snapshot_state(path: &Path, table: &str) -> String {
    checkpoint_json(path)["snapshot"][table]["state"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Waits until the daemon checkpointed past everything written so far.
async fn wait_caught_up(db: &MariaDb, checkpoint: &Path) -> anyhow::Result<()> {
    let end = current_position(db).await?;
    let (file, offset) = end.rsplit_once(':').unwrap();
    let offset: u64 = offset.parse()?;
    wait_until(
        "the checkpoint to reach the binlog end",
        Duration::from_secs(180),
        || {
            let position = checkpoint_json(checkpoint)["position"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            position
                .rsplit_once(':')
                .is_some_and(|(f, o)| f > file || (f == file && o.parse::<u64>().unwrap_or(0) >= offset))
        },
    )
    .await
}

async fn records_of(broker: &Broker, topic: &str) -> anyhow::Result<Vec<(i64, DecodedRecord)>> {
    let schema = reference_schema()?;
    let messages = consume_all(&broker.bootstrap_servers(), topic, Duration::from_secs(120)).await?;
    messages
        .iter()
        .map(|m| Ok((m.offset, decode_record(&schema, &m.payload)?)))
        .collect()
}

/// Replays every table's topic and compares it with the table now.
async fn assert_topics_equal_tables(db: &MariaDb, broker: &Broker) -> anyhow::Result<Vec<DecodedRecord>> {
    let mut all = Vec::new();
    for table in TABLES {
        let records: Vec<DecodedRecord> = records_of(broker, table).await?.into_iter().map(|(_, r)| r).collect();
        anyhow::ensure!(!records.is_empty(), "nothing published for {table}");
        let key = key_columns(&records[0]);
        let replayed = replay(&records);
        let selected = select_state(db, table, &key).await?;
        assert_eq!(
            replayed.len(),
            selected.len(),
            "{table}: rows after replay vs rows in the table"
        );
        let differing: Vec<_> = selected
            .iter()
            .filter(|(k, row)| replayed.get(*k) != Some(row))
            .take(5)
            .collect();
        assert!(
            differing.is_empty(),
            "{table}: replay differs from SELECT for {differing:?}"
        );
        all.extend(records);
    }
    Ok(all)
}

fn config(db: &MariaDb, broker: &Broker, checkpoint: &Path, start: &str, snapshot: &str) -> String {
    // Topics per table, via object names as topics: one topic per table keeps per-table order simple.
    config_toml(db, broker, checkpoint, start, &["shop.*"], "unused", &[])
        .replace("[kafka]", "[kafka]\ntopic_partitions = 1")
        + &format!("\n[snapshot]\nchunk_size = 5000\nparallel_tables = 2\n{snapshot}\n")
}

/// Adds the example router, sending each table's changes to the topic named like the table.
async fn with_router(config: String) -> anyhow::Result<String> {
    let router = sluice_tests::plugins::router(&[("topic_template", "{database}.{table}")]).await?;
    Ok(config + &plugin_toml(&router))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_under_concurrent_writes_hands_over_exactly() -> anyhow::Result<()> {
    let Scenario {
        db,
        broker,
        state,
        checkpoint,
        start,
    } = Scenario::new(100_000, 60_000, 40_000).await?;
    let config = with_router(config(&db, &broker, &checkpoint, &start, "")).await?;
    let (config, metrics_address) = with_metrics_address(&config)?;
    let daemon = RunningDaemon::start(&config, state.path())?;
    let workload = Workload::start(&db, 7, writes);

    wait_for_snapshots(&checkpoint).await?;
    let (status, metrics) = http_get(&metrics_address, "/metrics").await?;
    assert_eq!(status, 200, "{metrics}");
    assert_eq!(
        http_get(&metrics_address, "/ready").await?.0,
        200,
        "streaming means ready"
    );
    assert_eq!(http_get(&metrics_address, "/health").await?.0, 200);
    let transactions = workload.stop().await?;
    assert!(transactions > 0, "the writers ran during the snapshot");
    wait_caught_up(&db, &checkpoint).await?;
    let records = assert_topics_equal_tables(&db, &broker).await?;
    assert_nothing_doubled(&records);
    let snapshot_rows = records
        .iter()
        .filter(|r| r.tags.iter().any(|(k, _)| k == "snapshot"))
        .count();
    assert!(snapshot_rows >= 190_000, "only {snapshot_rows} snapshot rows");
    // The progress metrics count exactly the rows each table's snapshot published.
    for table in TABLES {
        let published = records
            .iter()
            .filter(|r| r.object_name.as_deref() == Some(table) && r.tags.iter().any(|(k, _)| k == "snapshot"))
            .count();
        let series = |name: &str| format!("sluice_snapshot_{name}{{table=\"{table}\"}}");
        assert_eq!(
            metric_value(&metrics, &series("rows_done")),
            Some(published as f64),
            "{metrics}"
        );
        assert_eq!(
            metric_value(&metrics, &series("rows_read_total")),
            Some(published as f64)
        );
        assert_eq!(metric_value(&metrics, &series("running")), Some(0.0));
        assert_eq!(metric_value(&metrics, &series("tables_finished_total")), Some(1.0));
        assert!(metric_value(&metrics, &series("rows_estimated")).is_some_and(|rows| rows > 0.0));
    }
    assert!(!daemon.has_stopped());
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_killed_mid_snapshot_resumes_at_its_last_finished_chunk() -> anyhow::Result<()> {
    let Scenario {
        db,
        broker,
        state,
        checkpoint,
        start,
    } = Scenario::new(60_000, 4_000, 2_000).await?;
    let config = with_router(
        config(&db, &broker, &checkpoint, &start, "").replace("parallel_tables = 2", "parallel_tables = 1"),
    )
    .await?;
    let daemon = RunningDaemon::start(&config, state.path())?;
    let workload = Workload::start(&db, 11, writes);
    wait_until("shop.orders to be part-way", Duration::from_secs(300), || {
        snapshot_state(&checkpoint, "shop.orders") == "after"
    })
    .await?;
    daemon.crash().await;
    let at_crash = checkpoint_json(&checkpoint);
    let resume_key = at_crash["snapshot"]["shop.orders"]["after"][0]["int"]
        .as_i64()
        .expect("a resume key");
    let crash_offsets = end_offsets(&broker.bootstrap_servers(), "shop.orders").await?;
    let crash_offset = crash_offsets.iter().map(|(_, high)| *high).max().unwrap_or(0);

    let (config, metrics_address) = with_metrics_address(&config)?;
    let daemon = RunningDaemon::start(&config, state.path())?;
    wait_for_snapshots(&checkpoint).await?;
    let (_, metrics) = http_get(&metrics_address, "/metrics").await?;
    workload.stop().await?;
    wait_caught_up(&db, &checkpoint).await?;
    assert_topics_equal_tables(&db, &broker).await?;

    // After the restart, shop.orders was read on from the checkpointed key, not from row zero.
    let after_restart: Vec<i64> = records_of(&broker, "shop.orders")
        .await?
        .into_iter()
        .filter(|(offset, record)| *offset >= crash_offset && record.tags.iter().any(|(k, _)| k == "snapshot"))
        .map(|(_, record)| record.after.as_ref().unwrap()[0].as_ref().unwrap().parse().unwrap())
        .collect();
    assert!(!after_restart.is_empty(), "the snapshot went on after the restart");
    // The restarted daemon's progress counts only the rows it read after the checkpointed key: no more
    // than the snapshot rows published since the crash (a message the crashed producer had in flight
    // may land after the crash offset too), and fewer than the table holds.
    let rows_done = metric_value(&metrics, "sluice_snapshot_rows_done{table=\"shop.orders\"}").unwrap_or(0.0);
    let table_rows: u64 = {
        use mysql_async::prelude::Queryable;
        let mut conn = db.admin_conn().await?;
        conn.query_first("SELECT COUNT(*) FROM shop.orders").await?.unwrap_or(0)
    };
    assert!(
        rows_done > 0.0 && rows_done <= after_restart.len() as f64 && rows_done < table_rows as f64,
        "rows_done {rows_done}, published since the crash {}, table rows {table_rows}:\n{metrics}",
        after_restart.len()
    );
    let smallest = after_restart.iter().min().unwrap();
    assert!(
        *smallest > resume_key,
        "re-read key {smallest} at or before the checkpointed key {resume_key}"
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_row_snapshots_a_table_again_while_streaming() -> anyhow::Result<()> {
    let Scenario {
        db,
        broker,
        state,
        checkpoint,
        start,
    } = Scenario::new(5_000, 4_000, 3_000).await?;
    let config = with_router(config(
        &db,
        &broker,
        &checkpoint,
        &start,
        "signal_table = \"ops.signal\"",
    ))
    .await?;
    let daemon = RunningDaemon::start(&config, state.path())?;
    let workload = Workload::start(&db, 23, writes);
    wait_for_snapshots(&checkpoint).await?;
    let before = records_of(&broker, "shop.customers").await?.len();
    db.execute("INSERT INTO ops.signal (target) VALUES ('shop.customers')")
        .await?;
    let bootstrap = broker.bootstrap_servers();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let snapshot_rows = records_of(&broker, "shop.customers")
            .await?
            .iter()
            .filter(|(_, r)| r.tags.iter().any(|(k, _)| k == "snapshot"))
            .count();
        if snapshot_rows >= 2 * 3_000 && snapshot_state(&checkpoint, "shop.customers") == "done" {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the re-snapshot did not complete"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    workload.stop().await?;
    wait_caught_up(&db, &checkpoint).await?;
    assert_topics_equal_tables(&db, &broker).await?;
    assert!(records_of(&broker, "shop.customers").await?.len() > before);
    let topics = sluice_tests::harness::list_topics(&bootstrap).await?;
    assert!(
        !topics.iter().any(|t| t.contains("signal")),
        "the signal table is not published: {topics:?}"
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_needed_snapshots_again_after_the_binlog_was_purged() -> anyhow::Result<()> {
    let Scenario {
        db,
        broker,
        state,
        checkpoint,
        start,
    } = Scenario::new(2_000, 400, 300).await?;
    let plain = with_router(config(&db, &broker, &checkpoint, &start, "")).await?;
    let when_needed = plain.replace("[snapshot]\n", "[snapshot]\nmode = \"when_needed\"\n");
    let daemon = RunningDaemon::start(&plain, state.path())?;
    wait_for_snapshots(&checkpoint).await?;
    db.execute("UPDATE shop.customers SET tier = 100 WHERE id <= 10")
        .await?;
    wait_caught_up(&db, &checkpoint).await?;
    daemon.stop().await?;

    // While the daemon is down: more changes, then the binlog holding them is purged.
    db.execute_all(&[
        "UPDATE shop.orders SET note = 'while down' WHERE id <= 50",
        "INSERT INTO shop.customers VALUES (900001, 'while down', 1)",
        "FLUSH BINARY LOGS",
        "FLUSH BINARY LOGS",
    ])
    .await?;
    let newest = current_position(&db).await?;
    let newest_file = newest.rsplit_once(':').unwrap().0.to_owned();
    let checkpointed_file = checkpoint_json(&checkpoint)["position"]
        .as_str()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .0
        .to_owned();
    // PURGE skips a file a replica still reads; repeat until the server has really let go of it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        db.execute(&format!("PURGE BINARY LOGS TO '{newest_file}'")).await?;
        let mut conn = db.admin_conn().await?;
        let files: Vec<String> =
            mysql_async::prelude::Queryable::query_map(&mut conn, "SHOW BINARY LOGS", |row: mysql_async::Row| {
                row.get::<String, _>(0).unwrap_or_default()
            })
            .await?;
        if !files.contains(&checkpointed_file) {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{checkpointed_file} could not be purged: {files:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The default mode refuses, naming the purged file.
    let refused = RunningDaemon::start(&plain, state.path())?.stop().await;
    let message = refused
        .expect_err("a purged checkpoint position must not be skipped silently")
        .to_string();
    assert!(
        message.contains("purged") && message.contains("when_needed"),
        "{message}"
    );

    let daemon = RunningDaemon::start(&when_needed, state.path())?;
    wait_until("the snapshot after the purge", Duration::from_secs(300), || {
        TABLES.iter().all(|table| snapshot_state(&checkpoint, table) == "done")
            && checkpoint_json(&checkpoint)["position"]
                .as_str()
                .is_some_and(|p| p.starts_with(&newest_file))
    })
    .await?;
    wait_caught_up(&db, &checkpoint).await?;
    assert_topics_equal_tables(&db, &broker).await?;
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_only_publishes_the_snapshot_and_exits_with_nothing_lost_in_flight() -> anyhow::Result<()> {
    let Scenario {
        db,
        broker,
        state,
        checkpoint,
        start,
    } = Scenario::new(30_000, 400, 300).await?;
    let config = with_router(config(&db, &broker, &checkpoint, &start, "mode = \"initial_only\"")).await?;
    // The daemon stops by itself once the snapshot is published; messages still in flight when the
    // stream ends must be delivered, not purged with the producer.
    RunningDaemon::start(&config, state.path())?
        .wait_for_exit(Duration::from_secs(300))
        .await?;
    for (table, rows) in [("shop.orders", 30_000), ("shop.lines", 400), ("shop.customers", 300)] {
        let published: i64 = end_offsets(&broker.bootstrap_servers(), table)
            .await?
            .iter()
            .map(|(_, high)| high)
            .sum();
        assert_eq!(published, rows, "{table}");
        assert_eq!(snapshot_state(&checkpoint, table), "done", "{table}");
    }
    assert_topics_equal_tables(&db, &broker).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_without_a_primary_key_are_chunked_by_a_unique_key_or_read_in_one_scan() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    db.execute_all(&[
        "SET SESSION max_recursive_iterations = 10000000",
        "CREATE DATABASE shop",
        "CREATE TABLE shop.codes (code VARCHAR(20) NOT NULL, label VARCHAR(20), UNIQUE KEY uk_code (code))",
        &format!(
            "INSERT INTO shop.codes SELECT CONCAT('c', LPAD(seq, 6, '0')), CONCAT('label ', seq) FROM {}",
            numbers(1, 12_000)
        ),
        "CREATE TABLE shop.notes (txt VARCHAR(20))",
        &format!(
            "INSERT INTO shop.notes SELECT CONCAT('note ', seq) FROM {}",
            numbers(1, 100)
        ),
    ])
    .await?;
    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let start = current_position(&db).await?;
    let config = with_router(config(&db, &broker, &checkpoint, &start, "mode = \"initial_only\"")).await?;
    RunningDaemon::start(&config, state.path())?
        .wait_for_exit(Duration::from_secs(300))
        .await?;

    let codes: Vec<DecodedRecord> = records_of(&broker, "shop.codes")
        .await?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(codes.len(), 12_000);
    assert!(
        codes[0]
            .tags
            .contains(&("pk_uk_info".into(), r#"{"uk_code":["code"]}"#.into())),
        "{:?}",
        codes[0].tags
    );
    // Chunks read at the same point (nothing was written meanwhile) still give each row its own position.
    let positions: std::collections::BTreeSet<&str> = codes.iter().map(|r| r.source_position.as_str()).collect();
    assert_eq!(positions.len(), codes.len(), "snapshot rows share positions");
    let key = key_columns(&codes[0]);
    assert_eq!(key, vec![0]);
    assert_eq!(replay(&codes), select_state(&db, "shop.codes", &key).await?);
    let messages =
        sluice_tests::harness::consume(&broker.bootstrap_servers(), "shop.codes", 1, Duration::from_secs(30)).await?;
    assert_eq!(messages[0].key.as_deref(), Some(&br#"["c000001"]"#[..]));

    let notes: Vec<DecodedRecord> = records_of(&broker, "shop.notes")
        .await?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(notes.len(), 100, "a table without any key is read whole");
    assert!(notes[0].tags.contains(&("pk_uk_info".into(), "{}".into())));
    assert_eq!(snapshot_state(&checkpoint, "shop.notes"), "done");
    Ok(())
}
