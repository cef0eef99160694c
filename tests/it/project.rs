//! Project environments end to end, as both test users: `hutch shell` in a
//! project built from the local Alpine image, the caller's identity and
//! paths inside, root installs that persist, `env stop`/`rm`, the three
//! home modes, rebuilds on change that hash nothing when nothing moved,
//! the watcher that vouches for unchanged inputs so an entry stats none,
//! concurrent entries sharing one environment, and the file's errors.

use crate::common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

pub(crate) const ALPINE_TGZ: &str = "alpine-3.20/alpine-minirootfs-3.20.3-x86_64.tar.gz";

/// A project directory of a world with the local Alpine image imported;
/// its environment is removed when the test ends, so no container outlives it.
pub(crate) struct Proj<'a> {
    pub w: &'a World,
    pub dir: PathBuf,
    /// Variables every hutch call in the project gets.
    pub vars: Vec<(String, String)>,
}

impl<'a> Proj<'a> {
    pub(crate) fn new(w: &'a World, files: &[(&str, &str)]) -> Proj<'a> {
        let img = image(ALPINE_TGZ);
        w.ok(&["import", img.to_str().unwrap(), "local/alpine:3.20"]);
        w.write("home/.dotfile", "from the host\n");
        w.write("proj/.keep", "");
        for (name, text) in files {
            w.write(&format!("proj/{name}"), text);
        }
        Proj {
            w,
            dir: w.path("proj"),
            vars: Vec::new(),
        }
    }

    /// hutch in `sub` of the project, with the world's own home as $HOME.
    pub(crate) fn run_in(&self, sub: &str, args: &[&str]) -> Output {
        self.w
            .hutch()
            .current_dir(self.dir.join(sub))
            .env("HOME", self.w.path("home"))
            .envs(self.vars.iter().cloned())
            .args(args)
            .output()
            .expect("spawn hutch")
    }

    pub(crate) fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run_in("", args);
        succeeded(&out, &format!("hutch {args:?}"));
        (stdout(&out), stderr(&out))
    }

    pub(crate) fn fails_in(&self, args: &[&str]) -> (Option<i32>, String) {
        let out = self.run_in("", args);
        assert!(!out.status.success(), "hutch {args:?} should have failed");
        (out.status.code(), stderr(&out))
    }

    /// `hutch shell -- sh -c SCRIPT`'s stdout.
    pub(crate) fn sh(&self, script: &str) -> String {
        self.ok(&["shell", "--", "sh", "-c", script]).0
    }

    pub(crate) fn root_sh(&self, script: &str) -> String {
        self.ok(&["shell", "-u", "root", "--", "sh", "-c", script])
            .0
    }
}

impl Drop for Proj<'_> {
    fn drop(&mut self) {
        if !self.dir.exists() {
            return;
        }
        let _ = self.run_in("", &["env", "rm"]);
    }
}

pub(crate) const CONTAINERFILE: &str =
    "ARG BASE=local/alpine:3.20\nFROM $BASE\nRUN echo built > /built\n";

#[test]
fn scratch_project_is_entered_as_the_caller_and_keeps_root_installs() {
    for_each_user(|w| {
        let file = format!("{CONTAINERFILE}VOLUME /cache\n");
        let p = Proj::new(&w, &[("Containerfile", &file), ("hutch.toml", "")]);
        w.write("proj/src/deep/.keep", "");
        let out = p.sh("id -u; id -un; pwd; cat /built; touch made-inside");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], w.user.uid.to_string(), "{out}");
        assert_eq!(lines[1], w.user.name, "{out}");
        assert_eq!(lines[2], p.dir.to_str().unwrap(), "{out}");
        assert_eq!(lines[3], "built");
        let made = std::fs::metadata(p.dir.join("made-inside")).unwrap();
        assert_eq!((made.uid(), made.gid()), (w.user.uid, w.user.gid));

        // The current directory is kept when it is inside the project.
        let out = p.run_in("src/deep", &["shell", "--", "pwd"]);
        assert_eq!(
            succeeded(&out, "pwd").trim(),
            p.dir.join("src/deep").to_str().unwrap()
        );

        // One command's exit status is hutch's.
        assert_eq!(
            p.run_in("", &["shell", "--", "sh", "-c", "exit 7"])
                .status
                .code(),
            Some(7)
        );
        // A command that is not there, or cannot be run, exits as Docker's
        // do (127, 126), and the line says which.
        let out = p.run_in("", &["shell", "--", "/no/such/tool"]);
        assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
        assert!(stderr(&out).contains("/no/such/tool"), "{}", stderr(&out));
        let out = p.run_in("", &["shell", "--", "/etc/hostname"]);
        assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));

        // Root installs under /usr; the caller sees it, across entries and a stop.
        assert_eq!(
            p.root_sh("id -u; echo tool > /usr/local/bin/tool-x; id -un")
                .trim(),
            "0\nroot"
        );
        assert_eq!(p.sh("cat /usr/local/bin/tool-x").trim(), "tool");
        p.ok(&["env", "stop"]);
        assert!(p.ok(&["env", "status"]).0.contains("(stopped)"));
        // A stopped environment starts after one no-change check (the one
        // made before taking the environment's lock stands), and its
        // watcher starts with it.
        let (out, err) = p.ok(&["--verbose", "shell", "--", "cat", "/usr/local/bin/tool-x"]);
        assert_eq!(out.trim(), "tool");
        assert!(err.contains("starting environment container"), "{err}");
        assert_eq!(err.matches(" statted, ").count(), 1, "{err}");
        assert!(p.ok(&["env", "status"]).0.contains("(running)"));
        vouched_entry(&p);

        // `env rm` then an entry: a fresh environment, without the old
        // one's anonymous volume (the image's VOLUME).
        assert_eq!(w.ok(&["volume", "ls", "-q"]).lines().count(), 1);
        p.ok(&["env", "rm"]);
        assert_eq!(w.ok(&["volume", "ls", "-q"]), "");
        assert!(p.ok(&["env", "status"]).0.contains("none"));
        assert_eq!(
            p.sh("test -e /usr/local/bin/tool-x && echo kept || echo fresh")
                .trim(),
            "fresh"
        );

        // adduser and addgroup rename new files over /etc/passwd and
        // /etc/group, which are the environment's own files.
        let out = p.root_sh("addgroup -S crew && adduser -S -D -H -G crew mate && id mate");
        assert!(out.contains("(mate)") && out.contains("(crew)"), "{out}");
        assert_eq!(
            p.sh("id -un; grep -c ^mate: /etc/passwd"),
            format!("{}\n1\n", w.user.name)
        );

        // A project that moved: one line naming both paths, and `env rm`
        // from the new place removes the environment of the old one.
        let moved = Proj {
            w: &w,
            dir: w.path("moved"),
            vars: Vec::new(),
        };
        std::fs::rename(&p.dir, &moved.dir).unwrap();
        let (code, err) = moved.fails_in(&["shell", "--", "true"]);
        assert_eq!(code, Some(125));
        assert!(
            err.contains(&format!(
                "was at {}, and it is now at {}",
                p.dir.display(),
                moved.dir.display()
            )) && err.contains("hutch env rm"),
            "{err}"
        );
        let status = moved.ok(&["env", "status"]).0;
        assert!(
            status.contains(&format!("made at {}", p.dir.display())),
            "{status}"
        );
        let (_, err) = moved.ok(&["env", "rm"]);
        assert!(
            err.contains(&format!("had at {}", p.dir.display())),
            "{err}"
        );
        assert_eq!(w.ok(&["ps", "-a", "-q"]), "", "the old container is gone");
        assert_eq!(moved.sh("cat /built"), "built\n", "a new environment");
    });
}

fn home_project<'a>(w: &'a World, mode: &str, more: &str) -> Proj<'a> {
    Proj::new(
        w,
        &[
            ("Containerfile", CONTAINERFILE),
            ("hutch.toml", &format!("[run]\nhome = \"{mode}\"\n{more}")),
        ],
    )
}

/// A socket at `path` with an agent behind it: a real ssh-agent run as the
/// user when the host has one, else a listener the test makes.
enum Agent {
    Ssh(std::process::Child),
    Listener(#[allow(dead_code)] std::os::unix::net::UnixListener),
}

impl Agent {
    fn start(w: &World, path: &Path) -> Agent {
        if !Path::new("/usr/bin/ssh-agent").exists() {
            return Agent::Listener(std::os::unix::net::UnixListener::bind(path).unwrap());
        }
        let child = w
            .as_user("/usr/bin/ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(path)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if path.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Agent::Ssh(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Agent::Ssh(c) = self {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn home_modes() {
    for_each_user(|w| {
        let home = w.path("home");
        let h = home.to_str().unwrap();

        // The private home with every passthrough: sockets the test made,
        // git's config from the host home, the locale of each entry.
        let run = w.path("run");
        w.write("run/.keep", "");
        let _agent = Agent::start(&w, &run.join("agent.sock"));
        let _wayland = std::os::unix::net::UnixListener::bind(run.join("wl-test")).unwrap();
        w.write("home/.gitconfig", "[user]\n\tname = Tester\n");
        w.write("home/.Xauthority", "cookie\n");
        let mut p = home_project(
            &w,
            "private",
            "passthrough = [\"ssh-agent\", \"display\", \"gpu\", \"git\", \"locale\"]\n",
        );
        let var = |k: &str, v: &Path| (k.to_string(), v.display().to_string());
        p.vars = vec![
            var("SSH_AUTH_SOCK", &run.join("agent.sock")),
            var("XDG_RUNTIME_DIR", &run),
            var("XAUTHORITY", &home.join(".Xauthority")),
            ("WAYLAND_DISPLAY".into(), "wl-test".into()),
            ("DISPLAY".into(), ":99".into()),
            ("LC_TIME".into(), "en_GB.UTF-8".into()),
        ];
        let (out, err) = p.ok(&[
            "shell",
            "--",
            "sh",
            "-c",
            &format!(
                "echo $HOME; test -e $HOME/.dotfile && echo host || echo own; echo mine > {h}/.private; \
                 test -S $SSH_AUTH_SOCK && stat -c %i $SSH_AUTH_SOCK; \
                 test -S $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY && stat -c %i $XDG_RUNTIME_DIR/$WAYLAND_DISPLAY; \
                 echo $DISPLAY; cat $XAUTHORITY; cat $HOME/.gitconfig; \
                 (echo x >> $HOME/.gitconfig) 2>/dev/null || echo read-only; echo $LC_TIME"
            ),
        ]);
        let ino = |p: &Path| std::fs::symlink_metadata(p).unwrap().ino();
        assert_eq!(
            out,
            format!(
                "{h}\nown\n{}\n{}\n:99\ncookie\n[user]\n\tname = Tester\nread-only\nen_GB.UTF-8\n",
                ino(&run.join("agent.sock")),
                ino(&run.join("wl-test")),
            ),
            "{err}"
        );
        if !Path::new("/dev/dri").exists() {
            assert!(
                err.contains("passthrough gpu: this host has no /dev/dri"),
                "{err}"
            );
        }
        p.vars.pop();
        assert_eq!(p.sh("echo \"[$LC_TIME]\""), "[]\n", "read at each entry");
        assert_eq!(
            p.sh("cat $HOME/.private").trim(),
            "mine",
            "persists across entries"
        );
        assert!(
            !home.join(".private").exists(),
            "the host home is untouched"
        );
        drop(p);
        std::fs::remove_dir_all(w.path("proj")).unwrap();

        let p = home_project(&w, "host", "");
        let out = p.sh("cat $HOME/.dotfile; echo from-env > $HOME/.hostwrite");
        assert_eq!(out, "from the host\n");
        assert_eq!(
            std::fs::read_to_string(home.join(".hostwrite")).unwrap(),
            "from-env\n"
        );
        drop(p);
        std::fs::remove_dir_all(w.path("proj")).unwrap();

        let p = home_project(&w, "overlay", "");
        let out = p.sh("cat $HOME/.dotfile; echo changed > $HOME/.dotfile; cat $HOME/.dotfile");
        assert_eq!(out, "from the host\nchanged\n");
        assert_eq!(
            p.sh("cat $HOME/.dotfile"),
            "changed\n",
            "writes stay in the environment"
        );
        assert_eq!(
            std::fs::read_to_string(home.join(".dotfile")).unwrap(),
            "from the host\n",
            "the host file is unchanged"
        );
    });
}

fn two_steps(second: &str) -> String {
    format!(
        "ARG BASE=local/alpine:3.20\nFROM $BASE\n\
         RUN head -c 16 /dev/urandom | od -An -x > /one\n\
         COPY data.txt /data.txt\n\
         RUN {second}\n"
    )
}

#[test]
fn edits_rebuild_from_the_changed_step_and_unchanged_entries_hash_nothing() {
    for_each_user(|w| {
        let p = Proj::new(
            &w,
            &[
                ("Containerfile", &two_steps("echo first > /two")),
                ("data.txt", "data 1\n"),
                ("hutch.toml", ""),
            ],
        );
        let before = p.sh("cat /one /two /data.txt");
        assert!(before.ends_with("first\ndata 1\n"), "{before}");

        // Unchanged: every recorded input statted, none hashed, no build.
        let (_, err) = p.ok(&["--verbose", "shell", "--", "true"]);
        assert!(err.contains(" 0 hashed, 0 changed"), "{err}");
        assert!(
            !err.contains("inputs: hashed") && !err.contains("STEP"),
            "{err}"
        );

        // Touched but the same: hashed once, no rebuild, then stat-only again.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3);
        std::fs::File::options()
            .write(true)
            .open(p.dir.join("data.txt"))
            .unwrap()
            .set_modified(later)
            .unwrap();
        let (_, err) = p.ok(&["--verbose", "shell", "--", "true"]);
        assert!(
            err.contains("inputs: hashed") && err.contains("data.txt"),
            "{err}"
        );
        assert!(!err.contains("STEP"), "{err}");
        let (_, err) = p.ok(&["--verbose", "shell", "--", "true"]);
        assert!(err.contains(" 0 hashed, 0 changed"), "{err}");

        // Something installed in the old environment, kept on rebuild.
        p.root_sh("echo mine > /etc/installed");

        // Editing the last step reruns only it.
        w.write("proj/Containerfile", two_steps("echo second > /two"));
        let (out, err) = p.ok(&["shell", "--", "sh", "-c", "cat /one /two /data.txt"]);
        assert!(err.contains("Containerfile changed: rebuilding"), "{err}");
        assert_eq!(err.matches("--> CACHED").count(), 2, "{err}");
        let first_line = |s: &str| s.lines().next().unwrap_or("").to_string();
        assert_eq!(
            first_line(&out),
            first_line(&before),
            "the first RUN is cached"
        );
        assert!(out.ends_with("second\ndata 1\n"), "{out}");
        assert!(err.contains("is kept as version 1"), "{err}");
        assert_eq!(
            p.sh("test -e /etc/installed && echo old || echo new")
                .trim(),
            "new"
        );

        // A context file COPY read changes: rebuilt from that step.
        w.write("proj/data.txt", "data 2\n");
        let (out, err) = p.ok(&["shell", "--", "cat", "/data.txt"]);
        assert!(err.contains("data.txt changed"), "{err}");
        assert_eq!(out, "data 2\n");

        // A definition that fails to build leaves the environment as it was.
        w.write(
            "proj/Containerfile",
            two_steps("echo second > /two") + "RUN exit 3\n",
        );
        let (out, err) = p.ok(&["shell", "--", "cat", "/data.txt"]);
        assert!(
            err.contains("the build failed: entering the unchanged environment"),
            "{err}"
        );
        assert_eq!(out, "data 2\n");

        // The kept version still has what was installed in it.
        p.ok(&["env", "rollback", "1"]);
        assert_eq!(p.sh("cat /etc/installed"), "mine\n");
    });
}

/// An entry while the environment's watcher vouches for every input:
/// its verbose trace, once the watcher has caught up (it starts with the
/// container and checks again after the record changes).
fn vouched_entry(p: &Proj) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (_, err) = p.ok(&["--verbose", "shell", "--", "true"]);
        if err.contains("the watcher vouches for") {
            return err;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher never vouched: {err}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The pids of this world's environment watchers.
fn watchers(w: &World) -> Vec<i32> {
    let mine = w.root().display().to_string();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).map(String::as_str) == Some("env-watcher")
            && args.iter().any(|a| a.starts_with(&mine))
        {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_watcher_vouches_for_unchanged_inputs_until_a_copied_tree_changes() {
    for_each_user(|w| {
        let p = Proj::new(
            &w,
            &[
                (
                    "Containerfile",
                    "ARG BASE=local/alpine:3.20\nFROM $BASE\nCOPY tree /tree\n",
                ),
                ("hutch.toml", ""),
                ("tree/a", "a1\n"),
                ("tree/deep/b", "b1\n"),
            ],
        );
        let files = "cd /tree && find . -type f | sort | xargs cat";
        assert_eq!(p.sh(files), "a1\nb1\n");

        // Unchanged: the watcher answers, nothing is statted.
        let err = vouched_entry(&p);
        assert!(err.contains("inputs: 0 statted"), "{err}");
        assert!(!err.contains("STEP"), "{err}");

        // Each change is seen by the very next entry, with no wait.
        let rebuilt = |want: &str| {
            let (out, err) = p.ok(&["shell", "--", "sh", "-c", files]);
            assert!(err.contains("changed: rebuilding"), "{err}");
            assert_eq!(out, want);
        };
        w.write("proj/tree/a", "a2\n");
        rebuilt("a2\nb1\n");
        vouched_entry(&p);
        // A file in a directory made after the watches were added.
        w.write("proj/tree/late/c", "c1\n");
        rebuilt("a2\nb1\nc1\n");
        vouched_entry(&p);
        std::fs::remove_file(w.path("proj/tree/deep/b")).unwrap();
        rebuilt("a2\nc1\n");

        // Without its watcher an entry stats every input again, and still
        // sees a change.
        vouched_entry(&p);
        // (The replaced containers' watchers may be ending still.)
        let pids = watchers(&w);
        assert!(!pids.is_empty());
        // It runs at a lower priority than whoever enters (nice 10).
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pids[0])).unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        assert_eq!(after_name.split(' ').nth(16), Some("10"), "{stat}");
        for pid in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let (_, err) = p.ok(&["--verbose", "shell", "--", "true"]);
        assert!(
            err.contains(" statted, 0 hashed, 0 changed") && !err.contains("vouches"),
            "{err}"
        );
        assert!(!err.contains("inputs: 0 statted"), "{err}");
        w.write("proj/tree/a", "a3\n");
        rebuilt("a3\nc1\n");
        // The new container has a watcher of its own; `env rm` ends it.
        vouched_entry(&p);
        p.ok(&["env", "rm"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !watchers(&w).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "a watcher outlived env rm"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
}

#[test]
fn concurrent_entries_build_once_and_share_the_environment() {
    for_each_user(|w| {
        let p = Proj::new(&w, &[("Containerfile", CONTAINERFILE), ("hutch.toml", "")]);
        let spawn = || {
            w.hutch()
                .current_dir(&p.dir)
                .env("HOME", w.path("home"))
                .args([
                    "shell",
                    "--",
                    "sh",
                    "-c",
                    "readlink /proc/self/ns/pid; cat /built",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let (oa, ob) = (succeeded(&a, "first"), succeeded(&b, "second"));
        assert_eq!(oa, ob, "one environment");
        let builds = [&a, &b]
            .iter()
            .filter(|o| stderr(o).contains("STEP 1/"))
            .count();
        assert_eq!(builds, 1, "{}\n{}", stderr(&a), stderr(&b));
        let ps = w.ok(&["ps", "-a", "-q"]);
        assert_eq!(ps.lines().count(), 1, "{ps}");
    });
}

#[test]
fn project_file_errors_and_init() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    w.write(
        "proj/hutch.toml",
        "[run]\nshell = \"/bin/sh\"\nhomee = \"host\"\n",
    );
    let p = Proj {
        w: &w,
        dir: w.path("proj"),
        vars: Vec::new(),
    };
    let out = p.run_in("", &["shell", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    let file = p.dir.join("hutch.toml");
    assert!(
        err.contains(&format!("{}:3: run.homee: unknown field", file.display())),
        "{err}"
    );

    w.write("proj/hutch.toml", "[run]\nports = 8080\n");
    let err = stderr(&p.run_in("", &["env", "status"]));
    assert!(err.contains(":2: run.ports: invalid type"), "{err}");
    w.write(
        "proj/hutch.toml",
        "[run]\npassthrough = [\"ssh-agent\", \"x11\"]\n",
    );
    let err = stderr(&p.run_in("", &["env", "status"]));
    assert!(
        err.contains(":2: run.passthrough: unknown variant `x11`"),
        "{err}"
    );

    w.write("empty/.keep", "");
    let out = w
        .hutch()
        .current_dir(w.path("empty"))
        .args(["shell"])
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("run `hutch init`"),
        "{}",
        stderr(&out)
    );

    let init = |dir: &Path| w.hutch().current_dir(dir).arg("init").output().unwrap();
    succeeded(&init(&w.path("empty")), "init");
    let text = std::fs::read_to_string(w.path("empty/hutch.toml")).unwrap();
    assert!(text.contains("[build]") && text.contains("home = \"private\""));
    assert!(stderr(&init(&w.path("empty"))).contains("exists already"));
    let out = w
        .hutch()
        .current_dir(w.path("empty"))
        .args(["env", "status"])
        .output()
        .unwrap();
    assert!(succeeded(&out, "status").contains("none"));
}

#[test]
fn allowed_projects_put_launchers_on_path_until_hutch_toml_changes() {
    for_each_user(|w| {
        let def = "ARG BASE=local/alpine:3.20\nFROM $BASE\n\
                   RUN printf '#!/bin/sh\\necho \"only-here in $(pwd) $*\"\\nexit 5\\n' \
                   > /usr/local/bin/only-here && chmod +x /usr/local/bin/only-here\n";
        let toml = "[export]\ncommands = [\"only-here\"]\n";
        let p = Proj::new(&w, &[("Containerfile", def), ("hutch.toml", toml)]);
        w.write("proj/sub/.keep", "");
        let sub = p.dir.join("sub");

        let out = p.run_in("", &["env", "path"]);
        assert!(!out.status.success() && stderr(&out).contains("hutch allow"));
        assert_eq!(p.ok(&["env", "path", "--if-allowed"]).0, "");

        p.ok(&["allow"]);
        let bin = PathBuf::from(p.ok(&["env", "path"]).0.trim());
        let out = w
            .as_user(bin.join("only-here"))
            .arg("x y")
            .current_dir(&sub)
            .env("HOME", w.path("home"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert_eq!(
            stdout(&out),
            format!("only-here in {} x y\n", sub.display())
        );

        // The hook puts the directory on PATH inside the project only.
        let hook = w.ok(&["hook", "bash"]);
        let script = format!(
            "{hook}\ncd {}; _hutch_hook; only-here; echo \"status $?\"; \
             cd /; _hutch_hook; command -v only-here || echo gone",
            sub.display()
        );
        let out = w
            .as_user("bash")
            .args(["-c", &script])
            .env("HUTCH_ROOT", w.root())
            .env("HOME", w.path("home"))
            .output()
            .unwrap();
        assert_eq!(
            stdout(&out),
            format!("only-here in {} \nstatus 5\ngone\n", sub.display()),
            "{}",
            stderr(&out)
        );

        // Editing hutch.toml revokes the allowance.
        w.write("proj/hutch.toml", format!("{toml}# edited\n"));
        assert_eq!(p.ok(&["env", "path", "--if-allowed"]).0, "");
        assert!(!p.run_in("", &["env", "path"]).status.success());
    });
}

/// What a server on 127.0.0.1:`port` says first, retried while it starts.
fn answer(port: u16) -> String {
    use std::io::Read;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut got = String::new();
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = s.read_to_string(&mut got);
            if !got.is_empty() {
                return got;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing answers on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn devcontainer_json_alone_defines_the_environment() {
    for_each_user(|w| {
        let port = free_port();
        let json = format!(
            r#"{{
  // JSONC: comments and trailing commas
  "build": {{
    "dockerfile": "Dockerfile",
    "context": "..",
    "args": {{ "BASE": "local/alpine:3.20", "GREETING": "hello from ${{localWorkspaceFolderBasename}}" }},
    "options": ["--build-arg", "OPT=from-options"],
  }},
  "workspaceFolder": "/workspace",
  "containerEnv": {{ "PROJECT_ENV": "set" }},
  "remoteEnv": {{ "REMOTE": "r-${{containerEnv:PROJECT_ENV}}" }},
  "remoteUser": "dev",
  "forwardPorts": ["localhost:{port}"],
  "mounts": ["source=${{localWorkspaceFolder}}/data,target=/data,type=bind", {{ "type": "volume", "target": "/cache" }}],
  "runArgs": ["--env", "RUNARG=yes"],
  "initializeCommand": "echo init >> host.log",
  "onCreateCommand": "echo oncreate >> ${{containerWorkspaceFolder}}/lifecycle.log",
  "postCreateCommand": "echo created >> ${{containerWorkspaceFolder}}/lifecycle.log",
  /* every start: a log line and a server */
  "postStartCommand": ["sh", "-c", "echo started >> lifecycle.log; nc -lk -p {port} -e echo answered </dev/null >/dev/null 2>&1 &"],
  "postAttachCommand": {{ "log": "echo attached >> lifecycle.log" }},
  "customizations": {{ "vscode": {{}} }},
  // The image's CMD is the container's command (it keeps it running).
  "overrideCommand": false,
}}"#
        );
        let df = "ARG BASE\nFROM $BASE\nARG GREETING\nARG OPT\n\
                  RUN echo \"$GREETING\" > /greeting && echo \"$OPT\" > /option\n\
                  CMD [\"sh\", \"-c\", \"echo cmd >> /tmp/cmd.log; trap 'exit 0' TERM; \
                  while :; do sleep 86400 & wait $!; done\"]\n";
        let p = Proj::new(
            &w,
            &[
                (".devcontainer/devcontainer.json", &json),
                (".devcontainer/Dockerfile", df),
                ("data/file", "mounted\n"),
            ],
        );
        let (out, err) = p.ok(&[
            "shell",
            "--",
            "sh",
            "-c",
            "id -un; id -u; echo $PROJECT_ENV $REMOTE $RUNARG; cat /greeting /option /data/file; \
             test -d /cache && test -f /workspace/.devcontainer/Dockerfile && echo mounts",
        ]);
        assert_eq!(
            out,
            format!(
                "dev\n{}\nset r-set yes\nhello from proj\nfrom-options\nmounted\nmounts\n",
                w.user.uid
            ),
            "{err}"
        );
        assert!(err.contains("hutch ignores customizations"), "{err}");
        let log = || std::fs::read_to_string(p.dir.join("lifecycle.log")).unwrap();
        let host = || std::fs::read_to_string(p.dir.join("host.log")).unwrap();
        assert_eq!(log(), "oncreate\ncreated\nstarted\n");
        assert_eq!(host(), "init\n", "initializeCommand on the host");
        assert_eq!(answer(port), "answered\n");
        assert_eq!(p.sh("cat /tmp/cmd.log"), "cmd\n", "the image's CMD ran");

        p.ok(&["shell", "--", "true"]);
        assert_eq!(
            log(),
            "oncreate\ncreated\nstarted\n",
            "nothing reruns on a plain entry"
        );
        p.ok(&["shell"]);
        assert_eq!(log(), "oncreate\ncreated\nstarted\nattached\n");
        p.ok(&["env", "stop"]);
        p.ok(&["shell", "--", "true"]);
        assert_eq!(
            log(),
            "oncreate\ncreated\nstarted\nattached\nstarted\n",
            "postStartCommand on every start"
        );
        assert_eq!(host(), "init\ninit\n");
        assert_eq!(answer(port), "answered\n");
        assert_eq!(
            p.sh("cat /tmp/cmd.log"),
            "cmd\ncmd\n",
            "the image's CMD runs at each start"
        );
    });
}

/// Replace the template's commented `args` line with a local base image.
fn with_base(w: &World, base: &str) {
    let path = w.path("proj/hutch.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("# args = "))
        .expect("the template names its args");
    w.write(
        "proj/hutch.toml",
        text.replace(line, &format!("args = {{ BASE = \"{base}\" }}")),
    );
}

#[test]
fn alpine_shell_template_builds_from_a_local_base() {
    for_each_user(|w| {
        let p = Proj::new(&w, &[]);
        p.ok(&["init", "--template", "alpine-shell"]);
        with_base(&w, "local/alpine:3.20");
        let out = p.sh("cat /etc/alpine-release; cat /etc/profile.d/hutch-prompt.sh");
        assert!(out.starts_with("3.20"), "{out}");
        assert!(out.contains("(alpine)"), "{out}");
        let (_, err) = p.fails_in(&["init", "--template", "nosuch"]);
        assert!(err.contains("alpine-shell, debian-c"), "{err}");
    });
}

#[test]
fn debian_c_template_installs_with_apt_and_compiles_in_the_project() {
    for_each_user(|w| {
        let Some(base) = crate::debian::debian_base(&w) else {
            return;
        };
        let p = Proj::new(
            &w,
            &[(
                "hello.c",
                "#include <stdio.h>\nint main(void) { puts(\"compiled here\"); return 3; }\n",
            )],
        );
        w.ok(&["import", base.to_str().unwrap(), "local/debian:12"]);
        p.ok(&["init", "--template", "debian-c"]);
        with_base(&w, "local/debian:12");
        let out = p.run_in(
            "",
            &["shell", "--", "sh", "-c", "cc -o hello hello.c && ./hello"],
        );
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert_eq!(stdout(&out), "compiled here\n");
        let bin = std::fs::metadata(p.dir.join("hello")).unwrap();
        assert_eq!(
            bin.uid(),
            w.user.uid,
            "the program is the caller's on the host"
        );
    });
}
