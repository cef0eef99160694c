//! Failures have one shape: `Error: <what>`, then `hint: <what to do>` where
//! there is something to do, and exit 125 (1 for a missing image or
//! container, as Docker); `hutch info` names the fix for
//! single-id mode.

use crate::common::*;

/// stderr of a failing hutch call, requiring exit 125.
fn failure(w: &World, args: &[&str]) -> String {
    let (code, err) = w.fails(args);
    assert_eq!(code, 125, "{args:?}: {err}");
    err
}

#[test]
fn common_errors_have_a_hint_line() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    assert_eq!(
        failure(&w, &["run", "--rm", "--pull=never", "nosuch:1", "true"]),
        "Error: no such image: nosuch:1 (and --pull=never forbids pulling it)\n\
         hint: `hutch images` lists the local images; `hutch pull NAME` or \
         `hutch load -i FILE` adds one\n"
    );
    // A missing object exits 1, as Docker's commands do.
    assert_eq!(
        w.fails(&["inspect", "nosuch:1"]),
        (
            1,
            "Error: no such image: nosuch:1\nhint: see `hutch images`, or `hutch load` it first\n"
                .to_string()
        )
    );
    // pasta asked for but not on PATH.
    let bb = w.busybox();
    let empty = w.path("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = w
        .hutch()
        .env("PATH", &empty)
        .args(["run", "--rm", "--network", "pasta", bb, "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("Error: ") && lines[0].contains("pasta is not installed"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("hint: install the `passt` package"),
        "{err}"
    );
}

#[test]
fn info_names_the_fix_in_single_id_mode() {
    for_each_user(|w| {
        let text = w.ok(&["info"]);
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["info", "--format", "json"])).unwrap();
        let fix = &v["userns"]["fix"];
        match w.user.kind {
            Kind::Single => {
                let want = format!(
                    "  fix: give {} subordinate ids: sudo usermod --add-subuids",
                    w.user.name
                );
                assert!(text.lines().any(|l| l.starts_with(&want)), "{text}");
                assert!(fix.as_str().unwrap().contains("usermod"), "{v}");
            }
            Kind::SubIds => {
                assert!(!text.contains("  fix:"), "{text}");
                assert!(fix.is_null(), "{v}");
            }
        }
    });
}

/// Colour on a terminal only, and never with NO_COLOR: hutch's own error
/// labels and clap's messages alike.
#[test]
fn colour_only_on_a_terminal_without_no_color() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    // `script` gives the command a terminal.
    let on_tty = |cmd: &str, no_color: bool| {
        let mut c = w.as_user("script");
        c.env("TERM", "xterm").args(["-qec", cmd, "/dev/null"]);
        if no_color {
            c.env("NO_COLOR", "1");
        }
        stdout(&c.output().unwrap())
    };
    let bin = hutch_bin().display().to_string();
    let root = w.root().display().to_string();
    let inspect = format!("{bin} --root {root} inspect nosuch");
    let typo = format!("{bin} --root {root} imags");
    let tty = on_tty(&inspect, false);
    assert!(
        tty.contains("\x1b[1;31mError:\x1b[0m no such image"),
        "{tty:?}"
    );
    assert!(tty.contains("\x1b[1;36mhint:\x1b[0m"), "{tty:?}");
    assert!(
        on_tty(&typo, false).contains('\x1b'),
        "clap colours on a terminal"
    );
    for cmd in [&inspect, &typo] {
        let plain = on_tty(cmd, true);
        assert!(
            !plain.contains('\x1b') && !plain.is_empty(),
            "{cmd}: {plain:?}"
        );
    }
    let piped = w.run(&["inspect", "nosuch"]);
    assert!(!stderr(&piped).contains('\x1b'));
}
