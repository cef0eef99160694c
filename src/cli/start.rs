//! `hutch start`: run a stopped container's command again over the same
//! writable layer, as a new sandbox built from its record. Detached under a
//! supervisor by default, in the foreground with `-a`.

use super::{launch, Ctx};
use crate::container::Containers;
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
    /// Container names or ids (a unique id prefix is enough); one with -a.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    if a.attach {
        let [name] = a.containers.as_slice() else {
            bail!("start -a attaches to one container: name only one");
        };
        let mut rec = containers.resolve(name)?;
        rec.config.interactive |= a.interactive;
        let dir = containers.dir(&rec.id);
        let (image, mapping) = launch::resolve(ctx, &rec)?;
        let (plan, ports) = launch::plan(ctx, &rec, &dir, &image, mapping)?;
        let claimed = launch::claim(&containers, &rec.id, ports)?;
        return launch::foreground(&containers, &claimed, &plan);
    }
    let mut failed = 0;
    for name in &a.containers {
        match start_detached(ctx, &containers, name) {
            Ok(0) => ctx.printer.out(name),
            Ok(code) => failed = code,
            Err(e) => {
                eprintln!("Error: {e:#}");
                failed = super::EXIT_HUTCH_ERROR;
            }
        }
    }
    Ok(failed)
}

fn start_detached(ctx: &Ctx, containers: &Containers, name: &str) -> anyhow::Result<u8> {
    let rec = containers.resolve(name)?;
    let dir = containers.dir(&rec.id);
    let (image, mapping) = launch::resolve(ctx, &rec)?;
    let (plan, ports) = launch::plan(ctx, &rec, &dir, &image, mapping)?;
    let claimed = launch::claim(containers, &rec.id, ports)?;
    launch::detached(containers, &claimed, &plan, &dir)
}
