//! hutch's integration tests: one binary; the tests drive the real `hutch`
//! executable as an unprivileged user with its own `--root`, except the
//! Dockerfile golden cases, which call the parser library directly.

mod attacks;
mod build;
mod cgroup;
mod common;
mod completion;
mod config;
mod confine;
mod crash;
mod debian;
mod detach;
mod docker_script;
mod dockerfile;
mod errors;
mod floors;
mod format;
mod images;
mod install;
mod keeper;
mod layers;
mod lifecycle;
mod man;
mod net;
mod output;
mod parity_ctr;
mod parity_net;
mod parity_run;
mod parity_vol;
mod project;
mod registry;
mod run;
mod snapshot;
mod snapshots;
mod storage;
mod tour;
mod versions;
