//! hutch's integration tests: one binary, every test drives the real `hutch`
//! executable as an unprivileged user with its own `--root`.

mod common;
mod images;
mod layers;
mod man;
mod net;
mod run;
