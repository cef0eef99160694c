//! The build a new user tries first: a Debian root filesystem made with
//! `mmdebstrap --mode=unshare`, imported, then a Dockerfile that copies a C
//! file to /tmp and compiles it with apt's gcc. Needs the user with
//! subordinate ids (apt drops to its own `_apt` user) and Debian's mirror.
//!
//! The root filesystem tarball is made once and kept in the test user's
//! `~/.cache/hutch-tests/`, outside the checkout, so later runs (and CI runs
//! on the same machine) skip the minute mmdebstrap takes.

use crate::common::*;
use std::path::{Path, PathBuf};

const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// Debian mirrors the machine's apt is configured with (one-line `deb`
/// entries and deb822 `URIs:` fields), to try when the default is not
/// reachable.
fn configured_mirrors() -> Vec<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    let mut out = Vec::new();
    for f in files {
        let name = f.to_string_lossy();
        if !(name.ends_with(".list") || name.ends_with(".sources")) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let uris: &[&str] = match words.first() {
                Some(&"URIs:") => &words[1..],
                Some(&"deb") => &words[1..2.min(words.len())],
                _ => &[],
            };
            for uri in uris {
                let uri = uri.trim_end_matches('/');
                if uri.ends_with("/debian") && !out.iter().any(|m| m == uri) {
                    out.push(uri.to_string());
                }
            }
        }
    }
    out
}

/// The cached bookworm tarball, made with mmdebstrap as the test user when
/// missing (written under a temporary name and renamed, so an interrupted
/// run leaves no half tarball behind). The tests that need it run in
/// parallel threads of this one process: one makes it, the others wait for
/// it rather than run mmdebstrap into the same temporary file.
pub(crate) fn bookworm_tarball(w: &World) -> PathBuf {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let cache = w.user.home.join(".cache/hutch-tests");
    let tar = cache.join("debian-bookworm-apt.tar");
    if tar.exists() {
        return tar;
    }
    user_ok(w, "mkdir", &["-p", cache.to_str().unwrap()]);
    let tmp = cache.join(format!("debian-bookworm-apt.{}.tar", std::process::id()));
    let mut mirrors = vec![DEFAULT_MIRROR.to_string()];
    mirrors.extend(configured_mirrors());
    mirrors.dedup();
    let mut failures = Vec::new();
    for mirror in &mirrors {
        let out = w
            .as_user("mmdebstrap")
            .args([
                "--mode=unshare",
                "--variant=apt",
                "--format=tar",
                "bookworm",
            ])
            .arg(&tmp)
            .arg(mirror)
            .output()
            .expect("spawn mmdebstrap");
        if out.status.success() {
            std::fs::rename(&tmp, &tar).unwrap();
            return tar;
        }
        let _ = std::fs::remove_file(&tmp);
        let err = stderr(&out);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        failures.push(format!(
            "{mirror}:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    panic!(
        "mmdebstrap failed with every mirror:\n{}",
        failures.join("\n")
    );
}

fn write(w: &World, dir: &Path, name: &str, text: &str) {
    let rel = dir.strip_prefix(w.dir.path()).unwrap().join(name);
    w.write(rel.to_str().unwrap(), text);
}

#[test]
fn debian_base_apt_gcc_build_runs() {
    let Some(u) = user(Kind::SubIds) else {
        skip("no test user with subordinate ids");
        return;
    };
    let w = World::new(u);
    let tar = bookworm_tarball(&w);
    w.ok(&["import", tar.to_str().unwrap(), "debian:bookworm"]);
    let ctx = w.path("hello");
    write(
        &w,
        &ctx,
        "hello.c",
        "#include <stdio.h>\nint main(void) { puts(\"hello from a Debian build\"); return 0; }\n",
    );
    write(
        &w,
        &ctx,
        "Dockerfile",
        concat!(
            "FROM debian:bookworm\n",
            "COPY hello.c /tmp/\n",
            "RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev",
            " && gcc -o /usr/local/bin/hello /tmp/hello.c && rm -rf /var/lib/apt/lists/*",
            " && apt-get purge -y --auto-remove gcc\n",
            "CMD [\"hello\"]\n",
        ),
    );
    w.ok(&["build", "-t", "hello:1", ctx.to_str().unwrap()]);
    assert_eq!(
        w.ok(&["run", "--rm", "hello:1"]),
        "hello from a Debian build\n"
    );
    let tmp = w.ok(&["run", "--rm", "hello:1", "stat", "-c", "%a %u:%g", "/tmp"]);
    assert_eq!(tmp, "1777 0:0\n", "COPY into /tmp kept its mode");
    let (code, _) = w.fails(&["run", "--rm", "hello:1", "gcc", "--version"]);
    assert_ne!(code, 0, "gcc was purged");
}

/// The cached Debian bookworm tarball of the Debian build test (made by the
/// user with subordinate ids, as mmdebstrap --mode=unshare needs), readable
/// by `w`'s user: copied into its world when the maker's home is closed.
pub(crate) fn debian_base(w: &World) -> Option<std::path::PathBuf> {
    let Some(maker) = crate::common::user(crate::common::Kind::SubIds) else {
        crate::common::skip("no user with subordinate ids to run mmdebstrap --mode=unshare");
        return None;
    };
    let tar = bookworm_tarball(&World::new(maker));
    let readable = w.as_user("test").arg("-r").arg(&tar).status().unwrap();
    if readable.success() {
        return Some(tar);
    }
    let copy = w.path("debian-bookworm-apt.tar");
    std::fs::copy(&tar, &copy).unwrap();
    std::os::unix::fs::chown(&copy, Some(w.user.uid), Some(w.user.gid)).unwrap();
    Some(copy)
}
