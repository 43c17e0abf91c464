//! `kafka.oversized_message`: what happens to a message larger than the producer accepts.
//!
//! librdkafka refuses, at send time, a message whose size on the wire exceeds the producer's
//! `message.max.bytes` (default 1,000,000 bytes; set it in `kafka.options`), with
//! `MSG_SIZE_TOO_LARGE`. The sink then applies the policy:
//! - `fail` (default): the pipeline stops with an error naming the table, the source position, the
//!   size and the limit; the checkpoint stays before the change, so nothing is skipped;
//! - `dead_letter`: the record without its column values ([`crate::encode::stripped`]) goes, under the
//!   original key, to `kafka.oversized_dead_letter_topic` with headers `sluice-error` (why) and
//!   `sluice-topic` (where it was going), and the stream moves on.
//!
//! A broker whose own limit is lower than the producer's refuses the message at delivery instead; that
//! fails the pipeline whatever the policy (the acknowledger cannot re-route a message already sent), so
//! keep the producer's `message.max.bytes` at or below the broker's.

use std::collections::BTreeMap;

use rdkafka::message::{Header, OwnedHeaders};

use crate::config::OversizedPolicy;
use crate::encode::OutMessage;
use crate::encode::stripped::{RecordHeader, without_values};
use crate::sink::SinkError;

/// librdkafka's default `message.max.bytes`.
const LIBRDKAFKA_DEFAULT_MESSAGE_MAX_BYTES: u64 = 1_000_000;

/// The producer's `message.max.bytes`, as configured or librdkafka's default.
pub fn producer_limit(options: &BTreeMap<String, String>) -> u64 {
    options
        .get("message.max.bytes")
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(LIBRDKAFKA_DEFAULT_MESSAGE_MAX_BYTES)
}

/// The policy and the limit it enforces.
#[derive(Debug, Clone)]
pub struct Oversized {
    policy: OversizedPolicy,
    limit: u64,
}

impl Oversized {
    pub fn new(policy: OversizedPolicy, limit: u64) -> Self {
        Self { policy, limit }
    }

    /// For a message the producer refused as too large: the error that stops the pipeline (`fail`), or
    /// the dead-letter message and its headers to send instead (`dead_letter`).
    pub fn handle(&self, message: &OutMessage) -> Result<(OutMessage, OwnedHeaders), SinkError> {
        let header = RecordHeader::read(&message.payload);
        let size = message.payload.len() + message.key.as_ref().map_or(0, Vec::len);
        let refused = || SinkError::Oversized {
            object: header
                .as_ref()
                .and_then(|header| header.object_name.clone())
                .unwrap_or_else(|| "?".into()),
            position: header
                .as_ref()
                .map_or_else(|| "?".into(), |header| header.source_position.clone()),
            size,
            limit: self.limit,
            topic: message.topic.to_string(),
        };
        let OversizedPolicy::DeadLetter { topic } = &self.policy else {
            return Err(refused());
        };
        let Some(payload) = without_values(&message.payload) else {
            return Err(refused());
        };
        let reason = format!(
            "record of {size} bytes for topic `{}` exceeds the producer's message.max.bytes = {}",
            message.topic, self.limit
        );
        tracing::warn!(
            object = header.as_ref().and_then(|header| header.object_name.as_deref()),
            position = header.as_ref().map(|header| header.source_position.as_str()),
            size,
            limit = self.limit,
            dead_letter_topic = %topic,
            "{reason}; publishing it without its column values to the dead-letter topic"
        );
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "sluice-error",
                value: Some(&reason),
            })
            .insert(Header {
                key: "sluice-topic",
                value: Some(message.topic.as_ref()),
            });
        let dead_letter = OutMessage::new(
            topic.as_str().into(),
            message.key.clone(),
            payload,
            message.position.clone(),
        );
        Ok((dead_letter, headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::dts_avro::DtsAvroEncoder;

    fn oversized_message() -> OutMessage {
        let mut encoder = DtsAvroEncoder::new("10.11.6-MariaDB");
        let payload = encoder.encode(3, &crate::encode::dts_avro::tests::sample()).unwrap();
        OutMessage::new(
            "orders".into(),
            Some(b"[1]".to_vec()),
            payload,
            "mysql-bin.000001:900#1".parse().unwrap(),
        )
    }

    #[test]
    fn fail_names_the_table_position_size_and_limit() {
        let message = oversized_message();
        let error = Oversized::new(OversizedPolicy::Fail, 100)
            .handle(&message)
            .unwrap_err()
            .to_string();
        let size = message.payload.len() + 3;
        for part in [
            "`shop.orders`",
            "mysql-bin.000001:900#1",
            &format!("{size} bytes"),
            "message.max.bytes = 100",
            "oversized_message",
        ] {
            assert!(error.contains(part), "`{part}` missing from: {error}");
        }
    }

    #[test]
    fn dead_letter_keeps_the_key_and_says_why() {
        let message = oversized_message();
        let policy = OversizedPolicy::DeadLetter {
            topic: "too-big".into(),
        };
        let (dead_letter, headers) = Oversized::new(policy, 100).handle(&message).unwrap();
        assert_eq!(&*dead_letter.topic, "too-big");
        assert_eq!(dead_letter.key, message.key);
        assert!(dead_letter.payload.len() < message.payload.len());
        use rdkafka::message::Headers as _;
        let names: Vec<&str> = headers.iter().map(|header| header.key).collect();
        assert_eq!(names, ["sluice-error", "sluice-topic"]);
    }

    #[test]
    fn the_limit_is_the_configured_one_or_librdkafkas_default() {
        let mut options = BTreeMap::new();
        assert_eq!(producer_limit(&options), 1_000_000);
        options.insert("message.max.bytes".to_owned(), "2000000".to_owned());
        assert_eq!(producer_limit(&options), 2_000_000);
    }
}
