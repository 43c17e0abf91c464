//! A private Kafka-protocol broker per test: tansu with SQLite storage.
//!
//! tansu is a single binary built once per machine by `scripts/install.sh`; `SLUICE_TANSU` names it,
//! defaulting to `$SLUICE_CACHE/tansu/bin/tansu` (`SLUICE_CACHE` defaults to `~/.cache/sluice`). Each
//! [`Broker`] runs in its own temporary directory: the working directory, the SQLite database that
//! holds every topic, and the broker's log. Storage outlives the process, so [`Broker::restart`]
//! brings the same topics and messages back on the same port.
//!
//! tansu resolves a `sqlite://` URL against its working directory and ignores a leading `/`, so the
//! database is named relative to the directory the broker runs in. It also reads a `.env` file from
//! its working directory, one more reason to start it in a directory of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::types::RDKafkaErrorCode;
use tokio::time::{Instant, sleep};

use super::kafka::{client_config, fetch_metadata, forget_broker_login, register_broker_login, wait_for_partitions};
use super::process::{ServerProcess, free_port, log_tail, server_directory};

/// The address the broker listens on and advertises.
const HOST: &str = "127.0.0.1";
/// The storage engine URL, relative to the broker's working directory.
const STORAGE_URL: &str = "sqlite://tansu.db";
/// The broker's stdout and stderr, appended to across restarts.
const LOG_FILE: &str = "tansu.log";
/// What tansu logs (it reads `RUST_LOG`).
const LOG_FILTER: &str = "warn";
/// How long the broker may take to answer a metadata request after starting.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a created topic may take to show in metadata.
const TOPIC_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a starting broker is asked whether it is ready.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A running tansu broker, killed and its directory removed when dropped.
pub struct Broker {
    // Invariant: `process` is declared before `directory`, so the broker is killed before its storage
    // is removed.
    process: ServerProcess,
    port: u16,
    directory: tempfile::TempDir,
    /// Set when the broker requires clients to log in.
    login: Option<SaslLogin>,
}

/// A SCRAM-SHA-512 user of an authenticating broker ([`Broker::start_with_login`]).
#[derive(Clone, Debug)]
pub struct SaslLogin {
    pub username: String,
    pub password: String,
}

impl SaslLogin {
    /// The mechanism the broker's user is created with (tansu's default, `scram512`).
    pub const MECHANISM: &'static str = "SCRAM-SHA-512";

    /// The librdkafka properties that log in as this user.
    pub fn client_properties(&self) -> Vec<(String, String)> {
        [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanisms", Self::MECHANISM),
            ("sasl.username", &self.username),
            ("sasl.password", &self.password),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }
}

impl Broker {
    /// Starts a broker with empty storage on a free loopback port.
    pub async fn start() -> anyhow::Result<Broker> {
        let program = tansu_program()?;
        let directory = server_directory("tansu")?;
        let port = free_port()?;
        let mut process = launch(&program, directory.path(), port, false)?;
        wait_until_ready(&mut process, port, directory.path()).await?;
        tracing::debug!(port, directory = %directory.path().display(), "tansu ready");
        Ok(Broker {
            process,
            port,
            directory,
            login: None,
        })
    }

    /// Starts a broker that requires SASL SCRAM-SHA-512 with `login`: it starts open, the user is
    /// created through it (`tansu user create`), and it restarts with `--authentication` on the same
    /// storage. The harness's own clients ([`crate::harness::consume`], [`Broker::create_topic`], ...)
    /// log in by themselves.
    pub async fn start_with_login(login: SaslLogin) -> anyhow::Result<Broker> {
        let mut broker = Broker::start().await?;
        let program = tansu_program()?;
        let status = Command::new(&program)
            .current_dir(broker.directory())
            .env_clear()
            .env("RUST_LOG", LOG_FILTER)
            .args(["user", "create", "--mechanism", "scram512", "--broker"])
            .arg(format!("tcp://{HOST}:{}", broker.port))
            .arg(&login.username)
            .arg(&login.password)
            .status()
            .context("running `tansu user create`")?;
        if !status.success() {
            bail!("`tansu user create` failed ({status}); {}", broker.log_tail());
        }
        register_broker_login(&broker.bootstrap_servers(), login.client_properties());
        broker.login = Some(login);
        broker.restart().await.context("restarting tansu with authentication")?;
        Ok(broker)
    }

    /// The login clients need, if the broker requires one.
    pub fn login(&self) -> Option<&SaslLogin> {
        self.login.as_ref()
    }

    /// The `bootstrap.servers` value for clients: `127.0.0.1:<port>`.
    pub fn bootstrap_servers(&self) -> String {
        format!("{HOST}:{}", self.port)
    }

    /// The TCP port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates `name` with `partitions` partitions, or does nothing if it exists, and waits until
    /// metadata lists it.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = client_config(&self.bootstrap_servers())
            .create()
            .context("creating a kafka admin client")?;
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(TOPIC_TIMEOUT));
        let results = admin
            .create_topics([&topic], &options)
            .await
            .with_context(|| format!("creating topic {name}"))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => bail!("creating topic {topic} failed: {code}"),
            }
        }

        let bootstrap = self.bootstrap_servers();
        let name = name.to_owned();
        let listed = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
            let client: BaseConsumer = client_config(&bootstrap)
                .create()
                .context("creating a kafka metadata client")?;
            let deadline = std::time::Instant::now() + TOPIC_TIMEOUT;
            Ok(wait_for_partitions(&client, &name, deadline).is_some())
        })
        .await
        .context("the metadata task panicked")??;
        if !listed {
            bail!("topic was created but metadata did not list it within {TOPIC_TIMEOUT:?}");
        }
        Ok(())
    }

    /// Kills the broker (SIGKILL, as in a crash) and starts it again on the same port and storage.
    ///
    /// Everything the broker acknowledged before the kill is still there afterwards. Clients connected
    /// before see their connections drop and reconnect.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let program = tansu_program()?;
        self.process.kill();
        self.process = launch(&program, self.directory.path(), self.port, self.login.is_some())?;
        wait_until_ready(&mut self.process, self.port, self.directory.path())
            .await
            .context("restarting tansu")
    }

    /// The temporary directory holding the broker's storage and log.
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }

    /// The last lines of the broker's log, for a failing test's message.
    pub fn log_tail(&self) -> String {
        log_tail(&self.directory.path().join(LOG_FILE))
    }

    /// Kills the broker and removes its directory; the same as dropping it.
    pub fn stop(self) {
        drop(self);
    }
}

/// The tansu binary: `SLUICE_TANSU`, else `$SLUICE_CACHE/tansu/bin/tansu`, else
/// `~/.cache/sluice/tansu/bin/tansu`.
pub fn tansu_program() -> anyhow::Result<PathBuf> {
    let program = match std::env::var_os("SLUICE_TANSU") {
        Some(program) => PathBuf::from(program),
        None => {
            let cache = match std::env::var_os("SLUICE_CACHE") {
                Some(cache) => PathBuf::from(cache),
                None => {
                    let home = std::env::var_os("HOME").context("HOME is not set")?;
                    PathBuf::from(home).join(".cache/sluice")
                }
            };
            cache.join("tansu/bin/tansu")
        }
    };
    if !program.is_file() {
        bail!(
            "the tansu broker is not at {}: run scripts/install.sh, or set SLUICE_TANSU to its path",
            program.display()
        );
    }
    Ok(program)
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.login.is_some() {
            forget_broker_login(&self.bootstrap_servers());
        }
    }
}

/// Starts `tansu broker` in `directory` on `port`, requiring clients to log in if `authentication`.
fn launch(program: &Path, directory: &Path, port: u16, authentication: bool) -> anyhow::Result<ServerProcess> {
    let url = format!("tcp://{HOST}:{port}");
    let mut command = Command::new(program);
    command
        .current_dir(directory)
        .arg("broker")
        .arg("--listener-url")
        .arg(&url)
        .arg("--advertised-listener-url")
        .arg(&url)
        .arg("--storage-engine")
        .arg(STORAGE_URL)
        .args(authentication.then_some("--authentication"))
        // tansu takes most settings from environment variables too; start from none so nothing in the
        // test's environment changes the broker.
        .env_clear()
        .env("RUST_LOG", LOG_FILTER)
        .env("NO_COLOR", "1");
    ServerProcess::spawn("tansu", &mut command, &directory.join(LOG_FILE))
}

/// Waits until the broker accepts connections and answers a metadata request, failing early if it
/// exits.
async fn wait_until_ready(process: &mut ServerProcess, port: u16, directory: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let bootstrap = format!("{HOST}:{port}");
    loop {
        if let Some(status) = process.exit_status() {
            bail!(
                "tansu on port {port} exited during startup ({status}); {}",
                log_tail(&directory.join(LOG_FILE))
            );
        }
        let last_error = match probe(&bootstrap).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if Instant::now() >= deadline {
            bail!(
                "tansu on port {port} did not answer within {STARTUP_TIMEOUT:?} (last error: \
                 {last_error:#}); {}",
                log_tail(&directory.join(LOG_FILE))
            );
        }
        sleep(POLL_INTERVAL).await;
    }
}

/// Connects over TCP, which fails fast while the broker is not listening, then fetches metadata.
async fn probe(bootstrap: &str) -> anyhow::Result<()> {
    tokio::net::TcpStream::connect(bootstrap)
        .await
        .with_context(|| format!("connecting to {bootstrap}"))?;
    let bootstrap = bootstrap.to_owned();
    tokio::task::spawn_blocking(move || fetch_metadata(&bootstrap, None, Duration::from_secs(5)))
        .await
        .context("the metadata task panicked")??;
    Ok(())
}
