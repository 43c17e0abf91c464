//! `route-by-table`: an example sluice row plugin.
//!
//! It drops the changes of tables that match the `drop_tables` patterns and routes every other change
//! to a topic named by `topic_template` (by default `{database}.{table}`). See the README for the
//! config keys.
//!
//! The crate is split the way every sluice plugin should be: [`rules`] holds the logic as plain Rust
//! and is unit-tested natively; `guest` is the thin layer that adapts it to the generated bindings of
//! the `row-plugin` world in `wit/plugin.wit`.

pub mod rules;

// Built on every target, so a native `cargo test` or `cargo clippy` also checks the glue against the
// WIT; only the wasm32-wasip2 build is a component the host can load.
mod guest;
