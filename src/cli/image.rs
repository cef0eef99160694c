//! `hutch image`: Docker's management command for images. `prune [-a] [-f]`
//! is its own: remove images no container uses — untagged ones (dangling),
//! or with `-a` all of them — and the blobs and unpacked layers only they
//! needed. The others are the top-level commands under the names `docker
//! image` gives them (`ls`/`list`, `rm`/`remove`, ...).

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
    /// List images.
    #[command(visible_alias = "list")]
    Ls(super::images::Args),
    /// Remove images.
    #[command(visible_alias = "remove")]
    Rm(super::rmi::Args),
    /// Show low-level information about images, as JSON.
    Inspect(super::inspect::ImageArgs),
    /// Show the history of an image.
    History(super::history::Args),
    /// Give an image another name.
    Tag(super::tag::Args),
    /// Fetch an image from a registry.
    Pull(super::pull::Args),
    /// Send an image to a registry.
    Push(super::push::Args),
    /// Write images to an archive or layout directory.
    Save(super::save::Args),
    /// Load images from an archive or layout directory.
    Load(super::load::Args),
    /// Create an image from a root filesystem tarball.
    Import(super::import::Args),
    /// Build an image from a Dockerfile.
    Build(super::build::Args),
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
    use super::inspect::{show, Kind};
    match args.command {
        Cmd::Prune(a) => prune(ctx, a),
        Cmd::Ls(a) => super::images::exec(ctx, a),
        Cmd::Rm(a) => super::rmi::exec(ctx, a),
        Cmd::Inspect(a) => show(ctx, &a.names, a.format.as_deref(), Kind::Image, false),
        Cmd::History(a) => super::history::exec(ctx, a),
        Cmd::Tag(a) => super::tag::exec(ctx, a),
        Cmd::Pull(a) => super::pull::exec(ctx, a),
        Cmd::Push(a) => super::push::exec(ctx, a),
        Cmd::Save(a) => super::save::exec(ctx, a),
        Cmd::Load(a) => super::load::exec(ctx, a),
        Cmd::Import(a) => super::import::exec(ctx, a),
        Cmd::Build(a) => super::build::exec(ctx, a),
    }
}

fn prune(ctx: &Ctx, a: PruneArgs) -> anyhow::Result<u8> {
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
