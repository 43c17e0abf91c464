//! Proves that integer, decimal, float, string, binary, temporal, ENUM/SET/BIT and NULL values arrive
//! exactly, in the DTS branch and `dataTypeNumber` of their type, both when read by the snapshot and
//! when read from the binlog, whatever the server's `binlog_row_metadata`: with FULL the names and keys
//! come from the binlog, with MINIMAL and NO_LOG from `information_schema`, and with NO_LOG even
//! signedness and charsets do.

use std::time::Duration;

use sluice_tests::daemon::{RunningDaemon, config_toml, current_position, decode_record, reference_schema};
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

const INSERT: &str = "INSERT INTO shop.typed VALUES (ID,
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
    // Row 1 exists before the daemon starts: the snapshot reads it.
    let insert_one = INSERT.replace("ID", "1");
    db.execute_all(&["CREATE DATABASE shop", CREATE, "SET time_zone = '+00:00'", &insert_one])
        .await?;
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
    let bootstrap = broker.bootstrap_servers();
    assert_eq!(
        consume(&bootstrap, "typed", 1, Duration::from_secs(60)).await?.len(),
        1,
        "the snapshot row"
    );
    // Row 2 is written while streaming: the binlog carries it.
    let insert_two = INSERT.replace("ID", "2");
    db.execute_all(&[
        "SET time_zone = '+00:00'",
        &insert_two,
        "DELETE FROM shop.typed WHERE id = 2",
    ])
    .await?;

    let messages = consume(&bootstrap, "typed", 3, Duration::from_secs(60)).await?;
    assert_eq!(messages.len(), 3, "binlog_row_metadata={row_metadata}");
    let schema = reference_schema()?;
    let records: Vec<_> = messages
        .iter()
        .map(|m| decode_record(&schema, &m.payload))
        .collect::<Result<_, _>>()?;
    let operations: Vec<&str> = records.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(operations, ["INSERT", "INSERT", "DELETE"]);
    assert!(
        records[0].tags.contains(&("snapshot".into(), "true".into())),
        "the first row comes from the snapshot"
    );
    assert!(
        !records[1].tags.iter().any(|(k, _)| k == "snapshot"),
        "the second comes from the binlog"
    );
    let expected_fields: Vec<(&str, i32)> = EXPECTED.iter().map(|(n, c, _)| (*n, *c)).collect();
    let images = [
        (&records[0].after, "snapshot insert", "1"),
        (&records[1].after, "binlog insert", "2"),
        (&records[2].before, "binlog delete", "2"),
    ];
    for (record, (image, name, id)) in records.iter().zip(images) {
        let fields: Vec<(&str, i32)> = record.fields.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        assert_eq!(fields, expected_fields, "{name}, binlog_row_metadata={row_metadata}");
        let values = image.as_ref().unwrap_or_else(|| panic!("{name} image missing"));
        for ((column, _, want), got) in EXPECTED.iter().zip(values) {
            let want = if *column == "id" { Some(id) } else { *want };
            assert_eq!(
                got.as_deref(),
                want,
                "column `{column}` of the {name} image, binlog_row_metadata={row_metadata}"
            );
        }
        assert!(
            record
                .tags
                .contains(&("pk_uk_info".into(), r#"{"PRIMARY":["id"]}"#.into()))
        );
    }
    let keys: Vec<Option<&[u8]>> = messages.iter().map(|m| m.key.as_deref()).collect();
    assert_eq!(
        keys,
        [Some(&b"[1]"[..]), Some(&b"[2]"[..]), Some(&b"[2]"[..])],
        "keys come from the primary key"
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
