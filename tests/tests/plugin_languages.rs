//! Proves a plugin behaves the same whichever language it is written in: the reference plugin in Rust
//! (sluice-guest), Python (componentize-py) and JavaScript (ComponentizeJS), each built from source,
//! produce byte-identical `sluice plugin test` output over `tests/fixtures/reference-changes.jsonl`, and
//! that output shows the reference behaviour: deletes of the configured table dropped, every table on
//! its templated topic, the masked column published as `***` where it holds a value and NULL where it
//! does not, every other value untouched. Each language also refuses an unknown config key by name.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use sluice_tests::cargo::{repository_root, sluice_binary};
use sluice_tests::plugins::{build_js_plugin, build_plugin, build_python_plugin};

const DROP_DELETES_OF: &str = "shop.orders";
const TOPIC_TEMPLATE: &str = "cdc.{database}.{table}";
const MASK_COLUMN: &str = "email";

fn fixture() -> PathBuf {
    repository_root().join("tests/fixtures/reference-changes.jsonl")
}

/// The reference component of each language, by name.
fn reference_plugins() -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    Ok(vec![
        ("rust", build_plugin("reference-rust")?),
        ("python", build_python_plugin("reference-python")?),
        ("javascript", build_js_plugin("reference-js")?),
    ])
}

/// Runs `sluice plugin test` on `plugin` over the fixture with `config`.
fn plugin_test(plugin: &Path, config: &[(&str, &str)]) -> anyhow::Result<Output> {
    let mut command = Command::new(sluice_binary()?);
    command
        .args(["plugin", "test"])
        .arg(plugin)
        .arg("--input")
        .arg(fixture());
    for (key, value) in config {
        command.arg("--config").arg(format!("{key}={value}"));
    }
    command.output().with_context(|| format!("running {command:?}"))
}

fn reference_config() -> [(&'static str, &'static str); 3] {
    [
        ("drop_deletes_of", DROP_DELETES_OF),
        ("topic_template", TOPIC_TEMPLATE),
        ("mask_column", MASK_COLUMN),
    ]
}

/// The output a change should produce under the reference config, checked field by field; `key`,
/// `partition` and `object_name` are the host's choices and are compared across languages only.
fn check_change(input: &Value, output: &Value) -> anyhow::Result<()> {
    let table = &input["table"];
    let qualified = format!(
        "{}.{}",
        table["database"].as_str().unwrap(),
        table["name"].as_str().unwrap()
    );
    if input["operation"] == "delete" && qualified == DROP_DELETES_OF {
        ensure!(
            *output == json!({"verdict": "drop"}),
            "a delete of {qualified} was not dropped"
        );
        return Ok(());
    }
    ensure!(output["verdict"] == "keep", "the change was not kept");
    ensure!(output["topic"] == format!("cdc.{qualified}").as_str(), "wrong topic");
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["name"].as_str().unwrap())
        .collect();
    ensure!(output["fields"] == json!(columns), "the published fields changed");
    let masked = columns.iter().position(|name| *name == MASK_COLUMN);
    // The column is masked wherever it holds a value; NULL stays NULL, also in an update from or to NULL.
    for image in ["before", "after"] {
        let mut expected = input.get(image).cloned().unwrap_or(Value::Null);
        if let (Some(at), Some(values)) = (masked, expected.as_array_mut())
            && values[at] != "null"
        {
            values[at] = json!({"text": "***"});
        }
        ensure!(
            output[image] == expected,
            "{image}: expected {expected}, published {}",
            output[image]
        );
    }
    Ok(())
}

#[test]
fn the_reference_plugin_behaves_identically_in_rust_python_and_javascript() -> anyhow::Result<()> {
    let inputs: Vec<Value> = std::fs::read_to_string(fixture())?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let mut outputs: Vec<(&str, String)> = Vec::new();
    for (language, plugin) in reference_plugins()? {
        let output = plugin_test(&plugin, &reference_config())?;
        if !output.status.success() {
            bail!(
                "sluice plugin test failed on the {language} plugin ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let stdout = String::from_utf8(output.stdout).context("the output is not UTF-8")?;
        let lines: Vec<&str> = stdout.lines().collect();
        ensure!(
            lines.len() == inputs.len(),
            "{language}: {} output lines for {} changes",
            lines.len(),
            inputs.len()
        );
        for (number, (input, line)) in inputs.iter().zip(&lines).enumerate() {
            let output: Value = serde_json::from_str(line).with_context(|| format!("{language}: line {number}"))?;
            check_change(input, &output).with_context(|| format!("{language}, change {number}: {line}"))?;
        }
        outputs.push((language, stdout));
    }
    let (first_language, first) = &outputs[0];
    for (language, output) in &outputs[1..] {
        assert_eq!(
            output, first,
            "the {language} plugin's output differs from the {first_language} plugin's"
        );
    }
    // The fixture exercises every case the checks above tell apart.
    let published: Vec<Value> = first.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let text = |value: &Value| value.to_string();
    assert!(published.iter().any(|output| output["verdict"] == "drop"));
    assert!(
        published
            .iter()
            .any(|output| text(output).contains(r#"{"text":"***"}"#))
    );
    assert!(
        published
            .iter()
            .any(|output| output["fields"].to_string().contains("email") && output["after"][2] == "null")
    );
    assert!(published.iter().any(|output| output["topic"] == "cdc.shop.items"));
    Ok(())
}

#[test]
fn every_language_refuses_an_unknown_config_key_by_name() -> anyhow::Result<()> {
    for (language, plugin) in reference_plugins()? {
        let output = plugin_test(&plugin, &[("mask_colum", "email")])?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{language}: an unknown key was accepted");
        assert!(
            stderr.contains("unknown config key `mask_colum`"),
            "{language}: {stderr}"
        );
    }
    Ok(())
}

#[test]
fn a_plugins_log_stdout_and_stderr_reach_the_host_log_under_its_name() -> anyhow::Result<()> {
    let plugin = sluice_tests::plugins::build_plugin("misbehaving")?;
    let output = plugin_test(&plugin, &[("mode", "chatty")])?;
    ensure!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let log = String::from_utf8_lossy(&output.stderr);
    for line in [
        "misbehaving: a line for the host's log",
        "misbehaving: a line on stdout",
        "misbehaving: a line on stderr",
    ] {
        let logged = log
            .lines()
            .filter_map(|entry| serde_json::from_str::<Value>(entry).ok())
            .any(|entry| entry["message"] == line && entry["plugin"] == "misbehaving");
        ensure!(
            logged,
            "`{line}` is not in the host log under the plugin's name:\n{log}"
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        !stdout.contains("a line on stdout"),
        "the plugin's stdout leaked into the command's output:\n{stdout}"
    );
    Ok(())
}
