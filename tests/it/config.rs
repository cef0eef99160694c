//! `$XDG_CONFIG_HOME/hutch/config.toml`: per-machine defaults layered
//! under environment variables and flags, each effective value shown by
//! `hutch info` with where it came from, and a bad file refused in one line
//! naming the file, the line and the key.

use crate::common::*;
use std::process::Command;

/// `hutch` as the world's user with its config directory in the world.
fn hutch(w: &World) -> Command {
    let mut c = w.hutch();
    c.env("XDG_CONFIG_HOME", w.path("cfg"));
    c
}

fn write_config(w: &World, text: &str) -> String {
    w.write("cfg/hutch/config.toml", text)
        .to_string_lossy()
        .into_owned()
}

/// `hutch info`'s settings as (key, value, source).
fn settings(c: &mut Command) -> Vec<(String, String, String)> {
    let out = succeeded(&c.output().unwrap(), "hutch info");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap().to_string();
            (f("key"), f("value"), f("origin"))
        })
        .collect()
}

fn setting(all: &[(String, String, String)], key: &str) -> (String, String) {
    let (_, v, o) = all.iter().find(|(k, _, _)| k == key).unwrap();
    (v.clone(), o.clone())
}

#[test]
fn config_file_sets_defaults_under_env_and_flags() {
    for_each_user(|mut w| {
        w.driver = None;
        let bb = w.busybox();
        // Nothing set: built-in defaults.
        let s = settings(hutch(&w).args(["info", "--format", "json"]));
        assert_eq!(setting(&s, "network"), ("auto".into(), "default".into()));
        assert_eq!(setting(&s, "log_level"), ("info".into(), "default".into()));

        let file = write_config(
            &w,
            "# this machine\nnetwork = \"none\"\nuserns = \"single\"\n\
             storage_driver = \"copy\"\nlog_level = \"warn\"\n",
        );
        let s = settings(hutch(&w).args(["info", "--format", "json"]));
        assert_eq!(setting(&s, "network"), ("none".into(), format!("{file}:2")));
        assert_eq!(
            setting(&s, "userns"),
            ("single".into(), format!("{file}:3"))
        );
        assert_eq!(
            setting(&s, "storage_driver"),
            ("copy".into(), format!("{file}:4"))
        );
        assert_eq!(
            setting(&s, "log_level"),
            ("warn".into(), format!("{file}:5"))
        );
        assert_eq!(setting(&s, "root").1, "flag --root");
        let text = succeeded(&hutch(&w).arg("info").output().unwrap(), "info");
        assert!(text.contains(&format!("config file: {file}\n")), "{text}");
        assert!(
            text.contains(&format!("  network = none ({file}:2)\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("storage driver: copy (set by {file}:4)")),
            "{text}"
        );

        // Environment variables beat the file, flags beat both.
        let s = settings(
            hutch(&w)
                .env("HUTCH_NETWORK", "host")
                .env("HUTCH_LOG_LEVEL", "error")
                .args(["--log-level", "debug", "info", "--format", "json"]),
        );
        assert_eq!(
            setting(&s, "network"),
            ("host".into(), "environment variable HUTCH_NETWORK".into())
        );
        assert_eq!(
            setting(&s, "log_level"),
            ("debug".into(), "flag --log-level".into())
        );

        // The file's values reach `run`: one mapped id, no network but
        // loopback, the copy driver (shown by the debug trace).
        let out = hutch(&w)
            .args(["--log-level", "debug", "run", "--rm", bb])
            .args(["sh", "-c", "cat /proc/self/uid_map; ls /sys/class/net"])
            .output()
            .unwrap();
        let text = succeeded(&out, "run with config.toml");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0]
                .split_whitespace()
                .eq(["0", &w.user.uid.to_string(), "1"]),
            "{text}"
        );
        assert_eq!(lines[1], "lo", "{text}");
        assert!(
            stderr(&out).contains("debug: storage driver: copy"),
            "{}",
            stderr(&out)
        );
        // A flag still wins over the file.
        let text = succeeded(
            &hutch(&w)
                .args([
                    "run",
                    "--rm",
                    "--network",
                    "host",
                    bb,
                    "ls",
                    "/sys/class/net",
                ])
                .output()
                .unwrap(),
            "run --network host",
        );
        assert!(text.lines().count() > 1, "{text}");
    });
}

#[test]
fn config_file_moves_the_root() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    let root = w.path("elsewhere");
    let file = write_config(&w, &format!("root = {:?}\n", root.to_str().unwrap()));
    let mut c = w.as_user(hutch_bin());
    c.env("XDG_CONFIG_HOME", w.path("cfg"));
    let out = succeeded(
        &c.args(["info", "--format", "json"]).output().unwrap(),
        "info",
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["store"], root.to_str().unwrap());
    let s = v["settings"].as_array().unwrap();
    let r = s.iter().find(|s| s["key"] == "root").unwrap();
    assert_eq!(r["origin"], format!("{file}:1"));
}

#[test]
fn a_bad_config_file_is_one_line_naming_file_line_and_key() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    for (text, expected) in [
        (
            "userns = \"auto\"\nstorage_driver = \"zfs\"\n",
            ":2: storage_driver: unknown storage driver 'zfs' (use overlay, fuse or copy)",
        ),
        (
            "\n\nnetwrok = \"none\"\n",
            ":3: netwrok: unknown field `netwrok`",
        ),
        (
            "log_level = 3\n",
            ":1: log_level: invalid type: integer `3`",
        ),
    ] {
        let file = write_config(&w, text);
        let out = hutch(&w).args(["images"]).output().unwrap();
        assert_eq!(out.status.code(), Some(125), "{text}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!("Error: {file}{expected}")),
            "{err}\nexpected: {expected}"
        );
    }
    // A bad environment variable names the variable.
    std::fs::remove_file(w.path("cfg/hutch/config.toml")).unwrap();
    let out = hutch(&w)
        .env("HUTCH_USERNS", "sometimes")
        .args(["run", "--rm", "nosuch", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).starts_with("Error: HUTCH_USERNS: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rm_layer_is_shown_with_its_source_and_a_bad_one_is_one_line() {
    for_each_user(|w| {
        let s = settings(hutch(&w).args(["info", "--format", "json"]));
        assert_eq!(setting(&s, "rm_layer"), ("disk".into(), "default".into()));
        let file = write_config(&w, "\nrm_layer = \"memory\"\n");
        let s = settings(hutch(&w).args(["info", "--format", "json"]));
        assert_eq!(
            setting(&s, "rm_layer"),
            ("memory".into(), format!("{file}:2"))
        );
        let text = succeeded(&hutch(&w).arg("info").output().unwrap(), "info");
        assert!(
            text.contains(&format!("  rm_layer = memory ({file}:2)\n")),
            "{text}"
        );
        // The variable beats the file.
        let s = settings(
            hutch(&w)
                .env("HUTCH_RM_LAYER", "disk")
                .args(["info", "--format", "json"]),
        );
        assert_eq!(
            setting(&s, "rm_layer"),
            ("disk".into(), "environment variable HUTCH_RM_LAYER".into())
        );

        // A bad value, in the file or the variable: one line, exit 125,
        // nothing run.
        let bb = w.busybox();
        let file = write_config(&w, "rm_layer = \"ram\"\n");
        let out = hutch(&w)
            .args(["run", "--rm", bb, "true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(
            stderr(&out),
            format!(
                "Error: {file}:1: rm_layer: unknown rm_layer value 'ram' (use memory or disk)\n"
            )
        );
        std::fs::remove_file(&file).unwrap();
        let out = hutch(&w)
            .env("HUTCH_RM_LAYER", "tmpfs")
            .args(["run", "--rm", bb, "true"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125));
        assert_eq!(
            stderr(&out),
            "Error: HUTCH_RM_LAYER: unknown rm_layer value 'tmpfs' (use memory or disk)\n"
        );
    });
}
