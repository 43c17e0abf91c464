//! Plugin builds: the guest plugins the end-to-end tests load are built from source, never committed
//! as `.wasm`.
//!
//! [`build_plugin`] builds a package of the plugins workspace (`plugins/Cargo.toml`, separate from the
//! daemon's) for `wasm32-wasip2`, where a `cdylib` is directly a WebAssembly component.
//! [`build_python_plugin`] and [`build_js_plugin`] build `plugins/reference-python` and
//! `plugins/reference-js` with the commands `scripts/build-plugins.sh` runs, using the toolchains
//! `scripts/install.sh` puts under `$SLUICE_CACHE`; their output is kept by a hash of its inputs, so an
//! unchanged plugin is built once per machine rather than once per test run.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context as _, bail};

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
        ..Default::default()
    })
}

/// The Python plugin directory `plugins/<directory>` (its module is `app.py`, its batch glue
/// `sluice_plugin.py`), built with componentize-py
/// into a `full-plugin` component; returns the component's path.
pub fn build_python_plugin(directory: &str) -> anyhow::Result<PathBuf> {
    let source = repository_root().join("plugins").join(directory);
    let componentize_py = toolchain_dir("SLUICE_PYTHON_VENV", "venv")
        .join("bin")
        .join("componentize-py");
    let pinning = source.join("requirements.txt");
    let inputs = [source.join("app.py"), source.join("sluice_plugin.py"), pinning];
    build_cached(directory, &inputs, |output| {
        let mut command = Command::new(&componentize_py);
        command
            .arg("--wit-path")
            .arg(repository_root().join("wit"))
            .args(["--world", "full-plugin", "componentize", "app", "--python-path"])
            .arg(&source)
            .arg("--output")
            .arg(output);
        command
    })
}

/// The JavaScript plugin directory `plugins/<directory>` (its module is `plugin.js`, its batch glue
/// `sluice_plugin.js`), built with
/// ComponentizeJS by its `build.mjs` into a `full-plugin` component; returns the component's path.
pub fn build_js_plugin(directory: &str) -> anyhow::Result<PathBuf> {
    let source = repository_root().join("plugins").join(directory);
    let componentize_js = toolchain_dir("SLUICE_NODE_DIR", "node")
        .join("node_modules/@bytecodealliance/componentize-js/src/componentize.js");
    let inputs = [
        source.join("plugin.js"),
        source.join("sluice_plugin.js"),
        source.join("build.mjs"),
        source.join("package-lock.json"),
    ];
    build_cached(directory, &inputs, |output| {
        let mut command = Command::new("node");
        command
            .arg(source.join("build.mjs"))
            .arg(output)
            .env("SLUICE_COMPONENTIZE_JS", &componentize_js);
        command
    })
}

/// Where `scripts/install.sh` put a toolchain: `$variable` (set by `scripts/env.sh`), else its default
/// under `$SLUICE_CACHE`.
fn toolchain_dir(variable: &str, default_name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(variable) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("SLUICE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache/sluice"));
    cache.join(default_name)
}

/// Serialises the non-Rust plugin builds of this process: each takes both cores for 15-25 s.
static COMPONENTIZE: Mutex<()> = Mutex::new(());

/// Returns `<target dir>/plugins-componentized/<name>-<hash>.wasm`, where the hash covers `inputs`
/// and the WIT package; builds it with the command `command(output)` returns when it is missing.
fn build_cached(name: &str, inputs: &[PathBuf], command: impl FnOnce(&Path) -> Command) -> anyhow::Result<PathBuf> {
    let mut hasher = DefaultHasher::new();
    for input in inputs.iter().chain([&repository_root().join("wit/plugin.wit")]) {
        let content = std::fs::read(input).with_context(|| format!("reading {}", input.display()))?;
        input.file_name().hash(&mut hasher);
        content.hash(&mut hasher);
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repository_root().join("target"));
    let dir = target_dir.join("plugins-componentized");
    let output = dir.join(format!("{name}-{:016x}.wasm", hasher.finish()));
    let _serialised = COMPONENTIZE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if output.is_file() {
        return Ok(output);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Build next to the final name and rename, so an interrupted build never leaves a file that looks
    // finished.
    let partial = dir.join(format!("{name}.{}.partial.wasm", std::process::id()));
    let mut command = command(&partial);
    let result = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {command:?}; are the plugin toolchains installed (scripts/install.sh)?"))?;
    if !result.status.success() || !partial.is_file() {
        bail!(
            "{command:?} failed ({}):\n{}{}",
            result.status,
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    }
    std::fs::rename(&partial, &output).with_context(|| format!("moving the component to {}", output.display()))?;
    Ok(output)
}
