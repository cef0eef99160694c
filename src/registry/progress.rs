//! How pulls and pushes report progress. Library code calls these hooks from
//! its worker threads; only the CLI draws anything (see `ui::progress`).

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

/// Progress that goes nowhere (quiet mode, library callers).
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &Digest, _: &str, _: u64, _: u64) {}
    fn advance(&self, _: &Digest, _: u64) {}
    fn reset(&self, _: &Digest) {}
    fn done(&self, _: &Digest, _: &str, _: &Done) {}
    fn note(&self, _: &str) {}
}
