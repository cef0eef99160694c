//! Docker parity for volumes, `--mount` and `cp`: `volume create|ls|
//! inspect|rm|prune`, named and anonymous volumes (the image's VOLUMEs
//! too), relative `-v` paths, the `z,Z,U,O` options, `--mount` forms and
//! their errors, and `cp` both ways (files, directories, tar streams,
//! running and stopped containers, a symbolic-link escape that must stay
//! inside) — real namespaces, as both test users and as root.

use crate::common::{for_each_user_and_root, one_error, stderr, stdout, Kind, World};
use std::io::Write;
use std::process::Stdio;

/// What `World::busybox` loads (each test loads it first).
const BUSYBOX: &str = "busybox:1.38.0-musl";

/// The names `volume ls -q` prints.
fn volume_names(w: &World) -> Vec<String> {
    w.ok(&["volume", "ls", "-q"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// `hutch run --rm BUSYBOX sh -c SCRIPT` with `args` before the image.
fn sh(w: &World, args: &[&str], script: &str) -> String {
    let mut all = vec!["run", "--rm"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[BUSYBOX, "sh", "-c", script]);
    w.ok(&all)
}

#[test]
fn volume_lifecycle_persistence_and_in_use_refusal() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        assert_eq!(
            w.ok(&["volume", "create", "--label", "tier=db", "data"])
                .trim(),
            "data"
        );
        // An existing name with the same settings is fine (Docker's answer).
        w.ok(&["volume", "create", "data"]);
        let random = w.ok(&["volume", "create"]).trim().to_string();
        assert_eq!(random.len(), 64, "{random}");
        let table = w.ok(&["volume", "ls"]);
        let head: Vec<&str> = table
            .lines()
            .next()
            .unwrap()
            .split("  ")
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(head, ["DRIVER", "VOLUME NAME"].map(|s| s.trim()), "{table}");
        assert!(table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["local", "data"]));
        assert_eq!(
            w.ok(&["volume", "ls", "-q", "--filter", "label=tier=db"]),
            "data\n"
        );
        assert_eq!(
            w.ok(&["volume", "ls", "-q", "--filter", "name=dat"]),
            "data\n"
        );
        assert_eq!(
            w.ok(&[
                "volume",
                "ls",
                "--format",
                "{{.Name}} {{.Driver}} {{.Labels}}",
                "-f",
                "label=tier"
            ]),
            "data local tier=db\n"
        );
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["volume", "inspect", "data"])).unwrap();
        let keys: Vec<&String> = v[0].as_object().unwrap().keys().collect();
        for k in [
            "Name",
            "Driver",
            "Mountpoint",
            "Labels",
            "Options",
            "Scope",
            "CreatedAt",
        ] {
            assert!(keys.iter().any(|x| *x == k), "{k} missing in {v}");
        }
        assert_eq!(v[0]["Labels"]["tier"], "db");
        assert_eq!(v[0]["Scope"], "local");
        let mp = w.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "data"]);
        assert!(mp.trim().ends_with("/data/_data"), "{mp}");

        // Data outlives the container that wrote it.
        w.ok(&[
            "run",
            "--name",
            "writer",
            "-v",
            "data:/data",
            bb,
            "sh",
            "-c",
            "echo kept > /data/f; head -c 200000 /dev/zero > /data/big",
        ]);
        assert_eq!(sh(&w, &["-v", "data:/data:ro"], "cat /data/f"), "kept\n");
        // system df counts them as Docker's Local Volumes: `data` is used
        // (by a stopped container), the empty `random` could go.
        let df: serde_json::Value =
            serde_json::from_str(&w.ok(&["system", "df", "--format", "json"])).unwrap();
        let row = df
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["Type"] == "Local Volumes")
            .unwrap_or_else(|| panic!("{df}"));
        assert_eq!(
            (&row["Total"], &row["Active"]),
            (&2.into(), &1.into()),
            "{row}"
        );
        let (size, free) = (
            row["Size"].as_u64().unwrap(),
            row["Reclaimable"].as_u64().unwrap(),
        );
        assert!(size >= 200_000 && free > 0 && free < 100_000, "{row}");
        let text = w.ok(&["system", "df"]);
        assert!(
            text.contains("\nLocal Volumes   2       1       "),
            "{text}"
        );
        assert_eq!(
            w.ok(&["volume", "ls", "-q", "--filter", "dangling=false"]),
            "data\n"
        );

        // In use by a stopped container: refused, with -f too, naming it.
        for args in [
            &["volume", "rm", "data"][..],
            &["volume", "rm", "-f", "data"],
        ] {
            let (code, err) = w.fails(args);
            assert_eq!(code, 1);
            assert!(err.contains("in use") && err.contains("writer"), "{err}");
        }
        // rm without -v keeps a named volume; so does rm -v.
        w.ok(&["rm", "-v", "writer"]);
        assert!(volume_names(&w).contains(&"data".to_string()));
        assert_eq!(w.ok(&["volume", "rm", "data"]), "data\n");
        let (code, err) = w.fails(&["volume", "inspect", "data"]);
        assert_eq!(code, 1);
        assert!(err.contains("no such volume"), "{err}");
        w.ok(&["volume", "rm", "-f", "data"]);

        // Bad input says what is wrong.
        for (args, why) in [
            (&["volume", "create", "a/b"][..], "invalid volume name"),
            (&["volume", "create", "-d", "nfs", "x1"], "use local"),
            (
                &["volume", "create", "-o", "type=nfs", "x2"],
                "without root",
            ),
            (
                &["volume", "ls", "--filter", "colour=red"],
                "invalid filter",
            ),
        ] {
            let (code, err) = w.fails(args);
            assert_ne!(code, 0);
            assert!(err.contains(why) && one_error(&err), "{args:?}: {err}");
        }

        // A tmpfs volume, and prune: anonymous only, then all with -a.
        w.ok(&[
            "volume",
            "create",
            "-o",
            "type=tmpfs",
            "-o",
            "o=size=2m",
            "scratch",
        ]);
        let df = sh(&w, &["-v", "scratch:/s"], "grep ' /s ' /proc/mounts");
        assert!(
            df.starts_with("tmpfs /s tmpfs") && df.contains("size=2048k"),
            "{df}"
        );
        // A bind volume shows a host directory, which removing it keeps.
        w.write("dev/seen", "device\n");
        let device = format!("device={}", w.path("dev").display());
        w.ok(&[
            "volume",
            "create",
            "-o",
            "type=none",
            "-o",
            "o=bind",
            "-o",
            &device,
            "bv",
        ]);
        assert_eq!(sh(&w, &["-v", "bv:/b"], "cat /b/seen"), "device\n");
        // Prune without -a takes only anonymous volumes (made for a
        // container), as Docker 23+; a random name from `volume create` is
        // not one.
        w.ok(&["run", "--name", "anon", "-v", "/x", bb, "true"]);
        w.ok(&["rm", "anon"]);
        let anon: Vec<String> = volume_names(&w)
            .into_iter()
            .filter(|n| n.len() == 64 && *n != random)
            .collect();
        assert_eq!(anon.len(), 1);
        let pruned = w.ok(&["volume", "prune", "-f"]);
        assert_eq!(pruned.trim(), anon[0]);
        let mut left = volume_names(&w);
        left.sort();
        let mut want = vec![random.clone(), "scratch".to_string(), "bv".to_string()];
        want.sort();
        assert_eq!(left, want);
        w.ok(&["volume", "prune", "-a", "-f"]);
        assert!(volume_names(&w).is_empty());
        assert!(w.path("dev/seen").exists());
    });
}

#[test]
fn image_volumes_are_anonymous_filled_from_the_image_and_removed_by_rm_v() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.write(
            "ctx/Dockerfile",
            format!(
                "FROM {bb}\nRUN mkdir /data && echo seed > /data/seed && chmod 0750 /data\nVOLUME /data\n"
            ),
        );
        w.ok(&[
            "build",
            "-q",
            "-t",
            "withvol",
            w.path("ctx").to_str().unwrap(),
        ]);
        let out = w.ok(&[
            "run",
            "--name",
            "v1",
            "withvol",
            "sh",
            "-c",
            "cat /data/seed; stat -c %a /data; echo mine > /data/new",
        ]);
        assert_eq!(out, "seed\n750\n");
        let vols = volume_names(&w);
        assert_eq!(vols.len(), 1, "{vols:?}");
        let v1_vol = vols[0].clone();
        assert_eq!(v1_vol.len(), 64);
        let mp = w.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", &v1_vol]);
        assert_eq!(
            std::fs::read_to_string(format!("{}/new", mp.trim())).unwrap(),
            "mine\n"
        );
        // Restarting uses the same volume.
        w.ok(&["start", "v1"]);
        w.ok(&["wait", "v1"]);
        assert_eq!(volume_names(&w), vec![v1_vol.clone()]);
        // rm without -v keeps it; rm -v of another removes that one's.
        w.ok(&["rm", "v1"]);
        assert_eq!(volume_names(&w), vec![v1_vol.clone()]);
        w.ok(&["run", "--name", "v2", "withvol", "true"]);
        assert_eq!(volume_names(&w).len(), 2);
        w.ok(&["rm", "-v", "v2"]);
        assert_eq!(volume_names(&w), vec![v1_vol.clone()]);
        // --rm takes its anonymous volumes along; a named volume over the
        // image's VOLUME replaces it (filled from the image too).
        w.ok(&["run", "--rm", "withvol", "true"]);
        let out = w.ok(&[
            "run",
            "--rm",
            "-v",
            "named:/data",
            "withvol",
            "cat",
            "/data/seed",
        ]);
        assert_eq!(out, "seed\n");
        let mut names = volume_names(&w);
        names.sort();
        assert_eq!(names, [v1_vol.clone(), "named".to_string()]);
        // An anonymous -v is made and removed the same way.
        w.ok(&[
            "run",
            "--name",
            "a1",
            "-v",
            "/scratch",
            bb,
            "touch",
            "/scratch/x",
        ]);
        assert_eq!(volume_names(&w).len(), 3);
        w.ok(&["rm", "-v", "a1"]);
        assert_eq!(volume_names(&w).len(), 2);
    });
}

#[test]
fn relative_paths_and_volume_options() {
    for_each_user_and_root(|w| {
        w.busybox();
        // Relative host paths resolve against the working directory.
        std::fs::create_dir_all(w.path("sub")).unwrap();
        w.write("rel/in", "from host\n");
        let out = sh(
            &w,
            &["-v", "./rel:/r", "-v", "./sub/../rel:/r2:ro,z"],
            "cat /r/in /r2/in; echo back > /r/out",
        );
        assert_eq!(out, "from host\nfrom host\n");
        assert_eq!(
            std::fs::read_to_string(w.path("rel/out")).unwrap(),
            "back\n"
        );
        assert_eq!(sh(&w, &["-v", "./rel:/r:Z"], "cat /r/in"), "from host\n");
        // O: an overlay over the host dir; writes are thrown away.
        let out = sh(
            &w,
            &["-v", "./rel:/o:O"],
            "echo over > /o/in; echo new > /o/new; cat /o/in",
        );
        assert_eq!(out, "over\n");
        assert_eq!(
            std::fs::read_to_string(w.path("rel/in")).unwrap(),
            "from host\n"
        );
        assert!(!w.path("rel/new").exists());
        for (spec, why) in [
            ("rel/dir:/data", "invalid characters"),
            ("./rel:data", "must be absolute"),
            ("./rel:/data:rx", "unknown option"),
            ("./rel:/data:ro,rw", "conflict"),
            ("./rel:/data:rshared", "not supported"),
        ] {
            let (code, err) = w.fails(&["run", "--rm", "-v", spec, BUSYBOX, "true"]);
            assert_eq!(code, 125, "{spec}");
            assert!(err.contains(why) && one_error(&err), "{spec}: {err}");
        }
        if w.user.kind == Kind::SubIds {
            // U gives the source to the container user; a fresh named volume
            // is that user's too.
            std::fs::create_dir_all(w.path("owned")).unwrap();
            w.write("owned/f", "x");
            let out = sh(
                &w,
                &["-u", "1000:1000", "-v", "./owned:/o:U", "-v", "fresh:/v"],
                "stat -c %u:%g /o /o/f /v; touch /o/new /v/new && echo writable",
            );
            assert_eq!(out, "1000:1000\n1000:1000\n1000:1000\nwritable\n");
        }
    });
}

#[test]
fn mount_flag_forms_and_bad_keys() {
    for_each_user_and_root(|w| {
        w.write("b/in", "bound\n");
        let bb = w.busybox();
        let out = w.run(&[
            "run",
            "--rm",
            "--mount",
            "type=bind,source=./b,target=/b,readonly",
            bb,
            "sh",
            "-c",
            "cat /b/in; echo x > /b/x",
        ]);
        assert_eq!(stdout(&out), "bound\n");
        assert!(
            stderr(&out).contains("Read-only file system"),
            "{}",
            stderr(&out)
        );
        assert!(!w.path("b/x").exists());
        sh(
            &w,
            &["--mount", "type=volume,source=mv,target=/m"],
            "echo v > /m/f",
        );
        assert_eq!(sh(&w, &["--mount", "src=mv,dst=/m2"], "cat /m2/f"), "v\n");
        let t = sh(
            &w,
            &[
                "--mount",
                "type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770",
            ],
            "grep ' /t ' /proc/mounts; stat -c %a /t",
        );
        assert!(t.contains("size=1024k") && t.ends_with("1770\n"), "{t}");
        let t = sh(
            &w,
            &[
                "--mount",
                "type=volume,target=/vt,volume-opt=type=tmpfs,volume-opt=o=size=3m",
            ],
            "grep ' /vt ' /proc/mounts",
        );
        assert!(t.starts_with("tmpfs") && t.contains("size=3072k"), "{t}");
        // The anonymous volume it made went with --rm; `mv` and the
        // volume-opt one... only `mv` is named.
        assert_eq!(volume_names(&w), ["mv"]);
        for (m, why) in [
            (
                "type=bind,source=./b,target=/b,colour=red",
                "unexpected key 'colour'",
            ),
            ("type=bind,source=./missing,target=/b", "does not exist"),
            ("type=bind,target=/b", "source is required"),
            ("type=bind,source=./b", "target is required"),
            ("type=tmpfs,target=/t,volume-nocopy", "cannot mix"),
            ("type=nfs,target=/n", "not supported"),
        ] {
            let (code, err) = w.fails(&["run", "--rm", "--mount", m, bb, "true"]);
            assert_eq!(code, 125, "{m}");
            assert!(err.contains(why) && one_error(&err), "{m}: {err}");
        }
        assert!(
            !w.path("missing").exists(),
            "--mount never creates a bind source"
        );
    });
}

/// `hutch cp` with `input` on stdin; the output.
fn cp_with_stdin(w: &World, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut c = w.hutch();
    c.arg("cp")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn tar_of(entries: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, link, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match link {
            Some(l) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, name, l).unwrap();
            }
            None => {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, *data).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[test]
fn cp_both_ways_into_stopped_and_running_containers() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&["run", "--name", "c", bb, "true"]);
        w.write("f.txt", "file\n");
        w.write("tree/a", "A\n");
        w.write("tree/sub/b", "B\n");
        // A file into a directory, a directory to a new name, a directory's
        // content (SRC/.) into an existing directory, a tar stream.
        w.ok(&["cp", "f.txt", "c:/tmp"]);
        w.ok(&["cp", "tree", "c:/newtree"]);
        w.ok(&["cp", "tree/.", "c:/tmp/"]);
        w.ok(&["cp", "tree", "c:/tmp"]);
        let out = cp_with_stdin(&w, &["-", "c:/"], &tar_of(&[("streamed", None, b"S\n")]));
        assert!(out.status.success(), "{}", stderr(&out));
        w.ok(&["cp", "c:/etc/passwd", "passwd.out"]);
        assert!(std::fs::read_to_string(w.path("passwd.out"))
            .unwrap()
            .starts_with("root:"));
        w.ok(&["cp", "c:/tmp/f.txt", "."]);
        assert_eq!(std::fs::read_to_string(w.path("f.txt")).unwrap(), "file\n");
        w.ok(&["cp", "c:/newtree", "back"]);
        assert_eq!(
            std::fs::read_to_string(w.path("back/sub/b")).unwrap(),
            "B\n"
        );
        w.write("into/.keep", "");
        w.ok(&["cp", "c:/newtree/.", "into"]);
        assert_eq!(std::fs::read_to_string(w.path("into/a")).unwrap(), "A\n");
        // Out as a tar stream: entries under the source's name.
        let out = w.hutch().args(["cp", "c:/newtree", "-"]).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let mut names: Vec<String> = tar::Archive::new(&out.stdout[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["newtree", "newtree/a", "newtree/sub", "newtree/sub/b"]
        );
        // Docker's error rules.
        for (args, why) in [
            (&["cp", "tree", "c:/tmp/f.txt"][..], "directory to a file"),
            (&["cp", "f.txt", "c:/nowhere/"], "does not exist"),
            (&["cp", "c:/nothing", "x"], "could not find"),
            (&["cp", "f.txt", "nocontainer:/tmp"], "no such container"),
        ] {
            let (code, err) = w.fails(args);
            assert_ne!(code, 0);
            assert!(err.contains(why), "{args:?}: {err}");
        }
        // Files copied in are the container's root's.
        let out = w.hutch().args(["cp", "c:/tmp/a", "-"]).output().unwrap();
        let mut a = tar::Archive::new(&out.stdout[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(
            (e.header().uid().unwrap(), e.header().gid().unwrap()),
            (0, 0)
        );
        w.ok(&["rm", "c"]);
        w.ok(&["run", "-d", "--name", "r", bb, "sleep", "300"]);
        w.ok(&["cp", "f.txt", "r:/tmp/in"]);
        w.ok(&["cp", "tree", "r:/"]);
        let out = w.ok(&[
            "exec",
            "r",
            "sh",
            "-c",
            "cat /tmp/in /tree/sub/b; stat -c %u:%g /tmp/in /tree/a",
        ]);
        assert_eq!(out, "file\nB\n0:0\n0:0\n");
        w.ok(&["exec", "r", "sh", "-c", "echo made > /tmp/made"]);
        w.ok(&["cp", "r:/tmp/made", "made"]);
        assert_eq!(std::fs::read_to_string(w.path("made")).unwrap(), "made\n");
        if w.user.kind == Kind::SubIds {
            // -a keeps the host ids.
            w.ok(&["cp", "-a", "f.txt", "r:/tmp/kept"]);
            let ids = w.ok(&["exec", "r", "stat", "-c", "%u:%g", "/tmp/kept"]);
            assert_eq!(ids.trim(), format!("{}:{}", w.user.uid, w.user.gid));
        }
        w.ok(&["rm", "-f", "r"]);
    });
}

#[test]
fn cp_never_follows_a_container_symlink_out_to_the_host() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        let host_dir = w.path("victim");
        std::fs::create_dir(&host_dir).unwrap();
        let hd = host_dir.to_str().unwrap();
        // The container points /escape at the host directory's path, and
        // has a directory of that name itself.
        w.ok(&[
            "run",
            "--name",
            "s",
            bb,
            "sh",
            "-c",
            &format!("mkdir -p {hd} && ln -s {hd} /escape && ln -s / /up"),
        ]);
        w.write("payload", "p\n");
        for dest in ["s:/escape/", "s:/escape/payload2", "s:/up/up/escape/"] {
            w.ok(&["cp", "payload", dest]);
        }
        // A crafted stream: a link to the host directory, then a file
        // through it.
        let evil = tar_of(&[("l", Some(hd), b""), ("l/evil", None, b"x")]);
        let out = cp_with_stdin(&w, &["-", "s:/tmp"], &evil);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
        // Copying out through the links reads the container's files.
        let out = w
            .hutch()
            .args(["cp", "-L", "s:/escape", "-"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let entries: Vec<String> = tar::Archive::new(&out.stdout[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(
            entries.contains(&"escape/payload".to_string()),
            "{entries:?}"
        );
        assert_eq!(
            std::fs::read_dir(&host_dir).unwrap().count(),
            0,
            "the host directory was written"
        );
        // Running: the same, through its mount namespace.
        w.ok(&["rm", "s"]);
        w.ok(&[
            "run",
            "-d",
            "--name",
            "s2",
            bb,
            "sh",
            "-c",
            &format!("mkdir -p {hd} && ln -s {hd} /escape && sleep 300"),
        ]);
        let mut tries = 0;
        while w
            .run(&["exec", "s2", "test", "-L", "/escape"])
            .status
            .code()
            != Some(0)
            && tries < 100
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
            tries += 1;
        }
        w.ok(&["cp", "payload", "s2:/escape/"]);
        assert_eq!(
            w.ok(&["exec", "s2", "cat", &format!("{hd}/payload")]),
            "p\n"
        );
        assert_eq!(
            std::fs::read_dir(&host_dir).unwrap().count(),
            0,
            "the host directory was written"
        );
        w.ok(&["rm", "-f", "s2"]);
    });
}

#[test]
fn volumes_from_and_cp_into_a_stopped_containers_volume() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.write("shared/h", "host\n");
        w.ok(&[
            "run",
            "--name",
            "src",
            "-v",
            "vf:/vf",
            "-v",
            "./shared:/shared",
            bb,
            "sh",
            "-c",
            "echo from-src > /vf/f",
        ]);
        // A copy under a stopped container's volume lands in the volume.
        w.write("new.txt", "copied\n");
        w.ok(&["cp", "new.txt", "src:/vf/"]);
        let out = sh(
            &w,
            &["--volumes-from", "src"],
            "cat /vf/f /vf/new.txt /shared/h",
        );
        assert_eq!(out, "from-src\ncopied\nhost\n");
        let out = w.run(&[
            "run",
            "--rm",
            "--volumes-from",
            "src:ro",
            bb,
            "sh",
            "-c",
            "echo x > /vf/x",
        ]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("Read-only file system"),
            "{}",
            stderr(&out)
        );
        let (code, err) = w.fails(&["run", "--rm", "--volumes-from", "nothere", bb, "true"]);
        assert_eq!(code, 125);
        assert!(
            err.contains("no such container") && one_error(&err),
            "{err}"
        );
        w.ok(&["rm", "src"]);
        assert_eq!(volume_names(&w), ["vf"]);
    });
}

#[test]
fn create_then_cp_then_start_and_inspect_mounts() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        w.ok(&[
            "create",
            "--name",
            "made",
            "-v",
            "cv:/cv",
            "--mount",
            "type=bind,source=.,target=/w",
            bb,
            "sh",
            "-c",
            "cat /etc/motd.txt /cv/in.txt",
        ]);
        w.write("motd.txt", "copied before the first start\n");
        w.ok(&["cp", "motd.txt", "made:/etc/"]);
        w.ok(&["cp", "motd.txt", "made:/cv/in.txt"]);
        let out = w.ok(&["start", "-a", "made"]);
        assert_eq!(out, "copied before the first start\n".repeat(2));
        let v: serde_json::Value = serde_json::from_str(&w.ok(&["inspect", "made"])).unwrap();
        let mounts = v[0]["Mounts"].as_array().unwrap();
        let vol = mounts.iter().find(|m| m["Type"] == "volume").unwrap();
        assert_eq!(vol["Name"], "cv");
        assert_eq!(vol["Destination"], "/cv");
        assert_eq!(vol["Driver"], "local");
        let mp = w.ok(&["volume", "inspect", "--format", "{{.Mountpoint}}", "cv"]);
        assert_eq!(vol["Source"], mp.trim());
        let bind = mounts.iter().find(|m| m["Type"] == "bind").unwrap();
        assert_eq!(bind["Source"], w.dir.path().to_str().unwrap());
        w.ok(&["rm", "made"]);
    });
}
