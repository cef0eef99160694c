//! hutch's integration tests: one binary; the tests drive the real `hutch`
//! executable as an unprivileged user with its own `--root`, except the
//! Dockerfile golden cases, which call the parser library directly.

mod build;
mod common;
mod confine;
mod debian;
mod dockerfile;
mod floors;
mod images;
mod keeper;
mod layers;
mod lifecycle;
mod man;
mod net;
mod project;
mod registry;
mod run;
mod snapshot;
mod storage;
