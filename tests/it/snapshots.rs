//! Snapshots (insta) of what people read most: the `--help` of every
//! subcommand and the common errors. A change to any of them fails this
//! test until the snapshot in `tests/it/snapshots/` is updated with it:
//! review with `cargo insta review` (cargo install cargo-insta), or accept
//! every change with `INSTA_UPDATE=always cargo test --test it snapshots`
//! and read the diff of `tests/it/snapshots/` before committing.

use crate::common::*;
use clap::CommandFactory;
use std::process::Command;

/// Every visible command path: `[]`, `["run"]`, `["system", "df"]`, ...
fn command_paths() -> Vec<Vec<String>> {
    fn walk(c: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        out.push(path.clone());
        for s in c.get_subcommands() {
            if s.is_hide_set() || s.get_name() == "help" {
                continue;
            }
            let mut p = path.clone();
            p.push(s.get_name().to_string());
            walk(s, p, out);
        }
    }
    let mut top = hutch::cli::Cli::command();
    top.build();
    let mut out = Vec::new();
    walk(&top, Vec::new(), &mut out);
    out
}

/// The binary's own `--help` output, at a fixed width.
fn help(path: &[String]) -> String {
    let out = Command::new(hutch_bin())
        .args(path)
        .arg("--help")
        .env_clear()
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    succeeded(&out, &format!("hutch {path:?} --help"))
}

#[test]
fn help_of_every_subcommand() {
    let paths = command_paths();
    assert!(paths.len() > 40, "{paths:?}");
    for p in paths {
        let name = if p.is_empty() {
            "help-hutch".to_string()
        } else {
            format!("help-{}", p.join("-"))
        };
        insta::assert_snapshot!(name, help(&p));
    }
}

/// stderr and exit code of a failing command, the world's paths replaced.
fn failure(w: &World, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{}", stdout(&out));
    let dir = w.dir.path().to_str().unwrap();
    format!(
        "exit {}\n{}",
        out.status.code().unwrap_or(-1),
        stderr(&out).replace(dir, "[WORLD]")
    )
}

#[test]
fn common_errors() {
    let Some(single) = user(Kind::Single) else {
        return skip("no single-id test user");
    };
    let w = World::new(single);
    let bb = w.busybox();
    let hutch = |args: &[&str]| {
        let mut c = w.hutch();
        c.args(args).env("XDG_CONFIG_HOME", w.path("cfg"));
        c
    };
    let cases: &[(&str, &[&str])] = &[
        (
            "missing-image-run",
            &["run", "--rm", "--pull=never", "nosuch:1", "true"],
        ),
        ("missing-image-inspect", &["inspect", "nosuch:1"]),
        (
            "subuid-missing",
            &["run", "--rm", "--userns=subids", bb, "true"],
        ),
        ("bad-flag", &["run", "--bogus", bb]),
        ("bad-flag-value", &["run", "--storage-driver", "zfs", bb]),
        ("missing-argument", &["tag", bb]),
        ("typo-rn", &["rn"]),
        ("typo-imags", &["imags"]),
        // Only hidden commands are close: no suggestion at all.
        ("typo-userns-keepr", &["userns-keepr"]),
        ("typo-port-forwardr", &["port-forwardr"]),
        ("missing-container", &["stop", "nosuch"]),
        ("missing-network", &["network", "rm", "nosuch"]),
        ("no-project", &["shell"]),
        ("bad-userns", &["run", "--userns", "bogus", bb]),
    ];
    for (name, args) in cases {
        insta::assert_snapshot!(format!("error-{name}"), failure(&w, &mut hutch(args)));
    }
    w.write(
        "cfg/hutch/config.toml",
        "userns = \"auto\"\nnetwrok = \"none\"\n",
    );
    insta::assert_snapshot!("error-bad-config", failure(&w, &mut hutch(&["images"])));
}
