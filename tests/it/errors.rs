//! Failures have one shape: `Error: <what>`, then `hint: <what to do>` where
//! there is something to do, and exit 125; `hutch info` names the fix for
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
    assert_eq!(
        failure(&w, &["inspect", "nosuch:1"]),
        "Error: no such image: nosuch:1\nhint: see `hutch images`, or `hutch load` it first\n"
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
