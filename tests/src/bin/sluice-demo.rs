//! The quickstart: a private MariaDB and broker, the example plugin, the daemon, sample writes, and
//! the DTS Avro records a consumer would read, printed for a person.

use std::time::Duration;

use anyhow::Context;
use sluice_tests::daemon::{RunningDaemon, config_toml, current_position, decode_record};
use sluice_tests::harness::{Broker, MariaDb, consume};
use sluice_tests::plugins::router;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("SLUICE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();

    step("starting a private MariaDB (ROW binlog) and a tansu Kafka-protocol broker");
    let (db, broker) = tokio::join!(MariaDb::start(), Broker::start());
    let (db, broker) = (db?, broker?);
    println!(
        "    MariaDB on 127.0.0.1:{}, broker on {}",
        db.port(),
        broker.bootstrap_servers()
    );

    step("creating the demo schema");
    db.execute_all(&[
        "CREATE DATABASE demo",
        "CREATE TABLE demo.customers (id INT PRIMARY KEY, name VARCHAR(60), email VARCHAR(80))",
        "CREATE TABLE demo.orders (id BIGINT UNSIGNED PRIMARY KEY, customer_id INT, total DECIMAL(10,2), \
         status ENUM('new','paid','shipped'), placed_at DATETIME(3))",
        "CREATE TABLE demo.audit_log (id INT AUTO_INCREMENT PRIMARY KEY, message TEXT)",
        "CREATE TABLE demo.products (sku INT PRIMARY KEY, title VARCHAR(80), price DECIMAL(8,2))",
        "SET SESSION max_recursive_iterations = 1000000",
        "INSERT INTO demo.products WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000) \
         SELECT i, CONCAT('product ', i), 1 + (i % 500) / 4 FROM n",
    ])
    .await?;
    println!("    demo.products holds 50000 rows before the daemon starts: the snapshot publishes them");
    let start = current_position(&db).await?;

    step("building the example plugin plugins/route-by-table for wasm32-wasip2");
    let plugin = router(&[
        ("drop_tables", "demo.audit_*"),
        ("topic_template", "{database}.{table}"),
    ])
    .await?;
    println!("    {}", plugin.path.display());

    let state = tempfile::tempdir()?;
    let checkpoint = state.path().join("checkpoint.json");
    let config = config_toml(
        &db,
        &broker,
        &checkpoint,
        &start,
        &["demo.*"],
        "demo.unrouted",
        &[plugin],
    );
    step("the daemon's config");
    for line in config.lines() {
        // The demo's throwaway password still is a password: never print one.
        let shown = if line.starts_with("password =") {
            "password = \"********\""
        } else {
            line
        };
        println!("    {shown}");
    }
    let daemon = RunningDaemon::start(&config, state.path())?;

    step("writing sample changes: 2 customers, 3 orders, an update, a delete, and audit rows the plugin drops");
    db.execute_all(&[
        "BEGIN",
        "INSERT INTO demo.customers VALUES (1, 'Ada Lovelace', 'ada@example.com'), (2, 'Alan Turing', 'alan@example.com')",
        "INSERT INTO demo.audit_log (message) VALUES ('customers created')",
        "COMMIT",
        "BEGIN",
        "INSERT INTO demo.orders VALUES (1001, 1, 19.99, 'new', NOW(3)), (1002, 2, 5.00, 'new', NOW(3)), (1003, 1, 120.50, 'new', NOW(3))",
        "INSERT INTO demo.audit_log (message) VALUES ('orders placed')",
        "COMMIT",
        "UPDATE demo.orders SET status = 'paid' WHERE id = 1001",
        "DELETE FROM demo.orders WHERE id = 1002",
        "UPDATE demo.customers SET email = 'ada@lovelace.example' WHERE id = 1",
    ])
    .await?;

    let schema = sluice::encode::dts_avro::record_schema();
    for (topic, expected) in [("demo.products", 50_000), ("demo.customers", 3), ("demo.orders", 5)] {
        let messages = consume(&broker.bootstrap_servers(), topic, expected, Duration::from_secs(120)).await?;
        step(&format!("topic {topic}: {} records", messages.len()));
        const SHOWN: usize = 3;
        for message in messages.iter().take(SHOWN) {
            let record = decode_record(schema, &message.payload).context("decoding a DTS record")?;
            let key = message.key.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
            println!(
                "  #{} {} {} key={} position={} txid={}",
                record.id,
                record.operation,
                record.object_name.as_deref().unwrap_or("-"),
                key,
                record.source_position,
                record.source_txid
            );
            let names: Vec<&str> = record.fields.iter().map(|(name, _)| name.as_str()).collect();
            for (label, image) in [("before", &record.before), ("after ", &record.after)] {
                if let Some(values) = image {
                    let pairs: Vec<String> = names
                        .iter()
                        .zip(values)
                        .map(|(name, value)| format!("{name}={}", value.as_deref().unwrap_or("NULL")))
                        .collect();
                    println!("      {label} {}", pairs.join(" "));
                }
            }
            if !record.tags.is_empty() {
                let tags: Vec<String> = record.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                println!("      tags   {}", tags.join(" "));
            }
        }
        if messages.len() > SHOWN {
            println!("  ... and {} more", messages.len() - SHOWN);
        }
    }
    let audit = consume(
        &broker.bootstrap_servers(),
        "demo.audit_log",
        usize::MAX,
        Duration::from_secs(2),
    )
    .await?;
    step(&format!(
        "topic demo.audit_log: {} records (dropped by the plugin)",
        audit.len()
    ));

    daemon.stop().await?;
    step("stopped the daemon; its checkpoint");
    println!("{}", std::fs::read_to_string(&checkpoint)?);
    Ok(())
}

fn step(text: &str) {
    println!("\n==> {text}");
}
