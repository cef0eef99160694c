//! Integration tests for the container lifecycle: persistent containers,
//! `run -d` under a supervisor, logs, exec, stop/kill/wait, rm, rename,
//! start, top and prune — real namespaces, as both test users.

use crate::common::{
    eventually, for_each_user, for_each_user_and_driver, hutch_bin, live, one_error, stderr,
    stdout, Kind, World,
};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `hutch run -d ARGS`; the printed id.
pub(crate) fn detach(w: &World, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    let id = w.ok(&all).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full id: {id:?}");
    id
}

/// The lines of `hutch ps -a` whose NAMES column is `name`.
pub(crate) fn ps_line(w: &World, name: &str) -> String {
    w.ok(&["ps", "-a"])
        .lines()
        .find(|l| l.split_whitespace().last() == Some(name))
        .unwrap_or("")
        .to_string()
}

/// The container's record, as JSON.
pub(crate) fn record(w: &World, id: &str) -> serde_json::Value {
    let p = w.root().join("containers").join(id).join("container.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn detached_container_logs_exec_stop_and_rm() {
    for_each_user(|w| {
        let bb = w.busybox();
        let script = "trap 'echo got-term; exit 0' TERM; echo data > /state; echo ready; \
                      while :; do sleep 0.05; done";
        let t0 = Instant::now();
        detach(
            &w,
            &[
                "--name",
                "web",
                "--hostname",
                "boxy",
                bb,
                "sh",
                "-c",
                script,
            ],
        );
        assert!(t0.elapsed() < Duration::from_secs(10));
        assert!(
            eventually(10, || w.ok(&["logs", "web"]).contains("ready")),
            "output reaches the log"
        );
        assert!(ps_line(&w, "web").contains("Up "), "{}", w.ok(&["ps"]));
        assert!(
            w.ok(&["ps"]).contains("web"),
            "running ones show without -a"
        );

        // exec: same filesystem changes, hostname, pid namespace, env.
        assert_eq!(w.ok(&["exec", "web", "cat", "/state"]), "data\n");
        assert_eq!(w.ok(&["exec", "web", "hostname"]), "boxy\n");
        let pid1 = w.ok(&["exec", "web", "cat", "/proc/1/cmdline"]);
        assert!(
            pid1.contains("trap"),
            "exec sees the container's pid 1: {pid1:?}"
        );
        let out = w.ok(&[
            "exec",
            "-e",
            "X=1",
            "-w",
            "/tmp",
            "web",
            "sh",
            "-c",
            "echo $X $(pwd) $$",
        ]);
        let f: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(&f[..2], ["1", "/tmp"]);
        assert_ne!(f[2], "1", "exec'd shell is not pid 1");
        // No more privilege than pid 1: same capabilities, no_new_privs.
        let privs = |pid: &str| {
            w.ok(&[
                "exec",
                "web",
                "grep",
                "-E",
                "^(NoNewPrivs|CapEff|CapBnd|CapPrm)",
                &format!("/proc/{pid}/status"),
            ])
        };
        let mine = privs("self");
        assert!(mine.contains("NoNewPrivs:\t1"), "{mine}");
        assert_eq!(mine, privs("1"));
        let (code, _) = w.fails(&["exec", "web", "sh", "-c", "exit 7"]);
        assert_eq!(code, 7, "exec returns the command's exit code");

        // top lists pid 1 with its container pid.
        let top = w.ok(&["top", "web"]);
        assert!(
            top.lines()
                .any(|l| l.split_whitespace().nth(1) == Some("1") && l.contains("trap")),
            "{top}"
        );

        if w.user.kind == Kind::SubIds {
            // A directory only a subordinate id may enter: the host user
            // cannot delete it without the container's user namespace.
            w.ok(&[
                "exec",
                "web",
                "sh",
                "-c",
                "mkdir /sub && touch /sub/f && chown -R 1000:1000 /sub && chmod 700 /sub",
            ]);
        }

        // rm refuses a running container.
        let (code, err) = w.fails(&["rm", "web"]);
        assert_ne!(code, 0);
        assert!(err.contains("is running") && err.contains("-f"), "{err}");

        // logs -f follows until the container ends.
        let follower = w
            .hutch()
            .args(["logs", "-f", "web"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let t = Instant::now();
        assert_eq!(w.ok(&["stop", "web"]), "web\n");
        assert!(t.elapsed() < Duration::from_secs(8), "SIGTERM was enough");
        let out = follower.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("ready\n") && text.ends_with("got-term\n"),
            "{text:?}"
        );
        assert_eq!(w.ok(&["wait", "web"]), "0\n");
        assert!(ps_line(&w, "web").contains("Exited (0)"));
        assert!(!w.ok(&["ps"]).contains("web"));

        assert_eq!(w.ok(&["rm", "web"]), "web\n");
        assert_eq!(w.ok(&["ps", "-a", "-q"]), "");
        assert!(
            std::fs::read_dir(w.root().join("containers"))
                .unwrap()
                .filter_map(|e| e.ok())
                .all(|e| !e.path().join("upper").exists()),
            "rm removed the upper dir, subordinate-owned files included"
        );
    });
}

/// Container directories (64 hex digits, or one being removed) left in the
/// state dir.
fn container_dirs(w: &World) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(w.root().join("containers")) else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() == 64 || n.starts_with(".removing-"))
        .collect()
}

/// The directories of two containers for `system check` to find: "lost"
/// ran and wrote files (owned by a subordinate id where the user has
/// them), "busy" was only created (with `--rm`).
fn lost_and_busy(w: &World) -> (PathBuf, PathBuf) {
    let bb = w.busybox();
    w.ok(&[
        "run",
        "--name",
        "lost",
        bb,
        "sh",
        "-c",
        "mkdir /made && echo x > /made/f && (chown -R 1000:1000 /made 2>/dev/null || true)",
    ]);
    w.ok(&["create", "--rm", "--name", "busy", bb, "true"]);
    let dirs = container_dirs(w);
    assert_eq!(dirs.len(), 2, "{dirs:?}");
    let dir = |name: &str| {
        let id = dirs.iter().find(|id| record(w, id)["name"] == name);
        w.root().join("containers").join(id.unwrap())
    };
    (dir("lost"), dir("busy"))
}

/// `system check` reports `lost` and not `busy` while a process holds
/// busy's lock, `--repair` removes `lost` only, and once the lock is
/// let go `busy` too.
fn check_repairs_lost_but_not_busy(w: &World, lost: &Path, busy: &Path) {
    let held = hutch::sys::flock::lock_existing(busy, hutch::sys::flock::Mode::Shared)
        .unwrap()
        .unwrap();
    let out = w.run(&["system", "check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&lost.display().to_string()), "{text}");
    assert!(!text.contains(&busy.display().to_string()), "{text}");
    assert!(lost.is_dir(), "check without --repair deleted it");
    let text = w.ok(&["system", "check", "--repair"]);
    assert!(text.contains("removed"), "{text}");
    assert!(!lost.exists() && busy.is_dir());
    drop(held);
    let text = w.ok(&["system", "check", "--repair"]);
    assert!(text.contains(&busy.display().to_string()), "{text}");
    assert!(container_dirs(w).is_empty(), "{:?}", container_dirs(w));
    w.ok(&["system", "check"]);
}

/// A live removal, by `rm` or by a `--rm` container once it ends, holds the
/// container's lock until its deletion ends, so `system check` run
/// meanwhile does not take the `.removing-` directory for an interrupted
/// removal (nor would `--repair` delete it under the remover).
#[test]
fn system_check_leaves_a_removal_under_way_alone() {
    for_each_user(|w| {
        let bb = w.busybox();
        let fill = "mkdir /m && cd /m && seq 1 10000 | xargs touch";
        w.ok(&["run", "--name", "big", bb, "sh", "-c", fill]);
        let containers = w.root().join("containers");
        let removing = || {
            std::fs::read_dir(&containers)
                .unwrap()
                .filter_map(|e| e.unwrap().file_name().into_string().ok())
                .find_map(|n| n.strip_prefix(".removing-").map(str::to_string))
        };
        for args in [&["rm", "big"][..], &["run", "--rm", bb, "sh", "-c", fill]] {
            let mut remover = w.hutch().args(args).spawn().unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut seen = None;
            while seen.is_none()
                && remover.try_wait().unwrap().is_none()
                && Instant::now() < deadline
            {
                seen = removing();
                std::thread::sleep(Duration::from_millis(1));
            }
            // Deleting 10,000 files takes far longer than the poll above.
            let id = seen.unwrap_or_else(|| panic!("{args:?}: no rename seen before it ended"));
            let out = w.run(&["system", "check"]);
            if containers.join(format!(".removing-{id}")).exists() {
                assert!(!stdout(&out).contains(&id), "{args:?}: {}", stdout(&out));
            }
            assert!(remover.wait().unwrap().success(), "{args:?}");
            assert_eq!(removing(), None, "{args:?}");
        }
    });
}

/// A power loss can leave a container's directory with an empty or torn
/// record and none durable beside it (a `--rm` container's record is
/// never synced). Listings skip it; `system check` reports it and
/// `--repair` removes it, upper dir and all, unless a hutch process holds
/// its lock.
#[test]
fn system_check_repairs_a_container_dir_without_a_readable_record() {
    for_each_user(|w| {
        let (lost, busy) = lost_and_busy(&w);
        std::fs::write(lost.join("container.json"), "").unwrap();
        std::fs::write(busy.join("container.json"), "{\"id\": \"").unwrap();
        assert!(!w.ok(&["ps", "-a"]).contains("lost"));
        check_repairs_lost_but_not_busy(&w, &lost, &busy);
    });
}

/// `rm` renames a container's directory to `.removing-<id>` and then
/// deletes it; killed in between, it leaves that directory, which no
/// listing shows. `system check` reports it and `--repair` deletes it,
/// files of subordinate ids and all, unless a process holds its lock (a
/// live `rm` holds it until the deletion ends). What is not a directory
/// there is passed over without being opened.
#[test]
fn system_check_finishes_a_removal_that_was_interrupted() {
    for_each_user(|w| {
        let (lost, busy) = lost_and_busy(&w);
        if w.user.kind == Kind::SubIds {
            let owner = std::fs::metadata(lost.join(w.writable_layer()).join("made/f"))
                .unwrap()
                .uid();
            assert_ne!(owner, w.user.uid, "the file is not a subordinate id's");
        }
        let doomed = |dir: &Path| {
            let id = dir.file_name().unwrap().to_str().unwrap();
            let killed = w
                .hutch()
                .env("HUTCH_CRASH_AT", "rm-renamed")
                .args(["rm", "-f", id])
                .output()
                .unwrap();
            assert!(!killed.status.success(), "{}", stderr(&killed));
            dir.with_file_name(format!(".removing-{id}"))
        };
        let (lost, busy) = (doomed(&lost), doomed(&busy));
        assert!(lost.is_dir() && busy.is_dir());
        assert_eq!(w.ok(&["ps", "-aq"]), "");
        // A FIFO and a link under such names: neither opened (a FIFO's
        // open would block the check), neither reported.
        let containers = w.root().join("containers");
        let fifo = containers.join(format!(".removing-{}", "f".repeat(64)));
        let link = containers.join(format!(".removing-{}", "e".repeat(64)));
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::os::unix::fs::symlink(&busy, &link).unwrap();
        let out = w
            .as_user("timeout")
            .arg("20")
            .arg(hutch_bin())
            .arg("--root")
            .arg(w.root())
            .args(["system", "check"])
            .output()
            .unwrap();
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(
            !text.contains(&"f".repeat(64)) && !text.contains(&"e".repeat(64)),
            "{text}"
        );
        std::fs::remove_file(&fifo).unwrap();
        std::fs::remove_file(&link).unwrap();
        check_repairs_lost_but_not_busy(&w, &lost, &busy);
    });
}

/// A `--rm` container's own removal renames its directory away first, as
/// `rm` does: killed halfway, it leaves a `.removing-` directory that
/// `system check` reports and `--repair` deletes, not a directory without
/// a record that no command shows.
#[test]
fn system_check_finishes_an_auto_removal_that_was_interrupted() {
    for_each_user(|w| {
        let out = w
            .hutch()
            .env("HUTCH_CRASH_AT", "rm-renamed")
            .args(["run", "--rm", w.busybox(), "sh", "-c"])
            .arg(
                "mkdir /made && echo x > /made/f && (chown -R 1000:1000 /made 2>/dev/null || true)",
            )
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", stderr(&out));
        let containers = w.root().join("containers");
        let doomed: Vec<PathBuf> = std::fs::read_dir(&containers)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(".removing-")
            })
            .collect();
        assert_eq!(doomed.len(), 1, "{doomed:?}");
        let doomed = &doomed[0];
        let made = doomed.join(w.writable_layer()).join("made/f");
        assert!(
            made.is_file(),
            "{} is gone: the deletion began before the crash point",
            made.display()
        );
        if w.user.kind == Kind::SubIds {
            assert_ne!(std::fs::metadata(&made).unwrap().uid(), w.user.uid);
        }
        assert_eq!(w.ok(&["ps", "-aq"]), "");
        let out = w.run(&["system", "check"]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains(&doomed.display().to_string()), "{text}");
        let text = w.ok(&["system", "check", "--repair"]);
        assert!(text.contains("removed"), "{text}");
        assert!(!doomed.exists());
        w.ok(&["system", "check"]);
    });
}

#[test]
fn stop_rm_f_and_kill_of_a_rm_d_container_exit_0_and_leave_nothing() {
    for_each_user(|w| {
        let bb = w.busybox();
        // sleep as pid 1 ignores SIGTERM: stop gets to SIGKILL.
        for verb in [&["stop", "-t", "1"][..], &["rm", "-f"]] {
            detach(&w, &["--rm", "--name", "h4", bb, "sleep", "100"]);
            let mut args = verb.to_vec();
            args.push("h4");
            let out = w.run(&args);
            assert!(
                out.status.success(),
                "{verb:?}: {:?} {}",
                out.status.code(),
                stderr(&out)
            );
            assert_eq!(stdout(&out), "h4\n");
            assert_eq!(container_dirs(&w), Vec::<String>::new(), "{verb:?}");
            assert_eq!(w.ok(&["ps", "-a", "-q"]), "");
        }
        detach(&w, &["--rm", "--name", "h5", bb, "sleep", "100"]);
        assert_eq!(w.ok(&["kill", "h5"]), "h5\n");
        assert!(
            eventually(10, || container_dirs(&w).is_empty()),
            "{:?}",
            container_dirs(&w)
        );
        // The container removed itself; stop and rm -f of what is gone fail.
        let (_, err) = w.fails(&["stop", "h5"]);
        assert!(err.contains("no such container"), "{err}");
    });
}

#[test]
fn rm_f_right_after_a_short_run_d_always_removes_it() {
    for_each_user(|w| {
        let bb = w.busybox();
        // pid 1 exits at once: rm -f meets it starting, running, stopping or
        // exited; every one of those must end in its removal.
        for i in 0..15 {
            let name = format!("q{i}");
            detach(&w, &["--name", &name, bb, "true"]);
            let out = w.run(&["rm", "-f", &name]);
            assert!(
                out.status.success(),
                "round {i}: {:?} {}",
                out.status.code(),
                stderr(&out)
            );
            assert_eq!(stdout(&out), format!("{name}\n"));
            assert_eq!(container_dirs(&w), Vec::<String>::new(), "round {i}");
        }
        // And with --rm, where the container also removes itself.
        for i in 0..5 {
            let name = format!("r{i}");
            detach(&w, &["--rm", "--name", &name, bb, "true"]);
            let out = w.run(&["rm", "-f", &name]);
            // Docker: it succeeds, whether it meets the container running,
            // removing itself, or gone.
            assert!(out.status.success(), "round {i}: {}", stderr(&out));
            assert!(
                eventually(10, || container_dirs(&w).is_empty()),
                "round {i}"
            );
        }
    });
}

#[test]
fn foreground_containers_keep_a_log() {
    for_each_user(|w| {
        let bb = w.busybox();
        let out = w.run(&[
            "run",
            "--name",
            "fg",
            bb,
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(stdout(&out), "out\n", "still relayed");
        assert_eq!(stderr(&out), "err\n", "still relayed");
        let logs = w.hutch().args(["logs", "fg"]).output().unwrap();
        assert!(logs.status.success(), "{}", stderr(&logs));
        assert_eq!(
            (stdout(&logs).as_str(), stderr(&logs).as_str()),
            ("out\n", "err\n")
        );
        // start -a appends to it.
        w.run(&["start", "-a", "fg"]);
        assert_eq!(w.ok(&["logs", "fg"]), "out\nout\n");

        // With a terminal: the relay works and the log has the output.
        let hutch = format!("{} --root {}", hutch_bin().display(), w.root().display());
        let out = w
            .as_user("script")
            .args([
                "-qec",
                &format!("{hutch} run -t --name tt {bb} sh -c 'tty; echo shown'"),
                "/dev/null",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert!(
            text.contains("/dev/pts/") && text.contains("shown"),
            "{text:?}"
        );
        assert!(w.ok(&["logs", "tt"]).contains("shown"));

        // A reader that goes away still ends the container, as without a log.
        let mut child = w
            .hutch()
            .args(["run", "--name", "yes", bb, "yes"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        {
            use std::io::BufRead;
            let mut r = std::io::BufReader::new(child.stdout.take().unwrap());
            r.read_line(&mut first).unwrap();
        }
        assert_eq!(first, "y\n");
        let t = Instant::now();
        while child.try_wait().unwrap().is_none() {
            assert!(t.elapsed() < Duration::from_secs(10), "yes kept running");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(w.ok(&["logs", "yes"]).starts_with("y\ny\n"));
    });
}

#[test]
fn stop_kills_what_ignores_sigterm_after_the_timeout() {
    for_each_user(|w| {
        let bb = w.busybox();
        let script = "trap '' TERM; echo ready; while :; do sleep 0.05; done";
        detach(&w, &["--name", "stubborn", bb, "sh", "-c", script]);
        assert!(eventually(10, || w
            .ok(&["logs", "stubborn"])
            .contains("ready")));
        let t = Instant::now();
        w.ok(&["stop", "-t", "1", "stubborn"]);
        let took = t.elapsed();
        assert!(
            took >= Duration::from_secs(1),
            "waited for the timeout: {took:?}"
        );
        assert!(took < Duration::from_secs(8), "{took:?}");
        assert_eq!(w.ok(&["wait", "stubborn"]), "137\n");
        // kill on a stopped container is an error, rm -f of a running one works.
        let (_, err) = w.fails(&["kill", "stubborn"]);
        assert!(err.contains("not running"), "{err}");
        detach(&w, &["--name", "doomed", bb, "sleep", "1000"]);
        assert_eq!(
            w.ok(&["rm", "-f", "doomed", "stubborn"]),
            "doomed\nstubborn\n"
        );
        assert_eq!(w.ok(&["ps", "-a", "-q"]), "");
    });
}

#[test]
fn start_reruns_over_the_same_upper_dir() {
    for_each_user_and_driver(&["overlay", "fuse", "copy"], |w| {
        let bb = w.busybox();
        let script = "cat /count 2>/dev/null; echo x >> /count";
        assert_eq!(w.ok(&["run", "--name", "p", bb, "sh", "-c", script]), "");
        assert!(ps_line(&w, "p").contains("Exited (0)"));
        assert_eq!(w.ok(&["start", "-a", "p"]), "x\n");
        assert_eq!(w.ok(&["start", "-a", "p"]), "x\nx\n");
        // Detached start, several at once: output in the log, wait for the code.
        w.run(&["run", "--name", "q", bb, "sh", "-c", "exit 4"]);
        assert_eq!(w.ok(&["start", "p", "q"]), "p\nq\n");
        assert_eq!(w.ok(&["wait", "p", "q"]), "0\n4\n");
        // A start's unsynced claim keeps the durable record beside it only
        // until pid 1's record is synced (looked at while pid 1 runs: its
        // exit rewrites the record synced, which would hide a missing sync).
        let id = w.ok(&["run", "-d", "--name", "s", bb, "sleep", "30"]);
        let dir = w.root().join("containers").join(id.trim());
        let durable = dir.join("container.json.prev");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while durable.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(dir.join("container.json").exists());
        assert!(!durable.exists(), "the synced record left its .prev");
        w.ok(&["rm", "-f", "s"]);
        // Every start's output: the attached ones' too.
        assert_eq!(w.ok(&["logs", "p"]), "x\nx\nx\nx\nx\nx\n");
        let (_, err) = w.fails(&["start", "-a", "p", "q"]);
        assert!(err.contains("one container"), "{err}");
        // A running container is not started twice; as in Docker, that is
        // no error.
        w.ok(&["run", "-d", "--name", "busy", bb, "sleep", "1000"]);
        let pid = || w.ok(&["inspect", "-f", "{{.State.Pid}}", "busy"]);
        let before = pid();
        assert_eq!(w.ok(&["start", "busy"]), "busy\n");
        assert_eq!(pid(), before);
        w.ok(&["kill", "busy"]);
        assert_eq!(w.ok(&["wait", "busy"]), "137\n");
    });
}

#[test]
fn wait_prints_exit_codes_in_order() {
    for_each_user(|w| {
        let bb = w.busybox();
        let a = detach(&w, &[bb, "sh", "-c", "sleep 0.3; exit 3"]);
        detach(&w, &["--name", "b", bb, "sh", "-c", "exit 5"]);
        // By unique id prefix and by name.
        assert_eq!(w.ok(&["wait", &a[..8], "b"]), "3\n5\n");
        let out = w.ok(&["ps", "-a", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let codes: Vec<i64> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["ExitCode"].as_i64().unwrap())
            .collect();
        assert_eq!(codes, [5, 3], "newest first");
        assert!(
            v[1]["Names"][0].as_str().unwrap().contains('_'),
            "generated name: {out}"
        );
    });
}

#[test]
fn a_killed_supervisor_is_detected_and_takes_the_container_along() {
    for_each_user(|w| {
        let bb = w.busybox();
        let id = detach(&w, &["--name", "orphan", bb, "sleep", "1000"]);
        let rec = record(&w, &id);
        let sup = rec["supervisor"]["pid"].as_i64().unwrap();
        let init = rec["init"]["pid"].as_i64().unwrap();
        assert!(live(init) && live(sup));
        assert!(ps_line(&w, "orphan").contains("Up"));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(sup as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        // pid 1 has PR_SET_PDEATHSIG(SIGKILL) towards the supervisor, and the
        // rest of the pid namespace dies with pid 1.
        assert!(
            eventually(10, || !live(init)),
            "pid 1 died with its supervisor"
        );
        assert!(!w.ok(&["ps"]).contains("orphan"), "never shown as running");
        assert!(ps_line(&w, "orphan").contains("Exited (-1)"));
        assert_eq!(w.ok(&["wait", "orphan"]), "-1\n");
        let (_, err) = w.fails(&["exec", "orphan", "true"]);
        assert!(err.contains("not running"), "{err}");
        w.ok(&["rm", "orphan"]);
    });
}

#[test]
fn exec_t_gives_a_terminal() {
    for_each_user(|w| {
        let bb = w.busybox();
        detach(&w, &["--name", "tt", bb, "sleep", "1000"]);
        let hutch = format!("{} --root {}", hutch_bin().display(), w.root().display());
        let out = w
            .as_user("script")
            .args([
                "-qec",
                &format!("{hutch} exec -t tt sh -c 'tty; echo $TERM'"),
                "/dev/null",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        assert!(
            text.contains("/dev/pts/") && text.contains("xterm"),
            "{text:?}"
        );
        let plain = w.ok(&["exec", "tt", "sh", "-c", "tty || true"]);
        assert!(plain.contains("not a tty"), "{plain:?}");
        // stdin reaches the process only with -i.
        for (flag, want) in [(Some("-i"), "fed\n"), (None, "")] {
            let mut c = w.hutch();
            c.arg("exec").args(flag).args(["tt", "cat"]);
            let mut child = c
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            let _ = child.stdin.take().unwrap().write_all(b"fed\n");
            let out = child.wait_with_output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{flag:?}");
        }
        // exec -d returns at once; its process is in the container's pid
        // namespace although its parent is not, and top finds it.
        let t = Instant::now();
        assert_eq!(w.ok(&["exec", "-d", "tt", "sleep", "321"]), "");
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(
            eventually(5, || w.ok(&["top", "tt"]).contains("sleep 321")),
            "{}",
            w.ok(&["top", "tt"])
        );
        w.ok(&["rm", "-f", "tt"]);
    });
}

#[test]
fn names_rename_prune_and_errors() {
    for_each_user(|w| {
        let bb = w.busybox();
        w.ok(&["run", "--name", "one", bb, "true"]);
        w.ok(&["run", bb, "true"]);
        let (_, err) = w.fails(&["run", "--name", "one", bb, "true"]);
        assert!(err.contains("already in use"), "{err}");
        w.ok(&["rename", "one", "two"]);
        assert!(ps_line(&w, "two").contains("Exited (0)"));
        assert_eq!(ps_line(&w, "one"), "");
        for (args, what) in [
            (vec!["rm", "nosuch"], "no such container: nosuch"),
            (vec!["exec", "nosuch", "true"], "no such container"),
            (vec!["stop", "nosuch"], "no such container"),
            (vec!["kill", "-s", "BOGUS", "two"], "invalid signal"),
        ] {
            let (code, err) = w.fails(&args);
            assert_ne!(code, 0);
            assert!(err.contains(what), "{args:?}: {err}");
            assert!(one_error(&err), "one error: {err}");
        }
        // Concurrent runs claiming one name: exactly one wins.
        let racers: Vec<_> = (0..2)
            .map(|_| {
                w.hutch()
                    .args(["run", "--name", "race", bb, "true"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let wins = racers
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .filter(|o| o.status.success())
            .count();
        assert_eq!(wins, 1);
        // A detached start that fails reports like a foreground one.
        let (code, err) = w.fails(&["run", "-d", "--name", "bad", bb, "nosuch"]);
        assert_eq!(code, 127, "{err}");
        assert!(err.contains("nosuch") && err.contains("not found"), "{err}");
        assert!(ps_line(&w, "bad").contains("Exited (127)"));
        detach(&w, &["--name", "live", bb, "sleep", "1000"]);
        let pruned = w.ok(&["container", "prune", "-f"]);
        assert_eq!(pruned.lines().count(), 4, "{pruned}");
        let left = w.ok(&["ps", "-a", "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&left).unwrap();
        assert_eq!(
            v.as_array().unwrap().len(),
            1,
            "the running one stays: {left}"
        );
        let out = w.hutch().args(["container", "prune"]).output().unwrap();
        assert!(!out.status.success(), "no confirmation on a closed stdin");
        assert!(stderr(&out).contains("-f"), "{}", stderr(&out));
        let _ = stdout(&out);
        w.ok(&["rm", "-f", "live"]);
    });
}

#[test]
fn concurrent_runs_and_prunes_keep_records_whole() {
    for_each_user(|w| {
        let bb = w.busybox();
        let runs: Vec<_> = (0..4)
            .map(|i| {
                let name = format!("c{i}");
                w.hutch()
                    .args(["run", "--name", &name, bb, "true"])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let prunes: Vec<_> = (0..2)
            .map(|_| {
                w.hutch()
                    .args(["container", "prune", "-f"])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in runs {
            assert!(c.wait().unwrap().success());
        }
        for mut c in prunes {
            assert!(c.wait().unwrap().success());
        }
        // Whatever survived is whole: every record directory parses, and
        // only exited containers were ever pruned.
        let dir = w.root().join("containers");
        for e in std::fs::read_dir(&dir).unwrap().filter_map(|e| e.ok()) {
            let rec = e.path().join("container.json");
            if rec.exists() {
                let v: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap();
                assert_eq!(v["status"], "exited", "{v}");
            }
        }
        w.ok(&["container", "prune", "-f"]);
        assert_eq!(w.ok(&["ps", "-a", "-q"]), "");
    });
}
