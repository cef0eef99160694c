//! `hutch start`: run a stopped container's command again over the same
//! writable layer, as a new sandbox built from its record. Detached under a
//! supervisor by default, in the foreground with `-a`. A container that
//! runs already is left running (and attached to with `-a`), as in Docker.

use super::attach::DetachKeys;
use super::Ctx;
use crate::container::launch::{Error, Outcome, Prepared};
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attach: stay in the foreground with the container's output (and its
    /// terminal, if it has one) and exit with its exit code.
    #[arg(short, long)]
    pub attach: bool,
    /// Keep stdin open (only with -a).
    #[arg(short, long)]
    pub interactive: bool,
    /// The key sequence that detaches from an attached container with a
    /// terminal (-ai; it runs on): comma-separated, each a character or
    /// ctrl-X (default: the container's own --detach-keys, else
    /// ctrl-p,ctrl-q).
    #[arg(long = "detach-keys", value_name = "KEYS", value_parser = super::attach::detach_keys)]
    pub detach_keys: Option<DetachKeys>,
    /// Container names or ids (a unique id prefix is enough); one with -a.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    if a.attach {
        let [name] = a.containers.as_slice() else {
            bail!("start -a attaches to one container: name only one");
        };
        let outcome = match Prepared::existing(&ctx.dirs, name, a.interactive, &ctx.printer) {
            // Docker attaches to a container that runs already.
            Err(Error::AlreadyRunning(_)) => {
                return super::attach::attach(ctx, name, !a.interactive, true, a.detach_keys)
            }
            prepared => {
                let prepared = prepared?;
                let keys = a.detach_keys.map(|k| k.0);
                let keys = keys.or_else(|| prepared.recorded_detach_keys());
                let keys = keys.unwrap_or_else(|| DetachKeys::default().0);
                prepared.detach_keys(keys).foreground(&ctx.printer)?
            }
        };
        return Ok(super::run::report(&outcome));
    }
    let mut failed = 0;
    for name in &a.containers {
        let started =
            Prepared::existing(&ctx.dirs, name, false, &ctx.printer).and_then(Prepared::detached);
        match started {
            Ok(Outcome::Started) => ctx.printer.out(name),
            Ok(outcome) => failed = super::run::report(&outcome),
            // Docker: starting a running container is no error.
            Err(Error::AlreadyRunning(_)) => ctx.printer.out(name),
            Err(e) => {
                let e = anyhow::Error::from(e);
                super::errors::eprint(&super::errors::text(&e));
                failed = super::failure_code(&e);
            }
        }
    }
    Ok(failed)
}
