//! Why a seccomp profile could not be read or compiled.

/// A profile hutch cannot turn into a BPF program.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("not a Docker seccomp profile: {0}")]
    NotJson(serde_json::Error),
    /// One entry of the profile (`defaultAction`, `syscalls[3]`) is wrong.
    #[error("{at}: {reason}")]
    Entry { at: String, reason: String },
    #[error("seccomp filters are not supported on {0}")]
    UnsupportedArch(&'static str),
    #[error("seccomp argument index {0} (at most 5)")]
    ArgIndex(u8),
    #[error("the seccomp profile needs {needs} BPF instructions, more than the kernel's {max}")]
    TooLong { needs: usize, max: usize },
    #[error("a seccomp rule has too many argument comparisons")]
    TooManyComparisons,
}
