//! Why `--network` and its companion flags cannot give a container a
//! network; each message says what to change.

use super::netdef::NetError;
use super::options::OptionsError;
use super::plan::PlanError;

/// The errors of [`super::Network`]'s constructors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "--network-alias and --ip need a user-defined network: create one with \
         `hutch network create NAME` and pass --network NAME"
    )]
    NeedsUserNetwork,
    /// `flag` (`-p/-P`, `--dns`, ...) configures a helper `--network mode` has not.
    #[error(
        "{flag} needs a connected network, but --network {mode} has none to configure; \
         use --network pasta or slirp4netns"
    )]
    HelperOnlyFlag { flag: &'static str, mode: String },
    #[error(
        "network bridge is Docker's default network, which hutch has not: use {BUILT_IN} \
         (pasta is the default), or a network made with `hutch network create NAME`"
    )]
    DockerBridge,
    #[error("network {0} not found: create it with `hutch network create {0}`, or use {BUILT_IN}")]
    NotFound(String),
    #[error(
        "user-defined networks are connected by pasta, which is not installed: \
         install the `passt` package"
    )]
    NoPasta,
    #[error(
        "--network {0} cannot be combined with other networks: several --network flags \
         must all name networks made with `hutch network create`"
    )]
    Mixed(String),
    #[error("network {0} is given twice: name each network once")]
    Twice(String),
    #[error("invalid --network-alias {0:?}: use a host name (letters, digits, '-', '.', '_')")]
    BadAlias(String),
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Net(#[from] NetError),
}

/// The network modes hutch has without a definition.
const BUILT_IN: &str = "none, host, container:NAME, pasta or slirp4netns";
