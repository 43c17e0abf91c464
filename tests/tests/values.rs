//! Proves that integer, decimal, float, string, binary, temporal, ENUM/SET/BIT and NULL values arrive
//! exactly, in the DTS branch and `dataTypeNumber` of their type, whatever the server's
//! `binlog_row_metadata`: with FULL the names and keys come from the binlog, with MINIMAL and NO_LOG
//! from `information_schema`, and with NO_LOG even signedness and charsets do.

use std::time::Duration;

use sluice_tests::daemon::{
    RunningDaemon, config_toml, current_position, decode_record, reference_schema,
};
use sluice_tests::harness::{Broker, MariaDb, MariaDbOptions, consume};

const CREATE: &str = "CREATE TABLE shop.typed (
    id INT PRIMARY KEY,
    tiny TINYINT, tiny_u TINYINT UNSIGNED, small SMALLINT, medium_u MEDIUMINT UNSIGNED,
    big BIGINT, big_u BIGINT UNSIGNED,
    price DECIMAL(20,4), ratio FLOAT, measure DOUBLE,
    name VARCHAR(20) CHARACTER SET utf8mb4, code CHAR(4) CHARACTER SET latin1, body TEXT CHARACTER SET utf8mb4,
    raw VARBINARY(8), blobby BLOB,
    day DATE, moment DATETIME(6), clock TIME(3), stamp TIMESTAMP(6) NULL, yr YEAR,
    flags BIT(10), size ENUM('s','m','l'), tags SET('a','b','c'),
    nothing INT NULL)";

const INSERT: &str = "INSERT INTO shop.typed VALUES (1,
    -128, 255, -32768, 16777215, -9223372036854775808, 18446744073709551615,
    -12345678.1234, 1.5, 2.25,
    'héllo 🐬', 'ab', 'long text', 'bin', 'blob',
    '2024-02-29', '2024-02-29 13:14:15.123456', '25:30:00.250', '2024-01-01 00:00:00.5', 2155,
    b'1000000001', 'm', 'a,c', NULL)";

/// `(column, dataTypeNumber, rendered value)`; `None` is SQL NULL.
const EXPECTED: &[(&str, i32, Option<&str>)] = &[
    ("id", 3, Some("1")),
    ("tiny", 1, Some("-128")),
    ("tiny_u", 1, Some("255")),
    ("small", 2, Some("-32768")),
    ("medium_u", 9, Some("16777215")),
    ("big", 8, Some("-9223372036854775808")),
    ("big_u", 8, Some("18446744073709551615")),
    ("price", 246, Some("-12345678.1234")),
    ("ratio", 4, Some("1.5")),
    ("measure", 5, Some("2.25")),
    ("name", 15, Some("héllo 🐬")),
    ("code", 254, Some("ab")),
    ("body", 252, Some("long text")),
    ("raw", 15, Some("bin")),
    ("blobby", 252, Some("blob")),
    ("day", 10, Some("2024-02-29")),
    ("moment", 18, Some("2024-02-29 13:14:15.123456")),
    ("clock", 19, Some("25:30:00.250000")),
    ("stamp", 17, Some("1704067200.500000")),
    ("yr", 13, Some("2155")),
    ("flags", 16, Some("513")),
    ("size", 247, Some("m")),
    ("tags", 248, Some("a,c")),
    ("nothing", 3, None),
];

async fn values_arrive_exactly_with(row_metadata: &str) -> anyhow::Result<()> {
    let options = MariaDbOptions {
        extra_args: vec![format!("--binlog-row-metadata={row_metadata}")],
        ..Default::default()
    };
    let (db, broker) = tokio::join!(MariaDb::start_with(options), Broker::start());
    let (db, broker) = (db?, broker?);
    db.execute_all(&["CREATE DATABASE shop", CREATE]).await?;
    let start = current_position(&db).await?;
    let state = tempfile::tempdir()?;
    let config = config_toml(
        &db,
        &broker,
        &state.path().join("checkpoint.json"),
        &start,
        &["shop.*"],
        "typed",
        &[],
    );
    let daemon = RunningDaemon::start(&config, state.path())?;
    db.execute_all(&[
        "SET time_zone = '+00:00'",
        INSERT,
        "DELETE FROM shop.typed WHERE id = 1",
    ])
    .await?;

    let messages = consume(
        &broker.bootstrap_servers(),
        "typed",
        2,
        Duration::from_secs(60),
    )
    .await?;
    assert_eq!(messages.len(), 2, "binlog_row_metadata={row_metadata}");
    let schema = reference_schema()?;
    let insert = decode_record(&schema, &messages[0].payload)?;
    let delete = decode_record(&schema, &messages[1].payload)?;
    assert_eq!(
        (insert.operation.as_str(), delete.operation.as_str()),
        ("INSERT", "DELETE")
    );
    let fields: Vec<(&str, i32)> = insert
        .fields
        .iter()
        .map(|(n, c)| (n.as_str(), *c))
        .collect();
    let expected_fields: Vec<(&str, i32)> = EXPECTED.iter().map(|(n, c, _)| (*n, *c)).collect();
    assert_eq!(
        fields, expected_fields,
        "binlog_row_metadata={row_metadata}"
    );
    let expected_values: Vec<Option<String>> = EXPECTED
        .iter()
        .map(|(_, _, v)| v.map(str::to_owned))
        .collect();
    for (image, name) in [
        (&insert.after, "insert after"),
        (&delete.before, "delete before"),
    ] {
        let values = image
            .as_ref()
            .unwrap_or_else(|| panic!("{name} image missing"));
        for ((column, _, _), (got, want)) in
            EXPECTED.iter().zip(values.iter().zip(&expected_values))
        {
            assert_eq!(
                got, want,
                "column `{column}` of the {name} image, binlog_row_metadata={row_metadata}"
            );
        }
    }
    assert_eq!(
        messages[0].key.as_deref(),
        Some(&b"[1]"[..]),
        "the key comes from the primary key"
    );
    assert!(
        insert
            .tags
            .contains(&("pk_uk_info".into(), r#"{"PRIMARY":["id"]}"#.into()))
    );
    daemon.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_arrive_exactly_with_full_row_metadata() -> anyhow::Result<()> {
    values_arrive_exactly_with("FULL").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_arrive_exactly_with_minimal_row_metadata() -> anyhow::Result<()> {
    values_arrive_exactly_with("MINIMAL").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_arrive_exactly_without_row_metadata() -> anyhow::Result<()> {
    values_arrive_exactly_with("NO_LOG").await
}
