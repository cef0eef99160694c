//! `hutch start`: run a stopped container's command again over the same
//! writable layer, as a new sandbox built from its record. Detached under a
//! supervisor by default, in the foreground with `-a`.

use super::{launch, Ctx};
use crate::container::Containers;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Attach: stay in the foreground with the container's output (and its
    /// terminal, if it has one) and exit with its exit code.
    #[arg(short, long)]
    pub attach: bool,
    /// Keep stdin open (implies nothing without -a).
    #[arg(short, long)]
    pub interactive: bool,
    /// Container name or id (a unique id prefix is enough).
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut rec = containers.resolve(&a.container)?;
    if a.interactive && a.attach {
        rec.config.interactive = true;
    }
    let dir = containers.dir(&rec.id);
    let plan = launch::plan(ctx, &rec, &dir)?;
    let claimed = launch::claim(&containers, &rec.id)?;
    if a.attach {
        return launch::foreground(&containers, &claimed, &plan);
    }
    let code = launch::detached(&containers, &claimed, &plan, &dir)?;
    if code == 0 {
        ctx.printer.out(&a.container);
    }
    Ok(code)
}
