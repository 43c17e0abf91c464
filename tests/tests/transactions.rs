//! `kafka.delivery = "transactional"` against librdkafka's in-process mock cluster (the local broker,
//! tansu, has no Kafka transactions): the checkpoint is committed to Kafka inside the transaction
//! that carries the messages, and a restarted daemon resumes from that committed checkpoint, not from
//! its file.
//!
//! What the mock cannot show: it does not hide uncommitted or aborted transactions from
//! `read_committed` consumers (measured: all 70 changes of a transaction still open at a crash were
//! visible), so "a crash mid-transaction is invisible to read_committed consumers" holds on a real
//! broker by Kafka's own guarantee and is not asserted here.

use std::time::Duration;

use anyhow::Context;
use rdkafka::mocking::MockCluster;
use sluice_tests::daemon::{RunningDaemon, config_toml_for_brokers, current_position, wait_for_checkpoint};
use sluice_tests::harness::{MariaDb, consume};
use sluice_tests::replay::{insert_items, inserted_ids};

const TOPIC: &str = "items";

/// The ids a `read_committed` consumer (librdkafka's default) sees, sorted. A message the consumer
/// fetched twice (the mock cluster makes it re-fetch from the start of a partition now and then) counts
/// once: what matters is what the topic holds, one id per offset.
async fn committed_ids(bootstrap: &str, expected: usize, timeout: Duration) -> anyhow::Result<Vec<i64>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut messages = consume(bootstrap, TOPIC, expected, timeout).await?;
        messages.dedup_by_key(|message| (message.partition, message.offset));
        if messages.len() < expected && expected != usize::MAX && std::time::Instant::now() < deadline {
            continue;
        }
        let mut ids = inserted_ids(&messages)?;
        ids.sort();
        return Ok(ids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_is_committed_in_the_kafka_transaction_and_a_restart_resumes_from_it() -> anyhow::Result<()> {
    let db = MariaDb::start().await?;
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id BIGINT PRIMARY KEY, note VARCHAR(40))",
    ])
    .await?;
    let cluster = MockCluster::new(1)?;
    cluster.create_topic(TOPIC, 2, 1)?;
    cluster.create_topic("sluice.checkpoints", 1, 1)?;
    let bootstrap = cluster.bootstrap_servers();

    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let start = current_position(&db).await?;
    let config = config_toml_for_brokers(&db, &bootstrap, &checkpoint, &start, &["shop.items"], TOPIC, &[])
        .replace(
            &format!("topic = \"{TOPIC}\"\n"),
            &format!("topic = \"{TOPIC}\"\ndelivery = \"transactional\"\n"),
        )
        .replace("interval_ms = 200", "interval_ms = 300")
        + "\n[snapshot]\nmode = \"never\"\n";

    let daemon = RunningDaemon::start(&config, state.path())?;
    insert_items(&db, 1..=40).await?;
    assert_eq!(
        committed_ids(&bootstrap, 40, Duration::from_secs(60)).await?,
        (1..=40).collect::<Vec<i64>>()
    );
    // Wait until a committed transaction covers all 40, then crash and lose the checkpoint file: only
    // the copy committed to Kafka says where to resume.
    let end = current_position(&db).await?;
    anyhow::ensure!(
        wait_for_checkpoint(&checkpoint, &end, Duration::from_secs(60)).await,
        "no transaction covering the first 40 changes was committed"
    );
    daemon.crash().await;
    std::fs::remove_file(&checkpoint)?;

    let daemon = RunningDaemon::start(&config, state.path())?;
    insert_items(&db, 41..=60).await?;
    let ids = committed_ids(&bootstrap, 60, Duration::from_secs(60)).await?;
    assert_eq!(
        ids,
        (1..=60).collect::<Vec<i64>>(),
        "resumed at the checkpoint committed to Kafka: nothing lost, nothing sent again"
    );
    daemon.stop().await?;
    let stored = std::fs::read_to_string(&checkpoint).context("the file is rewritten after each commit")?;
    assert!(stored.contains("\"position\""), "{stored}");
    assert_eq!(
        committed_ids(&bootstrap, usize::MAX, Duration::from_secs(3)).await?,
        ids
    );
    Ok(())
}
