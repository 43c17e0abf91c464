//! The sink: Kafka through rdkafka. `kafka` is the producer, `context` its librdkafka callbacks
//! (broker outages), `oversized` the policy for messages too large to publish, `partitioner` where
//! each message goes, `exactly_once` and `transactional` the two stronger delivery modes.

pub mod context;
pub mod exactly_once;
pub mod kafka;
pub mod oversized;
pub mod partitioner;
pub mod transactional;

/// Why the sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create the Kafka producer: {0}; check kafka.bootstrap_servers and kafka.options")]
    Create(rdkafka::error::KafkaError),
    #[error("Kafka did not acknowledge a message for topic `{topic}`: {error}; the source position was not advanced")]
    Delivery {
        topic: String,
        error: rdkafka::error::KafkaError,
    },
    #[error("topic `{topic}` does not exist; create it, or set kafka.create_topics = true")]
    MissingTopic { topic: String },
    #[error("cannot create topic `{topic}`: {detail}; create it by hand or check the broker's permissions")]
    CreateTopic { topic: String, detail: String },
    #[error(
        "cannot read what topic `{topic}` already holds, which exactly-once delivery needs before sending to it: {detail}"
    )]
    ReadTail { topic: String, detail: String },
    #[error("Kafka transaction failed while {doing}: {error}; the checkpoint stays at the last committed transaction")]
    Transaction {
        doing: &'static str,
        error: rdkafka::error::KafkaError,
    },
    #[error("the checkpoint committed to topic `{topic}` cannot be read: {detail}")]
    ReadCheckpoint { topic: String, detail: String },
    #[error(
        "a record of `{object}` at {position} is {size} bytes, more than the Kafka producer accepts \
         (message.max.bytes = {limit}) for topic `{topic}`; the checkpoint was not advanced. Raise \
         message.max.bytes in kafka.options (and the broker's and topic's limits), or set \
         kafka.oversized_message = \"dead_letter\""
    )]
    Oversized {
        object: String,
        position: String,
        size: usize,
        limit: u64,
        topic: String,
    },
    #[error("Kafka refused a message for topic `{topic}`: {error}")]
    Send {
        topic: String,
        error: rdkafka::error::KafkaError,
    },
}
