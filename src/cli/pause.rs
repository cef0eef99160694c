//! `hutch pause` / `hutch unpause`: Docker freezes a container's cgroup.
//! hutch has no cgroup of a container's own (its processes share the cgroup
//! of the user who started it), so it stops every process of the
//! container's pid namespace with SIGSTOP and continues them with SIGCONT
//! (`container::freeze`, which says how that differs from the freezer).

use super::Ctx;
use crate::container::{freeze, state, Containers, Record};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container names or ids.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn pause(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    each(ctx, &a.containers, |rec, paused| {
        let init = rec.init.filter(|_| !paused);
        match init {
            Some(init) => freeze::freeze(init)
                .map(drop)
                .map_err(|e| format!("cannot pause container {}: {e}", rec.name)),
            None if paused => Err(format!("container {} is already paused", rec.name)),
            None => Err(format!("container {} is not running", rec.name)),
        }
    })
}

pub fn unpause(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    each(ctx, &a.containers, |rec, paused| match rec.init {
        Some(init) if paused => {
            freeze::thaw(init).map_err(|e| format!("cannot unpause container {}: {e}", rec.name))
        }
        _ => Err(format!("container {} is not paused", rec.name)),
    })
}

/// Apply `act` to each running container (told whether it is paused now);
/// print each name done. Docker's exit code: 1 when any container failed,
/// each failure one `Error:` line.
fn each(
    ctx: &Ctx,
    names: &[String],
    act: impl Fn(&Record, bool) -> Result<(), String>,
) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for name in names {
        let done = match containers.resolve(name) {
            Ok(rec) => {
                let rec = state::settle(&containers, rec);
                let s = state::observe(&rec);
                if s == state::State::Running {
                    act(&rec, state::paused(&rec, s))
                } else {
                    Err(format!("container {} is not running", rec.name))
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match done {
            Ok(()) => ctx.printer.out(name),
            Err(why) => {
                super::errors::eprint(&why);
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
