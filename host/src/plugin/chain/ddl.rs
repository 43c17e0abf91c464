//! DDL statements through the chain: the `ddl-policy` plugins decide, in config order.
//!
//! The first `previous` decision is `ddl.default` (`ignore` unless configured); each plugin with the
//! `ddl-policy` role sees the decision so far and returns its own. A plugin that fails on a statement
//! is handled by its failure policy: `halt` stops the pipeline, `skip` and `dead_letter` keep the
//! decision so far (there is no row to dead-letter). The last decision wins:
//! - `ignore`: nothing is published;
//! - `forward`/`rewrite`: a DTS `DDL` record (with the rewritten text) on `ddl.topic`, else the topic
//!   the mapping chose for the table, else `kafka.topic`, named after the (mapped) database;
//! - `halt`: the chain stops before the statement ([`PluginChain::take_halt`]), so the checkpoint
//!   never passes it: a restart meets the same statement again.

use std::sync::Arc;

use super::{PluginChain, Routed};
use crate::change::{DdlChange, TableName};
use crate::config::DdlDefault;
use crate::plugin::engine::roles;
use crate::plugin::{FailurePolicy, PluginError};
use crate::source::ddl::DdlKind;

/// A forwarded DDL statement and where to publish it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedDdl {
    pub change: DdlChange,
    /// The text to publish: the statement's, or a plugin's rewrite.
    pub text: Arc<str>,
    /// `None`: the encoder's default topic.
    pub topic: Option<Arc<str>>,
    /// The DTS `objectName`: the database.
    pub database: Arc<str>,
    /// `name@version` of the chain's plugins.
    pub plugins: Option<Arc<str>>,
}

/// The chain's DDL settings.
#[derive(Debug, Clone, Default)]
pub struct DdlRouting {
    pub default: DdlDefault,
    pub topic: Option<Arc<str>>,
}

impl PluginChain {
    /// Sets what happens to DDL before any plugin decides, and where forwarded DDL goes.
    pub fn with_ddl_routing(mut self, routing: DdlRouting) -> Self {
        self.ddl = routing;
        self
    }

    /// The halt a `ddl-policy` plugin decided, once: the caller publishes what the chain returned
    /// before it, then stops.
    pub fn take_halt(&mut self) -> Option<PluginError> {
        self.halted.take()
    }

    /// Runs the `ddl-policy` plugins over one statement; `Ok(None)` when nothing is to be published.
    pub(super) async fn decide_ddl(&mut self, ddl: DdlChange) -> Result<Option<Routed>, PluginError> {
        let mut decision = match self.ddl.default {
            DdlDefault::Ignore => roles::DdlDecision::Ignore,
            DdlDefault::Forward => roles::DdlDecision::Forward,
        };
        let mut decided_by = String::from("ddl.default");
        let event = ddl_event(&ddl);
        for link in self.links.iter_mut().filter(|link| link.version.code.has_ddl_policy()) {
            match link.version.instance.decide_ddl(&event, &decision).await {
                Ok(next) => {
                    decision = next;
                    decided_by = link.settings.name.clone();
                }
                Err(error) if error.is_call_failure() && *link.policy() != FailurePolicy::Halt => {
                    tracing::warn!(
                        plugin = link.name(),
                        position = %ddl.position,
                        "the DDL policy failed on a statement; the decision so far stands: {error}"
                    );
                    self.metrics.plugins.failed(link.name(), "skip");
                    if matches!(error, PluginError::Trapped { .. }) {
                        Box::pin(link.reinstantiate()).await?;
                    }
                }
                Err(error) => return Err(error),
            }
        }
        let text = match decision {
            roles::DdlDecision::Ignore => return Ok(None),
            roles::DdlDecision::Forward => ddl.text.clone(),
            roles::DdlDecision::Rewrite(text) => Arc::from(text),
            roles::DdlDecision::Halt(message) => {
                return Err(PluginError::Halted {
                    name: decided_by,
                    message: format!("{message} (at {}: {})", ddl.position, ddl.text.trim()),
                });
            }
        };
        let (mapped_topic, mapped_database) = self.mapping_of(ddl.statement.tables.first());
        let database = mapped_database
            .or_else(|| {
                ddl.statement
                    .tables
                    .first()
                    .map(|table| Arc::from(table.database.as_str()))
            })
            .or_else(|| ddl.statement.database.as_deref().map(Arc::from))
            .unwrap_or_else(|| Arc::from(ddl.database.as_str()));
        Ok(Some(Routed::Ddl(RoutedDdl {
            text,
            topic: self.ddl.topic.clone().or(mapped_topic),
            database,
            plugins: self.tag.clone(),
            change: ddl,
        })))
    }

    /// The topic and published database the mapping chose for the latest shape of `table`, if the
    /// chain has published a change of it.
    fn mapping_of(&self, table: Option<&TableName>) -> (Option<Arc<str>>, Option<Arc<str>>) {
        let Some(table) = table else {
            return (None, None);
        };
        let published = self
            .shapes
            .schemas
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, schema)| schema.name == *table)
            .find_map(|(index, _)| self.published.get(index).and_then(Option::as_ref));
        let Some(published) = published else {
            return (None, None);
        };
        let database = published
            .object_name
            .as_deref()
            .and_then(|name| name.split_once('.'))
            .map(|(database, _)| Arc::from(database));
        (published.topic.clone(), database)
    }
}

/// The contract's view of a statement.
fn ddl_event(ddl: &DdlChange) -> roles::DdlEvent {
    roles::DdlEvent {
        database: ddl.database.clone(),
        statement: ddl.text.to_string(),
        kind: wit_kind(ddl.statement.kind),
        tables: ddl
            .statement
            .tables
            .iter()
            .map(|table| roles::TableRef {
                database: table.database.clone(),
                name: table.table.clone(),
            })
            .collect(),
        position: ddl.position.to_string(),
    }
}

fn wit_kind(kind: DdlKind) -> roles::DdlKind {
    match kind {
        DdlKind::CreateDatabase => roles::DdlKind::CreateDatabase,
        DdlKind::AlterDatabase => roles::DdlKind::AlterDatabase,
        DdlKind::DropDatabase => roles::DdlKind::DropDatabase,
        DdlKind::CreateTable => roles::DdlKind::CreateTable,
        DdlKind::AlterTable => roles::DdlKind::AlterTable,
        DdlKind::DropTable => roles::DdlKind::DropTable,
        DdlKind::RenameTable => roles::DdlKind::RenameTable,
        DdlKind::TruncateTable => roles::DdlKind::TruncateTable,
        DdlKind::CreateIndex => roles::DdlKind::CreateIndex,
        DdlKind::DropIndex => roles::DdlKind::DropIndex,
        DdlKind::CreateView => roles::DdlKind::CreateView,
        DdlKind::AlterView => roles::DdlKind::AlterView,
        DdlKind::DropView => roles::DdlKind::DropView,
        DdlKind::Other => roles::DdlKind::Other,
        DdlKind::Unknown => roles::DdlKind::Unknown,
    }
}
