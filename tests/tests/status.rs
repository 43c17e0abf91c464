//! Proves `sluice status` (the real binary) against a real daemon streaming from MariaDB into tansu:
//! it shows the daemon streaming and ready, the source, the checkpoint position the daemon wrote,
//! the lag, non-zero rates while rows are written between its two reads, totals matching what reached
//! Kafka, the plugin with the version the records are tagged with, and the last error the daemon
//! logged (a refused plugin file); `--json` gives the same report to machines; and with no daemon at
//! the address it exits 1 with a message saying so.

use std::path::Path;
use std::time::Duration;

use sluice_tests::daemon::{
    DaemonProcess, PluginEntry, config_toml, current_position, decode_record, reference_schema, run_sluice,
    with_metrics_address,
};
use sluice_tests::harness::{Broker, MariaDb, consume, free_port, http_get};
use sluice_tests::plugins::build_plugin;

/// The value after `name` on its line of the view (`name` padded to 11 columns).
fn field<'a>(view: &'a str, name: &str) -> &'a str {
    view.lines()
        .find_map(|line| line.strip_prefix(&format!("{name:<11} ")))
        .unwrap_or_else(|| panic!("no `{name}` line:\n{view}"))
}

fn status(args: &[&std::ffi::OsStr]) -> anyhow::Result<sluice_tests::daemon::CommandOutput> {
    let mut all = vec!["status".as_ref()];
    all.extend_from_slice(args);
    tokio::task::block_in_place(|| run_sluice(&all))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_position_lag_rates_plugins_and_the_last_error_of_a_running_daemon() -> anyhow::Result<()> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id BIGINT PRIMARY KEY, note VARCHAR(40))",
    ])
    .await?;
    let router = tokio::task::spawn_blocking(|| build_plugin("route-by-table")).await??;
    let dir = tempfile::tempdir()?;
    let plugin_path = dir.path().join("router.wasm");
    std::fs::copy(&router, &plugin_path)?;
    let entry = PluginEntry {
        name: "router".into(),
        path: plugin_path.clone(),
        config: vec![("topic_template".into(), "{database}.{table}".into())],
        ..Default::default()
    };
    let start = current_position(&db).await?;
    let text = config_toml(
        &db,
        &broker,
        &dir.path().join("checkpoint.json"),
        &start,
        &["shop.*"],
        "unused",
        &[entry],
    ) + "\n[snapshot]\nmode = \"never\"\n";
    let (text, metrics_address) = with_metrics_address(&text)?;
    let config_path = dir.path().join("sluice.toml");
    std::fs::write(&config_path, text)?;
    let mut daemon = DaemonProcess::start(&config_path)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !matches!(http_get(&metrics_address, "/ready").await, Ok((200, _))) {
        anyhow::ensure!(daemon.is_running(), "the daemon stopped:\n{}", daemon.output());
        anyhow::ensure!(std::time::Instant::now() < deadline, "the daemon did not get ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    db.execute("INSERT INTO shop.items VALUES (1, 'first'), (2, 'second')")
        .await?;
    let first = consume(&broker.bootstrap_servers(), "shop.items", 2, Duration::from_secs(60)).await?;
    assert_eq!(first.len(), 2);
    let record = decode_record(&reference_schema()?, &first[0].payload)?;
    let tag = record
        .tags
        .iter()
        .find(|(key, _)| key == "plugins")
        .map(|(_, value)| value.clone())
        .expect("a plugins tag");

    // A refused plugin file is the daemon's last error; the running version stays.
    std::fs::write(dir.path().join("router.staging"), b"this is not webassembly")?;
    std::fs::rename(dir.path().join("router.staging"), &plugin_path)?;
    assert!(
        tokio::task::block_in_place(|| daemon.wait_for_lines("new plugin version refused", 1, Duration::from_secs(60))),
        "{}",
        daemon.output()
    );

    // Rows keep arriving while status reads twice, a second apart.
    let writer = {
        let db_conn = db.admin_conn().await?;
        tokio::spawn(async move {
            use mysql_async::prelude::Queryable;
            let mut conn = db_conn;
            for id in 100..130 {
                conn.query_drop(format!("INSERT INTO shop.items VALUES ({id}, 'during status')"))
                    .await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            anyhow::Ok(())
        })
    };
    let output = status(&["--config".as_ref(), config_path.as_os_str()])?;
    writer.await??;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(0), "{}\n{}", output.stdout, output.stderr);
    let view = &output.stdout;
    let header = view.lines().next().unwrap_or_default();
    assert!(header.starts_with("sluice "), "{view}");
    assert!(
        header.contains(&format!(" at {metrics_address}: streaming (ready), up ")),
        "{view}"
    );
    assert_eq!(field(view, "source"), format!("{}:{}", db.host(), db.port()));
    let position = field(view, "position");
    let (file, _) = start.split_once(':').expect("file:offset");
    assert!(
        position.starts_with(file) && position.contains("(checkpoint written "),
        "{view}"
    );
    assert!(field(view, "lag").ends_with(" s behind the source"), "{view}");
    let changes_per_second: f64 = field(view, "rates")
        .split(" changes/s")
        .next()
        .and_then(|rate| rate.parse().ok())
        .unwrap_or_else(|| panic!("no rate:\n{view}"));
    assert!(changes_per_second > 0.0, "rows were written between the reads:\n{view}");
    assert_eq!(field(view, "plugins"), tag, "{view}");
    let last_error = field(view, "last error");
    assert!(
        last_error.contains("ERROR: new plugin version refused") && last_error.contains("router"),
        "{view}"
    );

    // The JSON report: the totals are what reached Kafka, the checkpoint is the file's.
    let all = consume(&broker.bootstrap_servers(), "shop.items", 32, Duration::from_secs(60)).await?;
    assert_eq!(all.len(), 32);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let report: serde_json::Value = loop {
        let json = status(&["--address".as_ref(), metrics_address.as_ref(), "--json".as_ref()])?;
        assert_eq!(json.code, Some(0), "{}", json.stderr);
        let report: serde_json::Value = serde_json::from_str(&json.stdout)?;
        let checkpoint_file = checkpoint_position(&dir.path().join("checkpoint.json"));
        if report["totals"]["changes"] == 32 && report["checkpoint"]["position"].as_str() == checkpoint_file.as_deref()
        {
            break report;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the report did not settle: {report}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(report["totals"]["messages"], 32, "{report}");
    assert_eq!(report["plugins"][0]["name"], "router", "{report}");
    assert_eq!(report["ready"], true, "{report}");
    assert_eq!(report["kafka_in_flight"], 0, "{report}");

    daemon.terminate()?;
    let (code, stderr) = tokio::task::block_in_place(|| daemon.wait())?;
    assert_eq!(code, Some(0), "{stderr}");

    // No daemon there any more: a clear message and exit 1.
    let gone = status(&[
        "--address".as_ref(),
        metrics_address.as_ref(),
        "--interval-ms".as_ref(),
        "10".as_ref(),
    ])?;
    assert_eq!(gone.code, Some(1), "{}", gone.stdout);
    assert!(
        gone.stderr
            .contains(&format!("no sluice daemon answers at http://{metrics_address}/status")),
        "{}",
        gone.stderr
    );
    let elsewhere = format!("127.0.0.1:{}", free_port()?);
    let nobody = status(&["--address".as_ref(), elsewhere.as_ref()])?;
    assert_eq!(nobody.code, Some(1));
    Ok(())
}

/// The `position` of the checkpoint file.
fn checkpoint_position(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let file: serde_json::Value = serde_json::from_str(&text).ok()?;
    file["position"].as_str().map(str::to_owned)
}
