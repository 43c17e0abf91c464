//! Shared test support: private MariaDB and Kafka-protocol broker servers, the daemon run
//! in-process, and plugin builds.
//!
//! Used by the end-to-end tests in `tests/tests/` and by the quickstart demo.

pub mod daemon;
pub mod harness;
pub mod plugins;
