//! The checkpoint: the source position from which a restart resumes.
//!
//! Invariant: the file only ever names a transaction boundary whose every earlier message Kafka has
//! acknowledged. It is replaced atomically (write a temporary file, fsync, rename, fsync the
//! directory), so a crash leaves either the old or the new checkpoint, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use crate::source::gtid::GtidSet;
use crate::source::position::BinlogPosition;
use crate::source::snapshot::progress::SnapshotState;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint `{path}`: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("checkpoint `{path}` is damaged ({detail}); restore it, or delete it to start from source.start")]
    Damaged { path: PathBuf, detail: String },
    #[error("cannot write checkpoint `{path}`: {source}; check checkpoint.path and the disk")]
    Write { path: PathBuf, source: std::io::Error },
}

/// What the checkpoint file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Where to resume reading the binlog.
    pub position: BinlogPosition,
    /// The same point by GTID, when known: a restart resumes by it, on this server or a replica.
    pub gtid: Option<Arc<GtidSet>>,
    /// The DTS record id the next published record gets.
    pub next_record_id: i64,
    /// How far each table's snapshot got (tables never snapshotted are absent).
    pub snapshot: SnapshotState,
}

impl Checkpoint {
    /// The checkpoint's text form, as the file (and a Kafka checkpoint record) holds it.
    pub fn to_json(&self) -> String {
        let file = CheckpointFile {
            position: self.position.to_string(),
            gtid: self.gtid.as_ref().map(|gtid| gtid.to_string()),
            next_record_id: self.next_record_id,
            snapshot: self.snapshot.clone(),
        };
        serde_json::to_string_pretty(&file).expect("a checkpoint serialises")
    }

    /// Reads [`Checkpoint::to_json`]'s form back; the error says what is wrong with it.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let file: CheckpointFile = serde_json::from_str(text).map_err(|error| error.to_string())?;
        let position = file
            .position
            .parse()
            .map_err(|error: crate::source::position::ParsePositionError| error.to_string())?;
        let gtid = match file.gtid {
            Some(text) => Some(Arc::new(text.parse::<GtidSet>().map_err(|error| error.to_string())?)),
            None => None,
        };
        Ok(Checkpoint {
            position,
            gtid,
            next_record_id: file.next_record_id,
            snapshot: file.snapshot,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    position: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gtid: Option<String>,
    next_record_id: i64,
    #[serde(default)]
    snapshot: SnapshotState,
}

/// Reads and writes one checkpoint file.
#[derive(Debug, Clone)]
pub struct CheckpointStore {
    path: PathBuf,
}

impl CheckpointStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored checkpoint, or `None` when there is none yet.
    pub fn load(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(CheckpointError::Read {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        Checkpoint::from_json(&text)
            .map(Some)
            .map_err(|detail| CheckpointError::Damaged {
                path: self.path.clone(),
                detail,
            })
    }

    /// Replaces the stored checkpoint atomically.
    pub fn store(&self, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        replace_file_atomically(&self.path, &checkpoint.to_json()).map_err(|source| CheckpointError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

/// Replaces the file at `path` with `text` and a newline, so that a crash leaves the old or the new
/// content, never a mix: write a temporary file beside it, fsync, rename over, fsync the directory.
pub(crate) fn replace_file_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(directory)?;
    let mut temporary = path.to_path_buf().into_os_string();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    {
        let mut out = std::fs::File::create(&temporary)?;
        out.write_all(text.as_bytes())?;
        out.write_all(b"\n")?;
        out.sync_all()?;
    }
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_checkpoint_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path().join("state/checkpoint.json"));
        assert_eq!(store.load().unwrap(), None);
        let checkpoint = Checkpoint {
            position: BinlogPosition::new("mysql-bin.000002", 1234),
            gtid: Some(Arc::new("0-1-77,1-2-5".parse().unwrap())),
            next_record_id: 99,
            snapshot: SnapshotState::from([(
                "shop.orders".to_owned(),
                crate::source::snapshot::progress::TableProgress::After(vec![
                    crate::source::snapshot::progress::KeyValue::Int(7),
                ]),
            )]),
        };
        store.store(&checkpoint).unwrap();
        assert_eq!(store.load().unwrap(), Some(checkpoint.clone()));
        let later = Checkpoint {
            position: BinlogPosition::new("mysql-bin.000002", 5000),
            gtid: None,
            next_record_id: 120,
            snapshot: SnapshotState::new(),
        };
        store.store(&later).unwrap();
        assert_eq!(store.load().unwrap(), Some(later));
        assert!(!dir.path().join("state/checkpoint.json.tmp").exists());
    }

    #[test]
    fn a_damaged_checkpoint_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.json");
        std::fs::write(&path, "{\"position\": \"nope\", \"next_record_id\": 1}").unwrap();
        let error = CheckpointStore::new(&path).load().unwrap_err().to_string();
        assert!(error.contains("damaged") && error.contains("delete it"), "{error}");
    }
}
