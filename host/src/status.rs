//! `sluice status`: a compact view of a running daemon, read from its `/status` endpoint.
//!
//! The daemon keeps a [`StatusBoard`] beside its metrics (the checkpoint position, the running
//! plugin versions, the source) and serves a [`StatusReport`] as JSON at `/status` on the metrics
//! address. `sluice status` fetches it twice, `--interval-ms` apart, and prints the position, the lag,
//! the rates between the two reads, the plugins and the last warning or error the daemon logged.
//!
//! The last error comes from the log itself: [`LastErrorLayer`] is a tracing layer that keeps the
//! newest WARN or ERROR event of the process. Log lines never carry secrets, so neither does this.

use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

/// What `/status` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The daemon's version (`sluice --version`).
    pub version: String,
    pub uptime_seconds: f64,
    /// The pipeline is wired and streaming (snapshots may still run beside it).
    pub streaming: bool,
    /// What `/ready` answers: streaming, and the lag under `metrics.ready_max_lag_seconds`.
    pub ready: bool,
    /// The source server, `host:port`.
    pub source: Option<String>,
    /// The checkpoint: the position up to which Kafka acknowledged everything.
    pub checkpoint: Option<CheckpointStatus>,
    /// Seconds between the source committing the newest change published and now.
    pub lag_seconds: Option<f64>,
    pub totals: Totals,
    pub kafka_in_flight: i64,
    pub plugins: Vec<PluginStatus>,
    pub last_error: Option<LastError>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointStatus {
    /// `file:offset`.
    pub position: String,
    /// Seconds since it was last written.
    pub age_seconds: f64,
}

/// Counters since the daemon started; rates are their differences over time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub changes: u64,
    pub messages: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginStatus {
    pub name: String,
    /// The content hash of the version running, as in the records' `plugins` tag.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastError {
    pub level: String,
    pub message: String,
    /// Seconds since it was logged.
    pub age_seconds: f64,
}

/// The parts of the status that are not counters: set by the pipeline as things happen.
pub struct StatusBoard {
    started: Instant,
    inner: Mutex<Board>,
}

#[derive(Default)]
struct Board {
    source: Option<String>,
    streaming: bool,
    checkpoint: Option<(String, Instant)>,
    plugins: Vec<PluginStatus>,
}

impl Default for StatusBoard {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            inner: Mutex::new(Board::default()),
        }
    }
}

impl StatusBoard {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_source(&self, address: String) {
        self.board().source = Some(address);
    }

    pub fn set_streaming(&self, streaming: bool) {
        self.board().streaming = streaming;
    }

    /// Records a checkpoint write at `position`.
    pub fn checkpoint_written(&self, position: impl std::fmt::Display) {
        self.board().checkpoint = Some((position.to_string(), Instant::now()));
    }

    /// Records the version of plugin `name` now running (at load, and at each swap).
    pub fn plugin_running(&self, name: &str, version: &str) {
        let mut board = self.board();
        match board.plugins.iter_mut().find(|plugin| plugin.name == name) {
            Some(plugin) => plugin.version = version.to_owned(),
            None => board.plugins.push(PluginStatus {
                name: name.to_owned(),
                version: version.to_owned(),
            }),
        }
    }

    /// Keeps only the plugins named in `names`, in that order (after a reload changed the chain).
    pub fn retain_plugins(&self, names: &[&str]) {
        let mut board = self.board();
        let mut plugins = std::mem::take(&mut board.plugins);
        board.plugins = names
            .iter()
            .filter_map(|name| {
                let index = plugins.iter().position(|plugin| plugin.name == *name)?;
                Some(plugins.swap_remove(index))
            })
            .collect();
    }

    /// The report, with the counters and readiness the caller reads from the metrics.
    pub fn report(&self, totals: Totals, lag_seconds: Option<f64>, kafka_in_flight: i64, ready: bool) -> StatusReport {
        let board = self.board();
        StatusReport {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            streaming: board.streaming,
            ready,
            source: board.source.clone(),
            checkpoint: board.checkpoint.as_ref().map(|(position, written)| CheckpointStatus {
                position: position.clone(),
                age_seconds: written.elapsed().as_secs_f64(),
            }),
            lag_seconds,
            totals,
            kafka_in_flight,
            plugins: board.plugins.clone(),
            last_error: last_error(),
        }
    }
}

/// The newest WARN or ERROR event of this process: (level, message, when).
static LAST_ERROR: Mutex<Option<(String, String, SystemTime)>> = Mutex::new(None);

fn last_error() -> Option<LastError> {
    let slot = LAST_ERROR.lock().unwrap_or_else(PoisonError::into_inner);
    slot.as_ref().map(|(level, message, at)| LastError {
        level: level.clone(),
        message: message.clone(),
        age_seconds: at.elapsed().unwrap_or_default().as_secs_f64(),
    })
}

/// A tracing layer that keeps the newest WARN or ERROR event for [`StatusReport::last_error`].
pub struct LastErrorLayer;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LastErrorLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _context: tracing_subscriber::layer::Context<'_, S>) {
        let level = *event.metadata().level();
        if level > tracing::Level::WARN {
            return;
        }
        let mut text = TextVisitor::default();
        event.record(&mut text);
        let mut slot = LAST_ERROR.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Some((level.to_string(), text.line(), SystemTime::now()));
    }
}

/// An event's message and its other fields.
#[derive(Default)]
struct TextVisitor {
    message: String,
    fields: String,
}

impl TextVisitor {
    /// One line: the message's first line (`…` marks the rest left out), then the fields as
    /// `name=value`.
    fn line(&self) -> String {
        let mut lines = self.message.lines();
        let mut line = lines.next().unwrap_or_default().trim_end().to_owned();
        if lines.next().is_some() {
            line.push_str(" …");
        }
        if !self.fields.is_empty() {
            line.push(' ');
            line.push_str(&self.fields);
        }
        line
    }
}

impl tracing::field::Visit for TextVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.record_debug(field, &format_args!("{value}"));
    }
}

/// Why `sluice status` could not read a daemon.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(
        "no sluice daemon answers at http://{address}/status: {source}; is it running, with metrics on at this \
         address (metrics.address)?"
    )]
    Unreachable { address: String, source: std::io::Error },
    #[error("http://{address}/status answered {answer}; is that a sluice daemon of this version?")]
    Unexpected { address: String, answer: String },
    #[error("metrics are off in `{path}` (metrics.enabled = false), so there is no endpoint to read the status from")]
    MetricsDisabled { path: std::path::PathBuf },
}

/// How long one read of `/status` may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Reads `/status` from `address` (`host:port`) once.
pub async fn fetch(address: &str) -> Result<StatusReport, StatusError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let unreachable = |source| StatusError::Unreachable {
        address: address.to_owned(),
        source,
    };
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        let request = format!("GET /status HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            unreachable(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer within 5 s",
            ))
        })?
        .map_err(unreachable)?;
    let text = String::from_utf8_lossy(&response);
    let unexpected = |answer: &str| StatusError::Unexpected {
        address: address.to_owned(),
        answer: answer.chars().take(200).collect(),
    };
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| unexpected(&text))?;
    if head.split_whitespace().nth(1) != Some("200") {
        return Err(unexpected(head.lines().next().unwrap_or_default()));
    }
    serde_json::from_str(body).map_err(|error| unexpected(&format!("a body that is not a status report ({error})")))
}

/// The address `sluice status --config FILE` reads: `metrics.address` of the file, with an
/// unspecified IP (`0.0.0.0`, `::`) read as loopback. Only the file's text is read, so secrets it
/// names (environment variables, files) need not be at hand.
pub fn address_from_config(path: &std::path::Path) -> Result<String, crate::config::ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| crate::config::ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let raw: crate::config::RawConfig = toml::from_str(&text).map_err(|error| crate::config::ConfigError::Parse {
        path: path.to_owned(),
        message: error.to_string().trim_end().to_owned(),
    })?;
    if !raw.metrics.enabled {
        return Err(crate::config::ConfigError::Invalid {
            key: "metrics.enabled".into(),
            message: StatusError::MetricsDisabled { path: path.to_owned() }.to_string(),
        });
    }
    let mut address: std::net::SocketAddr =
        raw.metrics
            .address
            .parse()
            .map_err(|_| crate::config::ConfigError::Invalid {
                key: "metrics.address".into(),
                message: format!("`{}` is not an `ip:port` address", raw.metrics.address),
            })?;
    if address.ip().is_unspecified() {
        address.set_ip(if address.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    Ok(address.to_string())
}

/// The human view of two reads taken `elapsed` apart.
pub fn render(address: &str, earlier: &StatusReport, later: &StatusReport, elapsed: Duration) -> String {
    let mut out = String::new();
    let state = match (later.streaming, later.ready) {
        (true, true) => "streaming (ready)",
        (true, false) => "streaming (not ready: lag over metrics.ready_max_lag_seconds)",
        (false, _) => "starting (not streaming yet)",
    };
    let _ = writeln!(
        out,
        "sluice {} at {address}: {state}, up {}",
        later.version,
        duration(later.uptime_seconds)
    );
    let mut line = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<11} {value}");
    };
    line(
        "source",
        later.source.clone().unwrap_or_else(|| "not connected yet".into()),
    );
    line(
        "position",
        match &later.checkpoint {
            Some(checkpoint) => format!(
                "{} (checkpoint written {} ago)",
                checkpoint.position,
                duration(checkpoint.age_seconds)
            ),
            None => "no checkpoint written yet".into(),
        },
    );
    line(
        "lag",
        match later.lag_seconds {
            Some(lag) => format!("{lag:.1} s behind the source"),
            None => "unknown: no change published yet".into(),
        },
    );
    let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
    let rate = |later: u64, earlier: u64| later.saturating_sub(earlier) as f64 / seconds;
    line(
        "rates",
        format!(
            "{:.1} changes/s, {:.1} messages/s, {}/s (over {:.1} s)",
            rate(later.totals.changes, earlier.totals.changes),
            rate(later.totals.messages, earlier.totals.messages),
            bytes(rate(later.totals.bytes, earlier.totals.bytes)),
            seconds
        ),
    );
    line(
        "totals",
        format!(
            "{} changes, {} messages, {}",
            later.totals.changes,
            later.totals.messages,
            bytes(later.totals.bytes as f64)
        ),
    );
    line(
        "in flight",
        format!("{} messages sent to Kafka, not yet acknowledged", later.kafka_in_flight),
    );
    line(
        "plugins",
        if later.plugins.is_empty() {
            "none".into()
        } else {
            later
                .plugins
                .iter()
                .map(|plugin| format!("{}@{}", plugin.name, plugin.version))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    line(
        "last error",
        match &later.last_error {
            Some(error) => format!(
                "{} ago, {}: {}",
                duration(error.age_seconds),
                error.level,
                error.message
            ),
            None => "none".into(),
        },
    );
    out
}

fn duration(seconds: f64) -> String {
    let whole = seconds as u64;
    match whole {
        0..60 => format!("{seconds:.1} s"),
        60..3600 => format!("{}m {:02}s", whole / 60, whole % 60),
        _ => format!("{}h {:02}m", whole / 3600, whole / 60 % 60),
    }
}

fn bytes(value: f64) -> String {
    if value < 1024.0 {
        format!("{value:.0} B")
    } else if value < 1024.0 * 1024.0 {
        format!("{:.1} KiB", value / 1024.0)
    } else {
        format!("{:.1} MiB", value / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(changes: u64, bytes: u64) -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            uptime_seconds: 75.0,
            streaming: true,
            ready: true,
            source: Some("db:3306".into()),
            checkpoint: Some(CheckpointStatus {
                position: "mysql-bin.000003:1234".into(),
                age_seconds: 0.4,
            }),
            lag_seconds: Some(1.5),
            totals: Totals {
                changes,
                messages: changes,
                bytes,
            },
            kafka_in_flight: 3,
            plugins: vec![PluginStatus {
                name: "router".into(),
                version: "abcd".into(),
            }],
            last_error: None,
        }
    }

    #[test]
    fn the_view_shows_position_lag_rates_between_reads_plugins_and_errors() {
        let text = render(
            "127.0.0.1:9187",
            &report(100, 10_240),
            &report(300, 30_720),
            Duration::from_secs(2),
        );
        assert!(
            text.starts_with("sluice 0.1.0 at 127.0.0.1:9187: streaming (ready), up 1m 15s\n"),
            "{text}"
        );
        assert!(
            text.contains("position    mysql-bin.000003:1234 (checkpoint written 0.4 s ago)"),
            "{text}"
        );
        assert!(text.contains("lag         1.5 s behind the source"), "{text}");
        assert!(
            text.contains("rates       100.0 changes/s, 100.0 messages/s, 10.0 KiB/s (over 2.0 s)"),
            "{text}"
        );
        assert!(text.contains("plugins     router@abcd"), "{text}");
        assert!(text.contains("last error  none"), "{text}");
    }

    #[test]
    fn the_board_tracks_plugin_versions_across_swaps() {
        let board = StatusBoard::default();
        board.plugin_running("a", "1");
        board.plugin_running("b", "2");
        board.plugin_running("a", "3");
        board.retain_plugins(&["b", "a"]);
        let report = board.report(Totals::default(), None, 0, false);
        let plugins: Vec<String> = report
            .plugins
            .iter()
            .map(|plugin| format!("{}@{}", plugin.name, plugin.version))
            .collect();
        assert_eq!(plugins, ["b@2", "a@3"]);
        let json = serde_json::to_string(&report).unwrap();
        let back: StatusReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.plugins, report.plugins);
    }

    #[test]
    fn an_unspecified_metrics_address_is_read_on_loopback() {
        let dir = std::env::temp_dir().join(format!("sluice-status-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sluice.toml");
        std::fs::write(
            &path,
            "[source]\nhost = \"h\"\nuser = \"u\"\npassword_env = \"SURELY_UNSET_FOR_STATUS\"\nserver_id = 1\n\
             tables = [\"a.*\"]\n[kafka]\nbootstrap_servers = \"k:9092\"\ntopic = \"t\"\n[checkpoint]\npath = \"c\"\n\
             [metrics]\naddress = \"0.0.0.0:9999\"\n",
        )
        .unwrap();
        assert_eq!(address_from_config(&path).unwrap(), "127.0.0.1:9999");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
