//! Encoding kept changes into Kafka messages: DTS Avro values and primary-key message keys; an UPDATE
//! that changed the key as a DELETE and an INSERT; heartbeat records on a schedule; records stripped of
//! their values for a dead-letter topic.

pub mod dts_avro;
pub mod heartbeat;
pub mod key;
pub mod key_change;
pub mod stripped;

use crate::change::{Origin, RowChange};
use crate::source::position::{BinlogPosition, RecordPosition, StreamPoint};

/// One Kafka message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    /// Shared by the messages of a table (or of the whole stream), not allocated per message.
    pub topic: std::sync::Arc<str>,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// The partition a plugin chose; `None` leaves it to the partitioner.
    pub partition: Option<i32>,
    /// What the partitioning policy hashed the message to (`None`: partition 0), when no plugin chose a
    /// partition. By default Kafka's murmur2 of the key (see [`crate::sink::partitioner`]).
    pub partition_hash: Option<u32>,
    /// Why a dead-lettered change failed; `None` for every other message.
    pub failure: Option<Box<FailureHeaders>>,
    /// Where the change sits in the source stream (also in the record's `sourcePosition`): what
    /// exactly-once delivery compares with a partition's tail.
    pub position: StreamPoint,
}

/// The headers of a dead-lettered message: which plugin failed on it, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureHeaders {
    pub plugin: String,
    pub error: String,
}

impl OutMessage {
    pub fn new(topic: std::sync::Arc<str>, key: Option<Vec<u8>>, payload: Vec<u8>, position: StreamPoint) -> Self {
        Self {
            topic,
            partition_hash: key.as_deref().map(crate::sink::partitioner::hash),
            key,
            payload,
            partition: None,
            failure: None,
            position,
        }
    }

    /// The stream point of a change: its own position for a binlog row, the point its chunk was read
    /// at for a snapshot row. Takes the position out of the change, which is done with once encoded.
    pub fn stream_point(change: &mut RowChange) -> StreamPoint {
        let position = std::mem::replace(
            &mut change.position,
            RecordPosition {
                event: BinlogPosition::new(String::new(), 0),
                row_index: 0,
            },
        );
        match change.origin {
            Origin::Binlog => StreamPoint::Row(position),
            Origin::Snapshot => StreamPoint::Before(position.event),
        }
    }
}

/// Why a change could not be encoded. Names the table and column to look at.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode a change of {object}: {detail}")]
pub struct EncodeError {
    pub object: String,
    pub detail: String,
}
