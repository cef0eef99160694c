//! Known container escapes, replayed against hutch as both unprivileged
//! users: a `COPY --from` source that is a symlink to a host path
//! (CVE-2019-14271's shape), symlink swaps racing a copy out of a running
//! container (CVE-2018-15664), tarballs whose entries climb out of ADD's
//! destination (zip-slip), and a container overwriting the host binary that
//! started it through /proc/PID/exe (CVE-2019-5736). Each test plants a
//! marker on the host and checks that nothing read it and nothing changed it.

use crate::common::*;
use crate::confine::probe;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const BB: &str = "busybox:1.38.0-musl";
const SECRET: &str = "HOSTSECRET-d41d8cd9";

/// A directory on the host, outside everything hutch was given, holding
/// the marker file `secret`; returns its absolute path.
fn host_dir(w: &World) -> String {
    w.write("host/secret", SECRET);
    w.path("host").display().to_string()
}

/// The host directory holds exactly the marker, unchanged.
fn host_untouched(w: &World) {
    let names: Vec<String> = std::fs::read_dir(w.path("host"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["secret"], "something landed on the host");
    assert_eq!(
        std::fs::read_to_string(w.path("host/secret")).unwrap(),
        SECRET
    );
}

/// Every byte of every blob in the store: a leak of the marker into any
/// layer, config or manifest shows up here.
fn store_leaks_secret(w: &World) -> bool {
    let blobs = w.root().join("blobs/sha256");
    std::fs::read_dir(blobs).unwrap().any(|e| {
        let p = e.unwrap().path();
        let raw = std::fs::read(&p).unwrap();
        contains(&raw, SECRET.as_bytes()) || contains(&gunzip(&raw), SECRET.as_bytes())
    })
}

fn gunzip(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(raw), &mut out);
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn copy_from_a_stage_resolves_its_symlinks_inside_the_stage() {
    for_each_user(|w| {
        w.busybox();
        let host = host_dir(&w);
        // Links made by a build step (the stage's own content) and links
        // copied from the context: absolute to the host marker, climbing
        // to it, and to the host directory. The stage has its own file at
        // the host's path; that one is what a resolved link must give.
        let climb = format!("../../../../../../../../../..{host}/secret");
        std::fs::create_dir_all(w.path("ctx/links")).unwrap();
        for (target, name) in [
            (format!("{host}/secret"), "abs"),
            (climb.clone(), "climb"),
            (host.clone(), "dir"),
        ] {
            std::os::unix::fs::symlink(target, w.path(&format!("ctx/links/{name}"))).unwrap();
        }
        w.write(
            "ctx/Dockerfile",
            format!(
                "FROM {BB} AS s\n\
                 RUN mkdir -p {host} /out && echo stage > {host}/secret \
                 && ln -s {host}/secret /out/abs && ln -s {climb} /out/climb && ln -s {host} /out/dir\n\
                 COPY links /ctx/\n\
                 FROM {BB}\n\
                 COPY --from=s /out/abs /out/climb /files1/\n\
                 COPY --from=s /ctx/abs /ctx/climb /files2/\n\
                 COPY --from=s /out/dir/ /dir1/\n\
                 COPY --from=s /ctx/dir/ /dir2/\n\
                 COPY --from=s /out /ctx /links/\n"
            ),
        );
        w.ok(&["build", "-t", "leak:1", w.path("ctx").to_str().unwrap()]);
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "leak:1",
            "sh",
            "-c",
            "cat /files1/abs /files1/climb /files2/abs /files2/climb /dir1/secret /dir2/secret; \
             for l in abs climb dir; do readlink /links/$l; done",
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[..6], ["stage"; 6], "{out}");
        // Copied as a directory, the links stay links, with their targets.
        assert_eq!(
            lines[6..],
            [format!("{host}/secret"), climb, host.clone()],
            "{out}"
        );
        assert!(!store_leaks_secret(&w), "the host's file reached the store");
        host_untouched(&w);

        // A link whose target exists only on the host is not found.
        w.write(
            "miss/Dockerfile",
            format!(
                "FROM {BB} AS s\nRUN ln -s {host}/secret /abs\n\
                 FROM scratch\nCOPY --from=s /abs /x\n"
            ),
        );
        let (_, err) = w.fails(&["build", w.path("miss").to_str().unwrap()]);
        assert!(err.contains("COPY --from=s /abs /x"), "{err}");
        assert!(!err.contains(SECRET), "{err}");
        host_untouched(&w);
    });
}

/// A tar archive whose entries are written as given: names with `..` and
/// leading `/`, which the tar crate's own builder refuses.
fn raw_tar(entries: &[(&str, tar::EntryType, &str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        let raw = &mut h.as_gnu_mut().unwrap().name;
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(*kind);
        h.set_mode(if *kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(data.len() as u64);
        if !link.is_empty() {
            let raw = &mut h.as_gnu_mut().unwrap().linkname;
            raw[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn add_of_a_hostile_tarball_puts_nothing_outside_its_destination() {
    for_each_user(|w| {
        w.busybox();
        let host = host_dir(&w);
        let up = "../../../../../../../../../../..";
        let names = [
            format!("{up}{host}/dotdot"),
            format!("{host}/absolute"),
            format!("./{up}{host}/dotslash"),
        ];
        let (up_link, hl_climb) = (format!("{up}{host}"), format!("{up}{host}/secret"));
        let abs_secret = format!("{host}/secret");
        use tar::EntryType::{Directory, Link, Regular, Symlink};
        let entries: Vec<(&str, tar::EntryType, &str, &[u8])> = vec![
            (&names[0], Regular, "", b"dotdot"),
            (&names[1], Regular, "", b"absolute"),
            (&names[2], Regular, "", b"dotslash"),
            // A symlink out, then entries written through it.
            ("out", Symlink, &host, b""),
            ("out/through", Regular, "", b"through"),
            ("out/sub", Directory, "", b""),
            ("out/sub/deep", Regular, "", b"deep"),
            ("climb", Symlink, &up_link, b""),
            ("climb/through2", Regular, "", b"through2"),
            // A link to the host's file, then a file of that name.
            ("sec", Symlink, &abs_secret, b""),
            ("sec", Regular, "", b"overwritten"),
        ];
        w.write("ctx/evil.tar", raw_tar(&entries));
        w.write("ctx/Dockerfile", format!("FROM {BB}\nADD evil.tar /dst/\n"));
        w.ok(&["build", "-t", "slip:1", w.path("ctx").to_str().unwrap()]);
        host_untouched(&w);
        // Whatever climbed lands inside the destination; whatever went
        // through a link lands where the link points inside the image.
        let seen = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "slip:1",
            "sh",
            "-c",
            &format!(
                "cd /dst && cat .{host}/dotdot .{host}/absolute .{host}/dotslash; echo; \
                 cd {host} && cat through sub/deep through2; echo; cat /dst/sec; echo; \
                 readlink /dst/out; readlink /dst/climb"
            ),
        ]);
        assert_eq!(
            seen,
            format!(
                "dotdotabsolutedotslash\nthroughdeepthrough2\noverwritten\n{host}\n{up_link}\n"
            )
        );
        assert!(!store_leaks_secret(&w), "the host's file reached the store");

        // Hard links may only name files the archive made before.
        for target in [&abs_secret, &hl_climb] {
            w.write(
                "ctx/evil.tar",
                raw_tar(&[("hl", Link, target.as_str(), b"")]),
            );
            let out = w.run(&["build", w.path("ctx").to_str().unwrap()]);
            let err = stderr(&out);
            assert!(!out.status.success(), "{err}");
            assert!(
                err.contains("evil.tar: hl: hard link to") && err.contains("not a file earlier"),
                "{err}"
            );
        }
        host_untouched(&w);
    });
}

#[test]
fn commit_export_and_diff_race_symlink_swaps_without_following_them() {
    for_each_user(|w| {
        w.busybox();
        let host = host_dir(&w);
        // Inside, a loop swaps a directory with links to the host's
        // directory and to its marker as fast as it can (CVE-2018-15664
        // raced `docker cp` the same way).
        let script = format!(
            "mkdir -p /w; while :; do rm -rf /w/d /w/f; mkdir /w/d; echo in > /w/d/f; \
             echo in > /w/f; rm -rf /w/d /w/f; ln -s {host} /w/d; ln -s {host}/secret /w/f; done"
        );
        w.ok(&[
            "run",
            "-d",
            "--name",
            "swap",
            "--network",
            "none",
            BB,
            "sh",
            "-c",
            &script,
        ]);
        let tar = w.path("out.tar");
        for i in 0..6 {
            w.ok(&["export", "-o", tar.to_str().unwrap(), "swap"]);
            let raw = std::fs::read(&tar).unwrap();
            assert!(
                !contains(&raw, SECRET.as_bytes()),
                "export {i} read the host"
            );
            w.ok(&["commit", "swap", &format!("swap:{i}")]);
            let diff = w.ok(&["diff", "swap"]);
            assert!(!diff.contains("secret"), "{diff}");
        }
        w.ok(&["rm", "-f", "swap"]);
        assert!(!store_leaks_secret(&w), "a commit read the host");
        host_untouched(&w);
    });
}

/// `cp` in a child process, then owned by the test user: hutch installed
/// in the user's own directory (install.sh's ~/.local), the case where
/// the container's root, which is that user, could write it.
fn own_copy_of_hutch(w: &World) -> std::path::PathBuf {
    let dst = w.path("bin/hutch");
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    let st = std::process::Command::new("cp")
        .arg(hutch_bin())
        .arg(&dst)
        .status()
        .unwrap();
    assert!(st.success());
    if w.user.switch {
        std::os::unix::fs::chown(&dst, Some(w.user.uid), Some(w.user.gid)).unwrap();
    }
    dst
}

fn digest(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap()
}

#[test]
fn a_container_cannot_overwrite_the_hutch_binary_through_proc_exe() {
    for_each_user(|w| {
        let bin = own_copy_of_hutch(&w);
        let before = digest(&bin);
        let hutch = |args: &[&str]| {
            let mut c = w.as_user(&bin);
            c.arg("--root").arg(w.root()).args(args);
            c
        };
        let ok = |args: &[&str]| succeeded(&hutch(args).output().unwrap(), &format!("{args:?}"));
        ok(&["load", "-i", image("busybox-musl").to_str().unwrap()]);
        let vol = probe(&w);
        // --init keeps hutch's own code as pid 1, in the container.
        ok(&[
            "run",
            "-d",
            "--name",
            "c",
            "--init",
            "--network",
            "none",
            "-v",
            &vol,
            BB,
            "sleep",
            "600",
        ]);
        ok(&[
            "exec",
            "c",
            "sh",
            "-c",
            "printf '#!/proc/self/exe\\n' > /evil && chmod +x /evil",
        ]);
        let attacker = hutch(&["exec", "c", "/probe", "exe-attack", "4"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // The kernel resolves a script's interpreter in the exec'ing
        // process: /proc/self/exe there is whatever started the command.
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            let out = hutch(&["exec", "c", "/evil"]).output().unwrap();
            // hutch run as the interpreter would print its usage on stderr.
            let said = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!said.contains("Usage"), "hutch ran inside: {said}");
            ok(&["exec", "c", "true"]);
        }
        let report = succeeded(&attacker.wait_with_output().unwrap(), "the attacker");
        assert!(report.contains("\nwrote 0\n"), "{report}");
        ok(&["rm", "-f", "c"]);
        assert!(digest(&bin) == before, "the host binary changed");
    });
}
