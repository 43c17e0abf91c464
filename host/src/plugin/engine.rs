//! The WebAssembly engine, the sandbox, and the bindings of the plugin contract.
//!
//! This is the one module that runs `bindgen!`. Every engine setting lives here:
//! - **async**: plugin calls are async so they never block the runtime's threads;
//! - **CPU budget**: epoch interruption; a ticker advances the epoch every [`EPOCH_TICK`]. At every tick
//!   a running call yields to the tokio executor (so a busy plugin never holds a runtime thread for
//!   longer than a tick), and after [`CALL_BUDGET_TICKS`] ticks in one call it traps;
//! - **memory limit**: a `StoreLimits` caps each instance's linear memory at [`MEMORY_LIMIT_BYTES`];
//! - **no ambient authority**: WASI is linked (a `wasm32-wasip2` guest imports it even when unused)
//!   with a context that grants nothing — no preopened directories, no environment, no network,
//!   no inherited stdio.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::plugin::PluginError;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "row-plugin",
        exports: { default: async },
    });
}

pub use bindings::RowPlugin;
pub use bindings::sluice::plugin::types as wit;

/// How often the epoch advances.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// How many epoch ticks one plugin call may take (about 5 s).
pub const CALL_BUDGET_TICKS: u64 = 500;
/// The most linear memory one plugin instance may use.
pub const MEMORY_LIMIT_BYTES: usize = 256 << 20;

/// What a plugin's store holds: its (empty) WASI context and its limits.
pub struct PluginState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// Epoch ticks the current call has run for.
    ticks_this_call: u64,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The shared engine: compiles components and runs the epoch ticker.
#[derive(Clone)]
pub struct PluginEngine {
    engine: Engine,
    linker: Arc<Linker<PluginState>>,
}

impl PluginEngine {
    /// The process-wide engine (one epoch ticker thread for all plugins).
    pub fn shared() -> Result<Self, PluginError> {
        static SHARED: OnceLock<Result<PluginEngine, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Self::new().map_err(|error| error.to_string()))
            .clone()
            .map_err(PluginError::Engine)
    }

    fn new() -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("sluice-wasm-epoch".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })?;
        Ok(Self {
            engine,
            linker: Arc::new(linker),
        })
    }

    /// Compiles, instantiates and initialises a plugin file.
    pub async fn load(
        &self,
        name: &str,
        path: &Path,
        config: &[(String, String)],
    ) -> Result<LoadedPlugin, PluginError> {
        let bytes = tokio::fs::read(path).await.map_err(|source| PluginError::Read {
            name: name.into(),
            path: path.into(),
            source,
        })?;
        let engine = self.engine.clone();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, &bytes))
            .await
            .map_err(|error| PluginError::Engine(error.to_string()))?
            .map_err(|error| PluginError::NotAComponent {
                name: name.into(),
                path: path.into(),
                detail: format!("{error:#}"),
            })?;
        let mut store = Store::new(
            &self.engine,
            PluginState {
                wasi: sandbox(),
                table: ResourceTable::new(),
                limits: StoreLimitsBuilder::new()
                    .memory_size(MEMORY_LIMIT_BYTES)
                    .instances(64)
                    .build(),
                ticks_this_call: 0,
            },
        );
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut context| {
            let state = context.data_mut();
            state.ticks_this_call += 1;
            if state.ticks_this_call >= CALL_BUDGET_TICKS {
                return Err(wasmtime::Error::msg(format!(
                    "the plugin call ran out of its CPU budget ({} ms)",
                    CALL_BUDGET_TICKS * EPOCH_TICK.as_millis() as u64
                )));
            }
            // tokio's yield_now, not a plain yield: it lets the runtime poll its timers and sockets
            // before the plugin's task runs again, even on a single-threaded runtime.
            Ok(wasmtime::UpdateDeadline::YieldCustom(
                1,
                Box::pin(tokio::task::yield_now()),
            ))
        });
        let instance = RowPlugin::instantiate_async(&mut store, &component, &self.linker)
            .await
            .map_err(|error| PluginError::WrongContract {
                name: name.into(),
                path: path.into(),
                detail: format!("{error:#}"),
            })?;
        let mut plugin = LoadedPlugin {
            name: name.into(),
            store,
            instance,
        };
        plugin.init(config).await?;
        Ok(plugin)
    }
}

/// A WASI context that grants nothing.
fn sandbox() -> WasiCtx {
    WasiCtx::builder()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }))
        .build()
}

/// One instantiated plugin.
pub struct LoadedPlugin {
    pub name: String,
    store: Store<PluginState>,
    instance: RowPlugin,
}

impl LoadedPlugin {
    /// Gives the next call its full CPU budget.
    fn start_call(&mut self) {
        self.store.data_mut().ticks_this_call = 0;
        self.store.set_epoch_deadline(1);
    }

    async fn init(&mut self, config: &[(String, String)]) -> Result<(), PluginError> {
        self.start_call();
        let result = self
            .instance
            .sluice_plugin_row_handler()
            .call_init(&mut self.store, config)
            .await
            .map_err(|error| PluginError::Trapped {
                name: self.name.clone(),
                detail: format!("{error:#}"),
            })?;
        result.map_err(|error| PluginError::InitFailed {
            name: self.name.clone(),
            message: describe(&error),
        })
    }

    /// Asks the plugin for one decision per change of the batch.
    pub async fn handle(&mut self, batch: &wit::ChangeBatch) -> Result<Vec<wit::Decision>, PluginError> {
        self.start_call();
        let result = self
            .instance
            .sluice_plugin_row_handler()
            .call_handle(&mut self.store, batch)
            .await
            .map_err(|error| PluginError::Trapped {
                name: self.name.clone(),
                detail: format!("{error:#}"),
            })?;
        let decisions = result.map_err(|error| PluginError::Failed {
            name: self.name.clone(),
            message: describe(&error),
        })?;
        if decisions.len() != batch.changes.len() {
            return Err(PluginError::WrongDecisionCount {
                name: self.name.clone(),
                expected: batch.changes.len(),
                returned: decisions.len(),
            });
        }
        Ok(decisions)
    }
}

fn describe(error: &wit::PluginError) -> String {
    match error {
        wit::PluginError::InvalidConfig(message) => format!("invalid config: {message}"),
        wit::PluginError::Other(message) => message.clone(),
    }
}
