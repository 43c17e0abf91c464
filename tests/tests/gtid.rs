//! GTID positions end to end: the checkpoint names its point by GTID as well as by file/offset, and
//! after a failover to a replica with the same GTIDs (but its own binlog files and offsets) the
//! daemon continues the stream without losing or repeating a change.

use std::time::{Duration, Instant};

use anyhow::Context;
use mysql_async::prelude::Queryable;
use sluice_tests::daemon::{RunningDaemon, config_toml, current_position};
use sluice_tests::harness::{Broker, MariaDb, MariaDbOptions, consume};
use sluice_tests::replay::{insert_items, inserted_ids};

const TOPIC: &str = "items";

/// The `id` of every record in the topic, in topic order.
async fn topic_ids(broker: &Broker, expected: usize, timeout: Duration) -> anyhow::Result<Vec<i64>> {
    inserted_ids(&consume(&broker.bootstrap_servers(), TOPIC, expected, timeout).await?)
}

async fn query_text(db: &MariaDb, sql: &str) -> anyhow::Result<Option<String>> {
    let mut conn = db.admin_conn().await?;
    let value: Option<Option<String>> = conn.query_first(sql).await?;
    Ok(value.flatten())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_to_a_replica_the_stream_continues_by_gtid() -> anyhow::Result<()> {
    let (primary, replica, broker) = tokio::join!(
        MariaDb::start_with(MariaDbOptions {
            server_id: 1,
            extra_args: vec![],
        }),
        // The replica's own writes (its users) go to another replication domain, as a replica's
        // local changes should.
        MariaDb::start_with(MariaDbOptions {
            server_id: 2,
            extra_args: vec!["--log-slave-updates".into(), "--gtid-domain-id=2".into()],
        }),
        Broker::start()
    );
    let (primary, replica, broker) = (primary?, replica?, broker?);

    // Replicate by GTID from the primary's present state on (both servers created the same user).
    let primary_state = query_text(&primary, "SELECT @@GLOBAL.gtid_binlog_pos")
        .await?
        .unwrap_or_default();
    let (user, password) = primary.replication_user();
    replica
        .execute_all(&[
            &format!("SET GLOBAL gtid_slave_pos = '{primary_state}'"),
            &format!(
                "CHANGE MASTER TO MASTER_HOST = '{}', MASTER_PORT = {}, MASTER_USER = '{user}', \
                 MASTER_PASSWORD = '{password}', MASTER_USE_GTID = slave_pos",
                primary.host(),
                primary.port()
            ),
            "START SLAVE",
        ])
        .await?;
    primary
        .execute_all(&[
            "CREATE DATABASE shop",
            "CREATE TABLE shop.items (id BIGINT PRIMARY KEY, note VARCHAR(40))",
        ])
        .await?;

    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let start = current_position(&primary).await?;
    let snapshot_off = "\n[snapshot]\nmode = \"never\"\n";
    let on_primary = config_toml(&primary, &broker, &checkpoint, &start, &["shop.items"], TOPIC, &[]) + snapshot_off;
    let daemon = RunningDaemon::start(&on_primary, state.path())?;
    insert_items(&primary, 1..=30).await?;
    assert_eq!(topic_ids(&broker, 30, Duration::from_secs(60)).await?.len(), 30);
    daemon.stop().await?;

    let stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint)?)?;
    let (position, gtid) = (
        stored["position"].as_str().context("a position")?.to_owned(),
        stored["gtid"]
            .as_str()
            .context("the checkpoint names its point by GTID")?
            .to_owned(),
    );
    assert!(
        gtid.starts_with("0-1-"),
        "the primary's GTID domain 0, server 1: {gtid}"
    );

    // More changes on the primary while the daemon is down; they reach the replica; then the primary
    // is gone and the replica takes writes of its own.
    insert_items(&primary, 31..=60).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while query_text(&replica, "SELECT CAST(COUNT(*) AS CHAR) FROM shop.items")
        .await?
        .as_deref()
        != Some("60")
    {
        anyhow::ensure!(Instant::now() < deadline, "the replica did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    replica.execute("STOP SLAVE").await?;
    primary.stop();
    insert_items(&replica, 61..=90).await?;

    // The checkpoint's file and offset mean something else on the replica: only the GTID carries over.
    let (file, offset) = position.rsplit_once(':').context("file:offset")?;
    let same_offset_on_replica = query_text(&replica, &format!("SELECT BINLOG_GTID_POS('{file}', {offset})")).await?;
    assert_ne!(same_offset_on_replica.as_deref(), Some(gtid.as_str()));

    let on_replica = config_toml(&replica, &broker, &checkpoint, &start, &["shop.items"], TOPIC, &[]) + snapshot_off;
    let daemon = RunningDaemon::start(&on_replica, state.path())?;
    let ids = topic_ids(&broker, 90, Duration::from_secs(60)).await?;
    assert_eq!(
        ids,
        (1..=90).collect::<Vec<i64>>(),
        "every change once, in order, across the failover"
    );
    // Nothing more arrives (no repeats).
    assert_eq!(topic_ids(&broker, usize::MAX, Duration::from_secs(3)).await?.len(), 90);
    daemon.stop().await?;

    let stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint)?)?;
    let gtid_after = stored["gtid"].as_str().context("a GTID")?;
    assert!(
        gtid_after.contains("2-2-"),
        "the replica's own domain is tracked too: {gtid_after}"
    );
    Ok(())
}
