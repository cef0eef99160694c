//! The `hutch` binary: parse the command line, build the printer, hand off to
//! `cli::run`, and turn the outcome into an exit code. Nothing else lives here.

use std::process::ExitCode;

fn main() -> ExitCode {
    hutch::cli::main()
}
