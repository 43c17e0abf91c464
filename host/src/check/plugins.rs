//! Checks of the configured plugins: each file is read, compiled as a component, bound by the roles it
//! exports, instantiated in the daemon's sandbox and initialised with its config — the one loading
//! path of startup and hot reload ([`crate::plugin::chain::load_version`]), so a plugin that passes
//! here loads in `sluice run`.

use crate::check::report::{Area, CheckResult};
use crate::config::{Config, PluginConfig};
use crate::plugin::PluginError;
use crate::plugin::chain::load_version;
use crate::plugin::engine::{CONTRACT, PluginEngine};

const AREA: Area = Area::Plugin;

/// Loads every configured plugin as the daemon would; one line per plugin.
pub async fn run(config: &Config) -> Vec<CheckResult> {
    if config.plugins.is_empty() {
        return vec![CheckResult::pass(AREA, "plugins", "none configured")];
    }
    // The daemon's compiled-code cache, so the run that follows does not compile again; without it if
    // it cannot be created here.
    let engine = match PluginEngine::new(Some(&config.pipeline.plugin_cache_dir)) {
        Ok(engine) => engine,
        Err(_) => match PluginEngine::new(None) {
            Ok(engine) => engine,
            Err(error) => {
                return config
                    .plugins
                    .iter()
                    .map(|plugin| {
                        CheckResult::fail(
                            AREA,
                            check_name(plugin),
                            error.to_string(),
                            "this is a fault of sluice or the machine, not of the plugin",
                        )
                    })
                    .collect();
            }
        },
    };
    let mut results = Vec::with_capacity(config.plugins.len());
    for plugin in &config.plugins {
        results.push(match load_version(&engine, plugin).await {
            Ok(loaded) => {
                let roles: Vec<&str> = [
                    (loaded.code.has_filter(), "filter"),
                    (loaded.code.has_mapping(), "mapping"),
                    (loaded.code.has_ddl_policy(), "ddl-policy"),
                ]
                .into_iter()
                .filter_map(|(has, role)| has.then_some(role))
                .collect();
                CheckResult::pass(
                    AREA,
                    check_name(plugin),
                    format!(
                        "`{}` (version {}) implements {CONTRACT} as {}; init accepted its config",
                        plugin.path.display(),
                        loaded.code.version(),
                        roles.join(", ")
                    ),
                )
            }
            Err(error) => failure(plugin, &error),
        });
    }
    results
}

fn check_name(plugin: &PluginConfig) -> String {
    format!("plugin `{}`", plugin.name)
}

/// The FAIL line of a plugin that did not load, with what to do about it.
pub fn failure(plugin: &PluginConfig, error: &PluginError) -> CheckResult {
    let fix = match error {
        PluginError::Read { .. } => "check the plugin's `path` (relative paths start at the config file's directory)".to_owned(),
        PluginError::NotAComponent { .. } => {
            "build the plugin as a WebAssembly component, e.g. `cargo build --target wasm32-wasip2` (see plugins/README.md)"
                .to_owned()
        }
        PluginError::WrongContract { .. } => format!(
            "build the plugin against the WIT package {CONTRACT} in wit/plugin.wit, exporting at least one role"
        ),
        PluginError::InitFailed { .. } => format!("correct the plugin's [plugins.config] for `{}`", plugin.name),
        PluginError::Trapped { .. } => {
            "the plugin trapped while starting: raise its memory_limit_mib or cpu_budget_ms, or fix its init".to_owned()
        }
        _ => "see the plugin's documentation".to_owned(),
    };
    CheckResult::fail(AREA, check_name(plugin), error.to_string(), fix)
}
