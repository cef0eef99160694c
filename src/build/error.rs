//! What can go wrong in the build module: each message names the image, blob,
//! file or instruction it is about (the `Context` a step adds says which).

use crate::chain::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A step that failed, with the Dockerfile line that asked for it.
    #[error("{file}:{line}: {instruction}: {}", crate::chain::line(why.as_ref()))]
    Instruction {
        file: String,
        line: usize,
        instruction: String,
        #[source]
        why: Box<Error>,
    },
    #[error(transparent)]
    Context(#[from] Context),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    #[error(transparent)]
    Dockerfile(#[from] crate::dockerfile::ParseError),
    #[error(transparent)]
    Ignore(#[from] super::ignore::IgnoreFileError),
    #[error(transparent)]
    Launch(#[from] crate::container::launch::Error),
    #[error(transparent)]
    Files(#[from] FileError),
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
    /// What the caller's image source (a pull, usually) said, whole.
    #[error("{}", crate::chain::line(.0.as_ref()))]
    Image(crate::chain::Cause),
}

crate::store::over_store!(Error);

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A value of one instruction that cannot be used: a `--chown`/`--chmod`
/// flag, an EXPOSEd port, a `--target` stage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("--chown={0}: no user given")]
    ChownNoUser(String),
    #[error("--chown={spec}: no user '{user}' in the image's /etc/passwd")]
    ChownUser { spec: String, user: String },
    #[error("--chown={spec}: no group '{group}' in the image's /etc/group")]
    ChownGroup { spec: String, group: String },
    #[error("--chmod={0}: expected an octal mode such as 0644")]
    Chmod(String),
    #[error("/{0} exists in the image and is not a directory")]
    WorkdirNotDir(String),
    #[error("invalid port '{port}': {source}")]
    Port {
        port: String,
        source: crate::dockerfile::PortError,
    },
    #[error("target stage '{target}' not found: {file} has no named stages")]
    NoNamedStages { target: String, file: String },
    #[error("target stage '{target}' not found in {file} (stages: {})", stages.join(", "))]
    NoSuchStage {
        target: String,
        file: String,
        stages: Vec<String>,
    },
}

/// What COPY and ADD cannot do with their sources: each message names the
/// source, the archive or the path.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{0}: there is no build context (the Dockerfile came from stdin)")]
    NoContext(String),
    #[error("{0}: the path is outside the build context")]
    OutsideContext(String),
    #[error("{0}: no file in the build context matches")]
    NoMatch(String),
    #[error("{0}: not found in the build context")]
    NotInContext(String),
    #[error("{0}: no file in the --from image matches")]
    NoMatchFrom(String),
    #[error("{0}: not found in the --from image")]
    NotInFrom(String),
    /// A source, or an archive's entry (`ARCHIVE: ENTRY`).
    #[error("{0}: too many levels of symbolic links")]
    Loops(String),
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Pattern(#[from] super::glob::BadPattern),
    #[error("{0}: ADD from a git repository is not supported yet")]
    Git(String),
    #[error("--checksum only applies to URL sources")]
    ChecksumNotUrl,
    #[error("{path}: {kind}-compressed archives cannot be unpacked yet; use gzip or zstd")]
    Compressed { path: String, kind: &'static str },
    #[error(
        "when using {0} with more than one source file, the destination must be a directory and end with a /"
    )]
    DestNotDir(&'static str),
    #[error("{archive}: cannot extract: {error}")]
    Extract {
        archive: String,
        error: std::io::Error,
    },
    #[error("{archive}: {entry}: hard link to {link}, which is not a file earlier in the archive")]
    HardLink {
        archive: String,
        entry: String,
        link: String,
    },
    #[error(transparent)]
    Step(#[from] StepError),
    #[error(transparent)]
    Layer(#[from] crate::layer::Error),
}
