//! Plugin builds: the guest plugins the end-to-end tests load are built from source, never committed
//! as `.wasm`.
//!
//! [`build_plugin`] builds a package of the plugins workspace (`plugins/Cargo.toml`, separate from the
//! daemon's) for `wasm32-wasip2`, where a `cdylib` is directly a WebAssembly component.

use std::path::PathBuf;

use crate::cargo::{build_artifact, repository_root};

/// The target whose `cdylib` output is a component.
const PLUGIN_TARGET: &str = "wasm32-wasip2";

/// Builds the plugin package `package` for wasm32-wasip2 (release) from source and returns the path
/// of its component file.
pub fn build_plugin(package: &str) -> anyhow::Result<PathBuf> {
    let manifest = repository_root().join("plugins").join("Cargo.toml");
    let manifest = manifest.to_string_lossy();
    // Cargo names a library target after its package, with `-` turned into `_`.
    let target_name = package.replace('-', "_");
    build_artifact(
        &[
            "--release",
            "--target",
            PLUGIN_TARGET,
            "-p",
            package,
            "--manifest-path",
            &manifest,
        ],
        &target_name,
        |file| file.ends_with(".wasm"),
    )
}

/// The example `route-by-table` plugin, built from source, as a config entry named `router` with the
/// given plugin config.
pub async fn router(config: &[(&str, &str)]) -> anyhow::Result<crate::daemon::PluginEntry> {
    let path = tokio::task::spawn_blocking(|| build_plugin("route-by-table")).await??;
    let config = config
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    Ok(crate::daemon::PluginEntry {
        name: "router".into(),
        path,
        config,
    })
}
