//! Proves that `sluice check` (the real binary) reports every problem of a setup at once, as one
//! PASS/WARN/FAIL line per check with a fix under each problem, against a real MariaDB and broker:
//! a healthy setup passes, wrong binlog settings fail with their fixes while the broker checks still
//! pass, weaker settings and keyless tables only warn, a clashing `server_id` fails, an unreachable
//! broker fails the broker checks while the source checks still run, a plugin that is not a component
//! fails by name, a user without the replication grants fails with the GRANT to run, a server without
//! a binlog fails `log_bin`, and the password never shows. Also that `sluice run` stops on the same
//! failures.

use std::path::Path;

use sluice_tests::daemon::{CommandOutput, PluginEntry, config_toml, run_sluice};
use sluice_tests::harness::{Broker, MariaDb, MariaDbOptions, free_port};

/// The checks every report names, in order.
const SOURCE_CHECKS: [&str; 11] = [
    "connection",
    "server version",
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "binlog retention",
    "server_id",
    "privileges",
    "captured tables",
    "row key",
];

/// Writes `config` into `dir` and runs `sluice check` on it (with `--json` if asked).
fn check(dir: &Path, config: &str, json: bool) -> anyhow::Result<CommandOutput> {
    let path = dir.join("sluice.toml");
    std::fs::write(&path, config)?;
    let mut args = vec!["check".as_ref(), "--config".as_ref(), path.as_os_str()];
    if json {
        args.push("--json".as_ref());
    }
    let output = tokio::task::block_in_place(|| run_sluice(&args))?;
    for secret in ["sluice-secret", "never-shown-secret"] {
        assert!(
            !output.stdout.contains(secret) && !output.stderr.contains(secret),
            "the password leaked:\n{}\n{}",
            output.stdout,
            output.stderr
        );
    }
    Ok(output)
}

/// The report line of the check named `name` (its status, name and detail).
fn line<'a>(output: &'a CommandOutput, name: &str) -> &'a str {
    output
        .stdout
        .lines()
        .find(|line| line.get(6..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no line for `{name}`:\n{}", output.stdout))
}

/// The `fix:` line under the check named `name` (after any continuation lines of its detail).
fn fix_of<'a>(output: &'a CommandOutput, name: &str) -> &'a str {
    let lines: Vec<&str> = output.stdout.lines().collect();
    let index = lines
        .iter()
        .position(|candidate| candidate.get(6..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no line for `{name}`:\n{}", output.stdout));
    lines[index + 1..]
        .iter()
        .take_while(|next| next.starts_with(' '))
        .find(|next| next.trim_start().starts_with("fix: "))
        .unwrap_or_else(|| panic!("no fix under `{name}`:\n{}", output.stdout))
}

fn status_of<'a>(output: &'a CommandOutput, name: &str) -> &'a str {
    &line(output, name)[..4]
}

/// The example `route-by-table` plugin, built under a cargo profile of this test's own: the release
/// build's `route_by_table.wasm` sits at a path every checkout sharing the target directory writes, so
/// another checkout's contract version could be found there.
fn private_router_build() -> anyhow::Result<std::path::PathBuf> {
    let manifest = sluice_tests::cargo::repository_root().join("plugins/Cargo.toml");
    sluice_tests::cargo::build_artifact(
        &[
            "--config",
            "profile.precheck-test.inherits=\"release\"",
            "--profile",
            "precheck-test",
            "--target",
            "wasm32-wasip2",
            "-p",
            "route-by-table",
            "--manifest-path",
            &manifest.to_string_lossy(),
        ],
        "route_by_table",
        |file| file.ends_with(".wasm"),
    )
}

async fn servers(extra_args: &[&str]) -> anyhow::Result<(MariaDb, Broker)> {
    let (db, broker) = tokio::join!(
        MariaDb::start_with(MariaDbOptions {
            extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            ..Default::default()
        }),
        Broker::start()
    );
    Ok((db?, broker?))
}

fn config(db: &MariaDb, broker: &Broker, dir: &Path) -> String {
    config_toml(
        db,
        broker,
        &dir.join("checkpoint.json"),
        "current",
        &["shop.*"],
        "changes",
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_setup_passes_every_check_and_exits_0() -> anyhow::Result<()> {
    let (servers, router) = tokio::join!(servers(&[]), tokio::task::spawn_blocking(private_router_build));
    let ((db, broker), router_path) = (servers?, router??);
    db.execute("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, note TEXT)")
        .await?;
    let dir = tempfile::tempdir()?;
    let router = PluginEntry {
        name: "router".into(),
        path: router_path,
        ..Default::default()
    };
    let text = config_toml(
        &db,
        &broker,
        &dir.path().join("checkpoint.json"),
        "current",
        &["shop.*"],
        "changes",
        &[router],
    );
    let output = check(dir.path(), &text, false)?;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(0), "{}\n{}", output.stdout, output.stderr);
    for name in SOURCE_CHECKS
        .iter()
        .chain(&["Kafka broker", "topic `changes`", "plugin `router`"])
    {
        let status = status_of(&output, name);
        assert!(status == "PASS" || status == "WARN", "{name}: {}", line(&output, name));
    }
    for name in [
        "connection",
        "log_bin",
        "binlog_format",
        "binlog_row_image",
        "binlog_row_metadata",
    ] {
        assert_eq!(status_of(&output, name), "PASS", "{}", output.stdout);
    }
    assert!(line(&output, "server version").contains("MariaDB"), "{}", output.stdout);
    assert!(
        line(&output, "captured tables").contains("`shop`.`orders`"),
        "{}",
        output.stdout
    );
    assert!(
        line(&output, "topic `changes`").contains("will be created"),
        "{}",
        output.stdout
    );
    assert!(
        line(&output, "plugin `router`").contains("mapping"),
        "{}",
        output.stdout
    );
    assert!(output.stdout.contains("0 failed"), "{}", output.stdout);

    let json = check(dir.path(), &text, true)?;
    assert_eq!(json.code, Some(0));
    let report: serde_json::Value = serde_json::from_str(&json.stdout)?;
    assert_eq!(report["ok"], true);
    assert_eq!(report["summary"]["failed"], 0);
    assert!(report["checks"].as_array().is_some_and(|checks| checks.len() >= 14));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_format_and_minimal_images_fail_with_their_fixes_while_the_broker_passes() -> anyhow::Result<()> {
    let (db, broker) = servers(&["--binlog-format=STATEMENT", "--binlog-row-image=MINIMAL"]).await?;
    db.execute("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY)")
        .await?;
    let dir = tempfile::tempdir()?;
    let output = check(dir.path(), &config(&db, &broker, dir.path()), false)?;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(1), "{}\n{}", output.stdout, output.stderr);
    assert_eq!(status_of(&output, "binlog_format"), "FAIL");
    assert!(line(&output, "binlog_format").contains("`STATEMENT` but sluice needs `ROW`"));
    assert!(fix_of(&output, "binlog_format").contains("binlog_format=ROW"));
    assert_eq!(status_of(&output, "binlog_row_image"), "FAIL");
    assert!(fix_of(&output, "binlog_row_image").contains("binlog_row_image=FULL"));
    assert_eq!(status_of(&output, "Kafka broker"), "PASS");
    assert_eq!(status_of(&output, "topic `changes`"), "PASS");
    assert!(output.stdout.contains("2 failed"), "{}", output.stdout);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_row_metadata_and_a_keyless_table_only_warn() -> anyhow::Result<()> {
    let (db, broker) = servers(&["--binlog-row-metadata=MINIMAL"]).await?;
    db.execute(
        "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY); \
         CREATE TABLE shop.audit_log (at DATETIME, line TEXT); \
         CREATE TABLE shop.codes (code CHAR(3) NOT NULL, UNIQUE KEY (code))",
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let output = check(dir.path(), &config(&db, &broker, dir.path()), false)?;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(0), "{}\n{}", output.stdout, output.stderr);
    assert_eq!(status_of(&output, "binlog_row_metadata"), "WARN");
    assert!(line(&output, "binlog_row_metadata").contains("MINIMAL"));
    assert!(fix_of(&output, "binlog_row_metadata").contains("binlog_row_metadata=FULL"));
    assert_eq!(status_of(&output, "row key of `shop`.`audit_log`"), "WARN");
    assert!(fix_of(&output, "row key of `shop`.`audit_log`").contains("primary key"));
    assert!(
        !output.stdout.contains("row key of `shop`.`codes`") && !output.stdout.contains("row key of `shop`.`orders`"),
        "a NOT NULL unique key and a primary key are keys:\n{}",
        output.stdout
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_own_server_id_fails() -> anyhow::Result<()> {
    let (db, broker) = servers(&[]).await?;
    let dir = tempfile::tempdir()?;
    // The harness server's id is 1.
    let text = config(&db, &broker, dir.path()).replace("server_id = 4242", "server_id = 1");
    let output = check(dir.path(), &text, false)?;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert_eq!(status_of(&output, "server_id"), "FAIL");
    assert!(line(&output, "server_id").contains("the server's own server_id"));
    assert!(fix_of(&output, "server_id").contains("source.server_id"));
    // No table matches `shop.*` on the fresh server: that fails too, naming the key.
    assert_eq!(status_of(&output, "captured tables"), "FAIL");
    assert!(line(&output, "captured tables").contains("no table matches source.tables"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_fails_the_broker_checks_while_the_source_checks_run() -> anyhow::Result<()> {
    let db = MariaDb::start().await?;
    db.execute("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY)")
        .await?;
    let dir = tempfile::tempdir()?;
    let kafka_port = free_port()?;
    let (user, password) = db.replication_user();
    let text = format!(
        "[source]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{user}\"\npassword = \"{password}\"\nserver_id = 4242\n\
         tables = [\"shop.*\"]\n[kafka]\nbootstrap_servers = \"127.0.0.1:{kafka_port}\"\ntopic = \"changes\"\n\
         [checkpoint]\npath = \"checkpoint.json\"\n",
        db.port()
    );
    let output = check(dir.path(), &text, false)?;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert_eq!(status_of(&output, "Kafka broker"), "FAIL");
    assert!(line(&output, "Kafka broker").contains(&format!("127.0.0.1:{kafka_port}")));
    assert!(fix_of(&output, "Kafka broker").contains("kafka.bootstrap_servers"));
    assert_eq!(status_of(&output, "topic `changes`"), "SKIP");
    for name in ["connection", "binlog_format", "privileges", "captured tables"] {
        assert_eq!(status_of(&output, name), "PASS", "{}", output.stdout);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_and_a_broken_plugin_are_both_reported_and_the_broker_still_checked() -> anyhow::Result<()> {
    let (db, broker) = servers(&[]).await?;
    let dir = tempfile::tempdir()?;
    let plugin = dir.path().join("garbage.wasm");
    std::fs::write(&plugin, b"this is not webassembly")?;
    let text = config(&db, &broker, dir.path()).replace("sluice-secret", "never-shown-secret")
        + &format!("\n[[plugins]]\nname = \"broken\"\npath = \"{}\"\n", plugin.display());
    let output = check(dir.path(), &text, false)?;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert_eq!(status_of(&output, "connection"), "FAIL");
    assert!(
        line(&output, "connection").contains(&format!("127.0.0.1:{}", db.port()))
            && line(&output, "connection").contains("`sluice`"),
        "{}",
        output.stdout
    );
    assert!(fix_of(&output, "connection").contains("source.user"));
    assert_eq!(status_of(&output, "binlog_format"), "SKIP");
    assert!(line(&output, "binlog_format").contains("not checked: cannot connect"));
    assert_eq!(status_of(&output, "Kafka broker"), "PASS");
    assert_eq!(status_of(&output, "plugin `broken`"), "FAIL");
    assert!(line(&output, "plugin `broken`").contains("is not a valid WebAssembly component"));
    assert!(fix_of(&output, "plugin `broken`").contains("component"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_before_streaming_on_a_missing_topic_it_may_not_create() -> anyhow::Result<()> {
    let (db, broker) = servers(&[]).await?;
    db.execute("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY)")
        .await?;
    let dir = tempfile::tempdir()?;
    let text =
        config(&db, &broker, dir.path()).replace("topic = \"changes\"", "topic = \"changes\"\ncreate_topics = false");
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, text)?;
    let daemon = sluice_tests::daemon::DaemonProcess::start(&path)?;
    let (code, stderr) = tokio::task::block_in_place(|| daemon.wait())?;
    assert_eq!(code, Some(5), "{stderr}");
    assert!(
        stderr.contains("precheck FAIL topic `changes`") && stderr.contains("kafka.create_topics = true"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_replication_grants_fails_with_the_grant_statement_to_run() -> anyhow::Result<()> {
    let (db, broker) = servers(&[]).await?;
    db.execute(
        "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY); \
         CREATE USER 'reader'@'%' IDENTIFIED BY 'sluice-secret'; GRANT SELECT ON shop.* TO 'reader'@'%'",
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let (user, _) = db.replication_user();
    let text = config(&db, &broker, dir.path()).replace(&format!("user = \"{user}\""), "user = \"reader\"");
    let output = check(dir.path(), &text, false)?;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert_eq!(status_of(&output, "privileges"), "FAIL");
    let detail = line(&output, "privileges");
    assert!(
        detail.contains("REPLICATION SLAVE") && detail.contains("REPLICATION CLIENT"),
        "{detail}"
    );
    assert!(
        fix_of(&output, "privileges").contains("GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'reader'@'%'"),
        "{}",
        output.stdout
    );
    assert_eq!(status_of(&output, "connection"), "PASS");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_binlog_fails_log_bin_with_its_fix() -> anyhow::Result<()> {
    let (db, broker) = servers(&["--skip-log-bin"]).await?;
    db.execute("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY)")
        .await?;
    let dir = tempfile::tempdir()?;
    let output = check(dir.path(), &config(&db, &broker, dir.path()), false)?;
    println!("{}", output.stdout);
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert_eq!(status_of(&output, "log_bin"), "FAIL");
    assert!(fix_of(&output, "log_bin").contains("--log-bin"), "{}", output.stdout);
    Ok(())
}
