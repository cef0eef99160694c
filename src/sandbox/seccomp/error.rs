//! Why a seccomp profile could not be read or compiled.

/// A profile hutch cannot turn into a BPF program.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("not a Docker seccomp profile: {0}")]
    NotJson(serde_json::Error),
    /// One entry of the profile (`defaultAction`, `syscalls[3]`) is wrong.
    #[error("{at}: {reason}")]
    Entry { at: EntryAt, reason: EntryError },
    #[error("seccomp filters are not supported on {0}")]
    UnsupportedArch(&'static str),
    #[error("seccomp argument index {0} (at most 5)")]
    ArgIndex(u8),
    #[error("the seccomp profile needs {needs} BPF instructions, more than the kernel's {max}")]
    TooLong { needs: usize, max: usize },
    #[error("a seccomp rule has too many argument comparisons")]
    TooManyComparisons,
}

/// Which part of a profile is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryAt {
    #[error("defaultAction")]
    DefaultAction,
    #[error("flags")]
    Flags,
    #[error("syscalls[{0}]")]
    Syscall(usize),
}

/// What is wrong in one part of a profile.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    #[error("{0} needs a tracer or a notification listener, which hutch does not provide")]
    NoListener(String),
    #[error("unknown action '{0}'")]
    Action(String),
    #[error("unknown flag '{0}' (hutch knows SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG and SECCOMP_FILTER_FLAG_SPEC_ALLOW)")]
    Flag(String),
    #[error("argument index {0} (syscalls have 6 at most)")]
    ArgIndex(u8),
    #[error("unknown comparison '{0}'")]
    Comparison(String),
    #[error("bad minKernel '{0}'")]
    MinKernel(String),
    #[error("no syscall names")]
    NoNames,
}
