//! Proves that bad input stops `sluice run` with a clear message and a documented exit code, before
//! any data moves: a config that does not parse or has an unknown key, an unreachable database (waited
//! for, not failed on), and plugin files that are not components or do not implement the contract.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// A config that is valid but points at `mysql_port` on loopback and a broker nobody runs.
fn config_text(mysql_port: u16, plugin: Option<&Path>) -> String {
    let mut text = format!(
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
bootstrap_servers = "127.0.0.1:1"
topic = "changes"

[checkpoint]
path = "checkpoint.json"
"#
    );
    if let Some(plugin) = plugin {
        text.push_str(&format!("\n[[plugins]]\nname = \"broken\"\npath = \"{}\"\n", plugin.display()));
    }
    text
}

fn run_to_exit(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, config).unwrap();
    let output = Command::new(SLUICE).args(["run", "--config"]).arg(&path).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_config_that_does_not_parse_exits_2_naming_the_file() {
    let (code, stderr) = run_to_exit("[source\nhost = ");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("sluice.toml") && stderr.contains("is not valid"), "{stderr}");
}

#[test]
fn an_unknown_config_key_exits_2_naming_the_key() {
    let text = config_text(3306, None).replace("server_id = 99", "server_id = 99\nsever_id = 98");
    let (code, stderr) = run_to_exit(&text);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown field `sever_id`"), "{stderr}");
}

#[test]
fn a_missing_config_file_exits_2() {
    let output = Command::new(SLUICE).args(["run", "--config", "/nonexistent/sluice.toml"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read config file `/nonexistent/sluice.toml`"));
}

#[test]
fn a_plugin_file_that_is_not_a_component_exits_4_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("garbage.wasm");
    std::fs::write(&plugin, b"this is not webassembly").unwrap();
    let (code, stderr) = run_to_exit(&config_text(free_port(), Some(&plugin)));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("plugin `broken`") && stderr.contains("is not a valid WebAssembly component"), "{stderr}");
}

#[test]
fn a_component_without_the_contract_exits_4_naming_the_world() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("empty.wasm");
    // The smallest valid component: the preamble of the component binary format, and nothing else.
    std::fs::write(&plugin, [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]).unwrap();
    let (code, stderr) = run_to_exit(&config_text(free_port(), Some(&plugin)));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("does not implement the sluice plugin contract"), "{stderr}");
    assert!(stderr.contains("row-plugin"), "{stderr}");
}

#[test]
fn an_unreachable_database_is_waited_for_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    let port = free_port();
    std::fs::write(&path, config_text(port, None)).unwrap();
    let mut child = Command::new(SLUICE)
        .args(["run", "--config"])
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let mut waiting_lines = 0;
    while Instant::now() < deadline && waiting_lines < 2 {
        if let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(200)) {
            if line.contains(&format!("waiting for MySQL at 127.0.0.1:{port}")) {
                waiting_lines += 1;
            }
            seen.push(line);
        }
    }
    assert!(waiting_lines >= 2, "expected repeated 'waiting for MySQL' lines, saw:\n{}", seen.join("\n"));
    assert!(child.try_wait().unwrap().is_none(), "sluice gave up instead of waiting");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM while waiting should exit 0");
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_millis(100)) {
        seen.push(line);
    }
    let all = seen.join("\n");
    assert!(!all.contains("never-shown-secret"), "the password leaked into the logs:\n{all}");
}
