//! Write a sluice plugin in Rust as plain functions over plain types.
//!
//! A sluice plugin is a WebAssembly component of the `full-plugin` world of `sluice:plugin@0.4.0`
//! (`wit/plugin.wit`). This crate owns the `wit_bindgen::generate!` of that world, so a plugin crate
//! does not deal with the generated glue at all. An author:
//!
//! 1. implements [`Plugin`] for a type: [`Plugin::init`] validates the config once and builds the
//!    plugin's state, [`Plugin::interest`] says which tables, operations and column values it wants,
//!    and it overrides the role methods it needs ([`Plugin::filter`], [`Plugin::map_table`],
//!    [`Plugin::map_row`], [`Plugin::decide_ddl`]); the others keep what the host or an earlier plugin
//!    chose;
//! 2. writes `sluice_guest::export_plugin!(MyPlugin);` once;
//! 3. unit-tests the methods natively with `cargo test`, building inputs with the constructors in
//!    [`types`] (`Table::new`, `RowChange::update`, ...) and whole batches with [`run`].
//!
//! The role methods see one change, or one table, at a time: the glue in [`run`] remembers the table
//! shapes the host shows the instance (once each), walks each batch the host hands over, resolves
//! every change's table by id, and collects the answers. Values are read by column name through
//! [`Change::after_value`] and friends, which look the name up among the few columns the plugin asked
//! for in its [`Interest`] and decode the value then, as a borrowed [`Value`]: a plugin pays only for
//! the values it reads. What a plugin needs to know of a table (where a column is, which edits mask
//! it, ...) it can work out once per table shape and keep in a [`Plans`], rather than per change.
//!
//! ```
//! use sluice_guest::{Change, Config, Interest, Plugin, PluginError, Verdict};
//!
//! struct DropDeletes;
//!
//! impl Plugin for DropDeletes {
//!     fn init(config: &Config) -> Result<Self, PluginError> {
//!         config.check_keys(&[])?;
//!         Ok(DropDeletes)
//!     }
//!
//!     fn interest(&self) -> Interest {
//!         Interest::everything().with_operations([sluice_guest::Operation::Delete])
//!     }
//!
//!     fn filter(&self, _change: &Change<'_>) -> Result<Verdict, PluginError> {
//!         Ok(Verdict::Drop)
//!     }
//! }
//!
//! sluice_guest::export_plugin!(DropDeletes);
//! ```

// The generated code names this crate by its absolute path (`::sluice_guest::...`), so that the export
// macro works from a plugin's crate; this makes the same path resolve inside this crate too.
extern crate self as sluice_guest;

pub mod bindings;
mod change;
mod config;
pub mod log;
mod plans;
mod plugin;
mod rows;
pub mod run;
pub mod types;
mod values;

pub use change::{Change, Image};
pub use config::Config;
pub use plans::{Plans, Shape};
pub use plugin::{Adapter, Plugin};
pub use rows::RowChange;
pub use types::{
    ChangeBatch, Column, ColumnEdit, ColumnValue, Date, Datetime, DdlDecision, DdlEvent, DdlKind, Interest,
    MaskedColumn, ObjectName, Operation, PluginError, RowMapping, Table, TableMapping, TableRef, Time, Verdict,
};
pub use values::Value;

/// What the generated code and [`export_plugin!`] refer to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}

/// Exports `$plugin` (a type implementing [`Plugin`]) as the component's `full-plugin` world.
///
/// Write it once, at the top level of the plugin's crate. On `wasm32` it emits the component exports;
/// natively it only checks that the type implements [`Plugin`], since the component export names are
/// not valid native symbols.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            // Natively: a compile-time check that the type is a plugin.
            let _ = $crate::run::assert_plugin::<$plugin>;
        };
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type SluiceGuestAdapter = $crate::Adapter<$plugin>;
    $crate::bindings::export_full_plugin!(SluiceGuestAdapter with_types_in $crate::bindings);
        };
    };
}
