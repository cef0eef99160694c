//! `hutch pause` / `hutch unpause`: Docker freezes a container's cgroup.
//! hutch has no cgroup of a container's own to freeze (its processes share
//! the cgroup of the user who started it, and freezing that would freeze
//! the user's shell too), so pause says why it cannot, naming the cgroup
//! blocker `hutch info` reports, and nothing is ever paused. Stopping every
//! process with SIGSTOP instead would be visible to the container (its
//! parent sees the children stop) and is not what Docker does.

use super::Ctx;
use crate::container::{state, Containers};
use crate::sandbox::limits::cgroup_blocker;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container names or ids.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn pause(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    each(ctx, &a.containers, |name, running| {
        if !running {
            return format!("container {name} is not running");
        }
        format!(
            "cannot pause container {name}: the cgroup freezer needs the container in a cgroup of its own, and {}",
            cgroup_blocker(&Default::default())
        )
    })
}

pub fn unpause(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    each(ctx, &a.containers, |name, _| {
        format!("container {name} is not paused")
    })
}

/// Docker's exit code: 1 when any container failed; every failure is
/// one `Error:` line.
fn each(ctx: &Ctx, names: &[String], refuse: impl Fn(&str, bool) -> String) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    for name in names {
        let why = match containers.resolve(name) {
            Ok(rec) => {
                let rec = state::settle(&containers, rec);
                refuse(&rec.name, state::observe(&rec).is_running())
            }
            Err(e) => e.to_string(),
        };
        super::errors::eprint(&why);
    }
    Ok(1)
}
