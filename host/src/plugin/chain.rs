//! Running the configured plugins over a batch of changes.
//!
//! Plugins run in config order. A change dropped by one plugin is not shown to the next; a kept
//! change's routing is the sum of the choices made so far, a later plugin's choice winning. Commits
//! pass through untouched, in place, so transaction boundaries survive the chain.

use std::collections::HashMap;
use std::sync::Arc;

use crate::change::{Change, ColumnValue, Commit, Operation, RowChange, TableSchema, type_code};
use crate::config::PluginConfig;
use crate::plugin::PluginError;
use crate::plugin::engine::{LoadedPlugin, PluginEngine, wit};

/// Where and how to publish a kept change; `None` leaves the host's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    pub topic: Option<String>,
    pub key: Option<Vec<u8>>,
    pub object_name: Option<String>,
}

impl Routing {
    fn merge(&mut self, later: wit::Routing) {
        if later.topic.is_some() {
            self.topic = later.topic;
        }
        if later.key.is_some() {
            self.key = later.key;
        }
        if later.object_name.is_some() {
            self.object_name = later.object_name;
        }
    }
}

/// A change that survived the chain, with the routing the plugins chose.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedChange {
    pub change: RowChange,
    pub routing: Routing,
}

/// What the chain hands to the encoder, in source order.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    Row(RoutedChange),
    Commit(Commit),
}

/// The loaded plugins, in config order.
pub struct PluginChain {
    plugins: Vec<LoadedPlugin>,
}

impl PluginChain {
    /// Loads every configured plugin; the first that fails stops the load.
    pub async fn load(configs: &[PluginConfig]) -> Result<Self, PluginError> {
        let mut plugins = Vec::with_capacity(configs.len());
        if !configs.is_empty() {
            let engine = PluginEngine::shared()?;
            for config in configs {
                let settings: Vec<(String, String)> = config
                    .config
                    .iter()
                    .map(|(key, value)| (key.clone(), value.clone()))
                    .collect();
                let plugin = engine.load(&config.name, &config.path, &settings).await?;
                tracing::info!(plugin = %config.name, path = %config.path.display(), "plugin loaded");
                plugins.push(plugin);
            }
        }
        Ok(Self { plugins })
    }

    /// Runs every plugin over the rows of `batch`, keeping commits in place.
    pub async fn apply(&mut self, batch: Vec<Change>) -> Result<Vec<Routed>, PluginError> {
        let mut routings: Vec<Option<Routing>> = batch
            .iter()
            .map(|change| matches!(change, Change::Row(_)).then(Routing::default))
            .collect();
        for plugin in &mut self.plugins {
            let shown: Vec<usize> = (0..batch.len()).filter(|&index| routings[index].is_some()).collect();
            if shown.is_empty() {
                break;
            }
            let rows = shown.iter().map(|&index| match &batch[index] {
                Change::Row(row) => row,
                Change::Commit(_) => unreachable!("only rows carry a routing"),
            });
            let lowered = lower_batch(rows);
            let decisions = plugin.handle(&lowered).await?;
            for (index, decision) in shown.into_iter().zip(decisions) {
                match decision {
                    wit::Decision::Drop => routings[index] = None,
                    wit::Decision::Keep(routing) => {
                        if let Some(current) = routings[index].as_mut() {
                            current.merge(routing);
                        }
                    }
                }
            }
        }
        Ok(batch
            .into_iter()
            .zip(routings)
            .filter_map(|(change, routing)| match (change, routing) {
                (Change::Row(change), Some(routing)) => Some(Routed::Row(RoutedChange { change, routing })),
                (Change::Row(_), None) => None,
                (Change::Commit(commit), _) => Some(Routed::Commit(commit)),
            })
            .collect())
    }
}

/// Builds the contract's view of some row changes: each table once, changes referring to it.
pub fn lower_batch<'a>(rows: impl Iterator<Item = &'a RowChange>) -> wit::ChangeBatch {
    let mut tables = Vec::new();
    let mut table_index: HashMap<*const TableSchema, u32> = HashMap::new();
    let mut changes = Vec::new();
    for row in rows {
        let index = *table_index.entry(Arc::as_ptr(&row.table)).or_insert_with(|| {
            tables.push(lower_table(&row.table));
            (tables.len() - 1) as u32
        });
        let lower_image = |image: &Option<Vec<ColumnValue>>| {
            image.as_ref().map(|values| {
                values
                    .iter()
                    .zip(&row.table.columns)
                    .map(|(value, column)| lower_value(value, column))
                    .collect()
            })
        };
        changes.push(wit::RowChange {
            table: index,
            operation: match row.operation {
                Operation::Insert => wit::Operation::Insert,
                Operation::Update => wit::Operation::Update,
                Operation::Delete => wit::Operation::Delete,
            },
            before: lower_image(&row.before),
            after: lower_image(&row.after),
            position: row.position.to_string(),
            commit_timestamp: row.timestamp,
            transaction_id: row.transaction.id.to_string(),
        });
    }
    wit::ChangeBatch { tables, changes }
}

fn lower_table(table: &TableSchema) -> wit::Table {
    wit::Table {
        database: table.name.database.clone(),
        name: table.name.table.clone(),
        columns: table.columns.iter().map(|column| column.name.clone()).collect(),
        primary_key: table.primary_key.iter().map(|&index| index as u32).collect(),
    }
}

/// Character data as UTF-8 text where its charset allows, else as bytes.
fn lower_text(bytes: &[u8], charset: &str) -> wit::ColumnValue {
    if charset.starts_with("utf8") || charset == "ascii" {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return wit::ColumnValue::Text(text.to_owned());
        }
    } else if charset == "latin1" {
        return wit::ColumnValue::Text(bytes.iter().map(|&byte| byte as char).collect());
    }
    wit::ColumnValue::Bytes(bytes.to_vec())
}

fn lower_value(value: &ColumnValue, column: &crate::change::ColumnSchema) -> wit::ColumnValue {
    match value {
        ColumnValue::Null => wit::ColumnValue::Null,
        ColumnValue::Int(v) => wit::ColumnValue::Int(*v),
        ColumnValue::UInt(v) => wit::ColumnValue::Uint(*v),
        ColumnValue::Float(v) => wit::ColumnValue::Float(*v),
        ColumnValue::Decimal(text) => wit::ColumnValue::Decimal(text.clone()),
        ColumnValue::Text(bytes) => lower_text(bytes, &column.charset.name),
        ColumnValue::Bytes(bytes) => wit::ColumnValue::Bytes(bytes.clone()),
        ColumnValue::DateTime(dt) => {
            let date = wit::Date {
                year: dt.year,
                month: dt.month,
                day: dt.day,
            };
            if matches!(column.type_code, type_code::DATE | type_code::NEWDATE) {
                wit::ColumnValue::Date(date)
            } else {
                wit::ColumnValue::Datetime(wit::Datetime {
                    date,
                    hour: dt.hour,
                    minute: dt.minute,
                    second: dt.second,
                    microsecond: dt.microsecond,
                })
            }
        }
        ColumnValue::Time(time) => wit::ColumnValue::Time(wit::Time {
            negative: time.negative,
            hours: time.hours,
            minutes: time.minutes,
            seconds: time.seconds,
            microseconds: time.microseconds,
        }),
        ColumnValue::Timestamp { seconds, microseconds } => {
            wit::ColumnValue::TimestampMicros(seconds * 1_000_000 + *microseconds as i64)
        }
        ColumnValue::Year(year) => wit::ColumnValue::Int(*year as i64),
        ColumnValue::Label(label) => wit::ColumnValue::Text(label.clone()),
        ColumnValue::Json(json) => wit::ColumnValue::Json(json.clone()),
    }
}
