//! The `hutch` binary: set up the process, hand off to `cli::main`, and exit
//! with its code. Nothing else lives here.
//!
//! The entry point is the C `main` that the C runtime calls, not std's:
//! std's runtime set-up before `main` costs about 0.2 ms of CPU at every
//! exec (see `sys::entry`, which does the part of it hutch needs).
#![no_main]
#![deny(unsafe_code)]

use std::ffi::{c_char, c_int};

/// Called by the C runtime with the command line, which std reads for
/// itself (`std::env::args_os`) and so is not used here.
// no_mangle makes this the process's `main`. It is sound: the signature is
// C's `int main(int, char **)`, and the body is safe code whose panics are
// caught before they could unwind into the C runtime.
#[allow(unsafe_code)]
#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    if let Err(e) = hutch::sys::entry::prepare() {
        eprintln!("Error: {e}");
        std::process::exit(c_int::from(hutch::cli::EXIT_HUTCH_ERROR));
    }
    // 101, as std's runtime exits after a panic in `main` (the panic hook
    // has printed the message).
    let code = std::panic::catch_unwind(hutch::cli::main).unwrap_or(101);
    // Unlike returning, exit runs std's clean-up, which flushes stdout.
    std::process::exit(c_int::from(code))
}
