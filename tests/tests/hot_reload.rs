//! Proves hot reload against real servers: while 100k changes stream, the plugin file is replaced 20
//! times with alternating versions, and every change arrives exactly once, tagged with the version that
//! handled it, with versions changing only between transactions; a broken replacement (garbage bytes,
//! a component without the contract, a version whose `init` refuses the config) is refused, counted,
//! and the running version keeps running.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use sluice_tests::daemon::{
    PluginEntry, RunningDaemon, config_toml, current_position, decode_record, reference_schema, with_metrics_address,
};
use sluice_tests::harness::{Broker, MariaDb, consume, consume_all, http_get, metric_value};
use sluice_tests::plugins::build_plugin;

const ROWS: u64 = 100_000;
/// Rows per source transaction, written by two statements.
const ROWS_PER_TRANSACTION: u64 = 250;
const SWAPS: usize = 20;

/// The same component with a custom section appended: identical behaviour, a different file hash.
fn variant(component: &[u8], label: &str) -> Vec<u8> {
    let name = b"sluice-test-version";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(label.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0); // custom section
    bytes.push(payload.len() as u8); // LEB128 size (< 128)
    bytes.extend_from_slice(&payload);
    bytes
}

/// Replaces a file the way a deployment does: write beside it, then rename over it.
fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let staging = path.with_extension("staging");
    std::fs::write(&staging, bytes)?;
    std::fs::rename(&staging, path)?;
    Ok(())
}

async fn servers_with_items() -> anyhow::Result<(MariaDb, Broker)> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id BIGINT PRIMARY KEY, note VARCHAR(40))",
    ])
    .await?;
    Ok((db, broker))
}

/// A daemon running the router plugin from a file in `state`, which the test may replace.
async fn router_daemon(
    db: &MariaDb,
    broker: &Broker,
    state: &Path,
    component: &[u8],
) -> anyhow::Result<(RunningDaemon, std::path::PathBuf, String)> {
    let plugin_path = state.join("router.wasm");
    std::fs::write(&plugin_path, component)?;
    let entry = PluginEntry {
        name: "router".into(),
        path: plugin_path.clone(),
        config: vec![("topic_template".into(), "{database}.{table}".into())],
        ..Default::default()
    };
    let start = current_position(db).await?;
    let config = config_toml(
        db,
        broker,
        &state.join("checkpoint.json"),
        &start,
        &["shop.*"],
        "unused",
        &[entry],
    ) + "\n[snapshot]\nmode = \"never\"\n";
    let (config, metrics) = with_metrics_address(&config)?;
    let daemon = RunningDaemon::start(&config, state)?;
    // Ready means the plugin is loaded: replacements from here on are new versions.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !matches!(http_get(&metrics, "/ready").await, Ok((200, _))) {
        anyhow::ensure!(!daemon.has_stopped(), "the daemon stopped while starting");
        anyhow::ensure!(std::time::Instant::now() < deadline, "the daemon did not get ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((daemon, plugin_path, metrics))
}

/// Waits until a metric of the daemon reaches `value`.
async fn wait_for_metric(daemon: &RunningDaemon, address: &str, series: &str, value: f64) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        anyhow::ensure!(!daemon.has_stopped(), "the daemon stopped");
        let text = match http_get(address, "/metrics").await {
            Ok((_, text)) => text,
            Err(error) => format!("{error:#}"),
        };
        if metric_value(&text, series) == Some(value) {
            return Ok(());
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{series} did not reach {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn insert_statement(first: u64, count: u64) -> String {
    let values: Vec<String> = (first..first + count).map(|id| format!("({id}, 'n{id}')")).collect();
    format!("INSERT INTO shop.items VALUES {}", values.join(","))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_the_plugin_under_load_loses_and_doubles_nothing_and_swaps_between_transactions() -> anyhow::Result<()>
{
    let (db, broker) = servers_with_items().await?;
    let component = tokio::task::spawn_blocking(|| build_plugin("route-by-table")).await??;
    let original = std::fs::read(&component)?;
    let versions = [original.clone(), variant(&original, "b")];
    let state = tempfile::tempdir()?;
    let (daemon, plugin_path, metrics_address) = router_daemon(&db, &broker, state.path(), &versions[0]).await?;

    // Writers: transactions of 250 rows until there are 100k rows and every swap is done.
    let swaps_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let url = db.admin_url();
        let swaps_done = swaps_done.clone();
        tokio::spawn(async move {
            use mysql_async::prelude::Queryable;
            let mut conn = mysql_async::Conn::from_url(url).await?;
            let mut id = 0;
            while id < ROWS || !swaps_done.load(std::sync::atomic::Ordering::Relaxed) {
                let mut transaction = conn.start_transaction(Default::default()).await?;
                let half = ROWS_PER_TRANSACTION / 2;
                transaction.query_drop(insert_statement(id, half)).await?;
                transaction.query_drop(insert_statement(id + half, half)).await?;
                transaction.commit().await?;
                id += ROWS_PER_TRANSACTION;
                // At most ~125k rows a second, so slow swaps on a busy machine do not pile up millions.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            anyhow::Ok(id)
        })
    };
    // Each replacement waits until the previous one was swapped in, so all 20 happen under load.
    for swap in 1..=SWAPS {
        replace(&plugin_path, &versions[swap % 2])?;
        let series = "sluice_plugin_swaps_total{plugin=\"router\"}";
        if let Err(error) = wait_for_metric(&daemon, &metrics_address, series, swap as f64).await {
            if daemon.has_stopped() {
                daemon.wait_for_exit(Duration::from_secs(1)).await?;
            }
            return Err(error.context(format!("swap {swap}")));
        }
    }
    swaps_done.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.await??;
    assert!(written >= ROWS);

    let bootstrap = broker.bootstrap_servers();
    let messages = consume(&bootstrap, "shop.items", written as usize, Duration::from_secs(180)).await?;
    assert_eq!(messages.len() as u64, written, "every change arrives");
    let schema = reference_schema()?;
    let mut ids = BTreeSet::new();
    let mut version_of_transaction: BTreeMap<String, String> = BTreeMap::new();
    let mut sequence: Vec<String> = Vec::new();
    for message in &messages {
        let record = decode_record(&schema, &message.payload)?;
        let id: u64 = record.after.as_ref().unwrap()[0].as_ref().unwrap().parse()?;
        assert!(ids.insert(id), "row {id} arrived twice");
        let tag = record
            .tags
            .iter()
            .find(|(key, _)| key == "plugins")
            .map(|(_, value)| value.clone())
            .expect("every record names the plugin version that handled it");
        assert!(tag.starts_with("router@") && tag.len() == "router@".len() + 16, "{tag}");
        let known = version_of_transaction
            .entry(record.source_txid.clone())
            .or_insert_with(|| tag.clone());
        assert_eq!(
            *known, tag,
            "transaction {} was handled by two versions",
            record.source_txid
        );
        if sequence.last() != Some(&tag) {
            sequence.push(tag);
        }
    }
    assert_eq!(ids.len() as u64, written);
    let distinct: BTreeSet<&String> = sequence.iter().collect();
    assert_eq!(distinct.len(), 2, "both versions handled changes: {sequence:?}");
    // A version swapped in right at a batch's end may hand over before it handled a change, so not
    // every swap need show in the stream; most do.
    assert!(
        sequence.len() > SWAPS / 2,
        "the stream shows only {} of the {SWAPS} swaps: {sequence:?}",
        sequence.len() - 1
    );
    assert!(!daemon.has_stopped());
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_replacement_is_refused_and_the_running_version_keeps_running() -> anyhow::Result<()> {
    let (db, broker) = servers_with_items().await?;
    let (router, misbehaving) =
        tokio::task::spawn_blocking(|| anyhow::Ok((build_plugin("route-by-table")?, build_plugin("misbehaving")?)))
            .await??;
    let original = std::fs::read(&router)?;
    let state = tempfile::tempdir()?;
    let (daemon, plugin_path, metrics_address) = router_daemon(&db, &broker, state.path(), &original).await?;
    let bootstrap = broker.bootstrap_servers();

    db.execute(&insert_statement(0, 1)).await?;
    let first = consume(&bootstrap, "shop.items", 1, Duration::from_secs(60)).await?;
    let schema = reference_schema()?;
    let tag_of = |payload: &[u8]| -> anyhow::Result<String> {
        let record = decode_record(&schema, payload)?;
        Ok(record
            .tags
            .into_iter()
            .find(|(key, _)| key == "plugins")
            .map(|(_, value)| value)
            .unwrap_or_default())
    };
    let running = tag_of(&first[0].payload)?;

    let broken: [(&str, Vec<u8>); 3] = [
        ("garbage bytes", b"this is not webassembly".to_vec()),
        (
            "a component without the contract",
            vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00],
        ),
        // Its init refuses the router's config key `topic_template`.
        ("a plugin that refuses the config", std::fs::read(&misbehaving)?),
    ];
    for (refusals, (what, bytes)) in broken.iter().enumerate() {
        replace(&plugin_path, bytes)?;
        let series = "sluice_plugin_refusals_total{plugin=\"router\"}";
        wait_for_metric(&daemon, &metrics_address, series, (refusals + 1) as f64)
            .await
            .map_err(|error| error.context(format!("{what} was not refused")))?;
        let id = refusals as u64 + 1;
        db.execute(&insert_statement(id, 1)).await?;
        let messages = consume(&bootstrap, "shop.items", id as usize + 1, Duration::from_secs(60)).await?;
        assert_eq!(messages.len() as u64, id + 1, "after {what}");
        assert_eq!(
            tag_of(&messages[id as usize].payload)?,
            running,
            "after {what}, the old version handled the change"
        );
    }
    assert!(!daemon.has_stopped(), "a refused version must not stop the daemon");
    // The last good file comes back: nothing to swap, since it is the running version.
    replace(&plugin_path, &original)?;
    db.execute(&insert_statement(10, 1)).await?;
    let all = consume_all(&bootstrap, "shop.items", Duration::from_secs(10)).await?;
    assert_eq!(tag_of(&all.last().expect("messages").payload)?, running);
    daemon.stop().await
}
