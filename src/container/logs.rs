//! `ctr.log`, the log of a container, in one of two formats. k8s-file
//! (the default) is what conmon writes and `podman logs` reads: one entry
//! per line,
//!
//! ```text
//! 2026-11-23T19:40:00.123456789Z stdout F a full line
//! 2026-11-23T19:40:00.123456790Z stderr P a partial line (no newline yet)
//! ```
//!
//! `F` ends a line of output, `P` is a piece of one that had no newline when
//! it was read (a prompt, a progress bar); readers join the pieces.
//! json-file is Docker's: one JSON object per piece,
//! `{"log":"a full line\n","stream":"stdout","time":"..."}`, a piece
//! without its newline being partial. With `--log-opt max-size` the log is
//! rotated (`ctr.log.1` the newest old one, up to `max-file` files in all).
//!
//! [`record`] is the writer (the logger process, `super::logger`, runs it);
//! [`parse`] and [`Line`] are for readers. This module does not know about
//! processes or records.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// Why `--log-driver` and `--log-opt` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogConfigError {
    /// The driver's name as given.
    #[error("unknown log driver '{}' (use {})", .0, crate::named::one_of(Driver::NAMES))]
    Driver(String),
    #[error("--log-opt max-size: {0}")]
    MaxSize(String),
    #[error("--log-opt max-file={0}: use a whole number of at least 1")]
    MaxFile(String),
    #[error("unsupported --log-opt '{0}' (hutch's log drivers take max-size and max-file)")]
    Unsupported(String),
    #[error("--log-driver none takes no --log-opt")]
    NoneTakesNoOpts,
    #[error("--log-opt max-file needs max-size (the log is rotated only by size)")]
    MaxFileNeedsSize,
}

/// The log file's name inside a container's directory.
pub const LOG_FILE: &str = "ctr.log";

/// `--log-driver`: how a container's output is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Driver {
    #[default]
    K8sFile,
    JsonFile,
    /// Not kept at all (`hutch logs` says so).
    None,
}

crate::named::named!(Driver, "log driver", {
    K8sFile => "k8s-file",
    JsonFile => "json-file",
    None => "none",
});

/// A log driver with its options, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub driver: Driver,
    /// Rotate once the log reaches this many bytes.
    pub max_size: Option<u64>,
    /// How many files, the current one included, rotation keeps (>= 1).
    pub max_file: u32,
}

impl Config {
    /// `--log-driver` (empty: k8s-file) and `--log-opt KEY=VALUE` entries
    /// (max-size, max-file), checked as Docker checks them.
    pub fn new(
        driver: &str,
        opts: &std::collections::BTreeMap<String, String>,
    ) -> Result<Config, LogConfigError> {
        let driver = match driver {
            "" => Driver::K8sFile,
            d => d
                .parse::<Driver>()
                .map_err(|_| LogConfigError::Driver(d.to_string()))?,
        };
        let mut c = Config {
            driver,
            max_size: None,
            max_file: 1,
        };
        for (k, v) in opts {
            match k.as_str() {
                "max-size" => {
                    c.max_size = Some(
                        crate::sandbox::limits::parse_size(v)
                            .map_err(|e| LogConfigError::MaxSize(e.to_string()))?,
                    )
                }
                "max-file" => {
                    c.max_file = v
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| LogConfigError::MaxFile(v.clone()))?
                }
                _ => return Err(LogConfigError::Unsupported(k.clone())),
            }
        }
        if c.driver == Driver::None && !opts.is_empty() {
            return Err(LogConfigError::NoneTakesNoOpts);
        }
        if c.max_file > 1 && c.max_size.is_none() {
            return Err(LogConfigError::MaxFileNeedsSize);
        }
        Ok(c)
    }
}

/// The log files of a container whose current log is `path`, oldest first
/// (rotated ones, then the current one); only those that exist.
pub fn files(path: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = (1..)
        .map(|i| rotated(path, i))
        .take_while(|p| p.exists())
        .collect();
    out.reverse();
    out.push(path.to_path_buf());
    out
}

fn rotated(path: &Path, i: u32) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    s.into()
}

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
/// `path` (if any) until both reach end of file (every writer has closed
/// them); copy each to its `relay` target too, where it has one.
///
/// When the log cannot be written (disk full), output is still read and
/// dropped: a container must never block on, or die of SIGPIPE from, a log.
/// A relay target whose reader has gone (EPIPE) closes that stream, so the
/// container sees the broken pipe it would have seen writing there itself.
pub fn record(
    stdout: OwnedFd,
    stderr: OwnedFd,
    path: Option<&Path>,
    config: &Config,
    relay: [Option<OwnedFd>; 2],
) -> std::io::Result<()> {
    let open_log = || {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path?)
            .ok()
    };
    let mut log = open_log();
    let mut open = [
        Some((stdout, Stream::Stdout)),
        Some((stderr, Stream::Stderr)),
    ];
    let mut relay: [Option<std::fs::File>; 2] = relay.map(|r| r.map(std::fs::File::from));
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
                        let written = match config.driver {
                            Driver::JsonFile => write_json(f, *stream, &buf[..n]),
                            _ => write_entries(f, *stream, &buf[..n]),
                        };
                        if written.is_err() {
                            log = None;
                        } else if let (Some(max), Some(path)) = (config.max_size, path) {
                            if f.metadata().is_ok_and(|m| m.len() >= max) {
                                log = rotate(path, config.max_file).ok().and_then(|()| open_log());
                            }
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
    match (log, path) {
        (Some(f), _) => f.sync_all(),
        (None, None) => Ok(()),
        (None, Some(path)) => Err(std::io::Error::other(format!(
            "cannot write the log {}",
            path.display()
        ))),
    }
}

/// Move the full log aside: `ctr.log.N` → `.N+1` (the oldest beyond
/// `max_file` dropped), `ctr.log` → `.1`; with one file, the log starts over.
fn rotate(path: &Path, max_file: u32) -> std::io::Result<()> {
    if max_file <= 1 {
        return std::fs::File::create(path).map(drop);
    }
    let _ = std::fs::remove_file(rotated(path, max_file - 1));
    for i in (1..max_file - 1).rev() {
        let from = rotated(path, i);
        if from.exists() {
            std::fs::rename(&from, rotated(path, i + 1))?;
        }
    }
    std::fs::rename(path, rotated(path, 1))
}

/// Docker's json-file entries for one read: one object per line, a
/// remainder without its newline as a partial one.
fn write_json(log: &mut impl Write, stream: Stream, data: &[u8]) -> std::io::Result<()> {
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let mut out = Vec::with_capacity(data.len() + 64);
    for piece in data.split_inclusive(|&b| b == b'\n') {
        let entry = serde_json::json!({
            "log": String::from_utf8_lossy(piece),
            "stream": stream.name(),
            "time": time,
        });
        serde_json::to_writer(&mut out, &entry)?;
        out.push(b'\n');
    }
    log.write_all(&out)
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
/// an entry) written by `driver`. Only entries ending in a newline are read;
/// the second value is how many bytes those took, so a follower can
/// continue from there.
pub fn parse(driver: Driver, data: &[u8]) -> (Vec<Line>, usize) {
    match driver {
        Driver::JsonFile => parse_json(data),
        _ => parse_k8s(data),
    }
}

fn parse_json(data: &[u8]) -> (Vec<Line>, usize) {
    #[derive(serde::Deserialize)]
    struct Entry {
        log: String,
        stream: String,
        time: String,
    }
    let mut lines: Vec<Line> = Vec::new();
    let mut used = 0;
    for entry in data.split_inclusive(|&b| b == b'\n') {
        if !entry.ends_with(b"\n") {
            break;
        }
        used += entry.len();
        let Ok(e) = serde_json::from_slice::<Entry>(entry) else {
            continue;
        };
        let stream = match e.stream.as_str() {
            "stderr" => Stream::Stderr,
            _ => Stream::Stdout,
        };
        let (text, complete) = match e.log.strip_suffix('\n') {
            Some(t) => (t.as_bytes(), true),
            None => (e.log.as_bytes(), false),
        };
        join_piece(&mut lines, e.time, stream, text, complete);
    }
    (lines, used)
}

/// Add a piece to `lines`, continuing an unfinished line of the same stream.
fn join_piece(lines: &mut Vec<Line>, time: String, stream: Stream, text: &[u8], complete: bool) {
    match lines.last_mut() {
        Some(l) if !l.complete && l.stream == stream => l.text.extend_from_slice(text),
        _ => lines.push(Line {
            time,
            stream,
            text: text.to_vec(),
            complete: false,
        }),
    }
    if complete {
        if let Some(l) = lines.last_mut() {
            l.complete = true;
        }
    }
}

fn parse_k8s(data: &[u8]) -> (Vec<Line>, usize) {
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
        let time = String::from_utf8_lossy(time).into_owned();
        join_piece(&mut lines, time, stream, text, tag == b"F");
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
        let (lines, used) = parse(Driver::K8sFile, &log);
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
    fn json_entries_round_trip_and_rotation_keeps_max_file() {
        let mut log = Vec::new();
        write_json(&mut log, Stream::Stdout, b"one\ntw").unwrap();
        write_json(&mut log, Stream::Stdout, b"o\n").unwrap();
        write_json(&mut log, Stream::Stderr, b"\"x\"\n").unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(
            text.starts_with(r#"{"log":"one\n","stream":"stdout","time":""#),
            "{text}"
        );
        let (lines, used) = parse(Driver::JsonFile, &log);
        assert_eq!(used, log.len());
        let got: Vec<&[u8]> = lines.iter().map(|l| l.text.as_slice()).collect();
        assert_eq!(got, [&b"one"[..], b"two", b"\"x\""]);
        assert_eq!(lines[2].stream, Stream::Stderr);

        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ctr.log");
        for n in 0..4 {
            std::fs::write(&p, format!("{n}")).unwrap();
            rotate(&p, 3).unwrap();
        }
        let names: Vec<String> = files(&p)
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect();
        assert_eq!(names, ["2", "3", ""]);
    }

    #[test]
    fn log_options_are_checked() {
        let opts = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let c = Config::new("json-file", &opts(&[("max-size", "1k"), ("max-file", "2")])).unwrap();
        assert_eq!(
            (c.driver, c.max_size, c.max_file),
            (Driver::JsonFile, Some(1024), 2)
        );
        assert!(Config::new("syslog", &opts(&[]))
            .unwrap_err()
            .to_string()
            .contains("syslog"));
        assert!(Config::new("", &opts(&[("tag", "x")]))
            .unwrap_err()
            .to_string()
            .contains("tag"));
        assert!(Config::new("", &opts(&[("max-file", "2")])).is_err());
        assert!(Config::new("none", &opts(&[("max-size", "1k")])).is_err());
    }

    #[test]
    fn an_unfinished_entry_is_left_for_later() {
        let (lines, used) = parse(Driver::K8sFile, b"t stdout F a\nt stdout F b");
        assert_eq!(lines.len(), 1);
        assert_eq!(used, 13);
    }
}
