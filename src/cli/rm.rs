//! `hutch rm`: remove containers (record, writable layer, log). A running
//! container is refused unless `-f`, which kills it first (and for which a
//! missing container is no error, as in Docker). Volumes stay, except
//! anonymous ones with `-v`.

use super::Ctx;
use crate::container::{control, Containers};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Kill running containers (SIGKILL) before removing them.
    #[arg(short, long)]
    pub force: bool,
    /// Remove the container's anonymous volumes too (named ones stay).
    #[arg(short, long)]
    pub volumes: bool,
    /// Container names or ids.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for name in &a.containers {
        match remove_one(ctx, &containers, name, a.force, a.volumes) {
            Ok(()) => ctx.printer.out(name),
            // Docker: `rm -f` of a container that does not exist is no error.
            Err(e) if a.force && super::is_not_found(&e) => {}
            Err(e) => {
                super::errors::eprint(&super::errors::text(&e));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn remove_one(
    ctx: &Ctx,
    containers: &Containers,
    name: &str,
    force: bool,
    volumes: bool,
) -> anyhow::Result<()> {
    let rec = containers.resolve(name)?;
    if force {
        control::force_remove(containers, &rec)?;
    } else {
        control::remove(containers, &rec.id)?;
    }
    if volumes {
        let v = crate::volume::Volumes::new(&ctx.dirs.store);
        crate::container::mounts::remove_anonymous(containers, &v, &rec);
    }
    Ok(())
}
