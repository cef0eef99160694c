//! `hutch top`: the processes of a running container, with their pids as
//! the host sees them and as the container sees them.

use super::Ctx;
use crate::container::{proc, state, Containers};
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let rec = containers.resolve(&a.container)?;
    let (Some(init), state::State::Running) = (rec.init, state::observe(&rec)) else {
        bail!("container {} is not running", rec.name);
    };
    let rows: Vec<[String; 5]> = proc::members(init.pid)
        .into_iter()
        .map(|m| {
            [
                m.pid.to_string(),
                m.container_pid.to_string(),
                m.ppid.to_string(),
                m.uid.to_string(),
                m.command,
            ]
        })
        .collect();
    ctx.printer.table(
        Some(["PID", "CONTAINER PID", "PPID", "UID", "COMMAND"]),
        &rows,
        2,
    );
    Ok(0)
}
