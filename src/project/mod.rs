//! Project environments: a project's `hutch.toml` (found by walking up from
//! the current directory) turned into a persistent, isolated environment
//! built from the project's own Containerfile or Dockerfile, rebuilt when
//! what its build read changes, and entered as the caller with the project
//! directory at the same path as on the host.
//!
//! - `config`: the file's schema and errors with file, line and key
//! - `devcontainer`: devcontainer.json (JSONC) mapped onto the same settings
//! - `discover`: finding the project and what its image is made from
//! - `inputs`: what the last build read, and the stat-first change check
//! - `stamps`: inputs.bin, the compact form of those inputs entries check
//! - `identity`: the caller, and passwd/group entries for them
//! - `state`: the environment's directory, record and lock
//! - `watch`: the watcher that vouches for an unchanged record (inotify)
//! - `environment`: the use case (ensure, enter, status, stop, remove)
//! - `versions`: snapshots as pinned images, log, diff, rollback, tag, prune
//! - `promote`: hand-made changes since the last build as Containerfile lines
//! - `share`: push a version, devcontainer.json and Kubernetes exports
//! - `packages`: apk and dpkg databases and what changed between two
//! - `passthrough`: the host facilities `[run] passthrough` shares
//! - `exports`: launchers for exported commands, allow/deny, shell hooks
//! - `template`: the starter file `hutch init` writes
//!
//! It does not know the command line and never prints: callers map flags
//! onto it and show what it returns or reports.

pub mod config;
pub mod devcontainer;
pub mod discover;
pub mod environment;
pub mod exports;
pub mod identity;
pub mod inputs;
pub mod packages;
pub mod passthrough;
pub mod promote;
pub mod rpmdb;
pub mod share;
pub mod stamps;
pub mod state;
pub mod template;
pub mod versions;
pub mod watch;

pub use discover::{discover, Project};
pub use environment::{Entry, Environment, Summary};

use std::path::PathBuf;

/// An error from a layer below (build, pull, launch) passed through whole.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no hutch.toml in {} or any parent directory: run `hutch init` to create one",
        .0.display()
    )]
    NoProject(PathBuf),
    #[error("{}:{line}: {key}: {why}", file.display())]
    Config {
        file: PathBuf,
        line: usize,
        key: String,
        why: ConfigError,
    },
    #[error(
        "no Containerfile or Dockerfile in {}: add one, or set image = \"REF\" in hutch.toml",
        .0.display()
    )]
    NoDefinition(PathBuf),
    #[error("{what} does not exist: {}", path.display())]
    Missing { what: &'static str, path: PathBuf },
    #[error("no environment for the project in {} yet (`hutch shell` makes one)", .0.display())]
    NoEnv(PathBuf),
    #[error(
        "this project's environment was made when the project was at {}, and it is now at {}: \
         move it back, or run `hutch env rm` here to remove the old environment \
         (the next `hutch shell` then makes a new one)",
        old.display(), new.display()
    )]
    Moved { old: PathBuf, new: PathBuf },
    #[error("{0}")]
    Image(String),
    #[error("the devcontainer {key} failed with exit code {code}")]
    Hook { key: &'static str, code: i32 },
    #[error("{0}")]
    Backend(BoxError),
    #[error("the environment's container did not start (exit code {code}): {message}")]
    Start { code: i32, message: String },
    #[error("the environment's container {0} is not running")]
    NotRunning(String),
    #[error(
        "the environment's container {name} runs with another user id mapping than this \
         user has now ({was} vs {now}): `hutch env rm` and enter again"
    )]
    MappingChanged {
        name: String,
        was: String,
        now: String,
    },
    /// Joining the running environment.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::Error),
    #[error(transparent)]
    Confinement(#[from] crate::sandbox::security::SecurityError),
    #[error(transparent)]
    Launch(#[from] crate::container::launch::Error),
    #[error(transparent)]
    Userns(#[from] crate::userns::Error),
    #[error(transparent)]
    Container(#[from] crate::container::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What is wrong in hutch.toml or devcontainer.json (the key is named
/// beside it).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML reader's message (its whole text quotes the file too).
    #[error("{}", .0.message().trim())]
    Toml(toml::de::Error),
    #[error("{0}")]
    Json(serde_json::Error),
    #[error("the file is not UTF-8")]
    NotUtf8,
    #[error("`image` and `[build]` exclude each other: use an image as it is, or build one")]
    ImageAndBuild,
    #[error(transparent)]
    Security(crate::sandbox::security::SecurityError),
    #[error("cannot read {}: {source}", path.display())]
    SeccompFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("environment variable names must be non-empty without '=' or NUL")]
    EnvName,
    #[error("'{0}' is not a command name (no '/', not starting with '.')")]
    CommandName(String),
    #[error("the file must hold one JSON object")]
    NotObject,
    /// A value of the wrong kind; `at` is the dotted key when the key
    /// named beside the error is only its last part (`build.args.X`).
    #[error("{}expected {what}", at.as_ref().map(|a| format!("{a}: ")).unwrap_or_default())]
    Expected { at: Option<String>, what: Shape },
    #[error("set `image` or `build.dockerfile`: hutch needs one of them")]
    NoImage,
    #[error("{0}: expected a port number or \"localhost:PORT\" (hutch publishes the environment's own ports)")]
    ForwardPort(serde_json::Value),
    #[error("--pids-limit {0}: expected a number")]
    PidsLimit(String),
    #[error("a mount object needs \"target\"")]
    MountTarget,
    #[error("an array command holds only strings")]
    CommandNotStrings,
}

/// The kind of value a devcontainer.json key takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Shape {
    #[error("true or false")]
    Bool,
    #[error("a string")]
    String,
    #[error("strings")]
    Strings,
    #[error("an array")]
    Array,
    #[error("an array of strings")]
    ArrayOfStrings,
    #[error("an object")]
    Object,
    #[error("an absolute path")]
    AbsolutePath,
    #[error("a port, a \"HOST:CONTAINER\" string or an array of them")]
    AppPort,
    #[error("a string or an object per mount")]
    Mount,
    #[error("a string, an array of strings or an object")]
    Command,
}

impl Error {
    /// The exit code of a failed entry: the sandbox's for a command that
    /// could not be run, hutch's own otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Sandbox(e) => e.exit_code(),
            _ => crate::sandbox::error::EXIT_SETUP,
        }
    }
}
