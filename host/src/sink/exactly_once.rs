//! Exactly-once delivery on any Kafka-protocol broker, without Kafka transactions.
//!
//! # How
//! Every message carries its [`StreamPoint`] in its DTS record: `sourcePosition`, read as a binlog row
//! unless `tags` marks the record `snapshot`. (Not in a Kafka header: the local broker, tansu, stores
//! headers so that fetching a topic whose every message has one took 20–30 s per megabyte.) Every
//! message goes to a partition sluice computes itself ([`super::partitioner`]), so a change goes to
//! the same partition on every run. The idempotent producer keeps each partition in send order without gaps: if a partition holds
//! a message, it holds every earlier message that sluice sent to it.
//!
//! After a restart the pipeline replays the stream from the checkpoint, which may be behind what
//! Kafka already holds (the acknowledgements of the last moments before a crash never reached the
//! checkpoint). Before the first message goes to a topic, [`read_tails`] reads the last message of
//! each of its partitions and keeps its point. A binlog row whose point the tail of its partition
//! covers is already there and is skipped; the first row past the tail ends the skipping for that
//! partition, since everything after it in the stream is later still. The two records of an UPDATE
//! that changed the key (often in two partitions) each have their own point, ordered within the row
//! (`#row.0`, `#row.1`), so each is skipped or sent on its own.
//!
//! # Limits (documented in the README)
//! - Snapshot rows are re-sent, never skipped: a chunk read again after a crash may hold other rows
//!   than the first read, so a point cannot say which of them a partition already has. Snapshot
//!   rows are idempotent upserts by key, and the final state stays exact.
//! - Positions are file/offset positions of one server: after a failover to another server, the
//!   first resume is at-least-once.
//! - One pipeline per topic: the tails are assumed to be this pipeline's messages.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use apache_avro::types::Value;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::encode::dts_avro;
use crate::sink::SinkError;
use crate::source::position::StreamPoint;

/// How many messages at the end of a partition are searched for a sluice record.
const TAIL_WINDOW: i64 = 256;

/// How long reading one partition's tail may take before the broker is deemed unreachable.
const TAIL_TIMEOUT: Duration = Duration::from_secs(30);

/// The last point each partition of the topics sent to so far holds, while replaying behind it.
#[derive(Debug, Default)]
pub struct WrittenTails {
    /// topic → partition → the point of its last sluice message. A partition leaves the map once
    /// the stream passed its tail.
    tails: HashMap<String, HashMap<i32, StreamPoint>>,
}

impl WrittenTails {
    /// Adds what a topic's partitions hold.
    pub fn insert_topic(&mut self, topic: &str, tails: Vec<(i32, StreamPoint)>) {
        if !tails.is_empty() {
            self.tails.insert(topic.to_owned(), tails.into_iter().collect());
        }
    }

    /// Whether the binlog record at `record`, bound for `partition` of `topic`, is already there
    /// (never, for a snapshot row).
    pub fn already_written(&mut self, topic: &str, partition: i32, record: &StreamPoint) -> bool {
        // Steady state (at-least-once, or exactly-once once caught up): no lookup at all.
        if self.tails.is_empty() {
            return false;
        }
        let Some(partitions) = self.tails.get_mut(topic) else {
            return false;
        };
        let Some(tail) = partitions.get(&partition) else {
            return false;
        };
        if tail.covers(record) {
            return true;
        }
        if matches!(record, StreamPoint::Before(_)) {
            return false;
        }
        partitions.remove(&partition);
        if partitions.is_empty() {
            self.tails.remove(topic);
        }
        false
    }
}

/// Reads the point of the last sluice message in each partition of `topic` (partitions without one
/// are left out). Blocking: call it off the async runtime.
pub fn read_tails(
    consumer_config: &ClientConfig,
    topic: &str,
    partitions: i32,
) -> Result<Vec<(i32, StreamPoint)>, SinkError> {
    let tail_error = |detail: String| SinkError::ReadTail {
        topic: topic.to_owned(),
        detail,
    };
    let consumer: BaseConsumer = consumer_config
        .create()
        .map_err(|error| tail_error(error.to_string()))?;
    let mut tails = Vec::new();
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, TAIL_TIMEOUT)
            .map_err(|error| tail_error(format!("partition {partition}: {error}")))?;
        if high <= low {
            continue;
        }
        let start = low.max(high - TAIL_WINDOW);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, partition, Offset::Offset(start))
            .map_err(|error| tail_error(error.to_string()))?;
        consumer
            .assign(&assignment)
            .map_err(|error| tail_error(error.to_string()))?;
        let mut last = None;
        let deadline = Instant::now() + TAIL_TIMEOUT;
        loop {
            if Instant::now() > deadline {
                return Err(tail_error(format!(
                    "partition {partition}: its last messages did not arrive within {TAIL_TIMEOUT:?}"
                )));
            }
            match consumer.poll(Duration::from_millis(500)) {
                None => continue,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                Some(Err(error)) => return Err(tail_error(format!("partition {partition}: {error}"))),
                Some(Ok(message)) => {
                    let point = message.payload().and_then(stream_point_of_record);
                    if point.is_some() {
                        last = point;
                    }
                    if message.offset() >= high - 1 {
                        break;
                    }
                }
            }
        }
        match last {
            Some(point) => tails.push((partition, point)),
            None => tracing::warn!(
                topic,
                partition,
                "no sluice record among the partition's last {TAIL_WINDOW} messages: exactly-once \
                 delivery cannot tell what it holds, so changes are re-sent to it"
            ),
        }
    }
    Ok(tails)
}

/// The stream point a DTS record of sluice's marks; `None` for anything else.
pub fn stream_point_of_record(payload: &[u8]) -> Option<StreamPoint> {
    let Ok(Value::Record(fields)) = dts_avro::decode(payload) else {
        return None;
    };
    let field = |name: &str| fields.iter().find(|(field, _)| field == name).map(|(_, value)| value);
    let Some(Value::String(position)) = field("sourcePosition") else {
        return None;
    };
    let snapshot = matches!(field("tags"), Some(Value::Map(tags))
        if matches!(tags.get("snapshot"), Some(Value::String(flag)) if flag == "true"));
    match position.parse::<StreamPoint>().ok()? {
        StreamPoint::Row(row) if snapshot => Some(StreamPoint::Before(row.event)),
        point => Some(point),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_skipped_until_the_stream_passes_the_tail_of_their_partition() {
        let row = |text: &str| text.parse::<StreamPoint>().unwrap();
        let mut tails = WrittenTails::default();
        tails.insert_topic(
            "orders",
            vec![
                (0, "b.000001:500#1".parse().unwrap()),
                (1, "b.000001:300".parse().unwrap()),
            ],
        );
        assert!(tails.already_written("orders", 0, &row("b.000001:200#0")));
        assert!(tails.already_written("orders", 1, &row("b.000001:200#0")));
        assert!(!tails.already_written("other", 0, &row("b.000001:200#0")));
        assert!(tails.already_written("orders", 0, &row("b.000001:500#1")));
        assert!(!tails.already_written("orders", 0, &row("b.000001:500#2")));
        // Past the tail, the partition is done with: an earlier point is no longer compared.
        assert!(!tails.already_written("orders", 0, &row("b.000001:200#0")));
        assert!(!tails.already_written("orders", 1, &row("b.000001:300#0")));
        assert!(tails.tails.is_empty());
    }

    #[test]
    fn a_restart_between_the_halves_of_a_key_change_sends_only_the_insert() {
        let point = |text: &str| text.parse::<StreamPoint>().unwrap();
        let mut tails = WrittenTails::default();
        // The DELETE half reached partition 2; the INSERT half, bound for partition 0, did not.
        tails.insert_topic(
            "orders",
            vec![(2, point("b.000001:500#0.0")), (0, point("b.000001:400#0"))],
        );
        assert!(tails.already_written("orders", 2, &point("b.000001:500#0.0")));
        assert!(!tails.already_written("orders", 0, &point("b.000001:500#0.1")));
        // A snapshot row is sent even behind a tail, and does not end the skipping.
        assert!(!tails.already_written("orders", 2, &point("b.000001:100")));
        assert!(tails.already_written("orders", 2, &point("b.000001:450#3")));
    }
}
