//! Proves the plugin sandbox holds against real servers: a plugin that loops forever is stopped by its
//! CPU budget without ever holding the runtime's only thread, one that allocates without bound is
//! stopped by its memory limit, and one that returns an error stops the pipeline; in every case the
//! daemon reports the plugin by name and the checkpoint does not move past the change it failed on.

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
    };
    // A 3 s CPU budget, so the runtime-thread check below has time to count.
    let plugin_line = format!("path = \"{}\"\n", entry.path.display());
    let config = config_toml(&db, &broker, &checkpoint, &start, &["shop.*"], "items", &[entry])
        .replace(&plugin_line, &format!("{plugin_line}cpu_budget_ms = 3000\n"))
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
