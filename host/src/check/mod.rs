//! The precheck: every fact about the setup that would stop or spoil streaming, checked before any
//! data moves, each as a PASS, WARN or FAIL line with a one-line fix.
//!
//! `sluice check --config FILE` runs [`run_all`] and prints the [`Report`] ([`render`]); it exits 0
//! only when nothing failed. The three groups are independent and run side by side: `source` (log in,
//! version, binlog settings, retention, `server_id`, privileges, captured tables and their keys),
//! `broker` (a broker answers, the configured topics exist or may be created) and `plugins` (each
//! compiles, satisfies the contract and accepts its config). Within a group a check that others
//! depend on (the login, the broker's answer) marks them SKIP — "not checked: cannot connect" — when
//! it fails; the other groups still run, so one report lists every problem.
//!
//! `sluice run` makes the same checks first, through the same functions: it loads the plugins with
//! the same path (a failure stops it, exit 4), waits for the server as it always did and then runs
//! [`source::check_server`] on its connection (exit 3), and once the broker answers the topic checks
//! ([`broker::topics_through`], exit 5). Each result is logged ([`report::gate`]); a FAIL stops it
//! before streaming, a WARN is logged and it goes on. Two checks are milder at startup, where the
//! situation is normal rather than a mistake ([`Purpose::Startup`]): no table matching yet (tables
//! created later are captured) and a replica registered with sluice's own `server_id` (most likely the
//! daemon's previous run, which the server ends when sluice registers).
//!
//! The check never prints a secret: the password goes only to the driver, and the `SHOW GRANTS` lines
//! (which hold MariaDB's password hash) are parsed ([`grants`]), never shown.

pub mod broker;
pub mod grants;
pub mod plugins;
pub mod render;
pub mod report;
pub mod source;

pub use report::{Area, CheckResult, PrecheckFailed, Report, Status};

use crate::config::Config;

/// Who asks: the `sluice check` command, or `sluice run` before it streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Precheck,
    Startup,
}

/// Runs every check, the three groups at the same time; results in source, broker, plugin order.
pub async fn run_all(config: &Config) -> Report {
    let (source, broker, plugins) = tokio::join!(source::run(config), broker::run(config), plugins::run(config));
    Report {
        results: source.into_iter().chain(broker).chain(plugins).collect(),
    }
}
