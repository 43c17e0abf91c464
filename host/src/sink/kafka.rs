//! Publishing to Kafka: idempotent, ordered per partition, acknowledged by all in-sync replicas.
//!
//! The producer runs with `enable.idempotence=true` and `acks=all`, so librdkafka retries without
//! reordering or doubling within a partition. Each send returns a delivery future; the pipeline
//! awaits them in send order and advances the checkpoint only past commits whose every earlier
//! message was acknowledged.
//!
//! A message larger than the producer accepts (`message.max.bytes`) follows `kafka.oversized_message`
//! (see [`crate::sink::oversized`]). Broker outages are logged once per state change
//! ([`crate::sink::context`]).

use std::collections::HashSet;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use crate::config::KafkaConfig;
use crate::encode::OutMessage;
use crate::shutdown::Shutdown;
use crate::sink::SinkError;
use crate::sink::context::{STATISTICS_INTERVAL_MS, SharedOutage, SinkContext};
use crate::sink::oversized::{self, Oversized};

/// sluice's producer settings; `kafka.options` in the config overrides any of them.
const DEFAULT_PRODUCER_SETTINGS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "5"),
    ("batch.num.messages", "10000"),
    ("queue.buffering.max.messages", "200000"),
    // Never give up on a message: the pipeline halts rather than skip one.
    ("message.timeout.ms", "0"),
    // Statistics tell the sink when a lost broker is back (see `sink::context`).
    ("statistics.interval.ms", STATISTICS_INTERVAL_MS),
];

pub struct KafkaSink {
    producer: FutureProducer<SinkContext>,
    admin: AdminClient<SinkContext>,
    outage: SharedOutage,
    oversized: Oversized,
    create_topics: bool,
    topic_partitions: i32,
    topic_replication: i32,
    /// Topics known to exist.
    known_topics: HashSet<String>,
}

impl KafkaSink {
    pub fn new(config: &KafkaConfig) -> Result<Self, SinkError> {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", &config.bootstrap_servers);
        for (key, value) in DEFAULT_PRODUCER_SETTINGS {
            client.set(*key, *value);
        }
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
        Ok(Self {
            producer,
            admin,
            outage,
            oversized,
            create_topics: config.create_topics,
            topic_partitions: config.topic_partitions,
            topic_replication: config.topic_replication,
            known_topics: HashSet::new(),
        })
    }

    /// Whether the broker's metadata lists `topic` with at least one partition.
    async fn topic_exists(&self, topic: &str) -> bool {
        let producer = self.producer.clone();
        let topic = topic.to_owned();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .map(|metadata| {
                    metadata
                        .topics()
                        .iter()
                        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    /// Makes sure `topic` exists before the first message goes to it, creating it if allowed.
    /// (A broker without automatic topic creation would otherwise hold the message forever.)
    pub async fn ensure_topic(&mut self, topic: &str) -> Result<(), SinkError> {
        if self.known_topics.contains(topic) {
            return Ok(());
        }
        if !self.topic_exists(topic).await {
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
            while !self.topic_exists(topic).await {
                if waited > Duration::from_secs(30) {
                    return Err(SinkError::CreateTopic {
                        topic: topic.to_owned(),
                        detail: "the broker accepted the request but the topic did not appear within 30 s".into(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                waited += Duration::from_millis(100);
            }
            tracing::info!(topic, partitions = self.topic_partitions, "created topic");
        }
        self.known_topics.insert(topic.to_owned());
        Ok(())
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

    /// Hands one message to the producer; waits while its queue is full. A message the producer refuses
    /// as too large follows `kafka.oversized_message`.
    pub async fn send(&mut self, message: &OutMessage) -> Result<DeliveryFuture, SinkError> {
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
        match self.send_with(message, headers).await {
            Err(SinkError::Send {
                error: KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge),
                ..
            }) => {
                let (dead_letter, headers) = self.oversized.handle(message)?;
                self.send_with(&dead_letter, Some(headers)).await
            }
            sent => sent,
        }
    }

    async fn send_with(
        &mut self,
        message: &OutMessage,
        headers: Option<OwnedHeaders>,
    ) -> Result<DeliveryFuture, SinkError> {
        self.ensure_topic(&message.topic).await?;
        loop {
            let mut record = FutureRecord::to(&message.topic).payload(&message.payload);
            if let Some(key) = &message.key {
                record = record.key(key);
            }
            if let Some(partition) = message.partition {
                record = record.partition(partition);
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

    /// Waits for every queued message to be delivered or fail.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!("Kafka flush did not finish: {error}");
        }
    }
}
