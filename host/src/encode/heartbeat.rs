//! When the encoder publishes a DTS `HEARTBEAT` record (`pipeline.heartbeat_interval_ms`).
//!
//! A heartbeat tells consumers the stream is alive and how far it has read the source, even when no
//! captured table changes. It reports the last transaction boundary the encoder passed, and it is
//! published only at a boundary: it takes a record id, and the commit mark that follows it carries the
//! next id into the checkpoint, so a restart never gives a re-sent row an id a heartbeat already had.
//! A heartbeat that falls due inside a transaction waits for its commit.

use std::time::Duration;

use crate::source::position::BinlogPosition;

/// Tracks whether a heartbeat is due and whether the encoder stands at a transaction boundary.
#[derive(Debug)]
pub struct HeartbeatSchedule {
    interval: Duration,
    /// The last transaction boundary passed: what a heartbeat reports.
    boundary: BinlogPosition,
    /// Rows were encoded since `boundary`.
    inside_transaction: bool,
    due: bool,
}

impl HeartbeatSchedule {
    /// A schedule starting at `start` (the checkpointed position), first due one interval from now.
    pub fn new(interval: Duration, start: BinlogPosition) -> Self {
        Self {
            interval,
            boundary: start,
            inside_transaction: false,
            due: false,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A row was encoded: the encoder is inside a transaction until the next commit.
    pub fn row(&mut self) {
        self.inside_transaction = true;
    }

    /// A transaction ended; the stream resumes from `position`.
    pub fn commit(&mut self, position: &BinlogPosition) {
        self.boundary.clone_from(position);
        self.inside_transaction = false;
    }

    /// The interval passed.
    pub fn tick(&mut self) {
        self.due = true;
    }

    /// The position to publish a heartbeat at, if one is due and the encoder is at a boundary.
    pub fn take_due(&mut self) -> Option<BinlogPosition> {
        if !self.due || self.inside_transaction {
            return None;
        }
        self.due = false;
        Some(self.boundary.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_due_heartbeat_waits_for_the_end_of_a_transaction() {
        let start = BinlogPosition::new("mysql-bin.000001", 4);
        let mut schedule = HeartbeatSchedule::new(Duration::from_secs(1), start.clone());
        assert_eq!(schedule.take_due(), None, "not due before the first tick");
        schedule.tick();
        assert_eq!(schedule.take_due(), Some(start), "idle: due at the start position");
        assert_eq!(schedule.take_due(), None, "once per tick");

        schedule.row();
        schedule.tick();
        assert_eq!(schedule.take_due(), None, "inside a transaction");
        let end = BinlogPosition::new("mysql-bin.000001", 900);
        schedule.commit(&end);
        assert_eq!(schedule.take_due(), Some(end), "right after its commit");
    }
}
