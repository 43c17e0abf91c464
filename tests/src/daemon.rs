//! Running the daemon in-process against harness servers, and reading its output back.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use apache_avro::types::Value;
use mysql_async::prelude::Queryable;
use sluice::encode::dts_avro::RecordSchema;
use tokio::task::JoinHandle;

use crate::harness::{Broker, MariaDb};

/// Gives a config (from [`config_toml`]) a fixed metrics port; returns it and the `host:port` to scrape.
pub fn with_metrics_address(config: &str) -> anyhow::Result<(String, String)> {
    let address = format!("127.0.0.1:{}", crate::harness::free_port()?);
    let config = config.replace("address = \"127.0.0.1:0\"", &format!("address = \"{address}\""));
    Ok((config, address))
}

/// One plugin entry of a daemon config.
#[derive(Default)]
pub struct PluginEntry {
    pub name: String,
    pub path: PathBuf,
    pub config: Vec<(String, String)>,
    /// Further keys of the entry itself, as TOML lines (`cpu_budget_ms = 300`, `on_failure = "skip"`).
    pub settings: Vec<String>,
}

/// Writes a daemon config for the harness servers. `start` is `current`, `earliest` or a position.
pub fn config_toml(
    db: &MariaDb,
    broker: &Broker,
    checkpoint: &Path,
    start: &str,
    tables: &[&str],
    default_topic: &str,
    plugins: &[PluginEntry],
) -> String {
    config_toml_for_brokers(
        db,
        &broker.bootstrap_servers(),
        checkpoint,
        start,
        tables,
        default_topic,
        plugins,
    )
}

/// [`config_toml`] for another Kafka cluster (librdkafka's mock cluster, say), by its bootstrap servers.
pub fn config_toml_for_brokers(
    db: &MariaDb,
    bootstrap: &str,
    checkpoint: &Path,
    start: &str,
    tables: &[&str],
    default_topic: &str,
    plugins: &[PluginEntry],
) -> String {
    let (user, password) = db.replication_user();
    let tables: Vec<String> = tables.iter().map(|t| format!("\"{t}\"")).collect();
    let mut text = format!(
        r#"[source]
host = "{host}"
port = {port}
user = "{user}"
password = "{password}"
server_id = 4242
tables = [{tables}]
start = "{start}"

[kafka]
bootstrap_servers = "{bootstrap}"
topic = "{default_topic}"

[checkpoint]
path = "{checkpoint}"
interval_ms = 200

[metrics]
address = "127.0.0.1:0"
"#,
        host = db.host(),
        port = db.port(),
        tables = tables.join(", "),
        checkpoint = checkpoint.display(),
    );
    for plugin in plugins {
        text.push_str(&plugin_toml(plugin));
    }
    text
}

/// The `[[plugins]]` entry of one plugin, to append to a config.
pub fn plugin_toml(plugin: &PluginEntry) -> String {
    let mut text = format!(
        "\n[[plugins]]\nname = \"{}\"\npath = \"{}\"\n",
        plugin.name,
        plugin.path.display()
    );
    for setting in &plugin.settings {
        text.push_str(setting);
        text.push('\n');
    }
    if !plugin.config.is_empty() {
        text.push_str("[plugins.config]\n");
        for (key, value) in &plugin.config {
            text.push_str(&format!("{key} = \"{value}\"\n"));
        }
    }
    text
}

/// The server's current binlog position, `file:offset`.
pub async fn current_position(db: &MariaDb) -> anyhow::Result<String> {
    let mut conn = db.admin_conn().await?;
    let row: mysql_async::Row = conn.query_first("SHOW MASTER STATUS").await?.context("binlog is off")?;
    let file: String = row.get(0).context("no file")?;
    let offset: u64 = row.get(1).context("no offset")?;
    Ok(format!("{file}:{offset}"))
}

/// Waits until the checkpoint file at `path` names a position at or past `position` (`file:offset`);
/// false if `timeout` passes first.
pub async fn wait_for_checkpoint(path: &Path, position: &str, timeout: std::time::Duration) -> bool {
    let Ok(target) = position.parse::<sluice::source::position::BinlogPosition>() else {
        return false;
    };
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        let stored = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|file| {
                file["position"]
                    .as_str()?
                    .parse::<sluice::source::position::BinlogPosition>()
                    .ok()
            });
        if stored.is_some_and(|stored| stored.is_at_or_past(&target)) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

/// Sends the daemon's logs to the test's captured output; `SLUICE_LOG` filters (default `info`).
pub fn init_test_logging() {
    let filter = std::env::var("SLUICE_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_test_writer()
        .try_init();
}

/// A daemon running inside this process.
pub struct RunningDaemon {
    trigger: sluice::ShutdownTrigger,
    task: JoinHandle<Result<(), sluice::RunError>>,
}

impl RunningDaemon {
    /// Starts `sluice::run` with config text (relative paths resolve from `base`).
    pub fn start(config_text: &str, base: &Path) -> anyhow::Result<Self> {
        init_test_logging();
        let config = sluice::Config::from_toml_str(config_text, base)?;
        let (trigger, shutdown) = sluice::shutdown::channel();
        let task = tokio::spawn(sluice::run(config, shutdown));
        Ok(Self { trigger, task })
    }

    /// Asks for a graceful stop and waits for it: everything read is flushed and checkpointed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.trigger.trigger();
        match tokio::time::timeout(std::time::Duration::from_secs(60), self.task).await {
            Ok(joined) => Ok(joined.context("the daemon task panicked")??),
            Err(_) => bail!("the daemon did not stop within 60 s"),
        }
    }

    /// Waits for the daemon to stop by itself (as `initial_only` does) and returns its result.
    pub async fn wait_for_exit(self, timeout: std::time::Duration) -> anyhow::Result<()> {
        match tokio::time::timeout(timeout, self.task).await {
            Ok(joined) => Ok(joined.context("the daemon task panicked")??),
            Err(_) => bail!("the daemon did not finish within {timeout:?}"),
        }
    }

    /// Whether the daemon stopped by itself (it should not, while streaming).
    pub fn has_stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the daemon abruptly, as a crash would: no flush, no final checkpoint.
    pub async fn crash(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A DTS record decoded for assertions.
#[derive(Debug, Clone)]
pub struct DecodedRecord {
    pub id: i64,
    pub operation: String,
    pub object_name: Option<String>,
    pub source_position: String,
    pub source_txid: String,
    /// `(name, dataTypeNumber)` per column.
    pub fields: Vec<(String, i32)>,
    /// Each column value rendered as text (`None` for SQL NULL); see [`render`].
    pub before: Option<Vec<Option<String>>>,
    pub after: Option<Vec<Option<String>>>,
    /// The image values as decoded, each a union branch of the DTS image type, for exact comparisons.
    pub before_values: Option<Vec<Value>>,
    pub after_values: Option<Vec<Value>>,
    pub tags: Vec<(String, String)>,
    /// A DDL record's statement (the `string` branch of `afterImages`).
    pub ddl_text: Option<String>,
}

/// The DTS reference schema from `../shared/dts-avro/Record.avsc`, independent of sluice's copy.
pub fn reference_schema() -> anyhow::Result<RecordSchema> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/dts-avro/Record.avsc");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    RecordSchema::parse(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))
}

fn field<'a>(record: &'a [(String, Value)], name: &str) -> anyhow::Result<&'a Value> {
    record
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .with_context(|| format!("no field {name}"))
}

fn string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Enum(_, s) => s.clone(),
        Value::Union(_, inner) => string(inner),
        other => format!("{other:?}"),
    }
}

/// Renders one image value (a union branch of the DTS image type) as text.
pub fn render(value: &Value) -> Option<String> {
    let Value::Union(_, inner) = value else {
        return Some(format!("{value:?}"));
    };
    let Value::Record(parts) = inner.as_ref() else {
        return None;
    };
    let get = |name: &str| parts.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let int = |name: &str| match get(name) {
        Some(Value::Union(_, v)) => match v.as_ref() {
            Value::Int(i) => Some(*i),
            _ => None,
        },
        _ => None,
    };
    if let (Some(Value::String(value)), Some(Value::Int(_))) = (get("value"), get("precision")) {
        return Some(value.clone()); // Integer, Decimal
    }
    if let Some(Value::Bytes(bytes)) = get("value") {
        return Some(String::from_utf8_lossy(bytes).into_owned()); // Character, BinaryObject
    }
    if let Some(Value::Double(v)) = get("value") {
        return Some(v.to_string());
    }
    if let Some(Value::String(v)) = get("value") {
        return Some(v.clone()); // TextObject
    }
    if let (Some(Value::Long(seconds)), Some(Value::Int(micros))) = (get("timestamp"), get("millis")) {
        return Some(format!("{seconds}.{micros:06}"));
    }
    // DateTime
    let mut text = String::new();
    if let (Some(y), Some(m), Some(d)) = (int("year"), int("month"), int("day")) {
        text.push_str(&format!("{y:04}-{m:02}-{d:02}"));
    } else if let Some(y) = int("year") {
        text.push_str(&format!("{y:04}"));
    }
    if let (Some(h), Some(mi), Some(s)) = (int("hour"), int("minute"), int("second")) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!("{h:02}:{mi:02}:{s:02}"));
        if let Some(micros) = int("millis").filter(|m| *m != 0) {
            text.push_str(&format!(".{micros:06}"));
        }
    }
    Some(text)
}

fn image_values(value: &Value) -> Option<Vec<Value>> {
    match value {
        Value::Union(_, inner) => match inner.as_ref() {
            Value::Array(items) => Some(items.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn image(value: &Value) -> Option<Vec<Option<String>>> {
    image_values(value).map(|items| items.iter().map(render).collect())
}

/// Decodes one message value with the given schema.
pub fn decode_record(schema: &RecordSchema, payload: &[u8]) -> anyhow::Result<DecodedRecord> {
    let mut rest = payload;
    let value = apache_avro::from_avro_datum_schemata(&schema.record, schema.all.iter().collect(), &mut rest, None)?;
    if !rest.is_empty() {
        bail!("{} bytes left after the record", rest.len());
    }
    let Value::Record(record) = value else {
        bail!("not a record")
    };
    let fields = match field(&record, "fields")? {
        Value::Union(_, inner) => match inner.as_ref() {
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::Record(parts) => {
                        let name = string(field(parts, "name")?);
                        let Value::Int(code) = field(parts, "dataTypeNumber")? else {
                            bail!("bad type")
                        };
                        Ok((name, *code))
                    }
                    _ => bail!("bad field"),
                })
                .collect::<anyhow::Result<_>>()?,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    let Value::Long(id) = field(&record, "id")? else {
        bail!("bad id")
    };
    let object_name = match field(&record, "objectName")? {
        Value::Union(_, inner) if **inner != Value::Null => Some(string(inner)),
        _ => None,
    };
    let tags = match field(&record, "tags")? {
        Value::Map(map) => {
            let mut tags: Vec<(String, String)> = map.iter().map(|(k, v)| (k.clone(), string(v))).collect();
            tags.sort();
            tags
        }
        _ => Vec::new(),
    };
    Ok(DecodedRecord {
        id: *id,
        operation: string(field(&record, "operation")?),
        object_name,
        source_position: string(field(&record, "sourcePosition")?),
        source_txid: string(field(&record, "sourceTxid")?),
        fields,
        before: image(field(&record, "beforeImages")?),
        after: image(field(&record, "afterImages")?),
        before_values: image_values(field(&record, "beforeImages")?),
        after_values: image_values(field(&record, "afterImages")?),
        tags,
        ddl_text: match field(&record, "afterImages")? {
            Value::Union(_, inner) => match inner.as_ref() {
                Value::String(text) => Some(text.clone()),
                _ => None,
            },
            _ => None,
        },
    })
}

/// The `sluice` binary running as a child process, with its stderr collected line by line.
pub struct DaemonProcess {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl DaemonProcess {
    /// Builds the binary if needed and starts `sluice run --config <config_path>`.
    pub fn start(config_path: &Path) -> anyhow::Result<Self> {
        Self::start_with_env(config_path, &[])
    }

    /// Like [`DaemonProcess::start`], with extra environment variables (`SLUICE_LOG`, ...).
    pub fn start_with_env(config_path: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        use std::io::BufRead;
        let binary = private_sluice_binary()?;
        let mut child = std::process::Command::new(binary)
            .envs(env.iter().copied())
            .args(["run", "--config"])
            .arg(config_path)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().context("no stderr")?;
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits until `count` stderr lines contain `needle`; false if the deadline passes first.
    pub fn wait_for_lines(&mut self, needle: &str, count: usize, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut found = self.seen.iter().filter(|line| line.contains(needle)).count();
        while found < count && std::time::Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_millis(100)) {
                found += usize::from(line.contains(needle));
                self.seen.push(line);
            }
        }
        found >= count
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> anyhow::Result<()> {
        self.signal("TERM")
    }

    /// Sends SIGHUP: the daemon reads its config file again.
    pub fn hangup(&self) -> anyhow::Result<()> {
        self.signal("HUP")
    }

    /// Sends SIGINT, as Ctrl-C in a terminal would.
    pub fn interrupt(&self) -> anyhow::Result<()> {
        self.signal("INT")
    }

    fn signal(&self, name: &str) -> anyhow::Result<()> {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -{name} failed");
        Ok(())
    }

    /// Kills the process with SIGKILL, as a crash would (no flush, no final checkpoint), and waits
    /// for it to be gone; returns everything it wrote to stderr.
    pub fn kill(mut self) -> anyhow::Result<String> {
        self.child.kill()?;
        self.child.wait()?;
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_millis(50)) {
            self.seen.push(line);
        }
        Ok(self.seen.join("\n"))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The peak resident set size so far (`VmHWM` in `/proc/<pid>/status`), in KiB. Only while the
    /// process runs: an exited process no longer reports it.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.child.id());
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| format!("no VmHWM in {path}"))
    }

    /// Waits for the exit until `timeout`; `None` (and the process still running) if it did not exit.
    pub fn wait_timeout(&mut self, timeout: std::time::Duration) -> anyhow::Result<Option<i32>> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status.code().unwrap_or(-1)));
            }
            if std::time::Instant::now() >= deadline {
                return Ok(None);
            }
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Waits for the exit and returns the exit code and everything written to stderr.
    pub fn wait(mut self) -> anyhow::Result<(Option<i32>, String)> {
        let status = self.child.wait()?;
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_millis(200)) {
            self.seen.push(line);
        }
        Ok((status.code(), self.seen.join("\n")))
    }

    /// Everything written to stderr so far.
    pub fn output(&self) -> String {
        self.seen.join("\n")
    }
}

/// A test that fails before it stops its daemon must not leave the process running.
impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a `sluice` command that ran to its end printed.
pub struct CommandOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the daemon binary with `args` (e.g. `check --config FILE`) to its end.
pub fn run_sluice(args: &[&std::ffi::OsStr]) -> anyhow::Result<CommandOutput> {
    let output = std::process::Command::new(private_sluice_binary()?)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()?;
    Ok(CommandOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// The daemon binary, linked once per test process out of the shared target directory to a path of
/// this checkout's own, so that a build from another checkout (which shares `CARGO_TARGET_DIR` and
/// relinks `target/debug/sluice`) cannot swap it under a running test. A hard link costs no space;
/// the linker writes a new file rather than into the old one, so the link keeps this build.
fn private_sluice_binary() -> anyhow::Result<PathBuf> {
    static LINKED: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    let mut linked = LINKED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = linked.as_ref() {
        return Ok(path.clone());
    }
    let built = crate::cargo::sluice_binary_of_this_checkout()?;
    let checkout = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        crate::cargo::repository_root().hash(&mut hasher);
        hasher.finish()
    };
    let path = built.with_file_name(format!("sluice-checkout-{checkout:016x}"));
    let _ = std::fs::remove_file(&path);
    if std::fs::hard_link(&built, &path).is_err() {
        std::fs::copy(&built, &path).with_context(|| format!("copying {}", built.display()))?;
    }
    *linked = Some(path.clone());
    Ok(path)
}
