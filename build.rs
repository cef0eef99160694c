//! Link the release binary as a position-dependent executable (-no-pie).
//!
//! Every `hutch` command is a fresh exec, so start-up is paid each time. As
//! a PIE the 10 MB binary carries about 9,600 relative relocations that the
//! dynamic loader applies at every start, dirtying (copy-on-write) each page
//! of data they touch; linked at a fixed address they are resolved once, by
//! the linker. The price is that the binary itself loads at a fixed address
//! (its libraries, stack and heap are still randomised); hutch is never
//! setuid. Debug builds and tests stay PIE.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
