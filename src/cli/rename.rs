//! `hutch rename`: give a container a new, unique name.

use super::Ctx;
use crate::container::Containers;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The new name.
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let rec = containers.resolve(&a.container)?;
    containers.rename(&rec.id, &a.new_name)?;
    Ok(0)
}
