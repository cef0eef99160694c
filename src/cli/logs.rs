//! `hutch logs`: print a container's log (`container::logs`),
//! stdout lines to stdout and stderr lines to stderr; `-f` keeps reading
//! until the container has exited and its log is complete.

use super::Ctx;
use crate::container::logs::{self, parse, Driver, Line, Stream, LOG_FILE};
use crate::container::{state, Containers, Record};
use anyhow::bail;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Keep printing new output until the container exits.
    #[arg(short, long)]
    pub follow: bool,
    /// Show only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Prefix each line with the time it was written (RFC 3339).
    #[arg(short, long)]
    pub timestamps: bool,
    /// Container name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// How often `-f` looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(100);

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let rec = containers.resolve(&a.container)?;
    let driver = driver_of(&rec)?;
    let path = containers.dir(&rec.id).join(LOG_FILE);
    // Rotated logs (`--log-opt max-size`) come first, oldest first.
    let mut data = Vec::new();
    for old in logs::files(&path).iter().filter(|p| **p != path) {
        if let Ok(mut f) = std::fs::File::open(old) {
            f.read_to_end(&mut data)?;
        }
    }
    let old_len = data.len();
    let mut file = match std::fs::File::open(&path) {
        Ok(f) => f,
        // Containers created before foreground runs kept a log.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "container {} has no log (made by an older hutch, or its logger could not start)",
            rec.name
        ),
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    };
    file.read_to_end(&mut data)?;
    let (mut lines, used) = parse(driver, &data);
    if let Some(n) = a.tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
    let mut printer = Out {
        timestamps: a.timestamps,
        at_line_start: true,
    };
    printer.print(&lines)?;
    if !a.follow {
        return Ok(0);
    }
    let offset = used.saturating_sub(old_len) as u64;
    follow(&containers, &rec, driver, file, offset, &mut printer)?;
    Ok(0)
}

/// The log driver container `rec` writes with; refused for `none`, which
/// keeps nothing to read.
pub(super) fn driver_of(rec: &Record) -> anyhow::Result<Driver> {
    let driver = logs::Config::new(&rec.config.log_driver, &rec.config.log_opts)
        .map(|c| c.driver)
        .unwrap_or_default();
    if driver == Driver::None {
        bail!("no logs for this container (log driver none)");
    }
    Ok(driver)
}

/// Print what container `rec` adds to its log after byte `offset` of
/// `file`, until the run `rec` saw has ended (a restart is a new run) and
/// its log is complete.
pub(super) fn follow(
    containers: &Containers,
    rec: &Record,
    driver: Driver,
    mut file: std::fs::File,
    mut offset: u64,
    printer: &mut Out,
) -> anyhow::Result<()> {
    let path = containers.dir(&rec.id).join(LOG_FILE);
    loop {
        // Read the state before the log: once the container is seen ended,
        // one more read gets everything it wrote (the supervisor closes the
        // log before it records the exit).
        let ended = containers.read(&rec.id).map_or(true, |r| {
            !state::observe(&r).is_running() || r.started != rec.started
        });
        // Rotated meanwhile: the current log is a new file.
        if std::fs::metadata(&path).is_ok_and(|m| m.len() < offset) {
            file = std::fs::File::open(&path)?;
            offset = 0;
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut more = Vec::new();
        file.read_to_end(&mut more)?;
        let (lines, used) = parse(driver, &more);
        offset += used as u64;
        printer.print(&lines)?;
        if ended {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}

pub(super) struct Out {
    pub timestamps: bool,
    /// Whether the last text printed ended a line (a timestamp goes first).
    pub at_line_start: bool,
}

impl Out {
    fn print(&mut self, lines: &[Line]) -> std::io::Result<()> {
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        for l in lines {
            let w: &mut dyn Write = match l.stream {
                Stream::Stdout => &mut out,
                Stream::Stderr => &mut err,
            };
            if self.timestamps && self.at_line_start {
                write!(w, "{} ", l.time)?;
            }
            w.write_all(&l.text)?;
            if l.complete {
                w.write_all(b"\n")?;
            }
            self.at_line_start = l.complete;
        }
        out.flush()?;
        err.flush()
    }
}
