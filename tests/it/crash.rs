//! Crash safety: hutch SIGKILLed at many points of load, pull (from a
//! registry on 127.0.0.1), build, commit, env snapshot and image prune
//! leaves a store
//! that `system check` finds consistent, with every tag's blobs present;
//! and processes racing on one tag, on the build cache and against prune
//! all end with a consistent store; racing builds of one step run it once.

use crate::common::*;
use crate::registry::Registry;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const BB: &str = "busybox:1.38.0-musl";

/// What `system check` may find after a kill: garbage a later run or
/// `--repair` removes. Anything else (a corrupt blob, a damaged image, a
/// tag whose blobs are missing) is damage.
fn consistent(w: &World, after: &str) {
    let out = w.run(&["system", "check"]);
    let text = stdout(&out);
    for line in text.lines() {
        let fine = line.contains("was left by a process that was killed")
            || line.contains("belongs to no image")
            || line.contains("checked: no problems found");
        assert!(
            fine,
            "after {after}: system check found damage:\n{text}\n{}",
            stderr(&out)
        );
    }
    // Every name resolves to an image whose layers can be read.
    for tag in w.tags() {
        let v = w.inspect(&tag);
        assert!(v["Id"].is_string(), "after {after}: {tag}");
    }
}

fn kill_after(mut child: Child, delay: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    true
}

fn spawn(w: &World, args: &[&str]) -> Child {
    w.hutch()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigkill_at_any_point_leaves_a_consistent_store() {
    let Some(u) = any_user() else {
        skip("no test user");
        return;
    };
    let w = World::new(u);
    let reg = Registry::start();
    w.busybox();
    let remote = format!("{}/crash/bb:1", reg.host());
    w.ok(&["push", "-q", BB, &remote]);
    w.write(
        "ctx/Dockerfile",
        format!("FROM {BB}\nARG N\nRUN head -c 3000000 /dev/urandom > /r && echo $N > /n\nCOPY . /ctx/\n"),
    );
    w.ok(&[
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        "none",
        BB,
        "sh",
        "-c",
        "head -c 8000000 /dev/urandom > /big; sleep 600",
    ]);
    // A project environment whose snapshot commits 8 MB that do not
    // compress.
    w.write("proj/hutch.toml", format!("image = \"{BB}\"\n"));
    let in_project = |args: &[&str]| {
        let mut c = w.hutch();
        c.current_dir(w.path("proj"))
            .env("HOME", w.path("home"))
            .args(args);
        c
    };
    let made = in_project(&[
        "shell",
        "-u",
        "root",
        "--",
        "sh",
        "-c",
        "head -c 8000000 /dev/urandom > /big",
    ])
    .output()
    .unwrap();
    assert!(made.status.success(), "{}", stderr(&made));
    let glibc = image("busybox-glibc");
    let ctx = w.path("ctx");
    let (mut killed, mut snapshots_killed) = (0, 0);
    // Delays spread over each operation's whole run: early ones land in
    // start-up and locking, late ones in writing blobs and the index.
    for i in 0..24u64 {
        let delay = Duration::from_millis(10 + (i * 37) % 400);
        let barg = format!("N={i}");
        let tag = format!("img:{i}");
        let (what, args): (&str, Vec<&str>) = match i % 6 {
            0 => ("load", vec!["load", "-i", glibc.to_str().unwrap()]),
            1 => {
                let _ = w.run(&["rmi", "-f", &remote]);
                ("pull", vec!["pull", "-q", &remote])
            }
            2 => (
                "build",
                vec![
                    "build",
                    "--build-arg",
                    &barg,
                    "-t",
                    &tag,
                    ctx.to_str().unwrap(),
                ],
            ),
            3 => ("commit", vec!["commit", "c", &tag]),
            4 => ("prune", vec!["image", "prune", "-a", "-f"]),
            _ => ("env snapshot", vec!["env", "snapshot"]),
        };
        let child = match what {
            "env snapshot" => in_project(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
            _ => spawn(&w, &args),
        };
        let k = kill_after(child, delay);
        killed += k as usize;
        snapshots_killed += (k && what == "env snapshot") as usize;
        consistent(&w, &format!("{what} killed after {delay:?}"));
        if what == "env snapshot" {
            // The environment's versions still read, each whole.
            let log = in_project(&["env", "log"]).output().unwrap();
            assert!(log.status.success(), "{}", stderr(&log));
        }
    }
    assert!(killed >= 12, "only {killed} of 24 runs were killed mid-way");
    assert!(
        snapshots_killed >= 2,
        "only {snapshots_killed} of 4 snapshots were killed mid-way"
    );
    // What the kills left is garbage that --repair removes.
    w.ok(&["system", "check", "--repair"]);
    w.ok(&["system", "check"]);
    // A snapshot after the killed ones works and reads back.
    let snap = in_project(&["env", "snapshot", "-m", "after"])
        .output()
        .unwrap();
    assert!(snap.status.success(), "{}", stderr(&snap));
    let log = in_project(&["env", "log"]).output().unwrap();
    assert!(stdout(&log).contains("after"), "{}", stdout(&log));
    let _ = in_project(&["env", "rm"]).output();
    w.ok(&["rm", "-f", "c"]);
}

#[test]
fn racing_processes_on_one_tag_the_build_cache_and_prune() {
    for_each_user(|w| {
        w.busybox();
        for (i, body) in ["one", "two"].iter().enumerate() {
            w.write(
                &format!("ctx{i}/Dockerfile"),
                format!("FROM {BB}\nRUN echo {body} > /f\n"),
            );
        }
        // A step slow enough that racing builds overlap in it; its output
        // (not its STEP line) says it ran.
        w.write(
            "ctx2/Dockerfile",
            format!("FROM {BB}\nRUN echo slow > /f && echo slow-step-ran-$((6*7)) && sleep 1\n"),
        );
        let c0 = w.path("ctx0");
        let c1 = w.path("ctx1");
        let c2 = w.path("ctx2");
        // Every process's stderr (where RUN output and step lines go).
        let race = |sets: &[Vec<&str>]| -> Vec<String> {
            let kids: Vec<Child> = sets
                .iter()
                .map(|a| {
                    w.hutch()
                        .args(a)
                        .stdout(Stdio::null())
                        .stderr(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            kids.into_iter()
                .map(|k| {
                    let out = k.wait_with_output().unwrap();
                    assert!(out.status.success(), "{}", stderr(&out));
                    stderr(&out)
                })
                .collect()
        };
        let (c0, c1, c2) = (
            c0.to_str().unwrap(),
            c1.to_str().unwrap(),
            c2.to_str().unwrap(),
        );
        // Two builds of different content to one tag, and three of the
        // same step (one build cache entry) at once.
        let errs = race(&[
            vec!["build", "-t", "same:1", c0],
            vec!["build", "-t", "same:1", c1],
            vec!["build", "-t", "other:1", c2],
            vec!["build", "-t", "other:2", c2],
            vec!["build", "-t", "other:3", c2],
        ]);
        let f = w.ok(&["run", "--rm", "--network", "none", "same:1", "cat", "/f"]);
        assert!(f == "one\n" || f == "two\n", "{f}");
        // The step lock: one build ran the slow step, the others waited
        // for it and took its result from the cache.
        let slow = &errs[2..];
        let ran = slow
            .iter()
            .filter(|e| e.contains("slow-step-ran-42"))
            .count();
        assert_eq!(
            ran,
            1,
            "the slow step ran {ran} times:\n{}",
            slow.join("\n")
        );
        assert_eq!(
            slow.iter().filter(|e| e.contains("--> CACHED")).count(),
            2,
            "{}",
            slow.join("\n")
        );
        let ids: Vec<_> = ["other:1", "other:2", "other:3"]
            .iter()
            .map(|t| w.inspect(t)["Id"].clone())
            .collect();
        assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
        assert!(
            !w.root()
                .join("cache/locks")
                .read_dir()
                .unwrap()
                .any(|_| true),
            "released step locks leave no files"
        );
        consistent(&w, "racing builds");

        // Prune against builds: every build ends with its image whole. A
        // container keeps the base image from `prune -a`.
        w.ok(&[
            "run",
            "-d",
            "--name",
            "keep",
            "--network",
            "none",
            BB,
            "sleep",
            "600",
        ]);
        for round in 0..3 {
            race(&[
                vec!["build", "-q", "--no-cache", "-t", "p:1", c0],
                vec!["image", "prune", "-a", "-f"],
                vec!["build", "-q", "-t", "p:2", c1],
                vec!["image", "prune", "-a", "-f"],
            ]);
            for t in ["p:1", "p:2"] {
                // A finished build's tag may be pruned afterwards (no container
                // uses it), but when it is there it is whole.
                if w.tags().iter().any(|x| x.ends_with(t)) {
                    w.ok(&["run", "--rm", "--network", "none", t, "cat", "/f"]);
                }
            }
            consistent(&w, &format!("prune racing builds, round {round}"));
        }
        w.ok(&["rm", "-f", "keep"]);
        // Layers a racing build unpacked after a prune collected are
        // garbage the next prune removes.
        w.ok(&["image", "prune", "-f"]);
        w.ok(&["system", "check"]);
    });
}
