//! `hutch kill`: send a signal to a running container's pid 1.

use super::Ctx;
use crate::container::signals::Sig;
use crate::container::{control, Containers};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The signal, by name (TERM, SIGHUP, RTMIN+3) or number (1 to SIGRTMAX).
    #[arg(short, long, default_value = "KILL", value_name = "SIGNAL")]
    pub signal: String,
    /// Container names or ids.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    // Docker's daemon refuses a bad signal like any other failed request:
    // exit 1, not the 125 of a bad command line.
    let sig: Sig = match a.signal.parse() {
        Ok(s) => s,
        Err(e) => {
            super::errors::eprint(&e.to_string());
            return Ok(1);
        }
    };
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for name in &a.containers {
        let sent = containers
            .resolve(name)
            .map_err(anyhow::Error::from)
            .and_then(|rec| {
                // Before the signal: its supervisor must not restart it.
                if !rec.config.restart.is_empty() {
                    control::mark_stopped(&containers, &rec.id)?;
                }
                Ok(rec)
            })
            .and_then(|rec| match control::signal(&rec, sig)? {
                true => Ok(()),
                false => anyhow::bail!(
                    "container {} is not running (start it with `hutch start {}`)",
                    rec.name,
                    rec.name
                ),
            });
        match sent {
            Ok(()) => ctx.printer.out(name),
            Err(e) => {
                super::errors::eprint(&super::errors::text(&e));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
