//! `hutch attach`: follow a running detached container's output from now
//! on (stdout to stdout, stderr to stderr) until it exits, and exit with
//! its exit code, as `docker attach` does. A detached container's stdin is
//! /dev/null (there is no daemon to hold it open), so attach never gives
//! it input: `hutch start -ai` runs a stopped container in the foreground
//! with stdin instead.

use super::logs::{driver_of, follow, Out};
use super::Ctx;
use crate::container::logs::{parse, LOG_FILE};
use crate::container::{state, Containers};
use anyhow::Context;
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not attach stdin (a detached container's stdin is never attached).
    #[arg(long)]
    pub no_stdin: bool,
    /// Container name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    attach(ctx, &a.container, a.no_stdin)
}

/// Follow container `name`'s output until it ends; its exit code.
pub(super) fn attach(ctx: &Ctx, name: &str, no_stdin: bool) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let rec = state::settle(&containers, containers.resolve(name)?);
    if !state::observe(&rec).is_running() {
        // Docker's exit code for this refusal.
        super::errors::eprint(&format!(
            "cannot attach to container {0}: it is not running (start it with `hutch start -a {0}`)",
            rec.name
        ));
        return Ok(1);
    }
    if rec.config.interactive && !no_stdin {
        ctx.printer.warn(&format!(
            "stdin is not attached: detached container {} reads /dev/null (use `hutch start -ai` to run a stopped container with stdin)",
            rec.name
        ));
    }
    let driver = driver_of(&rec)?;
    let path = containers.dir(&rec.id).join(LOG_FILE);
    let mut file = std::fs::File::open(&path)
        .with_context(|| format!("container {} has no log to attach to", rec.name))?;
    // From now on: what is in the log already is `hutch logs`'s.
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    let (_, used) = parse(driver, &data);
    let mut out = Out {
        timestamps: false,
        at_line_start: true,
    };
    follow(&containers, &rec, driver, file, used as u64, &mut out)?;
    let code = containers
        .read(&rec.id)
        .map(|r| state::settle(&containers, r))
        .and_then(|r| r.exit_code)
        .unwrap_or(state::EXIT_UNKNOWN);
    Ok(u8::try_from(code).unwrap_or(super::EXIT_HUTCH_ERROR))
}
