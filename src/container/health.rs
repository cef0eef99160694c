//! Health checks, as Docker runs them: the check (`--health-cmd` or the
//! image's HEALTHCHECK, merged field by field as Docker merges them), one
//! probe (the check's command run in the running container through the
//! same path as `hutch exec`, output bounded, killed at its timeout), the
//! status a probe leaves (starting, healthy, unhealthy, with the failing
//! streak and the last five probes, Docker's `State.Health`), and the
//! monitor process a container's supervisor forks to probe on the interval
//! (no probe while the container is paused, as Docker skips them).
//!
//! It never starts containers; probes only join running ones.

use super::{Containers, Record};
use crate::oci::imageconfig::ImageConfig;
use crate::sandbox::exec::Target;
use crate::sandbox::{join, ProcessSpec};
use crate::sys::process::{child_exit, close_fds_except, fork, pidfd_open, Forked};
use chrono::{DateTime, Utc};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a health check cannot be used or its monitor started.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(
        "unusable health check test {0:?}: expected [\"CMD\", ...] or [\"CMD-SHELL\", COMMAND]"
    )]
    UnusableTest(Vec<String>),
    #[error("invalid duration '{0}': use a number with a unit, such as 30s, 1m30s or 500ms")]
    Duration(String),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
}

/// Docker's defaults for fields left at zero.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_RETRIES: u32 = 3;
/// Docker keeps this many probe results.
const LOG_ENTRIES: usize = 5;
/// And this much of each probe's output.
const OUTPUT_LIMIT: usize = 4096;

/// Docker's `HealthConfig` (durations in nanoseconds; 0 means the default,
/// or the image's value when merging).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Check {
    /// `["CMD", argv...]`, `["CMD-SHELL", command]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub retries: u32,
}

impl Check {
    /// The check a container gets: `flags` over `image`'s (Docker's merge:
    /// a field the flags leave unset comes from the image). None when
    /// neither has a test, or the test is `NONE`.
    pub fn merge(flags: Check, image: Option<Check>) -> Option<Check> {
        let mut c = flags;
        if let Some(i) = image {
            if c.test.is_empty() {
                c.test = i.test;
            }
            if c.interval == 0 {
                c.interval = i.interval;
            }
            if c.timeout == 0 {
                c.timeout = i.timeout;
            }
            if c.start_period == 0 {
                c.start_period = i.start_period;
            }
            if c.retries == 0 {
                c.retries = i.retries;
            }
        }
        match c.test.first().map(String::as_str) {
            None | Some("NONE") => None,
            _ => Some(c),
        }
    }

    /// The image's HEALTHCHECK from its raw config JSON (`config.Healthcheck`).
    pub fn of_image(config_json: &[u8]) -> Option<Check> {
        // Most images have none, and every start asks: the config is parsed
        // (the whole JSON, for nothing in most starts) only when it can name
        // one, spelt out or through a `\u` escape.
        let holds = |s: &[u8]| config_json.windows(s.len()).any(|w| w == s);
        if !holds(b"Healthcheck") && !holds(b"\\u") {
            return None;
        }
        let config = ImageConfig::parse(config_json, "the image config").ok()?;
        let h = config.config()?.healthcheck()?;
        let n = |v: Option<&u64>| v.copied().unwrap_or(0);
        Some(Check {
            test: h.test().cloned().unwrap_or_default(),
            interval: n(h.interval()),
            timeout: n(h.timeout()),
            start_period: n(h.start_period()),
            retries: h.retries().map_or(Ok(0), |&r| u32::try_from(r)).ok()?,
        })
    }

    /// The argv a probe runs.
    pub fn argv(&self) -> Result<Vec<String>, HealthError> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Ok(rest.to_vec()),
            Some((kind, [cmd])) if kind == "CMD-SHELL" => {
                Ok(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
            }
            _ => Err(HealthError::UnusableTest(self.test.clone())),
        }
    }

    pub fn interval(&self) -> Duration {
        nanos_or(self.interval, DEFAULT_INTERVAL)
    }

    pub fn timeout(&self) -> Duration {
        nanos_or(self.timeout, DEFAULT_TIMEOUT)
    }

    pub fn start_period(&self) -> Duration {
        Duration::from_nanos(self.start_period)
    }

    pub fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }
}

fn nanos_or(n: u64, default: Duration) -> Duration {
    if n == 0 {
        default
    } else {
        Duration::from_nanos(n)
    }
}

/// Docker's health statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

crate::named::named!(Status, "health status", {
    Starting => "starting",
    Healthy => "healthy",
    Unhealthy => "unhealthy",
});

/// One probe's result (Docker's `HealthcheckResult`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Probe {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// 0 healthy, anything else unhealthy; -1 when it timed out.
    pub exit_code: i32,
    pub output: String,
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    pub status: Status,
    pub failing_streak: u32,
    pub log: Vec<Probe>,
}

impl Health {
    /// Docker's note after `Up ...`: ` (healthy)`, ` (unhealthy)`,
    /// ` (health: starting)`.
    pub fn note(&self) -> String {
        match self.status {
            Status::Starting => " (health: starting)".into(),
            s => format!(" ({s})"),
        }
    }

    /// Count `probe` in, as Docker does: a success makes the container
    /// healthy; a failure adds to the streak (not while it is still
    /// starting within `start_period` of `started`), and `retries` failures
    /// in a row make it unhealthy.
    pub fn record(&mut self, probe: Probe, check: &Check, started: Option<DateTime<Utc>>) {
        if probe.exit_code == 0 {
            self.status = Status::Healthy;
            self.failing_streak = 0;
        } else {
            let grace = self.status == Status::Starting
                && started.is_some_and(|s| {
                    (probe.start - s).to_std().unwrap_or_default() < check.start_period()
                });
            if !grace {
                self.failing_streak += 1;
                if self.failing_streak >= check.retries() {
                    self.status = Status::Unhealthy;
                }
            }
        }
        self.log.push(probe);
        let extra = self.log.len().saturating_sub(LOG_ENTRIES);
        self.log.drain(..extra);
    }
}

/// Run `check`'s command once in the running container `rec`, in its
/// namespaces, as its user, with its environment and working directory.
/// Forks (the probe process joins the container); the caller must be
/// single-threaded. `state` is the state dir, whose seccomp cache spares
/// recompiling the container's filter at every check.
pub fn probe(state: &Path, rec: &Record, check: &Check) -> Probe {
    let start = Utc::now();
    let (exit_code, output) = match run_probe(state, rec, check) {
        Ok(r) => r,
        Err(e) => (1, e),
    };
    Probe {
        start,
        end: Utc::now(),
        exit_code,
        output,
    }
}

fn run_probe(state: &Path, rec: &Record, check: &Check) -> Result<(i32, String), String> {
    let argv = check.argv().map_err(|e| e.to_string())?;
    let init = rec
        .init
        .filter(|_| super::state::observe(rec).is_running())
        .ok_or_else(|| format!("container {} is not running", rec.name))?;
    let mapping = rec.mapping().map_err(|e| e.to_string())?;
    let security = rec
        .config
        .security
        .resolve_in(state)
        .map_err(|e| e.to_string())?;
    let process = ProcessSpec {
        args: argv,
        env: rec.config.env.clone(),
        user: rec.config.user.clone(),
        cwd: rec.config.workdir.clone(),
        group_add: rec.config.group_add.clone(),
        ..ProcessSpec::default()
    };
    let target = Target {
        process: &process,
        mapping: &mapping,
        hostname: &rec.config.hostname,
        security: &security,
    };
    let private_net = rec.config.network.private_namespace();
    let (out_r, out_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe2() => {e}"))?;
    let child = match fork().map_err(|e| e.to_string())? {
        Forked::Child => {
            drop(out_r);
            let null = std::fs::File::open("/dev/null");
            let wired = null.is_ok_and(|n| nix::unistd::dup2(n.as_raw_fd(), 0).is_ok())
                && nix::unistd::dup2(out_w.as_raw_fd(), 1).is_ok()
                && nix::unistd::dup2(out_w.as_raw_fd(), 2).is_ok();
            drop(out_w);
            if !wired || crate::sys::signal::kill_with_parent().is_err() {
                child_exit(crate::sandbox::error::EXIT_SETUP);
            }
            let code = join::open_namespaces(init.pid, private_net, || init.alive())
                .and_then(|ns| join::exec_in(ns, &target))
                .map(|exit| exit.code())
                .unwrap_or_else(|e| {
                    eprintln!("{e}");
                    e.exit_code()
                });
            child_exit(code)
        }
        Forked::Parent(pid) => pid,
    };
    drop(out_w);
    let timeout = check.timeout();
    let (output, finished) = collect(child, out_r, timeout);
    if !finished {
        let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(child, None);
        return Ok((
            -1,
            format!("Health check exceeded timeout ({})", go_duration(timeout)),
        ));
    }
    let code = match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, c)) => c,
        Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 1,
    };
    Ok((code, output))
}

/// Read the probe's output (the first [`OUTPUT_LIMIT`] bytes kept, the
/// rest drained) until it exits or `timeout` passes; whether it exited.
fn collect(child: Pid, out: std::os::fd::OwnedFd, timeout: Duration) -> (String, bool) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + timeout;
    let Ok(pidfd) = pidfd_open(child.as_raw()) else {
        return (String::new(), false);
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    let mut open = true;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (lossy(&kept), false);
        }
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        if open {
            fds.push(PollFd::new(out.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, ms) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return (lossy(&kept), false),
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let readable = open && fds[1].revents().is_some_and(|r| !r.is_empty());
        drop(fds);
        if readable {
            match nix::unistd::read(out.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => open = false,
                Ok(n) => {
                    let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        // Output a probe's own children still hold open is not waited for.
        if exited && (!open || !readable) {
            return (lossy(&kept), true);
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run one probe and count it in `rec`'s recorded health, unless the
/// container has started again meanwhile; the probe's exit code.
pub fn check_once(containers: &Containers, rec: &Record, check: &Check) -> i32 {
    let result = probe(&containers.root, rec, check);
    let code = result.exit_code;
    let _ = containers.update(&rec.id, |r| {
        if r.init == rec.init {
            let mut h = r.health.clone().unwrap_or_default();
            h.record(result, check, r.started);
            r.health = Some(h);
        }
    });
    code
}

/// The monitor of a container whose pid 1 has just started: a forked
/// process that probes on the check's interval until it is stopped (see
/// [`Monitor::stop`]), or its parent (the container's supervisor) dies.
pub struct Monitor {
    pid: Pid,
}

impl Monitor {
    /// Fork the monitor of `rec`, whose pid 1 has just started (None
    /// when it has no health check). Must be called while single-threaded.
    pub fn start(containers: &Containers, rec: &Record) -> Result<Option<Monitor>, HealthError> {
        let Some(check) = rec.config.healthcheck.clone() else {
            return Ok(None);
        };
        match fork()? {
            Forked::Child => {
                let quiet = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                    .is_ok_and(|n| (0..3).all(|fd| nix::unistd::dup2(n.as_raw_fd(), fd).is_ok()));
                // Out of the terminal's process group, as the container
                // it probes may detach from the terminal.
                if !quiet
                    || crate::sys::signal::kill_with_parent().is_err()
                    || crate::sys::process::leave_process_group().is_err()
                    || close_fds_except(&[]).is_err()
                {
                    child_exit(1);
                }
                let containers = containers.clone();
                let rec = rec.clone();
                loop {
                    std::thread::sleep(check.interval());
                    let Some(now) = containers.read(&rec.id) else {
                        child_exit(0)
                    };
                    if now.init != rec.init {
                        child_exit(0);
                    }
                    // Docker skips the probes of a paused container: a
                    // frozen one could not answer, and would turn unhealthy.
                    if now.init.is_some_and(super::freeze::frozen) {
                        continue;
                    }
                    check_once(&containers, &now, &check);
                }
            }
            Forked::Parent(pid) => Ok(Some(Monitor { pid })),
        }
    }

    /// End the monitor (pid 1 has exited).
    pub fn stop(self) {
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(self.pid, None);
    }
}

/// A Go duration (`1m30s`, `500ms`, `2h`), as Docker's duration flags take
/// them; a bare 0 is allowed.
pub fn parse_go_duration(s: &str) -> Result<Duration, HealthError> {
    crate::dockerfile::parse_go_duration(s).ok_or_else(|| HealthError::Duration(s.into()))
}

/// How Go prints a duration, for messages (`30s`, `1m30s`, `500ms`).
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s) = (d.as_secs() / 3600, d.as_secs() / 60 % 60, d.as_secs() % 60);
    let frac = d.subsec_millis();
    let secs = match frac {
        0 => format!("{s}s"),
        f => format!("{s}.{}s", format!("{f:03}").trim_end_matches('0')),
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags_override_the_images_check_field_by_field() {
        let image = Check {
            test: s(&["CMD", "true"]),
            interval: 5,
            retries: 2,
            ..Check::default()
        };
        let flags = Check {
            interval: 7,
            ..Check::default()
        };
        let c = Check::merge(flags, Some(image.clone())).unwrap();
        assert_eq!(
            (c.test.clone(), c.interval, c.retries),
            (s(&["CMD", "true"]), 7, 2)
        );
        let none = Check {
            test: s(&["NONE"]),
            ..Check::default()
        };
        assert_eq!(Check::merge(none, Some(image)), None);
        assert_eq!(Check::merge(Check::default(), None), None);
        let cfg = br#"{"config":{"Healthcheck":{"Test":["CMD-SHELL","x"],"Interval":2000000000}}}"#;
        let c = Check::of_image(cfg).unwrap();
        assert_eq!(c.argv().unwrap(), s(&["/bin/sh", "-c", "x"]));
        assert_eq!(c.interval(), Duration::from_secs(2));
        assert_eq!(c.timeout(), DEFAULT_TIMEOUT);
        // The pre-check before the parse only skips work, so no case here
        // fails without it; these fail if it skips a config that names a
        // check, spelt out or through an escape.
        let escaped = br#"{"config":{"\u0048ealthcheck":{"Test":["CMD","true"]}}}"#;
        assert_eq!(Check::of_image(escaped).unwrap().test, s(&["CMD", "true"]));
        assert_eq!(Check::of_image(br#"{"config":{"Cmd":["sh"]}}"#), None);
    }

    fn probe_at(start: DateTime<Utc>, code: i32) -> Probe {
        Probe {
            start,
            end: start,
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn status_follows_dockers_rules() {
        let t0 = Utc::now();
        let check = Check {
            test: s(&["CMD", "x"]),
            retries: 2,
            start_period: 10_000_000_000,
            ..Check::default()
        };
        let mut h = Health::default();
        // Failures within the start period do not count.
        h.record(
            probe_at(t0 + chrono::Duration::seconds(1), 1),
            &check,
            Some(t0),
        );
        assert_eq!((h.status, h.failing_streak), (Status::Starting, 0));
        h.record(
            probe_at(t0 + chrono::Duration::seconds(11), 1),
            &check,
            Some(t0),
        );
        assert_eq!((h.status, h.failing_streak), (Status::Starting, 1));
        h.record(
            probe_at(t0 + chrono::Duration::seconds(12), 1),
            &check,
            Some(t0),
        );
        assert_eq!((h.status, h.failing_streak), (Status::Unhealthy, 2));
        for _ in 0..5 {
            h.record(probe_at(t0, 0), &check, Some(t0));
        }
        assert_eq!(
            (h.status, h.failing_streak, h.log.len()),
            (Status::Healthy, 0, 5)
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("500ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "5", "1x", "s", "-1s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
    }
}
