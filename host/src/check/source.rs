//! Checks of the source server: can sluice log in, is the binlog what it reads, may it read it, does
//! its replica id clash, and which tables will it capture.
//!
//! The setting checks are the named preconditions of [`crate::source::preconditions`], so `sluice run`
//! and `sluice check` say the same words. [`check_server`] takes a connection already made: `sluice
//! check` connects once with a short timeout ([`run`]); `sluice run` connects with its patient retry
//! and then calls it with [`Purpose::Startup`].

use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use crate::change::TableName;
use crate::check::Purpose;
use crate::check::grants::Grants;
use crate::check::report::{Area, CheckResult};
use crate::config::{Config, SnapshotMode, SourceConfig};
use crate::source::connect::{connection_options, is_transient};
use crate::source::preconditions::{
    ServerSettings, SettingMismatch, ensure_full_row_image, ensure_full_row_metadata, ensure_log_bin, ensure_row_format,
};
use crate::source::schema::{captured_tables, load_catalog_table};

const AREA: Area = Area::Source;

/// How long `sluice check` waits for the server to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long binary logs should at least be kept, so a stopped sluice finds its position again.
const RETENTION_WARNING: Duration = Duration::from_secs(86_400);

/// Tables named in a PASS line before "and N more".
const TABLES_NAMED: usize = 10;

/// The checks made once connected, in the order shown, for the lines skipped when that fails.
const SERVER_CHECKS: [&str; 10] = [
    "server version",
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "binlog retention",
    "server_id",
    "privileges",
    "captured tables",
    "row keys",
];

/// Connects once (within [`CONNECT_TIMEOUT`]) and runs every source check.
pub async fn run(config: &Config) -> Vec<CheckResult> {
    let source = &config.source;
    let skip_rest = |mut results: Vec<CheckResult>, reason: &str| {
        results.extend(SERVER_CHECKS.iter().map(|name| CheckResult::skip(AREA, *name, reason)));
        results
    };
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(connection_options(source))).await;
    let mut conn = match connected {
        Ok(Ok(conn)) => conn,
        Ok(Err(error)) => return skip_rest(vec![connect_failure(source, &error)], "cannot connect to MySQL"),
        Err(_) => {
            let failure = CheckResult::fail(
                AREA,
                "connection",
                format!(
                    "MySQL at {} did not answer within {} s",
                    source.address(),
                    CONNECT_TIMEOUT.as_secs()
                ),
                "check source.host and source.port, and that the server runs and accepts TCP connections from here",
            );
            return skip_rest(vec![failure], "cannot connect to MySQL");
        }
    };
    let mut results = vec![CheckResult::pass(
        AREA,
        "connection",
        format!("logged in to {} as `{}`", source.address(), source.user),
    )];
    match ServerSettings::fetch(&mut conn).await {
        Ok(settings) => results.extend(check_server(&mut conn, &settings, config, Purpose::Precheck).await),
        Err(error) => {
            results.push(CheckResult::fail(
                AREA,
                "server settings",
                error.to_string(),
                "let the user read global variables (SHOW GLOBAL VARIABLES)",
            ));
            results = skip_rest(results, "the server settings could not be read");
        }
    }
    let _ = conn.disconnect().await;
    results
}

/// Why connecting failed: unreachable (host and port to fix) or refused (user and password to fix).
/// The password is never part of it.
fn connect_failure(source: &SourceConfig, error: &mysql_async::Error) -> CheckResult {
    if is_transient(error) {
        CheckResult::fail(
            AREA,
            "connection",
            format!("cannot reach MySQL at {}: {error}", source.address()),
            "check source.host and source.port, and that the server runs and accepts TCP connections from here",
        )
    } else {
        CheckResult::fail(
            AREA,
            "connection",
            format!(
                "cannot log in to MySQL at {} as `{}`: {error}",
                source.address(),
                source.user
            ),
            "check source.user and the password (source.password, password_env or password_file), and that \
             the user may connect from this host",
        )
    }
}

/// Every check that needs a connection, in the order shown.
pub async fn check_server(
    conn: &mut Conn,
    settings: &ServerSettings,
    config: &Config,
    purpose: Purpose,
) -> Vec<CheckResult> {
    let mut results = vec![
        version(settings),
        required_setting("log_bin", ensure_log_bin(settings), "ON"),
        required_setting("binlog_format", ensure_row_format(settings), "ROW"),
        required_setting("binlog_row_image", ensure_full_row_image(settings), "FULL"),
        row_metadata(settings),
        retention(settings),
        server_id(conn, settings, config, purpose).await,
    ];
    let tables = captured_tables(conn, |database, table| config.source.captures(database, table)).await;
    match tables {
        Ok(tables) => {
            results.push(privileges(conn, settings, config, &tables).await);
            results.push(captured(config, &tables, purpose));
            results.extend(row_keys(conn, &tables, config).await);
        }
        Err(error) => {
            results.push(privileges(conn, settings, config, &[]).await);
            results.push(CheckResult::fail(
                AREA,
                "captured tables",
                error.to_string(),
                "let the user read information_schema.TABLES (any privilege on the tables shows them)",
            ));
            results.push(CheckResult::skip(
                AREA,
                "row keys",
                "the captured tables could not be listed",
            ));
        }
    }
    results
}

/// MariaDB, MySQL or something else, and its version.
fn version(settings: &ServerSettings) -> CheckResult {
    let number = settings.version.split(['-', '+']).next().unwrap_or_default();
    let mut parts = number.split('.').map(|part| part.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let comment = settings.version_comment.to_ascii_lowercase();
    let detail = |flavour: &str| {
        if settings.version_comment.is_empty() {
            format!("{flavour} {number} (`{}`)", settings.version)
        } else {
            format!(
                "{flavour} {number} (`{}`, {})",
                settings.version, settings.version_comment
            )
        }
    };
    if settings.is_mariadb() {
        if (major, minor) >= (10, 0) {
            CheckResult::pass(AREA, "server version", detail("MariaDB"))
        } else {
            CheckResult::warn(
                AREA,
                "server version",
                format!(
                    "{}: older than MariaDB 10.0, which sluice needs for GTIDs",
                    detail("MariaDB")
                ),
                "upgrade the server to MariaDB 10.5 or later",
            )
        }
    } else if comment.contains("mysql") || comment.contains("percona") {
        let flavour = if comment.contains("percona") {
            "Percona Server"
        } else {
            "MySQL"
        };
        if (major, minor) >= (5, 6) {
            CheckResult::pass(AREA, "server version", detail(flavour))
        } else {
            CheckResult::warn(
                AREA,
                "server version",
                format!(
                    "{}: older than MySQL 5.6, the oldest sluice is tested with",
                    detail(flavour)
                ),
                "upgrade the server to MySQL 8.0 or later",
            )
        }
    } else {
        CheckResult::warn(
            AREA,
            "server version",
            format!(
                "{}: neither MariaDB nor MySQL by its version; sluice treats it as MySQL",
                detail("unknown server")
            ),
            "use MySQL (5.6 or later) or MariaDB (10.0 or later)",
        )
    }
}

fn mismatch_detail(mismatch: &SettingMismatch) -> String {
    format!(
        "server setting `{}` is `{}` but sluice needs `{}`",
        mismatch.setting, mismatch.actual, mismatch.expected
    )
}

/// A setting streaming cannot do without.
fn required_setting(name: &str, outcome: Result<(), SettingMismatch>, value: &str) -> CheckResult {
    match outcome {
        Ok(()) => CheckResult::pass(AREA, name, value),
        Err(mismatch) => CheckResult::fail(AREA, name, mismatch_detail(&mismatch), mismatch.fix),
    }
}

fn row_metadata(settings: &ServerSettings) -> CheckResult {
    const FALLBACK: &str = "column names and keys come from sluice's schema history, which follows each DDL \
                            statement; a table first met without history is read from information_schema once";
    match (ensure_full_row_metadata(settings), &settings.binlog_row_metadata) {
        (Ok(()), _) => CheckResult::pass(
            AREA,
            "binlog_row_metadata",
            "FULL: column names and keys come from the binlog itself",
        ),
        (Err(mismatch), Some(value)) => CheckResult::warn(
            AREA,
            "binlog_row_metadata",
            format!("is `{value}`, not `FULL`: {FALLBACK}"),
            mismatch.fix,
        ),
        (Err(mismatch), None) => CheckResult::warn(
            AREA,
            "binlog_row_metadata",
            format!("this server has no binlog_row_metadata (MySQL >= 8.0.1, MariaDB >= 10.5 have it): {FALLBACK}"),
            mismatch.fix,
        ),
    }
}

/// `2 days`, `7.5 days`, `6 hours`, `30 minutes`.
fn describe_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    let (amount, unit) = if seconds >= 86_400.0 {
        (seconds / 86_400.0, "day")
    } else if seconds >= 3_600.0 {
        (seconds / 3_600.0, "hour")
    } else {
        (seconds / 60.0, "minute")
    };
    let amount = (amount * 10.0).round() / 10.0;
    format!("{amount} {unit}{}", if amount == 1.0 { "" } else { "s" })
}

fn retention(settings: &ServerSettings) -> CheckResult {
    match settings.binlog_retention() {
        None => CheckResult::pass(
            AREA,
            "binlog retention",
            "binary logs are never purged automatically (expire_logs_days = 0); purge by hand only what sluice's \
             checkpoint has passed",
        ),
        Some(kept) if kept < RETENTION_WARNING => CheckResult::warn(
            AREA,
            "binlog retention",
            format!(
                "binary logs are purged after {}: a sluice stopped for longer loses its position and must snapshot again",
                describe_duration(kept)
            ),
            "keep binary logs for at least a day: binlog_expire_logs_seconds = 86400 or more (MySQL 8, MariaDB \
             10.6), else expire_logs_days = 1",
        ),
        Some(kept) => CheckResult::pass(
            AREA,
            "binlog retention",
            format!(
                "binary logs are kept {}: sluice may be stopped that long and resume where it was",
                describe_duration(kept)
            ),
        ),
    }
}

/// A replica registered with the server.
struct Replica {
    server_id: u32,
    host: String,
    port: u32,
}

/// The replicas the server lists (`SHOW REPLICAS` on MySQL 8.0.22+, else `SHOW SLAVE HOSTS`).
async fn registered_replicas(conn: &mut Conn, is_mariadb: bool) -> Result<Vec<Replica>, mysql_async::Error> {
    let rows: Vec<mysql_async::Row> = if is_mariadb {
        conn.query("SHOW SLAVE HOSTS").await?
    } else {
        match conn.query("SHOW REPLICAS").await {
            Ok(rows) => rows,
            Err(_) => conn.query("SHOW SLAVE HOSTS").await?,
        }
    };
    Ok(rows
        .into_iter()
        .map(|row| Replica {
            server_id: row.get_opt(0).and_then(Result::ok).unwrap_or(0),
            host: row.get_opt(1).and_then(Result::ok).unwrap_or_default(),
            port: row.get_opt(2).and_then(Result::ok).unwrap_or(0),
        })
        .collect())
}

/// How many binlog dump threads `SHOW PROCESSLIST` shows (all of them only with PROCESS).
async fn dump_threads(conn: &mut Conn) -> Option<usize> {
    let rows: Vec<mysql_async::Row> = conn.query("SHOW PROCESSLIST").await.ok()?;
    Some(
        rows.iter()
            .filter(|row| {
                row.get_opt::<String, _>("Command")
                    .and_then(Result::ok)
                    .is_some_and(|command| command.starts_with("Binlog Dump"))
            })
            .count(),
    )
}

fn server_id_text(id: Option<u32>) -> String {
    id.map_or_else(|| "unknown".to_owned(), |id| id.to_string())
}

async fn server_id(conn: &mut Conn, settings: &ServerSettings, config: &Config, purpose: Purpose) -> CheckResult {
    let ours = config.source.server_id;
    if settings.server_id == Some(ours) {
        return CheckResult::fail(
            AREA,
            "server_id",
            format!("source.server_id = {ours} is the server's own server_id"),
            "set source.server_id to an id no server or replica of this replication setup uses",
        );
    }
    let own = server_id_text(settings.server_id);
    let threads = match dump_threads(conn).await {
        Some(count) => format!("; {count} binlog dump threads visible"),
        None => String::new(),
    };
    match registered_replicas(conn, settings.is_mariadb()).await {
        Ok(replicas) => match replicas.iter().find(|replica| replica.server_id == ours) {
            Some(replica) => {
                let detail = format!(
                    "source.server_id = {ours} is the id of a replica connected now ({}:{})",
                    replica.host, replica.port
                );
                match purpose {
                    Purpose::Precheck => CheckResult::fail(
                        AREA,
                        "server_id",
                        detail,
                        "set source.server_id to an id no replica uses (if that replica is this pipeline's own \
                         daemon, running now, this is expected)",
                    ),
                    Purpose::Startup => CheckResult::warn(
                        AREA,
                        "server_id",
                        format!(
                            "{detail}; if it is an earlier run of this daemon the server has not noticed gone, \
                             the server ends it when sluice registers"
                        ),
                        "otherwise two replicas share the id and disconnect each other: set source.server_id to \
                         an id no replica uses",
                    ),
                }
            }
            None => {
                let ids: Vec<String> = replicas.iter().map(|replica| replica.server_id.to_string()).collect();
                let listed = if ids.is_empty() {
                    "no replica is registered".to_owned()
                } else {
                    format!("the registered replicas have {}", ids.join(", "))
                };
                CheckResult::pass(
                    AREA,
                    "server_id",
                    format!("{ours}: the server's own is {own}, {listed}{threads}"),
                )
            }
        },
        Err(error) => CheckResult::warn(
            AREA,
            "server_id",
            format!(
                "{ours} differs from the server's own ({own}), but the replicas could not be listed to compare: \
                 {error}"
            ),
            format!(
                "make sure no other replica uses server_id {ours}, or grant the user REPLICATION MASTER ADMIN \
                 (MariaDB) or REPLICATION SLAVE (MySQL) so this check can list them"
            ),
        ),
    }
}

/// Whether snapshots take FLUSH TABLES WITH READ LOCK, which needs RELOAD: only on MySQL (MariaDB has
/// a lock-free consistent point), only when allowed, and only if sluice snapshots at all.
fn needs_reload(settings: &ServerSettings, config: &Config) -> bool {
    config.snapshot.allow_global_lock && config.snapshot.mode != SnapshotMode::Never && !settings.is_mariadb()
}

async fn privileges(conn: &mut Conn, settings: &ServerSettings, config: &Config, tables: &[TableName]) -> CheckResult {
    let lines: Vec<String> = match conn.query("SHOW GRANTS").await {
        Ok(lines) => lines,
        Err(error) => {
            return CheckResult::warn(
                AREA,
                "privileges",
                format!("cannot read the user's grants: {error}"),
                "make sure the user has REPLICATION SLAVE, REPLICATION CLIENT and SELECT on the captured tables",
            );
        }
    };
    // `user@host` as the server matched the login, for the GRANT statements of the fix.
    let account: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.ok().flatten();
    let account = match account.as_deref().and_then(|account| account.rsplit_once('@')) {
        Some((user, host)) => format!("'{user}'@'{host}'"),
        None => format!("'{}'", config.source.user),
    };
    let grants = Grants::parse(&lines);
    let mut needed = vec!["REPLICATION SLAVE", "REPLICATION CLIENT"];
    if needs_reload(settings, config) {
        needed.push("RELOAD");
    }
    let missing_global: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|privilege| !grants.has_global(privilege))
        .collect();
    let mut unreadable: Vec<String> = tables
        .iter()
        .filter(|table| !grants.can_select(table))
        .map(TableName::to_string)
        .collect();
    for pattern in &config.source.tables {
        if let Some(database) = pattern.literal_database()
            && !grants.can_select_in_database(database, None)
        {
            let all = format!("`{}`.*", database.replace('`', "``"));
            if !unreadable.contains(&all) {
                unreadable.push(all);
            }
        }
    }
    if missing_global.is_empty() && unreadable.is_empty() {
        let reload = if needed.contains(&"RELOAD") {
            ", RELOAD (snapshot.allow_global_lock)"
        } else {
            ""
        };
        return CheckResult::pass(
            AREA,
            "privileges",
            format!("REPLICATION SLAVE, REPLICATION CLIENT{reload} and SELECT on the captured tables"),
        );
    }
    let mut lacking = Vec::new();
    let mut statements = Vec::new();
    if !missing_global.is_empty() {
        lacking.push(missing_global.join(", "));
        statements.push(format!("GRANT {} ON *.* TO {account}", missing_global.join(", ")));
    }
    if !unreadable.is_empty() {
        lacking.push(format!("SELECT on {}", unreadable.join(", ")));
        for object in &unreadable {
            statements.push(format!("GRANT SELECT ON {object} TO {account}"));
        }
    }
    let detail = format!("the user lacks {}", lacking.join("; "));
    if grants.roles().is_empty() {
        CheckResult::fail(AREA, "privileges", detail, statements.join("; "))
    } else {
        CheckResult::warn(
            AREA,
            "privileges",
            format!(
                "{detail}, unless the roles {} (whose grants SHOW GRANTS does not show) give it",
                grants.roles().join(", ")
            ),
            format!(
                "make sure the roles are active by default and hold them, or {}",
                statements.join("; ")
            ),
        )
    }
}

fn captured(config: &Config, tables: &[TableName], purpose: Purpose) -> CheckResult {
    let patterns: Vec<String> = config.source.tables.iter().map(ToString::to_string).collect();
    let patterns = patterns.join(", ");
    if tables.is_empty() {
        let detail = format!("no table matches source.tables ({patterns})");
        let fix = "correct source.tables, or create the tables (a table created later is captured from then on)";
        return match purpose {
            Purpose::Precheck => CheckResult::fail(AREA, "captured tables", detail, fix),
            Purpose::Startup => CheckResult::warn(AREA, "captured tables", detail, fix),
        };
    }
    let mut names: Vec<String> = tables.iter().take(TABLES_NAMED).map(ToString::to_string).collect();
    if tables.len() > TABLES_NAMED {
        names.push(format!("and {} more", tables.len() - TABLES_NAMED));
    }
    let count = if tables.len() == 1 {
        "1 table matches".to_owned()
    } else {
        format!("{} tables match", tables.len())
    };
    CheckResult::pass(
        AREA,
        "captured tables",
        format!("{count} {patterns}: {}", names.join(", ")),
    )
}

/// A WARN per captured table without a row key; one PASS when every table has one. And a FAIL per
/// table lacking a column its `kafka.partitioning` policy hashes (a WARN when plugins run, which may
/// rename a column to it).
async fn row_keys(conn: &mut Conn, tables: &[TableName], config: &Config) -> Vec<CheckResult> {
    if tables.is_empty() {
        return vec![CheckResult::skip(AREA, "row keys", "no table matches source.tables")];
    }
    let mut results = Vec::new();
    let mut partitioning = Vec::new();
    for table in tables {
        let catalog = load_catalog_table(conn, table).await;
        if let Ok(Some(catalog)) = &catalog {
            let columns: Vec<&str> = catalog.columns.iter().map(|column| column.name.as_str()).collect();
            if let Some((setting, column)) = config.kafka.partitioning.missing_column(table, &columns) {
                let problem = if config.plugins.is_empty() {
                    CheckResult::fail
                } else {
                    CheckResult::warn
                };
                partitioning.push(problem(
                    AREA,
                    format!("partitioning of {table}"),
                    format!("{setting} hashes column `{column}`, which {table} does not have"),
                    format!(
                        "name columns of {table} in {setting}, or give it its own kafka.partitioning_by_table entry"
                    ),
                ));
            }
        }
        match catalog {
            Ok(Some(catalog)) if catalog.primary_key.is_empty() => results.push(CheckResult::warn(
                AREA,
                format!("row key of {table}"),
                format!(
                    "{table} has no primary key and no unique key over NOT NULL columns: its messages have no key \
                     (all go to partition 0) and its snapshot is read in one scan"
                ),
                format!("add a primary key to {table}"),
            )),
            Ok(_) => {}
            Err(error) => results.push(CheckResult::warn(
                AREA,
                format!("row key of {table}"),
                format!("cannot read the keys of {table}: {error}"),
                "let the user read information_schema.STATISTICS for the captured tables",
            )),
        }
    }
    if results.is_empty() {
        results.push(CheckResult::pass(
            AREA,
            "row keys",
            "every captured table has a primary key or a unique key over NOT NULL columns",
        ));
    }
    results.extend(partitioning);
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(version: &str, comment: &str) -> ServerSettings {
        ServerSettings {
            version: version.into(),
            version_comment: comment.into(),
            ..ServerSettings::default()
        }
    }

    #[test]
    fn the_flavour_and_version_are_named() {
        let mariadb = version(&settings("10.11.19-MariaDB-0+deb12u1-log", "Debian 12"));
        assert_eq!(mariadb.status, crate::check::Status::Pass);
        assert!(mariadb.detail.starts_with("MariaDB 10.11.19"), "{}", mariadb.detail);
        let mysql = version(&settings("8.0.36", "MySQL Community Server - GPL"));
        assert!(mysql.detail.starts_with("MySQL 8.0.36"), "{}", mysql.detail);
        assert_eq!(
            version(&settings("5.5.62", "MySQL Community Server (GPL)")).status,
            crate::check::Status::Warn
        );
        assert_eq!(version(&settings("3.1.0", "TiDB")).status, crate::check::Status::Warn);
    }

    #[test]
    fn short_binlog_retention_warns() {
        let mut server = settings("8.0.36", "MySQL");
        server.binlog_expire_logs_seconds = Some(3_600);
        let result = retention(&server);
        assert_eq!(result.status, crate::check::Status::Warn);
        assert!(result.detail.contains("1 hour"), "{}", result.detail);
        server.binlog_expire_logs_seconds = Some(2_592_000);
        assert!(retention(&server).detail.contains("30 days"));
        server.binlog_expire_logs_seconds = Some(0);
        server.expire_logs_days = Some(0.0);
        assert!(retention(&server).detail.contains("never purged"));
    }
}
