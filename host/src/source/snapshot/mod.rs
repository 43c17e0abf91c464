//! The snapshot: every row of the selected tables, handed over to the binlog stream exactly.
//!
//! # The consistent point, without a lock
//! Each chunk of a table is read in its own short read-only transaction opened with
//! `START TRANSACTION WITH CONSISTENT SNAPSHOT`. On MariaDB that statement also fixes, atomically with
//! the snapshot, the binlog position it corresponds to: the session status `binlog_snapshot_file` /
//! `binlog_snapshot_position`. Every transaction committed before that position is visible to the
//! chunk's `SELECT`, none after it is. No lock is taken and writers are never blocked. A server without
//! that status (MySQL) can only get a matching position under a brief `FLUSH TABLES WITH READ LOCK`,
//! which sluice takes per chunk only when `snapshot.allow_global_lock` says so, and otherwise refuses.
//!
//! MySQL 8 has no such status. `LOCK INSTANCE FOR BACKUP` blocks DDL but not commits, and
//! `performance_schema.log_status` reports log positions without tying them to a transaction's
//! snapshot, so neither yields a position a chunk's rows match; sluice does not pretend otherwise and
//! uses the global-lock fallback there.
//!
//! # The handoff: chunks are transactions in the stream
//! The binlog reader streams all the while, from the checkpoint (or start) position. Before a chunk is
//! read, the reader is asked to hold still at its next transaction boundary (a *gate*); the chunk's
//! point is then at or after the stream's position, never behind it. A chunk read at point `P` is the
//! state of its rows *as of P*, so the reader, once it has the chunk, streams on to `P` and publishes
//! the chunk there, at a transaction boundary: every binlog
//! change before `P` was published before the chunk, every change after `P` is published after it.
//! Replaying the topic in order therefore yields each row's state at every point; nothing is lost at
//! the handoff and no binlog change is published twice. (A binlog change to a row whose chunk comes
//! later is published too, before the chunk: the chunk then re-states that row as of its point. This
//! is the DBLog interleaving with zero-width watermarks, and it needs no write to the source.)
//!
//! # Resuming
//! A chunk's rows are followed in the stream by a commit carrying the table's progress (the last key
//! read). The checkpoint takes that progress only when Kafka acknowledged every row before it, with the
//! stream position of that moment. After a crash, streaming resumes from the checkpoint and the table
//! continues after the checkpointed key with new chunks at new points, all at or after the resume
//! position: finished chunks are not read again, and the interleaving rule above still holds.
//!
//! Chunks use keyset pagination on the primary key (`WHERE (k1, k2) > (?, ?) ORDER BY k1, k2 LIMIT n`,
//! never OFFSET), compared by the server in the key's own collation. A table without a primary key is
//! read in one scan (one chunk), and its snapshot cannot resume mid-table.
//!
//! # Re-snapshot while streaming
//! Inserting a row into the configured `snapshot.signal_table` with `target = 'database.table'` asks for
//! a new snapshot of that table. The reader sees the row in the binlog (sluice itself writes nothing to
//! the source), records the table as pending in the next checkpoint, and the coordinator reads it again
//! with the same chunk-at-its-point rule, while the stream goes on.

pub mod chunk;
pub mod coordinator;
pub mod progress;
