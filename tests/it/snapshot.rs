//! Integration tests for snapshots and space: commit/diff/export of real
//! containers, save in every format (read back by hutch, rootless podman,
//! skopeo and umoci), podman's archives loaded and run by hutch, history,
//! diff between images, system df/check --repair and image prune (which never
//! takes an image a container uses), and clean failures (unwritable output,
//! truncated archives).

use crate::common::*;
use std::process::Output;

const BUSYBOX: &str = "docker.io/library/busybox:1.38.0-musl";

/// Rootless podman with a private store inside the world.
pub(crate) fn podman(w: &World, args: &[&str]) -> Output {
    let root = w.path("podman-root");
    let run = w.path("podman-run");
    w.as_user("podman")
        .arg("--root")
        .arg(root)
        .arg("--runroot")
        .arg(run)
        .args([
            "--storage-driver",
            "overlay",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ])
        .args(args)
        .output()
        .expect("spawn podman")
}

fn podman_ok(w: &World, args: &[&str]) -> String {
    succeeded(&podman(w, args), &format!("podman {args:?}"))
}

/// The world of the user with subordinate ids (podman needs them), if any.
fn subids_world() -> Option<World> {
    match user(Kind::SubIds) {
        Some(u) => Some(World::new(u)),
        None => {
            skip("no test user with subordinate ids");
            None
        }
    }
}

fn p(w: &World, name: &str) -> String {
    w.path(name).to_str().unwrap().to_string()
}

/// A root filesystem tarball with the given files, owned by root, as the test user.
fn rootfs_tar(w: &World, name: &str, files: &[(&str, &str)]) -> String {
    let dir = w.path(&format!("{name}.d"));
    for (f, data) in files {
        w.write(&format!("{name}.d/{f}"), data);
    }
    let out = p(w, name);
    user_ok(
        w,
        "tar",
        &[
            "--owner=0",
            "--group=0",
            "--mtime=@1000",
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            &out,
            ".",
        ],
    );
    out
}

fn id_of(w: &World, name: &str) -> String {
    w.ok(&["inspect", "--format", "{{.Id}}", name])
        .trim()
        .to_string()
}

#[test]
fn saved_archives_load_and_run_in_podman() {
    let Some(w) = subids_world() else { return };
    w.busybox();
    for (format, file) in [
        ("docker-archive", "bb-docker.tar"),
        ("oci-archive", "bb-oci.tar"),
    ] {
        w.ok(&["save", "--format", format, "-o", &p(&w, file), BUSYBOX]);
        let out = podman_ok(&w, &["load", "-i", &p(&w, file)]);
        assert!(out.contains(&format!("Loaded image: {BUSYBOX}")), "{out}");
        let id = podman_ok(&w, &["image", "inspect", "--format", "{{.Id}}", BUSYBOX]);
        assert_eq!(
            format!("sha256:{}", id.trim()),
            busybox_facts().id,
            "the config travels byte for byte"
        );
        let passwd = podman_ok(
            &w,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                BUSYBOX,
                "cat",
                "/etc/passwd",
            ],
        );
        assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
        podman_ok(&w, &["rmi", "-f", BUSYBOX]);
    }
}

#[test]
fn podman_archives_load_in_hutch() {
    let Some(w) = subids_world() else { return };
    podman_ok(
        &w,
        &[
            "pull",
            "-q",
            &format!("oci:{}", image("busybox-musl").display()),
        ],
    );
    let pid = podman_ok(&w, &["images", "-q"]);
    podman_ok(&w, &["tag", pid.trim(), "localhost/podbox:1"]);
    for format in ["docker-archive", "oci-archive"] {
        let file = p(&w, &format!("pod-{format}.tar"));
        podman_ok(
            &w,
            &[
                "save",
                "--format",
                format,
                "-o",
                &file,
                "localhost/podbox:1",
            ],
        );
        let out = w.ok(&["load", "-i", &file]);
        assert_eq!(out, "Loaded image: localhost/podbox:1\n", "{format}");
        assert_eq!(
            id_of(&w, "localhost/podbox:1"),
            busybox_facts().id,
            "{format}"
        );
        let passwd = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/podbox:1",
            "cat",
            "/etc/passwd",
        ]);
        assert!(passwd.starts_with("root:x:0:0:"), "{passwd}");
        // Its blobs are intact and complete.
        w.ok(&["system", "check"]);
        w.ok(&["rmi", "localhost/podbox:1"]);
    }
}

#[test]
fn oci_output_is_read_by_skopeo_and_umoci() {
    for_each_user(|w| {
        w.busybox();
        let dir = p(&w, "layout");
        w.ok(&["save", "--format", "oci-dir", "-o", &dir, BUSYBOX]);
        let v: serde_json::Value = serde_json::from_str(&user_ok(
            &w,
            "skopeo",
            &["inspect", &format!("oci:{dir}:{BUSYBOX}")],
        ))
        .unwrap();
        assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
        let arch = p(&w, "bb-oci.tar");
        w.ok(&["save", "--format", "oci-archive", "-o", &arch, BUSYBOX]);
        let v: serde_json::Value = serde_json::from_str(&user_ok(
            &w,
            "skopeo",
            &["inspect", &format!("oci-archive:{arch}")],
        ))
        .unwrap();
        assert_eq!(v["Os"], "linux");
        let bundle = p(&w, "bundle");
        user_ok(
            &w,
            "umoci",
            &[
                "unpack",
                "--rootless",
                "--image",
                &format!("{dir}:{BUSYBOX}"),
                &bundle,
            ],
        );
        assert!(w.path("bundle/rootfs/bin/busybox").is_file());
        // zstd recompression: skopeo still reads it, the image id is unchanged.
        let zdir = p(&w, "zlayout");
        w.ok(&[
            "save",
            "--format",
            "oci-dir",
            "--compress",
            "zstd",
            "-o",
            &zdir,
            BUSYBOX,
        ]);
        let v: serde_json::Value = serde_json::from_str(&user_ok(
            &w,
            "skopeo",
            &["inspect", "--raw", &format!("oci:{zdir}:{BUSYBOX}")],
        ))
        .unwrap();
        assert_eq!(
            v["layers"][0]["mediaType"],
            "application/vnd.oci.image.layer.v1.tar+zstd"
        );
        assert_eq!(v["config"]["digest"], busybox_facts().id);
    });
}

#[test]
fn multi_image_archives_round_trip_in_every_format() {
    for_each_user(|w| {
        w.busybox();
        let t = rootfs_tar(&w, "small.tar", &[("etc/hello", "hi\n")]);
        let small = w
            .ok(&["import", &t, "localhost/small:1"])
            .trim()
            .to_string();
        w.ok(&["tag", "localhost/small:1", "localhost/small:2"]);
        for (format, out) in [
            ("docker-archive", "multi.tar"),
            ("oci-archive", "multi-oci.tar"),
            ("oci-dir", "multi-dir"),
        ] {
            w.ok(&[
                "save",
                "--format",
                format,
                "-o",
                &p(&w, out),
                "busybox:1.38.0-musl",
                "localhost/small:1",
                "small:2",
            ]);
            let other = World::new(w.user.clone());
            let loaded = other.ok(&["load", "-i", &p(&w, out)]);
            assert_eq!(loaded.lines().count(), 3, "{format}: {loaded}");
            assert_eq!(
                other.tags(),
                [BUSYBOX, "localhost/small:1", "localhost/small:2"],
                "{format}"
            );
            assert_eq!(id_of(&other, "small:2"), small, "{format}");
            assert_eq!(id_of(&other, "busybox:1.38.0-musl"), busybox_facts().id);
        }
        // Saved by id: no name, still loadable and addressable by id.
        w.ok(&["save", "-o", &p(&w, "byid.tar"), &small[7..19]]);
        let other = World::new(w.user.clone());
        other.ok(&["load", "-i", &p(&w, "byid.tar")]);
        assert!(other.tags().is_empty());
        assert_eq!(id_of(&other, &small[7..19]), small);
    });
}

#[test]
fn save_and_load_fail_cleanly() {
    for_each_user(|w| {
        w.busybox();
        // An unwritable directory: an error naming the path, no file left.
        let ro = w.path("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::set_permissions(&ro, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        if w.user.switch {
            std::os::unix::fs::chown(&ro, Some(w.user.uid), Some(w.user.gid)).unwrap();
        }
        let target = ro.join("out.tar");
        let (code, err) = w.fails(&["save", "-o", target.to_str().unwrap(), BUSYBOX]);
        assert_eq!(code, 125);
        assert!(
            err.starts_with("Error: cannot write") && err.contains("out.tar"),
            "{err}"
        );
        assert!(one_error(&err), "{err}");
        assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
        // A missing image writes nothing either.
        let (_, err) = w.fails(&["save", "-o", &p(&w, "x.tar"), BUSYBOX, "nope:1"]);
        assert!(err.contains("no such image: nope:1"), "{err}");
        assert!(!w.path("x.tar").exists());
        // docker-archive has no compressed layers.
        let (_, err) = w.fails(&["save", "--compress", "zstd", "-o", &p(&w, "z.tar"), BUSYBOX]);
        assert!(err.contains("uncompressed"), "{err}");
        // oci-dir into a non-empty directory is refused.
        w.write("full/file", "x");
        let (_, err) = w.fails(&["save", "--format", "oci-dir", "-o", &p(&w, "full"), BUSYBOX]);
        assert!(err.contains("not empty"), "{err}");

        // A truncated archive: nothing is loaded.
        let full = p(&w, "full.tar");
        w.ok(&["save", "-o", &full, BUSYBOX]);
        let bytes = std::fs::read(&full).unwrap();
        let cut = w.write("cut.tar", &bytes[..bytes.len() / 2]);
        let other = World::new(w.user.clone());
        let (code, err) = other.fails(&["load", "-i", cut.to_str().unwrap()]);
        assert_eq!(code, 125);
        assert!(
            err.contains("truncated") || err.contains("missing"),
            "{err}"
        );
        assert!(other.tags().is_empty());
        other.ok(&["system", "check"]);
    });
}

#[test]
fn history_shows_every_step_with_its_message() {
    for_each_user(|w| {
        let t = rootfs_tar(&w, "h.tar", &[("etc/hello", "hi\n")]);
        let id = w
            .ok(&[
                "import",
                "-m",
                "first import with a long message",
                "-c",
                "CMD [\"sh\"]",
                &t,
                "localhost/hist:1",
            ])
            .trim()
            .to_string();
        let out = w.ok(&["history", "localhost/hist:1"]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].starts_with("IMAGE") && lines[0].contains("CREATED BY"));
        assert!(lines[1].starts_with(&id[7..19]), "{out}");
        assert!(lines[1].contains("hutch import"), "{out}");
        assert!(
            lines[1].ends_with("first import with a long message"),
            "{out}"
        );
        let q = w.ok(&["history", "-q", "--no-trunc", "localhost/hist:1"]);
        assert_eq!(q.trim(), id);
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["history", "--format", "json", "localhost/hist:1"]))
                .unwrap();
        assert_eq!(v[0]["comment"], "first import with a long message");
        assert!(v[0]["size"].as_u64().unwrap() > 0);
        // Busybox's single step keeps its own created_by, truncated to 45.
        w.busybox();
        let out = w.ok(&["history", "busybox:1.38.0-musl"]);
        assert!(out.contains(busybox_facts().short_id()), "{out}");
        let (_, err) = w.fails(&["history", "nope"]);
        assert!(err.contains("no such image"), "{err}");
    });
}

#[test]
fn diff_between_images_lists_added_changed_deleted() {
    for_each_user(|w| {
        let a = rootfs_tar(
            &w,
            "a.tar",
            &[
                ("etc/keep", "k"),
                ("etc/gone", "g"),
                ("etc/edit", "1"),
                ("old/x", "x"),
            ],
        );
        let b = rootfs_tar(
            &w,
            "b.tar",
            &[("etc/keep", "k"), ("etc/edit", "22"), ("etc/new", "n")],
        );
        w.ok(&["import", &a, "localhost/a:1"]);
        w.ok(&["import", &b, "localhost/b:1"]);
        let out = w.ok(&["diff", "localhost/a:1", "localhost/b:1"]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.contains(&"C /etc/edit"), "{out}");
        assert!(lines.contains(&"D /etc/gone"), "{out}");
        assert!(lines.contains(&"A /etc/new"), "{out}");
        assert!(lines.contains(&"D /old"), "{out}");
        assert!(
            !lines.contains(&"D /old/x"),
            "a deleted dir is listed once: {out}"
        );
        assert!(!out.contains("/etc/keep"), "{out}");
        // One image: what its top layer added (everything, for a single layer).
        let out = w.ok(&["diff", "localhost/b:1"]);
        assert!(out.lines().any(|l| l == "A /etc/new"), "{out}");
    });
}

#[test]
fn system_check_finds_and_repairs_a_corrupt_blob() {
    for_each_user(|w| {
        w.busybox();
        let t = rootfs_tar(&w, "c.tar", &[("etc/c", "c")]);
        w.ok(&["import", &t, "localhost/c:1"]);
        w.ok(&["system", "check"]);
        // Flip one byte of busybox's layer blob.
        let blob = w.root().join("blobs/sha256").join(busybox_facts().layer);
        let mut bytes = std::fs::read(&blob).unwrap();
        bytes[1000] ^= 0xff;
        std::fs::write(&blob, &bytes).unwrap();
        // A scratch dir of a killed process.
        std::fs::create_dir_all(w.root().join("tmp/deadbeef")).unwrap();
        if w.user.switch {
            std::os::unix::fs::chown(w.root().join("tmp/deadbeef"), Some(w.user.uid), None)
                .unwrap();
        }
        let out = w.run(&["system", "check"]);
        assert_eq!(out.status.code(), Some(1));
        let text = stdout(&out);
        assert!(
            text.contains(&format!("blob sha256:{}", &busybox_facts().layer[..8]))
                && text.contains("is corrupt"),
            "{text}"
        );
        assert!(
            text.contains(&format!("image {BUSYBOX} is damaged")),
            "{text}"
        );
        assert!(text.contains("tmp/deadbeef"), "{text}");
        assert!(stderr(&out).contains("--repair"));
        // Nothing changed without --repair.
        assert!(blob.exists());

        let out = w.ok(&["system", "check", "--repair"]);
        assert!(out.contains("removed"), "{out}");
        assert!(!blob.exists());
        assert!(!w.root().join("tmp/deadbeef").exists());
        assert_eq!(w.tags(), ["localhost/c:1"], "the intact image stays");
        w.ok(&["system", "check"]);
        // Loading busybox again makes it whole.
        w.busybox();
        assert_eq!(id_of(&w, "busybox:1.38.0-musl"), busybox_facts().id);
        w.ok(&["system", "check"]);
    });
}

#[test]
fn prune_removes_dangling_then_all() {
    for_each_user(|w| {
        w.busybox();
        let t1 = rootfs_tar(&w, "p1.tar", &[("etc/v", "1")]);
        let t2 = rootfs_tar(&w, "p2.tar", &[("etc/v", "2")]);
        let old = w.ok(&["import", &t1, "localhost/p:1"]).trim().to_string();
        // The name moves to a new image: the old one is dangling.
        w.ok(&["import", &t2, "localhost/p:1"]);
        // Still addressable by id until pruned (rolling back = re-tag it).
        w.ok(&["tag", &old[7..19], "localhost/p:old"]);
        w.ok(&["tag", "localhost/p:1", "localhost/p:old"]);
        let before = w.ok(&["images", "-q", "--no-trunc"]);
        assert!(before.contains(&old), "{before}");
        let (_, err) = w.fails(&["image", "prune"]);
        assert!(err.contains("-f"), "{err}");
        let out = w.ok(&["image", "prune", "-f"]);
        assert_eq!(out.trim(), old);
        assert_eq!(w.tags(), [BUSYBOX, "localhost/p:1", "localhost/p:old"]);
        let df = w.ok(&["system", "df"]);
        assert!(
            df.starts_with("TYPE") && df.contains("\nImages          2 "),
            "{df}"
        );
        // Nothing dangling left; -a takes every image no container uses.
        assert_eq!(w.ok(&["image", "prune", "-f"]), "");
        let gone = w.ok(&["image", "prune", "-a", "-f"]);
        assert_eq!(gone.lines().count(), 2, "{gone}");
        assert!(w.tags().is_empty());
        assert_eq!(
            std::fs::read_dir(w.root().join("blobs/sha256"))
                .unwrap()
                .count(),
            0,
            "every blob went with its images"
        );
        w.ok(&["system", "check"]);
    });
}

/// Whether `hutch run` works here; the container tests need it.
fn can_run(w: &World) -> bool {
    let out = w.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox:1.38.0-musl",
        "true",
    ]);
    if out.status.success() {
        return true;
    }
    skip(&format!(
        "hutch run does not work here: {}",
        stderr(&out).trim()
    ));
    false
}

/// The changes the commit round trip makes: create, modify, delete a file
/// and a directory, chmod, chown, symlink, hardlink and rename.
/// (With a single mapped id there is no other owner to chown to.)
fn changes(w: &World) -> String {
    let owner = if w.user.kind == Kind::SubIds {
        "12:34"
    } else {
        "0:0"
    };
    format!(
        "mkdir -p /srv/d && echo x > /srv/d/f && chown {owner} /srv/d/f && echo new > /etc/motd && \
         rm /etc/group && rm -r /home && chmod 600 /etc/passwd && echo more >> /etc/passwd && \
         ln -s /etc/motd /motd-link && ln /etc/motd /etc/motd2 && mv /etc/shadow /etc/shadow.moved"
    )
}

/// What a container of the committed image must see.
const CHECKS: &str = "cat /etc/motd && tail -1 /etc/passwd && stat -c '%a' /etc/passwd && \
    stat -c '%u:%g' /srv/d/f && readlink /motd-link && stat -c '%h' /etc/motd2 && \
    test ! -e /etc/group && test ! -e /home && test ! -e /etc/shadow && test -f /etc/shadow.moved && echo ok";

#[test]
fn commit_round_trip_shows_exactly_the_changes() {
    // The FUSE overlay's upper dir commits like native overlay's.
    for_each_user_and_driver(&["overlay", "fuse"], |w| {
        w.busybox();
        if !can_run(&w) {
            return;
        }
        let owner = if w.user.kind == Kind::SubIds {
            "12:34"
        } else {
            "0:0"
        };
        w.ok(&[
            "run",
            "--name",
            "c1",
            "--network",
            "none",
            "busybox:1.38.0-musl",
            "sh",
            "-c",
            &changes(&w),
        ]);
        let diff = w.ok(&["diff", "c1"]);
        let lines: Vec<&str> = diff.lines().collect();
        for want in [
            "C /etc",
            "A /etc/motd",
            "A /etc/motd2",
            "D /etc/group",
            "D /home",
            "C /etc/passwd",
            "A /srv",
            "A /srv/d",
            "A /srv/d/f",
            "A /motd-link",
            "D /etc/shadow",
            "A /etc/shadow.moved",
        ] {
            assert!(lines.contains(&want), "missing {want} in:\n{diff}");
        }
        let mut sorted = lines.clone();
        sorted.sort_by_key(|l| &l[2..]);
        assert_eq!(lines, sorted, "sorted by path");

        let id = w
            .ok(&[
                "commit",
                "-q",
                "-m",
                "edited etc",
                "-c",
                "ENV SNAP=1",
                "c1",
                "localhost/snap:1",
            ])
            .trim()
            .to_string();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
        let seen = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/snap:1",
            "sh",
            "-c",
            &format!("{CHECKS} && echo $SNAP"),
        ]);
        assert_eq!(
            seen,
            format!("new\nmore\n600\n{owner}\n/etc/motd\n2\nok\n1\n"),
            "the new image holds exactly the changes"
        );
        // The same change committed again: the same layer digest.
        w.ok(&["commit", "-q", "c1", "localhost/snap:2"]);
        let layers = |n: &str| w.ok(&["inspect", "--format", "{{json .RootFS.Layers}}", n]);
        assert_eq!(layers("localhost/snap:1"), layers("localhost/snap:2"));
        let history = w.ok(&["history", "localhost/snap:1"]);
        let top = history.lines().nth(1).unwrap();
        assert!(
            top.starts_with(&id[7..19]) && top.ends_with("edited etc"),
            "{history}"
        );
        assert!(
            history.lines().nth(2).unwrap().starts_with("<missing>"),
            "{history}"
        );
        // diff between the images says the same as the container diff.
        let idiff = w.ok(&["diff", "busybox:1.38.0-musl", "localhost/snap:1"]);
        for want in ["A /etc/motd", "D /etc/group", "D /home", "A /srv/d/f"] {
            assert!(
                idiff.lines().any(|l| l == want),
                "missing {want} in:\n{idiff}"
            );
        }

        // export: the merged tree, deletions applied, owners as inside.
        let tar = p(&w, "c1.tar");
        w.ok(&["export", "-o", &tar, "c1"]);
        let list = user_ok(&w, "tar", &["-tvf", &tar]);
        assert!(
            list.lines()
                .any(|l| l.contains(&owner.replace(':', "/")) && l.ends_with("srv/d/f")),
            "{list}"
        );
        assert!(list.lines().any(|l| l.contains(" bin/busybox")), "{list}");
        assert!(
            !list.contains("etc/group") && !list.contains(".wh."),
            "{list}"
        );
        // It imports as a working image.
        w.ok(&["import", "-c", "CMD [\"sh\"]", &tar, "localhost/flat:1"]);
        let seen = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/flat:1",
            "sh",
            "-c",
            CHECKS,
        ]);
        assert!(seen.ends_with("ok\n"), "{seen}");

        // zstd and docker formats, and bad input.
        w.ok(&[
            "commit",
            "-q",
            "--compress",
            "zstd",
            "c1",
            "localhost/snap:z",
        ]);
        let (_, err) = w.fails(&["commit", "--format", "docker", "--compress", "zstd", "c1"]);
        assert!(err.contains("zstd"), "{err}");
        let (_, err) = w.fails(&["commit", "nosuch"]);
        assert!(err.contains("no such container: nosuch"), "{err}");
        let (_, err) = w.fails(&["commit", "-c", "RUN x", "c1"]);
        assert!(err.contains("cannot be changed"), "{err}");
        w.ok(&["system", "check"]);
    });
}

/// Docker's commit: only the image id on stdout, and the image's config
/// is the container's (its command, entrypoint, `-e` values), with
/// `--change` on top.
#[test]
fn commit_records_the_containers_config_and_prints_only_the_id() {
    for_each_user(|w| {
        w.busybox();
        if !can_run(&w) {
            return;
        }
        let bb = "busybox:1.38.0-musl";
        w.ok(&[
            "run",
            "--name",
            "c",
            "-e",
            "A=1",
            bb,
            "sh",
            "-c",
            "echo made $A",
        ]);
        let out = w.run(&["commit", "c", "localhost/c:1"]);
        let id = succeeded(&out, "commit");
        assert!(id.starts_with("sha256:") && id.len() == 72, "{id:?}");
        assert!(!stderr(&out).contains("Layer"), "{}", stderr(&out));
        let cfg = w.inspect("localhost/c:1")["Config"].clone();
        assert_eq!(cfg["Cmd"], serde_json::json!(["sh", "-c", "echo made $A"]));
        let env: Vec<&str> = cfg["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(
            env.contains(&"A=1") && env.iter().any(|e| e.starts_with("PATH=")),
            "{env:?}"
        );
        assert_eq!(w.ok(&["run", "--rm", "localhost/c:1"]), "made 1\n");

        // --entrypoint becomes the Entrypoint, the rest the Cmd; --change
        // applies on top.
        w.ok(&["run", "--name", "e", "--entrypoint", "echo", bb, "hello"]);
        w.ok(&["commit", "e", "localhost/e:1"]);
        let cfg = w.inspect("localhost/e:1")["Config"].clone();
        assert_eq!(cfg["Entrypoint"], serde_json::json!(["echo"]));
        assert_eq!(cfg["Cmd"], serde_json::json!(["hello"]));
        assert_eq!(w.ok(&["run", "--rm", "localhost/e:1"]), "hello\n");
        w.ok(&["commit", "-c", "CMD [\"changed\"]", "e", "localhost/e:2"]);
        assert_eq!(w.ok(&["run", "--rm", "localhost/e:2"]), "changed\n");
        // A new ENTRYPOINT drops the command, as in a Dockerfile.
        w.ok(&[
            "commit",
            "-c",
            "ENTRYPOINT [\"echo\", \"ep\"]",
            "e",
            "localhost/e:3",
        ]);
        assert_eq!(w.ok(&["run", "--rm", "localhost/e:3"]), "ep\n");
    });
}

#[test]
fn images_containers_use_survive_prune_rmi_and_repair() {
    for_each_user(|w| {
        w.busybox();
        if !can_run(&w) {
            return;
        }
        let t = rootfs_tar(&w, "u.tar", &[("etc/u", "u")]);
        w.ok(&["import", &t, "localhost/used:1"]);
        w.ok(&[
            "run",
            "--name",
            "keeper",
            "--network",
            "none",
            "busybox:1.38.0-musl",
            "true",
        ]);
        let (_, err) = w.fails(&["rmi", "busybox:1.38.0-musl"]);
        assert!(err.contains("used by container keeper"), "{err}");
        // -f only untags it: the container's image stays, by id.
        w.ok(&["rmi", "-f", "busybox:1.38.0-musl"]);
        assert_eq!(id_of(&w, busybox_facts().id), busybox_facts().id);
        let out = w.ok(&["image", "prune", "-a", "-f"]);
        assert!(
            !out.contains(busybox_facts().id) && out.lines().count() == 1,
            "{out}"
        );
        assert_eq!(id_of(&w, busybox_facts().id), busybox_facts().id);
        let df: serde_json::Value =
            serde_json::from_str(&w.ok(&["system", "df", "--format", "json"])).unwrap();
        assert_eq!(df[0]["Active"], 1);
        assert_eq!(df[1]["Total"], 1);
        w.ok(&["system", "check", "--repair"]);
        // The container still has everything it needs: commit works.
        w.ok(&["commit", "-q", "keeper", "localhost/after:1"]);
        w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/after:1",
            "true",
        ]);
        // Once its containers are pruned, the image can go too.
        let (_, err) = w.fails(&["container", "prune"]);
        assert!(err.contains("-f"), "{err}");
        let pruned = w.ok(&["container", "prune", "-f"]);
        assert_eq!(pruned.lines().count(), 1, "{pruned}");
        let records = std::fs::read_dir(w.root().join("containers"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().join("container.json").exists())
            .count();
        assert_eq!(records, 0);
        let out = w.ok(&["image", "prune", "-a", "-f"]);
        assert!(out.contains(busybox_facts().id), "{out}");
        w.ok(&["system", "check"]);
    });
}

#[test]
fn running_containers_commit_with_and_without_pause() {
    for_each_user(|w| {
        w.busybox();
        if !can_run(&w) {
            return;
        }
        w.ok(&[
            "run",
            "-d",
            "--name",
            "live",
            "--network",
            "none",
            "busybox:1.38.0-musl",
            "sh",
            "-c",
            "echo ready > /ready; while :; do echo x >> /log; sleep 0.05; done",
        ]);
        // Wait until the container has written something.
        let mut ready = false;
        for _ in 0..100 {
            let d = w.ok(&["diff", "live"]);
            if d.lines().any(|l| l == "A /ready") {
                ready = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(ready, "the container never wrote /ready");
        let paused = w.run(&["commit", "-q", "--pause", "live", "localhost/live:paused"]);
        let unpaused = w.run(&["commit", "-q", "live", "localhost/live:running"]);
        w.ok(&["stop", "-t", "1", "live"]);
        // With --pause the tree cannot change under the diff; without it a
        // file may grow mid-read, which fails the commit rather than storing
        // a torn file.
        assert!(paused.status.success(), "{}", stderr(&paused));
        if !unpaused.status.success() {
            assert!(
                stderr(&unpaused).contains("while diffing"),
                "{}",
                stderr(&unpaused)
            );
        }
        let seen = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/live:paused",
            "sh",
            "-c",
            "cat /ready && test -s /log && echo ok",
        ]);
        assert_eq!(seen, "ready\nok\n");
    });
}

#[test]
fn rmi_of_every_name_of_a_used_image_is_refused() {
    for_each_user(|w| {
        w.busybox();
        if !can_run(&w) {
            return;
        }
        w.ok(&["tag", "busybox:1.38.0-musl", "u1:a", "u1:b"]);
        w.ok(&["rmi", "busybox:1.38.0-musl"]);
        w.ok(&["run", "--name", "c1", "--network", "none", "u1:a", "true"]);
        let both = ["docker.io/library/u1:a", "docker.io/library/u1:b"];
        // Naming every tag at once is the same as removing the last one.
        let (_, err) = w.fails(&["rmi", "u1:a", "u1:b"]);
        assert!(err.contains("used by container c1"), "{err}");
        assert_eq!(w.tags(), both);
        let (_, err) = w.fails(&["rmi", "u1:b", "u1:a", "u1:b"]);
        assert!(err.contains("used by container c1"), "{err}");
        assert_eq!(w.tags(), both);
        // One of two names can go; then the last one is protected.
        assert_eq!(w.ok(&["rmi", "u1:a"]), "Untagged: docker.io/library/u1:a\n");
        let (_, err) = w.fails(&["rmi", "u1:b"]);
        assert!(err.contains("used by container c1"), "{err}");
        // -f untags; the image stays for the container.
        w.ok(&["tag", "u1:b", "u1:a"]);
        w.ok(&["rmi", "-f", "u1:a", "u1:b"]);
        assert!(w.tags().is_empty());
        assert_eq!(id_of(&w, busybox_facts().id), busybox_facts().id);
        w.ok(&["system", "check"]);
    });
}

fn mode(path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn save_and_export_outputs_follow_the_umask() {
    for_each_user(|w| {
        w.busybox();
        for (umask, file, dir) in [("022", 0o644, 0o755), ("027", 0o640, 0o750)] {
            let tar = p(&w, &format!("s{umask}.tar"));
            ok_with_umask(&w, umask, &["save", "-o", &tar, BUSYBOX]);
            assert_eq!(mode(&tar), file, "save -o under umask {umask}");
            // Replacing an existing file gives the same mode.
            ok_with_umask(&w, umask, &["save", "-o", &tar, BUSYBOX]);
            assert_eq!(mode(&tar), file, "save -o over a file, umask {umask}");
            let layout = p(&w, &format!("d{umask}"));
            ok_with_umask(
                &w,
                umask,
                &["save", "--format", "oci-dir", "-o", &layout, BUSYBOX],
            );
            assert_eq!(mode(&layout), dir, "save oci-dir under umask {umask}");
        }
        if !can_run(&w) {
            return;
        }
        w.ok(&["run", "--name", "e1", "--network", "none", BUSYBOX, "true"]);
        for (umask, file) in [("022", 0o644), ("027", 0o640)] {
            let tar = p(&w, &format!("e{umask}.tar"));
            ok_with_umask(&w, umask, &["export", "-o", &tar, "e1"]);
            assert_eq!(mode(&tar), file, "export -o under umask {umask}");
        }
    });
}

/// `system df --format json` as (Type → row).
fn df(w: &World) -> std::collections::HashMap<String, serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(&w.ok(&["system", "df", "--format", "json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| (r["Type"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

#[test]
fn system_df_counts_like_docker() {
    for_each_user(|w| {
        let layout = image("busybox-musl");
        w.ok(&["load", "--unpack", "-i", layout.to_str().unwrap()]);
        let d = df(&w);
        assert_eq!(
            (&d["Images"]["Total"], &d["Images"]["Active"]),
            (&1.into(), &0.into())
        );
        let cache = &d["Layer cache"];
        assert_eq!(
            (&cache["Total"], &cache["Active"]),
            (&1.into(), &0.into()),
            "{cache}"
        );
        // Hundreds of hard links to the busybox binary are one file, as du says.
        let dirs: Vec<_> = std::fs::read_dir(w.root().join("o"))
            .unwrap()
            .flat_map(|m| std::fs::read_dir(m.unwrap().path()).unwrap())
            .map(|l| l.unwrap().path())
            .collect();
        assert_eq!(dirs.len(), 1);
        let du = user_ok(&w, "du", &["-s", "-B1", dirs[0].to_str().unwrap()]);
        let du: u64 = du.split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(cache["Size"].as_u64().unwrap(), du, "{cache}");
        assert!(du < 5_000_000, "{du}");
        assert_eq!(cache["Reclaimable"], cache["Size"]);
        if !can_run(&w) {
            return;
        }
        w.ok(&["run", "--name", "c1", "--network", "none", BUSYBOX, "true"]);
        w.ok(&[
            "run",
            "-d",
            "--name",
            "c2",
            "--network",
            "none",
            BUSYBOX,
            "sleep",
            "100",
        ]);
        let d = df(&w);
        w.ok(&["rm", "-f", "c2"]);
        assert_eq!(d["Images"]["Active"], 1);
        assert_eq!(d["Images"]["Reclaimable"], 0);
        // Exited containers are not active; their writable layers can go.
        let c = &d["Containers"];
        assert_eq!((&c["Total"], &c["Active"]), (&2.into(), &1.into()), "{c}");
        assert!(
            c["Reclaimable"].as_u64().unwrap() <= c["Size"].as_u64().unwrap(),
            "{c}"
        );
        // The layer the containers stand on is in use.
        let cache = &d["Layer cache"];
        assert_eq!(
            (&cache["Total"], &cache["Active"]),
            (&1.into(), &1.into()),
            "{cache}"
        );
        assert_eq!(cache["Reclaimable"], 0);
        let text = w.ok(&["system", "df"]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
            "{text}"
        );
        assert!(
            lines[2].starts_with("Containers      1       0       "),
            "{text}"
        );
        assert!(
            lines[3].starts_with("Local Volumes   0       0       0 B "),
            "{text}"
        );
        assert!(
            lines[4].starts_with("Layer cache     1       1       "),
            "{text}"
        );
    });
}

/// A container never started is its image: `diff` shows nothing, `export`
/// gives the image's files and `commit` an image that runs, on every
/// driver (the copy driver makes its copy at the first start, and these
/// failed before it).
#[test]
fn a_container_never_started_diffs_exports_and_commits_as_its_image() {
    for_each_user(|w| {
        let bb = w.busybox();
        w.ok(&["create", "--name", "fresh", bb]);
        assert_eq!(w.ok(&["diff", "fresh"]), "");
        let tar = w.path("fresh.tar");
        w.ok(&["export", "-o", tar.to_str().unwrap(), "fresh"]);
        let mut archive = tar::Archive::new(std::fs::File::open(&tar).unwrap());
        let has_busybox = archive
            .entries()
            .unwrap()
            .any(|e| e.unwrap().path().unwrap().ends_with("bin/busybox"));
        assert!(has_busybox, "no bin/busybox in the export");
        w.ok(&["commit", "fresh", "fresh:img"]);
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "fresh:img",
            "echo",
            "ok",
        ]);
        assert_eq!(out, "ok\n");
    });
}
