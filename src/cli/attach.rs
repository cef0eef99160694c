//! `hutch attach`: follow a running detached container's output from now
//! on (stdout to stdout, stderr to stderr) until it exits, and exit with
//! its exit code, as `docker attach` does. A container started with `-i`
//! gets this process's stdin (through its FIFO, `container::stdin`; end of
//! file here does not close it there, as with Docker's `run -di`), and the
//! signals this process gets go on to its pid 1 (Docker's sig-proxy; not
//! for a container with a terminal). The detach keys in that stdin
//! (`--detach-keys`, else the container's own, else ctrl-p,ctrl-q) end
//! the attach and leave the container running. To a container with a terminal (`-t`),
//! this process's terminal's size is passed on, at once and on every
//! change, as Docker resizes the container's terminal (its supervisor,
//! which holds the terminal, sets it: `control::resize`); when stdin is
//! attached too (`-i`, no `--no-stdin`) the terminal here is put in raw
//! mode while attached (keys go through byte for byte; restored on every
//! way out).

use super::logs::{driver_of, follow, Out};
use super::Ctx;
use crate::container::logs::{parse, LOG_FILE};
use crate::container::{control, state, stdin, Containers, Record};
use crate::sandbox::tty::{self, Escape};
use anyhow::Context;
use nix::sys::signal::Signal;
use nix::sys::termios::Termios;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;

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
    /// The key sequence in stdin that detaches (ends this attach; the
    /// container runs on): comma-separated, each a character or ctrl-X
    /// (default: the container's own --detach-keys, else ctrl-p,ctrl-q).
    #[arg(long = "detach-keys", value_name = "KEYS", value_parser = detach_keys)]
    pub detach_keys: Option<DetachKeys>,
    /// Container name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    attach(ctx, &a.container, a.no_stdin, a.sig_proxy, a.detach_keys)
}

/// The bytes of a detach key sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeys(pub(super) Vec<u8>);

impl Default for DetachKeys {
    /// Docker's: ctrl-p, ctrl-q.
    fn default() -> Self {
        DetachKeys(vec![0x10, 0x11])
    }
}

/// Docker's detach key syntax: comma-separated keys, each a single
/// character or ctrl-X (X a letter or one of @ [ \ ] ^ _).
pub(super) fn detach_keys(s: &str) -> Result<DetachKeys, String> {
    let bad = |k: &str| {
        format!("invalid --detach-keys key '{k}': use a single character or ctrl-<a-z, @, [, \\, ], ^, _>, comma-separated (e.g. ctrl-p,ctrl-q)")
    };
    let mut bytes = Vec::new();
    for k in s.split(',') {
        let mut chars = k.chars();
        match (k.strip_prefix("ctrl-"), chars.next(), chars.next()) {
            (Some(x), _, _) => match x.as_bytes() {
                [c @ b'a'..=b'z'] => bytes.push(c - b'a' + 1),
                [c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')] => bytes.push(c & 0x1f),
                _ => return Err(bad(k)),
            },
            (None, Some(c), None) => bytes.extend_from_slice(c.to_string().as_bytes()),
            _ => return Err(bad(k)),
        }
    }
    Ok(DetachKeys(bytes))
}

/// Copy `from` into the container's stdin until end of file, or until the
/// detach keys end this process (the container runs on; the terminal's
/// `saved` modes put back first).
fn feed(mut from: impl Read, mut to: std::fs::File, keys: DetachKeys, saved: Option<Termios>) {
    let mut escape = Escape::new(keys.0);
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n);
        for &b in &buf[..n] {
            if escape.feed(b, &mut out) {
                let _ = to.write_all(&out);
                if let Some(t) = &saved {
                    tty::restore(std::io::stdin().as_fd(), t);
                }
                eprintln!("read escape sequence");
                std::process::exit(0);
            }
        }
        if to.write_all(&out).is_err() {
            return;
        }
    }
}

/// Follow container `name`'s output until it ends; its exit code.
pub(super) fn attach(
    ctx: &Ctx,
    name: &str,
    no_stdin: bool,
    sig_proxy: bool,
    keys: Option<DetachKeys>,
) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let rec = state::settle(&containers, containers.resolve(name)?);
    // Docker: the flag, else the container's own, else ctrl-p,ctrl-q.
    let keys = keys
        .or_else(|| rec.config.detach_keys.clone().map(DetachKeys))
        .unwrap_or_default();
    if !state::observe(&rec).is_running() {
        // Docker's exit code for this refusal.
        super::errors::eprint(&format!(
            "cannot attach to container {0}: it is not running (start it with `hutch start -a {0}`)",
            rec.name
        ));
        return Ok(1);
    }
    let stdin = std::io::stdin();
    let attach_stdin = rec.config.interactive && !no_stdin;
    // Raw only when typing goes to the container: its terminal echoes.
    let raw = match rec.config.tty && attach_stdin {
        true => tty::RawMode::enter(stdin.as_fd()),
        false => None,
    };
    let saved = raw.as_ref().map(tty::RawMode::saved);
    // Before any thread starts: the threads inherit the blocked signals.
    if rec.config.tty {
        terminal_signals(containers.dir(&rec.id), rec.clone(), saved.clone())?;
    } else if sig_proxy {
        proxy_signals(rec.clone())?;
    }
    let driver = driver_of(&rec)?;
    let path = containers.dir(&rec.id).join(LOG_FILE);
    let mut file = std::fs::File::open(&path)
        .with_context(|| format!("container {} has no log to attach to", rec.name))?;
    // From now on: what is in the log already is `hutch logs`'s.
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    let (_, used) = parse(driver, &data);
    // Only now, with the log's end taken: an answer to our input must land
    // after it, or the follow below would treat it as old output.
    if attach_stdin {
        if let Some(fifo) = stdin::open_for_writer(&containers.dir(&rec.id)) {
            std::thread::spawn(move || feed(std::io::stdin().lock(), fifo, keys, saved));
        }
    }
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

/// With a terminal: its size goes to the container's (in `dir`) now and
/// on every SIGWINCH; the signals that would end this process put `saved`
/// (the terminal's modes before raw mode) back first, then end it as they
/// would have.
fn terminal_signals(dir: PathBuf, rec: Record, saved: Option<Termios>) -> anyhow::Result<()> {
    if let Some(size) = tty::host_size() {
        control::resize(&dir, &rec, size);
    }
    let set = crate::sys::signal::forwarded();
    crate::sys::signal::block(&set)?;
    std::thread::spawn(move || {
        while let Ok(sig) = set.wait() {
            if sig == Signal::SIGWINCH {
                if let Some(size) = tty::host_size() {
                    control::resize(&dir, &rec, size);
                }
                continue;
            }
            if let Some(t) = &saved {
                tty::restore(std::io::stdin().as_fd(), t);
            }
            std::process::exit(128 + sig as i32);
        }
    });
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_as_docker_spells_them() {
        assert_eq!(detach_keys("ctrl-p,ctrl-q").unwrap(), DetachKeys::default());
        assert_eq!(detach_keys("ctrl-@,ctrl-_,x").unwrap().0, [0, 31, b'x']);
        assert_eq!(detach_keys("ctrl-\\").unwrap().0, [28]);
        for bad in ["ctrl-1", "ctrl-P", "ab", "", "ctrl-p,,q"] {
            assert!(detach_keys(bad).is_err(), "{bad}");
        }
    }
}
