//! Proves, against a real MariaDB and a real Kafka-protocol broker, where messages land: each
//! `kafka.partitioning` policy (`single`, `table`, `{ columns = [...] }`, set per table) read back
//! from a 4-partition topic at the partition Kafka's murmur2 predicts; an UPDATE that changes the
//! primary key arriving as a DELETE under the old key in its partition, then an INSERT under the new
//! key in its own, and recognised as written by an exactly-once replay; a table without a column its
//! policy hashes stopping the startup precheck by name; and the plugin call latency histogram and trap
//! count served over HTTP while the daemon streams.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sluice_tests::daemon::{
    DecodedRecord, PluginEntry, RunningDaemon, config_toml, current_position, decode_record, reference_schema,
    with_metrics_address,
};
use sluice_tests::harness::{Broker, ConsumedMessage, MariaDb, consume, consume_all, http_get, metric_value};

const PARTITIONS: i32 = 4;
const CONSUME_TIMEOUT: Duration = Duration::from_secs(90);

async fn servers() -> anyhow::Result<(MariaDb, Broker)> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    Ok((db?, broker?))
}

/// Where the Java client (and sluice's partitioner) puts `bytes`: murmur2, computed here independently
/// of sluice with the reference crate and Kafka's seed.
fn predicted_partition(bytes: &[u8]) -> i32 {
    ((murmur2::murmur2(bytes, 0x9747_b28c) & 0x7fff_ffff) % PARTITIONS as u32) as i32
}

/// The config with further lines in its `[kafka]` section after `topic`, a 4-partition topic, and no
/// snapshot (only the binlog changes of the test are published).
fn with_kafka_lines(config: &str, topic: &str, lines: &str) -> String {
    no_snapshot(&config.replace(
        &format!("topic = \"{topic}\"\n"),
        &format!("topic = \"{topic}\"\ntopic_partitions = {PARTITIONS}\n{lines}\n"),
    ))
}

fn no_snapshot(config: &str) -> String {
    format!("{config}\n[snapshot]\nmode = \"never\"\n")
}

/// Every message of `topic`, decoded, with its partition, offset and key, in partition then offset order.
async fn read_back(
    broker: &Broker,
    topic: &str,
    expected: usize,
) -> anyhow::Result<Vec<(ConsumedMessage, DecodedRecord)>> {
    let messages = consume(&broker.bootstrap_servers(), topic, expected, CONSUME_TIMEOUT).await?;
    anyhow::ensure!(
        messages.len() == expected,
        "read {} of {expected} messages from {topic}",
        messages.len()
    );
    let schema = reference_schema()?;
    messages
        .into_iter()
        .map(|message| {
            let record = decode_record(&schema, &message.payload)?;
            Ok((message, record))
        })
        .collect()
}

fn key_text(message: &ConsumedMessage) -> String {
    String::from_utf8_lossy(message.key.as_deref().unwrap_or_default()).into_owned()
}

/// The partitions the messages of one table reached.
fn partitions_of(records: &[(ConsumedMessage, DecodedRecord)], object: &str) -> BTreeSet<i32> {
    records
        .iter()
        .filter(|(_, record)| record.object_name.as_deref() == Some(object))
        .map(|(message, _)| message.partition)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_partitioning_policy_puts_rows_where_murmur2_predicts() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    // Two tables under `table` whose names hash to different partitions (chosen, not assumed).
    let candidates = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let first = candidates[0];
    let second = *candidates
        .iter()
        .find(|name| predicted_partition(format!("shop.{name}").as_bytes()) != predicted_partition(b"shop.alpha"))
        .expect("some candidate hashes elsewhere");
    let regions = ["EU", "US", "APAC", "LATAM", "MEA"];
    let region_partitions: BTreeSet<i32> = regions
        .iter()
        .map(|region| predicted_partition(format!("[\"{region}\"]").as_bytes()))
        .collect();
    assert!(
        region_partitions.len() >= 2,
        "the regions must spread for the test to mean anything"
    );

    db.execute_all(&[
        "CREATE DATABASE shop",
        &format!("CREATE TABLE shop.{first} (id INT PRIMARY KEY, note VARCHAR(20))"),
        &format!("CREATE TABLE shop.{second} (id INT PRIMARY KEY, note VARCHAR(20))"),
        "CREATE TABLE shop.visits (id INT PRIMARY KEY, region VARCHAR(8))",
        "CREATE TABLE shop.flat (id INT PRIMARY KEY, note VARCHAR(20))",
    ])
    .await?;
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let config = config_toml(
        &db,
        &broker,
        &state.path().join("checkpoint.json"),
        &start,
        &["shop.*"],
        "changes",
        &[],
    );
    let config = with_kafka_lines(
        &config,
        "changes",
        &format!(
            "partitioning = \"single\"\npartitioning_by_table = {{ \"shop.{first}\" = \"table\", \"shop.{second}\" = \
             \"table\", \"shop.visits\" = {{ columns = [\"region\"] }} }}"
        ),
    );
    let daemon = RunningDaemon::start(&config, state.path())?;

    const ROWS: i64 = 20;
    let mut statements = Vec::new();
    for id in 1..=ROWS {
        statements.push(format!("INSERT INTO shop.{first} VALUES ({id}, 'a')"));
        statements.push(format!("INSERT INTO shop.{second} VALUES ({id}, 'b')"));
        statements.push(format!(
            "INSERT INTO shop.visits VALUES ({id}, '{}')",
            regions[id as usize % regions.len()]
        ));
        statements.push(format!("INSERT INTO shop.flat VALUES ({id}, 'c')"));
    }
    statements.push(format!("UPDATE shop.{first} SET note = 'changed' WHERE id <= 5"));
    statements.push("DELETE FROM shop.visits WHERE id <= 5".into());
    let statements: Vec<&str> = statements.iter().map(String::as_str).collect();
    db.execute_all(&statements).await?;
    let records = read_back(&broker, "changes", 4 * ROWS as usize + 10).await?;
    daemon.stop().await?;

    // Under the primary-key policy these rows would spread; `single` keeps them all in partition 0.
    let by_key: BTreeSet<i32> = (1..=ROWS)
        .map(|id| predicted_partition(format!("[{id}]").as_bytes()))
        .collect();
    assert!(by_key.len() >= 2);
    assert_eq!(partitions_of(&records, "shop.flat"), BTreeSet::from([0]));

    // `table`: every change of a table in the partition of its name, and the two tables apart.
    for name in [first, second] {
        let object = format!("shop.{name}");
        assert_eq!(
            partitions_of(&records, &object),
            BTreeSet::from([predicted_partition(object.as_bytes())]),
            "{object}"
        );
    }
    assert_ne!(
        partitions_of(&records, &format!("shop.{first}")),
        partitions_of(&records, &format!("shop.{second}"))
    );

    // `columns`: rows of one region share the region's partition, deletes (keyed by their before
    // image) included; the regions spread.
    let mut by_region: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for (message, record) in &records {
        if record.object_name.as_deref() != Some("shop.visits") {
            continue;
        }
        let image = record.after.as_ref().or(record.before.as_ref()).expect("an image");
        let region = image[1].clone().expect("a region");
        by_region.entry(region).or_default().insert(message.partition);
    }
    assert_eq!(by_region.len(), regions.len());
    for (region, partitions) in &by_region {
        assert_eq!(
            partitions,
            &BTreeSet::from([predicted_partition(format!("[\"{region}\"]").as_bytes())]),
            "region {region}"
        );
    }
    assert_eq!(
        partitions_of(&records, "shop.visits"),
        region_partitions,
        "the regions spread over the partitions murmur2 predicts"
    );
    // The message key stays the primary key whatever the partitioning.
    assert!(records.iter().all(|(message, _)| key_text(message).starts_with('[')));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_the_primary_key_arrives_as_a_delete_under_the_old_key_then_an_insert_under_the_new()
-> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    // A new key for row 1 that lives in another partition than the old one (chosen, not assumed).
    let old_partition = predicted_partition(b"[1]");
    let new_id = (100..)
        .find(|id| predicted_partition(format!("[{id}]").as_bytes()) != old_partition)
        .unwrap();
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))",
    ])
    .await?;
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let config = config_toml(&db, &broker, &checkpoint, &start, &["shop.items"], "items", &[]);
    let config = with_kafka_lines(&config, "items", "delivery = \"exactly_once\"");
    let daemon = RunningDaemon::start(&config, state.path())?;

    let inserts: Vec<String> = (1..=10)
        .map(|id| format!("INSERT INTO shop.items VALUES ({id}, 'item {id}')"))
        .collect();
    let inserts: Vec<&str> = inserts.iter().map(String::as_str).collect();
    db.execute_all(&inserts).await?;
    db.execute_all(&[
        &format!("UPDATE shop.items SET id = {new_id} WHERE id = 1"),
        "UPDATE shop.items SET name = 'renamed' WHERE id = 2",
        // Two rows of one rows event, each split in two.
        "UPDATE shop.items SET id = id + 1000 WHERE id IN (3, 4)",
    ])
    .await?;
    // 10 inserts, 2 for the first key change, 1 plain update, 4 for the two-row key change.
    const EXPECTED: usize = 17;
    let records = read_back(&broker, "items", EXPECTED).await?;
    daemon.stop().await?;

    let find = |operation: &str, key: &str| {
        records
            .iter()
            .find(|(message, record)| record.operation == operation && key_text(message) == key)
            .unwrap_or_else(|| panic!("no {operation} under {key}"))
    };
    let (insert_old, _) = find("INSERT", "[1]");
    let (delete_message, delete) = find("DELETE", "[1]");
    let new_key = format!("[{new_id}]");
    let (insert_message, insert) = find("INSERT", &new_key);
    assert_eq!(delete_message.partition, old_partition);
    assert_eq!(insert_message.partition, predicted_partition(new_key.as_bytes()));
    assert_ne!(delete_message.partition, insert_message.partition);
    // In order: the old key's history ends with the delete, and the delete was published first.
    assert!(insert_old.partition == delete_message.partition && insert_old.offset < delete_message.offset);
    assert_eq!(insert.id, delete.id + 1, "the delete comes right before the insert");
    assert_eq!(delete.before.as_ref().unwrap()[0].as_deref(), Some("1"));
    assert!(delete.after.is_none());
    let new_id_text = new_id.to_string();
    assert_eq!(
        insert.after.as_ref().unwrap(),
        &vec![Some(new_id_text.as_str().to_owned()), Some("item 1".to_owned())]
    );
    assert!(insert.before.is_none());
    // One binlog row, two positions: the row's, with `.0` and `.1`.
    let row = delete
        .source_position
        .strip_suffix(".0")
        .expect("the delete half ends in .0");
    assert_eq!(insert.source_position, format!("{row}.1"));
    assert!(row.contains('#'), "{row}");

    // A key change of two rows in one event: per row, its delete then its insert.
    let halves: Vec<(String, String)> = records
        .iter()
        .filter(|(message, _)| ["[3]", "[4]", "[1003]", "[1004]"].contains(&key_text(message).as_str()))
        .filter(|(_, record)| {
            record
                .source_position
                .rsplit_once('#')
                .is_some_and(|(_, row)| row.contains('.'))
        })
        .map(|(message, record)| (key_text(message), record.source_position.clone()))
        .collect();
    assert_eq!(halves.len(), 4, "{halves:?}");
    let position_of = |key: &str| halves.iter().find(|(k, _)| k == key).unwrap().1.clone();
    let event = position_of("[3]").rsplit_once('#').unwrap().0.to_owned();
    assert_eq!(position_of("[3]"), format!("{event}#0.0"));
    assert_eq!(position_of("[1003]"), format!("{event}#0.1"));
    assert_eq!(position_of("[4]"), format!("{event}#1.0"));
    assert_eq!(position_of("[1004]"), format!("{event}#1.1"));

    // An update that keeps the key stays one UPDATE.
    let (_, renamed) = find("UPDATE", "[2]");
    assert!(renamed.source_position.ends_with("#0"), "{}", renamed.source_position);

    // Replayed from the start under exactly-once delivery, every record, halves included, is
    // recognised as already written: only the new row is added.
    std::fs::remove_file(&checkpoint)?;
    let daemon = RunningDaemon::start(&config, state.path())?;
    db.execute("INSERT INTO shop.items VALUES (500, 'after the replay')")
        .await?;
    let after = consume(&broker.bootstrap_servers(), "items", EXPECTED + 1, CONSUME_TIMEOUT).await?;
    daemon.stop().await?;
    let everything = consume_all(&broker.bootstrap_servers(), "items", CONSUME_TIMEOUT).await?;
    assert_eq!(after.len(), EXPECTED + 1);
    assert_eq!(everything.len(), EXPECTED + 1, "the replay doubled something");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_call_latency_and_traps_are_served_while_streaming() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(20))",
    ])
    .await?;
    let router = sluice_tests::plugins::router(&[("topic_template", "{database}.{table}")]).await?;
    let trapper_path = tokio::task::spawn_blocking(|| sluice_tests::plugins::build_plugin("misbehaving")).await??;
    let trapper = PluginEntry {
        name: "trapper".into(),
        path: trapper_path,
        config: vec![("mode".into(), "trap".into())],
        settings: vec!["on_failure = \"skip\"".into()],
    };
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let config = config_toml(
        &db,
        &broker,
        &state.path().join("checkpoint.json"),
        &start,
        &["shop.orders"],
        "changes",
        &[router, trapper],
    );
    let (config, metrics_address) = with_metrics_address(&no_snapshot(&config))?;
    let daemon = RunningDaemon::start(&config, state.path())?;

    const ROWS: usize = 30;
    let inserts: Vec<String> = (1..=ROWS)
        .map(|id| format!("INSERT INTO shop.orders VALUES ({id}, 'x')"))
        .collect();
    let inserts: Vec<&str> = inserts.iter().map(String::as_str).collect();
    db.execute_all(&inserts).await?;

    // The trapper skips every change (each call traps), so the stream's end shows in its failures.
    let skipped = "sluice_plugin_failures_total{plugin=\"trapper\",policy=\"skip\"}";
    let deadline = std::time::Instant::now() + CONSUME_TIMEOUT;
    let metrics = loop {
        anyhow::ensure!(!daemon.has_stopped(), "the daemon stopped");
        let (status, text) = http_get(&metrics_address, "/metrics").await?;
        assert_eq!(status, 200);
        if metric_value(&text, skipped) == Some(ROWS as f64) {
            break text;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{skipped} did not reach {ROWS}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!daemon.has_stopped(), "the daemon streams on");
    let value = |series: &str| metric_value(&metrics, series).unwrap_or_else(|| panic!("no {series} in:\n{metrics}"));

    // The router: one observation per filter batch (not per change), every change counted once.
    let router_calls = value("sluice_plugin_call_seconds_count{plugin=\"router\",call=\"filter\"}");
    assert!((1.0..=ROWS as f64).contains(&router_calls), "{router_calls}");
    assert!(value("sluice_plugin_call_seconds_sum{plugin=\"router\",call=\"filter\"}") > 0.0);
    assert_eq!(
        value("sluice_plugin_call_seconds_bucket{le=\"+Inf\",plugin=\"router\",call=\"filter\"}"),
        router_calls
    );
    assert_eq!(
        value("sluice_plugin_call_changes_total{plugin=\"router\",call=\"filter\"}"),
        ROWS as f64
    );
    assert!(value("sluice_plugin_call_seconds_count{plugin=\"router\",call=\"map_table\"}") >= 1.0);
    assert!(
        !metrics.contains("sluice_plugin_call_errors_total{plugin=\"router\""),
        "{metrics}"
    );

    // The trapper: each batch call traps, then each change alone traps again; every call is timed.
    let traps = value("sluice_plugin_call_errors_total{plugin=\"trapper\",kind=\"trap\"}");
    let trapper_calls = value("sluice_plugin_call_seconds_count{plugin=\"trapper\",call=\"filter\"}");
    assert_eq!(traps, trapper_calls);
    let batches = traps - ROWS as f64;
    assert!(
        (1.0..=ROWS as f64).contains(&batches),
        "{traps} traps for {ROWS} changes"
    );
    assert_eq!(
        value("sluice_plugin_call_changes_total{plugin=\"trapper\",call=\"filter\"}"),
        2.0 * ROWS as f64,
        "each change shown once in its batch and once alone"
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_without_a_partitioning_column_stops_the_precheck_naming_table_and_column() -> anyhow::Result<()> {
    let (db, broker) = servers().await?;
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, customer INT)",
        "CREATE TABLE shop.audit (id INT PRIMARY KEY, what VARCHAR(20))",
    ])
    .await?;
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let config = config_toml(
        &db,
        &broker,
        &state.path().join("checkpoint.json"),
        &start,
        &["shop.*"],
        "changes",
        &[],
    );
    let config = with_kafka_lines(&config, "changes", "partitioning = { columns = [\"customer\"] }");
    let daemon = RunningDaemon::start(&config, state.path())?;
    let error = daemon
        .wait_for_exit(Duration::from_secs(60))
        .await
        .expect_err("the precheck must stop the daemon")
        .to_string();
    assert!(error.contains("partitioning of `shop`.`audit`"), "{error}");
    assert!(
        error.contains("kafka.partitioning hashes column `customer`, which `shop`.`audit` does not have"),
        "{error}"
    );
    assert!(!error.contains("`shop`.`orders`"), "orders has the column: {error}");
    Ok(())
}
