//! Proves SIGHUP against the real binary, MariaDB and tansu: a config that adds a table to
//! `source.tables` and changes a plugin's config is applied live — the new table's existing rows
//! arrive as a snapshot and its new rows as a stream, and changes after the plugin swap follow the
//! plugin's new config; a change that needs a restart is named and ignored; an invalid config is
//! refused with its error while streaming goes on with the config in force.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use sluice_tests::daemon::{
    DaemonProcess, config_toml, current_position, decode_record, reference_schema, with_metrics_address,
};
use sluice_tests::harness::{Broker, ConsumedMessage, MariaDb, consume, http_get};

const WAIT: Duration = Duration::from_secs(60);

/// `(topic, table, id)` of each message.
fn rows(messages: &[ConsumedMessage]) -> BTreeSet<(String, String, String)> {
    let schema = reference_schema().expect("the DTS schema");
    messages
        .iter()
        .map(|message| {
            let record = decode_record(&schema, &message.payload).expect("a DTS record");
            let id = record.after.expect("an insert or snapshot row")[0]
                .clone()
                .expect("an id");
            (message.topic.clone(), record.object_name.unwrap_or_default(), id)
        })
        .collect()
}

/// Everything on `topics` once at least `expected` messages arrived in all (or the wait ends).
async fn read(broker: &Broker, topics: &[&str], expected: usize) -> anyhow::Result<BTreeSet<(String, String, String)>> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let mut all = Vec::new();
        for topic in topics {
            all.extend(consume(&broker.bootstrap_servers(), topic, usize::MAX, Duration::from_secs(2)).await?);
        }
        if all.len() >= expected || std::time::Instant::now() >= deadline {
            return Ok(rows(&all));
        }
    }
}

fn row(topic: &str, table: &str, id: u32) -> (String, String, String) {
    (topic.to_owned(), table.to_owned(), id.to_string())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let staging = path.with_extension("staging");
    std::fs::write(&staging, text)?;
    std::fs::rename(&staging, path)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_adds_a_table_with_its_snapshot_swaps_plugin_config_and_refuses_an_invalid_file() -> anyhow::Result<()> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(40))",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, note VARCHAR(40))",
        "INSERT INTO shop.items VALUES (1, 'before'), (2, 'before'), (3, 'before')",
    ])
    .await?;
    let router = sluice_tests::plugins::router(&[("topic_template", "{database}.{table}")]).await?;
    let start = current_position(&db).await?;
    let dir = tempfile::tempdir()?;
    let text = config_toml(
        &db,
        &broker,
        &dir.path().join("checkpoint.json"),
        &start,
        &["shop.orders"],
        "unused",
        &[router],
    );
    let (first, metrics_address) = with_metrics_address(&text)?;
    let config_path = dir.path().join("sluice.toml");
    write(&config_path, &first)?;
    let mut daemon = DaemonProcess::start(&config_path)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !matches!(http_get(&metrics_address, "/ready").await, Ok((200, _))) {
        anyhow::ensure!(daemon.is_running(), "the daemon stopped:\n{}", daemon.output());
        anyhow::ensure!(std::time::Instant::now() < deadline, "the daemon did not get ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.execute("INSERT INTO shop.orders VALUES (1, 'one table')").await?;
    db.execute("INSERT INTO shop.items VALUES (4, 'not captured yet')")
        .await?;
    assert_eq!(
        read(&broker, &["shop.orders"], 1).await?,
        BTreeSet::from([row("shop.orders", "shop.orders", 1)])
    );

    // Add shop.items and change the router's topic; also a key that needs a restart.
    let second = first
        .replace(
            r#"tables = ["shop.orders"]"#,
            r#"tables = ["shop.orders", "shop.items"]"#,
        )
        .replace(
            r#"topic_template = "{database}.{table}""#,
            r#"topic_template = "v2.{database}.{table}""#,
        )
        .replace("interval_ms = 200", "interval_ms = 300");
    assert_ne!(second, first);
    write(&config_path, &second)?;
    daemon.hangup()?;
    let wait = |daemon: &mut DaemonProcess, needle: &str| {
        let found = tokio::task::block_in_place(|| daemon.wait_for_lines(needle, 1, WAIT));
        assert!(found, "no `{needle}` in the log:\n{}", daemon.output());
    };
    wait(&mut daemon, "needs a restart: checkpoint.interval_ms");
    wait(&mut daemon, "capturing the new tables from here");
    wait(&mut daemon, "plugin version swapped in");
    db.execute("INSERT INTO shop.items VALUES (5, 'streamed')").await?;
    db.execute("INSERT INTO shop.orders VALUES (2, 'after the swap')")
        .await?;
    let topics = ["shop.orders", "shop.items", "v2.shop.orders", "v2.shop.items"];
    let seen = read(&broker, &topics, 7).await?;
    let items: BTreeSet<&str> = seen
        .iter()
        .filter(|(_, table, _)| table == "shop.items")
        .map(|(_, _, id)| id.as_str())
        .collect();
    // The snapshot brings 1 to 4 (4 was written before the table was captured), the stream brings 5.
    assert_eq!(items, BTreeSet::from(["1", "2", "3", "4", "5"]), "{seen:?}");
    assert!(seen.contains(&row("v2.shop.items", "shop.items", 5)), "{seen:?}");
    assert!(seen.contains(&row("v2.shop.orders", "shop.orders", 2)), "{seen:?}");

    // An invalid file is refused; the daemon streams on with the config in force.
    write(
        &config_path,
        &second.replace("server_id = 4242", "server_id = 4242\nserverid = 1"),
    )?;
    daemon.hangup()?;
    wait(&mut daemon, "config reload refused, the running config stays");
    assert!(
        daemon.output().contains("unknown field `serverid`"),
        "{}",
        daemon.output()
    );
    db.execute("INSERT INTO shop.items VALUES (6, 'after the refusal')")
        .await?;
    let seen = read(&broker, &topics, 8).await?;
    assert!(seen.contains(&row("v2.shop.items", "shop.items", 6)), "{seen:?}");
    assert!(daemon.is_running(), "{}", daemon.output());

    daemon.terminate()?;
    let (code, stderr) = tokio::task::block_in_place(|| daemon.wait())?;
    assert_eq!(code, Some(0), "{stderr}");
    Ok(())
}
