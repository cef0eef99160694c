//! Storage drivers: the same filesystem semantics on native overlay, the
//! FUSE overlay and the copy driver; the FUSE upper dir in the native
//! format; keep-id on FUSE without another copy of the image; and the FUSE
//! server's end with its container; keep-id with the store under a
//! private directory.

use crate::common::*;
use std::path::{Path, PathBuf};

const SEMANTICS: &str = include_str!("data/fs-semantics.sh");
const DRIVERS: [&str; 3] = ["overlay", "fuse", "copy"];

#[test]
fn filesystem_semantics_hold_on_every_driver() {
    for_each_user(|w| {
        let bb = w.busybox();
        let mut diffs = Vec::new();
        for d in DRIVERS {
            let name = format!("sem-{d}");
            let out = w.ok(&[
                "run",
                "--name",
                &name,
                "--network",
                "none",
                "--storage-driver",
                d,
                bb,
                "sh",
                "-c",
                SEMANTICS,
            ]);
            assert!(out.ends_with("ALL OK\n"), "{d}: {out}");
            diffs.push(w.ok(&["diff", &name]));
        }
        // The FUSE overlay leaves exactly the upper dir overlayfs leaves.
        assert!(diffs[0].lines().count() > 10_000, "{}", diffs[0]);
        assert_eq!(diffs[0], diffs[1], "docker diff: overlay vs fuse");
        let only = |a: &str, b: &str| -> Vec<String> {
            let b: std::collections::BTreeSet<&str> = b.lines().collect();
            a.lines()
                .filter(|l| !b.contains(l))
                .map(String::from)
                .collect()
        };
        // The copy driver's changes read from its copy: the same, except
        // that it keeps the image's hard links as Docker's vfs driver does,
        // so the chmod of one busybox name shows on every name.
        assert_eq!(only(&diffs[0], &diffs[2]), Vec::<String>::new());
        let extra = only(&diffs[2], &diffs[0]);
        assert!(extra.contains(&"C /bin/sh".to_string()), "{extra:?}");
        assert!(extra.iter().all(|l| l.starts_with("C /bin/")), "{extra:?}");
        // ... and commits and exports like the others.
        w.ok(&["commit", "--compress", "zstd", "sem-copy", "sem:copy"]);
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "sem:copy",
            "sh",
            "-c",
            "cat /tmp/r2 /etc/shadow; ls -A /var; test ! -e /etc/group && ls /tmp/many | wc -l",
        ]);
        assert_eq!(out, "x\nover\n10000\n", "the committed copy");
        let tar = w.path("sem-copy.tar");
        w.ok(&["export", "-o", tar.to_str().unwrap(), "sem-copy"]);
        let list = user_ok(&w, "tar", &["-tf", tar.to_str().unwrap()]);
        let has = |n: &str| list.lines().any(|l| l.trim_end_matches('/') == n);
        assert!(has("tmp/r2") && has("bin/busybox") && has("var"), "{list}");
        assert!(!has("etc/group") && !has("var/www"), "{list}");
    });
}

/// Every file under `dir` with its size, and the total.
fn disk_usage(dir: &Path) -> (Vec<PathBuf>, u64) {
    fn walk(p: &Path, out: &mut Vec<PathBuf>, total: &mut u64) {
        let Ok(m) = std::fs::symlink_metadata(p) else {
            return;
        };
        *total += m.len();
        out.push(p.to_path_buf());
        if m.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                walk(&e.path(), out, total);
            }
        }
    }
    let mut out = Vec::new();
    let mut total = 0;
    walk(dir, &mut out, &mut total);
    (out, total)
}

/// The bytes the files under `dir` occupy on disk (sparse files count
/// only their data).
fn blocks(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let mut total = m.blocks() * 512;
    if m.is_dir() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            total += blocks(&e.path());
        }
    }
    total
}

/// `system df`'s row of cached layers.
fn layer_cache_row(w: &World) -> serde_json::Value {
    let df: serde_json::Value =
        serde_json::from_str(&w.ok(&["system", "df", "--format", "json"])).unwrap();
    df.as_array()
        .unwrap()
        .iter()
        .find(|r| r["Type"] == "Layer cache")
        .unwrap()
        .clone()
}

fn layer_cache_total(w: &World) -> u64 {
    layer_cache_row(w)["Total"].as_u64().unwrap()
}

#[test]
fn keep_id_on_fuse_translates_owners_without_copying_the_image() {
    for_each_user(|w| {
        let bb = w.busybox();
        // Unpack the image for the default mapping.
        w.ok(&["run", "--rm", "--network", "none", bb, "true"]);
        let layers = w.root().join("o");
        let before = disk_usage(&layers);
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--userns=keep-id",
            "--storage-driver",
            "fuse",
            bb,
            "sh",
            "-c",
            "id -u; stat -c %u:%g /bin/busybox /etc; touch /tmp/mine; stat -c %u /tmp/mine",
        ]);
        let uid = w.user.uid;
        // With one id there is no root inside to show: the native driver
        // shows the caller too.
        let owner = if w.user.kind == Kind::SubIds {
            "0:0".to_string()
        } else {
            format!("{uid}:{}", w.user.gid)
        };
        assert_eq!(
            out,
            format!("{uid}\n{owner}\n{owner}\n{uid}\n"),
            "the image's owners, the caller's new files"
        );
        assert_eq!(
            disk_usage(&layers),
            before,
            "keep-id on FUSE added nothing to the layer cache"
        );
        // Native overlay: a metadata-only layer whose files point into the
        // same unpacked layers (a data-only lower), not another copy.
        let native = |user: &str, script: &str| {
            w.ok(&[
                "run",
                "--rm",
                "--network",
                "none",
                "--userns=keep-id",
                "--user",
                user,
                "--storage-driver",
                "overlay",
                bb,
                "sh",
                "-c",
                script,
            ])
        };
        let cache = || layer_cache_total(&w);
        let cached = cache();
        // A build killed before its layer is in place leaves only a
        // scratch dir, which check reports and the next build ignores.
        let killed = w
            .hutch()
            .env("HUTCH_CRASH_AT", "keep-id-meta-built")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--userns=keep-id",
                "--storage-driver",
                "overlay",
                bb,
                "true",
            ])
            .output()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(killed.status.signal(), Some(9), "{}", stderr(&killed));
        let check = w.run(&["system", "check"]);
        assert!(
            stdout(&check).starts_with("tmp/")
                && stdout(&check).contains("was left by a process that was killed"),
            "{}",
            stdout(&check)
        );
        assert_eq!(cache(), cached, "no metadata layer in place");
        let out = native(
            &format!("{uid}:{}", w.user.gid),
            "stat -c %u:%g /bin/busybox /etc; head -c 6 /etc/passwd; echo; \
             ls -l /bin/busybox | cut -c1-10; cmp /bin/sh /bin/busybox && echo same",
        );
        assert_eq!(
            out,
            format!("{owner}\n{owner}\nroot:x\n-rwxr-xr-x\nsame\n"),
            "owners translated, data read through the metadata layer"
        );
        if w.user.kind == Kind::SubIds {
            // Root (mapped here) writes a lower file: its data is copied up.
            let out = native(
                "0",
                "echo x >> /etc/group; head -c 5 /etc/group; tail -1 /etc/group",
            );
            assert_eq!(out, "root:x\n");
        }
        assert_eq!(
            disk_usage(&layers),
            before,
            "native keep-id copied no layer"
        );
        let meta = blocks(&w.root().join("o-meta"));
        assert!(meta > 0 && meta < before.1 / 20, "{meta} vs {}", before.1);
        assert_eq!(cache(), cached + 1, "system df counts the metadata layer");
        // ... as active while a container stands on it.
        let active = || layer_cache_row(&w)["Active"].as_u64().unwrap();
        let idle = active();
        w.ok(&[
            "create",
            "--name",
            "kid",
            "--network",
            "none",
            "--userns=keep-id",
            "--storage-driver",
            "overlay",
            bb,
            "true",
        ]);
        assert_eq!(active(), idle + 1, "the keep-id container's metadata layer");
        w.ok(&["rm", "kid"]);
        // check finds metadata layers of no image and builds an older
        // hutch left (`.NAME.PID`); repair removes them and the scratch dir.
        let orphan = format!("{}-00000000", "0".repeat(64));
        for d in [orphan.as_str(), ".x-00000000.2147483646"] {
            std::fs::create_dir(w.root().join("o-meta").join(d)).unwrap();
        }
        let check = stdout(&w.run(&["system", "check"]));
        assert!(
            check.contains(&format!(
                "metadata layer o-meta/{orphan} belongs to no image"
            )) && check
                .contains("o-meta/.x-00000000.2147483646 was left by a process that was killed")
                && check.lines().count() == 3,
            "{check}"
        );
        w.ok(&["system", "check", "--repair"]);
        let check = w.run(&["system", "check"]);
        assert!(check.status.success(), "{}", stdout(&check));
        assert_eq!(
            std::fs::read_dir(w.root().join("o-meta")).unwrap().count(),
            1,
            "repair keeps the image's metadata layer"
        );
        // It goes with its image.
        w.ok(&["rmi", bb]);
        let left: Vec<_> = std::fs::read_dir(w.root().join("o-meta"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "rmi removes the image's metadata layers: {left:?}"
        );
    });
}

#[test]
fn the_fuse_server_ends_with_its_container() {
    for_each_user(|w| {
        let bb = w.busybox();
        let id = w
            .ok(&[
                "run",
                "-d",
                "--name",
                "f",
                "--network",
                "none",
                "--storage-driver",
                "fuse",
                bb,
                "sleep",
                "1000",
            ])
            .trim()
            .to_string();
        let record = w.root().join("containers").join(&id).join("container.json");
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
        let pid = rec["pid"].as_i64().unwrap();
        let servers = fuse_servers(pid);
        assert_eq!(servers.len(), 1, "one server, outside the container's pids");
        let server = servers[0];
        let ps = w.ok(&["exec", "f", "ps", "-o", "pid,comm"]);
        assert_eq!(ps.lines().count(), 3, "the container sees no server: {ps}");
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
        assert!(mounts.contains("fuse.hutch"), "{mounts}");
        assert!(live(server));
        assert_eq!(rec["config"]["storage_driver"], "fuse");
        w.ok(&["kill", "f"]);
        w.ok(&["wait", "f"]);
        assert!(!live(server), "the server went with pid 1");
        assert!(!live(pid));
        // A restart mounts it again over the same upper dir.
        w.ok(&["rm", "f"]);
    });
}

/// Processes in the user namespace of container pid 1 `pid` but not in its
/// pid namespace: the FUSE server.
fn fuse_servers(pid: i64) -> Vec<i64> {
    let ns = |p: i64, what: &str| std::fs::read_link(format!("/proc/{p}/ns/{what}")).ok();
    let (user, pids) = (ns(pid, "user"), ns(pid, "pid"));
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|&p| live(p) && ns(p, "user") == user && ns(p, "pid") != pids)
        .collect()
}

#[test]
fn info_names_the_driver_and_each_one_passed_over() {
    for_each_user(|mut w| {
        w.driver = None;
        let json: serde_json::Value =
            serde_json::from_str(&w.ok(&["info", "--format", "json"])).unwrap();
        assert_eq!(json["storage"]["driver"], "overlay", "{json}");
        let usable: Vec<&str> = json["storage"]["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["usable"] == true)
            .map(|d| d["name"].as_str().unwrap())
            .collect();
        assert_eq!(usable, ["overlay", "fuse", "copy"], "{json}");
        let text = w.ok(&["info"]);
        assert!(text.contains("storage driver: overlay"), "{text}");
        let mut c = w.hutch();
        c.env("HUTCH_STORAGE_DRIVER", "fuse").arg("info");
        let text = succeeded(&c.output().unwrap(), "hutch info");
        assert!(text.contains("storage driver: fuse"), "{text}");
        let (_, err) = w.fails(&["run", "--storage-driver", "zfs", "x"]);
        assert!(
            err.contains("--storage-driver") && err.contains("overlay, fuse, copy"),
            "{err}"
        );
    });
}

#[test]
fn build_runs_on_the_driver_of_its_flag_or_config() {
    for_each_user(|mut w| {
        w.driver = None;
        let bb = w.busybox();
        w.write(
            "ctx/Dockerfile",
            format!("FROM {bb}\nRUN echo built > /b && rm /etc/group && chmod 700 /bin/mkdir\n"),
        );
        w.write("cfg/hutch/config.toml", "storage_driver = \"copy\"\n");
        let ctx = w.path("ctx");
        let build = |extra: &[&str]| {
            let mut c = w.hutch();
            c.env("XDG_CONFIG_HOME", w.path("cfg"))
                .args(["--log-level", "debug", "build", "--no-cache"])
                .args(extra)
                .arg(&ctx);
            let out = c.output().unwrap();
            let id = succeeded(&out, "hutch build").trim().to_string();
            (id, stderr(&out))
        };
        // config.toml's driver: the RUN's changes read from its copy.
        let (copied, err) = build(&["-t", "b:copy"]);
        assert!(err.contains("debug: storage driver: copy"), "{err}");
        // The flag beats the file; the layer is the same as overlay's,
        // except the copy keeps busybox's hard links (every name changed).
        let (_, err) = build(&["-t", "b:overlay", "--storage-driver", "overlay"]);
        assert!(err.contains("debug: storage driver: overlay"), "{err}");
        for image in ["b:copy", "b:overlay"] {
            let diff = w.ok(&["diff", bb, image]);
            for want in ["A /b", "D /etc/group", "C /bin/mkdir"] {
                assert!(diff.lines().any(|l| l == want), "{image}: {want}\n{diff}");
            }
        }
        assert!(w.ok(&["diff", bb, "b:copy"]).contains("C /bin/sh\n"));
        let out = w.ok(&["run", "--rm", "--network", "none", &copied, "cat", "/b"]);
        assert_eq!(out, "built\n");
    });
}

#[test]
fn without_native_overlay_the_root_falls_back_and_overlay_volumes_say_why() {
    for_each_user(|mut w| {
        w.driver = None;
        let bb = w.busybox();
        // The kernel feature cache, as a kernel without overlayfs in user
        // namespaces would have it.
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let features = serde_json::json!({
            "kernel": kernel.trim(), "userns_error": null, "overlay": null,
            "overlay_error": "EPERM (pretend)", "fuse_error": null,
        });
        w.write(
            &format!("root/containers/kernel-features-v3-{}.json", kernel.trim()),
            features.to_string(),
        );
        let host = w.path("ctx");
        std::fs::create_dir_all(&host).unwrap();
        let vol = format!("{}:/mnt:O", host.display());
        let (_, err) = w.fails(&["run", "--rm", "--network", "none", "-v", &vol, bb, "true"]);
        assert_eq!(
            err.lines().filter(|l| l.starts_with("Error")).count(),
            1,
            "{err}"
        );
        assert!(
            err.contains("overlay volume on /mnt (:O) needs native overlayfs")
                && err.contains("EPERM (pretend)"),
            "{err}"
        );
        let out = w.run(&["run", "--rm", "--network", "none", bb, "true"]);
        let err = stderr(&out);
        succeeded(&out, "run on the fallback driver");
        assert!(err.contains("storage driver overlay not used"), "{err}");
    });
}

/// keep-id's namespace root is a subordinate id on the host: it must not
/// need to traverse the caller's private directories above the store and
/// the state dir (a home of 0700, or 0750 with a group the namespace does
/// not map). The root group here is one keep-id never maps.
#[test]
fn keep_id_works_with_the_store_under_a_private_directory() {
    for_each_user_and_driver(&DRIVERS, |w| {
        w.busybox_project("private/proj");
        let private = w.path("private");
        if w.user.switch {
            let st = std::process::Command::new("chown")
                .arg(format!("{}:0", w.user.uid))
                .arg(&private)
                .status()
                .unwrap();
            assert!(st.success());
        }
        std::fs::set_permissions(
            &private,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let root = private.join("root");
        let hutch = |dir: &Path, args: &[&str]| {
            let mut c = w.as_user(hutch_bin());
            if let Some(d) = &w.driver {
                c.env("HUTCH_STORAGE_DRIVER", d);
            }
            c.arg("--root")
                .arg(&root)
                .current_dir(dir)
                .env("HOME", dir)
                .args(args);
            succeeded(&c.output().unwrap(), &format!("hutch {args:?}"))
        };
        let top = w.path("");
        let bb = image("busybox-musl");
        hutch(&top, &["load", "-i", bb.to_str().unwrap()]);
        let uid = w.user.uid.to_string();
        let out = hutch(
            &top,
            &[
                "run",
                "--network",
                "none",
                "--userns=keep-id",
                "--name",
                "k",
                "busybox:1.38.0-musl",
                "sh",
                "-c",
                "id -u; touch /tmp/mine",
            ],
        );
        assert_eq!(out, format!("{uid}\n"));
        assert_eq!(hutch(&top, &["diff", "k"]), "C /tmp\nA /tmp/mine\n");
        hutch(&top, &["commit", "k", "mine"]);
        let tar = w.path("k.tar");
        hutch(&top, &["export", "-o", tar.to_str().unwrap(), "k"]);
        assert!(std::fs::metadata(&tar).unwrap().len() > 0);
        hutch(&top, &["rm", "k"]);
        let out = hutch(
            &top,
            &["run", "--rm", "--network", "none", "mine", "ls", "/tmp"],
        );
        assert_eq!(out, "mine\n");
        // The unpacked layers of both mappings and keep-id's metadata
        // layer go with their images.
        hutch(&top, &["rmi", "mine", "busybox:1.38.0-musl"]);
        for d in ["o", "o-meta"] {
            let left = std::fs::read_dir(root.join(d))
                .map(|r| r.count())
                .unwrap_or(0);
            assert_eq!(left, 0, "{d} is empty");
        }
        // A project environment (keep-id) with its versions.
        hutch(&top, &["load", "-i", bb.to_str().unwrap()]);
        let proj = private.join("proj");
        let script = "id -u; touch /tmp/env-file";
        assert_eq!(
            hutch(&proj, &["shell", "--", "sh", "-c", script]),
            format!("{uid}\n")
        );
        hutch(&proj, &["env", "snapshot", "-m", "one"]);
        hutch(&proj, &["shell", "--", "touch", "/tmp/later"]);
        let diff = hutch(&proj, &["env", "diff"]);
        assert!(diff.contains("A /tmp/later"), "{diff}");
        hutch(&proj, &["env", "rm"]);
    });
}

/// A umask that takes the owner's own bits away leaves the store usable,
/// then and under the usual umask after: hutch keeps its owner's access to
/// what it makes (the store's first directory was made read-only for good).
#[test]
fn a_umask_without_the_owners_bits_leaves_the_store_usable() {
    for_each_user(|w| {
        let busybox = image("busybox-musl");
        ok_with_umask(&w, "0277", &["load", "-i", busybox.to_str().unwrap()]);
        let run = [
            "run",
            "--rm",
            "--network",
            "none",
            "busybox:1.38.0-musl",
            "echo",
            "in",
        ];
        assert_eq!(ok_with_umask(&w, "0277", &run), "in\n");
        assert_eq!(w.ok(&run), "in\n");
        w.ok(&["system", "check"]);
    });
}
