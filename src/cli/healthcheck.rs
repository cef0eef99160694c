//! `hutch healthcheck run CONTAINER`: one probe of a running container's
//! health check now (Podman's command), counted in its recorded health like
//! the monitor's probes. Exits 0 when the probe passed, 1 when it failed.

use super::Ctx;
use crate::container::{health, state, Containers};
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Run the container's health check once: exit 0 healthy, 1 unhealthy.
    Run {
        /// Container name or id.
        #[arg(value_name = "CONTAINER")]
        container: String,
    },
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let Command::Run { container } = a.command;
    let containers = Containers::new(&ctx.dirs.state);
    let rec = containers.resolve(&container)?;
    let Some(check) = rec.config.healthcheck.clone() else {
        bail!(
            "container {} has no health check (give it one with --health-cmd)",
            rec.name
        );
    };
    if state::observe(&rec) != state::State::Running {
        bail!(
            "container {} is not running (start it with `hutch start {}`)",
            rec.name,
            rec.name
        );
    }
    let passed = health::check_once(&containers, &rec, &check) == 0;
    if passed {
        return Ok(0);
    }
    ctx.printer.out("unhealthy");
    Ok(1)
}
