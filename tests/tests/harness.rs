//! Proves the harness starts real servers: a MariaDB with the binary log sluice needs (or the one a test
//! asked for), and a tansu broker that keeps acknowledged messages across a restart.

use std::time::Duration;

use mysql_async::prelude::Queryable as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice_tests::harness::{Broker, MariaDb, MariaDbOptions, consume, list_topics};

const CONSUME_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn mariadb_starts_with_row_binlog_and_a_replication_user() -> anyhow::Result<()> {
    let mariadb = MariaDb::start().await?;

    let mut admin = mariadb.admin_conn().await?;
    let (format, log_bin, row_image, row_metadata, server_id): (String, u8, String, String, u32) = admin
        .query_first("SELECT @@binlog_format, @@log_bin, @@binlog_row_image, @@binlog_row_metadata, @@server_id")
        .await?
        .expect("one row");
    assert_eq!(format, "ROW");
    assert_eq!(log_bin, 1);
    assert_eq!(row_image, "FULL");
    assert_eq!(row_metadata, "FULL");
    assert_eq!(server_id, 1);
    admin.disconnect().await?;

    let (user, password) = mariadb.replication_user();
    let options = mysql_async::OptsBuilder::default()
        .ip_or_hostname(mariadb.host())
        .tcp_port(mariadb.port())
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false);
    let mut replication = mysql_async::Conn::new(options).await?;
    let status: Vec<mysql_async::Row> = replication.query("SHOW MASTER STATUS").await?;
    assert_eq!(status.len(), 1, "the replication user can read the binlog position");
    replication.disconnect().await?;

    let mut by_url = mysql_async::Conn::from_url(mariadb.replication_url()).await?;
    by_url.ping().await?;
    by_url.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn mariadb_runs_statements_in_order_in_one_session() -> anyhow::Result<()> {
    let mariadb = MariaDb::start().await?;
    mariadb
        .execute("CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, note TEXT)")
        .await?;
    mariadb
        .execute_all(&[
            "USE shop",
            "SET @note = 'first'",
            "INSERT INTO orders VALUES (1, @note)",
        ])
        .await?;
    assert!(
        mariadb
            .execute("INSERT INTO shop.orders VALUES (1, 'again')")
            .await
            .is_err()
    );
    assert!(
        mariadb.execute("SELECT 1; SELECT * FROM shop.missing").await.is_err(),
        "a failing later statement fails the call"
    );

    let mut admin = mysql_async::Conn::from_url(mariadb.admin_url()).await?;
    let note: Option<String> = admin.query_first("SELECT note FROM shop.orders WHERE id = 1").await?;
    assert_eq!(note.as_deref(), Some("first"));
    admin.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn mariadb_is_killed_and_removed_when_a_test_panics() -> anyhow::Result<()> {
    let (started, server) = tokio::sync::oneshot::channel();
    let failing_test = tokio::spawn(async move {
        let mariadb = MariaDb::start().await.expect("mariadb starts");
        started
            .send((mariadb.port(), mariadb.directory().to_owned()))
            .expect("receiver waits");
        panic!("a failing assertion");
    });
    let (port, directory) = server.await?;
    assert!(failing_test.await.is_err_and(|error| error.is_panic()));

    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err(),
        "server is gone"
    );
    assert!(!directory.exists(), "{} is removed", directory.display());
    Ok(())
}

#[tokio::test]
async fn mariadb_takes_extra_server_arguments() -> anyhow::Result<()> {
    let mariadb = MariaDb::start_with(MariaDbOptions {
        server_id: 7,
        extra_args: vec!["--binlog-format=STATEMENT".to_owned()],
    })
    .await?;

    let mut admin = mariadb.admin_conn().await?;
    let (format, server_id): (String, u32) = admin
        .query_first("SELECT @@binlog_format, @@server_id")
        .await?
        .expect("one row");
    assert_eq!(format, "STATEMENT");
    assert_eq!(server_id, 7);
    admin.disconnect().await?;
    Ok(())
}

#[tokio::test]
async fn broker_keeps_an_idempotently_produced_message_across_a_restart() -> anyhow::Result<()> {
    let mut broker = Broker::start().await?;
    broker.create_topic("harness.orders", 2).await?;
    broker.create_topic("harness.orders", 2).await?; // creating it again is not an error
    assert!(
        list_topics(&broker.bootstrap_servers())
            .await?
            .contains(&"harness.orders".to_owned())
    );

    produce(&broker, b"order-1", b"first").await?;
    let before = consume(&broker.bootstrap_servers(), "harness.orders", 1, CONSUME_TIMEOUT).await?;
    assert_eq!(before.len(), 1, "{}", broker.log_tail());
    assert_eq!(before[0].key.as_deref(), Some(&b"order-1"[..]));
    assert_eq!(before[0].payload, b"first");
    assert_eq!(before[0].header("origin"), Some(&b"harness"[..]));

    broker.restart().await?;
    let after = consume(&broker.bootstrap_servers(), "harness.orders", 1, CONSUME_TIMEOUT).await?;
    assert_eq!(after, before, "the message survives the restart");

    produce(&broker, b"order-1", b"second").await?;
    let both = consume(&broker.bootstrap_servers(), "harness.orders", 2, CONSUME_TIMEOUT).await?;
    let payloads: Vec<&[u8]> = both.iter().map(|message| message.payload.as_slice()).collect();
    assert_eq!(
        payloads,
        [&b"first"[..], &b"second"[..]],
        "same key, same partition, in order"
    );
    assert_eq!(both[1].offset, both[0].offset + 1);
    Ok(())
}

#[tokio::test]
async fn consume_waits_for_a_topic_that_does_not_exist_yet() -> anyhow::Result<()> {
    let broker = Broker::start().await?;
    let bootstrap = broker.bootstrap_servers();
    let reader = tokio::spawn(async move { consume(&bootstrap, "harness.late", 1, CONSUME_TIMEOUT).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.create_topic("harness.late", 1).await?;
    produce_to(&broker, "harness.late", b"key", b"late").await?;
    let messages = reader.await??;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].payload, b"late");

    let none = consume(&broker.bootstrap_servers(), "harness.never", 1, Duration::from_secs(2)).await?;
    assert!(none.is_empty());
    Ok(())
}

async fn produce(broker: &Broker, key: &[u8], payload: &[u8]) -> anyhow::Result<()> {
    produce_to(broker, "harness.orders", key, payload).await
}

/// Produces one message with an idempotent, all-acknowledging producer, as sluice's sink does.
async fn produce_to(broker: &Broker, topic: &str, key: &[u8], payload: &[u8]) -> anyhow::Result<()> {
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()?;
    let headers = OwnedHeaders::new().insert(Header {
        key: "origin",
        value: Some("harness"),
    });
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload).headers(headers),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(error, _)| anyhow::anyhow!("producing to {topic}: {error}; {}", broker.log_tail()))?;
    Ok(())
}
