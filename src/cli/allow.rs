//! `hutch allow` / `hutch deny`: let the project around the current
//! directory put its `[export] commands` on PATH through the shell hook,
//! for hutch.toml exactly as it is now, or withdraw that.

use super::Ctx;
use crate::project::{self, exports, Environment};
use crate::report::Silent;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn allow(ctx: &Ctx, _a: Args) -> anyhow::Result<u8> {
    let project = project::discover(&std::env::current_dir()?)?;
    let env = Environment::new(&project, &ctx.dirs, &ctx.printer, &Silent);
    exports::allow(env.dir(), &project)?;
    ctx.printer
        .info(&format!("allowed {} as it is now", project.file.display()));
    Ok(0)
}

pub fn deny(ctx: &Ctx, _a: Args) -> anyhow::Result<u8> {
    let project = project::discover(&std::env::current_dir()?)?;
    let env = Environment::new(&project, &ctx.dirs, &ctx.printer, &Silent);
    exports::deny(env.dir())?;
    Ok(0)
}
