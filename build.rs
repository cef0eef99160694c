//! Link the release binary as a position-dependent executable (-no-pie).
//!
//! Every `hutch` command is a fresh exec, so start-up is paid each time. As
//! a PIE the 10 MB binary carries about 9,600 relative relocations that the
//! dynamic loader applies at every start, dirtying (copy-on-write) each page
//! of data they touch; linked at a fixed address they are resolved once, by
//! the linker. The price is that the binary itself loads at a fixed address
//! (its libraries, stack and heap are still randomised); hutch is never
//! setuid. Debug builds and tests stay PIE.
//!
//! On GNU/Linux the unwinder is linked in from libgcc_eh.a instead of
//! loading libgcc_s.so.1 at every start: that library's constructor
//! (`__cpu_indicator_init`) runs twelve CPUID instructions, and in a
//! virtual machine each one traps to the hypervisor (tens of microseconds
//! apiece where this was measured; 0.1-0.15 ms per exec in all). Linked
//! whole, the archive defines every `_Unwind_*` symbol before std's
//! `-lgcc_s` is seen, so the linker's --as-needed drops that library.
//! Where the compiler has no libgcc_eh.a, or when cross-compiling (the
//! host's `cc` would name the host's archive, not the target's), nothing
//! changes. bench/startup.sh checks that a release binary does not need
//! libgcc_s.
//!
//! Where rustc links with its own lld (the default on x86_64 GNU/Linux
//! since Rust 1.90), the functions a start runs (link/start-symbols.txt,
//! written by bench/start-symbols.sh) are placed side by side at the
//! start of the text (`--symbol-ordering-file`). A start runs about 900
//! KB of the binary's 12 MB of code in three processes, and each page
//! fault on the text maps the 16 pages around it: scattered, that code
//! lay in 107 such windows, side by side in 14 (a start took 58 page
//! faults fewer and 0.6 ms less CPU). Names the binary does not have (a
//! list made by another toolchain, functions renamed since) are skipped.
//! GNU ld does not know the option: with a linker chosen in RUSTFLAGS or
//! CARGO_TARGET_<triple>_LINKER, or an older rustc, nothing is ordered.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=link/start-symbols.txt");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    if release && links_with_rust_lld() {
        let list = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
            .join("link/start-symbols.txt");
        if list.is_file() {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                list.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
    }
    let gnu = std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    let native = std::env::var("HOST").ok() == std::env::var("TARGET").ok();
    if linux && gnu && native {
        if let Some(dir) = libgcc_eh_dir() {
            println!("cargo:rustc-link-search=native={}", dir.display());
            println!("cargo:rustc-link-lib=static:+whole-archive,-bundle=gcc_eh");
        }
    }
}

/// Whether rustc links this build with its own lld: its default for
/// x86_64-unknown-linux-gnu from 1.90 on, unless the linker was chosen.
fn links_with_rust_lld() -> bool {
    if std::env::var("TARGET").ok().as_deref() != Some("x86_64-unknown-linux-gnu")
        || std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some()
        || std::env::var("CARGO_ENCODED_RUSTFLAGS").is_ok_and(|f| f.contains("link"))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = std::process::Command::new(rustc).arg("-vV").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version
        .lines()
        .find_map(|l| l.strip_prefix("release: 1."))
        .and_then(|rest| rest.split('.').next()?.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}

/// Where the C compiler (the linker driver rustc uses) keeps libgcc_eh.a.
fn libgcc_eh_dir() -> Option<std::path::PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = std::process::Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    // Without it the compiler prints the bare name back.
    match path.is_absolute() && path.is_file() {
        true => path.parent().map(|p| p.to_path_buf()),
        false => None,
    }
}
