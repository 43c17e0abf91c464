//! Schema evolution against real MariaDB servers and a real broker: rows written between DDL
//! statements of every common kind decode into the right columns, with `binlog_row_metadata=FULL`
//! (names from the TABLE_MAP) and with `MINIMAL` (names from sluice's schema history), identically;
//! a restart from a position before all the DDL decodes the same again from the persisted history;
//! forwarded DDL arrives as DTS `DDL` records in order, on the topic the mapping chose for its table;
//! and a DDL policy that halts on `DROP TABLE` stops the pipeline without the checkpoint passing the
//! statement.

use std::time::Duration;

use sluice_tests::daemon::{
    DecodedRecord, PluginEntry, RunningDaemon, config_toml, current_position, decode_record, reference_schema,
    wait_for_checkpoint,
};
use sluice_tests::harness::{Broker, MariaDb, MariaDbOptions, consume, consume_all};

const CONSUME_TIMEOUT: Duration = Duration::from_secs(90);

/// One step of the workload.
enum Step {
    /// A DDL statement, the kind sluice classifies it as (the record's `ddl_kind` tag), and the table
    /// and columns it leaves (`None`: the table and columns stay).
    Ddl(
        &'static str,
        &'static str,
        Option<(&'static str, &'static [&'static str])>,
    ),
    /// Insert row `n` into the current table: `id = n`, every other column `'<column>-<n>'`.
    Insert(u32),
    /// `UPDATE ... SET b = 'b-101' WHERE id = 1`, with the row's images as they must read then.
    UpdateRowOne {
        before: &'static [Option<&'static str>],
        after: &'static [Option<&'static str>],
    },
}

const STEPS: &[Step] = &[
    Step::Ddl(
        "CREATE TABLE shop.items (id INT PRIMARY KEY, a VARCHAR(20), b VARCHAR(20))",
        "CreateTable",
        Some(("items", &["id", "a", "b"])),
    ),
    Step::Insert(1),
    Step::Ddl(
        "ALTER TABLE shop.items ADD COLUMN f VARCHAR(20) FIRST",
        "AlterTable",
        Some(("items", &["f", "id", "a", "b"])),
    ),
    Step::Insert(2),
    Step::Ddl(
        "ALTER TABLE shop.items ADD COLUMN m VARCHAR(20) AFTER a",
        "AlterTable",
        Some(("items", &["f", "id", "a", "m", "b"])),
    ),
    Step::Insert(3),
    Step::Ddl(
        "ALTER TABLE shop.items ADD COLUMN l VARCHAR(20)",
        "AlterTable",
        Some(("items", &["f", "id", "a", "m", "b", "l"])),
    ),
    Step::Insert(4),
    Step::Ddl(
        "ALTER TABLE shop.items DROP COLUMN a",
        "AlterTable",
        Some(("items", &["f", "id", "m", "b", "l"])),
    ),
    Step::Insert(5),
    Step::Ddl("ALTER TABLE shop.items MODIFY b TEXT", "AlterTable", None),
    Step::Insert(6),
    Step::Ddl(
        "ALTER TABLE shop.items RENAME COLUMN m TO m2",
        "AlterTable",
        Some(("items", &["f", "id", "m2", "b", "l"])),
    ),
    Step::Insert(7),
    Step::UpdateRowOne {
        before: &[None, Some("1"), None, Some("b-1"), None],
        after: &[None, Some("1"), None, Some("b-101"), None],
    },
    Step::Ddl(
        "RENAME TABLE shop.items TO shop.goods",
        "RenameTable",
        Some(("goods", &["f", "id", "m2", "b", "l"])),
    ),
    Step::Insert(8),
    Step::Ddl("TRUNCATE TABLE shop.goods", "TruncateTable", None),
    Step::Insert(9),
    Step::Ddl("DROP TABLE shop.goods", "DropTable", None),
    Step::Ddl(
        "CREATE TABLE shop.items (id INT PRIMARY KEY, x VARCHAR(20), y ENUM('y-10','y-11'))",
        "CreateTable",
        Some(("items", &["id", "x", "y"])),
    ),
    Step::Insert(10),
    Step::Insert(11),
];

/// Runs the workload, one statement at a time, and returns what the stream must hold, one line per
/// record: `DDL <kind>`, or `<operation> <object> <columns> <before> <after>`.
async fn run_workload(db: &MariaDb) -> anyhow::Result<Vec<String>> {
    let mut expected = Vec::new();
    let (mut table, mut columns): (&str, &[&str]) = ("", &[]);
    for step in STEPS {
        match step {
            Step::Ddl(statement, kind, after) => {
                db.execute_all(&[statement]).await?;
                if let Some((new_table, new_columns)) = after {
                    (table, columns) = (new_table, new_columns);
                }
                expected.push(format!("DDL {kind}"));
            }
            Step::Insert(n) => {
                let values: Vec<String> = columns
                    .iter()
                    .map(|column| match *column {
                        "id" => n.to_string(),
                        other => format!("'{other}-{n}'"),
                    })
                    .collect();
                db.execute_all(&[&format!(
                    "INSERT INTO shop.{table} ({}) VALUES ({})",
                    columns.join(", "),
                    values.join(", ")
                )])
                .await?;
                let after: Vec<Option<String>> = columns
                    .iter()
                    .map(|column| match *column {
                        "id" => Some(n.to_string()),
                        other => Some(format!("{other}-{n}")),
                    })
                    .collect();
                expected.push(row_line("INSERT", table, columns, None, Some(&after)));
            }
            Step::UpdateRowOne { before, after } => {
                db.execute_all(&[&format!("UPDATE shop.{table} SET b = 'b-101' WHERE id = 1")])
                    .await?;
                let owned = |image: &[Option<&str>]| -> Vec<Option<String>> {
                    image.iter().map(|value| value.map(str::to_owned)).collect()
                };
                expected.push(row_line(
                    "UPDATE",
                    table,
                    columns,
                    Some(&owned(before)),
                    Some(&owned(after)),
                ));
            }
        }
    }
    Ok(expected)
}

fn row_line(
    operation: &str,
    table: &str,
    columns: &[&str],
    before: Option<&[Option<String>]>,
    after: Option<&[Option<String>]>,
) -> String {
    format!("{operation} shop.{table} {columns:?} {before:?} {after:?}")
}

/// The same line for a record read back.
fn record_line(record: &DecodedRecord) -> String {
    if record.operation == "DDL" {
        // The server may log a statement otherwise than it was written (`DROP TABLE` gets quoted
        // names and a comment), so the text is checked for the object, the kind exactly.
        let text = record.ddl_text.as_deref().unwrap_or_default();
        let kind = record
            .tags
            .iter()
            .find(|(name, _)| name == "ddl_kind")
            .map_or("<no kind>", |(_, kind)| kind.as_str());
        let names_a_table = ["items", "goods", "`t`", ".t "].iter().any(|name| text.contains(name));
        return format!(
            "DDL {kind}{}",
            if names_a_table { "" } else { " <text names no table>" }
        );
    }
    let columns: Vec<&str> = record.fields.iter().map(|(name, _)| name.as_str()).collect();
    let table = record
        .object_name
        .as_deref()
        .and_then(|name| name.split_once('.'))
        .map_or("?", |(_, table)| table);
    row_line(
        &record.operation,
        table,
        &columns,
        record.before.as_deref(),
        record.after.as_deref(),
    )
}

/// Waits for `count` records of `topic`, then reads back every record it holds (so an extra one
/// shows), in the order sluice numbered them.
async fn read_back(broker: &Broker, topic: &str, count: usize) -> anyhow::Result<Vec<DecodedRecord>> {
    let schema = reference_schema()?;
    consume(&broker.bootstrap_servers(), topic, count, CONSUME_TIMEOUT).await?;
    let messages = consume_all(&broker.bootstrap_servers(), topic, CONSUME_TIMEOUT).await?;
    let mut records = messages
        .iter()
        .map(|message| decode_record(&schema, &message.payload))
        .collect::<anyhow::Result<Vec<_>>>()?;
    records.sort_by_key(|record| record.id);
    Ok(records)
}

fn daemon_config(db: &MariaDb, broker: &Broker, checkpoint: &std::path::Path, start: &str, topic: &str) -> String {
    config_toml(db, broker, checkpoint, start, &["shop.items"], topic, &[])
        + "\n[snapshot]\nmode = \"never\"\n\n[ddl]\ndefault = \"forward\"\n"
}

/// Starts a server logging TABLE_MAP metadata at `metadata` (`FULL` or `MINIMAL`) with an empty
/// `shop` database, streams the workload through a daemon, and returns the records read back, the
/// lines the workload expects, where the stream started, and the daemon's state directory.
async fn stream_workload(
    metadata: &str,
    broker: &Broker,
    topic: &str,
) -> anyhow::Result<(MariaDb, Vec<String>, Vec<String>, String, tempfile::TempDir)> {
    let db = MariaDb::start_with(MariaDbOptions {
        extra_args: vec![format!("--binlog-row-metadata={metadata}")],
        ..Default::default()
    })
    .await?;
    db.execute_all(&["CREATE DATABASE shop"]).await?;
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let daemon = RunningDaemon::start(&daemon_config(&db, broker, &checkpoint, &start, topic), state.path())?;
    let expected = run_workload(&db).await?;
    let records = read_back(broker, topic, expected.len()).await?;
    let end = current_position(&db).await?;
    assert!(
        wait_for_checkpoint(&checkpoint, &end, CONSUME_TIMEOUT).await,
        "the checkpoint reaches the end"
    );
    daemon.stop().await?;
    let lines = records.iter().map(record_line).collect();
    Ok((db, lines, expected, start, state))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_between_ddl_decode_into_the_right_columns_with_full_and_minimal_metadata() -> anyhow::Result<()> {
    let broker = Broker::start().await?;

    let (_full_db, full, expected, _, _full_state) = stream_workload("FULL", &broker, "evolve-full").await?;
    assert_eq!(full, expected, "binlog_row_metadata=FULL: every record as written");

    let (minimal_db, minimal, _, start, state) = stream_workload("MINIMAL", &broker, "evolve-minimal").await?;
    assert_eq!(
        minimal, full,
        "binlog_row_metadata=MINIMAL: the same output, named by the schema history"
    );

    // From a position before every DDL again, with the persisted history and no checkpoint: the old
    // rows decode with the old columns although the catalog now shows only the last `items`.
    let history = state.path().join("checkpoint.schema-history.json");
    assert!(history.is_file(), "the schema history sits beside the checkpoint");
    let checkpoint = state.path().join("checkpoint.json");
    std::fs::remove_file(&checkpoint)?;
    let config = daemon_config(&minimal_db, &broker, &checkpoint, &start, "evolve-again");
    let daemon = RunningDaemon::start(&config, state.path())?;
    let again = read_back(&broker, "evolve-again", expected.len()).await?;
    daemon.stop().await?;
    let again: Vec<String> = again.iter().map(record_line).collect();
    assert_eq!(again, minimal, "a restart before the DDL decodes the same");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_that_halts_on_drop_table_stops_before_it() -> anyhow::Result<()> {
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&["CREATE DATABASE shop", "CREATE TABLE shop.t (id INT PRIMARY KEY)"])
        .await?;
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let guard_path = tokio::task::spawn_blocking(|| sluice_tests::plugins::build_plugin("ddl-guard")).await??;
    let guard = PluginEntry {
        name: "guard".into(),
        path: guard_path,
        config: vec![("halt_on".into(), "drop-table".into())],
        ..Default::default()
    };
    // The router maps the table to its own topic: forwarded DDL of the table follows it there.
    let router = sluice_tests::plugins::router(&[("topic_template", "cdc.{database}.{table}")]).await?;
    let config = config_toml(
        &db,
        &broker,
        &checkpoint,
        &start,
        &["shop.*"],
        "unrouted",
        &[router, guard],
    ) + "\n[snapshot]\nmode = \"never\"\n";
    let daemon = RunningDaemon::start(&config, state.path())?;
    db.execute_all(&[
        "INSERT INTO shop.t VALUES (1), (2)",
        "ALTER TABLE shop.t ADD COLUMN c INT",
        "INSERT INTO shop.t VALUES (3, 30)",
    ])
    .await?;
    let before_drop = current_position(&db).await?;
    db.execute_all(&[
        "DROP TABLE shop.t",
        "CREATE TABLE shop.t (id INT PRIMARY KEY)",
        "INSERT INTO shop.t VALUES (4)",
    ])
    .await?;

    let error = daemon
        .wait_for_exit(CONSUME_TIMEOUT)
        .await
        .expect_err("the policy halts the pipeline");
    let message = error.to_string();
    assert!(
        message.contains("halted the pipeline on a DDL statement") && message.contains("DROP TABLE"),
        "{message}"
    );
    let records = read_back(&broker, "cdc.shop.t", 4).await?;
    let lines: Vec<String> = records.iter().map(record_line).collect();
    assert_eq!(
        lines,
        [
            row_line("INSERT", "t", &["id"], None, Some(&[Some("1".into())])),
            row_line("INSERT", "t", &["id"], None, Some(&[Some("2".into())])),
            "DDL AlterTable".to_owned(),
            row_line(
                "INSERT",
                "t",
                &["id", "c"],
                None,
                Some(&[Some("3".into()), Some("30".into())])
            ),
        ],
        "everything before the DROP, the forwarded ALTER on the table's mapped topic, and nothing after it"
    );
    let stored: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&checkpoint)?)?;
    assert_eq!(
        stored["position"].as_str(),
        Some(before_drop.as_str()),
        "the checkpoint stops right before the DROP"
    );

    // A restart meets the same statement and halts again, publishing nothing more.
    let daemon = RunningDaemon::start(&config, state.path())?;
    let again = daemon.wait_for_exit(CONSUME_TIMEOUT).await.expect_err("halts again");
    assert!(again.to_string().contains("DROP TABLE"), "{again}");
    let all = consume_all(&broker.bootstrap_servers(), "cdc.shop.t", CONSUME_TIMEOUT).await?;
    assert_eq!(all.len(), 4, "nothing after the DROP was published, and nothing twice");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_older_than_the_stream_is_named_from_the_catalog_read_at_the_start_position() -> anyhow::Result<()> {
    let (db, broker) = tokio::join!(
        MariaDb::start_with(MariaDbOptions {
            extra_args: vec!["--binlog-row-metadata=MINIMAL".into()],
            ..Default::default()
        }),
        Broker::start()
    );
    let (db, broker) = (db?, broker?);
    db.execute_all(&[
        "CREATE DATABASE shop",
        "CREATE TABLE shop.items (id INT PRIMARY KEY, a VARCHAR(20))",
    ])
    .await?;
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let config = daemon_config(&db, &broker, &checkpoint, &start, "older");
    let daemon = RunningDaemon::start(&config, state.path())?;
    // At start, with nothing logged since `start`, the daemon reads the catalog as the table's shape
    // at `start` into the history.
    let history_path = state.path().join("checkpoint.schema-history.json");
    let deadline = std::time::Instant::now() + CONSUME_TIMEOUT;
    while !std::fs::read_to_string(&history_path).is_ok_and(|text| text.contains("catalog_at_start")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no baseline in the schema history"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Written at once: the daemon may read the first row's TABLE_MAP when the catalog already shows
    // the new column, so only the history can name it right.
    db.execute_all(&[
        "INSERT INTO shop.items VALUES (1, 'a-1')",
        "ALTER TABLE shop.items ADD COLUMN b VARCHAR(20) FIRST",
        "INSERT INTO shop.items VALUES ('b-2', 2, 'a-2')",
    ])
    .await?;
    let expected = [
        row_line(
            "INSERT",
            "items",
            &["id", "a"],
            None,
            Some(&[Some("1".into()), Some("a-1".into())]),
        ),
        "DDL AlterTable".to_owned(),
        row_line(
            "INSERT",
            "items",
            &["b", "id", "a"],
            None,
            Some(&[Some("b-2".into()), Some("2".into()), Some("a-2".into())]),
        ),
    ];
    let records = read_back(&broker, "older", expected.len()).await?;
    daemon.stop().await?;
    assert_eq!(records.iter().map(record_line).collect::<Vec<_>>(), expected);

    std::fs::remove_file(&checkpoint)?;
    let daemon = RunningDaemon::start(
        &daemon_config(&db, &broker, &checkpoint, &start, "older-again"),
        state.path(),
    )?;
    let again = read_back(&broker, "older-again", expected.len()).await?;
    daemon.stop().await?;
    assert_eq!(
        again.iter().map(record_line).collect::<Vec<_>>(),
        expected,
        "replayed from the start"
    );
    Ok(())
}
