//! Running the configured plugins over a batch of changes.
//!
//! Plugins run in config order, each in the roles it exports:
//! - a **filter** sees the kept changes of its tables and operations; a dropped change is not shown to
//!   later plugins, and a masked value is what later plugins see;
//! - a **mapping** is asked once per table shape, with the mapping of the plugins before it, and per row
//!   only for tables whose mapping asks for it.
//!
//! A plugin call that traps, errs or answers wrongly follows the plugin's failure policy: `halt` fails
//! the batch (the pipeline stops before the checkpoint moves past it), `skip` and `dead-letter` find the
//! changes it fails on by calling again change by change (on a fresh instance after a trap), and drop or
//! dead-letter only those.
//!
//! Commits pass through untouched, in place, so transaction boundaries survive the chain. A new
//! version of a plugin (see `reload`) is swapped in only at a transaction boundary.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;

mod ddl;
pub use ddl::{DdlRouting, RoutedDdl};

use crate::change::{Change, ColumnValue, Commit, RowChange, TableSchema};
use crate::config::PluginConfig;
use crate::metrics::Metrics;
use crate::plugin::engine::{FilterVerdict, PluginCode, PluginEngine, PluginInstance, roles, wit};
use crate::plugin::flat::{write_change, write_value};
use crate::plugin::interest::Interest;
use crate::plugin::lower::{lift_value, lower_table};
use crate::plugin::reload::{self, Reloaded};
use crate::plugin::{FailurePolicy, PluginError};

/// Where and how to publish a kept change; `None` leaves the host's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// Shared with every change of the table, so routing a change allocates nothing.
    pub topic: Option<Arc<str>>,
    pub key: Option<Vec<u8>>,
    pub object_name: Option<Arc<str>>,
    pub partition: Option<i32>,
    /// `name@version` of every plugin of the chain that handled the change, comma-separated.
    pub plugins: Option<Arc<str>>,
}

/// A change that survived the chain, with the routing the plugins chose. Its table is the published
/// shape: renamed and removed columns are already applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutedChange {
    pub change: RowChange,
    pub routing: Routing,
}

/// A change a plugin failed on, to publish untouched to a dead-letter topic.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub change: RowChange,
    pub topic: String,
    pub plugin: String,
    pub error: String,
}

/// What the chain hands to the encoder, in source order.
#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    Row(RoutedChange),
    DeadLetter(DeadLetter),
    /// A DDL statement the policy forwards.
    Ddl(RoutedDdl),
    Commit(Commit),
}

/// A loaded version of one plugin: its code, a live instance, and what it asked to be shown.
pub struct LoadedVersion {
    pub code: PluginCode,
    pub instance: PluginInstance,
    pub interest: Interest,
}

/// Compiles, instantiates and initialises one configured plugin: the one path for startup and reload.
pub async fn load_version(engine: &PluginEngine, settings: &PluginConfig) -> Result<LoadedVersion, PluginError> {
    let code = engine.compile(&settings.name, &settings.path).await?;
    instantiate(code, settings).await
}

async fn instantiate(code: PluginCode, settings: &PluginConfig) -> Result<LoadedVersion, PluginError> {
    let config: Vec<(String, String)> = settings
        .config
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let (instance, interest) = code.instantiate(&config, &settings.limits).await?;
    let interest = Interest::from_wit(interest).map_err(|message| PluginError::InitFailed {
        name: settings.name.clone(),
        message: format!("its interest is malformed: {message}"),
    })?;
    Ok(LoadedVersion {
        code,
        instance,
        interest,
    })
}

/// One plugin of the chain.
struct Link {
    settings: PluginConfig,
    version: LoadedVersion,
    /// Per table shape, by the chain's [`Shapes`] index (which is also the id the instance is shown
    /// the shape under).
    tables: Vec<Option<LinkTable>>,
    /// The batch handed to the instance, its buffers kept from call to call.
    batch: wit::ChangeBatch,
}

struct LinkTable {
    wanted: bool,
    carried: Vec<u32>,
    /// The shape under its id, as the instance is shown it once.
    lowered: wit::Table,
    /// Whether the current instance has been shown this shape (in a batch's `new-tables`).
    sent: bool,
    /// The mapping of this plugin and those before it, once asked.
    mapping: Option<roles::TableMapping>,
}

/// How many table shapes the chain remembers before it starts over.
const REMEMBERED_TABLES: usize = 4096;

impl Link {
    fn new(settings: PluginConfig, version: LoadedVersion) -> Self {
        Self {
            settings,
            version,
            tables: Vec::new(),
            batch: wit::ChangeBatch {
                new_tables: Vec::new(),
                changes: Vec::new(),
                offsets: Vec::new(),
                data: Vec::new(),
            },
        }
    }

    /// What this plugin makes of table shape `shape`, worked out the first time it is asked.
    fn table(&mut self, shape: u32, schema: &Arc<TableSchema>) -> &mut LinkTable {
        let index = shape as usize;
        if self.tables.len() <= index {
            self.tables.resize_with(index + 1, || None);
        }
        let interest = &self.version.interest;
        self.tables[index].get_or_insert_with(|| {
            let carried = interest.carried(schema);
            LinkTable {
                wanted: interest.wants_table(schema),
                lowered: lower_table(schema, shape, &carried),
                carried,
                sent: false,
                mapping: None,
            }
        })
    }

    fn mapping(&self, shape: u32) -> Option<&roles::TableMapping> {
        self.tables
            .get(shape as usize)
            .and_then(Option::as_ref)
            .and_then(|table| table.mapping.as_ref())
    }

    fn forget_tables(&mut self) {
        self.tables.clear();
    }

    /// After a failed call, or on a fresh instance: whatever the instance was shown is shown again.
    fn resend_tables(&mut self) {
        for table in self.tables.iter_mut().flatten() {
            table.sent = false;
        }
    }

    fn policy(&self) -> &FailurePolicy {
        &self.settings.on_failure
    }

    fn name(&self) -> &str {
        &self.settings.name
    }

    /// A fresh instance of the same version, after a trap left the old one unusable. Callers box the
    /// future: it is large, and held inline it would make every batch's future as large (and copied
    /// as such) for the sake of a call that almost never happens.
    async fn reinstantiate(&mut self) -> Result<(), PluginError> {
        let fresh = instantiate(self.version.code.clone(), &self.settings).await?;
        self.version.instance = fresh.instance;
        self.resend_tables();
        Ok(())
    }
}

/// The fate of one change in the chain.
enum Fate {
    Kept,
    Dropped,
    /// Boxed, as it is rare: the change moves through the chain a few times, and stays small.
    DeadLettered(Box<(String, String)>),
}

/// One row change on its way through the chain.
struct Working {
    change: RowChange,
    /// Its table's index in the chain's [`Shapes`].
    shape: u32,
    fate: Fate,
    /// The change as it came in, kept once a plugin edits it, for a later dead letter.
    original: Option<Box<RowChange>>,
    /// Indexes of columns a filter removed.
    removed: Vec<u32>,
    /// What a mapping chose for this row, if any did.
    row: Option<Box<roles::RowMapping>>,
}

/// The table shapes the chain has seen, each under a small index: a change's table is looked up by
/// address once per batch, and every cache of the chain and its links is then a vector indexed by it.
#[derive(Default)]
struct Shapes {
    by_address: AddressMap<u32>,
    /// By index; the `Arc`s are kept here so that an address is not reused while it is known.
    schemas: Vec<Arc<TableSchema>>,
}

impl Shapes {
    fn index(&mut self, schema: &Arc<TableSchema>) -> u32 {
        let schemas = &mut self.schemas;
        *self.by_address.entry(address(schema)).or_insert_with(|| {
            schemas.push(schema.clone());
            (schemas.len() - 1) as u32
        })
    }

    fn is_full(&self) -> bool {
        self.schemas.len() >= REMEMBERED_TABLES
    }

    fn clear(&mut self) {
        self.by_address.clear();
        self.schemas.clear();
    }
}

/// What the whole chain decided for one table shape.
struct PublishedTable {
    /// The table with renamed columns, if any were renamed.
    renamed: Option<Arc<TableSchema>>,
    topic: Option<Arc<str>>,
    object_name: Option<Arc<str>>,
    key_columns: Option<Vec<usize>>,
}

/// What a config reload (SIGHUP) changes in a running chain: new versions of plugins whose path or
/// config changed, and the file watcher of the new settings, which replaces the old one.
pub struct ChainUpdate {
    pub versions: Vec<Reloaded>,
    pub watcher: Option<mpsc::Receiver<Reloaded>>,
}

/// The loaded plugins, in config order.
pub struct PluginChain {
    links: Vec<Link>,
    reloads: Option<mpsc::Receiver<Reloaded>>,
    /// Config reloads, when the daemon takes them.
    updates: Option<mpsc::Receiver<ChainUpdate>>,
    /// New versions waiting for a transaction boundary, by link.
    pending: Vec<Option<LoadedVersion>>,
    /// Whether the last change handed through was a commit (or nothing was yet).
    at_boundary: bool,
    tag: Option<Arc<str>>,
    shapes: Shapes,
    /// By shape index.
    published: Vec<Option<PublishedTable>>,
    /// Tables with removed columns, by (shape index, removed columns).
    trimmed: HashMap<(u32, Vec<u32>), Arc<TableSchema>>,
    /// Whether any plugin dead-letters; failure policies come from the config, which a swap keeps.
    keeps_originals: bool,
    metrics: Arc<Metrics>,
    ddl: DdlRouting,
    /// Set when a `ddl-policy` plugin halted: nothing after that statement is handed on.
    halted: Option<PluginError>,
}

impl PluginChain {
    /// A chain that does nothing: every change is kept as it is.
    pub fn empty(metrics: Arc<Metrics>) -> Self {
        Self::from_links(Vec::new(), None, metrics)
    }

    /// Loads every configured plugin (the first that fails stops the load) and, for those with
    /// `reload`, starts watching their files.
    pub async fn load(
        configs: &[PluginConfig],
        engine: Option<&PluginEngine>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, PluginError> {
        let Some(engine) = engine.filter(|_| !configs.is_empty()) else {
            return Ok(Self::empty(metrics));
        };
        let mut links = Vec::with_capacity(configs.len());
        for settings in configs {
            let version = load_version(engine, settings).await?;
            tracing::info!(
                plugin = %settings.name,
                path = %settings.path.display(),
                version = version.code.version(),
                filter = version.code.has_filter(),
                mapping = version.code.has_mapping(),
                ddl_policy = version.code.has_ddl_policy(),
                "plugin loaded"
            );
            metrics.status.plugin_running(&settings.name, version.code.version());
            links.push(Link::new(settings.clone(), version));
        }
        let versions = links
            .iter()
            .map(|link| link.version.code.version().to_owned())
            .collect();
        let reloads = reload::watch(engine.clone(), configs, versions, metrics.clone());
        Ok(Self::from_links(links, reloads, metrics))
    }

    fn from_links(links: Vec<Link>, reloads: Option<mpsc::Receiver<Reloaded>>, metrics: Arc<Metrics>) -> Self {
        let mut chain = Self {
            pending: links.iter().map(|_| None).collect(),
            keeps_originals: links
                .iter()
                .any(|link| matches!(link.policy(), FailurePolicy::DeadLetter { .. })),
            links,
            reloads,
            updates: None,
            at_boundary: true,
            tag: None,
            shapes: Shapes::default(),
            published: Vec::new(),
            trimmed: HashMap::new(),
            metrics,
            ddl: DdlRouting::default(),
            halted: None,
        };
        chain.tag = chain.version_tag();
        chain
    }

    fn version_tag(&self) -> Option<Arc<str>> {
        if self.links.is_empty() {
            return None;
        }
        let tag: Vec<String> = self
            .links
            .iter()
            .map(|link| format!("{}@{}", link.name(), link.version.code.version()))
            .collect();
        Some(tag.join(",").into())
    }

    /// The `name@version` tag records handled by the current versions carry.
    pub fn versions(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Runs every plugin over the rows of `batch`, keeping commits in place. A new plugin version
    /// waiting for a transaction boundary takes over right after the first commit of the batch.
    pub async fn apply(&mut self, mut batch: Vec<Change>) -> Result<Vec<Routed>, PluginError> {
        self.collect_reloads();
        if self.at_boundary {
            self.swap_pending();
        }
        let mut routed = Vec::new();
        let first_commit = batch.iter().position(|change| matches!(change, Change::Commit(_)));
        if let Some(commit) = first_commit.filter(|_| self.pending.iter().any(Option::is_some)) {
            let rest = batch.split_off(commit + 1);
            routed = self.apply_segment(batch).await?;
            self.swap_pending();
            batch = rest;
        }
        if let Some(last) = batch.last() {
            self.at_boundary = matches!(last, Change::Commit(_));
        }
        let rest = self.apply_segment(batch).await?;
        // Usually the batch is one segment: hand its result on rather than copy it.
        if routed.is_empty() {
            return Ok(rest);
        }
        routed.extend(rest);
        Ok(routed)
    }

    /// Takes config reloads from `updates` from now on.
    pub fn listen_for_updates(&mut self, updates: mpsc::Receiver<ChainUpdate>) {
        self.updates = Some(updates);
    }

    fn collect_reloads(&mut self) {
        let mut offered = Vec::new();
        while let Some(Ok(update)) = self.updates.as_mut().map(mpsc::Receiver::try_recv) {
            // The old watcher, holding the old settings, stops when its receiver is dropped.
            self.reloads = update.watcher;
            // New settings make a new version even when the file is the same: no comparison.
            for reloaded in update.versions {
                self.pending[reloaded.index] = Some(reloaded.version);
            }
        }
        if let Some(reloads) = self.reloads.as_mut() {
            while let Ok(reloaded) = reloads.try_recv() {
                offered.push(reloaded);
            }
        }
        for reloaded in offered {
            self.offer(reloaded.index, reloaded.version);
        }
    }

    /// Offers a new version of the plugin at `index`: it takes over at the next transaction boundary
    /// (as a hot reload does), unless it is the version already running.
    pub fn offer(&mut self, index: usize, version: LoadedVersion) {
        if self.links[index].version.code.version() == version.code.version() {
            self.pending[index] = None;
        } else {
            self.pending[index] = Some(version);
        }
    }

    fn swap_pending(&mut self) {
        let mut swapped = false;
        for (link, pending) in self.links.iter_mut().zip(&mut self.pending) {
            if let Some(version) = pending.take() {
                tracing::info!(
                    plugin = %link.settings.name,
                    from = link.version.code.version(),
                    to = version.code.version(),
                    "plugin version swapped in at a transaction boundary"
                );
                self.metrics.plugins.swapped(&link.settings.name);
                self.metrics
                    .status
                    .plugin_running(&link.settings.name, version.code.version());
                link.version = version;
                link.forget_tables();
                swapped = true;
            }
        }
        if swapped {
            self.published.clear();
            self.trimmed.clear();
            self.tag = self.version_tag();
        }
    }

    async fn apply_segment(&mut self, batch: Vec<Change>) -> Result<Vec<Routed>, PluginError> {
        if self.halted.is_some() {
            return Ok(Vec::new());
        }
        if batch.iter().any(|change| matches!(change, Change::Ddl(_))) {
            return Box::pin(self.apply_around_ddl(batch)).await;
        }
        if self.links.is_empty() {
            return Ok(batch
                .into_iter()
                .map(|change| match change {
                    Change::Row(change) => Routed::Row(RoutedChange {
                        change,
                        routing: Routing::default(),
                    }),
                    Change::Commit(commit) => Routed::Commit(commit),
                    Change::Ddl(_) => unreachable!("DDL is split off first"),
                })
                .collect());
        }
        if self.shapes.is_full() {
            // Before the batch refers to any shape: every cache starts over, and every link shows its
            // instance the shapes again, under new ids.
            self.shapes.clear();
            self.published.clear();
            self.trimmed.clear();
            for link in &mut self.links {
                link.forget_tables();
            }
        }
        let shapes = &mut self.shapes;
        let mut slots: Vec<Result<Working, Commit>> = batch
            .into_iter()
            .map(|change| match change {
                Change::Row(change) => Ok(Working {
                    shape: shapes.index(&change.table),
                    change,
                    fate: Fate::Kept,
                    original: None,
                    removed: Vec::new(),
                    row: None,
                }),
                Change::Commit(commit) => Err(commit),
                Change::Ddl(_) => unreachable!("DDL is split off first"),
            })
            .collect();
        for index in 0..self.links.len() {
            if self.links[index].version.code.has_filter() {
                run_filter(&mut self.links[index], &mut slots, self.keeps_originals, &self.metrics).await?;
            }
            if self.links[index].version.code.has_mapping() {
                run_mapping(&mut self.links, index, &mut slots, &self.metrics).await?;
            }
        }
        Ok(self.finish(slots))
    }

    /// A batch with DDL in it: the rows between statements go through the plugins as usual, each
    /// statement through the DDL policy, in order. A halt ends the batch before its statement.
    async fn apply_around_ddl(&mut self, batch: Vec<Change>) -> Result<Vec<Routed>, PluginError> {
        let mut routed = Vec::with_capacity(batch.len());
        let mut rows = Vec::new();
        for change in batch {
            let Change::Ddl(ddl) = change else {
                rows.push(change);
                continue;
            };
            if !rows.is_empty() {
                routed.extend(self.apply_segment(std::mem::take(&mut rows)).await?);
            }
            match self.decide_ddl(ddl).await {
                Ok(decided) => routed.extend(decided),
                Err(halt @ PluginError::Halted { .. }) => {
                    self.halted = Some(halt);
                    return Ok(routed);
                }
                Err(error) => return Err(error),
            }
        }
        if !rows.is_empty() {
            routed.extend(self.apply_segment(rows).await?);
        }
        Ok(routed)
    }

    /// Turns the chain's decisions into what the encoder publishes.
    fn finish(&mut self, slots: Vec<Result<Working, Commit>>) -> Vec<Routed> {
        let mut routed = Vec::with_capacity(slots.len());
        for slot in slots {
            let working = match slot {
                Ok(working) => working,
                Err(commit) => {
                    routed.push(Routed::Commit(commit));
                    continue;
                }
            };
            match working.fate {
                Fate::Dropped => continue,
                Fate::DeadLettered(failure) => {
                    let (plugin, error) = *failure;
                    let topic = self
                        .links
                        .iter()
                        .find(|link| link.settings.name == plugin)
                        .and_then(|link| match link.policy() {
                            FailurePolicy::DeadLetter { topic } => Some(topic.clone()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    routed.push(Routed::DeadLetter(DeadLetter {
                        change: working.original.map_or(working.change, |original| *original),
                        topic,
                        plugin,
                        error,
                    }));
                }
                Fate::Kept => {
                    let (change, routing) = self.publish(working.change, working.shape, working.removed, working.row);
                    routed.push(Routed::Row(RoutedChange { change, routing }));
                }
            }
        }
        routed
    }

    /// Applies the table's mapping, the row's choices and the removed columns to a kept change.
    fn publish(
        &mut self,
        mut change: RowChange,
        shape: u32,
        mut removed: Vec<u32>,
        row: Option<Box<roles::RowMapping>>,
    ) -> (RowChange, Routing) {
        let index = shape as usize;
        if self.published.len() <= index {
            self.published.resize_with(index + 1, || None);
        }
        let links = &self.links;
        let table = self.published[index].get_or_insert_with(|| {
            let mapping = links.iter().rev().find_map(|link| link.mapping(shape).cloned());
            published_table(&change.table, mapping)
        });
        let row = row.map(|row| *row).unwrap_or(roles::RowMapping {
            topic: None,
            key: None,
            partition: None,
        });
        let mut routing = Routing {
            topic: row.topic.map(Arc::from).or_else(|| table.topic.clone()),
            key: row.key,
            object_name: table.object_name.clone(),
            partition: row.partition,
            plugins: self.tag.clone(),
        };
        if routing.key.is_none() && (table.key_columns.is_some() || !removed.is_empty()) {
            routing.key = match &table.key_columns {
                Some(columns) => crate::encode::key::columns_key(&change, columns),
                None => crate::encode::key::primary_key(&change),
            };
        }
        if let Some(renamed) = &table.renamed {
            change.table = renamed.clone();
        }
        if !removed.is_empty() {
            removed.sort_unstable();
            removed.dedup();
            let source = change.table.clone();
            let trimmed = self
                .trimmed
                .entry((shape, removed.clone()))
                .or_insert_with(|| Arc::new(without_columns(&source, &removed)))
                .clone();
            change.table = trimmed;
            for image in [&mut change.before, &mut change.after].into_iter().flatten() {
                let mut index = 0u32;
                image.retain(|_| {
                    let keep = removed.binary_search(&index).is_err();
                    index += 1;
                    keep
                });
            }
        }
        (change, routing)
    }
}

/// What the chain's composed mapping makes of a table.
fn published_table(schema: &Arc<TableSchema>, mapping: Option<roles::TableMapping>) -> PublishedTable {
    let Some(mapping) = mapping else {
        return PublishedTable {
            renamed: None,
            topic: None,
            object_name: None,
            key_columns: None,
        };
    };
    let renamed = (!mapping.column_names.is_empty()).then(|| {
        let mut table = TableSchema::clone(schema);
        for (index, name) in &mapping.column_names {
            if let Some(column) = table.columns.get_mut(*index as usize) {
                column.name = name.clone();
            }
        }
        Arc::new(table)
    });
    let column_count = schema.columns.len();
    PublishedTable {
        renamed,
        topic: mapping.topic.map(Arc::from),
        object_name: mapping
            .object_name
            .map(|name| Arc::from(format!("{}.{}", name.database, name.table))),
        key_columns: mapping.key_columns.map(|columns| {
            columns
                .into_iter()
                .map(|index| index as usize)
                .filter(|&index| index < column_count)
                .collect()
        }),
    }
}

/// The table without the given columns (sorted indexes); its key loses them too.
fn without_columns(table: &TableSchema, removed: &[u32]) -> TableSchema {
    let kept: Vec<usize> = (0..table.columns.len())
        .filter(|index| removed.binary_search(&(*index as u32)).is_err())
        .collect();
    let position = |old: usize| kept.iter().position(|&index| index == old);
    TableSchema {
        name: table.name.clone(),
        columns: kept.iter().map(|&index| table.columns[index].clone()).collect(),
        primary_key: table.primary_key.iter().filter_map(|&old| position(old)).collect(),
        key_name: table.key_name.clone(),
    }
}

type Slots = Vec<Result<Working, Commit>>;

fn kept(slot: &Result<Working, Commit>) -> Option<&Working> {
    slot.as_ref().ok().filter(|working| matches!(working.fate, Fate::Kept))
}

/// The kept changes this plugin is shown: its tables, its operations, and (for `map-rows`) a test on
/// the table's state.
fn shown(link: &mut Link, slots: &Slots, table_test: impl Fn(&LinkTable) -> bool) -> Vec<usize> {
    let mut shown = Vec::with_capacity(slots.len());
    for (index, slot) in slots.iter().enumerate() {
        let Some(working) = kept(slot) else { continue };
        if !link.version.interest.wants_operation(&working.change) {
            continue;
        }
        let table = link.table(working.shape, &working.change.table);
        if table.wanted && table_test(table) {
            shown.push(index);
        }
    }
    shown
}

/// Fills `link.batch`, the contract's batch of the shown changes, for the link's current instance: the
/// table shapes it has not been shown yet, then each change's entry and carried values in the flat
/// layout (see `flat`). The batch's buffers are reused from the last call.
fn build_batch(link: &mut Link, slots: &Slots, shown: &[usize]) {
    let mut batch = std::mem::replace(
        &mut link.batch,
        wit::ChangeBatch {
            new_tables: Vec::new(),
            changes: Vec::new(),
            offsets: Vec::new(),
            data: Vec::new(),
        },
    );
    batch.new_tables.clear();
    batch.changes.clear();
    batch.offsets.clear();
    batch.data.clear();
    batch.changes.reserve(shown.len() * crate::plugin::flat::CHANGE_BYTES);
    let mut value_count = 0u32;
    for &index in shown {
        let Some(working) = kept(&slots[index]) else { continue };
        let change = &working.change;
        let Some(table) = link.tables[working.shape as usize].as_mut() else {
            unreachable!("`shown` looked the shown changes' tables up")
        };
        if !table.sent {
            table.sent = true;
            batch.new_tables.push(table.lowered.clone());
        }
        write_change(&mut batch.changes, working.shape, change.operation, value_count);
        for image in [&change.before, &change.after].into_iter().flatten() {
            for &column in &table.carried {
                batch
                    .offsets
                    .extend_from_slice(&(batch.data.len() as u32).to_le_bytes());
                let column = column as usize;
                write_value(&image[column], &change.table.columns[column], &mut batch.data);
                value_count += 1;
            }
        }
    }
    link.batch = batch;
}

type BatchCall<T> =
    for<'a> fn(
        &'a mut PluginInstance,
        &'a wit::ChangeBatch,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<T>, PluginError>> + Send + 'a>>;

/// Calls a batch role function over the shown changes. If the call fails and the plugin's policy is
/// not `halt`, calls again change by change (on a fresh instance after a trap) and returns, per
/// change, its answer or the error it failed with.
async fn call_batch<T>(
    link: &mut Link,
    slots: &Slots,
    shown: &[usize],
    (function, metrics): (&'static str, &Metrics),
    call: BatchCall<T>,
) -> Result<Vec<Result<T, String>>, PluginError> {
    build_batch(link, slots, shown);
    let started = Instant::now();
    let answer = call(&mut link.version.instance, &link.batch).await;
    let error = answer.as_ref().err();
    metrics
        .plugins
        .called(link.name(), function, shown.len(), started.elapsed(), error);
    let error = match answer {
        Ok(answers) => return Ok(answers.into_iter().map(Ok).collect()),
        Err(error) => error,
    };
    // The instance may not have kept the shapes the failed batch showed it.
    link.resend_tables();
    if !error.is_call_failure() || *link.policy() == FailurePolicy::Halt {
        return Err(error);
    }
    tracing::warn!(
        plugin = link.name(),
        "{error}; calling it change by change to find the changes it fails on"
    );
    if matches!(error, PluginError::Trapped { .. }) {
        Box::pin(link.reinstantiate()).await?;
    }
    let mut answers = Vec::with_capacity(shown.len());
    for &index in shown {
        build_batch(link, slots, &[index]);
        let started = Instant::now();
        let answer = call(&mut link.version.instance, &link.batch).await;
        metrics
            .plugins
            .called(link.name(), function, 1, started.elapsed(), answer.as_ref().err());
        match answer {
            Ok(mut one) => answers.push(Ok(one.pop().expect("one answer for one change"))),
            Err(error) if error.is_call_failure() => {
                link.resend_tables();
                if matches!(error, PluginError::Trapped { .. }) {
                    Box::pin(link.reinstantiate()).await?;
                }
                answers.push(Err(error.to_string()));
            }
            Err(error) => return Err(error),
        }
    }
    Ok(answers)
}

/// Applies the plugin's failure policy to a change it failed on.
fn fail_change(link: &Link, working: &mut Working, error: String, metrics: &Metrics) {
    match link.policy() {
        FailurePolicy::Halt => unreachable!("halting plugins fail the batch"),
        FailurePolicy::Skip => {
            tracing::warn!(
                plugin = link.name(),
                table = %working.change.table.name,
                position = %working.change.position,
                "change skipped: {error}"
            );
            metrics.plugins.failed(link.name(), "skip");
            working.fate = Fate::Dropped;
        }
        FailurePolicy::DeadLetter { topic } => {
            tracing::warn!(
                plugin = link.name(),
                table = %working.change.table.name,
                position = %working.change.position,
                topic = %topic,
                "change sent to the dead-letter topic: {error}"
            );
            metrics.plugins.failed(link.name(), "dead_letter");
            working.fate = Fate::DeadLettered(Box::new((link.name().to_owned(), error)));
        }
    }
}

fn working_mut(slots: &mut Slots, index: usize) -> &mut Working {
    match &mut slots[index] {
        Ok(working) => working,
        Err(_) => unreachable!("a shown change is a row"),
    }
}

async fn run_filter(
    link: &mut Link,
    slots: &mut Slots,
    keep_originals: bool,
    metrics: &Metrics,
) -> Result<(), PluginError> {
    let shown = shown(link, slots, |_| true);
    if shown.is_empty() {
        return Ok(());
    }
    let verdicts = call_batch(link, slots, &shown, ("filter", metrics), |instance, batch| {
        Box::pin(instance.filter(batch))
    })
    .await?;
    let mut lifted = LiftedEdits::default();
    for (index, verdict) in shown.into_iter().zip(verdicts) {
        let working = working_mut(slots, index);
        match verdict {
            Err(error) => fail_change(link, working, error, metrics),
            Ok(FilterVerdict::Keep) => {}
            Ok(FilterVerdict::Drop) => working.fate = Fate::Dropped,
            Ok(FilterVerdict::KeepMasked(masks)) => {
                if keep_originals && working.original.is_none() {
                    working.original = Some(Box::new(working.change.clone()));
                }
                let edits = lifted.of(&masks, working.shape, &working.change.table);
                apply_edits(working, edits);
            }
        }
    }
    Ok(())
}

/// A filter's column edit, its value lifted into the column's own terms.
enum Edit {
    Remove(u32),
    Replace(usize, ColumnValue),
}

/// The edit sets of one answer, lifted once per set and table shape rather than once per change.
#[derive(Default)]
struct LiftedEdits {
    /// By (edit set address, table shape); an answer has few of each.
    lifted: Vec<((usize, u32), Vec<Edit>)>,
}

impl LiftedEdits {
    fn of(&mut self, masks: &Arc<[roles::MaskedColumn]>, shape: u32, table: &TableSchema) -> &[Edit] {
        let key = (masks.as_ptr() as usize, shape);
        let position = match self.lifted.iter().position(|(known, _)| *known == key) {
            Some(position) => position,
            None => {
                self.lifted.push((key, lift_edits(masks, table)));
                self.lifted.len() - 1
            }
        };
        &self.lifted[position].1
    }
}

/// The edits that apply to `table`: those naming a column it has.
fn lift_edits(masks: &[roles::MaskedColumn], table: &TableSchema) -> Vec<Edit> {
    masks
        .iter()
        .filter(|mask| (mask.column as usize) < table.columns.len())
        .map(|mask| match &mask.edit {
            roles::ColumnEdit::Remove => Edit::Remove(mask.column),
            roles::ColumnEdit::Replace(value) => {
                let index = mask.column as usize;
                Edit::Replace(index, lift_value(value.clone(), &table.columns[index]))
            }
        })
        .collect()
}

fn apply_edits(working: &mut Working, edits: &[Edit]) {
    for edit in edits {
        match edit {
            Edit::Remove(column) => working.removed.push(*column),
            Edit::Replace(index, value) => {
                let change = &mut working.change;
                for image in [&mut change.before, &mut change.after].into_iter().flatten() {
                    // NULL carries nothing to hide, and replacing it would invent a value.
                    if !matches!(image[*index], ColumnValue::Null) {
                        replace_value(&mut image[*index], value);
                    }
                }
            }
        }
    }
}

/// `*slot = value.clone()`, reusing the slot's allocation where both hold bytes (a masked text
/// replacing a text, the usual case), so that masking allocates and frees nothing per change.
fn replace_value(slot: &mut ColumnValue, value: &ColumnValue) {
    match (slot, value) {
        (ColumnValue::Text(old), ColumnValue::Text(new)) | (ColumnValue::Bytes(old), ColumnValue::Bytes(new)) => {
            old.clone_from(new)
        }
        (ColumnValue::Decimal(old), ColumnValue::Decimal(new))
        | (ColumnValue::Label(old), ColumnValue::Label(new))
        | (ColumnValue::Json(old), ColumnValue::Json(new)) => old.clone_from(new),
        (slot, value) => *slot = value.clone(),
    }
}

fn no_mapping() -> roles::TableMapping {
    roles::TableMapping {
        topic: None,
        object_name: None,
        column_names: Vec::new(),
        key_columns: None,
        per_row: false,
    }
}

/// A later plugin's table mapping over an earlier one: what it leaves `none` stays.
fn compose(previous: roles::TableMapping, later: roles::TableMapping) -> roles::TableMapping {
    let mut column_names = previous.column_names;
    for (index, name) in later.column_names {
        column_names.retain(|(known, _)| *known != index);
        column_names.push((index, name));
    }
    roles::TableMapping {
        topic: later.topic.or(previous.topic),
        object_name: later.object_name.or(previous.object_name),
        column_names,
        key_columns: later.key_columns.or(previous.key_columns),
        per_row: later.per_row,
    }
}

async fn run_mapping(
    links: &mut [Link],
    index: usize,
    slots: &mut Slots,
    metrics: &Metrics,
) -> Result<(), PluginError> {
    let (earlier, rest) = links.split_at_mut(index);
    let link = &mut rest[0];
    // Once per table shape: the table's mapping.
    let mut failed_tables: Vec<(u32, String)> = Vec::new();
    for slot in slots.iter() {
        let Some(working) = kept(slot) else { continue };
        let shape = working.shape;
        let table = link.table(shape, &working.change.table);
        if !table.wanted || table.mapping.is_some() || failed_tables.iter().any(|(known, _)| *known == shape) {
            continue;
        }
        let lowered = table.lowered.clone();
        let previous = earlier
            .iter()
            .rev()
            .find_map(|before| before.mapping(shape).cloned())
            .unwrap_or_else(no_mapping);
        let started = Instant::now();
        let answer = Box::pin(link.version.instance.map_table(&lowered, &previous)).await;
        metrics
            .plugins
            .called(link.name(), "map_table", 0, started.elapsed(), answer.as_ref().err());
        match answer {
            Ok(mapping) => link.table(shape, &working.change.table).mapping = Some(compose(previous, mapping)),
            Err(error) if error.is_call_failure() && *link.policy() != FailurePolicy::Halt => {
                if matches!(error, PluginError::Trapped { .. }) {
                    Box::pin(link.reinstantiate()).await?;
                }
                failed_tables.push((shape, error.to_string()));
            }
            Err(error) => return Err(error),
        }
    }
    for (shape, error) in failed_tables {
        for slot_index in 0..slots.len() {
            let fails = kept(&slots[slot_index]).is_some_and(|working| working.shape == shape);
            if fails {
                fail_change(link, working_mut(slots, slot_index), error.clone(), metrics);
            }
        }
    }
    // Per row, for the tables that asked for it (usually none: then there is nothing to walk).
    let per_row = |table: &LinkTable| table.mapping.as_ref().is_some_and(|mapping| mapping.per_row);
    if !link.tables.iter().flatten().any(per_row) {
        return Ok(());
    }
    let shown = shown(link, slots, |table| {
        table.mapping.as_ref().is_some_and(|mapping| mapping.per_row)
    });
    if shown.is_empty() {
        return Ok(());
    }
    let answers = call_batch(link, slots, &shown, ("map_rows", metrics), |instance, batch| {
        Box::pin(instance.map_rows(batch))
    })
    .await?;
    for (index, answer) in shown.into_iter().zip(answers) {
        let working = working_mut(slots, index);
        match answer {
            Err(error) => fail_change(link, working, error, metrics),
            Ok(row) => {
                if row.topic.is_none() && row.key.is_none() && row.partition.is_none() {
                    continue;
                }
                let chosen = working.row.get_or_insert_with(|| {
                    Box::new(roles::RowMapping {
                        topic: None,
                        key: None,
                        partition: None,
                    })
                });
                if row.topic.is_some() {
                    chosen.topic = row.topic;
                }
                if row.key.is_some() {
                    chosen.key = row.key;
                }
                if row.partition.is_some() {
                    chosen.partition = row.partition;
                }
            }
        }
    }
    Ok(())
}

/// A table shape's key in the chain's caches: the address of its `Arc`.
fn address(schema: &Arc<TableSchema>) -> usize {
    Arc::as_ptr(schema) as usize
}

/// Maps keyed by [`address`], looked up several times per change: addresses are unique already, so
/// one multiplication spreads them, where the default SipHash showed up in profiles.
type AddressMap<V> = HashMap<usize, V, BuildHasherDefault<AddressHasher>>;

#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte) ^ self.0.rotate_left(8));
        }
    }

    fn write_u64(&mut self, value: u64) {
        let spread = value.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = spread ^ (spread >> 32);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}
