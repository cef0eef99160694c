//! Integration tests for `hutch run` and `hutch info`: real namespaces, real
//! overlayfs, the real busybox image, as a user with subordinate ids and as
//! one without (single-id mode).

use crate::common::{
    for_each_user, for_each_user_and_driver, hutch_bin, one_error, stderr, stdout, Kind, World,
};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Run `hutch run ARGS` (IMAGE already in ARGS); return (code, stdout, stderr).
fn run(w: &World, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let out = w.run(&all);
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

/// Like `run` but the container must exit 0; returns its stdout.
fn ok(w: &World, args: &[&str]) -> String {
    let (code, out, err) = run(w, args);
    assert_eq!(code, 0, "hutch run {args:?}\nstdout: {out}\nstderr: {err}");
    out
}

/// Container directories (named by their 64-hex id; not the probe cache or
/// the skeleton layer) under the state dir.
fn container_dirs(w: &World) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(w.root().join("containers")) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            p.is_dir() && name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .collect()
}

/// Paths under the store (not under containers/) that end in `suffix`.
fn in_layer_cache(w: &World, suffix: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, suffix: &str, skip: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.filter_map(|e| e.ok()) {
            let p = e.path();
            if p == skip {
                continue;
            }
            if p.ends_with(suffix) {
                out.push(p.clone());
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&p, suffix, skip, out);
            }
        }
    }
    let mut out = Vec::new();
    let root = w.root();
    walk(&root, suffix, &root.join("containers"), &mut out);
    out
}

#[test]
fn isolation_pid_hostname_and_proc() {
    for_each_user(|w| {
        let bb = w.busybox();
        let out = ok(
            &w,
            &[
                "--rm",
                bb,
                "sh",
                "-c",
                "echo $$; hostname; ls /proc | grep -c '^[0-9]'",
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "1", "the command is pid 1: {out}");
        assert_eq!(lines[1].len(), 12, "hostname is the short id: {out}");
        assert!(lines[1].bytes().all(|b| b.is_ascii_hexdigit()));
        let procs: u32 = lines[2].parse().unwrap();
        assert!(procs <= 3, "host processes are invisible: {procs} in /proc");
        let out = ok(
            &w,
            &[
                "--rm",
                "--hostname",
                "box",
                bb,
                "sh",
                "-c",
                "hostname; cat /etc/hostname; grep box /etc/hosts",
            ],
        );
        assert_eq!(out, "box\nbox\n127.0.1.1\tbox\n");
        assert!(
            container_dirs(&w).is_empty(),
            "--rm leaves no container dir"
        );
    });
}

/// Whether this kernel's tmpfs keeps `user.` xattrs (6.6): where it does, a
/// `--rm` container's writable layer lives in memory when asked to.
fn layer_in_memory() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0)) >= (6, 6)
}

/// hutch as the user, with a `--rm` container's writable layer in memory.
fn with_layer_in_memory(w: &World) -> std::process::Command {
    let mut c = w.hutch();
    c.env("HUTCH_RM_LAYER", "memory");
    c
}

#[test]
fn rm_keeps_its_writable_layer_in_memory_when_asked() {
    // Only native overlay can keep it there.
    for_each_user_and_driver(&["overlay"], |w| {
        let bb = w.busybox();
        // Writes, whiteouts and opaque dirs work on the in-memory layer.
        let script = "echo hi > /newfile; rm /bin/vi; rm -rf /home; mkdir /home; touch /home/x; \
                      cat /newfile; ls /bin/vi 2>/dev/null || echo gone; ls -a /home; ls -ld / | cut -c1-10";
        let out = with_layer_in_memory(&w)
            .args(["run", "--rm", bb, "sh", "-c", script])
            .output()
            .unwrap();
        assert_eq!(
            crate::common::succeeded(&out, "run --rm in memory"),
            "hi\ngone\n.\n..\nx\ndrwxr-xr-x\n"
        );
        let (mut child, _r) = start_ready_as(
            with_layer_in_memory(&w),
            &[
                "--rm",
                "--name",
                "mem",
                bb,
                "sh",
                "-c",
                "echo hi > /f; echo ready; sleep 30",
            ],
        );
        let dirs = container_dirs(&w);
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        let on_disk = dirs[0].join("upper").exists();
        if layer_in_memory() {
            assert!(!on_disk, "nothing of the writable layer on disk");
            // Its changes cannot be read from outside: refused, not empty.
            let out = w.run(&["diff", "mem"]);
            assert!(!out.status.success());
            assert!(stderr(&out).contains("in memory"), "{}", stderr(&out));
            // ... and says how to put it on disk.
            assert!(
                stderr(&out).contains("HUTCH_RM_LAYER=disk (or rm_layer = \"disk\""),
                "{}",
                stderr(&out)
            );
            let out = w.run(&["commit", "mem", "memimg"]);
            assert!(!out.status.success());
            assert!(stderr(&out).contains("in memory"), "{}", stderr(&out));
        } else {
            assert!(on_disk, "the writable layer is on disk");
            assert_eq!(w.ok(&["diff", "mem"]), "A /f\n");
        }
        // What runs inside it still reaches its files.
        assert_eq!(w.ok(&["exec", "mem", "cat", "/f"]), "hi\n");
        w.ok(&["kill", "mem"]);
        wait_code(&mut child);
        assert!(
            container_dirs(&w).is_empty(),
            "--rm leaves no container dir"
        );
        // Created now and started later: what `cp` put in before the start
        // is on disk, and the start uses it.
        w.ok(&["create", "--rm", "--name", "later", bb, "cat", "/note"]);
        let note = w.write("note", "kept\n");
        w.ok(&["cp", note.to_str().unwrap(), "later:/note"]);
        assert_eq!(w.ok(&["start", "-a", "later"]), "kept\n");
        assert!(
            container_dirs(&w).is_empty(),
            "--rm leaves no container dir"
        );
    });
}

/// Total bytes of the filesystem a `--rm` container's `/` writes to (an
/// overlay reports its upper dir's).
fn root_fs_bytes(w: &World, hutch: std::process::Command, bb: &str) -> u64 {
    let mut hutch = hutch;
    let out = hutch
        .args(["run", "--rm", bb, "stat", "-f", "-c", "%b %S", "/"])
        .output()
        .unwrap();
    let text = crate::common::succeeded(&out, &format!("stat -f / ({})", w.user.name));
    let n: Vec<u64> = text
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    n[0] * n[1]
}

#[test]
fn the_in_memory_layer_is_half_of_ram() {
    if !layer_in_memory() {
        return;
    }
    for_each_user_and_driver(&["overlay"], |w| {
        let bb = w.busybox();
        // Asked for in config.toml this time.
        let cfg = w.path("cfg");
        w.write("cfg/hutch/config.toml", "rm_layer = \"memory\"\n");
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        let half = kib * 1024 / 2;
        let mut hutch = w.hutch();
        hutch.env("XDG_CONFIG_HOME", &cfg);
        let got = root_fs_bytes(&w, hutch, bb);
        // The kernel rounds the size to whole pages.
        assert!(
            got.abs_diff(half) <= 4096,
            "{got} bytes, half of RAM {half}"
        );
    });
}

#[test]
fn a_running_rm_container_is_on_disk_by_default_and_with_rm_layer_disk() {
    for_each_user(|w| {
        let bb = w.busybox();
        let cfg = w.path("cfg");
        let file = w.write("cfg/hutch/config.toml", "");
        // By default; and the variable asking for disk beats config.toml
        // asking for memory.
        for (var, text) in [(None, ""), (Some("disk"), "rm_layer = \"memory\"\n")] {
            std::fs::write(&file, text).unwrap();
            let hutch = || {
                let mut c = w.hutch();
                c.env("XDG_CONFIG_HOME", &cfg);
                if let Some(v) = var {
                    c.env("HUTCH_RM_LAYER", v);
                }
                c
            };
            let args = ["--rm", "--name", "ondisk", bb, "sh", "-c"];
            let script = "echo hi > /f; echo ready; sleep 30";
            let (mut child, _r) = start_ready_as(hutch(), &[&args[..], &[script]].concat());
            let dirs = container_dirs(&w);
            assert_eq!(dirs.len(), 1, "{dirs:?}");
            assert_eq!(
                std::fs::read_to_string(dirs[0].join(w.writable_layer()).join("f")).unwrap(),
                "hi\n",
                "the writable layer is on disk ({var:?}, {text:?})"
            );
            assert_eq!(w.ok(&["diff", "ondisk"]), "A /f\n");
            w.ok(&["kill", "ondisk"]);
            wait_code(&mut child);
            assert!(
                container_dirs(&w).is_empty(),
                "--rm leaves no container dir"
            );
            // Its `/` is the state dir's filesystem, not a tmpfs.
            let disk = nix::sys::statvfs::statvfs(&w.root()).unwrap();
            let want = disk.blocks() as u64 * disk.fragment_size() as u64;
            assert_eq!(root_fs_bytes(&w, hutch(), bb), want);
        }
    });
}

#[test]
fn writes_and_whiteouts_stay_in_the_container_upper_dir() {
    for_each_user_and_driver(&["overlay", "fuse"], |w| {
        let bb = w.busybox();
        let script = "echo hi > /newfile; rm /bin/vi; ls /bin/vi 2>/dev/null || echo gone";
        assert_eq!(ok(&w, &["--name", "cow", bb, "sh", "-c", script]), "gone\n");
        let dirs = container_dirs(&w);
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        let upper = dirs[0].join("upper");
        assert_eq!(
            std::fs::read_to_string(upper.join("newfile")).unwrap(),
            "hi\n"
        );
        let wh = std::fs::symlink_metadata(upper.join("bin/vi")).unwrap();
        assert!(
            wh.file_type().is_char_device(),
            "overlay whiteout in the upper dir"
        );
        assert!(
            !in_layer_cache(&w, "bin/vi").is_empty(),
            "the cached layer keeps bin/vi"
        );
        assert!(
            in_layer_cache(&w, "newfile").is_empty(),
            "nothing written into the layer cache"
        );
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dirs[0].join("container.json")).unwrap())
                .unwrap();
        assert_eq!(rec["name"], "cow");
        assert_eq!(rec["status"], "exited");
        assert_eq!(rec["exit_code"], 0);
        assert_eq!(rec["command"][0], "sh");
        // A second container sees the image, not the first one's changes.
        assert_eq!(
            ok(
                &w,
                &[
                    "--rm",
                    bb,
                    "sh",
                    "-c",
                    "ls /bin/vi; ls /newfile 2>&1 || true"
                ]
            )
            .lines()
            .next(),
            Some("/bin/vi")
        );
        // Setting up a container writes nothing into its upper dir: the
        // mount points come from hutch's skeleton layer below the image.
        ok(&w, &["--name", "quiet", bb, "true"]);
        let quiet = container_dirs(&w)
            .into_iter()
            .find(|d| d != &dirs[0])
            .unwrap();
        let written: Vec<_> = std::fs::read_dir(quiet.join("upper")).unwrap().collect();
        assert!(written.is_empty(), "{written:?}");
        let (code, _, err) = run(&w, &["--name", "cow", bb, "true"]);
        assert_eq!(code, 125);
        assert!(err.contains("already in use"), "{err}");
    });
}

#[test]
fn exit_codes_follow_docker() {
    for_each_user(|w| {
        let bb = w.busybox();
        assert_eq!(run(&w, &["--rm", bb, "sh", "-c", "exit 3"]).0, 3);
        // pid 1 ignores SIGKILL from inside its namespace; a child shell does not.
        assert_eq!(
            run(&w, &["--rm", bb, "sh", "-c", "sh -c 'kill -9 $$'; exit $?"]).0,
            137
        );
        assert_eq!(
            run(&w, &["--rm", "--init", bb, "sh", "-c", "kill -9 $$"]).0,
            137
        );
        let (code, _, err) = run(&w, &["--rm", bb, "no-such-command"]);
        assert_eq!(code, 127, "{err}");
        assert!(err.contains("executable file not found"), "{err}");
        let (code, _, err) = run(&w, &["--rm", bb, "/etc/passwd"]);
        assert_eq!(code, 126, "{err}");
        assert!(err.contains("permission denied"), "{err}");
        let (code, _, err) = run(&w, &["--rm", "--bogus-flag", bb, "true"]);
        assert_eq!(code, 125, "{err}");
        let (code, _, err) = run(&w, &["--rm", "no-such-image:1", "true"]);
        assert_eq!(code, 125, "{err}");
        assert!(one_error(&err), "one clear error: {err}");
        assert!(
            container_dirs(&w).is_empty(),
            "failed --rm runs leave nothing"
        );
    });
}

/// Start `hutch run ARGS` with piped stdout; wait for the line `ready`.
fn start_ready(
    w: &World,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    start_ready_as(w.hutch(), args)
}

/// Like `start_ready`, with `hutch` as set up by the caller.
fn start_ready_as(
    mut hutch: std::process::Command,
    args: &[&str],
) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut child = hutch
        .arg("run")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, r)
}

fn wait_code(child: &mut std::process::Child) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "container did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signals_are_forwarded_to_the_container() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    for_each_user(|w| {
        let bb = w.busybox();
        // pid 1 with a handler gets hutch's SIGTERM.
        let script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done";
        let (mut child, _r) = start_ready(&w, &["--rm", bb, "sh", "-c", script]);
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        assert_eq!(wait_code(&mut child), 42);
        // With --init the init forwards it to a command without a handler.
        let (mut child, _r) = start_ready(
            &w,
            &[
                "--rm",
                "--init",
                bb,
                "sh",
                "-c",
                "echo ready; exec sleep 100",
            ],
        );
        kill(Pid::from_raw(child.id() as i32), Signal::SIGUSR1).unwrap();
        assert_eq!(wait_code(&mut child), 128 + 10);
        assert!(container_dirs(&w).is_empty());
    });
}

/// Run a shell command line under `script(1)`, which gives it a real pty.
fn under_pty(w: &World, cmdline: &str) -> String {
    let out = w
        .as_user("script")
        .args(["-qec", cmdline, "/dev/null"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

#[test]
fn tty_gives_a_terminal_inside_and_restores_ours() {
    for_each_user(|w| {
        let bb = w.busybox();
        let hutch = format!("{} --root {}", hutch_bin().display(), w.root().display());
        let out = under_pty(
            &w,
            &format!("{hutch} run --rm -t {bb} sh -c 'tty; ls -l $(tty) | wc -l; echo $TERM'"),
        );
        assert!(out.contains("/dev/pts/0\n1\nxterm\n"), "{out:?}");
        let out = under_pty(
            &w,
            &format!("stty rows 33 cols 77; {hutch} run --rm -t {bb} stty size"),
        );
        assert!(
            out.contains("33 77"),
            "window size reaches the container: {out:?}"
        );
        // Raw mode for -it, restored afterwards even when the command is killed.
        let out = under_pty(
            &w,
            &format!("stty -g; {hutch} run --rm --init -it {bb} sh -c 'kill -9 $$'; stty -g"),
        );
        // script(1) turns its stdin's end-of-file into a NUL, echoed as ^@.
        let modes: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(':'))
            .map(|l| l.trim_start_matches("^@"))
            .collect();
        assert_eq!(modes.len(), 2, "{out:?}");
        assert_eq!(modes[0], modes[1], "terminal modes restored");
        // Ctrl-C typed at our terminal reaches the container as SIGINT.
        let script = "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.05; done";
        let mut child = w
            .as_user("script")
            .args([
                "-qec",
                &format!("{hutch} run --rm -it {bb} sh -c \"{script}\""),
                "/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        crate::common::read_until(&mut out, "ready");
        use std::io::Write;
        child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
        let code = wait_code(&mut child);
        let mut rest = String::new();
        use std::io::Read;
        out.read_to_string(&mut rest).unwrap();
        assert!(rest.contains("got-int"), "{rest:?}");
        assert_eq!(code, 7);
        // Without -t there is no terminal inside.
        let (code, out, _) = run(&w, &["--rm", bb, "tty"]);
        assert_eq!((code, out.as_str()), (1, "not a tty\n"));
    });
}

#[test]
fn users_and_groups() {
    for_each_user(|w| {
        let bb = w.busybox();
        let subids = w.user.kind == Kind::SubIds;
        let (code, out, err) = run(&w, &["--rm", "-u", "1000:1000", bb, "id"]);
        if subids {
            assert_eq!(code, 0, "{err}");
            assert!(out.starts_with("uid=1000 gid=1000"), "{out}");
        } else {
            assert_eq!(code, 125);
            assert!(
                err.contains("not mapped") && err.contains("/etc/subuid"),
                "{err}"
            );
        }
        let (code, out, err) = run(
            &w,
            &["--rm", "-u", "nobody", bb, "sh", "-c", "id -u; echo $HOME"],
        );
        if subids {
            assert_eq!((code, out.as_str()), (0, "65534\n/home\n"), "{err}");
        } else {
            assert_eq!(code, 125, "{out}");
        }
        let (code, _, err) = run(&w, &["--rm", "-u", "nosuchuser", bb, "id"]);
        assert_eq!(code, 125);
        assert!(err.contains("unable to find user nosuchuser"), "{err}");
        assert_eq!(
            ok(&w, &["--rm", bb, "sh", "-c", "id -u; echo $HOME"]),
            "0\n/root\n"
        );
        // Docker's default capability set bounds root inside.
        let caps = ok(
            &w,
            &[
                "--rm",
                bb,
                "grep",
                "-E",
                "^Cap(Eff|Bnd)",
                "/proc/self/status",
            ],
        );
        assert_eq!(
            caps,
            "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"
        );
    });
}

#[test]
fn volumes_rw_ro_and_bad_specs() {
    for_each_user(|w| {
        let bb = w.busybox();
        let input = w.write("vol/in", "from host\n");
        let vol = input.parent().unwrap().to_str().unwrap().to_string();
        let out = ok(
            &w,
            &[
                "--rm",
                "-v",
                &format!("{vol}:/data"),
                bb,
                "sh",
                "-c",
                "cat /data/in; echo back > /data/out",
            ],
        );
        assert_eq!(out, "from host\n");
        assert_eq!(
            std::fs::read_to_string(format!("{vol}/out")).unwrap(),
            "back\n"
        );
        let (code, _, err) = run(
            &w,
            &[
                "--rm",
                "-v",
                &format!("{vol}:/data:ro"),
                bb,
                "sh",
                "-c",
                "echo x > /data/x",
            ],
        );
        assert_ne!(code, 0);
        assert!(err.contains("Read-only file system"), "{err}");
        assert!(!Path::new(&vol).join("x").exists());
        for (spec, why) in [
            // Docker 23+: a source that is neither absolute nor ./-relative
            // is a volume name.
            ("relative/dir:/data", "invalid characters"),
            ("/a:/b:ro:x", "expected"),
            (&format!("{vol}:data") as &str, "must be absolute"),
            (&format!("{vol}:/data:rx") as &str, "unknown option"),
        ] {
            let (code, _, err) = run(&w, &["--rm", "-v", spec, bb, "true"]);
            assert_eq!(code, 125, "{spec}");
            assert!(err.contains(why), "{spec}: {err}");
            assert!(one_error(&err), "{err}");
        }
    });
}

#[test]
fn read_only_tmpfs_workdir_env_and_entrypoint() {
    for_each_user(|w| {
        let bb = w.busybox();
        let (code, _, err) = run(&w, &["--rm", "--read-only", bb, "touch", "/x"]);
        assert_ne!(code, 0);
        assert!(err.contains("Read-only"), "{err}");
        assert_eq!(
            ok(
                &w,
                &[
                    "--rm",
                    "--read-only",
                    "--read-only-tmpfs",
                    bb,
                    "sh",
                    "-c",
                    "touch /tmp/x /run/x /var/tmp/x && echo ok"
                ]
            ),
            "ok\n"
        );
        let (code, _, _) = run(
            &w,
            &[
                "--rm",
                "--read-only",
                "--read-only-tmpfs=false",
                bb,
                "touch",
                "/tmp/x",
            ],
        );
        assert_ne!(code, 0);
        let out = ok(
            &w,
            &[
                "--rm",
                "--tmpfs",
                "/scratch:size=1m,mode=700",
                bb,
                "grep",
                " /scratch ",
                "/proc/mounts",
            ],
        );
        assert!(
            out.starts_with("tmpfs /scratch tmpfs")
                && out.contains("size=1024k")
                && out.contains("mode=700"),
            "{out}"
        );
        assert_eq!(
            ok(&w, &["--rm", "-w", "/some/new/dir", bb, "pwd"]),
            "/some/new/dir\n"
        );
        let envf = w.write(
            "env.list",
            "# comment\nC=from-file\n\nA=overridden-by-flag\n",
        );
        let out = w
            .hutch()
            .env("B", "from-host")
            .args([
                "run",
                "--rm",
                "--env-file",
                envf.to_str().unwrap(),
                "-e",
                "A=1",
                "-e",
                "B",
                bb,
            ])
            .args([
                "sh",
                "-c",
                "echo $A $B $C; echo $PATH; echo $HOSTNAME | wc -c",
            ])
            .output()
            .unwrap();
        assert_eq!(
            stdout(&out),
            "1 from-host from-file\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n13\n",
            "{}",
            stderr(&out)
        );
        assert_eq!(
            ok(&w, &["--rm", "--entrypoint", "echo", bb, "hello", "world"]),
            "hello world\n"
        );
        assert_eq!(
            ok(&w, &["--rm", "--entrypoint", "echo", bb]),
            "\n",
            "--entrypoint drops the image's Cmd"
        );
    });
}

/// Docker's `run` reference, where it differs from Podman: `--env-file`
/// values are kept verbatim, `--read-only` adds no tmpfs, and `-v` creates
/// a missing host directory.
#[test]
fn run_follows_docker_on_env_files_read_only_and_missing_sources() {
    for_each_user(|w| {
        let bb = w.busybox();
        let envf = w.write(
            "ws.env",
            "  LEAD=x\nPAD=  two words  \nEMPTY=\n# NOT=this\n\t\nFROM_HOST\nUNSET_ONE\n",
        );
        let out = w
            .hutch()
            .env("FROM_HOST", "host value")
            .args(["run", "--rm", "--env-file", envf.to_str().unwrap(), bb])
            .args([
                "sh",
                "-c",
                "echo \"[$LEAD][$PAD][$EMPTY][$FROM_HOST][${NOT-unset}][${UNSET_ONE-unset}]\"",
            ])
            .output()
            .unwrap();
        assert_eq!(
            stdout(&out),
            "[x][  two words  ][][host value][unset][unset]\n",
            "{}",
            stderr(&out)
        );
        let bad = w.write("bad.env", "NAME =x\n");
        let (code, _, err) = run(
            &w,
            &["--rm", "--env-file", bad.to_str().unwrap(), bb, "true"],
        );
        assert_eq!(code, 125);
        assert!(
            err.contains("'NAME '") && err.contains("whitespace"),
            "{err}"
        );

        // --read-only: no implicit tmpfs anywhere.
        let (code, _, err) = run(&w, &["--rm", "--read-only", bb, "touch", "/tmp/x"]);
        assert_ne!(code, 0, "/tmp must stay read-only");
        assert!(err.contains("Read-only"), "{err}");
        let script = "grep -c -E ' /(tmp|run|var/tmp) ' /proc/mounts || true";
        assert_eq!(
            ok(&w, &["--rm", "--read-only", bb, "sh", "-c", script]),
            "0\n"
        );

        // -v with a host path that does not exist: created as a directory.
        let made = w.path("made/deeper");
        assert!(!made.exists());
        let spec = format!("{}:/data", made.display());
        assert_eq!(
            ok(
                &w,
                &[
                    "--rm",
                    "-v",
                    &spec,
                    bb,
                    "sh",
                    "-c",
                    "echo in > /data/f && echo ok"
                ]
            ),
            "ok\n"
        );
        assert!(made.is_dir());
        assert_eq!(std::fs::read_to_string(made.join("f")).unwrap(), "in\n");
    });
}

#[test]
fn init_is_pid_1_and_passes_the_status_on() {
    for_each_user(|w| {
        let bb = w.busybox();
        let (code, out, err) = run(
            &w,
            &[
                "--rm",
                "--init",
                bb,
                "sh",
                "-c",
                "cat /proc/1/comm; echo $$; exit 5",
            ],
        );
        assert_eq!((code, out.as_str()), (5, "hutch-init\n2\n"), "{err}");
    });
}

#[test]
fn keep_id_runs_as_the_caller() {
    for_each_user(|w| {
        let bb = w.busybox();
        let f = w.write("kid/mine", "x");
        let dir = f.parent().unwrap().to_str().unwrap().to_string();
        let out = ok(
            &w,
            &[
                "--rm",
                "--userns=keep-id",
                "-v",
                &format!("{dir}:/data"),
                bb,
                "sh",
                "-c",
                "id -u; id -g; stat -c %u /data/mine; touch /data/new",
            ],
        );
        let want = format!("{}\n{}\n{}\n", w.user.uid, w.user.gid, w.user.uid);
        assert_eq!(out, want);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(
            std::fs::metadata(format!("{dir}/new")).unwrap().uid(),
            w.user.uid
        );
        // Image files owned by root: root maps to a subordinate id; with a
        // single id the unpack for this mapping belongs to the caller.
        let owner = if w.user.kind == Kind::SubIds {
            "0".to_string()
        } else {
            w.user.uid.to_string()
        };
        let out = ok(
            &w,
            &[
                "--rm",
                "--userns=keep-id",
                bb,
                "stat",
                "-c",
                "%u",
                "/bin/busybox",
            ],
        );
        assert_eq!(out.trim(), owner);
    });
}

#[test]
fn network_none_and_host() {
    for_each_user(|w| {
        let bb = w.busybox();
        let none = |args: &[&str]| {
            let mut v = vec!["--rm", "--network", "none", bb];
            v.extend(args);
            ok(&w, &v)
        };
        assert_eq!(none(&["ls", "/sys/class/net"]), "lo\n");
        assert_eq!(none(&["cat", "/sys/class/net/lo/operstate"]), "unknown\n");
        let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        host.sort();
        let inside = ok(
            &w,
            &["--rm", "--network", "host", bb, "ls", "/sys/class/net"],
        );
        assert_eq!(inside.split_whitespace().collect::<Vec<_>>(), host);
        assert!(none(&["cat", "/etc/resolv.conf"]).contains("--network none"));
        // Docker's `bridge` is the default network: more than lo.
        let bridge = ok(
            &w,
            &["--rm", "--network", "bridge", bb, "ls", "/sys/class/net"],
        );
        assert!(bridge.lines().any(|l| l != "lo"), "{bridge}");
        let (code, _, err) = run(&w, &["--rm", "--network", "nonet", bb, "true"]);
        assert_eq!(code, 125);
        assert!(
            err.contains("use none, host, container:NAME, pasta"),
            "{err}"
        );
    });
}

#[test]
fn network_container_joins_a_running_container() {
    for_each_user(|w| {
        let bb = w.busybox();
        let serve = "mkdir /w && echo hi > /w/index.html && exec httpd -f -p 127.0.0.1:8080 -h /w";
        w.ok(&[
            "run",
            "-d",
            "--name",
            "srv",
            "--hostname",
            "srvhost",
            "--network",
            "none",
            bb,
            "sh",
            "-c",
            serve,
        ]);
        // Loopback only: the answer can come only from inside srv's namespace.
        let fetch = "for i in $(seq 50); do wget -qO- http://127.0.0.1:8080/ && exit; \
                     sleep 0.1; done; exit 1";
        let got = ok(
            &w,
            &["--rm", "--network", "container:srv", bb, "sh", "-c", fetch],
        );
        assert_eq!(got, "hi\n");
        // With --init too: its pid 1 never execs, and stays reachable for
        // exec (it was left non-dumpable by the go-between).
        w.ok(&[
            "run",
            "-d",
            "--init",
            "--name",
            "ini",
            "--network",
            "container:srv",
            bb,
            "sleep",
            "30",
        ]);
        assert_eq!(w.ok(&["exec", "ini", "echo", "in"]), "in\n");
        w.ok(&["rm", "-f", "ini"]);
        let hosts = ok(
            &w,
            &[
                "--rm",
                "--network",
                "container:srv",
                bb,
                "cat",
                "/etc/hosts",
            ],
        );
        assert!(hosts.contains("127.0.1.1\tsrvhost\n"), "{hosts}");
        w.ok(&["stop", "-t", "1", "srv"]);
        for (target, why) in [("srv", "is not running"), ("nosuch", "nosuch")] {
            let net = format!("container:{target}");
            let (code, _, err) = run(&w, &["--rm", "--network", &net, bb, "true"]);
            assert_eq!(code, 125, "{err}");
            assert!(err.contains(why) && one_error(&err), "{err}");
        }
        w.ok(&["rm", "srv"]);
    });
}

#[test]
fn info_reports_mode_and_storage() {
    for_each_user(|w| {
        let text = w.ok(&["info"]);
        let mode = if w.user.kind == Kind::SubIds {
            "mode: subids"
        } else {
            "mode: single"
        };
        assert!(text.contains(mode), "{text}");
        assert!(text.contains("user namespaces: available"), "{text}");
        assert!(text.contains("storage: native overlayfs"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&w.ok(&["info", "--format", "json"])).unwrap();
        // HUTCH_TEST_STORAGE_DRIVER picks the driver for the whole suite.
        let driver = w.driver.as_deref().unwrap_or("overlay");
        assert_eq!(json["storage"]["driver"], driver);
        assert_eq!(json["userns"]["available"], true);
        // pasta when installed (Podman 5's default), else slirp4netns.
        let helper = ["pasta", "slirp4netns"]
            .into_iter()
            .find(|h| hutch::net::choose::SearchPath::from_env().find(h).is_some())
            .unwrap_or("unavailable");
        assert_eq!(json["network_default"], helper);
        assert!(
            text.contains(&format!("default network: {helper}")),
            "{text}"
        );
    });
}

#[test]
fn stdin_is_open_only_with_interactive() {
    use std::io::Write;
    for_each_user(|w| {
        let bb = w.busybox();
        let feed = |args: &[&str]| {
            let mut child = w
                .hutch()
                .arg("run")
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            // Without -i hutch may be gone before this write: ignore EPIPE.
            let _ = child.stdin.take().unwrap().write_all(b"piped in\n");
            let out = child.wait_with_output().unwrap();
            (out.status.code(), stdout(&out))
        };
        assert_eq!(
            feed(&["--rm", "-i", bb, "cat"]),
            (Some(0), "piped in\n".into())
        );
        assert_eq!(feed(&["--rm", bb, "cat"]), (Some(0), String::new()));
    });
}

/// On native overlay a container's root filesystem is mounted over its
/// directory (inside its own mount namespace): no `rootfs/` of its own,
/// and no lock file (the directory is the lock). The FUSE driver and a
/// container with a `-v ...:O` overlay (whose dirs are in the directory)
/// keep their mount point. `cp` into a created container still works, and
/// what runs sees the image's root, not the directory's entries.
#[test]
fn native_overlay_mounts_the_root_over_the_container_dir() {
    for_each_user_and_driver(&["overlay", "fuse"], |w| {
        let bb = w.busybox();
        w.write("vol/inside", "v\n");
        let vol = format!("{}:/v:O", w.path("vol").display());
        w.ok(&["create", "--name", "plain", bb, "cat", "/note"]);
        w.ok(&[
            "create",
            "--name",
            "withvol",
            "-v",
            &vol,
            bb,
            "cat",
            "/v/inside",
        ]);
        let dirs = container_dirs(&w);
        assert_eq!(dirs.len(), 2, "{dirs:?}");
        for dir in &dirs {
            let rec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("container.json")).unwrap())
                    .unwrap();
            let native = rec["config"]["storage_driver"] == "overlay";
            let own = !native || rec["name"] == "withvol";
            assert_eq!(dir.join("rootfs").exists(), own, "{rec}");
            assert!(!dir.join("lock").exists(), "{}", dir.display());
        }
        let note = w.write("note", "kept\n");
        w.ok(&["cp", note.to_str().unwrap(), "plain:/note"]);
        for dir in &dirs {
            let rec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("container.json")).unwrap())
                    .unwrap();
            let native = rec["config"]["storage_driver"] == "overlay";
            assert_eq!(
                dir.join("rootfs").exists(),
                !native || rec["name"] == "withvol"
            );
        }
        assert_eq!(w.ok(&["start", "-a", "plain"]), "kept\n");
        // Created with its layer in memory, started later with it on disk:
        // over the directory too.
        let made = w
            .hutch()
            .env("HUTCH_RM_LAYER", "memory")
            .args(["create", "--rm", "--name", "mem", bb, "cat", "/note"])
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let mem = container_dirs(&w)
            .into_iter()
            .find(|d| !dirs.contains(d))
            .unwrap();
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(mem.join("container.json")).unwrap()).unwrap();
        let native = rec["config"]["storage_driver"] == "overlay";
        assert_eq!(mem.join("rootfs").exists(), !native, "{rec}");
        w.ok(&["cp", note.to_str().unwrap(), "mem:/note"]);
        assert_eq!(w.ok(&["start", "-a", "mem"]), "kept\n");
        assert_eq!(w.ok(&["start", "-a", "withvol"]), "v\n");
        let root = ok(&w, &["--rm", bb, "ls", "/"]);
        assert!(root.lines().any(|l| l == "bin"), "{root}");
        assert!(
            !root
                .lines()
                .any(|l| ["upper", "work", "container.json"].contains(&l)),
            "{root}"
        );
        assert_eq!(ok(&w, &["--rm", "-v", &vol, bb, "cat", "/v/inside"]), "v\n");
        w.ok(&["rm", "plain", "withvol"]);
        assert!(container_dirs(&w).is_empty());
    });
}

/// As Docker: no option is read after the image (run, create) or the
/// container (exec); everything after it is the command, `--` included.
#[test]
fn words_after_the_image_or_container_are_the_command() {
    for_each_user(|w| {
        let bb = w.busybox();
        let out = ok(
            &w,
            &[
                "--rm",
                "--network",
                "none",
                bb,
                "echo",
                "--rm",
                "--help",
                "--",
                "-d",
            ],
        );
        assert_eq!(out, "--rm --help -- -d\n");
        let (code, out, err) = run(&w, &["--rm", "--network", "none", bb, "--help"]);
        assert_eq!(
            code, 127,
            "the command --help is not in the image\n{out}{err}"
        );
        assert!(
            !out.contains("Usage") && err.contains("--help"),
            "{out}{err}"
        );
        ok(
            &w,
            &["-d", "--name", "c", "--network", "none", bb, "sleep", "60"],
        );
        let out = w.ok(&["exec", "c", "echo", "-d", "--verbose"]);
        assert_eq!(out, "-d --verbose\n");
        // The first word after the container is the command too, even one
        // that looks like hutch's flag.
        let out = w.run(&["exec", "c", "--help"]);
        let (out, err) = (stdout(&out), stderr(&out));
        assert!(
            !out.contains("Usage") && err.contains("--help"),
            "{out}{err}"
        );
        // A `--` there is the command's, not clap's end of options.
        let out = w.run(&["exec", "c", "--", "echo", "x"]);
        assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
        assert!(!stdout(&out).contains('x'), "{}", stdout(&out));
        w.ok(&["rm", "-f", "c"]);
    });
}

/// A container's files get Docker's modes whoever starts it: a caller's
/// umask of 077 closes neither the container's `/` (on the copy driver, a
/// layer's root without a `./` entry), its /etc/hosts and the like, a new
/// volume nor an image's `/etc` that came from no layer to its other
/// users, and does not reach what its processes make, in `run`, `exec` and
/// a build's RUN (the same Dockerfile built by two users gives one image).
#[test]
fn the_callers_umask_does_not_reach_the_container() {
    for_each_user(|w| {
        let bb = w.busybox();
        let umasked = |args: &[&str]| crate::common::ok_with_umask(&w, "077", args);
        let run = |args: &[&str]| {
            let mut all = vec!["run", "--rm", "--network", "none"];
            all.extend_from_slice(args);
            umasked(&all)
        };
        let script = "umask; stat -c %a /; mkdir /d; touch /d/f; stat -c %a /d /d/f";
        assert_eq!(run(&[bb, "sh", "-c", script]), "0022\n755\n755\n644\n");
        // Under 002 (user private groups' default) the upper dir is made
        // 0755 in one mkdir, with no group write.
        let root_mode = [
            "run",
            "--rm",
            "--network",
            "none",
            bb,
            "stat",
            "-c",
            "%a",
            "/",
        ];
        assert_eq!(crate::common::ok_with_umask(&w, "002", &root_mode), "755\n");
        // `hutch exec` takes the same umask as pid 1.
        umasked(&[
            "run",
            "-d",
            "--name",
            "umd",
            "--network",
            "none",
            bb,
            "sleep",
            "60",
        ]);
        assert_eq!(umasked(&["exec", "umd", "sh", "-c", "umask"]), "0022\n");
        w.ok(&["rm", "-f", "umd"]);
        let build = |tag: &str, dockerfile: &str| {
            let file = w.write(&format!("{tag}-ctx/Dockerfile"), dockerfile);
            umasked(&[
                "build",
                "-q",
                "-t",
                tag,
                file.parent().unwrap().to_str().unwrap(),
            ]);
        };
        build(
            "umasked",
            "FROM busybox:1.38.0-musl\nRUN mkdir /app && touch /app/f\n",
        );
        assert_eq!(
            w.ok(&[
                "run",
                "--rm",
                "--network",
                "none",
                "umasked",
                "stat",
                "-c",
                "%a",
                "/app",
                "/app/f"
            ]),
            "755\n644\n"
        );
        // A layer without a `./` entry, whose root the copy driver's `/` is.
        w.ok(&["create", "--name", "umsrc", bb]);
        let full = w.path("umsrc.tar");
        w.ok(&["export", "-o", full.to_str().unwrap(), "umsrc"]);
        let mut tar = tar::Builder::new(Vec::new());
        let mut archive = tar::Archive::new(std::fs::File::open(&full).unwrap());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().into_owned();
            if path
                .components()
                .next()
                .is_some_and(|c| c.as_os_str() != ".")
            {
                let header = entry.header().clone();
                tar.append(&header, &mut entry).unwrap();
            }
        }
        let rootless = w.write("rootless.tar", tar.into_inner().unwrap());
        umasked(&["import", rootless.to_str().unwrap(), "rootless"]);
        let copy = [
            "--storage-driver",
            "copy",
            "rootless",
            "stat",
            "-c",
            "%a",
            "/",
        ];
        assert_eq!(run(&copy), "755\n");
        if w.user.kind != Kind::SubIds {
            return;
        }
        let script =
            "cat /etc/hosts /etc/hostname /etc/resolv.conf >/dev/null && stat -c %a /data && ls /";
        let text = run(&["-u", "1000", "-v", "umvol:/data", bb, "sh", "-c", script]);
        assert!(
            text.starts_with("755\n") && text.contains("etc\n"),
            "{text}"
        );
        w.ok(&["volume", "rm", "umvol"]);
        // No /etc in the image: the skeleton layer's shows.
        build(
            "umscratch",
            "FROM scratch\nCOPY --from=busybox:1.38.0-musl /bin/busybox /busybox\n",
        );
        let text = run(&[
            "-u",
            "1000",
            "umscratch",
            "/busybox",
            "cat",
            "/etc/hostname",
        ]);
        assert!(!text.is_empty(), "{text}");
    });
}
