//! Unpack one layer tar (plain, gzip or zstd, detected by magic) into a directory.

use std::io::Read;
use std::path::Path;

/// How ownership is treated while unpacking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// chown entries to the uid/gid in the tar (we are root of a user
    /// namespace holding the image's ids); ids that are not mapped fall back to 0.
    FromTar,
    /// Leave everything owned by the unpacking user (single-id namespaces).
    Caller,
}

/// Options for one unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    pub owners: Owners,
}

/// What happened, for warnings.
#[derive(Debug, Default)]
pub struct UnpackReport {
    /// Entries skipped, with why (device nodes that cannot be created rootless).
    pub skipped: Vec<String>,
}

/// Unpack `input` into `dest` (an existing, empty directory).
pub fn unpack(input: impl Read, dest: &Path, opts: &UnpackOptions) -> Result<UnpackReport, String> {
    let _ = (input, dest, opts);
    Err("layer unpacking not implemented yet".into())
}
