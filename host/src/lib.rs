//! sluice: MySQL and MariaDB change data capture into Kafka, reshaped by WebAssembly plugins.
//!
//! Data flows one way: [`source`] → [`plugin`] → [`encode`] → [`sink`] → [`checkpoint`], wired by
//! [`pipeline`]. `ARCHITECTURE.md` at the repository root is the guided tour.

pub mod change;
pub mod check;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod encode;
pub mod metrics;
pub mod outage;
pub mod pipeline;
pub mod plugin;
pub mod reload_config;
pub mod security;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod start;
pub mod status;

pub use config::Config;
pub use pipeline::{RunError, run};
pub use shutdown::{Shutdown, ShutdownTrigger};
