//! How library code tells people what it is doing: [`Report`] for notices
//! (info, debug, warnings) and [`Progress`] for byte counts of pulls and
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
