//! User plugins: WebAssembly components that filter and route row changes.
//!
//! `engine` owns the wasmtime setup, the sandbox and the generated bindings of the contract in
//! `wit/`; `chain` runs the configured plugins over a batch of changes, in order.

pub mod chain;
pub mod engine;

use std::path::PathBuf;

/// Why a plugin could not be loaded or failed while running.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("plugin `{name}`: cannot read `{path}`: {source}")]
    Read {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin `{name}`: `{path}` is not a valid WebAssembly component: {detail}")]
    NotAComponent {
        name: String,
        path: PathBuf,
        detail: String,
    },
    #[error(
        "plugin `{name}`: `{path}` does not implement the sluice plugin contract (world `row-plugin` of \
         sluice:plugin@0.1.0): {detail}"
    )]
    WrongContract {
        name: String,
        path: PathBuf,
        detail: String,
    },
    #[error("plugin `{name}` refused its configuration: {message}")]
    InitFailed { name: String, message: String },
    #[error("plugin `{name}` trapped: {detail}")]
    Trapped { name: String, detail: String },
    #[error("plugin `{name}` failed: {message}")]
    Failed { name: String, message: String },
    #[error("plugin `{name}` broke the contract: it returned {returned} decisions for {expected} changes")]
    WrongDecisionCount {
        name: String,
        expected: usize,
        returned: usize,
    },
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}
