//! User plugins: WebAssembly components that filter, map and judge DDL.
//!
//! - `engine` owns wasmtime, the sandbox and the generated bindings of the contract in `wit/`;
//! - `interest` is what a plugin asked to be shown;
//! - `lower` turns sluice's tables and values into the contract's types;
//! - `flat` is the flat layout in which a batch's row values cross the boundary;
//! - `chain` runs the configured plugins over a batch, in order, under their failure policies;
//! - `reload` watches plugin files and prepares new versions off the hot path;
//! - `recorded` is the JSON-lines change format of `sluice plugin test`.

pub mod chain;
pub mod engine;
pub mod flat;
pub mod interest;
pub mod lower;
pub mod recorded;
pub mod reload;
pub mod testing;

use std::path::PathBuf;
use std::time::Duration;

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
        "plugin `{name}`: `{path}` does not implement the sluice plugin contract ({contract}: a world such as \
         `filter-plugin`, `mapping-plugin`, `ddl-policy-plugin` or `full-plugin`): {detail}",
        contract = engine::CONTRACT
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
    #[error("plugin `{name}` broke the contract: it returned {returned} answers for {expected} changes")]
    WrongDecisionCount {
        name: String,
        expected: usize,
        returned: usize,
    },
    #[error("plugin `{name}` broke the contract: {detail}")]
    BadAnswer { name: String, detail: String },
    #[error("plugin `{name}` halted the pipeline on a DDL statement: {message}")]
    Halted { name: String, message: String },
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}

impl PluginError {
    /// Whether the failure is the plugin's behaviour on some input (a trap, an error result, a broken
    /// answer), to which the failure policy applies, rather than a load or engine failure.
    pub fn is_call_failure(&self) -> bool {
        matches!(
            self,
            PluginError::Trapped { .. }
                | PluginError::Failed { .. }
                | PluginError::WrongDecisionCount { .. }
                | PluginError::BadAnswer { .. }
        )
    }
}

/// What one plugin instance may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLimits {
    /// CPU time one call may take before it traps.
    pub cpu_budget: Duration,
    /// Linear memory one instance may grow to.
    pub memory_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            cpu_budget: Duration::from_millis(1000),
            memory_bytes: 256 << 20,
        }
    }
}

/// What happens to the changes a plugin call failed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Stop the pipeline without advancing the position: nothing is lost.
    Halt,
    /// Log and count the change, and publish nothing for it.
    Skip,
    /// Publish the change untouched to this topic, with the error in a header.
    DeadLetter { topic: String },
}
