//! Hot reload: watch the plugin files, and prepare each new version off the hot path.
//!
//! A change to a plugin's file (written in place or renamed over it) is debounced, then the file is
//! compiled, instantiated and initialised by the same code as at startup (`chain::load_version`). A
//! version that fails any step is refused with a log line and a metric, and the running version keeps
//! running. A good one is handed to the chain, which swaps it in at the next transaction boundary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::Watcher;
use tokio::sync::mpsc;

use crate::config::PluginConfig;
use crate::metrics::Metrics;
use crate::plugin::chain::{LoadedVersion, load_version};
use crate::plugin::engine::{PluginEngine, content_hash};

/// A new version of the plugin at `index` in the chain, ready to swap in.
pub struct Reloaded {
    pub index: usize,
    pub version: LoadedVersion,
}

/// How long a file must be quiet before it is loaded: editors and `cp` write in several steps.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// The longest a file that never goes quiet delays its load.
const MAX_DEBOUNCE: Duration = Duration::from_secs(2);

/// Starts watching the files of the plugins configured with `reload`; `versions` are the content
/// hashes of the versions running now, by chain index. `None` when no plugin reloads, or when the
/// watch cannot be set up (logged; the plugins keep running without reload).
pub fn watch(
    engine: PluginEngine,
    configs: &[PluginConfig],
    versions: Vec<String>,
    metrics: Arc<Metrics>,
) -> Option<mpsc::Receiver<Reloaded>> {
    let watched: Vec<(usize, PluginConfig)> = configs
        .iter()
        .enumerate()
        .filter(|(_, config)| config.reload)
        .map(|(index, config)| (index, config.clone()))
        .collect();
    if watched.is_empty() {
        return None;
    }
    let (events_tx, events_rx) = mpsc::channel::<PathBuf>(256);
    let events_tx_initial = events_tx.clone();
    let files: Vec<PathBuf> = watched.iter().map(|(_, config)| config.path.clone()).collect();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Reading a file is not news (and reloading reads it); nor are other files in the directory
        // (a checkpoint rewritten every second, say).
        let writes = match event.kind {
            notify::EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => false,
            notify::EventKind::Create(_) | notify::EventKind::Modify(_) => true,
            notify::EventKind::Access(notify::event::AccessKind::Close(notify::event::AccessMode::Write)) => true,
            _ => false,
        };
        if !writes {
            return;
        }
        for path in event.paths {
            if files.iter().any(|file| same_file(&path, file)) {
                // A full queue already holds a reason to look; dropping more is harmless.
                let _ = events_tx.try_send(path);
            }
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::warn!("cannot watch plugin files, hot reload is off: {error}");
            return None;
        }
    };
    // A file replaced between its load and this watch has no event of its own: look once at every file.
    for (_, config) in &watched {
        let _ = events_tx_initial.try_send(config.path.clone());
    }
    let mut directories: Vec<PathBuf> = watched.iter().map(|(_, config)| directory_of(&config.path)).collect();
    directories.sort();
    directories.dedup();
    for directory in &directories {
        if let Err(error) = watcher.watch(directory, notify::RecursiveMode::NonRecursive) {
            tracing::warn!(directory = %directory.display(), "cannot watch plugin files, hot reload is off: {error}");
            return None;
        }
    }
    let (reloads_tx, reloads_rx) = mpsc::channel(watched.len());
    let running: HashMap<usize, String> = watched
        .iter()
        .map(|(index, _)| (*index, versions[*index].clone()))
        .collect();
    let task = ReloadTask {
        engine,
        watched,
        running,
        metrics,
        reloads: reloads_tx,
    };
    tokio::spawn(task.run(watcher, events_rx));
    Some(reloads_rx)
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

struct ReloadTask {
    engine: PluginEngine,
    watched: Vec<(usize, PluginConfig)>,
    /// The content hash of the newest version handed over (or loaded at startup), by chain index.
    running: HashMap<usize, String>,
    metrics: Arc<Metrics>,
    reloads: mpsc::Sender<Reloaded>,
}

impl ReloadTask {
    async fn run(mut self, _watcher: notify::RecommendedWatcher, mut events: mpsc::Receiver<PathBuf>) {
        loop {
            let first = tokio::select! {
                event = events.recv() => event,
                _ = self.reloads.closed() => return,
            };
            let Some(first) = first else { return };
            let mut touched = vec![first];
            // Wait until the files are quiet.
            let give_up = tokio::time::Instant::now() + MAX_DEBOUNCE;
            while tokio::time::Instant::now() < give_up {
                match tokio::time::timeout(DEBOUNCE, events.recv()).await {
                    Ok(Some(path)) => touched.push(path),
                    _ => break,
                }
            }
            let changed: Vec<(usize, PluginConfig)> = self
                .watched
                .iter()
                .filter(|(_, config)| touched.iter().any(|path| same_file(path, &config.path)))
                .cloned()
                .collect();
            for (index, config) in changed {
                if !self.reload(index, &config).await {
                    return;
                }
            }
        }
    }

    /// Loads one plugin's file again; false once the chain is gone.
    async fn reload(&mut self, index: usize, config: &PluginConfig) -> bool {
        let running = self.running.get(&index).cloned().unwrap_or_default();
        // A file rewritten with the same bytes (or only touched) is not a new version.
        if let Ok(bytes) = tokio::fs::read(&config.path).await
            && content_hash(&bytes) == running
        {
            return true;
        }
        match load_version(&self.engine, config).await {
            Ok(version) if version.code.version() == running => true,
            Ok(version) => {
                tracing::info!(
                    plugin = %config.name,
                    path = %config.path.display(),
                    from = %running,
                    to = version.code.version(),
                    "new plugin version loaded; it takes over at the next transaction boundary"
                );
                self.running.insert(index, version.code.version().to_owned());
                self.reloads.send(Reloaded { index, version }).await.is_ok()
            }
            Err(error) => {
                tracing::error!(
                    plugin = %config.name,
                    path = %config.path.display(),
                    running = %running,
                    "new plugin version refused, version {running} keeps running: {error}"
                );
                self.metrics.plugins.refused(&config.name);
                true
            }
        }
    }
}

/// Whether an event's path is the plugin's file (paths from the watcher are absolute).
fn same_file(event_path: &Path, plugin_path: &Path) -> bool {
    if event_path == plugin_path {
        return true;
    }
    let absolute = std::path::absolute(plugin_path).unwrap_or_else(|_| plugin_path.to_owned());
    event_path == absolute
        || event_path.file_name() == plugin_path.file_name() && event_path.parent() == absolute.parent()
}
