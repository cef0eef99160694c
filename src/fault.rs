//! Crash points: named places in multi-step store and state changes where
//! the tests kill hutch (`HUTCH_CRASH_AT=NAME` makes the process SIGKILL
//! itself on reaching NAME) to check that what an interrupted command
//! leaves behind is still whole. Without the variable a point does nothing.
//!
//! It only reads one environment variable and signals its own process.

/// The variable naming the point to die at.
pub const VAR: &str = "HUTCH_CRASH_AT";

/// Die here, as a `kill -9` would do it, when `VAR` names `name`.
pub fn point(name: &str) {
    if std::env::var_os(VAR).is_some_and(|v| v == name) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
