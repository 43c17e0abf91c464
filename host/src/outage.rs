//! Logging a connection's outages once per state change.
//!
//! A server that is down for a minute is retried a dozen times; a log line per attempt buries the two
//! facts an operator needs: when the connection was lost, and when (and after how long) it came back.
//! An [`Outage`] tracks one connection's state and logs exactly those: a `warn` when it is lost (or,
//! for a connection never made yet, "waiting for"), an `info` when it is back (with the number of
//! failed attempts and the outage's length), and each failed attempt in between at `debug`.
//!
//! The state machine ([`Outage::failure_at`], [`Outage::success_at`]) is pure, so its transitions are
//! tested without a clock or a log; [`Outage::failed`] and [`Outage::restored`] add the logging.

use std::fmt::Display;
use std::time::{Duration, Instant};

/// What a failure or a success changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The connection was up (or never tried) and is now down.
    Lost,
    /// It was down and stays down: attempt number `attempt` of this outage failed.
    StillDown { attempt: u32 },
    /// It was down and is back after `failed_attempts` failures over `outage`.
    Restored { failed_attempts: u32, outage: Duration },
    /// It was up and stays up.
    Unchanged,
}

/// One connection's state: up, or down since a moment with so many failed attempts.
#[derive(Debug, Clone)]
pub struct Outage {
    /// What is connected to, for the log: `MySQL (binlog stream)`, `Kafka`.
    peer: String,
    /// Where, for the log: `host:port`, or the bootstrap servers.
    address: String,
    down: Option<Down>,
    /// Whether it ever worked: the first outage of a connection never made is a wait, not a loss.
    ever_up: bool,
}

#[derive(Debug, Clone, Copy)]
struct Down {
    since: Instant,
    failed_attempts: u32,
}

impl Outage {
    /// A connection not yet known to be down.
    pub fn new(peer: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            peer: peer.into(),
            address: address.into(),
            down: None,
            ever_up: false,
        }
    }

    /// Whether the connection is currently known to be down.
    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }

    /// Records a failed attempt (or a lost connection) at `now`.
    pub fn failure_at(&mut self, now: Instant) -> Transition {
        match &mut self.down {
            None => {
                self.down = Some(Down {
                    since: now,
                    failed_attempts: 1,
                });
                Transition::Lost
            }
            Some(down) => {
                down.failed_attempts += 1;
                Transition::StillDown {
                    attempt: down.failed_attempts,
                }
            }
        }
    }

    /// Records a working connection at `now`.
    pub fn success_at(&mut self, now: Instant) -> Transition {
        self.ever_up = true;
        match self.down.take() {
            None => Transition::Unchanged,
            Some(down) => Transition::Restored {
                failed_attempts: down.failed_attempts,
                outage: now.saturating_duration_since(down.since),
            },
        }
    }

    /// Records a failure and logs it: `warn` when it starts an outage, `debug` while one lasts.
    pub fn failed(&mut self, error: &dyn Display, retry_in: Option<Duration>) -> Transition {
        let transition = self.failure_at(Instant::now());
        let retry_in_ms = retry_in.map(|wait| wait.as_millis() as u64);
        match transition {
            Transition::Lost if self.ever_up => tracing::warn!(
                peer = %self.peer,
                address = %self.address,
                retry_in_ms,
                "lost the connection to {} at {}: {error}; retrying with backoff, next report when it is back",
                self.peer,
                self.address
            ),
            Transition::Lost => tracing::warn!(
                peer = %self.peer,
                address = %self.address,
                retry_in_ms,
                "waiting for {} at {}: {error}; retrying with backoff, next report when it answers",
                self.peer,
                self.address
            ),
            Transition::StillDown { attempt } => tracing::debug!(
                peer = %self.peer,
                address = %self.address,
                attempt,
                retry_in_ms,
                "{} at {} still unreachable: {error}",
                self.peer,
                self.address
            ),
            Transition::Restored { .. } | Transition::Unchanged => {}
        }
        transition
    }

    /// Records a working connection and logs the end of an outage at `info`.
    pub fn restored(&mut self) -> Transition {
        let first_time = !self.ever_up;
        let transition = self.success_at(Instant::now());
        if let Transition::Restored {
            failed_attempts,
            outage,
        } = transition
        {
            let (what, verb) = if first_time {
                ("reached", "after")
            } else {
                ("connection to", "is back after")
            };
            tracing::info!(
                peer = %self.peer,
                address = %self.address,
                failed_attempts,
                outage_ms = outage.as_millis() as u64,
                "{what} {} at {} {verb} {:.1} s and {failed_attempts} failed attempts",
                self.peer,
                self.address,
                outage.as_secs_f64()
            );
        }
        transition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_when_lost_and_once_when_back() {
        let start = Instant::now();
        let mut outage = Outage::new("MySQL", "127.0.0.1:3306");
        assert_eq!(outage.success_at(start), Transition::Unchanged);
        assert_eq!(outage.failure_at(start), Transition::Lost);
        assert!(outage.is_down());
        assert_eq!(outage.failure_at(start), Transition::StillDown { attempt: 2 });
        assert_eq!(outage.failure_at(start), Transition::StillDown { attempt: 3 });
        assert_eq!(
            outage.success_at(start + Duration::from_secs(7)),
            Transition::Restored {
                failed_attempts: 3,
                outage: Duration::from_secs(7)
            }
        );
        assert!(!outage.is_down());
        assert_eq!(outage.success_at(start + Duration::from_secs(8)), Transition::Unchanged);
    }

    #[test]
    fn a_second_outage_starts_its_own_count_and_clock() {
        let start = Instant::now();
        let mut outage = Outage::new("Kafka", "127.0.0.1:9092");
        outage.failure_at(start);
        outage.failure_at(start);
        outage.success_at(start + Duration::from_secs(1));
        assert_eq!(outage.failure_at(start + Duration::from_secs(10)), Transition::Lost);
        assert_eq!(
            outage.success_at(start + Duration::from_secs(12)),
            Transition::Restored {
                failed_attempts: 1,
                outage: Duration::from_secs(2)
            }
        );
    }
}
