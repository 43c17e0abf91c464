//! Kafka transactions: the messages and the checkpoint, committed together.
//!
//! With `kafka.delivery = "transactional"` the producer has a `transactional.id`. Messages are sent
//! inside a transaction that stays open across source transactions; at a source commit, once
//! `checkpoint.interval_ms` has passed since the Kafka transaction began, the checkpoint as of that
//! commit is sent to `kafka.checkpoint_topic` (keyed by the transactional id) in the same transaction,
//! and the transaction is committed. A consumer reading with `isolation.level=read_committed` sees the
//! messages exactly when the checkpoint that covers them is committed, so after a crash (the open
//! transaction is aborted when the next incarnation registers the same id) the stream resumes at the
//! committed checkpoint and such a consumer sees every change once. The checkpoint file is rewritten
//! after each commit, as a copy for operators; on start the committed record in Kafka wins.
//!
//! The local test broker (tansu) has no transactions; this mode is tested against librdkafka's
//! in-process mock cluster.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::checkpoint::{Checkpoint, CheckpointStore};
use crate::config::KafkaConfig;
use crate::pipeline::{Outgoing, RunError};
use crate::sink::SinkError;
use crate::sink::context::SinkContext;
use crate::sink::kafka::{self, KafkaSink};

/// How long a transaction call may take before the broker is deemed unreachable.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// How many records at the end of the checkpoint topic are searched for this pipeline's latest.
const CHECKPOINT_WINDOW: i64 = 1000;

/// Runs a blocking transaction call on the producer off the async runtime.
async fn transaction_call(
    producer: &FutureProducer<SinkContext>,
    doing: &'static str,
    call: impl FnOnce(&FutureProducer<SinkContext>) -> rdkafka::error::KafkaResult<()> + Send + 'static,
) -> Result<(), SinkError> {
    let producer = producer.clone();
    tokio::task::spawn_blocking(move || call(&producer))
        .await
        .expect("a transaction call does not panic")
        .map_err(|error| SinkError::Transaction { doing, error })
}

/// Registers the transactional id (aborting what a previous incarnation left open), then replaces
/// the checkpoint file with the checkpoint last committed to Kafka, if there is one.
pub async fn prepare(sink: &KafkaSink, config: &KafkaConfig, store: &CheckpointStore) -> Result<(), RunError> {
    transaction_call(sink.producer(), "registering the transactional id", |producer| {
        producer.init_transactions(TRANSACTION_TIMEOUT)
    })
    .await?;
    let (consumer_config, topic, id) = (
        reader_config(config),
        config.checkpoint_topic.clone(),
        config.transactional_id.clone().unwrap_or_default(),
    );
    let committed = tokio::task::spawn_blocking(move || committed_checkpoint(&consumer_config, &topic, &id))
        .await
        .expect("reading the committed checkpoint does not panic")?;
    if let Some(checkpoint) = committed {
        tracing::info!(position = %checkpoint.position, topic = %config.checkpoint_topic, "resuming from the checkpoint committed to Kafka");
        store.store(&checkpoint)?;
    }
    Ok(())
}

fn reader_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = kafka::reader_config(config, "sluice-checkpoint-reader");
    client.set("isolation.level", "read_committed");
    client
}

/// The last checkpoint committed under `id` to partition 0 of `topic`; `None` if there is none (or no
/// such topic yet). Blocking.
fn committed_checkpoint(
    consumer_config: &ClientConfig,
    topic: &str,
    id: &str,
) -> Result<Option<Checkpoint>, SinkError> {
    let read_error = |detail: String| SinkError::ReadCheckpoint {
        topic: topic.to_owned(),
        detail,
    };
    let consumer: BaseConsumer = consumer_config
        .create()
        .map_err(|error| read_error(error.to_string()))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), TRANSACTION_TIMEOUT)
        .map_err(|error| read_error(error.to_string()))?;
    let exists = metadata
        .topics()
        .iter()
        .any(|listed| listed.name() == topic && listed.error().is_none() && !listed.partitions().is_empty());
    if !exists {
        return Ok(None);
    }
    let (low, high) = consumer
        .fetch_watermarks(topic, 0, TRANSACTION_TIMEOUT)
        .map_err(|error| read_error(error.to_string()))?;
    if high <= low {
        return Ok(None);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(low.max(high - CHECKPOINT_WINDOW)))
        .map_err(|error| read_error(error.to_string()))?;
    consumer
        .assign(&assignment)
        .map_err(|error| read_error(error.to_string()))?;
    let deadline = Instant::now() + TRANSACTION_TIMEOUT;
    let mut latest = None;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            None => continue,
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return Ok(latest),
            Some(Err(error)) => return Err(read_error(error.to_string())),
            Some(Ok(message)) => {
                if message.key() == Some(id.as_bytes()) {
                    let text = std::str::from_utf8(message.payload().unwrap_or_default())
                        .map_err(|error| read_error(error.to_string()))?;
                    latest = Some(Checkpoint::from_json(text).map_err(read_error)?);
                }
            }
        }
    }
    Err(read_error(format!(
        "its end did not arrive within {TRANSACTION_TIMEOUT:?}"
    )))
}

/// Sends what the encoder hands over inside Kafka transactions and commits the checkpoint with them.
pub struct Committer {
    sink: KafkaSink,
    checkpoint_topic: String,
    id: String,
    store: CheckpointStore,
    /// The checkpoint as of the last source commit handed over.
    checkpoint: Checkpoint,
    /// The checkpoint of the last committed Kafka transaction.
    committed: Checkpoint,
    /// When the open Kafka transaction began; `None` when none is open.
    open_since: Option<Instant>,
    interval: Duration,
}

impl Committer {
    pub fn new(
        sink: KafkaSink,
        config: &KafkaConfig,
        store: CheckpointStore,
        checkpoint: Checkpoint,
        interval: Duration,
    ) -> Self {
        Self {
            sink,
            checkpoint_topic: config.checkpoint_topic.clone(),
            id: config.transactional_id.clone().unwrap_or_default(),
            store,
            committed: checkpoint.clone(),
            checkpoint,
            open_since: None,
            interval,
        }
    }

    pub(crate) async fn run(mut self, mut input: mpsc::Receiver<Vec<Outgoing>>) -> Result<(), RunError> {
        self.sink.ensure_topic(&self.checkpoint_topic).await?;
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                batch = input.recv() => match batch {
                    Some(batch) => {
                        for outgoing in batch {
                            self.handle(outgoing).await?;
                        }
                    }
                    None => break,
                },
                // A quiet source still gets its last changes committed within about one interval.
                _ = ticker.tick() => {
                    let due = self.open_since.is_none_or(|since| since.elapsed() >= self.interval);
                    if due && self.checkpoint != self.committed {
                        self.commit().await?;
                    }
                }
            }
        }
        // Everything handed over ends at a source commit: commit it all.
        if self.checkpoint != self.committed {
            self.commit().await?;
        }
        tracing::info!(position = %self.committed.position, "last Kafka transaction committed");
        Ok(())
    }

    async fn handle(&mut self, outgoing: Outgoing) -> Result<(), RunError> {
        match outgoing {
            Outgoing::Message(message) => {
                self.begin().await?;
                // The transaction's commit waits for every message in it; the futures are not needed.
                let _ = self.sink.send(&message).await?;
            }
            Outgoing::Commit(mark) => {
                mark.apply_to(&mut self.checkpoint);
                if self.open_since.is_some_and(|since| since.elapsed() >= self.interval) {
                    self.commit().await?;
                }
            }
        }
        Ok(())
    }

    async fn begin(&mut self) -> Result<(), SinkError> {
        if self.open_since.is_none() {
            transaction_call(self.sink.producer(), "beginning a transaction", |producer| {
                producer.begin_transaction()
            })
            .await?;
            self.open_since = Some(Instant::now());
        }
        Ok(())
    }

    /// Adds the checkpoint to the open transaction (opening one if needed) and commits it.
    async fn commit(&mut self) -> Result<(), RunError> {
        self.begin().await?;
        let text = self.checkpoint.to_json();
        let record = FutureRecord::to(&self.checkpoint_topic)
            .key(&self.id)
            .payload(&text)
            .partition(0);
        let delivery = self
            .sink
            .producer()
            .send_result(record)
            .map_err(|(error, _)| SinkError::Send {
                topic: self.checkpoint_topic.clone(),
                error,
            })?;
        drop(delivery);
        transaction_call(self.sink.producer(), "committing a transaction", |producer| {
            producer.commit_transaction(TRANSACTION_TIMEOUT)
        })
        .await?;
        self.open_since = None;
        self.committed = self.checkpoint.clone();
        self.store.store(&self.committed)?;
        Ok(())
    }
}
