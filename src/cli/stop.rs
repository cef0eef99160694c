//! `hutch stop`: the image's STOPSIGNAL (SIGTERM when it has none) to pid 1,
//! then SIGKILL once the timeout passes, as Docker and Podman do; returns
//! once the container's end is recorded (or, with --rm, it is removed).

use super::Ctx;
use crate::container::signals::Sig;
use crate::container::{control, Containers};
use anyhow::Context;
use nix::sys::signal::Signal;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds to wait for the container to exit before killing it
    /// (default: the container's --stop-timeout, else 10).
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<u64>,
    /// Container names or ids.
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for name in &a.containers {
        match stop_one(&containers, name, a.time.map(Duration::from_secs)) {
            Ok(()) => ctx.printer.out(name),
            Err(e) => {
                super::errors::eprint(&super::errors::text(&e));
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

pub(super) fn stop_one(
    containers: &Containers,
    name: &str,
    grace: Option<Duration>,
) -> anyhow::Result<()> {
    let rec = containers.resolve(name)?;
    let grace = grace.unwrap_or_else(|| rec.stop_timeout());
    let sig = match rec.config.stop_signal.as_deref() {
        Some(s) => s
            .parse::<Sig>()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("the image's STOPSIGNAL of container {}", rec.name))?,
        None => Signal::SIGTERM.into(),
    };
    // Stopping a container that is not running is not an error (Podman);
    // one run with --rm is gone once stopped, which is no error either.
    control::stop(containers, &rec, sig, grace)?;
    Ok(())
}
