//! `sluice plugin test`: a plugin over recorded changes, without a database or a broker.
//!
//! Every change goes through the same chain code as in the daemon, in batches of the given size; a
//! marker after each change lets the output say, per input line, what would be published.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::change::{Change, Commit, TableSchema};
use crate::config::PluginConfig;
use crate::metrics::Metrics;
use crate::plugin::PluginError;
use crate::plugin::chain::{PluginChain, Routed};
use crate::plugin::engine::PluginEngine;
use crate::plugin::recorded::{Outcome, RecordedChange, RecordedTable, outcome};
use crate::source::position::BinlogPosition;

/// Why a plugin test could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The input file or the command line is unusable.
    #[error("{0}")]
    Input(String),
    /// The plugin could not be loaded, trapped or failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// Runs the plugin at `plugin` over the changes in `input` and prints one JSON outcome per change;
/// compiled code is cached in `cache_dir` when given.
pub async fn run(
    plugin: &Path,
    input: &Path,
    config: &[String],
    batch: usize,
    cache_dir: Option<&Path>,
) -> Result<(), TestError> {
    let name = plugin
        .file_stem()
        .map_or_else(|| "plugin".into(), |stem| stem.to_string_lossy().into_owned());
    let settings = PluginConfig::fixed(name, plugin, parse_config(config)?);
    let changes = read_changes(input)?;
    let engine = PluginEngine::new(cache_dir)?;
    let mut chain = PluginChain::load(&[settings], Some(&engine), Arc::new(Metrics::new())).await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for part in changes.chunks(batch) {
        let mut marked = Vec::with_capacity(part.len() * 2);
        for (line, change) in part {
            marked.push(Change::Row(change.clone()));
            marked.push(Change::Commit(Commit {
                gtids: None,
                resume_from: BinlogPosition::new("recorded", *line),
                progress: Vec::new(),
            }));
        }
        let mut current: Option<Outcome> = None;
        for routed in chain.apply(marked).await? {
            if let Routed::Commit(_) = routed {
                let printed = current.take().unwrap_or(Outcome::Drop);
                let text = serde_json::to_string(&printed).expect("outcomes serialise");
                writeln!(out, "{text}")
                    .map_err(|error| TestError::Input(format!("cannot write the output: {error}")))?;
            } else {
                current = outcome(&routed);
            }
        }
    }
    out.flush()
        .map_err(|error| TestError::Input(format!("cannot write the output: {error}")))?;
    Ok(())
}

fn parse_config(entries: &[String]) -> Result<std::collections::BTreeMap<String, String>, TestError> {
    entries
        .iter()
        .map(|entry| match entry.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(TestError::Input(format!(
                "--config `{entry}` is not of the form key=value"
            ))),
        })
        .collect()
}

/// Reads the input file; tables with the same shape share one schema, as in the daemon.
fn read_changes(input: &Path) -> Result<Vec<(u64, crate::change::RowChange)>, TestError> {
    let text = std::fs::read_to_string(input)
        .map_err(|error| TestError::Input(format!("cannot read `{}`: {error}", input.display())))?;
    let mut tables: Vec<(RecordedTable, Arc<TableSchema>)> = Vec::new();
    let mut changes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let at = |message: String| TestError::Input(format!("{}:{number}: {message}", input.display()));
        let recorded: RecordedChange = serde_json::from_str(line).map_err(|error| at(error.to_string()))?;
        let table = match tables.iter().find(|(known, _)| *known == recorded.table) {
            Some((_, schema)) => schema.clone(),
            None => {
                let schema = Arc::new(recorded.table.to_schema().map_err(at)?);
                tables.push((recorded.table.clone(), schema.clone()));
                schema
            }
        };
        changes.push((number, recorded.to_change(table, number).map_err(at)?));
    }
    Ok(changes)
}
