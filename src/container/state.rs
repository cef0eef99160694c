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
            // No pid 1 yet: the supervisor is still setting it up.
            let init = rec.init.map_or(true, |p| p.alive());
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

/// Whether an ended container is between two runs of its restart policy:
/// its supervisor lives on and waits out the back-off.
pub fn restarting(rec: &Record, state: State) -> bool {
    matches!(state, State::Exited { .. })
        && !rec.config.restart.is_empty()
        && rec.supervisor.is_some_and(|s| s.alive())
}

/// Whether a running container is paused (see `freeze`).
pub fn paused(rec: &Record, state: State) -> bool {
    state == State::Running && rec.init.is_some_and(super::freeze::frozen)
}

/// Podman's STATUS column: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`.
pub fn describe(rec: &Record, state: State, now: DateTime<Utc>) -> String {
    let ago = |t: DateTime<Utc>| human_duration((now - t).num_seconds());
    match state {
        State::Created => "Created".into(),
        State::Running => match rec.started {
            Some(t) if paused(rec, state) => format!("Up {} (Paused)", ago(t)),
            Some(t) => format!("Up {}{}", ago(t), health_suffix(rec)),
            // Claimed by a start whose pid 1 has not exec'd yet.
            None => "Starting".into(),
        },
        State::Stopping => "Stopping".into(),
        State::Exited { code, finished } if restarting(rec, state) => {
            let when = finished
                .map(|t| format!(" {} ago", ago(t)))
                .unwrap_or_default();
            format!("Restarting ({code}){when}")
        }
        State::Exited { code, finished } => match finished {
            Some(t) => format!("Exited ({code}) {} ago", ago(t)),
            None => format!("Exited ({code})"),
        },
        State::Lost => format!("Exited ({EXIT_UNKNOWN})"),
    }
}

/// Docker's health note after `Up ...` (see `Health::note`).
fn health_suffix(rec: &Record) -> String {
    rec.health.as_ref().map(|h| h.note()).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::{Config, ProcId};

    fn running(supervisor: Option<ProcId>, init: Option<ProcId>) -> Record {
        Record {
            id: "0".repeat(64),
            name: "x".into(),
            image: "i".into(),
            image_id: "sha256:00".into(),
            command: vec![],
            created: Utc::now(),
            status: Status::Running,
            pid: init.map(|p| p.pid),
            exit_code: None,
            finished: None,
            mapping_key: String::new(),
            auto_remove: false,
            config: Config::default(),
            started: Some(Utc::now() - chrono::Duration::seconds(3)),
            init,
            supervisor,
            ports: Vec::new(),
            restart_count: 0,
            stopped_by_user: false,
            health: None,
        }
    }

    #[test]
    fn running_only_while_the_very_same_processes_live() {
        let me = ProcId::current().unwrap();
        let reused = ProcId {
            start: me.start + 1,
            ..me
        };
        assert_eq!(observe(&running(Some(me), Some(me))), State::Running);
        assert_eq!(observe(&running(Some(me), None)), State::Running);
        assert_eq!(observe(&running(Some(me), Some(reused))), State::Stopping);
        assert_eq!(observe(&running(Some(reused), Some(me))), State::Lost);
        assert_eq!(observe(&running(None, Some(me))), State::Lost);
    }

    #[test]
    fn statuses_read_like_podman() {
        let now = Utc::now();
        let me = ProcId::current();
        let mut r = running(me, me);
        r.started = Some(now - chrono::Duration::seconds(3));
        assert_eq!(describe(&r, State::Running, now), "Up 3 seconds");
        r.health = Some(Default::default());
        assert_eq!(
            describe(&r, State::Running, now),
            "Up 3 seconds (health: starting)"
        );
        r.health.as_mut().unwrap().status = "healthy".parse().unwrap();
        assert_eq!(describe(&r, State::Running, now), "Up 3 seconds (healthy)");
        let done = State::Exited {
            code: 2,
            finished: Some(now - chrono::Duration::seconds(120)),
        };
        assert_eq!(describe(&r, done, now), "Exited (2) 2 minutes ago");
        r.config.restart = "always".into();
        assert_eq!(describe(&r, done, now), "Restarting (2) 2 minutes ago");
        assert_eq!(describe(&r, State::Lost, now), "Exited (-1)");
        assert_eq!(describe(&r, State::Created, now), "Created");
    }
}
