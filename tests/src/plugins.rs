//! Plugin builds: the guest plugins the end-to-end tests load are built from source, never committed
//! as `.wasm`.
//!
//! [`build_plugin`] runs cargo on the plugins workspace (`plugins/Cargo.toml`, separate from the
//! daemon's) for `wasm32-wasip2`, where a `cdylib` is directly a WebAssembly component, and returns the
//! component file. Builds are serialised within the test process, and each package is built at most
//! once per process: cargo's own locking would also serialise parallel tests, but one build followed by
//! cheap lookups keeps their output and timing readable. Like any cargo run, the build honours
//! `CARGO_TARGET_DIR` when it is set (`scripts/env.sh` sets it to the shared cache).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context as _, bail};

/// The target whose `cdylib` output is a component.
const PLUGIN_TARGET: &str = "wasm32-wasip2";

/// How many lines of cargo's stderr a build failure quotes.
const STDERR_TAIL_LINES: usize = 40;

/// The components this process has built, by package name. The lock is held for the whole build.
static BUILT_PLUGINS: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());

/// Builds the plugin package `package` of the plugins workspace for wasm32-wasip2 (release) from
/// source and returns the path of its component file.
pub fn build_plugin(package: &str) -> anyhow::Result<PathBuf> {
    // A test that panicked while holding the lock cannot have left the map half-written.
    let mut built = BUILT_PLUGINS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(component) = built.get(package).filter(|component| component.is_file()) {
        return Ok(component.clone());
    }
    let component = run_cargo_build(package)?;
    built.insert(package.to_owned(), component.clone());
    Ok(component)
}

fn run_cargo_build(package: &str) -> anyhow::Result<PathBuf> {
    let manifest = plugins_manifest();
    // Inside `cargo test`, `CARGO` names the cargo that runs the tests: build with the same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            PLUGIN_TARGET,
            "-p",
            package,
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .stdin(Stdio::null());
    let output = command
        .output()
        .with_context(|| format!("running cargo to build plugin `{package}`: {command:?}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!(
            "building plugin `{package}` failed ({}): {command:?}\ncargo's stderr, last lines:\n{}",
            output.status,
            tail(&stderr, STDERR_TAIL_LINES)
        );
    }
    let Some(component) = component_artifact(&stdout, package) else {
        bail!(
            "cargo built plugin `{package}` but reported no `.wasm` file for it; is it a package of {} \
             with `crate-type = [\"cdylib\"]`?\ncargo's stderr, last lines:\n{}",
            manifest.display(),
            tail(&stderr, STDERR_TAIL_LINES)
        );
    };
    if !component.is_file() {
        bail!(
            "cargo reported plugin `{package}` at {}, but there is no file there",
            component.display()
        );
    }
    Ok(component)
}

/// `plugins/Cargo.toml` of this repository.
fn plugins_manifest() -> PathBuf {
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo_root = tests_dir.parent().unwrap_or(tests_dir);
    repo_root.join("plugins").join("Cargo.toml")
}

/// The `.wasm` file among the `compiler-artifact` messages in cargo's JSON output (one object per
/// line) for the library target of `package`.
///
/// A minimal reading of cargo's compact JSON rather than a JSON parser: searching for `"key":` only
/// finds real keys, because every `"` inside a JSON string is escaped.
fn component_artifact(cargo_json: &str, package: &str) -> Option<PathBuf> {
    // Cargo names a library target after its package, with `-` turned into `_`.
    let target_name = package.replace('-', "_");
    cargo_json
        .lines()
        .filter(|line| line.contains(r#""reason":"compiler-artifact""#))
        .filter(|line| {
            let target = line.find(r#""target":{"#).map(|at| &line[at..]);
            target
                .and_then(|target| string_field(target, "name"))
                .as_deref()
                == Some(target_name.as_str())
        })
        .filter_map(|line| string_array_field(line, "filenames"))
        .flatten()
        .find(|filename| filename.ends_with(".wasm"))
        .map(PathBuf::from)
}

/// The string value of the first `"key":` in `json`.
fn string_field(json: &str, key: &str) -> Option<String> {
    let pattern = format!("\"{key}\":");
    let at = json.find(&pattern)?;
    json_string(&json[at + pattern.len()..]).map(|(value, _)| value)
}

/// The list of strings of the first `"key":[...]` in `json`.
fn string_array_field(json: &str, key: &str) -> Option<Vec<String>> {
    let pattern = format!("\"{key}\":[");
    let at = json.find(&pattern)?;
    let mut rest = &json[at + pattern.len()..];
    let mut values = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.starts_with(']') {
            return Some(values);
        }
        let (value, after) = json_string(rest)?;
        values.push(value);
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Decodes the JSON string literal that `json` starts with; returns it and the text after it.
fn json_string(json: &str) -> Option<(String, &str)> {
    let mut chars = json.strip_prefix('"')?.char_indices();
    let body_start = 1;
    let mut value = String::new();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, &json[body_start + index + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                'b' => value.push('\u{8}'),
                'f' => value.push('\u{c}'),
                'u' => {
                    let hex: String = (0..4)
                        .filter_map(|_| chars.next().map(|(_, c)| c))
                        .collect();
                    let code = u32::from_str_radix(&hex, 16).ok()?;
                    value.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                other => value.push(other), // `"`, `\` and `/` stand for themselves.
            },
            _ => value.push(c),
        }
    }
    None
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARGO_JSON: &str = concat!(
        r#"{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/crates.io-index#wit-bindgen@0.61.1","manifest_path":"/r/wit-bindgen-0.61.1/Cargo.toml","target":{"kind":["lib"],"crate_types":["lib"],"name":"wit_bindgen","src_path":"/r/src/lib.rs","edition":"2024","doctest":true,"test":true},"profile":{"opt_level":"3"},"features":[],"filenames":["/t/wasm32-wasip2/release/deps/libwit_bindgen-1.rlib"],"executable":null,"fresh":true}"#,
        "\n",
        r#"{"reason":"compiler-artifact","package_id":"path+file:///w/plugins/route-by-table#0.1.0","manifest_path":"/w/plugins/route-by-table/Cargo.toml","target":{"kind":["cdylib"],"crate_types":["cdylib"],"name":"route_by_table","src_path":"/w/plugins/route-by-table/src/lib.rs","edition":"2024","doctest":false,"test":true},"profile":{"opt_level":"3"},"features":[],"filenames":["/t/my \"dir\"\\x/wasm32-wasip2/release/route_by_table.wasm"],"executable":null,"fresh":false}"#,
        "\n",
        r#"{"reason":"build-finished","success":true}"#,
    );

    #[test]
    fn finds_the_component_of_the_package_in_cargo_json() {
        assert_eq!(
            component_artifact(CARGO_JSON, "route-by-table"),
            Some(PathBuf::from(
                r#"/t/my "dir"\x/wasm32-wasip2/release/route_by_table.wasm"#
            ))
        );
        assert_eq!(component_artifact(CARGO_JSON, "wit-bindgen"), None);
        assert_eq!(component_artifact(CARGO_JSON, "other"), None);
    }

    #[test]
    fn json_strings_are_decoded() {
        assert_eq!(
            json_string(r#""a\u00e9\n\/b" rest"#),
            Some(("aé\n/b".to_owned(), " rest"))
        );
        assert_eq!(json_string(r#""unterminated"#), None);
        assert_eq!(
            string_array_field(r#"{"x":[ "a" , "b" ]}"#, "x"),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(string_array_field(r#"{"x":[]}"#, "x"), Some(vec![]));
    }
}
