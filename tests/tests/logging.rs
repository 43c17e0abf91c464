//! The daemon's logs as an operator's log pipeline reads them: when stderr is not a terminal, every
//! line is one JSON object with a level, a message and the event's fields, and no line carries the
//! source password, whatever happens (a normal start, a broker that cannot be reached).

use std::time::Duration;

use sluice_tests::daemon::{DaemonProcess, config_toml, current_position};
use sluice_tests::harness::{Broker, MariaDb, free_port};

const WAIT: Duration = Duration::from_secs(60);

fn assert_json_lines_without(output: &str, secret: &str) {
    let mut lines = 0;
    for line in output.lines().filter(|line| !line.trim().is_empty()) {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line}"));
        assert!(event["level"].is_string(), "a level: {line}");
        assert!(event["timestamp"].is_string(), "a timestamp: {line}");
        assert!(event["message"].is_string(), "a message: {line}");
        lines += 1;
    }
    assert!(lines > 0, "the daemon logged nothing");
    assert!(!output.contains(secret), "the password appears in the logs:\n{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_without_the_password_when_stderr_is_not_a_terminal() -> anyhow::Result<()> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&["CREATE DATABASE shop", "CREATE TABLE shop.t (id INT PRIMARY KEY)"])
        .await?;
    let state = tempfile::tempdir()?;
    let start = current_position(&db).await?;
    let config = config_toml(
        &db,
        &broker,
        &state.path().join("checkpoint.json"),
        &start,
        &["shop.*"],
        "t",
        &[],
    );
    let path = state.path().join("sluice.toml");
    std::fs::write(&path, &config)?;
    let mut daemon = DaemonProcess::start(&path)?;
    assert!(
        daemon.wait_for_lines("streaming binlog", 1, WAIT),
        "{}",
        daemon.output()
    );
    let output = daemon.kill()?;
    assert_json_lines_without(&output, db.replication_user().1);

    // A broker that cannot be reached: the retries are logged as JSON too, still without the password.
    let unreachable = format!("127.0.0.1:{}", free_port()?);
    let config = config.replace(&broker.bootstrap_servers(), &unreachable);
    std::fs::write(&path, &config)?;
    let mut daemon = DaemonProcess::start(&path)?;
    assert!(
        daemon.wait_for_lines(&unreachable, 1, WAIT),
        "the unreachable broker is named: {}",
        daemon.output()
    );
    let output = daemon.kill()?;
    assert_json_lines_without(&output, db.replication_user().1);
    Ok(())
}
