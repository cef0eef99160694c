//! The libFuzzer entry point of every target in ../targets.rs: each
//! `[[bin]]` of ../Cargo.toml builds this file under a target's name, and
//! the name picks the target, so the code fuzzed here is exactly what the
//! stable runner fuzzes.

#![no_main]

#[path = "../targets.rs"]
#[allow(dead_code)] // the token lists serve the stable runner's mutations
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let scratch = tempfile::tempdir().expect("a scratch directory");
    targets::run(env!("CARGO_BIN_NAME"), data, scratch.path());
});
