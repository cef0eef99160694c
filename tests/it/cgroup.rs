//! Containers in a delegated cgroup v2, for real: hutch started as the user
//! with subordinate ids inside the cgroup `.ci/run` delegates to it
//! (`HUTCH_TEST_CGROUP`, made as systemd's Delegate=yes makes one): each
//! container's own cgroup, `exec` joining it, `pause` through its freezer,
//! its removal, and `--memory`, `--cpus`, `--pids-limit` applied where the
//! delegated cgroup has the controller and refused in one line where not.
//! The undelegated path (both users, started outside any delegated cgroup)
//! is `confine`'s.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const BB: &str = "busybox:1.38.0-musl";

/// The limit controllers, as cgroup.controllers names them.
const CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// The delegated cgroup and its user, or why the test cannot run.
fn delegated() -> Option<(World, PathBuf)> {
    if !nix::unistd::getuid().is_root() {
        skip("starting hutch inside a delegated cgroup needs root");
        return None;
    }
    let Some(dir) = std::env::var_os("HUTCH_TEST_CGROUP").map(PathBuf::from) else {
        // .ci/run says why it made none.
        let why = std::env::var("HUTCH_TEST_NO_CGROUP")
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        skip(&format!(
            "no delegated cgroup{why}: HUTCH_TEST_CGROUP names a cgroup v2 directory \
             delegated to the user with subordinate ids (.ci/run makes one)"
        ));
        return None;
    };
    let Some(u) = user(Kind::SubIds) else {
        skip("no test user with subordinate ids");
        return None;
    };
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&dir).unwrap());
    assert_eq!(
        owner,
        u.uid,
        "{} is not delegated to {}",
        dir.display(),
        u.name
    );
    reset(&dir);
    Some((World::new(u), dir))
}

/// Put delegated cgroup `cg` back as it was delegated: no children (a
/// killed run's `hutch-<id>`, the leaf an earlier run made) and no
/// controllers on for them, so that every run tests the first start in it.
fn reset(cg: &Path) {
    fn children(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                children(&e.path(), out);
                out.push(e.path());
            }
        }
    }
    let mut dirs = Vec::new();
    children(cg, &mut dirs);
    for d in dirs {
        std::fs::write(d.join("cgroup.kill"), "1").unwrap();
        assert!(
            eventually(5, || std::fs::remove_dir(&d).is_ok()),
            "cannot remove {}",
            d.display()
        );
    }
    let control = cg.join("cgroup.subtree_control");
    let on = std::fs::read_to_string(&control).unwrap();
    let off: Vec<String> = on.split_whitespace().map(|c| format!("-{c}")).collect();
    if !off.is_empty() {
        std::fs::write(&control, off.join(" ")).unwrap();
    }
}

/// hutch with `args`, started as the user in cgroup `cg`.
fn hutch_in(w: &World, cg: &Path, args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(
            "echo $$ > \"$1/cgroup.procs\" || exit 125; uid=$2 gid=$3; shift 3; \
             exec setpriv --reuid=$uid --regid=$gid --init-groups -- \"$@\"",
        )
        .arg("sh")
        .arg(cg)
        .arg(w.user.uid.to_string())
        .arg(w.user.gid.to_string())
        .arg(hutch_bin())
        .arg("--root")
        .arg(w.root())
        .args(args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", &w.user.home)
        .env("USER", &w.user.name)
        .env("LANG", "C.UTF-8")
        .current_dir(w.path(""))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The containers' cgroups left under the delegated cgroup.
fn leftovers(cg: &Path) -> Vec<String> {
    std::fs::read_dir(cg)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.starts_with("hutch-"))
        .collect()
}

#[test]
fn a_delegated_cgroup_gives_containers_their_own_cgroup_limits_and_freezer() {
    let Some((w, cg)) = delegated() else { return };
    w.busybox();
    // Started as a login in the delegated cgroup would start it: the first
    // start finds processes in the delegated cgroup itself (hutch moves
    // them into a leaf, `init`, to enable controllers for its children);
    // later ones come from that leaf.
    let inside = |args: &[&str]| match cg.join("init") {
        leaf if leaf.is_dir() => hutch_in(&w, &leaf, args),
        _ => hutch_in(&w, &cg, args),
    };
    let info = succeeded(&inside(&["info"]), "info");
    assert!(info.contains("delegated to this user"), "{info}");

    // Its own cgroup, the root of its cgroup namespace; `exec` joins it.
    let out_dir = w.path("out");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::set_permissions(
        &out_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let vol = format!("{}:/out", out_dir.display());
    succeeded(
        &inside(&[
            "run",
            "-d",
            "--name",
            "cg",
            "--network",
            "none",
            "-v",
            &vol,
            BB,
            "sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /out/n; usleep 20000; done",
        ]),
        "run -d",
    );
    let id = w.ok(&["inspect", "-f", "{{.Id}}", "cg"]).trim().to_string();
    let pid: i32 = w
        .ok(&["inspect", "-f", "{{.State.Pid}}", "cg"])
        .trim()
        .parse()
        .unwrap();
    let own = cg.join(format!("hutch-{id}"));
    let host_view = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        host_view.contains(&format!("hutch-{id}")) && own.is_dir(),
        "{host_view}"
    );
    let seen = succeeded(&inside(&["exec", "cg", "cat", "/proc/self/cgroup"]), "exec");
    assert_eq!(seen.lines().last(), Some("0::/"), "{seen}");
    // `pause` takes the cgroup freezer: the loop stops, pid 1 is frozen
    // rather than SIGSTOPped, and it goes on after `unpause`.
    let n = || std::fs::read_to_string(out_dir.join("n")).unwrap_or_default();
    assert!(eventually(5, || !n().is_empty()));
    succeeded(&inside(&["pause", "cg"]), "pause");
    let freeze_file = std::fs::read_to_string(own.join("cgroup.freeze")).unwrap();
    assert_eq!(freeze_file.trim(), "1", "pause did not use the freezer");
    let frozen = n();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(n(), frozen, "a frozen container went on");
    let status = succeeded(
        &inside(&["inspect", "-f", "{{.State.Status}}", "cg"]),
        "inspect",
    );
    assert_eq!(status.trim(), "paused");
    succeeded(&inside(&["unpause", "cg"]), "unpause");
    assert_eq!(
        std::fs::read_to_string(own.join("cgroup.freeze"))
            .unwrap()
            .trim(),
        "0"
    );
    assert!(
        eventually(5, || n() != frozen),
        "a thawed container stays stopped"
    );
    assert_eq!(
        hutch::sandbox::cgroup::of_container(pid).as_deref(),
        Some(own.as_path())
    );
    succeeded(&inside(&["rm", "-f", "cg"]), "rm -f");
    assert!(
        eventually(5, || !own.exists()),
        "the container's cgroup stays"
    );

    // A killed supervisor leaves the (empty) cgroup; `rm` takes it.
    succeeded(
        &inside(&[
            "run",
            "-d",
            "--name",
            "orphan",
            "--network",
            "none",
            BB,
            "sleep",
            "600",
        ]),
        "run -d",
    );
    let id = w
        .ok(&["inspect", "-f", "{{.Id}}", "orphan"])
        .trim()
        .to_string();
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(w.root().join("containers").join(&id).join("container.json")).unwrap(),
    )
    .unwrap();
    let sup = rec["supervisor"]["pid"].as_i64().unwrap() as i32;
    let left = cg.join(format!("hutch-{id}"));
    assert!(left.is_dir());
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(eventually(5, || {
        std::fs::read_to_string(left.join("cgroup.procs")).is_ok_and(|p| p.is_empty())
    }));
    assert!(left.is_dir(), "nothing removed the killed run's cgroup");
    succeeded(&inside(&["rm", "orphan"]), "rm");
    assert!(!left.exists(), "rm leaves the killed container's cgroup");

    limits_are_applied_where_the_controllers_are(&cg, &inside);
    assert_eq!(leftovers(&cg), Vec::<String>::new());
    let on = std::fs::read_to_string(cg.join("cgroup.subtree_control")).unwrap();
    if !on.trim().is_empty() {
        // The first run with a limit, started in the delegated cgroup
        // itself, moved its processes (hutch) into the leaf.
        assert!(cg.join("init").is_dir(), "{on}");
    }

    // A process put into the delegated cgroup itself once its children
    // have only threaded controllers (cpu, pids) makes it a thread root,
    // whose child cgroups take no process (that of `init` neither): hutch
    // switches them off for the move, and back on.
    if on.trim().is_empty() || on.contains("memory") {
        eprintln!(
            "not tested, the delegated cgroup as a thread root: with {} on for its \
             children, no process can be put into it",
            match on.trim() {
                "" => "no controller",
                _ => "the memory controller (a domain one)",
            }
        );
        return;
    }
    let out = hutch_in(
        &w,
        &cg,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            BB,
            "cat",
            "/proc/self/cgroup",
        ],
    );
    let (so, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{so}{err}");
    assert_eq!(so.lines().last(), Some("0::/"), "{so}{err}");
    let after = std::fs::read_to_string(cg.join("cgroup.subtree_control")).unwrap();
    assert_eq!(after, on, "the controllers were not switched back on");
    assert_eq!(leftovers(&cg), Vec::<String>::new());
}

/// `--memory`, `--cpus` and `--pids-limit` in the delegated cgroup `cg`:
/// each limit whose controller its parent gives it is written and honoured
/// (Docker's exit 137 for the OOM-killed, forks stop at the limit); each
/// other one is one warning naming the controller and the fix, or an
/// error with `--strict-limits`. `hutch info` says which.
fn limits_are_applied_where_the_controllers_are(cg: &Path, inside: &dyn Fn(&[&str]) -> Output) {
    let given = std::fs::read_to_string(cg.join("cgroup.controllers")).unwrap();
    let have: Vec<&str> = CONTROLLERS
        .into_iter()
        .filter(|c| given.split_whitespace().any(|g| g == *c))
        .collect();
    let missing: Vec<&str> = CONTROLLERS
        .into_iter()
        .filter(|c| !have.contains(c))
        .collect();
    let flag = |c: &str| match c {
        "cpu" => "--cpus",
        "memory" => "--memory",
        _ => "--pids-limit",
    };
    let flags = |cs: &[&str]| cs.iter().map(|c| flag(c)).collect::<Vec<_>>().join(", ");
    // On a v1/v2 hybrid machine the fix for a controller v2 lacks is the
    // machine's (its v1 hierarchy holds it), not a delegation.
    let hybrid = cg.starts_with("/sys/fs/cgroup/unified");
    let v2_root = if hybrid {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    let in_v2 = std::fs::read_to_string(Path::new(v2_root).join("cgroup.controllers")).unwrap();
    // The fixes for the controllers `cs`: one for those cgroup v2 lacks
    // and one for those it has but does not delegate, each naming its
    // controllers together.
    let fixes = |cs: &[&str]| {
        let (not_in_v2, not_delegated): (Vec<&str>, Vec<&str>) = cs
            .iter()
            .partition(|c| !in_v2.split_whitespace().any(|h| h == **c));
        let it = |cs: &[&str]| if cs.len() == 1 { "it" } else { "them" };
        let mut fixes = Vec::new();
        if !not_in_v2.is_empty() {
            let (which, it) = (not_in_v2.join(", "), it(&not_in_v2));
            fixes.push(match hybrid {
                true => format!(
                    "{which}: this v1/v2 hybrid machine's v1 hierarchy holds {it}; boot with \
                     systemd.unified_cgroup_hierarchy=1"
                ),
                false => format!("{which}: the machine's cgroup v2 hierarchy has none"),
            });
        }
        if !not_delegated.is_empty() {
            fixes.push(format!(
                "{}: its parent does not enable {it} for you; delegate {it}",
                not_delegated.join(", "),
                it = it(&not_delegated)
            ));
        }
        fixes
    };

    let info = succeeded(&inside(&["info"]), "info");
    let line = info
        .lines()
        .find(|l| l.trim_start().starts_with("limits:"))
        .unwrap_or_default();
    if !have.is_empty() {
        assert!(line.contains(&format!("; {}: yes", flags(&have))), "{line}");
    }
    if !missing.is_empty() {
        let no = format!(
            "; {}: no — your delegated cgroup {} has no {} controller (",
            flags(&missing),
            cg.display(),
            missing.join(", ")
        );
        assert!(line.contains(&no), "{line}");
        for fix in fixes(&missing) {
            assert!(line.contains(&fix), "{fix}: {line}");
        }
    }

    let cases = [
        (
            "memory",
            vec!["--memory", "32m"],
            // A shell variable of 100 MiB: beyond memory.max and the
            // swap Docker allows beside it.
            "cat /sys/fs/cgroup/memory.max; x=$(yes | head -c 100m); echo survived",
        ),
        (
            "cpu",
            vec!["--cpus", "0.5"],
            // The quota as the container sees it; not what a busy loop
            // then gets, which depends on the machine's load.
            "cat /sys/fs/cgroup/cpu.max",
        ),
        (
            "pids",
            vec!["--pids-limit", "5"],
            // Each fork that succeeds says so; the shell (pid 1) is one of
            // the five.
            "cat /sys/fs/cgroup/pids.max; i=0; while [ $i -lt 8 ]; do sleep 600 & \
             i=$((i+1)); echo started $i; done",
        ),
    ];
    for (controller, limit, script) in cases {
        let run = |strict: &[&str], script: &str| {
            let mut args = vec!["run", "--rm", "--network", "none"];
            args.extend(strict);
            args.extend(&limit);
            args.extend([BB, "sh", "-c", script]);
            inside(&args)
        };
        let out = run(&["--strict-limits"], script);
        let (so, err) = (stdout(&out), stderr(&out));
        if !have.contains(&controller) {
            assert_eq!(
                out.status.code(),
                Some(125),
                "{limit:?} --strict-limits: {so}{err}"
            );
            assert!(
                one_error(&err) && err.contains(&format!("{} cannot be applied", limit[0])),
                "{err}"
            );
            let out = run(&[], "echo ran");
            let (so, err) = (stdout(&out), stderr(&out));
            assert_eq!(so, "ran\n", "{limit:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{limit:?}: {err}");
            assert!(
                err.contains(&format!("{} not applied: ", limit[0]))
                    && err.contains(&format!("no {controller} controller"))
                    && fixes(&[controller]).iter().all(|f| err.contains(f)),
                "{limit:?}: {err}"
            );
            continue;
        }
        assert!(!err.contains("not applied"), "{limit:?}: {err}");
        let first = so.lines().next().unwrap_or_default();
        match controller {
            "memory" => {
                assert_eq!(first, "33554432", "{so}{err}");
                assert_eq!(out.status.code(), Some(137), "not OOM-killed: {so}{err}");
                assert!(!so.contains("survived"), "{so}");
            }
            "cpu" => {
                assert_eq!(first, "50000 100000", "{so}{err}");
                assert!(out.status.success(), "{so}{err}");
            }
            _ => {
                assert_eq!(first, "5", "{so}{err}");
                assert_eq!(
                    so.lines().last(),
                    Some("started 4"),
                    "forks beyond the limit: {so}{err}"
                );
                assert!(err.contains("can't fork"), "{so}{err}");
            }
        }
    }

    // All three at once: those the delegated cgroup has are applied, the
    // others named in the one line.
    if !have.is_empty() && !missing.is_empty() {
        let files: Vec<String> = have
            .iter()
            .map(|c| {
                let file = match *c {
                    "cpu" => "cpu.max",
                    "memory" => "memory.max",
                    _ => "pids.max",
                };
                format!("/sys/fs/cgroup/{file}")
            })
            .collect();
        let mut args = vec![
            "run",
            "--rm",
            "--network",
            "none",
            "--memory",
            "32m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "7",
            BB,
            "cat",
        ];
        args.extend(files.iter().map(String::as_str));
        let out = inside(&args);
        let (so, err) = (stdout(&out), stderr(&out));
        assert!(out.status.success(), "{so}{err}");
        for (c, v) in have.iter().zip(so.lines()) {
            let want = match *c {
                "cpu" => "50000 100000",
                "memory" => "33554432",
                _ => "7",
            };
            assert_eq!(v, want, "{c} beside what is not applied: {so}");
        }
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("{} not applied: ", flags(&missing))),
            "{err}"
        );
    }
}
