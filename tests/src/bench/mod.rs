//! Support for the benchmark suite (`tests/src/bin/sluice-bench.rs`, run with `scripts/bench.sh`).
//!
//! - [`usage`]: CPU time and peak resident memory of a child process alone, from `wait4`;
//! - [`workload`]: the 9-column orders table, its bulk load for snapshots and the mixed
//!   insert/update/delete backlog for binlog drains;
//! - [`pipeline_only`]: the daemon's stages (source, plugin chain, DTS Avro, message key) with the output
//!   discarded instead of sent to Kafka, run in a child process of the benchmark;
//! - [`limits`]: what the machine does without sluice: `mariadb-binlog` decoding the same binlog, a
//!   plain rdkafka producer sending the same bytes;
//! - [`latency`]: a paced single-row writer and a consumer timing each row from commit to receipt.

pub mod latency;
pub mod limits;
pub mod pipeline_only;
pub mod usage;
pub mod workload;
