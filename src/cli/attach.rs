//! `hutch attach`: follow a running detached container's output from now
//! on (stdout to stdout, stderr to stderr) until it exits, and exit with
//! its exit code, as `docker attach` does. A container started with `-i`
//! gets this process's stdin (through its FIFO, `container::stdin`; end of
//! file here does not close it there, as with Docker's `run -di`), and the
//! signals this process gets go on to its pid 1 (Docker's sig-proxy; not
//! for a container with a terminal).

use super::logs::{driver_of, follow, Out};
use super::Ctx;
use crate::container::logs::{parse, LOG_FILE};
use crate::container::{control, state, stdin, Containers, Record};
use anyhow::Context;
use nix::sys::signal::Signal;
use std::io::Read;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Do not attach stdin (only a container started with -i has one).
    #[arg(long)]
    pub no_stdin: bool,
    /// Pass the signals hutch gets on to the container (without -t);
    /// --sig-proxy=false ignores them instead.
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    /// Container name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    attach(ctx, &a.container, a.no_stdin, a.sig_proxy)
}

/// Follow container `name`'s output until it ends; its exit code.
pub(super) fn attach(ctx: &Ctx, name: &str, no_stdin: bool, sig_proxy: bool) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let rec = state::settle(&containers, containers.resolve(name)?);
    if !state::observe(&rec).is_running() {
        // Docker's exit code for this refusal.
        eprintln!(
            "Error: cannot attach to container {0}: it is not running (start it with `hutch start -a {0}`)",
            rec.name
        );
        return Ok(1);
    }
    // Before any thread starts: the threads inherit the blocked signals.
    if sig_proxy && !rec.config.tty {
        proxy_signals(rec.clone())?;
    }
    if rec.config.interactive && !no_stdin {
        if let Some(mut fifo) = stdin::open_for_writer(&containers.dir(&rec.id)) {
            std::thread::spawn(move || std::io::copy(&mut std::io::stdin().lock(), &mut fifo));
        }
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

/// Pass the signals Docker's sig-proxy forwards on to the container's pid 1
/// from a thread of their own, for as long as this process lives.
fn proxy_signals(rec: Record) -> anyhow::Result<()> {
    let mut set = crate::sys::signal::forwarded();
    // The terminal's size is no business of a container without one.
    set.remove(Signal::SIGWINCH);
    crate::sys::signal::block(&set)?;
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            // Ended meanwhile: attach returns with its exit code anyway.
            let _ = control::signal(&rec, sig);
        }
    });
    Ok(())
}
