//! `route-by-table`: an example sluice plugin.
//!
//! It drops the changes of tables that match the `drop_tables` patterns (its filter role) and routes
//! every other table to a topic named by `topic_template`, by default `{database}.{table}` (its
//! mapping role). See the README for the config keys.
//!
//! The crate is split the way every sluice plugin should be: [`rules`] holds the logic as plain Rust
//! over plain strings; [`plugin`] adapts it to the `sluice_guest::Plugin` trait, whose role methods
//! see one change or one table at a time. Both are unit-tested natively.

pub mod plugin;
pub mod rules;

sluice_guest::export_plugin!(plugin::RouteByTable);
