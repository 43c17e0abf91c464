//! Shared test support: private MariaDB and Kafka-protocol broker servers, the daemon run
//! in-process, and builds of plugins and the daemon binary.
//!
//! Used by the end-to-end tests in `tests/tests/` and by the quickstart demo.

pub mod bench;
pub mod cargo;
pub mod daemon;
pub mod harness;
pub mod plugins;
pub mod replay;
