//! Reading the binlog as a replica and turning its events into [`Change`]s.
//!
//! # Resume rules
//! sluice registers as a replica with the configured `server_id` and asks for the binlog from a
//! [`BinlogPosition`] that always sits on a transaction boundary: the start position of the first
//! run, or the `resume_from` of a [`Commit`] whose every message Kafka acknowledged. Because a row
//! event is only ever written inside a committed transaction, starting at a boundary neither skips
//! half a transaction nor repeats one.
//!
//! Transactions end at an XID event (transactional engines), at a `COMMIT` query (non-transactional
//! engines), or at a DDL statement (which commits implicitly; MySQL's atomic `CREATE TABLE ...
//! SELECT`, logged with `START TRANSACTION`, ends at its XID instead). Each end becomes a [`Commit`]
//! carrying the position just past it.
//!
//! # DDL
//! Every QUERY event's statement is classified (`source::ddl`). DDL updates the schema history
//! (`source::schema_history`), makes the tables it touches be read anew at their next TABLE_MAP,
//! and, when it concerns the captured tables or could not be read at all, becomes a
//! [`Change::Ddl`] just before its commit, for the DDL policy downstream.
//!
//! If the connection drops mid-stream, the reader reconnects with backoff and asks again from the
//! last transaction boundary it passed; rows of the interrupted transaction that were already
//! emitted are recognised by their position and skipped, so nothing is doubled.
//!
//! # GTIDs
//! When the start position's GTID state is known (always on MariaDB, via `BINLOG_GTID_POS`; on MySQL
//! with `gtid_mode=ON` when starting at the current end), the reader keeps it up to date with every
//! GTID event, each [`Commit`] carries it, and every (re)connection asks for the stream by GTID
//! rather than by file/offset: MariaDB's `@slave_connect_state`, MySQL's `COM_BINLOG_DUMP_GTID`. The
//! same GTIDs name the same transactions on a replica, so after a failover the checkpoint still
//! resumes at the right transaction although file names and offsets differ. The first ROTATE of
//! such a stream tells which file and offset the server resumed at.
//!
//! # Batching
//! Changes are sent downstream in batches of up to `batch_max_changes`; a batch is also sent as soon
//! as the server has nothing more to give right now, so latency stays low when traffic is light.

use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use mysql_async::binlog::events::{Event, EventData, RowsEventData};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Conn};
use tokio::sync::{mpsc, oneshot};

use crate::change::{
    Change, ColumnValue, Commit, DdlChange, Operation, Origin, RowChange, TableName, TableSchema, TransactionInfo,
};
use crate::config::{SourceConfig, StartPosition};
use crate::outage::Outage;
use crate::shutdown::Shutdown;
use crate::source::SourceError;
use crate::source::connect::{connect_through_outage, is_transient};
use crate::source::ddl::{self, Classified, DdlKind, DdlStatement, NotDdl, TransactionEffect};
use crate::source::gtid::{GtidSet, MariaDbGtid};
use crate::source::heartbeat;
use crate::source::position::{BinlogPosition, RecordPosition};
use crate::source::row_images::RowImages;
use crate::source::schema::{NamesFrom, SchemaCatalog, TableMapCache};
use crate::source::schema_history::{SchemaHistory, TableShape, TableState};
use crate::source::snapshot::chunk::SnapshotChunk;
use crate::source::snapshot::progress::{ProgressUpdate, TableProgress};

/// MariaDB's GTID event, which mysql_common does not name.
const MARIADB_GTID_EVENT: u8 = 162;
/// How often the server sends a heartbeat on an idle stream.
const HEARTBEAT_PERIOD: Duration = Duration::from_secs(5);

/// Finds the position that `start` names on this server.
pub async fn resolve_start(conn: &mut Conn, start: &StartPosition) -> Result<BinlogPosition, SourceError> {
    match start {
        StartPosition::At(position) => Ok(position.clone()),
        StartPosition::Current => {
            let status = match conn.query_first::<mysql_async::Row, _>("SHOW MASTER STATUS").await {
                Ok(row) => row,
                // MySQL 8.4 renamed the statement.
                Err(_) => conn
                    .query_first::<mysql_async::Row, _>("SHOW BINARY LOG STATUS")
                    .await
                    .map_err(SourceError::query("reading the current binlog position"))?,
            };
            let row = status.ok_or(SourceError::NoBinlog)?;
            let file: String = row.get(0).ok_or(SourceError::NoBinlog)?;
            let offset: u64 = row.get(1).ok_or(SourceError::NoBinlog)?;
            Ok(BinlogPosition::new(file, offset))
        }
        StartPosition::Earliest => {
            let row: Option<mysql_async::Row> = conn
                .query_first("SHOW BINARY LOGS")
                .await
                .map_err(SourceError::query("listing binary logs"))?;
            let file: String = row.and_then(|row| row.get(0)).ok_or(SourceError::NoBinlog)?;
            Ok(BinlogPosition::new(file, 4))
        }
    }
}

/// The snapshot side of the reader: chunks waiting for the stream to reach their point.
pub struct SnapshotHandoff {
    /// Chunks from the coordinator; `None` once it finished.
    pub chunks: Option<mpsc::Receiver<SnapshotChunk>>,
    /// Requests to read a chunk: the reader answers at a transaction boundary and then waits for the
    /// chunk, so that the chunk's consistent point is never behind the stream.
    pub gates: Option<mpsc::Receiver<oneshot::Sender<()>>>,
    /// Re-snapshot requests to the coordinator, from rows of the signal table.
    pub requests: Option<mpsc::Sender<TableName>>,
    /// The signal table, if any.
    pub signal_table: Option<TableName>,
    /// Stop once the snapshot is finished and published (`initial_only`).
    pub stop_when_finished: bool,
    /// `source.tables` extended by a config reload (SIGHUP): applied at a transaction boundary.
    pub additions: Option<mpsc::Receiver<TableAddition>>,
}

/// `source.tables` grown by a config reload: the patterns to capture from the next transaction on,
/// and the existing tables they newly match, to snapshot.
#[derive(Debug, Clone)]
pub struct TableAddition {
    pub tables: Vec<crate::config::TablePattern>,
    pub snapshot: Vec<TableName>,
}

impl SnapshotHandoff {
    /// No snapshot at all.
    pub fn none() -> Self {
        Self {
            chunks: None,
            gates: None,
            requests: None,
            signal_table: None,
            stop_when_finished: false,
            additions: None,
        }
    }
}

/// Reads the binlog from `start` and sends batches of changes until shutdown or a definite error.
pub struct BinlogReader {
    config: SourceConfig,
    catalog: SchemaCatalog,
    table_maps: TableMapCache,
    batch_max_changes: usize,
    output: mpsc::Sender<Vec<Change>>,
    /// The last transaction boundary passed: where a reconnect resumes.
    resume_from: BinlogPosition,
    /// How far the stream has read: the end of the last event.
    position: BinlogPosition,
    /// The transaction being read, if any.
    transaction: Option<Arc<TransactionInfo>>,
    /// The last row emitted, so rows re-read after a reconnect are not emitted twice.
    last_emitted: Option<RecordPosition>,
    /// The GTID state of what was read, when known; updated at each GTID event.
    gtids: Option<GtidSet>,
    /// The GTID state at `resume_from`: what a reconnection asks for.
    resume_gtids: Option<Arc<GtidSet>>,
    /// Set while the stream was asked for by GTID and has not yet said where it resumed.
    awaiting_gtid_rotate: bool,
    snapshot: SnapshotHandoff,
    /// Chunks received but not yet reached by the stream.
    waiting_chunks: Vec<SnapshotChunk>,
    /// Chunk reads asked for and not yet answered.
    gate_requests: Vec<oneshot::Sender<()>>,
    /// Chunk reads allowed whose chunk has not arrived; the stream waits while this is not zero.
    gates_open: usize,
    /// Snapshot progress to checkpoint with the next commit.
    progress: Vec<ProgressUpdate>,
    /// The compressed transaction payload whose events are being read, if any.
    payload: Option<Payload>,
    /// The captured tables' shapes by position, for servers whose TABLE_MAPs carry no names.
    history: SchemaHistory,
    /// Keep capturing a captured table under its new name after a rename (`ddl.on_rename`).
    follow_renames: bool,
    /// A statement-logged data change was seen (its rows are not in the stream); warned once.
    warned_statement_rows: bool,
}

/// A MySQL 8 TRANSACTION_PAYLOAD event being unpacked.
struct Payload {
    /// Where the payload event starts: the position of every event inside it.
    start: BinlogPosition,
    /// Captured rows read from it so far, to number the next ones.
    rows: u64,
}

impl BinlogReader {
    pub fn new(
        config: SourceConfig,
        catalog: SchemaCatalog,
        batch_max_changes: usize,
        output: mpsc::Sender<Vec<Change>>,
        start: BinlogPosition,
        start_gtids: Option<Arc<GtidSet>>,
        snapshot: SnapshotHandoff,
    ) -> Self {
        Self {
            config,
            catalog,
            table_maps: TableMapCache::default(),
            batch_max_changes,
            output,
            position: start.clone(),
            resume_from: start,
            transaction: None,
            last_emitted: None,
            gtids: start_gtids.as_deref().cloned(),
            resume_gtids: start_gtids,
            awaiting_gtid_rotate: false,
            snapshot,
            waiting_chunks: Vec::new(),
            gate_requests: Vec::new(),
            gates_open: 0,
            progress: Vec::new(),
            payload: None,
            history: SchemaHistory::in_memory(),
            follow_renames: true,
            warned_statement_rows: false,
        }
    }

    /// Names columns from `history` where TABLE_MAPs do not, and keeps it up to date with every DDL;
    /// `follow_renames`: a captured table renamed to a name `source.tables` does not select is still
    /// captured under it.
    pub fn with_schema_history(mut self, history: SchemaHistory, follow_renames: bool) -> Self {
        self.history = history;
        self.follow_renames = follow_renames;
        self
    }

    /// Streams until `shutdown` fires or the output closes. Connection losses are retried.
    pub async fn run(mut self, mut shutdown: Shutdown) -> Result<(), SourceError> {
        let mut backoff = Duration::from_millis(200);
        let mut outage = Outage::new("MySQL (binlog stream)", self.config.address());
        loop {
            let Some(conn) = connect_through_outage(&self.config, &mut outage, &mut shutdown).await? else {
                return Ok(());
            };
            let stream = match self.open_stream(conn).await {
                Ok(stream) => stream,
                Err(SourceError::Stream(error)) if is_transient(&error) => {
                    outage.failed(&error, Some(backoff));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                Err(error) => return Err(error),
            };
            outage.restored();
            backoff = Duration::from_millis(200);
            tracing::info!(position = %self.resume_from, "streaming binlog");
            let mut stream = stream;
            let streamed = self.stream(&mut stream, &mut shutdown).await;
            // Leave the server cleanly, so it forgets this replica's dump thread at once.
            let _ = tokio::time::timeout(Duration::from_secs(2), stream.close()).await;
            match streamed {
                Ok(()) => return Ok(()),
                Err(SourceError::Stream(error)) if is_transient(&error) => {
                    tracing::debug!(resume_from = %self.resume_from, "binlog stream interrupted: {error}");
                    outage.failed(&error, Some(backoff));
                }
                Err(error) => return Err(error),
            }
            self.transaction = None;
            self.payload = None;
            self.position = self.resume_from.clone();
            self.gtids = self.resume_gtids.as_deref().cloned();
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait() => return Ok(()),
            }
            backoff = (backoff * 2).min(Duration::from_millis(self.config.reconnect_max_backoff_ms));
        }
    }

    async fn open_stream(&mut self, mut conn: Conn) -> Result<BinlogStream, SourceError> {
        // Ask MariaDB for its GTID events (capability 4) and for heartbeats on an idle stream.
        conn.query_drop("SET @mariadb_slave_capability = 4")
            .await
            .map_err(SourceError::Stream)?;
        conn.query_drop(format!(
            "SET @master_heartbeat_period = {}",
            HEARTBEAT_PERIOD.as_nanos()
        ))
        .await
        .map_err(SourceError::Stream)?;
        let mut request = BinlogStreamRequest::new(self.config.server_id)
            .with_filename(self.resume_from.file.as_bytes())
            .with_pos(self.resume_from.offset);
        self.awaiting_gtid_rotate = false;
        match self.resume_gtids.as_deref() {
            Some(GtidSet::MariaDb(list)) if !list.is_empty() => {
                // The server then ignores the file and offset and starts after these GTIDs.
                for setting in [
                    format!("SET @slave_connect_state = '{list}'"),
                    "SET @slave_gtid_strict_mode = 0".to_owned(),
                    "SET @slave_gtid_ignore_duplicates = 0".to_owned(),
                ] {
                    conn.query_drop(setting).await.map_err(SourceError::Stream)?;
                }
                self.awaiting_gtid_rotate = true;
            }
            Some(GtidSet::MySql(set)) if !set.is_empty() => {
                request = BinlogStreamRequest::new(self.config.server_id)
                    .with_gtid()
                    .with_gtid_set(set.to_sids())
                    .with_pos(4);
                self.awaiting_gtid_rotate = true;
            }
            _ => {}
        }
        conn.get_binlog_stream(request).await.map_err(SourceError::Stream)
    }

    async fn stream(&mut self, stream: &mut BinlogStream, shutdown: &mut Shutdown) -> Result<(), SourceError> {
        let mut batch: Vec<Change> = Vec::with_capacity(self.batch_max_changes);
        loop {
            self.collect_arrived_chunks();
            if self.transaction.is_none() {
                while let Some(Ok(addition)) = self.snapshot.additions.as_mut().map(mpsc::Receiver::try_recv) {
                    self.add_tables(addition);
                }
                if !self.publish_reached_chunks(&mut batch).await {
                    return Ok(());
                }
                self.open_gates();
                if self.snapshot.stop_when_finished
                    && self.snapshot.chunks.is_none()
                    && self.waiting_chunks.is_empty()
                    && self.gates_open == 0
                {
                    self.send(&mut batch).await;
                    tracing::info!("snapshot published; stopping as snapshot.mode = \"initial_only\" asks");
                    return Ok(());
                }
            }
            if batch.len() >= self.batch_max_changes && !self.send(&mut batch).await {
                return Ok(());
            }
            if self.gates_open > 0 {
                // A chunk is being read at a point at or after this position: the stream waits here so it
                // cannot pass that point before the chunk is in hand.
                if !self.send(&mut batch).await {
                    return Ok(());
                }
                tokio::select! {
                    chunk = next_chunk(&mut self.snapshot.chunks) => self.accept_chunk(chunk),
                    _ = shutdown.wait() => return Ok(()),
                }
                continue;
            }
            // Send what we have as soon as the server has nothing more right now.
            let next = match stream.next().now_or_never() {
                Some(next) => next,
                None => {
                    if !self.send(&mut batch).await {
                        return Ok(());
                    }
                    tokio::select! {
                        next = stream.next() => next,
                        chunk = next_chunk(&mut self.snapshot.chunks) => {
                            self.accept_chunk(chunk);
                            continue;
                        }
                        gate = next_gate(&mut self.snapshot.gates) => {
                            self.accept_gate(gate);
                            continue;
                        }
                        addition = next_addition(&mut self.snapshot.additions), if self.at_boundary() => {
                            match addition {
                                Some(addition) => self.add_tables(addition),
                                None => self.snapshot.additions = None,
                            }
                            continue;
                        }
                        // A graceful stop ends at a transaction boundary (the rest of an open transaction
                        // is already in the binlog): a half-sent transaction would be sent again.
                        _ = shutdown.wait(), if self.at_boundary() => return Ok(()),
                    }
                }
            };
            let event = match next {
                Some(Ok(event)) => event,
                Some(Err(error)) => return Err(SourceError::Stream(error)),
                None => {
                    return Err(SourceError::Stream(mysql_async::Error::Io(mysql_async::IoError::Io(
                        std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the server closed the binlog stream"),
                    ))));
                }
            };
            self.handle_event(stream, &event, &mut batch).await?;
            if shutdown.is_triggered() && self.at_boundary() {
                self.send(&mut batch).await;
                return Ok(());
            }
        }
    }

    /// Whether the stream stands between transactions.
    fn at_boundary(&self) -> bool {
        self.transaction.is_none()
    }

    fn accept_gate(&mut self, gate: Option<oneshot::Sender<()>>) {
        match gate {
            Some(gate) => self.gate_requests.push(gate),
            None => self.snapshot.gates = None,
        }
    }

    /// At a transaction boundary: lets every table snapshot that asked read its next chunk now, and
    /// counts the chunks the stream must wait for.
    fn open_gates(&mut self) {
        while let Some(receiver) = &mut self.snapshot.gates {
            match receiver.try_recv() {
                Ok(gate) => self.gate_requests.push(gate),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.snapshot.gates = None,
            }
        }
        for gate in self.gate_requests.drain(..) {
            if gate.send(()).is_ok() {
                self.gates_open += 1;
            }
        }
    }

    /// Sends the batch downstream; false when downstream is gone.
    async fn send(&mut self, batch: &mut Vec<Change>) -> bool {
        if batch.is_empty() {
            return true;
        }
        let full = std::mem::replace(batch, Vec::with_capacity(self.batch_max_changes));
        self.output.send(full).await.is_ok()
    }

    fn accept_chunk(&mut self, chunk: Option<SnapshotChunk>) {
        match chunk {
            Some(chunk) => {
                self.gates_open = self.gates_open.saturating_sub(1);
                self.waiting_chunks.push(chunk);
            }
            None => {
                self.snapshot.chunks = None;
                self.gates_open = 0;
            }
        }
    }

    /// Takes chunks that arrived while the stream was busy.
    fn collect_arrived_chunks(&mut self) {
        while let Some(receiver) = &mut self.snapshot.chunks {
            match receiver.try_recv() {
                Ok(chunk) => self.accept_chunk(Some(chunk)),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.accept_chunk(None),
            }
        }
    }

    /// Publishes, at this transaction boundary, every chunk whose consistent point the stream reached.
    /// A chunk's rows go downstream in batches of `batch_max_changes`, like streamed rows, so a
    /// large chunk does not make one large batch in every channel it passes; false when downstream is
    /// gone.
    async fn publish_reached_chunks(&mut self, batch: &mut Vec<Change>) -> bool {
        if self.waiting_chunks.is_empty() {
            return true;
        }
        let (reached, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_chunks)
            .into_iter()
            .partition(|chunk| self.position.is_at_or_past(&chunk.at));
        self.waiting_chunks = waiting;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs() as u32)
            .unwrap_or(0);
        for chunk in reached {
            let (rows, progress) = chunk.into_changes(now);
            for row in rows {
                if batch.len() >= self.batch_max_changes && !self.send(batch).await {
                    return false;
                }
                batch.push(Change::Row(row));
            }
            self.progress.push(progress);
            self.commit(self.position.clone(), batch);
        }
        true
    }

    async fn handle_event(
        &mut self,
        stream: &BinlogStream,
        event: &Event,
        batch: &mut Vec<Change>,
    ) -> Result<(), SourceError> {
        let header = event.header();
        let end_offset = header.log_pos() as u64;
        // Events unpacked from a compressed TRANSACTION_PAYLOAD (MySQL 8) have no offsets of their own:
        // they sit at the payload's start, their rows are numbered on across the payload, and the
        // transaction they form ends where the payload ends.
        let embedded = end_offset == 0 && self.payload.is_some();
        if end_offset != 0 {
            self.payload = None;
        }
        let (here, after) = match &self.payload {
            Some(payload) if embedded => (payload.start.clone(), self.position.clone()),
            _ => {
                let start_offset = end_offset.saturating_sub(header.event_size() as u64);
                (
                    BinlogPosition::new(self.position.file.clone(), start_offset),
                    BinlogPosition::new(self.position.file.clone(), end_offset),
                )
            }
        };
        if header.event_type_raw() == mysql_async::binlog::EventType::TRANSACTION_PAYLOAD_EVENT as u8 {
            // The driver unpacks the payload's events itself but skips, silently, a payload it cannot
            // parse: refuse it here instead, or its changes would be lost without a word.
            if let Err(error) = event.read_event::<mysql_async::binlog::events::TransactionPayloadEvent<'_>>() {
                return Err(SourceError::Decode {
                    table: TableName::new("?", "?"),
                    detail: format!("compressed transaction payload at {here} cannot be read: {error}"),
                });
            }
            self.payload = Some(Payload {
                start: here.clone(),
                rows: 0,
            });
            self.advance(after);
            return Ok(());
        }

        if header.event_type_raw() == MARIADB_GTID_EVENT {
            let gtid = parse_mariadb_gtid(event.data(), header.server_id());
            if let (Some(gtid), Some(GtidSet::MariaDb(list))) = (gtid, &mut self.gtids) {
                list.apply(gtid);
            }
            self.transaction = Some(Arc::new(TransactionInfo {
                id: gtid.map(|gtid| gtid.to_string()).unwrap_or_default().into(),
                start: here,
            }));
            self.advance(after);
            return Ok(());
        }

        let data = match event.read_data() {
            Ok(Some(data)) => data,
            Ok(None) => {
                self.advance(after);
                return Ok(());
            }
            Err(error) => {
                return Err(SourceError::Decode {
                    table: TableName::new("?", "?"),
                    detail: format!("event at {here}: {error}"),
                });
            }
        };
        match data {
            EventData::RotateEvent(rotate) => {
                let next = BinlogPosition::new(rotate_target(rotate.name_raw()), rotate.position());
                // A stream asked for by GTID starts wherever the server found it, maybe in another
                // server's files after a failover: its first ROTATE says where.
                if std::mem::take(&mut self.awaiting_gtid_rotate) || next.is_at_or_past(&self.position) {
                    self.position = next;
                }
                return Ok(());
            }
            EventData::GtidEvent(gtid) => {
                if let Some(GtidSet::MySql(set)) = &mut self.gtids {
                    set.add_event(&gtid);
                }
            }
            EventData::FormatDescriptionEvent(_) => return Ok(()),
            EventData::HeartbeatEvent => {
                let in_transaction = self.transaction.is_some() || self.payload.is_some();
                if let Some(boundary) = heartbeat::boundary_at(
                    event.data(),
                    end_offset,
                    &self.position,
                    &self.resume_from,
                    in_transaction,
                ) {
                    self.advance(boundary.clone());
                    self.commit(boundary, batch);
                }
                return Ok(());
            }
            EventData::QueryEvent(query) => {
                let text = query.query();
                let database = query.schema();
                match ddl::classify(&text, &database) {
                    Classified::NotDdl(NotDdl::TransactionControl(effect)) => match effect {
                        TransactionEffect::Begins => {
                            if self.transaction.is_none() {
                                self.transaction = Some(Arc::new(TransactionInfo {
                                    id: "".into(),
                                    start: here,
                                }));
                            }
                        }
                        TransactionEffect::Continues => {}
                        TransactionEffect::Ends => {
                            // COMMIT of a non-transactional change, ROLLBACK, XA: the transaction ends.
                            self.transaction = None;
                            self.advance(after.clone());
                            self.commit(after, batch);
                            return Ok(());
                        }
                    },
                    Classified::NotDdl(NotDdl::DataChange) => {
                        if !std::mem::replace(&mut self.warned_statement_rows, true) {
                            tracing::warn!(
                                position = %here,
                                "a session wrote rows with binlog_format=STATEMENT; their changes are not in the row \
                                 stream and are not captured (set binlog_format=ROW for every session)"
                            );
                        }
                    }
                    Classified::Ddl(statement) => {
                        let implicit_commit = !statement.flags.starts_transaction;
                        self.ddl(statement, &text, &database, &here, &after, header.timestamp(), batch)?;
                        if implicit_commit {
                            // A DDL statement commits implicitly.
                            self.transaction = None;
                            self.advance(after.clone());
                            self.commit(after, batch);
                            return Ok(());
                        }
                    }
                }
            }
            EventData::XidEvent(_) => {
                self.transaction = None;
                self.advance(after.clone());
                self.commit(after, batch);
                return Ok(());
            }
            EventData::TableMapEvent(table_map)
                if self.is_captured(&table_map.database_name(), &table_map.table_name()) =>
            {
                self.map_table(&table_map, &here).await?;
            }
            EventData::RowsEvent(rows_event) => {
                let first_row = self.payload.as_ref().map_or(0, |payload| payload.rows);
                let rows = self
                    .rows(stream, &rows_event, here, first_row, header.timestamp(), batch)
                    .await?;
                if let Some(payload) = &mut self.payload {
                    payload.rows += rows;
                }
            }
            _ => {}
        }
        self.advance(after);
        Ok(())
    }

    /// Moves the read position forward (never back: a format description replayed at the start of a
    /// resumed stream names an earlier offset).
    fn advance(&mut self, to: BinlogPosition) {
        if to.offset != 0 && to.is_at_or_past(&self.position) {
            self.position = to;
        }
    }

    fn is_signal_table(&self, database: &str, table: &str) -> bool {
        self.snapshot
            .signal_table
            .as_ref()
            .is_some_and(|signal| signal.database == database && signal.table == table)
    }

    fn is_captured(&self, database: &str, table: &str) -> bool {
        self.config.captures(database, table)
            || self.is_signal_table(database, table)
            || self.history.follows(database, table)
    }

    /// Builds (or reuses) the schema of a captured table's TABLE_MAP at `here`, and keeps the schema
    /// history in step with what the event and the catalog showed.
    async fn map_table(
        &mut self,
        table_map: &mysql_async::binlog::events::TableMapEvent<'_>,
        here: &BinlogPosition,
    ) -> Result<Arc<TableSchema>, SourceError> {
        let history = &self.history;
        let (schema, names_from) = self
            .table_maps
            .schema_for(table_map, &mut self.catalog, |name| {
                history.shape_at(name, here).cloned()
            })
            .await?;
        let learnt_from = match names_from {
            Some(NamesFrom::Event) => "table_map",
            Some(NamesFrom::Catalog) => "catalog",
            Some(NamesFrom::History | NamesFrom::Positions) | None => return Ok(schema),
        };
        let shape = TableShape::of_schema(&schema);
        if self
            .history
            .shape_at(&schema.name, here)
            .is_some_and(|known| known.names_alike(&shape))
        {
            return Ok(schema);
        }
        if names_from == Some(NamesFrom::Catalog) {
            tracing::info!(
                table = %schema.name,
                position = %here,
                "the shape of {} is taken from information_schema (the schema history has none at this point); \
                 exact unless a DDL of it lies between here and now",
                schema.name
            );
        }
        self.history
            .record(&schema.name, here, TableState::Known(shape), learnt_from);
        self.history.save()?;
        Ok(schema)
    }

    /// A DDL statement at `here`: the schema history learns what it does, the tables it touches are
    /// read anew at their next TABLE_MAP, and, when it concerns the captured tables (or could not be
    /// read), it goes downstream to the DDL policy.
    #[allow(clippy::too_many_arguments)]
    fn ddl(
        &mut self,
        statement: DdlStatement,
        text: &str,
        database: &str,
        here: &BinlogPosition,
        after: &BinlogPosition,
        timestamp: u32,
        batch: &mut Vec<Change>,
    ) -> Result<(), SourceError> {
        let relevant = self.concerns_captured(&statement);
        let config = &self.config;
        let changed = self.history.apply_ddl(
            &statement,
            here,
            after,
            |table| config.captures(&table.database, &table.table),
            self.follow_renames,
        );
        if changed {
            self.history.save()?;
        }
        for table in statement
            .tables
            .iter()
            .chain(statement.renames.iter().map(|rename| &rename.to))
        {
            self.table_maps.forget(table);
            self.catalog.forget(table);
        }
        if !relevant {
            return Ok(());
        }
        tracing::info!(position = %here, kind = ?statement.kind, "DDL: {}", text.trim());
        let transaction = match &self.transaction {
            Some(open) => open.clone(),
            None => Arc::new(TransactionInfo {
                id: "".into(),
                start: here.clone(),
            }),
        };
        batch.push(Change::Ddl(DdlChange {
            statement: Arc::new(statement),
            text: Arc::from(text),
            database: database.to_owned(),
            position: RecordPosition {
                event: here.clone(),
                row_index: 0,
            },
            timestamp,
            transaction,
        }));
        Ok(())
    }

    /// Whether a DDL statement is the captured tables' business: it touches one (under any of its
    /// names), it is about a database holding captured tables, or nobody could read it.
    fn concerns_captured(&self, statement: &DdlStatement) -> bool {
        if statement.flags.temporary {
            return false;
        }
        match statement.kind {
            DdlKind::Unknown => true,
            DdlKind::CreateDatabase | DdlKind::AlterDatabase | DdlKind::DropDatabase => {
                statement.database.as_deref().is_some_and(|database| {
                    self.config
                        .tables
                        .iter()
                        .any(|pattern| pattern.literal_database().is_none_or(|literal| literal == database))
                })
            }
            _ => statement
                .tables
                .iter()
                .chain(statement.renames.iter().map(|rename| &rename.from))
                .any(|table| self.is_captured(&table.database, &table.table)),
        }
    }

    fn commit(&mut self, resume_from: BinlogPosition, batch: &mut Vec<Change>) {
        if resume_from.offset == 0 {
            return;
        }
        self.resume_from = resume_from.clone();
        self.last_emitted = None;
        if self.gtids.as_ref() != self.resume_gtids.as_deref() {
            self.resume_gtids = self.gtids.clone().map(Arc::new);
        }
        batch.push(Change::Commit(Commit {
            resume_from,
            gtids: self.resume_gtids.clone(),
            progress: std::mem::take(&mut self.progress),
        }));
    }

    /// Handles a row of the signal table: a request to snapshot the table its `target` names.
    fn signal(&mut self, schema: &TableSchema, after: &[ColumnValue]) {
        let target = schema
            .columns
            .iter()
            .position(|column| column.name.eq_ignore_ascii_case("target"))
            .and_then(|index| match &after[index] {
                ColumnValue::Text(bytes) | ColumnValue::Bytes(bytes) => {
                    Some(String::from_utf8_lossy(bytes).into_owned())
                }
                _ => None,
            });
        let Some(target) = target else {
            tracing::warn!(table = %schema.name, "signal row without a text `target` column; ignored");
            return;
        };
        let Some((database, table)) = target.trim().split_once('.') else {
            tracing::warn!(target, "signal target is not `database.table`; ignored");
            return;
        };
        if !self.config.captures(database, table) {
            tracing::warn!(
                target,
                "signal asks to snapshot a table that source.tables does not capture; ignored"
            );
            return;
        }
        self.request_snapshot(TableName::new(database, table));
    }

    /// Asks the coordinator to snapshot `name`, and records it as owed in the next checkpoint.
    fn request_snapshot(&mut self, name: TableName) {
        let Some(requests) = &self.snapshot.requests else {
            tracing::warn!(table = %name, "snapshot of {name} not taken: snapshots are off (snapshot.mode = \"never\")");
            return;
        };
        if requests.try_send(name.clone()).is_err() {
            tracing::warn!(table = %name, "too many snapshot requests waiting; the one for {name} is ignored");
            return;
        }
        self.progress.push(ProgressUpdate {
            table: name.object_name(),
            progress: TableProgress::Pending,
        });
    }

    /// At a transaction boundary: captures the tables a config reload added from here on, and asks
    /// for a snapshot of those that exist (its chunks are published at their consistent points, as
    /// any snapshot's).
    fn add_tables(&mut self, addition: TableAddition) {
        tracing::info!(
            tables = %addition.tables.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
            position = %self.position,
            "source.tables changed by a config reload; capturing the new tables from here"
        );
        self.config.tables = addition.tables;
        for name in addition.snapshot {
            self.request_snapshot(name);
        }
    }

    async fn rows(
        &mut self,
        stream: &BinlogStream,
        rows_event: &RowsEventData<'_>,
        event_position: BinlogPosition,
        first_row: u64,
        timestamp: u32,
        batch: &mut Vec<Change>,
    ) -> Result<u64, SourceError> {
        let Some(table_map) = stream.get_tme(rows_event.table_id()) else {
            return Ok(0);
        };
        let (database, table) = (table_map.database_name(), table_map.table_name());
        if !self.is_captured(&database, &table) {
            return Ok(0);
        }
        let is_signal = self.is_signal_table(&database, &table);
        let schema: Arc<TableSchema> = self.map_table(table_map, &event_position).await?;
        let operation = match rows_event {
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Operation::Insert,
            RowsEventData::UpdateRowsEventV1(_) | RowsEventData::UpdateRowsEvent(_) => Operation::Update,
            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => Operation::Delete,
            RowsEventData::PartialUpdateRowsEvent(_) => {
                return Err(SourceError::Decode {
                    table: schema.name.clone(),
                    detail: "partial JSON updates are not supported; set binlog_row_value_options=''".into(),
                });
            }
        };
        let transaction_info = match &self.transaction {
            Some(open) => open.clone(),
            None => Arc::new(TransactionInfo {
                id: "".into(),
                start: event_position.clone(),
            }),
        };
        let decode_error = |detail: String| SourceError::Decode {
            table: schema.name.clone(),
            detail,
        };
        let mut row_count = 0;
        let rows = RowImages::new(rows_event, table_map, &schema).map_err(|error| decode_error(error.to_string()))?;
        for (index, row) in rows.enumerate() {
            row_count += 1;
            let position = RecordPosition {
                event: event_position.clone(),
                row_index: first_row + index as u64,
            };
            if let Some(last) = &self.last_emitted
                && position.event.file == last.event.file
                && (position.event.offset, position.row_index) <= (last.event.offset, last.row_index)
            {
                continue;
            }
            let (before, after) = row.map_err(|error| decode_error(format!("at {position}: {error}")))?;
            self.last_emitted = Some(position.clone());
            if is_signal {
                if let (Operation::Insert, Some(after)) = (operation, &after) {
                    self.signal(&schema, after);
                }
                continue;
            }
            batch.push(Change::Row(RowChange {
                origin: Origin::Binlog,
                table: schema.clone(),
                operation,
                before,
                after,
                position,
                timestamp,
                transaction: transaction_info.clone(),
            }));
        }
        Ok(row_count)
    }
}

/// The next request to read a chunk; never completes when there is no coordinator.
async fn next_gate(gates: &mut Option<mpsc::Receiver<oneshot::Sender<()>>>) -> Option<oneshot::Sender<()>> {
    match gates {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// The next chunk from the coordinator; never completes when there is no coordinator.
async fn next_addition(additions: &mut Option<mpsc::Receiver<TableAddition>>) -> Option<TableAddition> {
    match additions {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_chunk(chunks: &mut Option<mpsc::Receiver<SnapshotChunk>>) -> Option<SnapshotChunk> {
    match chunks {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// The file a ROTATE event names. The artificial ROTATE a server sends first comes before the format
/// description that announces checksums, so the driver leaves its 4-byte CRC on the name; binlog
/// names are printable ASCII, so trailing bytes that are not are that checksum.
fn rotate_target(name: &[u8]) -> String {
    let mut name = name;
    if name.len() > 4 && !name.iter().all(|byte| byte.is_ascii_graphic()) {
        name = &name[..name.len() - 4];
    }
    String::from_utf8_lossy(name).into_owned()
}

/// The GTID of a MariaDB GTID event body (sequence u64, domain u32, flags u8) from `server_id`.
fn parse_mariadb_gtid(body: &[u8], server_id: u32) -> Option<MariaDbGtid> {
    if body.len() < 12 {
        return None;
    }
    Some(MariaDbGtid {
        domain: u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")),
        server: server_id,
        sequence: u64::from_le_bytes(body[0..8].try_into().expect("8 bytes")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_names_lose_a_trailing_checksum() {
        assert_eq!(rotate_target(b"mysql-bin.000002"), "mysql-bin.000002");
        assert_eq!(rotate_target(b"mysql-bin.000002\x9a\x01\xff\x10"), "mysql-bin.000002");
    }

    #[test]
    fn mariadb_gtids_read_as_domain_server_sequence() {
        let mut body = 42u64.to_le_bytes().to_vec();
        body.extend_from_slice(&3u32.to_le_bytes());
        body.push(0);
        assert_eq!(parse_mariadb_gtid(&body, 7).unwrap().to_string(), "3-7-42");
        assert_eq!(parse_mariadb_gtid(&[1, 2], 7), None);
    }
}
