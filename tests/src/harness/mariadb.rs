//! A private MariaDB server per test.
//!
//! [`MariaDb::start`] initialises a fresh data directory with `mariadb-install-db` in a temporary
//! directory, starts `mariadbd` on a free loopback port with the binary log settings sluice requires
//! (`ROW` format, `FULL` row image, `FULL` row metadata), waits until it answers a query and creates the
//! replication user sluice connects as. Nothing is read from the machine's option files
//! (`--no-defaults`), so the system's MariaDB configuration and service play no part.
//!
//! The server listens on 127.0.0.1 only. `root` has an empty password over TCP and serves as the admin
//! account for test setup; sluice itself connects as `sluice`, which holds only the privileges the
//! documentation asks operators to grant.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use mysql_async::prelude::Queryable as _;
use tokio::time::{Instant, sleep};

use super::process::{ServerProcess, free_port, log_tail, path_argument, server_directory};

/// The address every test server listens on.
const HOST: &str = "127.0.0.1";
/// The account sluice connects as, and its password.
const REPLICATION_USER: (&str, &str) = ("sluice", "sluice-secret");
/// The privileges sluice documents as required.
const REPLICATION_GRANTS: &str = "SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT";
/// How long a server may take to answer its first query.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a starting server is asked whether it is ready.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How often to try again with a new port when another process took the chosen one.
const PORT_ATTEMPTS: usize = 3;
/// Small InnoDB sizes: several servers run at once on a small machine.
const INNODB_SIZE_ARGS: [&str; 2] = ["--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M"];

/// How to start a [`MariaDb`].
#[derive(Clone, Debug)]
pub struct MariaDbOptions {
    /// The server's `server_id`.
    pub server_id: u32,
    /// More `mariadbd` arguments, given after the harness's own so they override them, for example
    /// `--binlog-format=STATEMENT` to start a server sluice must refuse.
    pub extra_args: Vec<String>,
}

impl Default for MariaDbOptions {
    fn default() -> Self {
        MariaDbOptions {
            server_id: 1,
            extra_args: Vec::new(),
        }
    }
}

/// A running private MariaDB server, killed and its directory removed when dropped.
pub struct MariaDb {
    // Invariant: `process` is declared before `directory`, so the server is killed before its data
    // directory is removed.
    process: ServerProcess,
    port: u16,
    options: MariaDbOptions,
    directory: tempfile::TempDir,
}

impl MariaDb {
    /// Starts a server with [`MariaDbOptions::default`].
    pub async fn start() -> anyhow::Result<MariaDb> {
        MariaDb::start_with(MariaDbOptions::default()).await
    }

    /// Starts a server with `options` and creates the replication user.
    pub async fn start_with(options: MariaDbOptions) -> anyhow::Result<MariaDb> {
        let directory = server_directory("mariadb")?;
        install_data_directory(directory.path()).await?;

        let mut attempt = 1;
        let mariadb = loop {
            let port = free_port()?;
            let mut process = launch(directory.path(), port, &options)?;
            match wait_until_ready(&mut process, port, directory.path()).await {
                Ok(()) => {
                    break MariaDb {
                        process,
                        port,
                        options: options.clone(),
                        directory,
                    };
                }
                Err(error) if attempt < PORT_ATTEMPTS && lost_port_race(directory.path()) => {
                    tracing::info!(port, %error, "port taken by another process; trying another");
                    drop(process);
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        };

        let (user, password) = REPLICATION_USER;
        mariadb
            .execute_all(&[
                &format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"),
                &format!("GRANT {REPLICATION_GRANTS} ON *.* TO '{user}'@'%'"),
            ])
            .await
            .context("creating the replication user")?;
        tracing::debug!(port = mariadb.port, directory = %mariadb.directory.path().display(), "mariadb ready");
        Ok(mariadb)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on: `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The user sluice connects as and its password: `("sluice", "sluice-secret")`.
    ///
    /// It holds `SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT` on `*.*`.
    pub fn replication_user(&self) -> (&str, &str) {
        REPLICATION_USER
    }

    /// A `mysql://` URL for the replication user.
    pub fn replication_url(&self) -> String {
        let (user, password) = REPLICATION_USER;
        format!("mysql://{user}:{password}@{HOST}:{}/?prefer_socket=false", self.port)
    }

    /// A `mysql://` URL for `root`, which has every privilege and an empty password.
    pub fn admin_url(&self) -> String {
        format!("mysql://root@{HOST}:{}/?prefer_socket=false", self.port)
    }

    /// A new connection as `root`.
    pub async fn admin_conn(&self) -> anyhow::Result<mysql_async::Conn> {
        mysql_async::Conn::new(admin_options(self.port))
            .await
            .with_context(|| format!("connecting to mariadb on port {} as root", self.port))
    }

    /// Runs `sql` as `root` in a new connection and discards any results.
    ///
    /// `sql` may hold several statements separated by `;`: the server splits them (the connection
    /// allows multi-statements), and the first failing statement fails the call.
    pub async fn execute(&self, sql: &str) -> anyhow::Result<()> {
        let mut conn = self.admin_conn().await?;
        conn.query_drop(sql)
            .await
            .with_context(|| format!("executing `{sql}`"))?;
        conn.disconnect().await.context("disconnecting from mariadb")
    }

    /// Runs each statement in order as `root`, all in one new connection, discarding results.
    ///
    /// Session state such as `SET` variables, `USE` or an open transaction carries from one statement
    /// to the next.
    pub async fn execute_all(&self, statements: &[&str]) -> anyhow::Result<()> {
        let mut conn = self.admin_conn().await?;
        for statement in statements {
            conn.query_drop(*statement)
                .await
                .with_context(|| format!("executing `{statement}`"))?;
        }
        conn.disconnect().await.context("disconnecting from mariadb")
    }

    /// Kills the server as a crash would (SIGKILL) and starts it again on the same data directory and
    /// port; committed transactions and the binary log survive, as after a real crash.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.process.kill();
        self.process = launch(self.directory.path(), self.port, &self.options)?;
        wait_until_ready(&mut self.process, self.port, self.directory.path())
            .await
            .context("restarting mariadbd")
    }

    /// The temporary directory holding the data directory, binary logs and logs.
    pub fn directory(&self) -> &Path {
        self.directory.path()
    }

    /// The last lines of the server's error log, for a failing test's message.
    pub fn log_tail(&self) -> String {
        log_tail(&error_log(self.directory.path()))
    }

    /// Kills the server and removes its directory; the same as dropping it.
    pub fn stop(self) {
        drop(self);
    }
}

/// Connection options for `root` over TCP.
fn admin_options(port: u16) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(HOST)
        .tcp_port(port)
        .user(Some("root"))
        // Stay on TCP: the client would otherwise switch to the server's Unix socket.
        .prefer_socket(false)
        .into()
}

fn data_directory(directory: &Path) -> PathBuf {
    directory.join("data")
}

fn error_log(directory: &Path) -> PathBuf {
    directory.join("error.log")
}

/// Whether the directory is owned by root, meaning the servers run as root and need `--user=root`.
fn running_as_root(directory: &Path) -> anyhow::Result<bool> {
    let metadata =
        std::fs::metadata(directory).with_context(|| format!("reading the owner of {}", directory.display()))?;
    Ok(metadata.uid() == 0)
}

/// `mariadb-install-db`, or its older name.
fn install_program() -> &'static str {
    ["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("mariadb-install-db")
}

/// `mariadbd` from the Debian package, or from `PATH`.
fn server_program() -> &'static str {
    ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .unwrap_or("mariadbd")
}

/// Creates the system tables in `<directory>/data`, with `root` reachable by password over TCP.
async fn install_data_directory(directory: &Path) -> anyhow::Result<()> {
    let log_path = directory.join("install.log");
    let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut command = tokio::process::Command::new(install_program());
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", path_argument(&data_directory(directory))?))
        .arg("--auth-root-authentication-method=normal")
        // A private tmpdir: bootstraps running in parallel must not meet each other's temporary tables.
        .arg(format!("--tmpdir={}", path_argument(directory)?))
        .arg("--skip-test-db")
        .arg("--skip-name-resolve")
        .args(INNODB_SIZE_ARGS)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().context("sharing the install log")?)
        .stderr(log)
        .kill_on_drop(true);
    if running_as_root(directory)? {
        command.arg("--user=root");
    }
    let status = command
        .status()
        .await
        .with_context(|| format!("running {}", install_program()))?;
    if !status.success() {
        bail!("{} failed ({status}); {}", install_program(), log_tail(&log_path));
    }
    Ok(())
}

/// Starts `mariadbd` on `port` over the installed data directory.
fn launch(directory: &Path, port: u16, options: &MariaDbOptions) -> anyhow::Result<ServerProcess> {
    let path = |name: &str| -> anyhow::Result<String> { Ok(path_argument(&directory.join(name))?.to_owned()) };
    let mut command = Command::new(server_program());
    command
        .current_dir(directory)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", path("data")?))
        .arg(format!("--socket={}", path("mysqld.sock")?))
        .arg(format!("--pid-file={}", path("mysqld.pid")?))
        .arg(format!("--log-error={}", path("error.log")?))
        .arg(format!("--tmpdir={}", path_argument(directory)?))
        .arg(format!("--port={port}"))
        .arg(format!("--bind-address={HOST}"))
        .arg("--skip-name-resolve")
        .arg(format!("--server-id={}", options.server_id))
        .arg(format!("--log-bin={}", path("mysql-bin")?))
        .arg("--binlog-format=ROW")
        .arg("--binlog-row-image=FULL")
        .arg("--binlog-row-metadata=FULL")
        // Debian's packaged configuration makes utf8mb4 the default; --no-defaults would leave latin1.
        .arg("--character-set-server=utf8mb4")
        .arg("--collation-server=utf8mb4_general_ci")
        // Committed data reaches the OS at every commit, so a killed server loses nothing; only the
        // fsync per commit is skipped.
        .arg("--innodb-flush-log-at-trx-commit=2")
        .args(INNODB_SIZE_ARGS);
    if running_as_root(directory)? {
        command.arg("--user=root");
    }
    command.args(&options.extra_args);
    ServerProcess::spawn("mariadbd", &mut command, &directory.join("mariadbd.out"))
}

/// Polls until the server answers `SELECT 1` as root, failing early if it exits.
async fn wait_until_ready(process: &mut ServerProcess, port: u16, directory: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some(status) = process.exit_status() {
            bail!(
                "mariadbd on port {port} exited during startup ({status}); {}",
                log_tail(&error_log(directory))
            );
        }
        let last_error = match probe(port).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        if Instant::now() >= deadline {
            bail!(
                "mariadbd on port {port} did not answer within {STARTUP_TIMEOUT:?} (last error: \
                 {last_error:#}); {}",
                log_tail(&error_log(directory))
            );
        }
        sleep(POLL_INTERVAL).await;
    }
}

/// Connects as root and runs `SELECT 1`.
async fn probe(port: u16) -> anyhow::Result<()> {
    let mut conn = mysql_async::Conn::new(admin_options(port)).await?;
    conn.query_drop("SELECT 1").await?;
    conn.disconnect().await?;
    Ok(())
}

/// Whether the server's error log says another process holds its port.
fn lost_port_race(directory: &Path) -> bool {
    std::fs::read_to_string(error_log(directory))
        .map(|log| log.contains("Address already in use") || log.contains("Do you already have another"))
        .unwrap_or(false)
}
