//! Restart policies (`--restart no|on-failure[:N]|always|unless-stopped`)
//! as Docker defines them, and the back-off between restarts.
//!
//! Without a daemon, "always" means: while the container's supervisor
//! lives. The supervisor restarts pid 1 over the same writable layer each
//! time it exits; nothing restarts a container after a reboot or after its
//! supervisor was killed (the record then reads `Exited (-1)`). An explicit
//! `hutch stop` or `hutch kill` ends it for good under every policy, as
//! `docker stop` does; `unless-stopped` therefore behaves like `always`.
//!
//! This module only decides; the launcher's supervisor loop acts.

use std::time::Duration;

/// Docker's `RestartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    No,
    /// Restart after a non-zero exit, at most `max` times (0: no limit).
    OnFailure {
        max: u32,
    },
    Always,
    UnlessStopped,
}

impl Policy {
    /// Docker's `RestartPolicy.Name`.
    pub fn name(&self) -> &'static str {
        match self {
            Policy::No => "no",
            Policy::OnFailure { .. } => "on-failure",
            Policy::Always => "always",
            Policy::UnlessStopped => "unless-stopped",
        }
    }

    /// Docker's `RestartPolicy.MaximumRetryCount`.
    pub fn max_retries(&self) -> u32 {
        match self {
            Policy::OnFailure { max } => *max,
            _ => 0,
        }
    }

    /// Whether a container that exited with `code`, restarted `count` times
    /// so far and not stopped by the user, starts again.
    pub fn restarts(&self, code: i32, count: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match *self {
            Policy::No => false,
            Policy::OnFailure { max } => code != 0 && (max == 0 || count < max),
            Policy::Always | Policy::UnlessStopped => true,
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Policy::OnFailure { max } if *max > 0 => write!(f, "on-failure:{max}"),
            p => f.write_str(p.name()),
        }
    }
}

impl std::str::FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Policy, String> {
        let bad = |why: &str| format!("invalid restart policy '{s}': {why}");
        let (name, count) = match s.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (s, None),
        };
        let policy = match name {
            "" | "no" => Policy::No,
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => {
                let max = match count {
                    None => 0,
                    Some(c) => c
                        .parse::<u32>()
                        .map_err(|_| bad("the retry count must be a number (on-failure:3)"))?,
                };
                return Ok(Policy::OnFailure { max });
            }
            _ => return Err(bad("use no, on-failure[:N], always or unless-stopped")),
        };
        if count.is_some() {
            return Err(bad("only on-failure takes a retry count (on-failure:3)"));
        }
        Ok(policy)
    }
}

/// Docker's back-off: 100 ms before the first restart, doubling each time,
/// at most a minute.
pub fn backoff(count: u32) -> Duration {
    let ms = 100u64.saturating_mul(1u64 << count.min(20));
    Duration::from_millis(ms.min(60_000))
}

/// A container that ran this long before exiting starts the back-off over
/// (Docker resets its delay after 10 seconds of running).
pub const RESET_AFTER: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_docker_spells_them() {
        for s in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:2",
        ] {
            assert_eq!(s.parse::<Policy>().unwrap().to_string(), s);
        }
        assert_eq!(
            "on-failure:0".parse::<Policy>().unwrap().to_string(),
            "on-failure"
        );
        for bad in ["sometimes", "always:2", "on-failure:x", "on-failure:-1"] {
            let e = bad.parse::<Policy>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn who_restarts() {
        let twice = Policy::OnFailure { max: 2 };
        assert!(twice.restarts(1, 0, false));
        assert!(twice.restarts(1, 1, false));
        assert!(!twice.restarts(1, 2, false));
        assert!(!twice.restarts(0, 0, false));
        assert!(Policy::OnFailure { max: 0 }.restarts(3, 100, false));
        assert!(Policy::Always.restarts(0, 5, false));
        assert!(!Policy::Always.restarts(0, 5, true));
        assert!(!Policy::UnlessStopped.restarts(1, 0, true));
        assert!(!Policy::No.restarts(1, 0, false));
    }

    #[test]
    fn backoff_doubles_from_100ms_up_to_a_minute() {
        assert_eq!(backoff(0), Duration::from_millis(100));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }
}
