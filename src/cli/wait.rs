//! `hutch wait`: block until containers end and print their exit codes, one
//! line each, in the order given (-1 when the status is unknown because the
//! supervisor died).

use super::Ctx;
use crate::container::{control, state, Containers};

#[derive(clap::Args, Debug)]
pub struct Args {
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
            .and_then(|rec| control::wait(&containers, &rec.id, None));
        match waited {
            Ok(rec) => {
                let code = rec.and_then(|r| r.exit_code);
                ctx.printer
                    .out(&code.unwrap_or(state::EXIT_UNKNOWN).to_string());
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
