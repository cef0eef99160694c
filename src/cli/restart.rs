//! `hutch restart`: `stop` (the container's stop signal, SIGKILL after the
//! timeout), then `start` detached, one container after another, as
//! Docker does. A container that is not running is just started. One run
//! with `--rm` is refused before it is stopped: without a daemon to keep
//! it, stopping removes it, so there would be nothing to start again.

use super::Ctx;
use crate::container::launch::{Outcome, Prepared};
use crate::container::Containers;
use std::time::Duration;

/// The same flags as `stop`: the timeout before SIGKILL, the containers.
pub type Args = super::stop::Args;

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = 0;
    for name in &a.containers {
        let restarted = refuse_auto_remove(&containers, name)
            .and_then(|()| {
                super::stop::stop_one(&containers, name, a.time.map(Duration::from_secs))
            })
            .and_then(|()| {
                Ok(Prepared::existing(&ctx.dirs, name, false, &ctx.printer)?.detached()?)
            });
        match restarted {
            Ok(Outcome::Started) => ctx.printer.out(name),
            Ok(outcome) => failed = super::run::report(&outcome),
            Err(e) => {
                super::errors::eprint(&super::errors::text(&e));
                failed = super::failure_code(&e);
            }
        }
    }
    Ok(failed)
}

fn refuse_auto_remove(containers: &Containers, name: &str) -> anyhow::Result<()> {
    let rec = containers.resolve(name)?;
    if rec.auto_remove {
        anyhow::bail!(
            "container {} was run with --rm: stopping it removes it, so it cannot be restarted (run a new one instead)",
            rec.name
        );
    }
    Ok(())
}
