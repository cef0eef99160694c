//! What reaches stderr: progress bars on a terminal and plain lines
//! otherwise (load, save, commit), and `--log-level`: debug traces the
//! sandbox setup step by step, error hides warnings.

use crate::common::*;

/// The positions of `needles` in `text`, requiring each after the previous.
fn in_order(text: &str, needles: &[&str]) {
    let mut at = 0;
    for n in needles {
        match text[at..].find(n) {
            Some(i) => at += i + n.len(),
            None => panic!("{n:?} missing (or out of order) in:\n{text}"),
        }
    }
}

#[test]
fn progress_is_plain_lines_off_a_terminal() {
    for_each_user(|w| {
        let layout = image("busybox-musl");
        let out = w.run(&["load", "-i", layout.to_str().unwrap()]);
        assert_eq!(
            stdout(&out),
            "Loaded image: docker.io/library/busybox:1.38.0-musl\n"
        );
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        // The config and the one layer, then the end.
        assert_eq!(lines.len(), 3, "{err}");
        assert!(
            lines[..2]
                .iter()
                .all(|l| l.starts_with("Copying blob ") && l.ends_with(')') && !l.contains('\r')),
            "{err}"
        );
        assert_eq!(lines[2], "Writing the images");
        // -q and --log-level warn silence it.
        let quiet = w.run(&["load", "-q", "-i", layout.to_str().unwrap()]);
        assert!(quiet.status.success() && stderr(&quiet).is_empty());
        let warn = w.run(&[
            "--log-level",
            "warn",
            "load",
            "-i",
            layout.to_str().unwrap(),
        ]);
        assert!(warn.status.success() && stderr(&warn).is_empty());

        let file = w.path("bb.tar");
        let out = w.run(&["save", "-o", file.to_str().unwrap(), "busybox:1.38.0-musl"]);
        assert!(out.status.success() && stdout(&out).is_empty());
        let err = stderr(&out);
        assert_eq!(err.matches("Copying blob ").count(), 2, "{err}");
        assert!(
            err.ends_with("Writing manifest to image destination\n"),
            "{err}"
        );

        w.ok(&["run", "--name", "c", "busybox:1.38.0-musl", "touch", "/x"]);
        let out = w.run(&["commit", "c", "localhost/c:1"]);
        assert!(stdout(&out).starts_with("sha256:"));
        in_order(
            &stderr(&out),
            &["Copying blob ", "Writing manifest to image destination\n"],
        );
    });
}

#[test]
fn a_terminal_gets_a_bar() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    let cmd = format!(
        "{} --root {} load -i {}",
        hutch_bin().display(),
        w.root().display(),
        image("busybox-musl").display()
    );
    // script(1) gives hutch a pseudo-terminal and copies what it draws.
    let out = w
        .as_user("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let text = succeeded(&out, "script hutch load");
    assert!(text.contains("Loading ["), "{text:?}");
    assert!(text.contains("2/2 blobs"), "{text:?}");
    assert!(
        text.contains("Loaded image: docker.io/library/busybox:1.38.0-musl"),
        "{text:?}"
    );
}

#[test]
fn debug_traces_the_sandbox_setup_and_error_hides_warnings() {
    for_each_user(|w| {
        let bb = w.busybox();
        let quiet = w.run(&["run", "--rm", bb, "true"]);
        assert!(
            quiet.status.success() && stderr(&quiet).is_empty(),
            "{}",
            stderr(&quiet)
        );
        let out = w.run(&[
            "--log-level",
            "debug",
            "run",
            "--rm",
            "--network",
            "none",
            bb,
            "true",
        ]);
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        in_order(
            &err,
            &[
                "debug: user namespace: ",
                "debug: storage driver: ",
                "debug: namespaces: clone new user, mount, pid, uts, ipc, cgroup, net\n",
                "debug: id maps (",
                "uid 0->",
                "debug: root filesystem: ",
                "debug: setup 1: make every mount a slave",
                "debug: setup 4: mount the root filesystem\n",
                "mount a fresh /proc",
                "mask /proc/kcore",
                "pivot_root into the new root",
                "debug: confinement: capabilities CAP_CHOWN",
                "seccomp default profile (",
                "debug: process: [\"true\"] as root in /\n",
                "debug: cloned pid ",
                "debug: released the child into its setup",
                "exec'd the command\n",
            ],
        );
        // --verbose is debug too.
        let v = w.run(&["--verbose", "run", "--rm", "--network", "none", bb, "true"]);
        assert!(stderr(&v).contains("debug: setup 1: "));

        // Cgroup limits cannot apply here: a warning, hidden at error level.
        let limited = [
            "run",
            "--rm",
            "--network",
            "none",
            "--memory",
            "64m",
            bb,
            "true",
        ];
        let out = w.run(&limited);
        assert!(
            stderr(&out).contains("warning: --memory"),
            "{}",
            stderr(&out)
        );
        let mut args = vec!["--log-level", "error"];
        args.extend(limited);
        let out = w.run(&args);
        assert!(
            out.status.success() && stderr(&out).is_empty(),
            "{}",
            stderr(&out)
        );
    });
}

#[test]
fn build_commit_and_snapshot_draw_their_work_on_a_terminal_only() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    w.busybox();
    // 2 MiB that do not compress: the layer's export takes a few reports.
    let data: Vec<u8> = (0..2u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    w.write("ctx/data", data);
    w.write(
        "ctx/Containerfile",
        "FROM busybox:1.38.0-musl\nCOPY data /data\nRUN echo ran && echo ran > /ran\n",
    );
    w.busybox_project("proj");
    // script(1) gives hutch a pseudo-terminal and copies what it draws.
    let on_a_terminal = |dir: &str, args: &str| {
        let cmd = format!(
            "cd {} && {} --root {} {args}",
            w.path(dir).display(),
            hutch_bin().display(),
            w.root().display()
        );
        let out = w
            .as_user("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("TERM", "xterm")
            .env("HOME", w.path("proj"))
            .output()
            .unwrap();
        succeeded(&out, &cmd)
    };
    let built = on_a_terminal(".", "build --network none -t localhost/drawn:1 ctx");
    in_order(
        &built,
        &[
            "STEP 2/3: COPY data /data",
            "reading the build context",
            "exporting the layer",
            // The bar's line is cleared before the step's last line.
            "\x1b[2K--> ",
            "STEP 3/3: RUN echo ran",
            "\nran\r\n",
            "exporting the layer",
            "\x1b[2K--> ",
            "Successfully tagged localhost/drawn:1",
        ],
    );

    w.ok(&[
        "run",
        "--name",
        "c",
        "--network",
        "none",
        "busybox:1.38.0-musl",
        "touch",
        "/x",
    ]);
    let committed = on_a_terminal(".", "commit c localhost/c:1");
    in_order(
        &committed,
        &["writing the layer", "Copying blob ", "Writing manifest"],
    );

    w.ok_in("proj", &["shell", "--", "touch", "/tmp/mark"]);
    let snap = on_a_terminal("proj", "env snapshot");
    in_order(&snap, &["writing the layer", "version 1 ("]);

    // Off a terminal: the same commands, only their plain lines.
    let again = w.run(&[
        "build",
        "--no-cache",
        "--network",
        "none",
        "-t",
        "localhost/drawn:2",
        "ctx",
    ]);
    let err = stderr(&again);
    assert!(again.status.success(), "{err}");
    assert!(
        !err.contains("exporting") && !err.contains('\x1b') && !err.contains('\r'),
        "{err}"
    );
    let snap = w.ok_in("proj", &["env", "snapshot"]);
    assert_eq!(
        stderr(&snap).lines().collect::<Vec<_>>().len(),
        1,
        "{}",
        stderr(&snap)
    );
    w.ok_in("proj", &["env", "rm"]);
}

/// hutch with fd 1 or 2 closed by its caller: the stream is /dev/null, as
/// std's runtime would make it, and never a file hutch opens afterwards (a
/// container's output written into a record, a namespace handle passed on as
/// a container's stdout).
#[test]
fn a_standard_stream_closed_by_the_caller_is_dev_null() {
    for_each_user(|w| {
        let image = w.busybox();
        // `hutch run --network none ARGS` as the world runs hutch (its
        // user, root and driver), started by a shell that closes `fd` first.
        let run_closed = |fd: &str, args: &[&str]| {
            let hutch = w.hutch();
            let mut c = w.as_user("sh");
            c.envs(hutch.get_envs().filter_map(|(k, v)| Some((k, v?))))
                .arg("-c")
                .arg(format!("exec \"$@\" {fd}>&-"))
                .arg("sh")
                .arg(hutch.get_program())
                .args(hutch.get_args())
                .args(["run", "--network", "none"])
                .args(args);
            c.output().expect("spawn sh")
        };
        let out = run_closed("1", &["--rm", image, "echo", "hi"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let out = run_closed("2", &["--rm", image, "sh", "-c", "echo oops >&2"]);
        assert!(out.status.success(), "{}", stdout(&out));
        let out = run_closed("1", &["--name", "kept", image, "echo", "SENTINEL"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(w.ok(&["logs", "kept"]), "SENTINEL\n");
        w.ok(&["rm", "kept"]);
        // hutch's own messages go nowhere, and the exit code still says why.
        let out = run_closed("2", &["--rm", "--pull", "never", "no-such-image"]);
        assert_eq!(out.status.code(), Some(125));
    });
}
