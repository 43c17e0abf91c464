//! Publishing to Kafka: idempotent, ordered per partition, acknowledged by all in-sync replicas.
//!
//! The producer runs with `enable.idempotence=true` and `acks=all`, so librdkafka retries without
//! reordering or doubling within a partition. Each send returns a delivery future; the pipeline
//! awaits them in send order and advances the checkpoint only past commits whose every earlier
//! message was acknowledged.
//!
//! sluice picks each message's partition itself ([`partitioner`]), so a change goes to the same
//! partition on every run, which is what exactly-once delivery ([`exactly_once`]) builds on.
//!
//! A message larger than the producer accepts (`message.max.bytes`) follows `kafka.oversized_message`
//! (see [`crate::sink::oversized`]). Broker outages are logged once per state change
//! ([`crate::sink::context`]).

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use crate::config::{Delivery, KafkaConfig};
use crate::encode::OutMessage;
use crate::shutdown::Shutdown;
use crate::sink::context::{STATISTICS_INTERVAL_MS, SharedOutage, SinkContext};
use crate::sink::exactly_once::{self, WrittenTails};
use crate::sink::oversized::{self, Oversized};
use crate::sink::{SinkError, partitioner};

/// sluice's producer settings; `kafka.options` in the config overrides any of them.
const DEFAULT_PRODUCER_SETTINGS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "5"),
    ("batch.num.messages", "10000"),
    // Above `pipeline.max_in_flight` (default 20,000), which bounds what sluice hands librdkafka.
    ("queue.buffering.max.messages", "25000"),
    // Never give up on a message: the pipeline halts rather than skip one.
    ("message.timeout.ms", "0"),
    // Statistics tell the sink when a lost broker is back (see `sink::context`).
    ("statistics.interval.ms", STATISTICS_INTERVAL_MS),
];

/// A client of the configured brokers with their security (`[kafka.sasl]`, `[kafka.tls]`) and the
/// user's `kafka.options`, and none of sluice's producer settings: for metadata requests and readers.
/// Every Kafka client sluice makes starts from this.
pub fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.bootstrap_servers);
    config.security.apply_to(&mut client);
    for (key, value) in &config.options {
        client.set(key, value);
    }
    client
}

/// A consumer that reads assigned partitions to their end once, in group `group`, committing nothing.
pub fn reader_config(config: &KafkaConfig, group: &str) -> ClientConfig {
    let mut client = client_config(config);
    client
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true");
    client
}

pub struct KafkaSink {
    producer: FutureProducer<SinkContext>,
    admin: AdminClient<SinkContext>,
    outage: SharedOutage,
    oversized: Oversized,
    create_topics: bool,
    topic_partitions: i32,
    topic_replication: i32,
    delivery: Delivery,
    /// What reading a topic's tails connects with: the bootstrap servers and the user's options.
    tail_reader_config: ClientConfig,
    /// Topics known to exist, with their partition counts.
    partitions: HashMap<String, i32>,
    /// What the partitions hold, while a restarted exactly-once stream replays behind it.
    tails: WrittenTails,
    /// Changes skipped because their partition already holds them, since the last report.
    skipped: u64,
}

impl KafkaSink {
    pub fn new(config: &KafkaConfig) -> Result<Self, SinkError> {
        let mut client = client_config(config);
        for (key, value) in DEFAULT_PRODUCER_SETTINGS {
            client.set(*key, *value);
        }
        if let Some(id) = &config.transactional_id {
            client.set("transactional.id", id);
        }
        // The user's options win over sluice's producer settings.
        for (key, value) in &config.options {
            client.set(key, value);
        }
        let outage = SharedOutage::new(&config.bootstrap_servers);
        let producer: FutureProducer<SinkContext> = client
            .create_with_context(SinkContext::new(outage.clone()))
            .map_err(SinkError::Create)?;
        let admin: AdminClient<SinkContext> = client
            .create_with_context(SinkContext::new(outage.clone()))
            .map_err(SinkError::Create)?;
        let oversized = Oversized::new(config.oversized.clone(), oversized::producer_limit(&config.options));
        let tail_reader_config = reader_config(config, "sluice-tail-reader");
        Ok(Self {
            producer,
            admin,
            outage,
            oversized,
            create_topics: config.create_topics,
            topic_partitions: config.topic_partitions,
            topic_replication: config.topic_replication,
            delivery: config.delivery,
            tail_reader_config,
            partitions: HashMap::new(),
            tails: WrittenTails::default(),
            skipped: 0,
        })
    }

    /// How many partitions the broker's metadata lists for `topic`; `None` if it has none.
    async fn partition_count(&self, topic: &str) -> Option<i32> {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .ok()?;
            metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
                .map(|t| t.partitions().len() as i32)
        })
        .await
        .ok()
        .flatten()
    }

    /// Makes sure `topic` exists before the first message goes to it, creating it if allowed, and
    /// returns its partition count. (A broker without automatic topic creation would otherwise hold
    /// the message forever.) In exactly-once delivery, also reads what its partitions already hold.
    pub async fn ensure_topic(&mut self, topic: &str) -> Result<i32, SinkError> {
        if let Some(&partitions) = self.partitions.get(topic) {
            return Ok(partitions);
        }
        let partitions = match self.partition_count(topic).await {
            Some(partitions) => partitions,
            None => self.create_topic(topic).await?,
        };
        if self.delivery == Delivery::ExactlyOnce {
            let config = self.tail_reader_config.clone();
            let name = topic.to_owned();
            let tails = tokio::task::spawn_blocking(move || exactly_once::read_tails(&config, &name, partitions))
                .await
                .expect("reading a topic's tails does not panic")?;
            tracing::info!(
                topic,
                partitions_with_sluice_messages = tails.len(),
                "exactly-once: read the tail of each partition; changes already there will be skipped"
            );
            self.tails.insert_topic(topic, tails);
        }
        self.partitions.insert(topic.to_owned(), partitions);
        Ok(partitions)
    }

    /// Creates `topic`, if allowed, and waits until the broker lists it; returns its partition count.
    async fn create_topic(&mut self, topic: &str) -> Result<i32, SinkError> {
        if !self.create_topics {
            return Err(SinkError::MissingTopic {
                topic: topic.to_owned(),
            });
        }
        let new_topic = NewTopic::new(
            topic,
            self.topic_partitions,
            TopicReplication::Fixed(self.topic_replication),
        );
        let results = self
            .admin
            .create_topics(
                &[new_topic],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
            )
            .await
            .map_err(|error| SinkError::CreateTopic {
                topic: topic.to_owned(),
                detail: error.to_string(),
            })?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(SinkError::CreateTopic {
                        topic: topic.to_owned(),
                        detail: code.to_string(),
                    });
                }
            }
        }
        let mut waited = Duration::ZERO;
        loop {
            if let Some(partitions) = self.partition_count(topic).await {
                tracing::info!(topic, partitions, "created topic");
                return Ok(partitions);
            }
            if waited > Duration::from_secs(30) {
                return Err(SinkError::CreateTopic {
                    topic: topic.to_owned(),
                    detail: "the broker accepted the request but the topic did not appear within 30 s".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += Duration::from_millis(100);
        }
    }

    /// Waits until a broker answers a metadata request, with capped backoff. False on shutdown.
    pub async fn wait_until_reachable(&self, shutdown: &mut Shutdown) -> bool {
        let mut backoff = Duration::from_millis(200);
        loop {
            let producer = self.producer.clone();
            let answer = tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(None, Duration::from_secs(5))
                    .map(|_| ())
            })
            .await;
            match answer {
                Ok(Ok(())) => {
                    self.outage.lock().restored();
                    return true;
                }
                Ok(Err(error)) => {
                    self.outage.lock().failed(&error, Some(backoff));
                }
                Err(error) => tracing::warn!("Kafka metadata request failed: {error}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait() => return false,
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Hands one message to the producer; waits while its queue is full. `None` when exactly-once
    /// delivery found the message already in its partition, so nothing was sent. A message the producer
    /// refuses as too large follows `kafka.oversized_message`.
    pub async fn send(&mut self, message: &OutMessage) -> Result<Option<DeliveryFuture>, SinkError> {
        let partition = self.partition_of(message).await?;
        if self.tails.already_written(&message.topic, partition, &message.position) {
            self.skipped += 1;
            return Ok(None);
        }
        if self.skipped > 0 {
            tracing::info!(
                topic = %message.topic,
                partition,
                skipped = self.skipped,
                "exactly-once: caught up with what the partitions held; skipped changes already there"
            );
            self.skipped = 0;
        }
        let headers = message.failure.as_ref().map(|failure| {
            OwnedHeaders::new()
                .insert(Header {
                    key: "sluice-plugin",
                    value: Some(&failure.plugin),
                })
                .insert(Header {
                    key: "sluice-error",
                    value: Some(&failure.error),
                })
        });
        match self.send_with(message, partition, headers).await {
            Err(SinkError::Send {
                error: KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
                ..
            }) => {
                let (dead_letter, headers) = self.oversized.handle(message)?;
                let partition = self.partition_of(&dead_letter).await?;
                self.send_with(&dead_letter, partition, Some(headers)).await.map(Some)
            }
            sent => sent.map(Some),
        }
    }

    /// The partition `message` goes to: a plugin's choice, else the partitioner's. Makes sure its topic
    /// exists first.
    async fn partition_of(&mut self, message: &OutMessage) -> Result<i32, SinkError> {
        let partitions = self.ensure_topic(&message.topic).await?;
        Ok(partitioner::partition_of(message, partitions))
    }

    async fn send_with(
        &mut self,
        message: &OutMessage,
        partition: i32,
        headers: Option<OwnedHeaders>,
    ) -> Result<DeliveryFuture, SinkError> {
        loop {
            let mut record = FutureRecord::to(&message.topic)
                .payload(&message.payload)
                .partition(partition);
            if let Some(key) = &message.key {
                record = record.key(key);
            }
            if let Some(headers) = &headers {
                record = record.headers(headers.clone());
            }
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => {
                    return Err(SinkError::Send {
                        topic: message.topic.to_string(),
                        error,
                    });
                }
            }
        }
    }

    /// The producer, for transaction control.
    pub fn producer(&self) -> &FutureProducer<SinkContext> {
        &self.producer
    }

    /// Waits for every queued message to be delivered or fail.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!("Kafka flush did not finish: {error}");
        }
    }
}
