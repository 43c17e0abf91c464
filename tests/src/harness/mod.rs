//! Real servers for end-to-end tests: a private MariaDB and a private Kafka-protocol broker (tansu).
//!
//! Every [`MariaDb`] and [`Broker`] gets its own temporary directory and free loopback ports, so tests
//! run in parallel without sharing anything. The directory holds the server's data and its logs
//! (`error.log` for MariaDB, `tansu.log` for tansu); startup failures quote the log's last lines.
//! Dropping a server kills its process and removes the directory, also while a failing test unwinds.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use sluice_tests::harness::{Broker, MariaDb, consume};
//! use std::time::Duration;
//!
//! let mariadb = MariaDb::start().await?;
//! let broker = Broker::start().await?;
//! mariadb.execute("CREATE DATABASE shop").await?;
//! broker.create_topic("shop.orders", 3).await?;
//! let messages = consume(&broker.bootstrap_servers(), "shop.orders", 1, Duration::from_secs(10)).await?;
//! # Ok(())
//! # }
//! ```

mod broker;
mod http;
mod kafka;
mod mariadb;
mod process;

pub use broker::{Broker, SaslLogin, tansu_program};
pub use http::{http_get, metric_value};
pub use kafka::{ConsumedMessage, consume, consume_all, end_offsets, list_topics};
pub use mariadb::{MariaDb, MariaDbOptions};
pub use process::free_port;
