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
        why: Box<ConfigError>,
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
    #[error(
        "the environment is the image {0}, not built from a Containerfile: \
         promote needs one to add lines to"
    )]
    NotBuilt(String),
    /// Nothing changed since the last build (in version `0`, or now).
    #[error("nothing to promote: {}", match .0 {
        Some(v) => format!("version {v} has no changes since the last build"),
        None => "the environment has no changes since its last build".to_string(),
    })]
    NothingToPromote(Option<String>),
    #[error("{}: {source}", path.display())]
    Ignore {
        path: PathBuf,
        source: crate::build::ignore::PatternError,
    },
    #[error("refusing to copy the odd path /{0}")]
    OddPath(String),
    /// Reading layer `n` (1-based) of image `image`.
    #[error("layer {n} of {image}: {source}")]
    Layer {
        n: usize,
        image: String,
        source: BoxError,
    },
    #[error("layer {n} of {image}: /{path} is larger than {max} bytes; refusing to read it")]
    EtcTooLarge {
        n: usize,
        image: String,
        path: String,
        max: u64,
    },
    #[error("{what} is missing: {source}")]
    LayerMissing {
        what: String,
        source: std::io::Error,
    },
    #[error("the environment was not pushed yet: `hutch env push REGISTRY/REPO[:TAG]` first")]
    NotPushed,
    #[error("a Job runs a command: `hutch env export kube --job -- CMD [ARG...]`")]
    JobWithoutCommand,
    #[error("{} is unreadable ({source}): move it away to start a new history", path.display())]
    Versions {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// Diffing the environment's upper dir (in its user namespace).
    #[error("cannot read {}: {source}", path.display())]
    Upper {
        path: PathBuf,
        source: Box<crate::userns::Error>,
    },
    #[error("no version {0} of this environment: `hutch env log` lists them")]
    NoVersion(String),
    #[error("the image of version {n} is gone from the store (pin {pin} is missing)")]
    VersionGone { n: u32, pin: String },
    /// A version's manifest digest, as the store holds it.
    #[error(transparent)]
    Digest(Box<crate::oci::Error>),
    #[error("{name}: {source}")]
    Tag {
        name: String,
        source: Box<crate::oci::Error>,
    },
    #[error(
        "the image of the last build ({name}) is gone: {}",
        crate::chain::line(&**source)
    )]
    BuildGone {
        name: String,
        source: Box<crate::store::Error>,
    },
    #[error("cannot read {what}: {}", crate::chain::line(&**source))]
    ReadLayer {
        what: String,
        source: Box<crate::snapshot::Error>,
    },
    #[error(
        "cannot read the environment's changes: {}",
        crate::chain::line(&**source)
    )]
    Changes { source: Box<crate::snapshot::Error> },
    /// Processes inside (`pid (command)`).
    #[error(
        "the environment is in use by process {}: leave it first, or pass --force to stop them",
        .0.join(", ")
    )]
    InUse(Vec<String>),
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
