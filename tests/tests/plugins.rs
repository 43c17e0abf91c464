//! Proves the plugin sandbox holds against real servers: a plugin that loops forever is stopped by its
//! CPU budget without ever holding the runtime's only thread, one that allocates without bound is
//! stopped by its memory limit, and one that returns an error stops the pipeline; in every case the
//! daemon reports the plugin by name and the checkpoint does not move past the change it failed on.
//! Under the other failure policies the daemon stays up: `dead_letter` publishes the untouched changes
//! a plugin trapped on, ran out of CPU on, or failed on after the sandbox denied it a file or a socket,
//! with the error in a header; `skip` drops them and the checkpoint moves past them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sluice_tests::daemon::{PluginEntry, RunningDaemon, config_toml, current_position};
use sluice_tests::harness::{Broker, MariaDb};
use sluice_tests::plugins::build_plugin;

/// Runs the daemon with the `misbehaving` plugin in `mode`, writes one row, and returns the daemon's
/// error and whether the checkpoint stayed at the start.
async fn run_misbehaving(mode: &str) -> anyhow::Result<(String, bool)> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&["CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY)"])
        .await?;
    let start = current_position(&db).await?;
    let plugin = tokio::task::spawn_blocking(|| build_plugin("misbehaving")).await??;
    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let entry = PluginEntry {
        name: "fixture".into(),
        path: plugin,
        config: vec![("mode".into(), mode.into())],
        // A 3 s CPU budget, so the runtime-thread check below has time to count.
        settings: vec!["cpu_budget_ms = 3000".into()],
    };
    let config = config_toml(&db, &broker, &checkpoint, &start, &["shop.*"], "items", &[entry])
        + "\n[snapshot]\nmode = \"never\"\n";
    let daemon = RunningDaemon::start(&config, state.path())?;
    db.execute("INSERT INTO shop.items VALUES (1)").await?;
    let error = match daemon.wait_for_exit(Duration::from_secs(60)).await {
        Ok(()) => anyhow::bail!("the daemon kept running with a `{mode}` plugin"),
        Err(error) => error.to_string(),
    };
    let stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint)?)?;
    Ok((error, stored["position"] == start.as_str()))
}

#[tokio::test(flavor = "current_thread")]
async fn a_plugin_that_loops_forever_is_stopped_by_its_cpu_budget_without_blocking_the_runtime() -> anyhow::Result<()> {
    // One runtime thread: if the plugin held it, this ticker would stop ticking.
    let ticks = Arc::new(AtomicU64::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let started = std::time::Instant::now();
    let (error, checkpoint_unmoved) = run_misbehaving("spin").await?;
    let elapsed = started.elapsed();
    ticker.abort();
    assert!(
        error.contains("plugin `fixture`") && error.contains("CPU budget"),
        "{error}"
    );
    assert!(
        checkpoint_unmoved,
        "the checkpoint moved past the change the plugin never decided on"
    );
    // The budget is 3 s of plugin time; over that long a free 50 ms ticker ticks ~60 times.
    let ticked = ticks.load(Ordering::Relaxed);
    assert!(
        ticked >= 30,
        "the runtime thread was held: {ticked} ticks in {elapsed:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_that_allocates_without_bound_is_stopped_by_its_memory_limit() -> anyhow::Result<()> {
    let (error, checkpoint_unmoved) = run_misbehaving("allocate").await?;
    assert!(error.contains("plugin `fixture` trapped"), "{error}");
    assert!(checkpoint_unmoved);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_error_stops_the_pipeline_without_advancing_the_position() -> anyhow::Result<()> {
    let (error, checkpoint_unmoved) = run_misbehaving("error").await?;
    assert!(
        error.contains("plugin `fixture` failed: misbehaving: failing on purpose"),
        "{error}"
    );
    assert!(checkpoint_unmoved);
    Ok(())
}

/// Starts a daemon whose only plugin is `misbehaving` in `mode` under the `on_failure` settings
/// given as TOML lines, on `shop.items` of existing servers, streaming from now.
async fn misbehaving_daemon(
    db: &MariaDb,
    broker: &Broker,
    state: &std::path::Path,
    mode: &str,
    policy: &str,
) -> anyhow::Result<RunningDaemon> {
    let plugin = tokio::task::spawn_blocking(|| build_plugin("misbehaving")).await??;
    let entry = PluginEntry {
        name: "fixture".into(),
        path: plugin,
        config: vec![("mode".into(), mode.into())],
        settings: vec!["cpu_budget_ms = 300".into(), policy.into()],
    };
    let start = current_position(db).await?;
    let config = config_toml(
        db,
        broker,
        &state.join("checkpoint.json"),
        &start,
        &["shop.*"],
        "items",
        &[entry],
    ) + "\n[snapshot]\nmode = \"never\"\n";
    RunningDaemon::start(&config, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_dead_letter_a_trapping_or_sandbox_probing_plugin_sends_changes_aside_and_the_daemon_stays_up()
-> anyhow::Result<()> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&["CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY)"])
        .await?;
    let bootstrap = broker.bootstrap_servers();
    let schema = sluice_tests::daemon::reference_schema()?;
    for (round, (mode, expected_error)) in [
        ("trap", "trapped"),
        ("open-file", "denied"),
        ("open-socket", "denied"),
        ("spin", "CPU budget"),
    ]
    .into_iter()
    .enumerate()
    {
        let state = tempfile::tempdir()?;
        let topic = format!("dead-{mode}");
        let policy = format!("on_failure = \"dead_letter\"\ndead_letter_topic = \"{topic}\"");
        let daemon = misbehaving_daemon(&db, &broker, state.path(), mode, &policy).await?;
        let first = round as i32 * 10;
        db.execute(&format!("INSERT INTO shop.items VALUES ({first}), ({})", first + 1))
            .await?;
        let dead = sluice_tests::harness::consume(&bootstrap, &topic, 2, Duration::from_secs(60)).await?;
        assert_eq!(dead.len(), 2, "{mode}: both changes are dead-lettered");
        for (message, id) in dead.iter().zip([first, first + 1]) {
            let error = String::from_utf8_lossy(message.header("sluice-error").unwrap_or_default()).into_owned();
            assert!(error.contains(expected_error), "{mode}: {error}");
            assert!(!error.contains("SANDBOX BREACH"), "{mode}: {error}");
            assert_eq!(message.header("sluice-plugin"), Some(&b"fixture"[..]));
            let record = sluice_tests::daemon::decode_record(&schema, &message.payload)?;
            assert_eq!(
                record.after.as_ref().and_then(|image| image[0].clone()),
                Some(id.to_string()),
                "{mode}: the untouched change"
            );
        }
        assert!(!daemon.has_stopped(), "{mode}: the daemon must stay up");
        daemon.stop().await?;
        let published = sluice_tests::harness::consume(&bootstrap, "items", usize::MAX, Duration::from_secs(1)).await?;
        assert!(published.is_empty(), "{mode}: nothing reaches the normal topic");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_skip_a_failing_plugin_drops_the_changes_it_fails_on_and_the_checkpoint_moves_on() -> anyhow::Result<()> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&["CREATE DATABASE shop", "CREATE TABLE shop.items (id INT PRIMARY KEY)"])
        .await?;
    let state = tempfile::tempdir()?;
    let daemon = misbehaving_daemon(&db, &broker, state.path(), "error", "on_failure = \"skip\"").await?;
    let start = current_position(&db).await?;
    db.execute("INSERT INTO shop.items VALUES (1), (2)").await?;
    let after_writes = current_position(&db).await?;
    let checkpoint = state.path().join("checkpoint.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        // No file yet until the first checkpoint is written.
        let stored: serde_json::Value = std::fs::read_to_string(&checkpoint)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        if stored["position"] == after_writes.as_str() {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the checkpoint stayed at {} (start {start}, writes end at {after_writes})",
            stored["position"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!daemon.has_stopped(), "skipping keeps the daemon up");
    let published =
        sluice_tests::harness::consume(&broker.bootstrap_servers(), "items", usize::MAX, Duration::from_secs(1))
            .await?;
    assert!(published.is_empty(), "skipped changes are not published");
    daemon.stop().await
}

/// Every file under `directory`, recursively.
fn files_under(directory: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compiled_plugin_is_cached_on_disk_so_a_restart_does_not_compile_it_again() -> anyhow::Result<()> {
    use sluice::plugin::engine::PluginEngine;
    let plugin = tokio::task::spawn_blocking(|| build_plugin("route-by-table")).await??;
    let cache = tempfile::tempdir()?;

    let first = PluginEngine::new(Some(cache.path()))?;
    first.compile("router", &plugin).await?;
    let (hits, misses) = first.cache_statistics().expect("a cache");
    assert_eq!(hits, 0, "a new cache holds nothing");
    assert!(misses >= 1, "the first start compiles");
    // The cache writes in the background.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while files_under(cache.path()).is_empty() {
        anyhow::ensure!(std::time::Instant::now() < deadline, "nothing was written to the cache");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(first);

    // A restart is a new engine over the same directory.
    let second = PluginEngine::new(Some(cache.path()))?;
    second.compile("router", &plugin).await?;
    let (hits, misses) = second.cache_statistics().expect("a cache");
    assert_eq!(misses, 0, "the restart compiled again");
    assert!(hits >= 1);
    Ok(())
}
