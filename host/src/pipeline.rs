//! Wiring the stages together. This module connects; the stages do the work.
//!
//! ```text
//! BinlogReader ──Vec<Change>──▶ PluginChain ──Vec<Routed>──▶ encoder ──Vec<Outgoing>──▶ KafkaSink
//!                                                                                       │ delivery futures
//!                                                                                       ▼ and commits
//!                                                                              acknowledger ──▶ checkpoint file
//! ```
//! Every arrow is a bounded channel, so a slow stage slows the ones before it and memory stays
//! bounded. Invariant: the checkpoint advances only to a commit's `resume_from`, and only after every
//! message sent before that commit was acknowledged by Kafka.
//!
//! Shutdown flows with the data: the reader stops, each stage drains what it holds and closes its
//! output, and the acknowledger writes a final checkpoint. A requested shutdown has
//! `pipeline.shutdown_timeout_ms` to drain; past it the acknowledger checkpoints what Kafka
//! acknowledged and fails with [`RunError::ShutdownTimeout`], and the stages still waiting are
//! aborted. A stage that fails closes its input, which stops everything upstream, while downstream
//! drains; nothing after the failure is checkpointed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;

use rdkafka::producer::DeliveryFuture;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::change::Change;
use crate::check::{self, Area, PrecheckFailed, Purpose};
use crate::checkpoint::{Checkpoint, CheckpointError, CheckpointStore};
use crate::config::{Config, Delivery, OnRename, SnapshotMode};
use crate::encode::dts_avro::DtsAvroEncoder;
use crate::encode::heartbeat::HeartbeatSchedule;
use crate::encode::{EncodeError, FailureHeaders, OutMessage, key, key_change};
use crate::metrics::Metrics;
use crate::metrics::endpoint::{Endpoint, EndpointError};
use crate::plugin::PluginError;
use crate::plugin::chain::{DdlRouting, PluginChain, Routed, RoutedChange, Routing};
use crate::plugin::engine::PluginEngine;
use crate::plugin::recorded::Recorder;
use crate::shutdown::{self, Shutdown};
use crate::sink::SinkError;
use crate::sink::kafka::KafkaSink;
use crate::sink::partitioner::RowHasher;
use crate::sink::transactional;
use crate::source::SourceError;
use crate::source::binlog::BinlogReader;
use crate::source::binlog::SnapshotHandoff;
use crate::source::connect::{connect_with_retry, metadata_pool};
use crate::source::gtid::GtidSet;
use crate::source::position::{BinlogPosition, KeyChangeHalf, StreamPoint};
use crate::source::preconditions::ServerSettings;
use crate::source::schema::SchemaCatalog;
use crate::source::schema_baseline::record_baseline;
use crate::source::schema_history::SchemaHistory;
use crate::source::snapshot::coordinator::SnapshotCoordinator;
use crate::source::snapshot::progress::{ProgressUpdate, TableProgress, apply as apply_progress};
use crate::start::starting_checkpoint;

/// Why the daemon stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Metrics(#[from] EndpointError),
    /// A check of the precheck failed before streaming (its area chooses the exit code).
    #[error(transparent)]
    Precheck(#[from] PrecheckFailed),
    #[error("cannot create the record file `{path}` (given with --record): {source}")]
    Record {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "shutdown did not finish within pipeline.shutdown_timeout_ms = {timeout_ms}: {unacknowledged} messages \
         were not acknowledged by Kafka{upstream}; the checkpoint stays at {position}, the last transaction \
         whose every message was acknowledged, so a restart sends the rest again"
    )]
    ShutdownTimeout {
        timeout_ms: u128,
        unacknowledged: usize,
        /// Empty, or what else was still on its way to Kafka.
        upstream: &'static str,
        position: BinlogPosition,
    },
}

/// The end of a source transaction, as the acknowledger applies it to the checkpoint.
pub(crate) struct CommitMark {
    position: BinlogPosition,
    gtid: Option<Arc<GtidSet>>,
    next_record_id: i64,
    progress: Vec<ProgressUpdate>,
}

impl CommitMark {
    /// Moves `checkpoint` past this transaction.
    pub(crate) fn apply_to(self, checkpoint: &mut Checkpoint) {
        checkpoint.position = self.position;
        if self.gtid.is_some() {
            checkpoint.gtid = self.gtid;
        }
        checkpoint.next_record_id = self.next_record_id;
        for update in &self.progress {
            apply_progress(&mut checkpoint.snapshot, update);
        }
    }
}

/// Sent messages waiting to reach the acknowledger.
const PENDING_CHANNEL_CAPACITY: usize = 1024;

/// What the encoder hands to the sink.
pub(crate) enum Outgoing {
    Message(OutMessage),
    Commit(CommitMark),
}

/// What the sink hands to the acknowledger, in send order.
enum Pending {
    Delivery {
        topic: Arc<str>,
        delivery: DeliveryFuture,
    },
    Commit(CommitMark),
    /// The producer, once nothing more will be sent: kept alive until every delivery was awaited.
    Producer(Box<KafkaSink>),
}

/// Runs the pipeline until `shutdown` fires (returns `Ok`) or a stage fails.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), RunError> {
    run_with_reloads(config, shutdown, None).await
}

/// [`run`], also applying the configs that arrive on `reloads` (SIGHUP; see [`crate::reload_config`]).
pub async fn run_with_reloads(
    config: Config,
    mut shutdown: Shutdown,
    reloads: Option<mpsc::Receiver<Config>>,
) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::with_ready_max_lag(config.ready_max_lag_seconds as f64));
    let _endpoint = match config.metrics_address {
        Some(address) => {
            let endpoint = Endpoint::bind(address).await?;
            if let Some(bound) = endpoint.local_address() {
                tracing::info!(address = %bound, "serving /metrics, /status, /health and /ready on http://{bound}");
            }
            Some(AbortOnDrop(tokio::spawn(endpoint.serve(metrics.clone()))))
        }
        None => None,
    };
    let engine = if config.plugins.is_empty() {
        None
    } else {
        Some(PluginEngine::new(Some(&config.pipeline.plugin_cache_dir))?)
    };
    let mut chain = PluginChain::load(&config.plugins, engine.as_ref(), metrics.clone())
        .await?
        .with_ddl_routing(DdlRouting {
            default: config.ddl.default,
            topic: config.ddl.topic.as_deref().map(Arc::from),
        });
    metrics.status.set_source(config.source.address());

    let Some(mut conn) = connect_with_retry(&config.source, "settings check", &mut shutdown).await? else {
        return Ok(());
    };
    // The precheck's source checks, on this connection: a FAIL stops here, a WARN is logged.
    let settings = ServerSettings::fetch(&mut conn).await?;
    let results = check::source::check_server(&mut conn, &settings, &config, Purpose::Startup).await;
    check::report::gate(Area::Source, &results)?;
    tracing::info!(server = %config.source.address(), version = %settings.version, "source server is streamable");

    let store = CheckpointStore::new(&config.checkpoint.path);
    // With Kafka transactions the committed checkpoint lives in Kafka: fence the previous incarnation
    // (which aborts its open transaction) and take that checkpoint before deciding where to start.
    let mut sink = None;
    if config.kafka.delivery == Delivery::Transactional {
        let transactional = KafkaSink::new(&config.kafka)?;
        if !transactional.wait_until_reachable(&mut shutdown).await {
            return Ok(());
        }
        check::report::gate(
            Area::Broker,
            &check::broker::topics_through(&transactional, &config).await,
        )?;
        transactional::prepare(&transactional, &config.kafka, &store).await?;
        sink = Some(transactional);
    }
    let checkpoint = starting_checkpoint(&mut conn, &config, &store).await?;
    let mut history = SchemaHistory::open(&config.checkpoint.schema_history_path)?;
    record_baseline(&mut conn, &config.source, &mut history, &checkpoint.position).await?;
    let _ = conn.disconnect().await;
    let catalog = SchemaCatalog::new(metadata_pool(&config.source)).await?;

    let sink = match sink {
        Some(sink) => sink,
        None => {
            let sink = KafkaSink::new(&config.kafka)?;
            if !sink.wait_until_reachable(&mut shutdown).await {
                return Ok(());
            }
            check::report::gate(Area::Broker, &check::broker::topics_through(&sink, &config).await)?;
            sink
        }
    };

    let capacity = config.pipeline.channel_capacity;
    let (changes_tx, changes_rx) = mpsc::channel::<Vec<Change>>(capacity);
    let (routed_tx, routed_rx) = mpsc::channel::<Vec<Routed>>(capacity);
    let (outgoing_tx, outgoing_rx) = mpsc::channel::<Vec<Outgoing>>(capacity);
    // The acknowledger drains this eagerly and bounds what is outstanding by `max_in_flight` itself.
    let (pending_tx, pending_rx) =
        mpsc::channel::<Pending>(PENDING_CHANNEL_CAPACITY.min(config.pipeline.max_in_flight));

    // A failing stage stops the reader through this internal trigger.
    let (stop_trigger, stop) = shutdown::channel();
    let owes_snapshot = checkpoint
        .snapshot
        .values()
        .any(|progress| *progress != TableProgress::Done);
    // A config reload may add tables to snapshot while streaming, as a signal row may.
    let snapshots_wanted = config.snapshot.mode != SnapshotMode::Never
        && (owes_snapshot
            || config.snapshot.signal_table.is_some()
            || reloads.is_some()
            || config.snapshot.mode == SnapshotMode::InitialOnly);
    let mut coordinator = None;
    let mut handoff = if snapshots_wanted {
        let (chunks_tx, chunks_rx) = mpsc::channel(config.snapshot.parallel_tables);
        let (requests_tx, requests_rx) = mpsc::channel(64);
        let (gates_tx, gates_rx) = mpsc::channel(config.snapshot.parallel_tables);
        coordinator = Some(SnapshotCoordinator::new(
            config.source.clone(),
            config.snapshot.clone(),
            &checkpoint.snapshot,
            requests_rx,
            gates_tx,
            chunks_tx,
            metrics.clone(),
        ));
        SnapshotHandoff {
            chunks: Some(chunks_rx),
            gates: Some(gates_rx),
            requests: Some(requests_tx),
            signal_table: config.snapshot.signal_table.clone(),
            stop_when_finished: config.snapshot.mode == SnapshotMode::InitialOnly,
            additions: None,
        }
    } else {
        SnapshotHandoff::none()
    };
    let _reloader = reloads.map(|reloads| {
        let (chain_tx, chain_rx) = mpsc::channel(4);
        let (tables_tx, tables_rx) = mpsc::channel(4);
        chain.listen_for_updates(chain_rx);
        handoff.additions = Some(tables_rx);
        let targets = crate::reload_config::Targets {
            engine: engine.clone(),
            chain: chain_tx,
            tables: tables_tx,
            metrics: metrics.clone(),
        };
        AbortOnDrop(tokio::spawn(crate::reload_config::run(
            config.clone(),
            reloads,
            targets,
        )))
    });
    let reader = BinlogReader::new(
        config.source.clone(),
        catalog,
        config.pipeline.batch_max_changes,
        changes_tx,
        checkpoint.position.clone(),
        checkpoint.gtid.clone(),
        handoff,
    )
    .with_schema_history(history, config.ddl.on_rename == OnRename::Follow);
    let encoder = DtsAvroEncoder::new(settings.version.clone());
    let checkpoint_interval = Duration::from_millis(config.checkpoint.interval_ms);

    let mut tasks: JoinSet<Result<(), RunError>> = JoinSet::new();
    {
        let mut external = shutdown.clone();
        let stop_trigger = stop_trigger.clone();
        tokio::spawn(async move {
            external.wait().await;
            stop_trigger.trigger();
        });
    }
    if let Some(coordinator) = coordinator {
        let stop = stop.clone();
        tasks.spawn(async move { coordinator.run(stop).await.map_err(RunError::from) });
    }
    tasks.spawn(async move { reader.run(stop).await.map_err(RunError::from) });
    let recorder = match &config.record_changes {
        Some(path) => Some(Recorder::create(path).map_err(|source| RunError::Record {
            path: path.clone(),
            source,
        })?),
        None => None,
    };
    tasks.spawn(run_chain(chain, recorder, changes_rx, routed_tx));
    let heartbeats = config
        .pipeline
        .heartbeat_interval
        .map(|interval| HeartbeatSchedule::new(interval, checkpoint.position.clone()));
    tasks.spawn(run_encoder(
        (encoder, RowHasher::new(config.kafka.partitioning.clone())),
        Arc::from(config.kafka.topic.as_str()),
        checkpoint.next_record_id,
        heartbeats,
        metrics.clone(),
        routed_rx,
        outgoing_tx,
    ));
    if config.kafka.delivery == Delivery::Transactional {
        drop((pending_tx, pending_rx));
        let committer = transactional::Committer::new(sink, &config.kafka, store, checkpoint, checkpoint_interval);
        tasks.spawn(committer.run(outgoing_rx));
    } else {
        tasks.spawn(run_sink(sink, outgoing_rx, pending_tx));
        let drain = DrainDeadline {
            shutdown: shutdown.clone(),
            timeout: config.pipeline.shutdown_timeout,
        };
        tasks.spawn(run_acknowledger(
            store,
            checkpoint,
            checkpoint_interval,
            config.pipeline.max_in_flight,
            drain,
            metrics.clone(),
            pending_rx,
        ));
    }

    metrics.set_ready(true);
    metrics.status.set_streaming(true);
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result = match joined {
            Ok(result) => result,
            Err(aborted) if aborted.is_cancelled() => continue,
            Err(panic) => panic!("a pipeline stage panicked: {panic}"),
        };
        if let Err(error) = result {
            stop_trigger.trigger();
            if matches!(error, RunError::ShutdownTimeout { .. }) {
                // The time is up: stages still waiting on Kafka (or on a plugin) are stopped where they
                // are. The acknowledger wrote the checkpoint of what was acknowledged.
                tasks.abort_all();
            }
            if first_error.is_none() {
                tracing::error!("pipeline stage failed: {error}");
                first_error = Some(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

/// Stops a background task when its owner goes away.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run_chain(
    mut chain: PluginChain,
    mut recorder: Option<Recorder>,
    mut input: mpsc::Receiver<Vec<Change>>,
    output: mpsc::Sender<Vec<Routed>>,
) -> Result<(), RunError> {
    while let Some(batch) = input.recv().await {
        if let Some(recorder) = recorder.as_mut() {
            recorder.record(&batch);
        }
        let routed = chain.apply(batch).await?;
        if output.send(routed).await.is_err() {
            break;
        }
        if let Some(halt) = chain.take_halt() {
            // What came before the statement is on its way; nothing after it is handed on.
            return Err(halt.into());
        }
    }
    Ok(())
}

/// `encoder` writes the records; `hasher` computes each row's partition hash beside it.
async fn run_encoder(
    (mut encoder, mut hasher): (DtsAvroEncoder, RowHasher),
    default_topic: Arc<str>,
    mut next_record_id: i64,
    mut heartbeats: Option<HeartbeatSchedule>,
    metrics: Arc<Metrics>,
    mut input: mpsc::Receiver<Vec<Routed>>,
    output: mpsc::Sender<Vec<Outgoing>>,
) -> Result<(), RunError> {
    let mut ticker = heartbeats.as_ref().map(|schedule| {
        let start = tokio::time::Instant::now() + schedule.interval();
        let mut ticker = tokio::time::interval_at(start, schedule.interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    loop {
        let batch = tokio::select! {
            batch = input.recv() => match batch {
                Some(batch) => batch,
                None => break,
            },
            _ = next_tick(&mut ticker) => {
                heartbeats.as_mut().map(HeartbeatSchedule::tick);
                Vec::new()
            }
        };
        metrics
            .stream
            .count_batch(batch.iter().filter_map(|routed| match routed {
                Routed::Row(row) => Some(&row.change),
                _ => None,
            }));
        let mut outgoing = Vec::with_capacity(batch.len() + 2);
        for routed in batch {
            match routed {
                Routed::Row(mut row) => {
                    // An UPDATE that changed the key: a DELETE under the old key, then an INSERT under the new.
                    let insert = key_change::split(&mut row);
                    let half = insert.as_ref().map(|_| KeyChangeHalf::Delete);
                    let message = row_message(&mut encoder, &mut hasher, &default_topic, next_record_id, row, half)?;
                    next_record_id += 1;
                    outgoing.push(Outgoing::Message(message));
                    if let Some(insert) = insert {
                        let half = Some(KeyChangeHalf::Insert);
                        let message =
                            row_message(&mut encoder, &mut hasher, &default_topic, next_record_id, insert, half)?;
                        next_record_id += 1;
                        outgoing.push(Outgoing::Message(message));
                    }
                    heartbeats.as_mut().map(HeartbeatSchedule::row);
                }
                Routed::DeadLetter(dead) => {
                    let mut row = RoutedChange {
                        change: dead.change,
                        routing: Routing::default(),
                    };
                    let payload = encoder.encode(next_record_id, &row)?;
                    next_record_id += 1;
                    let key = key::primary_key(&row.change);
                    let position = OutMessage::stream_point(&mut row.change);
                    let mut message = OutMessage::new(dead.topic.into(), key, payload, position);
                    message.failure = Some(Box::new(FailureHeaders {
                        plugin: dead.plugin,
                        error: dead.error,
                    }));
                    outgoing.push(Outgoing::Message(message));
                    heartbeats.as_mut().map(HeartbeatSchedule::row);
                }
                Routed::Ddl(ddl) => {
                    let payload = encoder.encode_ddl(next_record_id, &ddl);
                    next_record_id += 1;
                    let topic = ddl.topic.unwrap_or_else(|| default_topic.clone());
                    let position = StreamPoint::Row(ddl.change.position);
                    outgoing.push(Outgoing::Message(OutMessage::new(topic, None, payload, position)));
                    heartbeats.as_mut().map(HeartbeatSchedule::row);
                }
                Routed::Commit(commit) => {
                    if let Some(schedule) = heartbeats.as_mut() {
                        schedule.commit(&commit.resume_from);
                    }
                    outgoing.push(Outgoing::Commit(CommitMark {
                        position: commit.resume_from,
                        gtid: commit.gtids,
                        next_record_id,
                        progress: commit.progress,
                    }));
                    push_due_heartbeat(
                        &mut heartbeats,
                        &encoder,
                        &default_topic,
                        &mut next_record_id,
                        &mut outgoing,
                    );
                }
            }
        }
        push_due_heartbeat(
            &mut heartbeats,
            &encoder,
            &default_topic,
            &mut next_record_id,
            &mut outgoing,
        );
        if outgoing.is_empty() {
            continue;
        }
        let (messages, bytes) = outgoing.iter().fold((0, 0), |(messages, bytes), next| match next {
            Outgoing::Message(message) => (
                messages + 1,
                bytes + message.payload.len() + message.key.as_ref().map_or(0, Vec::len),
            ),
            Outgoing::Commit(_) => (messages, bytes),
        });
        metrics.stream.sent(messages, bytes as u64);
        if output.send(outgoing).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// The message of a kept row, or of one half of an UPDATE that changed the row's key.
fn row_message(
    encoder: &mut DtsAvroEncoder,
    hasher: &mut RowHasher,
    default_topic: &Arc<str>,
    record_id: i64,
    mut row: RoutedChange,
    half: Option<KeyChangeHalf>,
) -> Result<OutMessage, RunError> {
    let payload = encoder.encode_half(record_id, &row, half)?;
    let key = row.routing.key.take().or_else(|| key::primary_key(&row.change));
    let partition_hash = hasher.hash(&row.change, key.as_deref())?;
    let topic = row.routing.topic.unwrap_or_else(|| default_topic.clone());
    let position = match (OutMessage::stream_point(&mut row.change), half) {
        (StreamPoint::Row(position), Some(half)) => StreamPoint::RowHalf(position, half),
        (point, _) => point,
    };
    let mut message = OutMessage::new(topic, key, payload, position);
    message.partition = row.routing.partition;
    message.partition_hash = partition_hash;
    Ok(message)
}

/// The next tick of the heartbeat timer; never, without heartbeats.
async fn next_tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(ticker) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Appends a heartbeat record, and a commit mark carrying the id after it, when one is due and the
/// encoder is at a transaction boundary (see [`HeartbeatSchedule`]).
fn push_due_heartbeat(
    heartbeats: &mut Option<HeartbeatSchedule>,
    encoder: &DtsAvroEncoder,
    topic: &Arc<str>,
    next_record_id: &mut i64,
    outgoing: &mut Vec<Outgoing>,
) {
    let Some(position) = heartbeats.as_mut().and_then(HeartbeatSchedule::take_due) else {
        return;
    };
    let payload = encoder.encode_heartbeat(*next_record_id, &position, std::time::SystemTime::now());
    *next_record_id += 1;
    outgoing.push(Outgoing::Message(OutMessage::new(
        topic.clone(),
        None,
        payload,
        StreamPoint::Before(position.clone()),
    )));
    outgoing.push(Outgoing::Commit(CommitMark {
        position,
        gtid: None,
        next_record_id: *next_record_id,
        progress: Vec::new(),
    }));
}

async fn run_sink(
    mut sink: KafkaSink,
    mut input: mpsc::Receiver<Vec<Outgoing>>,
    pending: mpsc::Sender<Pending>,
) -> Result<(), RunError> {
    while let Some(batch) = input.recv().await {
        for outgoing in batch {
            let next = match outgoing {
                Outgoing::Message(message) => match sink.send(&message).await? {
                    Some(delivery) => Pending::Delivery {
                        topic: message.topic,
                        delivery,
                    },
                    // Exactly-once delivery found it in its partition already.
                    None => continue,
                },
                Outgoing::Commit(mark) => Pending::Commit(mark),
            };
            if pending.send(next).await.is_err() {
                return Ok(());
            }
        }
    }
    // Dropping the producer would purge what is still in flight: hand it to the acknowledger, which
    // drops it only after awaiting every delivery.
    let _ = pending.send(Pending::Producer(Box::new(sink))).await;
    Ok(())
}

/// Awaits Kafka's acknowledgements in send order and advances the checkpoint past commits whose every
/// earlier message was acknowledged.
///
/// Deliveries are settled without waiting whenever something arrives or the timer ticks, and waited
/// for only when `max_in_flight` messages are outstanding or at the end: waiting for each message as
/// it is sent would put the task to sleep and wake it once per message.
struct Acknowledger {
    store: CheckpointStore,
    acknowledged: Checkpoint,
    stored: Checkpoint,
    outstanding: VecDeque<Pending>,
    max_in_flight: usize,
    /// Held until every delivery was awaited: dropping it would purge messages in flight.
    producer: Option<KafkaSink>,
    metrics: Arc<Metrics>,
}

impl Acknowledger {
    /// Settles the front of the queue as far as Kafka has answered, without waiting.
    fn settle_answered(&mut self) -> Result<(), RunError> {
        loop {
            let answer = match self.outstanding.front_mut() {
                None => return Ok(()),
                Some(Pending::Delivery { delivery, .. }) => match (&mut *delivery).now_or_never() {
                    None => return Ok(()),
                    Some(answer) => Some(answer),
                },
                Some(_) => None,
            };
            if let Some(answer) = answer {
                self.check(answer)?;
            }
            let settled = self.outstanding.pop_front().expect("the front exists");
            self.apply(settled);
        }
    }

    /// Waits for Kafka's answer to the oldest outstanding message, then settles what else is answered.
    async fn settle_oldest(&mut self) -> Result<(), RunError> {
        if let Some(Pending::Delivery { delivery, .. }) = self.outstanding.front_mut() {
            let answer = delivery.await;
            self.check(answer)?;
            self.outstanding.pop_front();
        }
        self.settle_answered()
    }

    /// Turns a failed delivery of the front message into the error that stops the pipeline.
    fn check(&self, answer: <DeliveryFuture as std::future::Future>::Output) -> Result<(), RunError> {
        let topic = || match self.outstanding.front() {
            Some(Pending::Delivery { topic, .. }) => topic.to_string(),
            _ => String::new(),
        };
        match answer {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((error, _))) => Err(SinkError::Delivery { topic: topic(), error }.into()),
            Err(_cancelled) => Err(SinkError::Delivery {
                topic: topic(),
                error: rdkafka::error::KafkaError::Canceled,
            }
            .into()),
        }
    }

    fn apply(&mut self, settled: Pending) {
        match settled {
            Pending::Delivery { .. } => {}
            Pending::Producer(sink) => self.producer = Some(*sink),
            Pending::Commit(mark) => mark.apply_to(&mut self.acknowledged),
        }
    }

    fn store_if_changed(&mut self) -> Result<(), RunError> {
        if self.acknowledged != self.stored {
            self.store.store(&self.acknowledged)?;
            self.stored = self.acknowledged.clone();
            self.metrics.stream.checkpoint_written(&self.stored.position);
            self.metrics.status.checkpoint_written(&self.stored.position);
        }
        Ok(())
    }
}

/// When a requested shutdown must have drained: `timeout` after `shutdown` fires.
struct DrainDeadline {
    shutdown: Shutdown,
    timeout: Duration,
}

impl DrainDeadline {
    /// Completes `timeout` after shutdown was asked for; never, if it is not.
    async fn passed(mut self) {
        self.shutdown.wait().await;
        tokio::time::sleep(self.timeout).await;
    }
}

/// One step of the acknowledger's loop.
enum Step {
    Continue,
    Finished,
    TimedOut,
}

async fn run_acknowledger(
    store: CheckpointStore,
    initial: Checkpoint,
    interval: Duration,
    max_in_flight: usize,
    drain: DrainDeadline,
    metrics: Arc<Metrics>,
    mut pending: mpsc::Receiver<Pending>,
) -> Result<(), RunError> {
    let mut state = Acknowledger {
        store,
        acknowledged: initial.clone(),
        stored: initial,
        outstanding: VecDeque::new(),
        max_in_flight,
        producer: None,
        metrics,
    };
    let timeout = drain.timeout;
    let deadline = drain.passed();
    tokio::pin!(deadline);
    // The checkpoint is rewritten at most once per interval while commits flow, and within about one
    // interval of the last acknowledgement when the source goes quiet.
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sink_finished = false;
    let result: Result<Step, RunError> = async {
        loop {
            let step = if state.outstanding.len() >= state.max_in_flight {
                tokio::select! {
                    settled = state.settle_oldest() => settled.map(|()| Step::Continue)?,
                    _ = &mut deadline => Step::TimedOut,
                }
            } else {
                tokio::select! {
                    next = pending.recv() => match next {
                        Some(next) => {
                            state.outstanding.push_back(next);
                            state.settle_answered()?;
                            Step::Continue
                        }
                        None => Step::Finished,
                    },
                    _ = ticker.tick() => {
                        state.settle_answered()?;
                        state.store_if_changed()?;
                        Step::Continue
                    }
                    _ = &mut deadline => Step::TimedOut,
                }
            };
            state.metrics.stream.set_in_flight(state.outstanding.len());
            match step {
                Step::Continue => continue,
                Step::Finished => break,
                Step::TimedOut => return Ok(Step::TimedOut),
            }
        }
        sink_finished = true;
        // Nothing more will be sent: wait for every answer.
        while !state.outstanding.is_empty() {
            tokio::select! {
                settled = state.settle_oldest() => settled?,
                _ = &mut deadline => return Ok(Step::TimedOut),
            }
        }
        Ok(Step::Finished)
    }
    .await;
    // Whatever stopped the loop, the checkpoint records what Kafka acknowledged: never more.
    if state.acknowledged != state.stored {
        state.store_if_changed()?;
        tracing::info!(position = %state.acknowledged.position, "checkpoint written");
    }
    let result = match result {
        Ok(Step::TimedOut) => Err(RunError::ShutdownTimeout {
            timeout_ms: timeout.as_millis(),
            unacknowledged: state
                .outstanding
                .iter()
                .filter(|pending| matches!(pending, Pending::Delivery { .. }))
                .count(),
            upstream: if sink_finished {
                ""
            } else {
                ", and the sink had not handed everything to the producer"
            },
            position: state.acknowledged.position.clone(),
        }),
        Ok(_) => Ok(()),
        Err(error) => Err(error),
    };
    drop(state.producer.take());
    result
}
