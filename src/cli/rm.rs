//! `hutch rm`: remove containers (record, writable layer, log). A running
//! container is refused unless `-f`, which kills it first.

use super::Ctx;
use crate::container::{control, Containers};
use nix::sys::signal::Signal;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill running containers (SIGKILL) before removing them.
    #[arg(short, long)]
    pub force: bool,
    /// Container names or ids.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// How long `rm -f` waits for a killed container's supervisor to record it.
const KILL_GRACE: Duration = Duration::from_secs(10);

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for name in &a.containers {
        match remove_one(&containers, name, a.force) {
            Ok(()) => ctx.printer.out(name),
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn remove_one(containers: &Containers, name: &str, force: bool) -> anyhow::Result<()> {
    let rec = containers.resolve(name)?;
    if force && control::signal(&rec, Signal::SIGKILL)? {
        control::wait(containers, &rec.id, Some(KILL_GRACE))?;
    }
    control::remove(containers, &rec.id)?;
    Ok(())
}
