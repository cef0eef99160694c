//! `hutch container prune [-f]`: remove every stopped container (its record
//! and writable layer), printing their ids. The images they used stay.

use super::Ctx;
use crate::sandbox::idmap::IdSources;
use crate::snapshot::container;
use anyhow::bail;
use clap::Subcommand;
use std::io::{BufRead, IsTerminal};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Remove all stopped containers.
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let Cmd::Prune(a) = args.command;
    if !a.force {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!("container prune asks for confirmation: pass -f to prune without asking");
        }
        eprint!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let src = IdSources::default();
    for c in container::stopped(&ctx.dirs.state) {
        container::remove(&ctx.dirs.state, &c, &src)?;
        ctx.printer.out(&c.id);
    }
    Ok(0)
}
