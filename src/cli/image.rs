//! `hutch image prune [-a] [-f]`: remove images no container uses — untagged
//! ones (dangling), or with `-a` all of them — and the blobs and unpacked
//! layers only they needed.

use super::Ctx;
use crate::store::Store;
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
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
    /// Remove unused images.
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only untagged ones.
    #[arg(short, long)]
    pub all: bool,

    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let Cmd::Prune(a) = args.command;
    if !a.force {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!("image prune asks for confirmation: pass -f to prune without asking");
        }
        eprint!(
            "WARNING! This will remove all {} images not used by containers.\nAre you sure you want to continue? [y/N] ",
            if a.all { "" } else { "dangling" }
        );
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let src = IdSources::default();
    let map = IdMapping::detect(UsernsRequest::Auto, &src).map_err(anyhow::Error::msg)?;
    let store = Store::open(&ctx.dirs)?;
    let in_use = crate::container::images_in_use(&ctx.dirs.state);
    for r in store.prune(a.all, &in_use, &map, &src)? {
        if let Some(id) = r.deleted {
            ctx.printer.out(&id);
        }
    }
    Ok(0)
}
