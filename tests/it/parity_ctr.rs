//! Docker parity of the container and image commands: create/start/restart,
//! container inspect (Docker's JSON keys) and `--type`, the `container` and
//! `image` management commands, attach, pause, version, wait conditions,
//! `ps`/`images` filters, and Docker's exit codes — as both test users and as root.

use crate::common::{
    eventually, for_each_user, for_each_user_and_root, live, one_error, read_until, stderr, stdout,
    World,
};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// `hutch inspect ARGS` parsed: the array Docker prints.
fn inspect(w: &World, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["inspect"];
    all.extend_from_slice(args);
    let v: Value = serde_json::from_str(&w.ok(&all)).unwrap();
    v.as_array().unwrap().clone()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    k.sort();
    k
}

fn has_keys(v: &Value, want: &[&str]) {
    for k in want {
        assert!(v.get(k).is_some(), "no key {k} in {:?}", keys(v));
    }
}

#[test]
fn create_start_restart_and_inspect_like_docker() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let id = w
            .ok(&[
                "create",
                "--name",
                "web",
                "-e",
                "A=1",
                "-w",
                "/tmp",
                "-v",
                &format!("{}:/data:ro", w.dir.path().display()),
                bb,
                "sh",
                "-c",
                "echo started; while :; do sleep 0.1; done",
            ])
            .trim()
            .to_string();
        assert_eq!(id.len(), 64, "create prints the full id");
        let ps = w.ok(&["ps", "-a"]);
        assert!(
            ps.lines()
                .any(|l| l.contains("Created") && l.ends_with("web")),
            "{ps}"
        );
        assert!(!w.ok(&["ps"]).contains("web"), "created is not running");

        let c = &inspect(&w, &["web"])[0];
        has_keys(
            c,
            &[
                "Id",
                "Created",
                "Path",
                "Args",
                "State",
                "Image",
                "Name",
                "Config",
                "HostConfig",
                "Mounts",
                "NetworkSettings",
            ],
        );
        assert_eq!(c["Id"], id.as_str());
        assert_eq!(c["Name"], "/web");
        assert_eq!(c["Path"], "sh");
        assert_eq!(c["Args"][0], "-c");
        assert!(c["Image"].as_str().unwrap().starts_with("sha256:"));
        has_keys(
            &c["State"],
            &[
                "Status",
                "Running",
                "Paused",
                "Pid",
                "ExitCode",
                "StartedAt",
                "FinishedAt",
            ],
        );
        assert_eq!(c["State"]["Status"], "created");
        assert_eq!(c["State"]["Running"], false);
        assert_eq!(c["State"]["StartedAt"], "0001-01-01T00:00:00Z");
        has_keys(
            &c["Config"],
            &[
                "Hostname",
                "Env",
                "Cmd",
                "Entrypoint",
                "Image",
                "WorkingDir",
                "User",
                "Labels",
                "Tty",
                "OpenStdin",
                "StopSignal",
            ],
        );
        assert_eq!(c["Config"]["Image"], bb);
        assert_eq!(c["Config"]["WorkingDir"], "/tmp");
        assert!(c["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&Value::from("A=1")));
        assert_eq!(c["Config"]["Hostname"], &id[..12]);
        has_keys(
            &c["HostConfig"],
            &["Binds", "NetworkMode", "PortBindings", "RestartPolicy"],
        );
        assert_eq!(c["Mounts"][0]["Destination"], "/data");
        assert_eq!(c["Mounts"][0]["RW"], false);
        has_keys(&c["NetworkSettings"], &["Ports"]);

        // start runs it detached; inspect follows.
        assert_eq!(w.ok(&["start", "web"]), "web\n");
        let fmt = "{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{.Name}}";
        let line = w.ok(&["inspect", "-f", fmt, "web"]);
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f[..2], ["running", "true"], "{line}");
        let pid: i64 = f[2].parse().unwrap();
        assert!(pid > 0 && live(pid), "{line}");
        assert_eq!(f[3], "/web");
        assert_eq!(
            w.ok(&[
                "inspect",
                "-f",
                "{{.NetworkSettings.SandboxKey}} {{.HostConfig.ShmSize}}",
                "web"
            ]),
            format!("/proc/{pid}/ns/net 67108864\n")
        );
        let started = w.ok(&["inspect", "-f", "{{.State.StartedAt}}", "web"]);
        assert!(started.starts_with("20"), "{started}");

        // restart: stopped (TERM, then KILL after -t) and started again.
        let t = Instant::now();
        assert_eq!(w.ok(&["restart", "-t", "1", "web"]), "web\n");
        assert!(t.elapsed() < Duration::from_secs(9));
        let again = w.ok(&[
            "inspect",
            "-f",
            "{{.State.StartedAt}} {{.State.Pid}}",
            "web",
        ]);
        assert_ne!(again.split(' ').next(), Some(started.trim()), "a new start");
        assert!(!live(pid), "the old pid 1 is gone");
        assert_eq!(
            w.ok(&["container", "inspect", "-f", "{{.State.Status}}", "web"]),
            "running\n"
        );

        // stop: exited with the signal's code, FinishedAt set.
        w.ok(&["stop", "-t", "1", "web"]);
        let done = w.ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}",
            "web",
        ]);
        assert_eq!(done, "exited 137 false\n");
        let fin = w.ok(&["inspect", "-f", "{{.State.FinishedAt}}", "web"]);
        assert!(!fin.starts_with("0001"), "{fin}");

        // start -a: in the foreground, with the container's exit code.
        w.ok(&[
            "create",
            "--name",
            "once",
            bb,
            "sh",
            "-c",
            "echo hi; exit 3",
        ]);
        let out = w.run(&["start", "-a", "once"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert_eq!(stdout(&out), "hi\n");

        // A --rm container is refused before it is stopped.
        w.ok(&["run", "-d", "--rm", "--name", "gone", bb, "sleep", "60"]);
        let (code, err) = w.fails(&["restart", "gone"]);
        assert_eq!(code, 125);
        assert!(one_error(&err) && err.contains("--rm"), "{err}");
        assert_eq!(
            w.ok(&["inspect", "-f", "{{.State.Status}}", "gone"]),
            "running\n"
        );
        w.ok(&["rm", "-f", "gone"]);

        // create takes run's flags, not -d.
        let (code, err) = w.fails(&["create", "-d", bb]);
        assert_eq!(code, 125);
        assert!(one_error(&err) && err.contains("-d"), "{err}");
    });
}

#[test]
fn inspect_decides_by_what_exists_and_type_restricts_it() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&["create", "--name", "box", bb, "true"]);
        // A container named like nothing else; an image by its name.
        assert_eq!(inspect(&w, &["box"])[0]["Name"], "/box");
        assert!(inspect(&w, &[bb])[0]["RepoTags"].is_array());
        let both = inspect(&w, &["box", bb]);
        assert_eq!(both.len(), 2);
        assert!(both[0].get("State").is_some() && both[1].get("RepoTags").is_some());
        // --type
        assert_eq!(
            inspect(&w, &["--type", "image", bb])[0]["Id"],
            inspect(&w, &[bb])[0]["Id"]
        );
        let (code, err) = w.fails(&["inspect", "--type", "image", "box"]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("no such image: box"), "{err}");
        let (code, err) = w.fails(&["inspect", "--type", "container", bb]);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("no such container"), "{err}");
        let (code, err) = w.fails(&["inspect", "--type", "volume", "box"]);
        assert_eq!(code, 125);
        assert!(err.contains("volume"), "{err}");
        // Missing: exit 1 (Docker's "No such object").
        let (code, err) = w.fails(&["inspect", "nothing"]);
        assert_eq!(code, 1);
        assert!(one_error(&err), "{err}");
        // image inspect / container inspect
        assert!(w
            .ok(&["image", "inspect", "-f", "{{.Id}}", bb])
            .starts_with("sha256:"));
        let (code, _) = w.fails(&["container", "inspect", bb]);
        assert_eq!(code, 1);
        // -s adds the sizes, in bytes.
        assert!(inspect(&w, &["box"])[0].get("SizeRw").is_none());
        let sized = &inspect(&w, &["-s", "box"])[0];
        let (rw, root) = (
            sized["SizeRw"].as_u64().unwrap(),
            sized["SizeRootFs"].as_u64().unwrap(),
        );
        assert!(root > rw && root >= inspect(&w, &[bb])[0]["Size"].as_u64().unwrap());
        // A template field the object lacks names the fields it has.
        let (code, err) = w.fails(&["inspect", "-f", "{{.Nope}}", "box"]);
        assert_eq!(code, 125);
        assert!(one_error(&err) && err.contains("Nope"), "{err}");
    });
}

#[test]
fn management_commands_alias_the_top_level_ones() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&[
            "container",
            "create",
            "--name",
            "m",
            bb,
            "sh",
            "-c",
            "exit 2",
        ]);
        for ls in ["ls", "ps", "list"] {
            let out = w.ok(&["container", ls, "-a", "--format", "{{.Names}}"]);
            assert_eq!(out, "m\n", "container {ls}");
        }
        w.ok(&["container", "start", "m"]);
        assert_eq!(w.ok(&["container", "wait", "m"]), "2\n");
        assert_eq!(w.ok(&["container", "rm", "m"]), "m\n");
        assert_eq!(w.ok(&["container", "ls", "-aq"]), "");

        let short = w.ok(&["images", "-q"]);
        assert_eq!(w.ok(&["image", "ls", "-q"]), short);
        assert_eq!(w.ok(&["image", "list", "-q"]), short);
        assert!(w.ok(&["image", "history", bb]).starts_with("IMAGE"));
        w.ok(&["image", "tag", bb, "other:1"]);
        assert_eq!(
            w.ok(&["image", "rm", "other:1"]),
            "Untagged: docker.io/library/other:1\n"
        );
    });
}

#[test]
fn attach_follows_output_and_returns_the_exit_code() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&[
            "run",
            "-d",
            "--name",
            "talk",
            bb,
            "sh",
            "-c",
            "for i in 1 2 3 4; do sleep 0.5; echo tick$i; done; echo oops >&2; exit 5",
        ]);
        let out = w.run(&["attach", "talk"]);
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(stdout(&out).ends_with("tick4\n"), "{}", stdout(&out));
        assert!(stderr(&out).contains("oops"), "{}", stderr(&out));
        // Not running: refused with Docker's exit code.
        let (code, err) = w.fails(&["attach", "talk"]);
        assert_eq!(code, 1);
        assert!(one_error(&err) && err.contains("not running"), "{err}");

        // start of a running container: no error; with -a it attaches.
        w.ok(&["start", "talk"]);
        assert_eq!(w.ok(&["start", "talk"]), "talk\n");
        let out = w.run(&["start", "-a", "talk"]);
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(stdout(&out).ends_with("tick4\n"), "{}", stdout(&out));
        let (code, err) = w.fails(&["start", "ghost"]);
        assert_eq!(code, 1);
        assert!(
            one_error(&err) && err.contains("no such container"),
            "{err}"
        );
        let (code, _) = w.fails(&["restart", "ghost"]);
        assert_eq!(code, 1);

        // `run -di`: attach gives the container its stdin; end of file
        // here does not close it there, so a second attach goes on.
        let script = "while read l; do [ \"$l\" = quit ] && exit 6; echo \"got $l\"; done";
        w.ok(&["run", "-d", "-i", "--name", "in", bb, "sh", "-c", script]);
        let attach = |input: &str, flags: &[&str]| {
            let mut c = w
                .hutch()
                .arg("attach")
                .args(flags)
                .arg("in")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin
                .as_mut()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            c
        };
        // The detach keys (ctrl-p,ctrl-q) end an attach; the container runs on.
        let mut first = attach("one\n", &[]);
        read_until(first.stdout.as_mut().unwrap(), "got one\n");
        first
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"\x10\x11")
            .unwrap();
        let first = first.wait_with_output().unwrap();
        assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
        assert!(
            stderr(&first).contains("read escape sequence"),
            "{}",
            stderr(&first)
        );
        let mut other = attach("two\n", &["--detach-keys", "ctrl-x"]);
        read_until(other.stdout.as_mut().unwrap(), "got two\n");
        other.stdin.as_mut().unwrap().write_all(b"\x18").unwrap();
        assert_eq!(other.wait().unwrap().code(), Some(0));
        // End of file here does not close the container's stdin.
        let mut third = attach("three\n", &[]);
        drop(third.stdin.take());
        read_until(third.stdout.as_mut().unwrap(), "got three\n");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            w.ok(&["inspect", "-f", "{{.State.Running}}", "in"]),
            "true\n"
        );
        third.kill().unwrap();
        third.wait().unwrap();
        let mut last = attach("quit\n", &[]);
        drop(last.stdin.take());
        let last = last.wait_with_output().unwrap();
        assert_eq!(last.status.code(), Some(6), "{}", stderr(&last));
        assert_eq!(stdout(&last), "");
        assert_eq!(w.ok(&["logs", "in"]), "got one\ngot two\ngot three\n");

        // Signals attach gets go on to pid 1 (Docker's sig-proxy): Ctrl-C.
        let script = "trap 'echo int; exit 4' INT; echo ready; while :; do sleep 0.1; done";
        w.ok(&["run", "-d", "--name", "sig", bb, "sh", "-c", script]);
        assert!(eventually(10, || w.ok(&["logs", "sig"]).contains("ready")));
        let c = w
            .hutch()
            .args(["attach", "sig"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        // Once attach holds SIGINT back for its proxy, it forwards it.
        let blocked = || {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .find_map(|l| l.strip_prefix("SigBlk:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .is_some_and(|m| m & (1 << (libc::SIGINT - 1)) != 0)
        };
        assert!(eventually(10, blocked), "attach never set up its proxy");
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let out = c.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert_eq!(stdout(&out), "int\n");
    });
}

/// A shell loop that counts up in /out/n, twenty times a second.
const COUNT_LOOP: &str =
    "i=0; while :; do i=$((i+1)); echo $i > /out/n.t; mv /out/n.t /out/n; sleep 0.05; done";

/// The `-v` value that gives a container the world's `out` dir at /out,
/// and how far a [`COUNT_LOOP`] there has counted.
fn counter(w: &World) -> (String, impl Fn() -> u64 + '_) {
    w.write("out/n", "0\n");
    let bind = format!("{}:/out", w.path("out").display());
    let count = move || -> u64 {
        let t = std::fs::read_to_string(w.path("out/n")).unwrap_or_default();
        t.trim().parse().unwrap_or(0)
    };
    (bind, count)
}

#[test]
fn pause_stops_processes_in_pid_namespaces_the_container_made() {
    // Without a delegated cgroup (the test users') pause signals each
    // process: those in pid namespaces nested in the container's, two deep
    // here, are the container's too.
    for_each_user(|w| {
        let bb = w.busybox();
        let (bind, count) = counter(&w);
        let script = COUNT_LOOP;
        w.ok(&[
            "run",
            "-d",
            "--name",
            "nest",
            "--privileged",
            "-v",
            &bind,
            bb,
            "unshare",
            "-p",
            "-f",
            "--mount-proc",
            "unshare",
            "-p",
            "-f",
            "--mount-proc",
            "sh",
            "-c",
            script,
        ]);
        let log = || stdout(&w.run(&["logs", "nest"])) + &stderr(&w.run(&["logs", "nest"]));
        assert!(
            eventually(10, || count() > 2),
            "the counter never ran: {}",
            log()
        );
        assert_eq!(w.ok(&["pause", "nest"]), "nest\n");
        std::thread::sleep(Duration::from_millis(200));
        let frozen = count();
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(count(), frozen, "a nested pid namespace ran while paused");
        assert_eq!(w.ok(&["unpause", "nest"]), "nest\n");
        assert!(
            eventually(10, || count() > frozen),
            "the counter did not resume"
        );
        w.ok(&["rm", "-f", "nest"]);
    });
}

#[test]
fn pause_stops_every_process_until_unpause_and_version_is_docker_shaped() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let (bind, count) = counter(&w);
        let script = format!("trap 'exit 5' USR1; {COUNT_LOOP}");
        // Each health probe leaves a line: none may run while paused.
        let probes = || {
            std::fs::read_to_string(w.path("out/probes"))
                .unwrap_or_default()
                .lines()
                .count()
        };
        w.ok(&[
            "run",
            "-d",
            "--name",
            "p",
            "-v",
            &bind,
            "--health-cmd",
            "echo x >> /out/probes",
            "--health-interval",
            "100ms",
            bb,
            "sh",
            "-c",
            &script,
        ]);
        assert!(eventually(10, || count() > 2), "the counter never ran");
        assert!(eventually(10, || probes() > 1), "no health probe ran");
        // A process started by exec is in the namespace too: it stops.
        w.ok(&["exec", "-d", "p", "sleep", "60"]);
        assert_eq!(w.ok(&["pause", "p"]), "p\n");
        let fmt = "{{.State.Status}} {{.State.Paused}} {{.State.Running}}";
        assert_eq!(w.ok(&["inspect", "-f", fmt, "p"]), "paused true true\n");
        let ps = w.ok(&[
            "ps",
            "-f",
            "status=paused",
            "--format",
            "{{.Names}} {{.Status}}",
        ]);
        assert!(
            ps.starts_with("p Up ") && ps.ends_with("(Paused)\n"),
            "{ps}"
        );
        assert!(w.ok(&["ps", "-q", "-f", "status=running"]).is_empty());
        // A probe that had begun before the pause may still finish.
        std::thread::sleep(Duration::from_millis(200));
        let frozen = count();
        let probed = probes();
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(count(), frozen, "the counter ran while paused");
        assert_eq!(probes(), probed, "health probes ran while paused");
        let pid: i32 = w
            .ok(&["inspect", "-f", "{{.State.Pid}}", "p"])
            .trim()
            .parse()
            .unwrap();
        // Stopped by signal, or (where the user's cgroup is delegated, as
        // root's is) frozen with the container's own cgroup.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let stopped = stat.rsplit_once(") ").unwrap().1.starts_with('T');
        assert!(stopped || cgroup_frozen(pid), "{stat}");
        let (code, err) = w.fails(&["exec", "p", "true"]);
        assert!(one_error(&err) && err.contains("is paused"), "{code} {err}");
        let (code, err) = w.fails(&["pause", "p"]);
        assert_eq!(code, 1);
        assert!(one_error(&err) && err.contains("already paused"), "{err}");
        assert_eq!(w.ok(&["unpause", "p"]), "p\n");
        assert!(
            eventually(10, || count() > frozen),
            "the counter did not resume"
        );
        assert!(
            eventually(10, || probes() > probed),
            "the probes did not resume"
        );
        assert_eq!(w.ok(&["inspect", "-f", fmt, "p"]), "running false true\n");
        let (code, err) = w.fails(&["unpause", "p"]);
        assert_eq!(code, 1);
        assert!(one_error(&err) && err.contains("not paused"), "{err}");
        // A signal to a paused container is acted on: it resumes to take it.
        w.ok(&["pause", "p"]);
        assert_eq!(w.ok(&["kill", "-s", "USR1", "p"]), "p\n");
        assert_eq!(w.ok(&["wait", "p"]), "5\n");
        let (code, err) = w.fails(&["pause", "p"]);
        assert_eq!(code, 1);
        assert!(err.contains("not running"), "{err}");
        w.ok(&["rm", "p"]);
        let (code, err) = w.fails(&["pause", "p"]);
        assert_eq!(code, 1);
        assert!(err.contains("no such container"), "{err}");

        let text = w.ok(&["version"]);
        assert!(
            text.starts_with("Client: hutch\n Version:") && text.contains("\nServer: "),
            "{text}"
        );
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(
            w.ok(&["version", "-f", "{{.Client.Version}}"]),
            format!("{v}\n")
        );
        assert_eq!(
            w.ok(&["version", "--format", "{{.Server.Version}}"]),
            format!("{v}\n")
        );
        let j: Value = serde_json::from_str(&w.ok(&["version", "--format", "json"])).unwrap();
        assert_eq!(j["Client"]["Version"], v);
        let (code, err) = w.fails(&["version", "-f", "{{.Daemon}}"]);
        assert_eq!(code, 125);
        assert!(one_error(&err) && err.contains("Daemon"), "{err}");
    });
}

#[test]
fn wait_conditions_next_exit_and_removed() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&[
            "create",
            "--name",
            "later",
            bb,
            "sh",
            "-c",
            "sleep 0.3; exit 4",
        ]);
        // not-running: a created container is not running, at once.
        assert_eq!(w.ok(&["wait", "later"]), "0\n");
        let next = w
            .hutch()
            .args(["wait", "--condition", "next-exit", "later"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        w.ok(&["start", "later"]);
        let out = next.wait_with_output().unwrap();
        assert_eq!(stdout(&out), "4\n");

        let removed = w
            .hutch()
            .args(["wait", "--condition=removed", "later"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        w.ok(&["rm", "later"]);
        let out = removed.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(stdout(&out), "4\n");

        let (code, err) = w.fails(&["wait", "--condition", "healthy", "x"]);
        assert_eq!(code, 125);
        assert!(err.contains("healthy"), "{err}");
    });
}

/// The NAMES of `ps ARGS --format {{.Names}}`, sorted.
fn names(w: &World, args: &[&str]) -> Vec<String> {
    let mut all = vec!["ps", "--format", "{{.Names}}"];
    all.extend_from_slice(args);
    let mut n: Vec<String> = w.ok(&all).lines().map(String::from).collect();
    n.sort();
    n
}

#[test]
fn ps_filters_and_columns_as_docker() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&["run", "--name", "ok0", bb, "true"]);
        w.ok(&["run", "-d", "--name", "up1", bb, "sleep", "60"]);
        let (code, _) = w.fails(&["run", "--name", "bad3", bb, "sh", "-c", "exit 3"]);
        assert_eq!(code, 3);
        w.ok(&["create", "--name", "new", bb]);
        let id = w
            .ok(&["inspect", "-f", "{{.Id}}", "up1"])
            .trim()
            .to_string();

        assert_eq!(names(&w, &[]), ["up1"]);
        assert_eq!(names(&w, &["-a"]), ["bad3", "new", "ok0", "up1"]);
        assert_eq!(
            names(&w, &["-a", "--filter", "status=exited"]),
            ["bad3", "ok0"]
        );
        // A status filter looks at every container, without -a.
        assert_eq!(names(&w, &["-f", "status=created"]), ["new"]);
        assert_eq!(
            names(&w, &["-f", "status=created", "-f", "status=running"]),
            ["new", "up1"],
            "one key: either value"
        );
        assert_eq!(names(&w, &["-a", "-f", "exited=3"]), ["bad3"]);
        assert_eq!(names(&w, &["-a", "-f", "exited=0"]), ["ok0"]);
        assert_eq!(names(&w, &["-a", "-f", "name=^ok"]), ["ok0"]);
        assert_eq!(names(&w, &["-a", "-f", "name=^/ok0$"]), ["ok0"]);
        assert_eq!(names(&w, &["-a", "-f", "name=o"]), ["ok0"]);
        assert_eq!(
            names(&w, &["-a", "-f", "name=o", "-f", "status=running"]),
            Vec::<String>::new(),
            "two keys: both"
        );
        assert_eq!(
            names(&w, &["-a", "-f", &format!("id={}", &id[..8])]),
            ["up1"]
        );
        assert_eq!(names(&w, &["-a", "-f", &format!("ancestor={bb}")]).len(), 4);
        let image = w.ok(&["inspect", "-f", "{{.Id}}", bb]);
        assert_eq!(
            names(&w, &["-a", "-f", &format!("ancestor={}", &image[7..19])]).len(),
            4
        );
        assert!(names(&w, &["-a", "-f", "ancestor=alpine:3"]).is_empty());
        assert_eq!(names(&w, &["-a", "-f", "before=up1"]), ["ok0"]);
        assert_eq!(names(&w, &["-a", "-f", "since=up1"]), ["bad3", "new"]);
        assert_eq!(names(&w, &["-n", "1"]), ["new"]);
        assert_eq!(names(&w, &["-l"]), ["new"]);

        // -q prints ids, --no-trunc full ones.
        assert_eq!(w.ok(&["ps", "-q"]), format!("{}\n", &id[..12]));
        assert_eq!(w.ok(&["ps", "-q", "--no-trunc"]), format!("{id}\n"));
        // The table: Docker's columns; -s adds SIZE.
        let head = w.ok(&["ps"]).lines().next().unwrap().to_string();
        let cols: Vec<&str> = head
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            cols,
            [
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "CREATED",
                "STATUS",
                "PORTS",
                "NAMES"
            ]
        );
        let sized = w.ok(&["ps", "-s"]);
        assert!(sized.lines().next().unwrap().ends_with("SIZE"), "{sized}");
        assert!(sized.contains("(virtual "), "{sized}");
        let size = w.ok(&["ps", "--format", "{{.Names}} {{.Size}}"]);
        assert!(
            size.starts_with("up1 ") && size.contains("virtual"),
            "{size}"
        );

        // Bad input: one line naming it, non-zero.
        for (bad, what) in [
            ("nope=1", "nope"),
            ("status=sleeping", "sleeping"),
            ("exited=x", "exited=x"),
            ("name", "KEY=VALUE"),
            ("before=ghost", "ghost"),
        ] {
            let (code, err) = w.fails(&["ps", "-a", "--filter", bad]);
            assert_ne!(code, 0);
            assert!(one_error(&err) && err.contains(what), "{bad}: {err}");
        }
        let (_, err) = w.fails(&["ps", "--format", "{{.Nope}}"]);
        assert!(one_error(&err) && err.contains("Nope"), "{err}");
        let (code, err) = w.fails(&["ps", "-n", "1", "-l"]);
        assert_ne!(code, 0);
        assert!(err.contains("--latest"), "{err}");
        w.ok(&["rm", "-f", "up1"]);
    });
}

#[test]
fn images_filters_and_history_json() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let bb_id = w.ok(&["inspect", "-f", "{{.Id}}", bb]).trim().to_string();
        w.ok(&["run", "--name", "src", bb, "true"]);
        w.ok(&["commit", "-c", "LABEL tier=web", "src", "mine:1"]);
        // A second commit under the same name leaves the first untagged.
        std::thread::sleep(Duration::from_millis(1100));
        w.ok(&["commit", "-c", "LABEL tier=db", "src", "mine:1"]);
        let repos = |args: &[&str]| {
            let mut all = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
            all.extend_from_slice(args);
            let mut v: Vec<String> = w.ok(&all).lines().map(String::from).collect();
            v.sort();
            v
        };
        assert_eq!(
            repos(&[]),
            [
                "<none>:<none>",
                "docker.io/library/busybox:1.38.0-musl",
                "docker.io/library/mine:1"
            ]
        );
        assert_eq!(repos(&["-a"]), repos(&[]));
        assert_eq!(repos(&["-f", "dangling=true"]), ["<none>:<none>"]);
        assert_eq!(repos(&["--filter", "dangling=false"]).len(), 2);
        assert_eq!(
            repos(&["-f", "reference=busy*"]),
            ["docker.io/library/busybox:1.38.0-musl"]
        );
        assert_eq!(
            repos(&["-f", "reference=mine:*"]),
            ["docker.io/library/mine:1"]
        );
        assert_eq!(
            repos(&["-f", "reference=busy*", "-f", "reference=mine"]).len(),
            2
        );
        assert_eq!(repos(&["-f", "label=tier"]).len(), 2);
        assert_eq!(
            repos(&["-f", "label=tier=db"]),
            ["docker.io/library/mine:1"]
        );
        assert_eq!(
            repos(&["-f", "label=tier", "-f", "dangling=true"]),
            ["<none>:<none>"]
        );
        assert_eq!(repos(&["-f", "since=busybox:1.38.0-musl"]).len(), 2);
        assert_eq!(
            repos(&["-f", "before=mine:1"]).len(),
            2,
            "busybox and the untagged commit"
        );
        assert_eq!(
            w.ok(&["images", "-q", "-f", "reference=busy*", "--no-trunc"]),
            format!("{bb_id}\n")
        );
        for (bad, what) in [
            ("dangling=maybe", "maybe"),
            ("color=red", "color"),
            ("reference=[a", "[a"),
        ] {
            let (code, err) = w.fails(&["images", "--filter", bad]);
            assert_ne!(code, 0);
            assert!(one_error(&err) && err.contains(what), "{bad}: {err}");
        }

        // history --format json: full ids, whatever --no-trunc says.
        let h: Value = serde_json::from_str(&w.ok(&["history", "--format", "json", bb])).unwrap();
        assert_eq!(h[0]["id"], bb_id.as_str());
        let row = w.ok(&["history", "--format", "{{.ID}}|{{.Size}}", bb]);
        assert!(row.starts_with(&bb_id[7..19]), "{row}");
    });
}

#[test]
fn exit_codes_and_signals_as_docker() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        // rmi of a missing image: 1; rm: 1; rm -f: 0 and silent.
        let (code, err) = w.fails(&["rmi", "nothere:1"]);
        assert_eq!(code, 1);
        assert!(one_error(&err) && err.contains("no such image"), "{err}");
        // One missing name does not keep the others from going.
        w.ok(&["tag", bb, "spare:1"]);
        let out = w.run(&["rmi", "nothere:1", "spare:1"]);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(stdout(&out), "Untagged: docker.io/library/spare:1\n");
        assert!(
            one_error(&stderr(&out)) && stderr(&out).contains("nothere:1"),
            "{}",
            stderr(&out)
        );
        let (code, err) = w.fails(&["rm", "ghost"]);
        assert_eq!(code, 1);
        assert!(
            one_error(&err) && err.contains("no such container"),
            "{err}"
        );
        let out = w.run(&["rm", "-f", "ghost"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!((stdout(&out), stderr(&out)), (String::new(), String::new()));
        let (code, _) = w.fails(&["stop", "ghost"]);
        assert_eq!(code, 1);

        // kill -s: real-time signals by name and number, to SIGRTMAX.
        let script = "trap 'exit 7' 37; trap 'exit 8' 64; trap 'exit 9' USR1; \
                      echo ready; while :; do sleep 0.05; done";
        for (sig, code) in [
            ("RTMIN+3", "7"),
            ("SIGRTMIN+3", "7"),
            ("64", "8"),
            ("RTMAX", "8"),
            ("sigusr1", "9"),
        ] {
            w.ok(&["run", "-d", "--name", "sig", bb, "sh", "-c", script]);
            assert!(eventually(10, || w.ok(&["logs", "sig"]).contains("ready")));
            assert_eq!(w.ok(&["kill", "-s", sig, "sig"]), "sig\n", "{sig}");
            assert_eq!(w.ok(&["wait", "sig"]), format!("{code}\n"), "{sig}");
            w.ok(&["rm", "sig"]);
        }
        w.ok(&["create", "--name", "idle", bb]);
        for bad in ["0", "65", "NOPE", "RTMIN+31"] {
            let (code, err) = w.fails(&["kill", "-s", bad, "idle"]);
            assert_eq!(code, 1);
            assert!(one_error(&err) && err.contains(bad), "{bad}: {err}");
        }

        // wait, started before a `--rm` container exits, prints its code.
        for cond in ["not-running", "removed"] {
            let id = w
                .ok(&["run", "--rm", "-d", bb, "sh", "-c", "sleep 1; exit 3"])
                .trim()
                .to_string();
            assert_eq!(w.ok(&["wait", "--condition", cond, &id]), "3\n", "{cond}");
            assert!(!w.root().join("containers").join(&id).exists());
        }

        // stop, kill and rm -f of a `--rm -d` container: success, and no
        // directory, record or process left.
        for verb in [&["stop", "-t", "1"][..], &["kill"], &["rm", "-f"]] {
            let id = w
                .ok(&["run", "--rm", "-d", bb, "sleep", "100"])
                .trim()
                .to_string();
            let pid: i64 = w
                .ok(&["inspect", "-f", "{{.State.Pid}}", &id])
                .trim()
                .parse()
                .unwrap();
            let supervisor = std::fs::read_to_string(
                w.root().join("containers").join(&id).join("container.json"),
            )
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|r| r["supervisor"]["pid"].as_i64())
            .unwrap();
            let mut args = verb.to_vec();
            args.push(&id);
            let out = w.run(&args);
            assert!(out.status.success(), "{verb:?}: {}", stderr(&out));
            assert!(
                eventually(10, || !w.root().join("containers").join(&id).exists()
                    && !live(pid)
                    && !live(supervisor)),
                "{verb:?} left something behind"
            );
            assert!(
                !w.ok(&["ps", "-aq", "--no-trunc"]).contains(&id),
                "{verb:?}"
            );
        }
    });
}

#[test]
fn labels_restart_policy_and_health_reach_inspect_and_ps_filters() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&[
            "run",
            "-d",
            "--name",
            "lab",
            "--label",
            "tier=db",
            "--restart",
            "on-failure:2",
            "--stop-timeout",
            "3",
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            bb,
            "sleep",
            "60",
        ]);
        w.ok(&["run", "-d", "--name", "plain", bb, "sleep", "60"]);
        let c = &inspect(&w, &["lab"])[0];
        assert_eq!(c["Config"]["Labels"]["tier"], "db");
        assert_eq!(c["Config"]["StopTimeout"], 3);
        assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(c["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
        assert_eq!(c["RestartCount"], 0);
        assert_eq!(c["HostConfig"]["LogConfig"]["Type"], "k8s-file");
        assert!(inspect(&w, &["plain"])[0]["State"]["Health"].is_null());

        assert_eq!(names(&w, &["-f", "label=tier"]), ["lab"]);
        assert_eq!(names(&w, &["-f", "label=tier=db"]), ["lab"]);
        assert!(names(&w, &["-f", "label=tier=web"]).is_empty());
        assert_eq!(
            w.ok(&["ps", "-f", "name=lab", "--format", "{{.Labels}}"]),
            "tier=db\n"
        );
        assert_eq!(
            w.ok(&[
                "ps",
                "-f",
                "name=lab",
                "--format",
                r#"{{.Label "tier"}}|{{.Label "no"}}"#
            ]),
            "db|\n"
        );
        assert_eq!(
            w.ok(&[
                "inspect",
                "-f",
                "{{(.HostConfig.RestartPolicy).Name | upper}}",
                "lab"
            ]),
            "ON-FAILURE\n"
        );
        assert!(
            eventually(15, || names(&w, &["-f", "health=healthy"]) == ["lab"]),
            "{}",
            w.ok(&["ps"])
        );
        assert_eq!(
            w.ok(&["inspect", "-f", "{{.State.Health.Status}}", "lab"]),
            "healthy\n"
        );
        assert_eq!(names(&w, &["-f", "health=none"]), ["plain"]);
        let (code, err) = w.fails(&["ps", "-f", "health=sick"]);
        assert_eq!(code, 125);
        assert!(one_error(&err) && err.contains("sick"), "{err}");
        w.ok(&["rm", "-f", "lab", "plain"]);
    });
}

#[test]
fn inspect_shows_the_address_on_a_user_defined_network() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&["network", "create", "pcnet"]);
        w.ok(&[
            "run",
            "-d",
            "--name",
            "member",
            "--network",
            "pcnet",
            "--network-alias",
            "db",
            bb,
            "sleep",
            "60",
        ]);
        let on_net = w.ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.IPv4Address}}{{end}}",
            "pcnet",
        ]);
        let ip = on_net.trim().split('/').next().unwrap().to_string();
        assert!(ip.contains('.'), "{on_net}");
        let c = &inspect(&w, &["member"])[0];
        let ns = &c["NetworkSettings"];
        assert_eq!(ns["IPAddress"], ip.as_str());
        assert_eq!(ns["Networks"]["pcnet"]["IPAddress"], ip.as_str());
        assert_eq!(ns["Networks"]["pcnet"]["Aliases"][0], "db");
        assert_eq!(c["HostConfig"]["NetworkMode"], "pcnet");
        assert_eq!(
            w.ok(&[
                "inspect",
                "-f",
                "{{.NetworkSettings.Networks.pcnet.Gateway}}",
                "member"
            ]),
            format!("{}\n", ns["Gateway"].as_str().unwrap())
        );
        w.ok(&["stop", "-t", "1", "member"]);
        assert_eq!(
            inspect(&w, &["member"])[0]["NetworkSettings"]["IPAddress"],
            ""
        );
        w.ok(&["rm", "member"]);
        w.ok(&["network", "rm", "pcnet"]);
    });
}

/// Whether process `pid` sits in a hutch container cgroup that is frozen.
fn cgroup_frozen(pid: i32) -> bool {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let Some(rel) = own.lines().find_map(|l| l.strip_prefix("0::")) else {
        return false;
    };
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let Some(v2) = mounts
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| f[1].to_string())
    else {
        return false;
    };
    let dir = std::path::Path::new(&v2).join(rel.trim_start_matches('/'));
    dir.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("hutch-"))
        && std::fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|t| t.trim() == "1")
}
