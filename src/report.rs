//! How library code tells people what it is doing: [`Report`] for notices
//! (info, debug, warnings) and the work of its own it is busy with (a layer
//! written, a build context read), [`Progress`] for byte counts of pulls and
//! pushes. Library code calls these from any thread; it never prints. Only
//! the CLI draws anything (`ui::Printer`, `ui::progress::Bars`); this module
//! knows nothing about terminals.

use oci_spec::image::Digest;

/// How a blob ended up where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Transferred now.
    Copied,
    /// Already in the store (pull) or on the registry (push).
    Exists,
    /// Mounted from another repository of the same registry (push).
    Mounted(String),
}

/// Receives notices meant for people; must be callable from several threads.
pub trait Report: Sync {
    /// What is happening, for people (hidden in quiet mode).
    fn info(&self, line: &str);
    /// Detail shown only when asked for (--verbose).
    fn debug(&self, line: &str);
    /// Something the user should know even though the work went on.
    fn warn(&self, line: &str);
    /// Whether the caller asked for silence: work that would produce output
    /// only for people (a RUN step's own output) may skip it.
    fn quiet(&self) -> bool {
        false
    }
    /// Whether debug lines are shown: callers check it before building an
    /// expensive line, so tracing costs nothing when it is off.
    fn debugging(&self) -> bool {
        false
    }
    /// A stretch of hutch's own work is under way (`what`: "exporting the
    /// layer"), `done` bytes of it so far, of `total` when known; called
    /// again as it moves on. A spinner or a bar on a terminal, nothing
    /// otherwise (the lines around it say what was done). Never called
    /// while a container writes to the same terminal.
    fn working(&self, _what: &str, _done: u64, _total: Option<u64>) {}
    /// The work [`Report::working`] showed is over: its line goes.
    fn worked(&self) {}
}

/// A reader that tells a [`Report`] how far it got (about every MiB), for
/// work whose progress is the bytes it reads; [`Report::worked`] at the
/// end is the caller's.
pub struct Counted<'a, R> {
    inner: R,
    report: &'a dyn Report,
    what: &'a str,
    total: Option<u64>,
    done: u64,
    shown: u64,
}

impl<'a, R> Counted<'a, R> {
    pub fn new(inner: R, report: &'a dyn Report, what: &'a str, total: Option<u64>) -> Self {
        report.working(what, 0, total);
        Counted {
            inner,
            report,
            what,
            total,
            done: 0,
            shown: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done - self.shown >= 1 << 20 || (n == 0 && self.done != self.shown) {
            self.shown = self.done;
            self.report.working(self.what, self.done, self.total);
        }
        Ok(n)
    }
}

/// Receives progress events; must be callable from several threads.
pub trait Progress: Sync {
    /// A transfer of `size` bytes starts (`from` > 0 when resuming).
    fn start(&self, digest: &Digest, what: &str, size: u64, from: u64);
    /// `n` more bytes moved.
    fn advance(&self, digest: &Digest, n: u64);
    /// The server ignored a resume request: the count starts again at 0.
    fn reset(&self, digest: &Digest);
    /// A blob is finished.
    fn done(&self, digest: &Digest, what: &str, how: &Done);
    /// A line for humans (which registry is tried, what was resolved).
    fn note(&self, line: &str);
}

/// Reports that go nowhere (quiet mode, tests, library callers that do not
/// care).
pub struct Silent;

impl Report for Silent {
    fn info(&self, _: &str) {}
    fn debug(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn quiet(&self) -> bool {
        true
    }
}

impl Progress for Silent {
    fn start(&self, _: &Digest, _: &str, _: u64, _: u64) {}
    fn advance(&self, _: &Digest, _: u64) {}
    fn reset(&self, _: &Digest) {}
    fn done(&self, _: &Digest, _: &str, _: &Done) {}
    fn note(&self, _: &str) {}
}
