//! The user-namespace keeper: with subordinate ids, every start joins one
//! idle process's id-mapped namespace instead of running newuidmap and
//! newgidmap; a dead keeper is replaced, a live one whose pid file names
//! anything else is recorded again; a runtime dir that is not private is
//! refused loudly and the start still works; an XDG_RUNTIME_DIR that a
//! logout removed, or another user's, is passed over for `/tmp/hutch-UID`;
//! `info` shows the keeper a start would record again; a keeper whose pid file names
//! another ends by itself once no container is nested in it, one whose runtime dir went (a logout) stays, a
//! running container on a user-defined network still changes networks
//! then, one restarted by its policy keeps the keeper, and so its shared
//! network namespace, and the starts after the next login join it too, as
//! do those with another runtime dir (a
//! `network connect` while it is being restarted is refused after a
//! bounded wait); a world ends the keepers of its runtime dirs; a single id
//! needs no keeper at all, and a process in a container that names itself a
//! keeper is never adopted as one, whether the container is nested in a
//! keeper or was mapped by newuidmap.

use crate::common::{
    eventually, live, mark_starting, put_record, skip, stderr, stdout, succeeded, user, Kind, World,
};
use hutch::container::ProcId;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// A runtime dir for this world only, so the test's keeper is its own.
fn run_dir(w: &World, name: &str, mode: u32) -> PathBuf {
    w.write(&format!("{name}/.keep"), "");
    let d = w.path(name);
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
    d
}

fn hutch_in(w: &World, run: &Path, args: &[&str]) -> Output {
    w.hutch()
        .env("XDG_RUNTIME_DIR", run)
        .args(args)
        .output()
        .unwrap()
}

fn ok_in(w: &World, run: &Path, args: &[&str]) -> String {
    succeeded(&hutch_in(w, run, args), &format!("hutch {args:?}"))
}

/// The one keeper pid file under `run`, if there is one.
fn pid_file(run: &Path) -> Option<PathBuf> {
    std::fs::read_dir(run.join("hutch"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "pid"))
}

/// The pid that file names.
fn keeper_pid(run: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file(run)?)
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `/proc/PID/uid_map` as (inside, outside, count) rows.
fn uid_map(text: &str) -> Vec<(u32, u32, u32)> {
    text.lines()
        .map(|l| {
            let f: Vec<u32> = l.split_whitespace().map(|n| n.parse().unwrap()).collect();
            (f[0], f[1], f[2])
        })
        .collect()
}

fn kill_and_wait(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while live(pid) {
        assert!(Instant::now() < deadline, "keeper {pid} did not die");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn subid_starts_share_one_keeper_and_replace_a_bad_one() {
    let Some(u) = user(Kind::SubIds) else {
        return skip("no test user with subordinate ids");
    };
    let w = World::new(u);
    let img = w.busybox();
    let run = run_dir(&w, "run", 0o700);
    let inside = ok_in(
        &w,
        &run,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            img,
            "cat",
            "/proc/self/uid_map",
        ],
    );
    let pid = keeper_pid(&run).expect("the first start leaves a keeper");
    assert!(live(pid));
    // The keeper's namespace carries the host mapping: 0 is the user, the
    // rest are subordinate ids; the container's, nested in it, maps each id
    // onto itself.
    let keeper_map = uid_map(&std::fs::read_to_string(format!("/proc/{pid}/uid_map")).unwrap());
    assert_eq!(keeper_map[0], (0, w.user.uid, 1), "{keeper_map:?}");
    assert!(
        keeper_map.len() == 2 && keeper_map[1].1 >= 65536,
        "{keeper_map:?}"
    );
    let nested: Vec<_> = keeper_map.iter().map(|r| (r.0, r.0, r.2)).collect();
    assert_eq!(uid_map(&inside), nested);
    // The container's files still belong to the user's subordinate ids.
    let owner = ok_in(
        &w,
        &run,
        &[
            "run",
            "--network",
            "none",
            "--name",
            "own",
            img,
            "sh",
            "-c",
            "touch /f; chown 5:5 /f",
        ],
    );
    assert_eq!(owner, "");
    let upper = std::fs::read_dir(w.root().join("containers"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join(w.writable_layer()).join("f"))
        .find(|p| p.exists())
        .expect("the container's upper dir");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::symlink_metadata(&upper).unwrap().uid(),
        keeper_map[1].1 + 4
    );
    ok_in(&w, &run, &["rm", "own"]);

    ok_in(&w, &run, &["run", "--rm", "--network", "none", img, "true"]);
    assert_eq!(
        keeper_pid(&run),
        Some(pid),
        "a second start reuses the keeper"
    );
    let info = ok_in(&w, &run, &["info"]);
    assert!(info.contains(&format!("keeper: pid {pid}")), "{info}");

    // A dead keeper is replaced.
    kill_and_wait(pid);
    ok_in(&w, &run, &["run", "--rm", "--network", "none", img, "true"]);
    let second = keeper_pid(&run).unwrap();
    assert_ne!(second, pid);
    assert!(live(second));

    // A pid file naming another live process of the user, with its true
    // start time, is not trusted: that process is not in a mapped
    // namespace. The live keeper still watching that pid file is recorded
    // again rather than replaced: containers may be nested in it.
    let mut other = w.as_user("sleep").arg("600").spawn().unwrap();
    let other_pid = other.id() as i32;
    let other_start = ProcId::of(other_pid).unwrap().start;
    std::fs::write(
        pid_file(&run).expect("a keeper pid file"),
        format!("{other_pid} {other_start}\n"),
    )
    .unwrap();
    ok_in(&w, &run, &["run", "--rm", "--network", "none", img, "true"]);
    assert_eq!(keeper_pid(&run), Some(second));
    let _ = other.kill();
    let _ = other.wait();
    // A keeper whose pid file names another live keeper (here that of a
    // second runtime dir) ends by itself once no container is nested in
    // it: nobody can find it any more.
    ok_in(
        &w,
        &run,
        &[
            "run",
            "-d",
            "--name",
            "held",
            "--network",
            "none",
            img,
            "sleep",
            "60",
        ],
    );
    let run2 = run_dir(&w, "run2", 0o700);
    ok_in(
        &w,
        &run2,
        &["run", "--rm", "--network", "none", img, "true"],
    );
    let third = keeper_pid(&run2).unwrap();
    assert_ne!(third, second);
    std::fs::copy(pid_file(&run2).unwrap(), pid_file(&run).unwrap()).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        live(second),
        "keeper {second} ended under a running container"
    );
    ok_in(&w, &run, &["rm", "-f", "held"]);
    assert!(
        eventually(10, || !live(second)),
        "the replaced keeper {second} stays"
    );
    assert!(live(third));

    // A runtime dir others may write to is not used; the start works anyway
    // and says why under --verbose.
    let open = run_dir(&w, "open", 0o755);
    std::fs::create_dir(open.join("hutch")).unwrap();
    std::fs::set_permissions(open.join("hutch"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = hutch_in(
        &w,
        &open,
        &["--verbose", "run", "--rm", "--network", "none", img, "true"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no user namespace keeper")
            && stderr(&out).contains("not a private directory"),
        "{}",
        stderr(&out)
    );
    assert_eq!(keeper_pid(&open), None);
    let info = ok_in(&w, &open, &["info"]);
    assert!(info.contains("keeper: unusable"), "{info}");

    // A world leaves no keeper: it ends those of its runtime dirs.
    drop(w);
    assert!(
        eventually(10, || !live(third)),
        "keeper {third} outlives its world"
    );
}

#[test]
fn a_runtime_dir_that_is_gone_or_not_the_users_is_passed_over() {
    // A shell keeps XDG_RUNTIME_DIR after a logout removed it, and `su`
    // carries another user's (here root's `/`, and `/tmp`, which anyone may
    // write to): the keeper's pid file then lives in the private
    // `/tmp/hutch-UID`, as with the variable unset.
    let Some(u) = user(Kind::SubIds) else {
        return skip("no test user with subordinate ids");
    };
    let w = World::new(u);
    let img = w.busybox();
    let tmp = PathBuf::from(format!("/tmp/hutch-{}", w.user.uid));
    for run in [
        w.path("gone/run"),
        PathBuf::from("/"),
        PathBuf::from("/tmp"),
    ] {
        let out = hutch_in(
            &w,
            &run,
            &["--verbose", "run", "--rm", "--network", "none", img, "true"],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            !stderr(&out).contains("no user namespace keeper"),
            "{run:?}: {}",
            stderr(&out)
        );
        let info = ok_in(&w, &run, &["info"]);
        let in_tmp = format!(" ({})", tmp.display());
        let pid: i32 = info
            .lines()
            .find_map(|l| {
                let l = l.trim().strip_prefix("keeper: pid ")?;
                l.strip_suffix(in_tmp.as_str())?.parse().ok()
            })
            .unwrap_or_else(|| panic!("{run:?}: no keeper in {}: {info}", tmp.display()));
        let recorded = std::fs::read_dir(&tmp)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pid"))
            .filter_map(|p| hutch::userns::keeper::recorded_keeper(&p))
            .any(|k| k.pid == pid);
        assert!(
            recorded,
            "keeper {pid} is not recorded in {}",
            tmp.display()
        );
    }
    assert!(!w.path("gone").exists());
    assert!(
        !Path::new("/tmp/hutch").exists(),
        "a keeper's dir was made in root's /tmp"
    );
}

#[test]
fn a_single_id_needs_no_keeper() {
    let Some(u) = user(Kind::Single) else {
        return skip("no test user without subordinate ids");
    };
    let w = World::new(u);
    let img = w.busybox();
    let run = run_dir(&w, "run", 0o700);
    ok_in(&w, &run, &["run", "--rm", "--network", "none", img, "true"]);
    assert_eq!(keeper_pid(&run), None);
    assert!(!run.join("hutch").exists());
    let info = ok_in(&w, &run, &["info"]);
    assert!(info.contains("keeper: not needed"), "{info}");
}

/// `lsns`'s COLUMN (NS or PNS, the parent) for process `pid`'s user namespace.
///
/// lsns before util-linux 2.40.3 (Debian 12 has 2.38) walks every process
/// in /proc and exits 1, silently, when any of them ends mid-walk
/// (util-linux issue 2799); other tests start and end processes all the
/// time, so a silent failure is asked again.
fn userns_column(pid: i32, column: &str) -> String {
    let mut last = None;
    for _ in 0..20 {
        let out = std::process::Command::new("lsns")
            .args(["-n", "-t", "user", "-o", column, "-p", &pid.to_string()])
            .output()
            .expect("lsns (util-linux)");
        if out.status.success() {
            return stdout(&out).trim().to_string();
        }
        if !out.stderr.is_empty() {
            panic!("lsns: {}", stderr(&out));
        }
        last = Some(out);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!(
        "lsns failed 20 times without a word: {:?}",
        last.map(|o| o.status)
    );
}

#[test]
fn concurrent_first_starts_make_one_keeper() {
    let Some(u) = user(Kind::SubIds) else {
        return skip("no test user with subordinate ids");
    };
    let w = World::new(u);
    let img = w.busybox();
    let run = run_dir(&w, "run", 0o700);
    let names: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
    let starts: Vec<_> = names
        .iter()
        .map(|n| {
            let mut c = w.hutch();
            c.env("XDG_RUNTIME_DIR", &run).args([
                "run",
                "-d",
                "--network",
                "none",
                "--name",
                n,
                img,
                "sleep",
                "60",
            ]);
            std::thread::spawn(move || c.output().unwrap())
        })
        .collect();
    for s in starts {
        let out = s.join().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let keeper = keeper_pid(&run).expect("a keeper");
    let keeper_ns = userns_column(keeper, "NS");
    let ps: serde_json::Value =
        serde_json::from_str(&ok_in(&w, &run, &["ps", "--format", "json"])).unwrap();
    let pids: Vec<i32> = ps
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Pid"].as_i64().unwrap() as i32)
        .collect();
    assert_eq!(pids.len(), 4, "{ps}");
    // Every container's own namespace is nested in that one keeper's: no
    // start made a keeper of its own.
    for pid in pids {
        assert_ne!(userns_column(pid, "NS"), keeper_ns);
        assert_eq!(userns_column(pid, "PNS"), keeper_ns, "container pid {pid}");
    }
    // Killing the keeper is harmless: running containers keep their
    // namespaces, and exec still joins them.
    kill_and_wait(keeper);
    assert_eq!(ok_in(&w, &run, &["exec", "c0", "echo", "still"]), "still\n");
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    ok_in(&w, &run, &rm);
    // rm made a new keeper to delete the containers' files.
    if let Some(p) = keeper_pid(&run).filter(|&p| p != keeper) {
        kill_and_wait(p);
    }
}

#[test]
fn a_restart_after_logout_keeps_the_keeper_and_its_network() {
    // Both kinds, side by side (most of it is waiting): a user-defined
    // network always takes a keeper.
    let worlds: Vec<World> = [Kind::SubIds, Kind::Single]
        .into_iter()
        .filter_map(user)
        .map(World::new)
        .collect();
    if worlds.len() < 2 {
        return skip("a test user of each kind");
    }
    std::thread::scope(|s| {
        for w in &worlds {
            s.spawn(move || after_logout(w));
        }
    });
}

fn after_logout(w: &World) {
    let img = w.busybox();
    let run = run_dir(w, "run", 0o700);
    ok_in(
        w,
        &run,
        &["network", "create", "--subnet", "10.89.41.0/24", "kn"],
    );
    ok_in(w, &run, &["network", "create", "kn2"]);
    let exit_on_go = "while [ ! -e /tmp/go ]; do sleep 0.1; done; rm /tmp/go; exit 3";
    ok_in(
        w,
        &run,
        &[
            "run",
            "-d",
            "--name",
            "rs",
            "--restart",
            "on-failure",
            "--network",
            "kn",
            img,
            "sh",
            "-c",
            exit_on_go,
        ],
    );
    let keeper = keeper_pid(&run).expect("a keeper");
    let keeper_ns = userns_column(keeper, "NS");
    // A logout removes the runtime dir; the keeper outlives its checks.
    std::fs::remove_dir_all(&run).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert!(live(keeper), "keeper {keeper} ended with its runtime dir");
    // A running container still changes networks: the keeper it is nested
    // in is found without the runtime dir.
    ok_in(w, &run, &["network", "connect", "kn2", "rs"]);
    let eth1 = ok_in(
        w,
        &run,
        &["exec", "rs", "ip", "-4", "-o", "addr", "show", "eth1"],
    );
    assert!(eth1.contains(" inet "), "{eth1}");
    ok_in(w, &run, &["network", "disconnect", "kn2", "rs"]);
    ok_in(w, &run, &["exec", "rs", "touch", "/tmp/go"]);
    let inspect = || {
        stdout(&hutch_in(
            w,
            &run,
            &[
                "inspect",
                "-f",
                "{{.RestartCount}} {{.State.Status}} {{.State.Pid}}",
                "rs",
            ],
        ))
    };
    let mut got = String::new();
    let restarted = eventually(20, || {
        got = inspect();
        got.starts_with("1 running ") && !got.trim().ends_with(" 0")
    });
    let log = stdout(&hutch_in(w, &run, &["logs", "rs"]));
    assert!(restarted, "{got:?}; log: {log}");
    // Restarted in the same keeper's namespace, so in the same shared
    // network namespace as before.
    let pid: i32 = got.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert_eq!(userns_column(pid, "PNS"), keeper_ns);
    assert_eq!(
        ok_in(
            w,
            &run,
            &["exec", "rs", "ip", "-4", "-o", "addr", "show", "eth0"]
        )
        .split_whitespace()
        .nth(3),
        Some("10.89.41.2/24")
    );
    // A connect while the container is between states (its record made to
    // say that pid 1 is being started) is refused after a bounded wait.
    let id = ok_in(w, &run, &["inspect", "-f", "{{.Id}}", "rs"]);
    let original = mark_starting(w, id.trim());
    let out = hutch_in(w, &run, &["network", "connect", "kn2", "rs"]);
    put_record(w, id.trim(), &original);
    assert!(
        !out.status.success() && stderr(&out).contains("container rs is restarting; try again"),
        "{}",
        stderr(&out)
    );
    // The next login makes the runtime dir again, empty: the next start
    // records the keeper still there instead of making another, so the
    // new container shares the restarted one's network. A start with
    // another runtime dir (XDG_RUNTIME_DIR unset in a cron job, say) has a
    // keeper of its own, but nests its container in the shared
    // namespace's too.
    let run = run_dir(w, "run", 0o700);
    // `info` shows the keeper that start will record again, and records
    // nothing itself.
    if w.user.kind == Kind::SubIds {
        let info = ok_in(w, &run, &["info"]);
        assert!(info.contains(&format!("keeper: pid {keeper} (")), "{info}");
        assert_eq!(pid_file(&run), None);
    }
    let other = run_dir(w, "run-b", 0o700);
    let ping = "ping -c 1 -W 5 \"$0\" >/dev/null && echo pinged";
    for (name, dir) in [("x", &run), ("y", &other)] {
        let sleeper = [
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "kn",
            img,
            "sleep",
            "60",
        ];
        ok_in(w, dir, &sleeper);
        let pid = ok_in(w, dir, &["inspect", "-f", "{{.State.Pid}}", name]);
        assert_eq!(userns_column(pid.trim().parse().unwrap(), "PNS"), keeper_ns);
        let reached = ok_in(w, dir, &["exec", name, "sh", "-c", ping, "rs"]);
        assert_eq!(reached, "pinged\n", "{name} reaches rs");
    }
    assert_eq!(keeper_pid(&run), Some(keeper));
    assert_ne!(keeper_pid(&other), Some(keeper));
    let back = ok_in(w, &run, &["exec", "rs", "sh", "-c", ping, "x"]);
    assert_eq!(back, "pinged\n");
    ok_in(w, &run, &["rm", "-f", "rs", "x", "y"]);
    kill_and_wait(keeper);
}

#[test]
fn a_process_in_a_container_is_never_adopted_as_the_keeper() {
    // A container's processes show the keeper's mapping from the host and
    // choose their own command line: one that names itself a keeper of the
    // runtime dir's pid file must not be recorded as the keeper when the
    // real one is gone, or every later start would nest in the container.
    let Some(u) = user(Kind::SubIds) else {
        return skip("no test user with subordinate ids");
    };
    let w = World::new(u);
    let img = w.busybox();
    let run = run_dir(&w, "run", 0o700);
    ok_in(&w, &run, &["run", "--rm", "--network", "none", img, "true"]);
    let file = pid_file(&run).expect("a keeper's pid file");
    let real = keeper_pid(&run).expect("a keeper");
    let script = format!(
        "cd /tmp && printf '#!/bin/sh\\n/bin/sleep 1000\\n' > userns-keeper && \
         chmod +x userns-keeper && PATH=: exec userns-keeper --pid-file {}",
        file.display()
    );
    // Runs `script` in a detached container NAME started with runtime dir
    // DIR; its pid 1 once it names itself a keeper.
    let impostor = |dir: &Path, name: &str| -> i32 {
        let args = [
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            img,
            "sh",
            "-c",
            &script,
        ];
        ok_in(&w, dir, &args);
        let pid: i32 = ok_in(&w, dir, &["inspect", "-f", "{{.State.Pid}}", name])
            .trim()
            .parse()
            .unwrap();
        let named_keeper = || {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).nth(1) == Some(&b"userns-keeper"[..]))
        };
        assert!(eventually(10, named_keeper), "no impostor");
        pid
    };
    let imp = impostor(&run, "imp");
    kill_and_wait(real);
    std::fs::remove_file(&file).unwrap();
    ok_in(&w, &run, &["run", "--rm", "--network", "none", img, "true"]);
    let now = keeper_pid(&run).expect("a keeper again");
    assert_ne!(
        now, imp,
        "a process in a container was adopted as the keeper"
    );
    assert!(live(now));
    ok_in(&w, &run, &["rm", "-f", "imp"]);

    // Nor one in a container that newuidmap mapped (its runtime dir not
    // private, so no keeper could be had): its user namespace sits directly
    // below hutch's with the keeper's very mapping, as a keeper's does.
    let open = run_dir(&w, "open", 0o755);
    std::fs::create_dir(open.join("hutch")).unwrap();
    std::fs::set_permissions(open.join("hutch"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let imp2 = impostor(&open, "imp2");
    assert_eq!(
        userns_column(imp2, "PNS"),
        userns_column(std::process::id() as i32, "NS"),
        "not the layout of a start without a keeper"
    );
    kill_and_wait(now);
    std::fs::remove_file(&file).unwrap();
    ok_in(&w, &run, &["run", "--rm", "--network", "none", img, "true"]);
    let again = keeper_pid(&run).expect("a keeper again");
    assert_ne!(
        again, imp2,
        "a process in a container mapped by newuidmap was adopted as the keeper"
    );
    assert!(live(again));
    ok_in(&w, &open, &["rm", "-f", "imp2"]);
}
