//! A container's companion: a hidden hutch subcommand (`Config::companion`)
//! that the supervisor runs beside pid 1 for at most as long as pid 1 runs,
//! such as a project environment's watcher. The supervisor starts it
//! [`DELAY`] after pid 1 started (never, when pid 1 exits sooner) and kills
//! and reaps it when pid 1 exits; it gets SIGKILL when the supervisor dies,
//! so it never outlives its container (and, being the supervisor's child,
//! never waits unreaped for a PID 1 that does not reap).
//!
//! It knows nothing of what the companion does; its output goes nowhere
//! (the supervisor's stdout and stderr are the container's log).

use crate::sys::spawn::{helper_child_setup, this_binary};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long after pid 1 started the companion starts. Pid 1 starts just as
/// someone enters the container: on a small machine the companion's own
/// start-up (an exec of this binary, its set-up) would delay theirs by as
/// much as the rest of the entry.
pub const DELAY: Duration = Duration::from_millis(250);

/// A companion that is to start, or runs: a thread that waits out
/// [`DELAY`], starts it, and ends it when told. The thread lives exactly as
/// long as the companion because the companion's parent death signal
/// follows the thread that forked it.
pub struct Companion {
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Companion {
    /// Start `args` (subcommand first) as this binary after [`DELAY`];
    /// None when there is none or its thread cannot start. A companion
    /// that cannot start is left out: the container runs without it, and
    /// whatever the companion offers falls back to doing without.
    ///
    /// Its thread runs until the companion is dropped: this process must
    /// not fork, clone or change namespaces meanwhile (see `sys::process`).
    pub fn start(args: &[String]) -> Option<Companion> {
        if args.is_empty() {
            return None;
        }
        let args = args.to_vec();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("companion".into())
            .spawn(move || {
                // Told to stop (or dropped) before the delay is over: pid 1
                // has exited already, nothing starts.
                if stopped.recv_timeout(DELAY) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                let Some(mut child) = spawn(&args) else {
                    return;
                };
                let _ = stopped.recv();
                let _ = child.kill();
                let _ = child.wait();
            })
            .ok()?;
        Some(Companion {
            stop,
            thread: Some(thread),
        })
    }
}

/// Dropping it ends and reaps the companion (or calls off its start) and
/// joins its thread: the process is single-threaded again afterwards, and
/// a supervisor that unwinds leaves no companion running beside nothing,
/// or unreaped.
impl Drop for Companion {
    fn drop(&mut self) {
        // Fails only when the thread has ended already (the companion could
        // not start).
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Run `args` as this binary, below the priority of whoever enters.
fn spawn(args: &[String]) -> Option<Child> {
    let (sub, rest) = args.split_first()?;
    let mut cmd = this_binary(sub);
    // Never the terminal as stdin: it belongs to the container's run.
    cmd.args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    helper_child_setup(&mut cmd, Vec::new()).ok()?;
    let child = cmd.spawn().ok()?;
    let _ = crate::sys::process::set_nice(child.id() as i32, 10);
    Some(child)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tids of this process's threads named `companion`.
    fn companion_threads() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|e| {
                let tid = e.ok()?.file_name().into_string().ok()?;
                let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
                (comm.trim() == "companion").then_some(tid)
            })
            .collect()
    }

    /// The companion's thread, once it has named itself.
    fn companion_thread() -> String {
        for _ in 0..100 {
            if let [tid] = companion_threads().as_slice() {
                return tid.clone();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        panic!("no companion thread: {:?}", companion_threads());
    }

    fn children(tid: &str) -> String {
        std::fs::read_to_string(format!("/proc/self/task/{tid}/children")).unwrap()
    }

    // The companion runs the test binary (`--list` lists the tests and
    // exits; it stays its thread's unreaped child until ended).
    #[test]
    fn starts_after_its_delay_from_a_thread_that_ends_with_it() {
        let args = ["--list".to_string()];
        // Ended before the delay: nothing started, the thread is joined.
        let c = Companion::start(&args).unwrap();
        assert_eq!(children(&companion_thread()).trim(), "");
        drop(c);
        assert!(companion_threads().is_empty());
        // After the delay it is the thread's child, reaped when ended.
        let c = Companion::start(&args).unwrap();
        std::thread::sleep(DELAY + Duration::from_secs(1));
        assert_ne!(children(&companion_thread()).trim(), "");
        drop(c);
        assert!(companion_threads().is_empty());
    }
}
