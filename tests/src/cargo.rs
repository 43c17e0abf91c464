//! Building the artifacts tests run — guest plugins and the `sluice` binary — from source with the
//! cargo that runs the tests, and finding them through cargo's JSON messages.
//!
//! Builds are serialised within the test process and each artifact is built at most once per process:
//! cargo's own locking would also serialise parallel tests, but one build followed by cheap lookups
//! keeps their output and timing readable. Like any cargo run, the build honours `CARGO_TARGET_DIR`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context as _, bail};

/// How many lines of cargo's stderr a build failure quotes.
const STDERR_TAIL_LINES: usize = 40;

/// What this process has built, by a description of the build. The lock is held for the whole build.
static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

/// The repository root.
pub fn repository_root() -> PathBuf {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    tests_dir.parent().unwrap_or(tests_dir).to_path_buf()
}

/// Runs `cargo build <args> --message-format=json-render-diagnostics` once per process and returns the
/// file of target `target_name` that `is_wanted` picks among the files cargo reports for it.
pub fn build_artifact(args: &[&str], target_name: &str, is_wanted: fn(&str) -> bool) -> anyhow::Result<PathBuf> {
    let description = format!("{args:?} {target_name}");
    let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(path) = built.get(&description).filter(|path| path.is_file()) {
        return Ok(path.clone());
    }
    // Inside `cargo test`, `CARGO` names the cargo that runs the tests: build with the same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .arg("build")
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(repository_root())
        .stdin(Stdio::null());
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}); cargo's stderr, last lines:\n{}",
            output.status,
            tail(&stderr)
        );
    }
    let Some(path) = find_artifact(&stdout, target_name, is_wanted) else {
        bail!(
            "{command:?} reported no artifact of target `{target_name}`; cargo's stderr:\n{}",
            tail(&stderr)
        );
    };
    if !path.is_file() {
        bail!("cargo reported `{}`, but there is no file there", path.display());
    }
    built.insert(description, path.clone());
    Ok(path)
}

/// The wanted file among the `compiler-artifact` messages (one JSON object per line) of a target.
fn find_artifact(cargo_json: &str, target_name: &str, is_wanted: fn(&str) -> bool) -> Option<PathBuf> {
    cargo_json
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact" && message["target"]["name"] == target_name)
        .flat_map(|message| {
            let mut files: Vec<String> = message["filenames"]
                .as_array()
                .map(|names| names.iter().filter_map(|n| n.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            files.extend(message["executable"].as_str().map(str::to_owned));
            files
        })
        .find(|file| is_wanted(file))
        .map(PathBuf::from)
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
}

/// Builds the `sluice` daemon binary (debug) and returns its path.
pub fn sluice_binary() -> anyhow::Result<PathBuf> {
    build_artifact(&["-p", "sluice", "--bin", "sluice"], "sluice", |file| {
        Path::new(file).file_name().is_some_and(|name| name == "sluice")
    })
}

/// The `sluice` binary built from this checkout's sources. Checkouts sharing `CARGO_TARGET_DIR` share
/// cargo's output paths and fingerprints too, so a build another checkout made after this one's last
/// edit counts as fresh here. Its debug info names the directory it was compiled in; when that is
/// not this checkout, the main source is touched so cargo builds this checkout's binary again.
pub fn sluice_binary_of_this_checkout() -> anyhow::Result<PathBuf> {
    let built = sluice_binary()?;
    if compiled_here(&built)? {
        return Ok(built);
    }
    let main_source = repository_root().join("host/src/main.rs");
    std::fs::File::options()
        .append(true)
        .open(&main_source)
        .and_then(|file| file.set_modified(std::time::SystemTime::now()))
        .with_context(|| format!("touching {}", main_source.display()))?;
    let rebuilt = build_artifact(&["-p", "sluice", "--bin", "sluice", "--quiet"], "sluice", |file| {
        Path::new(file).file_name().is_some_and(|name| name == "sluice")
    })?;
    if !compiled_here(&rebuilt)? {
        bail!(
            "`{}` was not built from this checkout even after a rebuild",
            rebuilt.display()
        );
    }
    Ok(rebuilt)
}

/// Whether the binary's debug info names this checkout's directory.
fn compiled_here(binary: &Path) -> anyhow::Result<bool> {
    let bytes = std::fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    let root = repository_root();
    let needle = root.to_string_lossy();
    let needle = needle.as_bytes();
    Ok(bytes.windows(needle.len()).any(|window| window == needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARGO_JSON: &str = concat!(
        r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"wit_bindgen"},"filenames":["/t/libwit_bindgen-1.rlib"],"executable":null}"#,
        "\n",
        r#"{"reason":"compiler-artifact","target":{"kind":["cdylib"],"name":"route_by_table"},"filenames":["/t/my \"dir\"/route_by_table.wasm"],"executable":null}"#,
        "\n",
        r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"sluice"},"filenames":["/t/debug/sluice"],"executable":"/t/debug/sluice"}"#,
        "\n",
        r#"{"reason":"build-finished","success":true}"#,
    );

    #[test]
    fn finds_the_wanted_file_of_the_named_target() {
        let wasm = |file: &str| file.ends_with(".wasm");
        assert_eq!(
            find_artifact(CARGO_JSON, "route_by_table", wasm),
            Some(PathBuf::from(r#"/t/my "dir"/route_by_table.wasm"#))
        );
        assert_eq!(find_artifact(CARGO_JSON, "wit_bindgen", wasm), None);
        assert_eq!(
            find_artifact(CARGO_JSON, "sluice", |_| true),
            Some(PathBuf::from("/t/debug/sluice"))
        );
    }
}
