//! Proves that bad input stops `sluice run` (the real binary) with a clear message naming the thing to
//! fix and a documented exit code, before any data moves — or, for servers that are merely down,
//! waits for them and says what it is waiting for: a config that does not parse or has an unknown key,
//! a missing config file, a database or broker that does not answer, a wrong password, a server whose
//! binlog is not in ROW format, and plugin files that are not components or do not implement the
//! contract. No secret appears in what it prints.

use std::path::Path;
use std::time::Duration;

use sluice_tests::daemon::{DaemonProcess, config_toml, current_position};
use sluice_tests::harness::{Broker, MariaDb, MariaDbOptions};

const EXIT_CONFIG: i32 = 2;
const EXIT_SOURCE: i32 = 3;
const EXIT_PLUGIN: i32 = 4;
/// Logs at info, with the retry attempts of an outage (logged at debug) shown.
const OUTAGE_ATTEMPTS_SHOWN: &str = "info,sluice::outage=debug";

/// A valid config for a database and broker at the given ports, with optional extra text.
fn config_for_ports(mysql_port: u16, kafka_port: u16, extra: &str) -> String {
    format!(
        r#"
[source]
host = "127.0.0.1"
port = {mysql_port}
user = "sluice"
password = "never-shown-secret"
server_id = 99
tables = ["shop.*"]
reconnect_max_backoff_ms = 500

[kafka]
bootstrap_servers = "127.0.0.1:{kafka_port}"
topic = "changes"

[checkpoint]
path = "checkpoint.json"

[metrics]
address = "127.0.0.1:0"
{extra}"#
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `config` to a temp dir, runs the daemon to its exit, returns the exit code and stderr.
fn run_to_exit(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, config).unwrap();
    let daemon = DaemonProcess::start(&path).unwrap();
    let (code, output) = daemon.wait().unwrap();
    assert!(!output.contains("never-shown-secret"), "a secret leaked:\n{output}");
    (code, output)
}

fn plugin_config(path: &Path) -> String {
    format!("\n[[plugins]]\nname = \"broken\"\npath = \"{}\"\n", path.display())
}

#[test]
fn a_config_that_does_not_parse_exits_2_naming_the_file() {
    let (code, stderr) = run_to_exit("[source\nhost = ");
    assert_eq!(code, Some(EXIT_CONFIG), "{stderr}");
    assert!(
        stderr.contains("sluice.toml") && stderr.contains("is not valid"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_config_key_exits_2_naming_the_key() {
    let text = config_for_ports(3306, 9092, "").replace("server_id = 99", "server_id = 99\nsever_id = 98");
    let (code, stderr) = run_to_exit(&text);
    assert_eq!(code, Some(EXIT_CONFIG), "{stderr}");
    assert!(stderr.contains("unknown field `sever_id`"), "{stderr}");
}

#[test]
fn a_missing_config_file_exits_2() {
    let (code, stderr) = DaemonProcess::start(Path::new("/nonexistent/sluice.toml"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(code, Some(EXIT_CONFIG));
    assert!(
        stderr.contains("cannot read config file `/nonexistent/sluice.toml`"),
        "{stderr}"
    );
}

#[test]
fn a_plugin_file_that_is_not_a_component_exits_4_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("garbage.wasm");
    std::fs::write(&plugin, b"this is not webassembly").unwrap();
    let (code, stderr) = run_to_exit(&config_for_ports(free_port(), free_port(), &plugin_config(&plugin)));
    assert_eq!(code, Some(EXIT_PLUGIN), "{stderr}");
    assert!(
        stderr.contains("plugin `broken`") && stderr.contains("is not a valid WebAssembly component"),
        "{stderr}"
    );
}

#[test]
fn a_component_without_the_contract_exits_4_naming_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("empty.wasm");
    // The smallest valid component: the preamble of the component binary format, and nothing else.
    std::fs::write(&plugin, [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]).unwrap();
    let (code, stderr) = run_to_exit(&config_for_ports(free_port(), free_port(), &plugin_config(&plugin)));
    assert_eq!(code, Some(EXIT_PLUGIN), "{stderr}");
    assert!(
        stderr.contains("does not implement the sluice plugin contract"),
        "{stderr}"
    );
    assert!(stderr.contains("full-plugin"), "{stderr}");
}

#[test]
fn a_metrics_address_in_use_exits_2_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let text = config_for_ports(free_port(), free_port(), "")
        .replace("address = \"127.0.0.1:0\"", &format!("address = \"{address}\""));
    let (code, stderr) = run_to_exit(&text);
    assert_eq!(code, Some(EXIT_CONFIG), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot serve metrics on `{address}` (config key `metrics.address`)"
        )),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_database_is_waited_for_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    let port = free_port();
    std::fs::write(&path, config_for_ports(port, free_port(), "")).unwrap();
    let mut daemon = DaemonProcess::start_with_env(&path, &[("SLUICE_LOG", OUTAGE_ATTEMPTS_SHOWN)]).unwrap();
    // One warning says what is awaited; the attempts that follow are logged at debug.
    let waiting = format!("waiting for MySQL (settings check) at 127.0.0.1:{port}");
    assert!(
        daemon.wait_for_lines(&waiting, 1, Duration::from_secs(30)),
        "no '{waiting}' line:\n{}",
        daemon.output()
    );
    assert!(
        daemon.wait_for_lines("still unreachable", 2, Duration::from_secs(30)),
        "no retries:\n{}",
        daemon.output()
    );
    assert_eq!(
        daemon.output().matches(&waiting).count(),
        1,
        "the wait is reported once"
    );
    assert!(daemon.is_running(), "sluice gave up instead of waiting");
    daemon.terminate().unwrap();
    let (code, output) = daemon.wait().unwrap();
    assert_eq!(code, Some(0), "SIGTERM while waiting should exit 0:\n{output}");
    assert!(!output.contains("never-shown-secret"), "the password leaked:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_waited_for_and_sigterm_stops_cleanly() -> anyhow::Result<()> {
    let db = MariaDb::start().await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("sluice.toml");
    let kafka_port = free_port();
    let text = config_for_ports(db.port(), kafka_port, "").replace("never-shown-secret", db.replication_user().1);
    std::fs::write(&path, text)?;
    let mut daemon = DaemonProcess::start_with_env(&path, &[("SLUICE_LOG", OUTAGE_ATTEMPTS_SHOWN)])?;
    let waiting = format!("waiting for Kafka at 127.0.0.1:{kafka_port}");
    let seen = tokio::task::block_in_place(|| {
        daemon.wait_for_lines(&waiting, 1, Duration::from_secs(60))
            && daemon.wait_for_lines("still unreachable", 2, Duration::from_secs(60))
    });
    assert!(seen, "no '{waiting}' line and retries:\n{}", daemon.output());
    assert!(daemon.is_running(), "sluice gave up instead of waiting");
    daemon.terminate()?;
    let (code, output) = tokio::task::block_in_place(|| daemon.wait())?;
    assert_eq!(code, Some(0), "{output}");
    assert!(
        !output.contains(db.replication_user().1),
        "the password leaked:\n{output}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_exits_3_naming_the_user_without_showing_the_password() -> anyhow::Result<()> {
    let db = MariaDb::start().await?;
    let (code, stderr) = tokio::task::block_in_place(|| run_to_exit(&config_for_ports(db.port(), free_port(), "")));
    assert_eq!(code, Some(EXIT_SOURCE), "{stderr}");
    assert!(
        stderr.contains("cannot log in to MySQL") && stderr.contains("`sluice`"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_row_binlog_format_exits_3_naming_the_setting() -> anyhow::Result<()> {
    let (db, broker) = tokio::join!(
        MariaDb::start_with(MariaDbOptions {
            extra_args: vec!["--binlog-format=STATEMENT".into()],
            ..Default::default()
        }),
        Broker::start()
    );
    let (db, broker) = (db?, broker?);
    let dir = tempfile::tempdir()?;
    let start = current_position(&db).await?;
    let config = config_toml(
        &db,
        &broker,
        &dir.path().join("checkpoint.json"),
        &start,
        &["shop.*"],
        "changes",
        &[],
    );
    let (code, stderr) = tokio::task::block_in_place(|| run_to_exit(&config));
    assert_eq!(code, Some(EXIT_SOURCE), "{stderr}");
    assert!(
        stderr.contains("`binlog_format` is `STATEMENT` but sluice needs `ROW`"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("checkpoint.json").exists(),
        "nothing should be checkpointed"
    );
    Ok(())
}
