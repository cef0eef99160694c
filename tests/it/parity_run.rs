//! Docker's `run` flags beyond the basics (issue: Docker parity): restart
//! policies honoured by the supervisor, health checks, labels, log
//! drivers, --cidfile, --group-add, --device, --stop-signal/--stop-timeout,
//! --sig-proxy, binary stdin with -i, the last of a repeated flag winning,
//! and the combinations Docker refuses — as both test users and as root.

use crate::common::eventually;
use crate::common::{
    for_each_user_and_root, live, ok_with_umask, one_error, read_until, stderr, stdout, Kind, World,
};
use crate::lifecycle::{detach, ps_line, record};
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The log lines of container `name`.
fn log_lines(w: &World, name: &str) -> usize {
    w.ok(&["logs", name]).lines().count()
}

/// `hutch inspect` of one container.
fn inspect(w: &World, name: &str) -> serde_json::Value {
    let v: serde_json::Value =
        serde_json::from_str(&w.ok(&["inspect", "--type", "container", name])).unwrap();
    v[0].clone()
}

/// The container's supervisor has gone (nothing will restart it).
fn supervisor_gone(rec: &serde_json::Value) -> bool {
    rec["supervisor"]["pid"].as_i64().map_or(true, |p| !live(p))
}

#[test]
fn restart_policies_restart_count_and_stop_for_good() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let id = detach(
            &w,
            &[
                "--name",
                "twice",
                "--restart",
                "on-failure:2",
                bb,
                "sh",
                "-c",
                "echo run; exit 3",
            ],
        );
        assert!(
            eventually(20, || {
                let r = record(&w, &id);
                r["status"] == "exited" && supervisor_gone(&r)
            }),
            "{}",
            record(&w, &id)
        );
        let r = record(&w, &id);
        assert_eq!(r["restart_count"], 2, "{r}");
        assert_eq!(r["exit_code"], 3, "{r}");
        assert_eq!(r["config"]["restart"], "on-failure:2");
        assert_eq!(log_lines(&w, "twice"), 3, "one first run and two restarts");
        assert!(ps_line(&w, "twice").contains("Exited (3)"));
        let i = inspect(&w, "twice");
        assert_eq!(i["RestartCount"], 2, "{i}");
        assert_eq!(
            i["HostConfig"]["RestartPolicy"],
            serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 2})
        );
        assert_eq!(i["State"]["Restarting"], false);

        // A clean exit is no failure: on-failure does not restart it.
        let ok = detach(&w, &["--restart", "on-failure", bb, "true"]);
        assert!(eventually(10, || supervisor_gone(&record(&w, &ok))));
        assert_eq!(record(&w, &ok)["restart_count"], 0);

        // always restarts after every exit, until the user stops it.
        let id = detach(
            &w,
            &[
                "--name",
                "loop",
                "--restart",
                "always",
                "--stop-timeout",
                "1",
                bb,
                "sh",
                "-c",
                "echo run; sleep 0.2",
            ],
        );
        assert!(eventually(20, || log_lines(&w, "loop") >= 3));
        // cp reaches it at whatever moment of its restarts it comes (pid 1
        // ending while cp joins it is waited out, not an error).
        let note = w.write("note", "x");
        let note = note.to_str().unwrap();
        for _ in 0..40 {
            w.ok(&["cp", note, "loop:/note"]);
        }
        w.ok(&["stop", "loop"]);
        assert!(eventually(10, || supervisor_gone(&record(&w, &id))));
        let runs = log_lines(&w, "loop");
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(log_lines(&w, "loop"), runs, "stopped for good");
        let r = record(&w, &id);
        assert_eq!(r["status"], "exited", "{r}");
        assert!(r["restart_count"].as_u64().unwrap() >= 2, "{r}");

        // kill ends unless-stopped too; a new start begins a new count.
        let id = detach(
            &w,
            &[
                "--name",
                "us",
                "--restart",
                "unless-stopped",
                bb,
                "sleep",
                "100",
            ],
        );
        w.ok(&["kill", "us"]);
        assert!(eventually(10, || supervisor_gone(&record(&w, &id))));
        assert_eq!(record(&w, &id)["restart_count"], 0);
        w.ok(&["start", "us"]);
        assert!(ps_line(&w, "us").contains("Up"), "{}", ps_line(&w, "us"));
        w.ok(&["rm", "-f", "us"]);

        // rm -f takes an always container away for good, supervisor and all.
        let id = detach(&w, &["--restart", "always", bb, "sleep", "100"]);
        let sup = record(&w, &id)["supervisor"]["pid"].as_i64().unwrap();
        w.ok(&["rm", "-f", &id]);
        assert!(eventually(10, || !live(sup)), "the supervisor ends");
        assert!(!w.root().join("containers").join(&id).exists());

        // --rm with a restart policy is refused, as Docker refuses it.
        let (code, err) = w.fails(&["run", "--rm", "--restart", "always", bb, "true"]);
        assert_eq!(code, 125);
        assert!(err.contains("--restart") && err.contains("--rm"), "{err}");
        assert!(one_error(&err), "{err}");
        let (_, err) = w.fails(&["run", "--restart", "on-failure:x", bb, "true"]);
        assert!(err.contains("on-failure:x"), "{err}");
    });
}

#[test]
fn health_checks_turn_healthy_and_unhealthy_in_ps_and_healthcheck_run() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let id = detach(
            &w,
            &[
                "--name",
                "doc",
                "--health-cmd",
                "echo probing; test -e /tmp/ok",
                "--health-interval",
                "200ms",
                "--health-retries",
                "2",
                bb,
                "sleep",
                "100",
            ],
        );
        assert!(
            eventually(15, || ps_line(&w, "doc").contains("(unhealthy)")),
            "{}",
            ps_line(&w, "doc")
        );
        let out = w.run(&["healthcheck", "run", "doc"]);
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        assert_eq!(stdout(&out).trim(), "unhealthy");
        w.ok(&["exec", "doc", "touch", "/tmp/ok"]);
        w.ok(&["healthcheck", "run", "doc"]);
        assert!(eventually(15, || ps_line(&w, "doc").contains("(healthy)")));
        let h = &record(&w, &id)["health"];
        assert_eq!(h["Status"], "healthy", "{h}");
        assert_eq!(h["FailingStreak"], 0, "{h}");
        let log = h["Log"].as_array().unwrap();
        assert!(!log.is_empty() && log.len() <= 5, "{h}");
        assert_eq!(log.last().unwrap()["Output"], "probing\n", "{h}");
        let i = inspect(&w, "doc");
        assert_eq!(i["State"]["Health"]["Status"], "healthy", "{i}");
        assert_eq!(i["Config"]["Healthcheck"]["Test"][0], "CMD-SHELL", "{i}");
        assert_eq!(
            w.ok(&["ps", "-q", "--no-trunc", "--filter", "health=healthy"])
                .trim(),
            id
        );
        assert_eq!(w.ok(&["ps", "-q", "--filter", "health=unhealthy"]), "");
        let (_, err) = w.fails(&["ps", "--filter", "health=fine"]);
        assert!(err.contains("health=fine"), "{err}");
        w.ok(&["rm", "-f", "doc"]);

        // The image's HEALTHCHECK, with a flag overriding its interval.
        std::fs::create_dir_all(w.path("hc")).unwrap();
        w.write(
            "hc/Dockerfile",
            format!("FROM {bb}\nHEALTHCHECK --interval=1h CMD [\"true\"]\n"),
        );
        w.ok(&["build", "-q", "-t", "hc", w.path("hc").to_str().unwrap()]);
        detach(
            &w,
            &[
                "--name",
                "img",
                "--health-interval",
                "200ms",
                "hc",
                "sleep",
                "100",
            ],
        );
        assert!(eventually(15, || ps_line(&w, "img").contains("(healthy)")));
        let none = detach(&w, &["--no-healthcheck", "hc", "sleep", "100"]);
        assert!(record(&w, &none)["health"].is_null());
        let (_, err) = w.fails(&["healthcheck", "run", &none]);
        assert!(err.contains("no health check"), "{err}");
        w.ok(&["rm", "-f", "img", &none]);

        let (code, err) = w.fails(&["run", "--no-healthcheck", "--health-cmd", "true", bb]);
        assert_eq!(code, 125);
        assert!(err.contains("--no-healthcheck"), "{err}");
        let (_, err) = w.fails(&["run", "--health-interval", "5", bb]);
        assert!(err.contains("'5'"), "{err}");
    });
}

#[test]
fn labels_stop_signal_and_stop_timeout_are_recorded_and_used() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let file = w.write("labels", "# comment\nb=from-file\nc=3\n");
        let id = detach(
            &w,
            &[
                "--name",
                "lab",
                "-l",
                "a=1",
                "--label",
                "c=flag",
                "--label-file",
                file.to_str().unwrap(),
                "--stop-signal",
                "USR1",
                "--stop-timeout",
                "1",
                bb,
                "sh",
                "-c",
                "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.05; done",
            ],
        );
        let r = record(&w, &id);
        let labels = &r["config"]["labels"];
        assert_eq!(
            (&labels["a"], &labels["b"], &labels["c"]),
            (&"1".into(), &"from-file".into(), &"flag".into()),
            "{r}"
        );
        assert!(eventually(10, || w.ok(&["logs", "lab"]).contains("ready")));
        assert_eq!(
            w.ok(&["ps", "-q", "--no-trunc", "--filter", "label=b=from-file"])
                .trim(),
            id
        );
        assert_eq!(w.ok(&["ps", "-q", "--filter", "label=a=2"]), "");
        let listed = w.ok(&["ps", "--format", "{{.Labels}}", "--filter", "name=lab"]);
        assert!(
            listed.contains("a=1") && listed.contains("c=flag"),
            "{listed}"
        );
        let i = inspect(&w, "lab");
        assert_eq!(i["Config"]["Labels"]["c"], "flag", "{i}");
        assert_eq!(i["Config"]["StopSignal"], "USR1", "{i}");
        assert_eq!(i["Config"]["StopTimeout"], 1, "{i}");
        // USR1 first (the trap does not exit), SIGKILL after one second
        // rather than the default ten.
        let t = Instant::now();
        w.ok(&["stop", "lab"]);
        assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
        assert!(w.ok(&["logs", "lab"]).contains("got-usr1"));
        assert!(ps_line(&w, "lab").contains("Exited (137)"));
        let (_, err) = w.fails(&["run", "--stop-signal", "NOPE", bb]);
        assert!(err.contains("NOPE"), "{err}");
        let (_, err) = w.fails(&["run", "-l", "=x", bb]);
        assert!(err.contains("=x"), "{err}");
    });
}

#[test]
fn log_drivers_json_file_none_and_rotation() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let json = detach(
            &w,
            &[
                "--log-driver",
                "json-file",
                bb,
                "sh",
                "-c",
                "echo out; echo err >&2",
            ],
        );
        assert!(eventually(10, || record(&w, &json)["status"] == "exited"));
        let log = std::fs::read_to_string(w.root().join("containers").join(&json).join("ctr.log"))
            .unwrap();
        let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
        assert!(first["time"].is_string(), "{log}");
        let entries: Vec<(String, String)> = log
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| {
                (
                    v["log"].as_str().unwrap().into(),
                    v["stream"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert!(
            entries.contains(&("out\n".into(), "stdout".into())),
            "{log}"
        );
        assert!(
            entries.contains(&("err\n".into(), "stderr".into())),
            "{log}"
        );
        assert_eq!(
            inspect(&w, &json)["HostConfig"]["LogConfig"]["Type"],
            "json-file"
        );
        let out = w.run(&["logs", &json]);
        assert_eq!(stdout(&out), "out\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

        // none: the output still reaches the terminal, `logs` has nothing.
        let out = w.run(&[
            "run",
            "--name",
            "quiet",
            "--log-driver",
            "none",
            bb,
            "echo",
            "hi",
        ]);
        assert_eq!(stdout(&out), "hi\n");
        let (_, err) = w.fails(&["logs", "quiet"]);
        assert!(
            err.contains("no logs for this container (log driver none)"),
            "{err}"
        );

        // max-size rotates: two files at most, the newest lines kept (one
        // write per line, so that the log grows by small entries).
        let rot = detach(
            &w,
            &[
                "--log-opt",
                "max-size=1k",
                "--log-opt",
                "max-file=2",
                bb,
                "sh",
                "-c",
                "for i in $(seq 1 80); do echo line$i; sleep 0.005; done",
            ],
        );
        assert!(eventually(20, || record(&w, &rot)["status"] == "exited"));
        let dir = w.root().join("containers").join(&rot);
        assert!(dir.join("ctr.log.1").exists());
        assert!(!dir.join("ctr.log.2").exists());
        let logs = w.ok(&["logs", &rot]);
        assert_eq!(logs.lines().last(), Some("line80"));
        assert!(
            !logs.contains("line1\n"),
            "the oldest lines are rotated away: {logs}"
        );
        assert!(std::fs::metadata(dir.join("ctr.log.1")).unwrap().len() < 2048);

        for (opt, what) in [
            (&["--log-opt", "max-file=2"][..], "max-size"),
            (&["--log-opt", "tag=x"][..], "tag"),
            (&["--log-driver", "syslog"][..], "syslog"),
            (
                &["--log-driver", "none", "--log-opt", "max-size=1k"][..],
                "none",
            ),
        ] {
            let mut args = vec!["run"];
            args.extend_from_slice(opt);
            args.extend([bb, "true"]);
            let (code, err) = w.fails(&args);
            assert_eq!(code, 125, "{opt:?}");
            assert!(err.contains(what), "{opt:?}: {err}");
        }
    });
}

/// A /dev/zero node only root may write (mode 0644), made in /dev for one
/// test and removed after it.
struct ReadOnlyZero(String);

impl ReadOnlyZero {
    fn new() -> ReadOnlyZero {
        use nix::sys::stat::{makedev, mknod, Mode, SFlag};
        let path = format!("/dev/hutch-test-zro-{}", std::process::id());
        let _ = std::fs::remove_file(&path);
        mknod(
            path.as_str(),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o644),
            makedev(1, 5),
        )
        .expect("mknod (the tests run as root)");
        ReadOnlyZero(path)
    }
}

impl Drop for ReadOnlyZero {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Docker creates the --cidfile before the container: a path that cannot
/// be created leaves no container behind, and a create that fails takes its
/// empty file away again.
#[test]
fn a_cidfile_that_cannot_be_created_leaves_no_container() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let (code, err) = w.fails(&[
            "run",
            "--rm",
            "--cidfile",
            "/nonexistent/dir/cid",
            bb,
            "true",
        ]);
        assert_eq!(code, 125, "{err}");
        assert!(err.contains("--cidfile /nonexistent/dir/cid"), "{err}");
        assert_eq!(w.ok(&["ps", "-aq"]), "", "a container was left");
        let cid = w.path("cid");
        let cid_s = cid.to_str().unwrap();
        let (code, err) = w.fails(&["create", "--cidfile", cid_s, "--name", "x y", bb]);
        assert_eq!(code, 125, "{err}");
        assert!(
            !cid.exists(),
            "the empty --cidfile stayed after a failed create"
        );
        ok_with_umask(&w, "027", &["create", "--cidfile", cid_s, bb]);
        let id = std::fs::read_to_string(&cid).unwrap();
        assert_eq!(w.ok(&["ps", "-aq", "--no-trunc"]).trim(), id);
        // Docker's file follows the umask; a temporary file renamed over
        // it would be 0600.
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&cid).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o640, "--cidfile under umask 027");
    });
}

#[test]
fn cidfile_group_add_device_and_last_value_wins() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let cid = w.path("cid");
        let cid_s = cid.to_str().unwrap();
        let out = w.ok(&["run", "--cidfile", cid_s, "--name", "c1", bb, "true"]);
        assert_eq!(out, "");
        let id = std::fs::read_to_string(&cid).unwrap();
        assert_eq!(id.len(), 64);
        assert!(w.ok(&["ps", "-a", "--no-trunc"]).contains(&id));
        let (code, err) = w.fails(&["run", "--cidfile", cid_s, bb, "true"]);
        assert_eq!(code, 125);
        assert!(err.contains("cid"), "{err}");

        // --group-add: a number and a name from the image's /etc/group.
        let args = [
            "run",
            "--rm",
            "--group-add",
            "wheel",
            "--group-add",
            "1234",
            bb,
            "id",
            "-G",
        ];
        if w.user.kind == Kind::SubIds {
            let groups = w.ok(&args);
            let gs: Vec<&str> = groups.split_whitespace().collect();
            assert!(gs.contains(&"10") && gs.contains(&"1234"), "{groups}");
        } else {
            // One id: no other group exists in the namespace.
            let (code, err) = w.fails(&args);
            assert_eq!(code, 125, "{err}");
            assert!(err.contains("--group-add"), "{err}");
        }
        let (_, err) = w.fails(&["run", "--rm", "--group-add", "nosuch", bb, "true"]);
        assert!(err.contains("nosuch"), "{err}");

        // --device: the host node bound in, under another name too.
        let zero = w.ok(&[
            "run",
            "--rm",
            "--device",
            "/dev/zero:/dev/myzero",
            "--device",
            "/dev/fuse",
            bb,
            "sh",
            "-c",
            "head -c 3 /dev/myzero | od -An -tx1; test -c /dev/fuse && echo fuse",
        ]);
        assert_eq!(
            zero.split_whitespace().collect::<Vec<_>>(),
            ["00", "00", "00", "fuse"]
        );
        let loop_control = ["run", "--rm", "--device", "/dev/loop-control", bb, "true"];
        if w.user.uid == 0 {
            // Root may open any node.
            w.ok(&loop_control);
        } else {
            let (code, err) = w.fails(&loop_control);
            assert_eq!(code, 125);
            assert!(err.contains("cannot open /dev/loop-control"), "{err}");
        }
        // PERMS may leave out only what the node's permissions refuse.
        let (code, err) = w.fails(&["run", "--rm", "--device", "/dev/null:/dev/n:r", bb, "true"]);
        assert_eq!(code, 125);
        assert!(err.contains("forbid writing") && one_error(&err), "{err}");
        let ro = ReadOnlyZero::new();
        let spec = format!("{}:/dev/zro:r", ro.0);
        let script =
            "head -c 2 /dev/zro | od -An -tx1; echo x 2>/dev/null > /dev/zro || echo refused";
        let args = ["run", "--rm", "--device", &spec, bb, "sh", "-c", script];
        if w.user.uid == 0 {
            let (_, err) = w.fails(&args);
            assert!(err.contains("forbid writing"), "{err}");
        } else {
            let out = w.ok(&args);
            assert_eq!(
                out.split_whitespace().collect::<Vec<_>>(),
                ["00", "00", "refused"]
            );
        }
        let (_, err) = w.fails(&["run", "--rm", "--device", "/etc/passwd", bb, "true"]);
        assert!(err.contains("not a device"), "{err}");
        let (_, err) = w.fails(&[
            "run",
            "--rm",
            "--device",
            "/dev/null:/dev/n:rwx",
            bb,
            "true",
        ]);
        assert!(err.contains("'rwx'"), "{err}");

        // A single-value flag given twice: the last one counts.
        let out = w.ok(&[
            "run",
            "--rm",
            "-w",
            "/tmp",
            "-w",
            "/etc",
            "--name",
            "x",
            "--name",
            "y",
            bb,
            "sh",
            "-c",
            "pwd; hostname",
        ]);
        assert!(out.starts_with("/etc\n"), "{out}");
    });
}

#[test]
fn refused_combinations_and_platform() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let (code, err) = w.fails(&["run", "-d", "-a", "stdout", bb, "true"]);
        assert_eq!(code, 125);
        assert!(err.contains("-a") && err.contains("-d"), "{err}");
        assert!(one_error(&err), "{err}");
        let (code, err) = w.fails(&["run", "--rm", "-a", "stdnothing", bb, "true"]);
        assert_eq!(code, 125);
        assert!(err.contains("stdnothing"), "{err}");
        // -a: only the named streams reach the terminal; the log keeps both.
        let both = "echo out; echo err >&2";
        let out = w.run(&["run", "--rm", "-a", "stdout", bb, "sh", "-c", both]);
        assert_eq!(
            (stdout(&out).as_str(), stderr(&out).as_str()),
            ("out\n", "")
        );
        let out = w.run(&["run", "--name", "a2", "-a", "stderr", bb, "sh", "-c", both]);
        assert_eq!(
            (stdout(&out).as_str(), stderr(&out).as_str()),
            ("", "err\n")
        );
        assert_eq!(w.ok(&["logs", "a2"]), "out\n");

        let (code, err) = w.fails(&["run", "--rm", "--platform", "linux/arm64", bb, "true"]);
        assert_eq!(code, 125);
        assert!(
            err.contains("linux/arm64") && err.contains("linux/amd64"),
            "{err}"
        );
        assert_eq!(
            w.ok(&[
                "run",
                "--rm",
                "-q",
                "--platform",
                "linux/amd64",
                bb,
                "echo",
                "ok"
            ]),
            "ok\n"
        );
        let (_, err) = w.fails(&["run", "--rm", "--detach-keys", "ctrl-", bb, "true"]);
        assert!(err.contains("ctrl-"), "{err}");
        w.ok(&["run", "--rm", "--detach-keys", "ctrl-x,ctrl-@", bb, "true"]);
    });
}

#[test]
fn stdin_streams_binary_data_and_sig_proxy_false_keeps_signals_away() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for extra in [&["--rm"][..], &["--name", "kept"][..]] {
            let mut args = vec!["run", "-i"];
            args.extend_from_slice(extra);
            args.extend([bb, "cat"]);
            let mut child = w
                .hutch()
                .args(&args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let input = data.clone();
            let writer = std::thread::spawn(move || stdin.write_all(&input));
            let mut got = Vec::new();
            child.stdout.take().unwrap().read_to_end(&mut got).unwrap();
            writer.join().unwrap().unwrap();
            assert!(child.wait().unwrap().success());
            assert!(
                got == data,
                "{extra:?}: {} bytes back of {}",
                got.len(),
                data.len()
            );
        }

        // The same signal, proxied (the trap runs) and not (it never arrives).
        let script = "trap 'echo got-term; exit 9' TERM; echo ready; sleep 1; echo done";
        for (proxy, want, code) in [("true", "got-term", 9), ("false", "done", 0)] {
            let mut child = w
                .hutch()
                .args([
                    "run",
                    "--rm",
                    &format!("--sig-proxy={proxy}"),
                    bb,
                    "sh",
                    "-c",
                    script,
                ])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut out = child.stdout.take().unwrap();
            read_until(&mut out, "ready");
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
            let mut rest = String::new();
            out.read_to_string(&mut rest).unwrap();
            let status = child.wait().unwrap();
            assert!(rest.contains(want), "--sig-proxy={proxy}: {rest:?}");
            assert_eq!(status.code(), Some(code), "--sig-proxy={proxy}");
        }
    });
}
