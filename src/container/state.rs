//! What a record's status means right now. A record says `running` while its
//! supervisor lives; if the supervisor was killed (or the machine rebooted)
//! nobody wrote the exit, so the record alone would lie. [`observe`] checks
//! pid 1 and the supervisor against /proc (pid + start time) and reports such
//! a container as ended with an unknown status; [`settle`] writes that down.
//!
//! It never sends signals.

use super::{Containers, Record, Status};
use chrono::{DateTime, Utc};

/// Exit code recorded when the real one is unknown (podman shows -1 too).
pub const EXIT_UNKNOWN: i32 = -1;

/// A container's state as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Created,
    /// pid 1 and its supervisor both run (or the supervisor is still
    /// setting pid 1 up).
    Running,
    /// The supervisor lives but pid 1 is gone: the exit is being recorded.
    Stopping,
    Exited {
        code: i32,
        finished: Option<DateTime<Utc>>,
    },
    /// The record says running but its supervisor is gone.
    Lost,
}

impl State {
    pub fn is_running(&self) -> bool {
        matches!(self, State::Running | State::Stopping)
    }
}

/// Compare the record with /proc.
pub fn observe(rec: &Record) -> State {
    match rec.status {
        Status::Created => State::Created,
        Status::Exited => State::Exited {
            code: rec.exit_code.unwrap_or(EXIT_UNKNOWN),
            finished: rec.finished,
        },
        Status::Running => {
            let sup = rec.supervisor.is_some_and(|s| s.alive());
            let init = rec.init.is_some_and(|p| p.alive());
            match (sup, init) {
                (true, true) => State::Running,
                (true, false) => State::Stopping,
                (false, _) => State::Lost,
            }
        }
    }
}

/// Record a lost container as exited with an unknown status (under its
/// lock, re-checking there, since its supervisor may have written the real
/// exit meanwhile); the record as it now stands.
pub fn settle(containers: &Containers, rec: Record) -> Record {
    if observe(&rec) != State::Lost {
        return rec;
    }
    let updated = containers.update(&rec.id, |r| {
        if observe(r) == State::Lost {
            r.status = Status::Exited;
            r.exit_code = Some(EXIT_UNKNOWN);
            r.finished = Some(Utc::now());
        }
    });
    // A read-only state dir still gets the right answer, just not saved.
    updated.unwrap_or(Record {
        status: Status::Exited,
        exit_code: Some(EXIT_UNKNOWN),
        ..rec
    })
}

/// Podman's STATUS column: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`.
pub fn describe(rec: &Record, state: State, now: DateTime<Utc>) -> String {
    let ago = |t: DateTime<Utc>| human_duration((now - t).num_seconds());
    match state {
        State::Created => "Created".into(),
        State::Running => match rec.started {
            Some(t) => format!("Up {}", ago(t)),
            // Claimed by a start whose pid 1 has not exec'd yet.
            None => "Starting".into(),
        },
        State::Stopping => "Stopping".into(),
        State::Exited { code, finished } => match finished {
            Some(t) => format!("Exited ({code}) {} ago", ago(t)),
            None => format!("Exited ({code})"),
        },
        State::Lost => format!("Exited ({EXIT_UNKNOWN})"),
    }
}

/// Docker's go-units `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let (m, h) = (s / 60, s / 3600);
    match () {
        _ if s < 1 => "Less than a second".into(),
        _ if s == 1 => "1 second".into(),
        _ if s < 60 => format!("{s} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}
