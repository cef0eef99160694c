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
//! Where the linker takes a symbol ordering file (lld does, as rustup's
//! rustc uses it on x86_64 GNU/Linux since 1.90; GNU ld does not), the
//! functions a start runs (link/start-symbols.txt, written by
//! bench/start-symbols.sh) are placed side by side at the start of the
//! text. A start runs about 1 MB of the binary's 12 MB of code in three
//! processes, and each page fault on the text maps the 16 pages around
//! it: scattered, that code lay in over a hundred such windows, side by
//! side in under twenty (bench/README.md has the page faults and CPU this
//! saves). Names the binary does not have (a list made by another
//! toolchain, functions renamed since) are skipped. Whether the linker
//! takes the option is tried by linking an empty program with it, as
//! hutch will be linked.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    // A rerun-if-changed path that does not exist reruns the script at
    // every build, so the list is watched only when it is there.
    let link =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("link");
    if link.is_dir() {
        println!("cargo:rerun-if-changed={}", link.display());
    }
    let list = link.join("start-symbols.txt");
    if list.is_file() {
        println!("cargo:rerun-if-changed={}", list.display());
        if release {
            match probe_link(true) {
                // -Xlinker, not -Wl,: a comma in the path would split it.
                true => ordering_args(&list)
                    .iter()
                    .for_each(|arg| println!("cargo:rustc-link-arg-bins={arg}")),
                // GNU ld refuses the option; anything else that stops the
                // probe from linking at all is worth a line.
                false if !probe_link(false) => println!(
                    "cargo:warning=could not link a probe program with this build's rustc, \
                     target and flags, so the start's functions are not placed side by side"
                ),
                false => {}
            }
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

/// The linker arguments that hand `list` over as a symbol ordering file.
fn ordering_args(list: &std::path::Path) -> [String; 4] {
    [
        "-Xlinker".into(),
        format!("--symbol-ordering-file={}", list.display()),
        "-Xlinker".into(),
        "--no-warn-symbol-ordering".into(),
    ]
}

/// Whether rustc, with this build's target, flags and linker, links an
/// empty `main`, given an empty symbol ordering file when `ordered` (GNU
/// ld stops at the unknown option). Flags given to `cargo rustc` after
/// `--` are not seen here.
fn probe_link(ordered: bool) -> bool {
    let (Ok(out), Ok(target)) = (std::env::var("OUT_DIR"), std::env::var("TARGET")) else {
        return false;
    };
    let dir = std::path::Path::new(&out);
    let (source, empty) = (
        dir.join("ordering-probe.rs"),
        dir.join("ordering-probe.txt"),
    );
    if std::fs::write(&source, "fn main() {}\n").is_err() || std::fs::write(&empty, "").is_err() {
        return false;
    }
    let mut rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()));
    rustc
        .args(["--crate-type", "bin", "--target", &target, "-o"])
        .arg(dir.join("ordering-probe"))
        .arg(&source);
    if let Ok(linker) = std::env::var("RUSTC_LINKER") {
        rustc.arg("-C").arg(format!("linker={linker}"));
    }
    if let Ok(flags) = std::env::var("CARGO_ENCODED_RUSTFLAGS") {
        rustc.args(flags.split('\x1f').filter(|f| !f.is_empty()));
    }
    if ordered {
        for arg in ordering_args(&empty) {
            rustc.arg("-C").arg(format!("link-arg={arg}"));
        }
    }
    rustc
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
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
