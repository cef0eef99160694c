//! `hutch container`: commands about containers as a group (`prune`).

use super::Ctx;
use crate::container::{control, state, Containers};
use std::io::{BufRead, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Remove all stopped containers.
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    match a.command {
        Sub::Prune(p) => prune(ctx, p),
    }
}

fn prune(ctx: &Ctx, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force && !confirm()? {
        anyhow::bail!("not confirmed: nothing removed (pass -f to prune without asking)");
    }
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for rec in containers.list() {
        let rec = state::settle(&containers, rec);
        if !matches!(state::observe(&rec), state::State::Exited { .. }) {
            continue;
        }
        // `remove` checks again under the container's lock: a start that
        // won the race keeps its container.
        match control::remove(&containers, &rec.id) {
            Ok(()) => ctx.printer.out(&rec.id),
            Err(crate::container::Error::Running(_) | crate::container::Error::NotFound(_)) => {}
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn confirm() -> anyhow::Result<bool> {
    eprint!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
