//! `hutch wait`: block until containers reach a condition and print their
//! exit codes, one line each, in the order given (-1 when the status is
//! unknown because the supervisor died). A detached `--rm` container that
//! removes itself while waited for gives the code it exited with, as
//! Docker's does. The conditions are Docker's
//! (`not-running`, the default; `next-exit`; `removed`).

use super::Ctx;
use crate::container::{control, state, Containers, Status};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// not-running (return at once for a container that is not running),
    /// next-exit (wait for the next exit, after a start if need be) or
    /// removed (wait until the container is removed).
    #[arg(long, default_value = "not-running", value_name = "CONDITION",
          value_parser = ["not-running", "next-exit", "removed"])]
    pub condition: String,
    /// Container names or ids.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for name in &a.containers {
        let waited = containers
            .resolve(name)
            .and_then(|rec| match a.condition.as_str() {
                "next-exit" => control::wait_next_exit(&containers, &rec.id).map(|r| r.exit_code),
                "removed" => control::wait_removed(&containers, &rec.id),
                // Docker: a container that never ran has exit code 0.
                _ => control::wait(&containers, &rec.id, None).map(|r| {
                    r.map(|r| match r.status {
                        Status::Created => 0,
                        _ => r.exit_code.unwrap_or(state::EXIT_UNKNOWN),
                    })
                }),
            });
        match waited {
            Ok(code) => ctx
                .printer
                .out(&code.unwrap_or(state::EXIT_UNKNOWN).to_string()),
            Err(e) => {
                super::errors::eprint(&e.to_string());
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
