//! `ctr.log`, the log of a container, in the k8s-file format that
//! conmon writes and `podman logs` reads: one entry per line,
//!
//! ```text
//! 2026-11-23T19:40:00.123456789Z stdout F a full line
//! 2026-11-23T19:40:00.123456790Z stderr P a partial line (no newline yet)
//! ```
//!
//! `F` ends a line of output, `P` is a piece of one that had no newline when
//! it was read (a prompt, a progress bar); readers join the pieces.
//!
//! [`record`] is the writer (the logger process, `super::logger`, runs it);
//! [`parse`] and [`Line`] are for readers. This module does not know about
//! processes or records.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// The log file's name inside a container's directory.
pub const LOG_FILE: &str = "ctr.log";

/// Which output a piece of the log came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One line of output as the container wrote it (its pieces joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// When its first piece was read (RFC 3339, nanoseconds).
    pub time: String,
    pub stream: Stream,
    pub text: Vec<u8>,
    /// False for a last line that has no newline (yet).
    pub complete: bool,
}

/// Copy everything readable from `stdout` and `stderr` into the log at
/// `path` until both reach end of file (every writer has closed them); with
/// `relay`, copy each to its counterpart there too.
///
/// When the log cannot be written (disk full), output is still read and
/// dropped: a container must never block on, or die of SIGPIPE from, a log.
/// A relay target whose reader has gone (EPIPE) closes that stream, so the
/// container sees the broken pipe it would have seen writing there itself.
pub fn record(
    stdout: OwnedFd,
    stderr: OwnedFd,
    path: &Path,
    relay: Option<(OwnedFd, OwnedFd)>,
) -> std::io::Result<()> {
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok();
    let mut open = [
        Some((stdout, Stream::Stdout)),
        Some((stderr, Stream::Stderr)),
    ];
    let mut relay: [Option<std::fs::File>; 2] = match relay {
        Some((o, e)) => [Some(o.into()), Some(e.into())],
        None => [None, None],
    };
    let mut buf = vec![0u8; 32 * 1024];
    while open.iter().any(Option::is_some) {
        let live: Vec<usize> = (0..2).filter(|&i| open[i].is_some()).collect();
        let mut fds: Vec<PollFd> = live
            .iter()
            .filter_map(|&i| open[i].as_ref())
            .map(|(fd, _)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(std::io::Error::from(e)),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        for (k, &i) in live.iter().enumerate() {
            if !ready[k] {
                continue;
            }
            let Some((fd, stream)) = &open[i] else {
                continue;
            };
            match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) => open[i] = None,
                Ok(n) => {
                    if let Some(f) = log.as_mut() {
                        if write_entries(f, *stream, &buf[..n]).is_err() {
                            log = None;
                        }
                    }
                    if let Some(to) = relay[i].as_mut() {
                        match to.write_all(&buf[..n]) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                                relay[i] = None;
                                open[i] = None;
                            }
                            Err(_) => relay[i] = None,
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => open[i] = None,
            }
        }
    }
    match log {
        Some(f) => f.sync_all(),
        None => Err(std::io::Error::other(format!(
            "cannot write the log {}",
            path.display()
        ))),
    }
}

/// Split one read into entries: each newline ends an `F` entry, a remainder
/// without one becomes a `P` entry.
fn write_entries(log: &mut impl Write, stream: Stream, data: &[u8]) -> std::io::Result<()> {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut out = Vec::with_capacity(data.len() + 64);
    for piece in data.split_inclusive(|&b| b == b'\n') {
        let (text, tag) = match piece.strip_suffix(b"\n") {
            Some(t) => (t, "F"),
            None => (piece, "P"),
        };
        out.extend_from_slice(format!("{time} {} {tag} ", stream.name()).as_bytes());
        out.extend_from_slice(text);
        out.push(b'\n');
    }
    log.write_all(&out)
}

/// The lines in `data` (a log file's contents, or a part of it that starts at
/// an entry). Only entries ending in a newline are read; the second value is
/// how many bytes those took, so a follower can continue from there.
pub fn parse(data: &[u8]) -> (Vec<Line>, usize) {
    let mut lines: Vec<Line> = Vec::new();
    let mut used = 0;
    for entry in data.split_inclusive(|&b| b == b'\n') {
        let Some(entry_text) = entry.strip_suffix(b"\n") else {
            break;
        };
        used += entry.len();
        let mut parts = entry_text.splitn(4, |&b| b == b' ');
        let (Some(time), Some(stream), Some(tag)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let text = parts.next().unwrap_or_default();
        let stream = if stream == b"stderr" {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        match lines.last_mut() {
            Some(l) if !l.complete && l.stream == stream => l.text.extend_from_slice(text),
            _ => lines.push(Line {
                time: String::from_utf8_lossy(time).into_owned(),
                stream,
                text: text.to_vec(),
                complete: false,
            }),
        }
        if tag == b"F" {
            if let Some(l) = lines.last_mut() {
                l.complete = true;
            }
        }
    }
    (lines, used)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_partial_lines() {
        let mut log = Vec::new();
        write_entries(&mut log, Stream::Stdout, b"one\ntw").unwrap();
        write_entries(&mut log, Stream::Stderr, b"oops\n").unwrap();
        write_entries(&mut log, Stream::Stdout, b"o\n").unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains(" stdout P tw\n"), "{text}");
        let (lines, used) = parse(&log);
        assert_eq!(used, log.len());
        let got: Vec<(&[u8], Stream, bool)> = lines
            .iter()
            .map(|l| (l.text.as_slice(), l.stream, l.complete))
            .collect();
        assert_eq!(
            got,
            [
                (&b"one"[..], Stream::Stdout, true),
                (&b"tw"[..], Stream::Stdout, false),
                (&b"oops"[..], Stream::Stderr, true),
                (&b"o"[..], Stream::Stdout, true),
            ]
        );
    }

    #[test]
    fn an_unfinished_entry_is_left_for_later() {
        let (lines, used) = parse(b"t stdout F a\nt stdout F b");
        assert_eq!(lines.len(), 1);
        assert_eq!(used, 13);
    }
}
