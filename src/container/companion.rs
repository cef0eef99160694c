//! A container's companion: a hidden hutch subcommand (`Config::companion`)
//! that the supervisor runs beside pid 1 for exactly as long as pid 1 runs,
//! such as a project environment's watcher. The supervisor starts it once
//! pid 1 runs and kills and reaps it when pid 1 exits; it gets SIGKILL when
//! the supervisor dies, so it never outlives its container (and, being the
//! supervisor's child, never waits unreaped for a PID 1 that does not reap).
//!
//! It knows nothing of what the companion does; its output goes nowhere
//! (the supervisor's stdout and stderr are the container's log).

use crate::sys::spawn::{helper_child_setup, this_binary};
use std::process::{Child, Stdio};

/// A running companion.
pub struct Companion {
    child: Child,
}

impl Companion {
    /// Start `args` (subcommand first) as this binary; None when there is
    /// none or it cannot start (the container runs without it: whatever
    /// the companion offers falls back to doing without). Must be called
    /// from the thread that lives as long as the container (the parent
    /// death signal follows it).
    pub fn start(args: &[String]) -> Option<Companion> {
        let (sub, rest) = args.split_first()?;
        let mut cmd = this_binary(sub);
        cmd.args(rest).stdout(Stdio::null()).stderr(Stdio::null());
        helper_child_setup(&mut cmd, Vec::new()).ok()?;
        let child = cmd.spawn().ok()?;
        // It starts just as someone enters the container: on a small
        // machine its own start-up should not delay theirs.
        let _ = crate::sys::process::set_nice(child.id() as i32, 10);
        Some(Companion { child })
    }
}

/// Dropping it ends and reaps it: when pid 1 has exited, and also when the
/// supervisor unwinds, so no companion is left running beside nothing, or
/// unreaped.
impl Drop for Companion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
