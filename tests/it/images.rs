//! Integration tests for the image store and the image verbs: load (every
//! format), import, images, tag, rmi, inspect, interrupted and corrupt input,
//! concurrency, and the store read by skopeo and umoci.

use crate::common::*;
use std::io::Write;
use std::process::{Command, Stdio};

const BUSYBOX: &str = "docker.io/library/busybox:1.38.0-musl";

fn layout() -> String {
    image("busybox-musl").to_str().unwrap().to_string()
}

fn alpine() -> String {
    image("alpine-3.20/alpine-minirootfs-3.20.3-x86_64.tar.gz")
        .to_str()
        .unwrap()
        .to_string()
}

/// Docker's size column: three significant digits, SI units (886622 → 887 kB).
fn human(n: u64) -> String {
    let (v, unit) = if n >= 1_000_000 {
        (n as f64 / 1e6, "MB")
    } else {
        (n as f64 / 1e3, "kB")
    };
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let num = format!("{v:.decimals$}");
    let num = if num.contains('.') {
        num.trim_end_matches('0').trim_end_matches('.')
    } else {
        &num
    };
    format!(" {num} {unit}")
}

/// `tar` of the busybox layout, as the test user; `gzip` to compress it.
fn oci_archive(w: &World, gzip: bool) -> String {
    let p = w.path(if gzip { "oci.tar.gz" } else { "oci.tar" });
    let flag = if gzip { "-czf" } else { "-cf" };
    user_ok(w, "tar", &["-C", &layout(), flag, p.to_str().unwrap(), "."]);
    p.to_str().unwrap().to_string()
}

/// `skopeo copy oci:... docker-archive:...` (the legacy `<id>/layer.tar` layout).
fn docker_archive(w: &World) -> String {
    let p = w.path("docker.tar");
    user_ok(
        w,
        "skopeo",
        &[
            "copy",
            "-q",
            &format!("oci:{}:busybox:1.38.0-musl", layout()),
            &format!("docker-archive:{}:busybox:1.38.0-musl", p.display()),
        ],
    );
    p.to_str().unwrap().to_string()
}

/// Everything under blobs/ and index.json: what must not change after a failed load.
fn snapshot(w: &World) -> (Vec<String>, String) {
    let dir = w.root().join("blobs/sha256");
    let mut blobs: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    blobs.sort();
    let index = std::fs::read_to_string(w.root().join("index.json")).unwrap_or_default();
    (blobs, index)
}

/// Every file in blobs/ hashes to its name: no partial or mislabelled blob.
fn assert_blobs_intact(w: &World) {
    let dir = w.root().join("blobs/sha256");
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let out = Command::new("sha256sum").arg(e.path()).output().unwrap();
        let sum = stdout(&out);
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(
            sum.starts_with(&name),
            "blob {name} does not match its content: {sum}"
        );
    }
}

#[test]
fn load_layout_dir_prints_full_name_and_lists() {
    for_each_user(|w| {
        let out = w.ok(&["load", "-i", &layout()]);
        assert_eq!(out, format!("Loaded image: {BUSYBOX}\n"));
        let table = w.ok(&["images"]);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("REPOSITORY"), "{table}");
        assert!(
            lines[1].starts_with(&format!(
                "docker.io/library/busybox  1.38.0-musl  {}",
                busybox_facts().short_id()
            )),
            "{table}"
        );
        assert!(lines[1].ends_with(&human(busybox_facts().size)), "{table}");
        assert_eq!(
            w.ok(&["images", "-q"]),
            format!("{}\n", busybox_facts().short_id())
        );
        assert_eq!(
            w.ok(&["images", "-q", "busybox"]),
            format!("{}\n", busybox_facts().short_id())
        );
        assert_eq!(
            w.ok(&["images", "-q", "busybox:1.38.0-musl"]),
            format!("{}\n", busybox_facts().short_id())
        );
        assert_eq!(w.ok(&["images", "-q", "busybox:latest"]), "");
        assert_eq!(
            w.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]),
            format!(
                "docker.io/library/busybox:1.38.0-musl {}\n",
                busybox_facts().short_id()
            )
        );
        let v: serde_json::Value =
            serde_json::from_str(&w.ok(&["images", "--format", "json"])).unwrap();
        assert_eq!(v[0]["Id"], busybox_facts().id.trim_start_matches("sha256:"));
        assert_eq!(v[0]["RepoTags"][0], BUSYBOX);
        assert_eq!(
            v[0]["Created"],
            chrono::DateTime::parse_from_rfc3339(busybox_facts().created)
                .unwrap()
                .timestamp()
        );
        // Loading again is idempotent.
        w.ok(&["load", "-i", &layout()]);
        assert_eq!(w.tags(), vec![BUSYBOX]);
        // The harness helper agrees.
        assert_eq!(w.busybox(), "busybox:1.38.0-musl");
    });
}

#[test]
fn load_oci_archives_plain_gzip_and_stdin() {
    for_each_user(|w| {
        let plain = oci_archive(&w, false);
        assert_eq!(
            w.ok(&["load", "-i", &plain]),
            format!("Loaded image: {BUSYBOX}\n")
        );
        assert_eq!(w.inspect("busybox:1.38.0-musl")["Id"], busybox_facts().id);
        w.ok(&["rmi", "busybox:1.38.0-musl"]);
        assert!(w.tags().is_empty());

        let gz = oci_archive(&w, true);
        assert_eq!(
            w.ok(&["load", "-i", &gz]),
            format!("Loaded image: {BUSYBOX}\n")
        );
        w.ok(&["rmi", BUSYBOX]);

        let out = w
            .hutch()
            .arg("load")
            .stdin(std::fs::File::open(&gz).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out), format!("Loaded image: {BUSYBOX}\n"));
        assert_eq!(
            w.inspect("busybox:1.38.0-musl")["Digest"],
            busybox_facts().manifest
        );
    });
}

#[test]
fn load_docker_archives_legacy_and_oci_flavoured() {
    for_each_user(|w| {
        let d = docker_archive(&w);
        assert_eq!(
            w.ok(&["load", "-i", &d]),
            format!("Loaded image: {BUSYBOX}\n")
        );
        let v = w.inspect("busybox:1.38.0-musl");
        // The config is kept byte for byte, so the image id is the same.
        assert_eq!(v["Id"], busybox_facts().id);
        assert_eq!(v["RootFS"]["Layers"][0], busybox_facts().diff_id);
        // The manifest the store wrote for it is valid for skopeo.
        let root = w.root();
        let sk = user_ok(
            &w,
            "skopeo",
            &["inspect", &format!("oci:{}:{BUSYBOX}", root.display())],
        );
        assert!(sk.contains("\"Architecture\": \"amd64\""), "{sk}");
        // ...and skopeo can copy it out, uncompressed layer and all.
        let copy = w.path("copied");
        user_ok(
            &w,
            "skopeo",
            &[
                "copy",
                "-q",
                &format!("oci:{}:{BUSYBOX}", root.display()),
                &format!("oci:{}:x", copy.display()),
            ],
        );

        // Docker 25+ writes an OCI layout plus manifest.json; the OCI index
        // has the full name in io.containerd.image.name and a bare tag in ref.name.
        let dir = w.path("docker25");
        user_ok(&w, "cp", &["-r", &layout(), dir.to_str().unwrap()]);
        user_ok(&w, "chmod", &["-R", "u+w", dir.to_str().unwrap()]);
        std::fs::write(
            dir.join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"io.containerd.image.name":"docker.io/library/dockerish:latest","org.opencontainers.image.ref.name":"latest"}}}}]}}"#,
                busybox_facts().manifest,
                busybox_facts().manifest_size
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            format!(r#"[{{"Config":"blobs/sha256/{}","RepoTags":["dockerish:latest"],"Layers":["blobs/sha256/{}"]}}]"#, &busybox_facts().id[7..], busybox_facts().layer),
        )
        .unwrap();
        let tarball = w.path("docker25.tar");
        user_ok(
            &w,
            "tar",
            &[
                "-C",
                dir.to_str().unwrap(),
                "-cf",
                tarball.to_str().unwrap(),
                ".",
            ],
        );
        assert_eq!(
            w.ok(&["load", "-i", tarball.to_str().unwrap()]),
            "Loaded image: docker.io/library/dockerish:latest\n"
        );
        // Same image id as the one already there: one image, two names.
        assert_eq!(
            w.ok(&["images", "-q"]),
            format!("{}\n", busybox_facts().short_id())
        );
        assert_eq!(
            w.tags(),
            vec![
                BUSYBOX.to_string(),
                "docker.io/library/dockerish:latest".into()
            ]
        );

        // A docker archive without an OCI index at all, only manifest.json.
        std::fs::remove_file(dir.join("index.json")).unwrap();
        std::fs::write(
            dir.join("manifest.json"),
            format!(r#"[{{"Config":"blobs/sha256/{}","RepoTags":["onlymanifest:1"],"Layers":["blobs/sha256/{}"]}}]"#, &busybox_facts().id[7..], busybox_facts().layer),
        )
        .unwrap();
        assert_eq!(
            w.ok(&["load", "-i", dir.to_str().unwrap()]),
            "Loaded image: docker.io/library/onlymanifest:1\n"
        );
    });
}

#[test]
fn load_bare_tag_needs_a_name() {
    for_each_user(|w| {
        let dir = w.path("bare");
        user_ok(&w, "cp", &["-r", &layout(), dir.to_str().unwrap()]);
        user_ok(&w, "chmod", &["-R", "u+w", dir.to_str().unwrap()]);
        std::fs::write(
            dir.join("index.json"),
            format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"1.38.0-musl"}}}}]}}"#, busybox_facts().manifest, busybox_facts().manifest_size),
        )
        .unwrap();
        let d = dir.to_str().unwrap();
        let out = w.run(&["load", "-i", d]);
        assert!(out.status.success());
        assert_eq!(
            stdout(&out),
            format!("Loaded image: {}\n", busybox_facts().id)
        );
        assert!(stderr(&out).contains("hutch tag"), "{}", stderr(&out));
        assert!(w.ok(&["images"]).contains("<none>"));
        assert_eq!(
            w.ok(&["load", "-i", d, "quay.io/me/box"]),
            "Loaded image: quay.io/me/box:1.38.0-musl\n"
        );
        // The untagged entry became the named image.
        assert_eq!(w.tags(), vec!["quay.io/me/box:1.38.0-musl"]);
        assert!(!w.ok(&["images"]).contains("<none>"));
    });
}

#[test]
fn bad_input_changes_nothing() {
    for_each_user(|w| {
        w.busybox();
        let before = snapshot(&w);
        let (code, err) = w.fails(&["load", "-i", "/nonexistent/image.tar"]);
        assert_eq!(code, 125);
        assert!(err.contains("/nonexistent/image.tar"), "{err}");

        let empty = w.write("empty-dir/.keep", "");
        let (_, err) = w.fails(&["load", "-i", empty.parent().unwrap().to_str().unwrap()]);
        assert!(err.contains("neither index.json"), "{err}");

        let junk = w.write("junk.tar", "this is not a tar archive at all".repeat(40));
        let (_, err) = w.fails(&["load", "-i", junk.to_str().unwrap()]);
        assert!(one_error(&err), "{err}");

        // A truncated archive.
        let full = std::fs::read(oci_archive(&w, false)).unwrap();
        let cut = w.write("cut.tar", &full[..full.len() / 2]);
        let (_, err) = w.fails(&["load", "-i", cut.to_str().unwrap()]);
        assert!(
            err.contains("truncated") || err.contains("missing"),
            "{err}"
        );

        // A layout whose layer blob does not match its digest.
        let bad = w.path("corrupt");
        user_ok(&w, "cp", &["-r", &layout(), bad.to_str().unwrap()]);
        user_ok(&w, "chmod", &["-R", "u+w", bad.to_str().unwrap()]);
        let blob = bad.join("blobs/sha256").join(busybox_facts().layer);
        let mut data = std::fs::read(&blob).unwrap();
        let mid = data.len() / 2;
        data[mid] ^= 0xff;
        std::fs::write(&blob, data).unwrap();
        // In a fresh store, so that the good copy is not already there.
        let w2 = World::new(w.user.clone());
        let before2 = snapshot(&w2);
        let (_, err) = w2.fails(&["load", "-i", bad.to_str().unwrap()]);
        assert!(
            err.contains("corrupt") && err.contains(busybox_facts().layer),
            "{err}"
        );
        assert_eq!(snapshot(&w2).0, before2.0);
        assert!(w2.ok(&["images", "-q"]).is_empty());

        // A manifest that is missing.
        std::fs::remove_file(
            bad.join("blobs/sha256")
                .join(&busybox_facts().manifest[7..]),
        )
        .unwrap();
        let (_, err) = w.fails(&["load", "-i", bad.to_str().unwrap()]);
        assert!(
            err.contains("missing") && err.contains(&busybox_facts().manifest[7..]),
            "{err}"
        );

        assert_eq!(snapshot(&w), before);
        assert_blobs_intact(&w);
        // Nothing is left in the scratch space either.
        let tmp: Vec<_> = std::fs::read_dir(w.root().join("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "{tmp:?}");
    });
}

#[test]
fn killed_load_leaves_store_as_it_was() {
    for_each_user(|w| {
        w.busybox();
        let before = snapshot(&w);
        let data = std::fs::read(docker_archive(&w)).unwrap();
        let mut child = w
            .hutch()
            .args(["load"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // Half the archive: hutch is now blocked reading the rest.
        stdin.write_all(&data[..data.len() / 2]).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert!(child.try_wait().unwrap().is_none(), "load ended early");
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(stdin);
        assert_eq!(snapshot(&w), before);
        assert_blobs_intact(&w);
        assert_eq!(w.tags(), vec![BUSYBOX]);
        // The killed load's scratch dir is collected by the next removal...
        assert!(std::fs::read_dir(w.root().join("tmp")).unwrap().count() > 0);
        w.ok(&["tag", "busybox:1.38.0-musl", "spare"]);
        w.ok(&["rmi", "spare"]);
        let left: Vec<_> = std::fs::read_dir(w.root().join("tmp")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        // ...or by the next writer.
        let mut child = w
            .hutch()
            .arg("load")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(&data[..1000])
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(std::fs::read_dir(w.root().join("tmp")).unwrap().count() > 0);
        w.ok(&["import", &alpine(), "later"]);
        let left: Vec<_> = std::fs::read_dir(w.root().join("tmp")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn references_resolve_like_podman() {
    for_each_user(|w| {
        w.busybox();
        for name in [
            "busybox:1.38.0-musl",
            "docker.io/library/busybox:1.38.0-musl",
            "library/busybox:1.38.0-musl",
            busybox_facts().short_id(),
            &busybox_facts().short_id()[..3],
            busybox_facts().id,
            &format!("busybox@{}", busybox_facts().manifest),
        ] {
            assert_eq!(w.inspect(name)["Id"], busybox_facts().id, "{name}");
        }
        w.ok(&[
            "tag",
            "busybox:1.38.0-musl",
            "quay.io/a/tool:1",
            "quay.io/c/tool:1",
        ]);
        // Several names of one image are no ambiguity; two images are.
        assert_eq!(w.inspect("tool:1")["Id"], busybox_facts().id);
        w.ok(&["import", &alpine(), "localhost:5000/b/tool:1"]);
        let (_, err) = w.fails(&["inspect", "tool:1"]);
        assert!(
            err.contains("ambiguous") && err.contains("quay.io/a/tool:1"),
            "{err}"
        );
        assert_eq!(w.inspect("a/tool:1")["Id"], busybox_facts().id);
        for (bad, why) in [
            ("Busybox", "lowercase"),
            ("busybox:bad tag", "not valid"),
            ("", "empty"),
            ("busybox@sha256:1234", "invalid digest"),
        ] {
            let (code, err) = w.fails(&["inspect", bad]);
            assert_eq!(code, 125);
            assert!(err.contains(why), "{bad}: {err}");
        }
        let (_, err) = w.fails(&["inspect", "nothere"]);
        assert!(err.contains("no such image: nothere"), "{err}");
        let (_, err) = w.fails(&["tag", "busybox:1.38.0-musl", "UPPER"]);
        assert!(err.contains("lowercase"), "{err}");
    });
}

#[test]
fn tag_rmi_and_shared_blobs() {
    for_each_user(|w| {
        w.busybox();
        w.ok(&["tag", "busybox:1.38.0-musl", "one", "quay.io/x/two:t"]);
        assert_eq!(
            w.tags(),
            vec![BUSYBOX, "docker.io/library/one:latest", "quay.io/x/two:t"]
        );
        assert_eq!(
            w.ok(&["rmi", "one"]),
            "Untagged: docker.io/library/one:latest\n"
        );
        let (_, err) = w.fails(&["rmi", busybox_facts().short_id()]);
        assert!(err.contains("several names") && err.contains("-f"), "{err}");
        // Two imports of one tarball share the layer blob.
        let a = w.ok(&["import", "-c", "CMD [\"a\"]", &alpine(), "al:a"]);
        let b = w.ok(&["import", "-c", "CMD [\"b\"]", &alpine(), "al:b"]);
        assert_ne!(a, b);
        let layer = w.inspect("al:a")["RootFS"]["Layers"][0].clone();
        assert_eq!(w.inspect("al:b")["RootFS"]["Layers"][0], layer);
        let out = w.ok(&["rmi", "al:a"]);
        assert_eq!(
            out,
            format!("Untagged: docker.io/library/al:a\nDeleted: {}", a)
        );
        assert_eq!(w.inspect("al:b")["Config"]["Cmd"][0], "b");
        let root = w.root();
        user_ok(
            &w,
            "skopeo",
            &[
                "inspect",
                &format!("oci:{}:docker.io/library/al:b", root.display()),
            ],
        );
        assert_blobs_intact(&w);
        w.ok(&["rmi", "-f", "al:b", busybox_facts().short_id()]);
        assert!(w.tags().is_empty());
        let left: Vec<_> = std::fs::read_dir(w.root().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
        let (_, err) = w.fails(&["rmi", "busybox:1.38.0-musl"]);
        assert!(err.contains("no such image"), "{err}");
    });
}

#[test]
fn import_with_changes() {
    for_each_user(|w| {
        let id = w.ok(&[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            "-c",
            "ENTRYPOINT echo hi",
            "--change",
            "ENV A=1 B=\"two words\"",
            "-c",
            "WORKDIR /srv",
            "-c",
            "USER 1000",
            "-c",
            "EXPOSE 8080 53/udp",
            "-c",
            "LABEL org.example=yes",
            "-c",
            "VOLUME /data",
            "-c",
            "STOPSIGNAL SIGINT",
            "-m",
            "made by a test",
            &alpine(),
            "alpine:3.20",
        ]);
        let id = id.trim();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
        let v = w.inspect("alpine:3.20");
        assert_eq!(v["Id"], id);
        let c = &v["Config"];
        assert_eq!(c["Cmd"], serde_json::json!(["/bin/sh"]));
        assert_eq!(
            c["Entrypoint"],
            serde_json::json!(["/bin/sh", "-c", "echo hi"])
        );
        assert_eq!(c["Env"], serde_json::json!(["A=1", "B=two words"]));
        assert_eq!(c["WorkingDir"], "/srv");
        assert_eq!(c["User"], "1000");
        assert_eq!(
            c["ExposedPorts"],
            serde_json::json!({"8080/tcp": {}, "53/udp": {}})
        );
        assert_eq!(c["Labels"], serde_json::json!({"org.example": "yes"}));
        assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
        assert_eq!(c["StopSignal"], "SIGINT");
        assert_eq!(v["Comment"], "made by a test");
        assert_eq!(v["History"][0]["comment"], "made by a test");
        assert_eq!(v["Architecture"], "amd64");
        assert_eq!(v["Os"], "linux");
        // diff id = sha256 of the uncompressed tar.
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("gzip -dc {} | sha256sum", alpine()))
            .output()
            .unwrap();
        let want = format!("sha256:{}", &stdout(&out)[..64]);
        assert_eq!(v["RootFS"]["Layers"], serde_json::json!([want]));
        assert_eq!(
            w.ok(&[
                "inspect",
                "--format",
                "{{.Id}} {{.Config.Cmd}}",
                "alpine:3.20"
            ]),
            format!("{id} [/bin/sh]\n")
        );

        // Plain tar from stdin, zstd from a file; no name gives an untagged image.
        let plain = w.path("rootfs.tar");
        let sh = format!("gzip -dc {} > {}", alpine(), plain.display());
        user_ok(&w, "sh", &["-c", &sh]);
        let out = w
            .hutch()
            .args(["import", "-", "plain"])
            .stdin(std::fs::File::open(&plain).unwrap())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(w.inspect("plain")["RootFS"]["Layers"][0], want);
        user_ok(&w, "zstd", &["-q", plain.to_str().unwrap()]);
        let zst = format!("{}.zst", plain.display());
        let zid = w.ok(&["import", "-m", "zstd", &zst]);
        let zv = w.inspect(zid.trim());
        assert_eq!(zv["RootFS"]["Layers"][0], want);
        assert_eq!(zv["RepoTags"], serde_json::json!([]));

        let (_, err) = w.fails(&["import", "-c", "RUN true", &alpine()]);
        assert!(err.contains("cannot be changed"), "{err}");
        let junk = w.write("junk", "nope");
        let (_, err) = w.fails(&["import", junk.to_str().unwrap()]);
        assert!(err.contains("not a valid tar"), "{err}");
    });
}

#[test]
fn inspect_is_docker_shaped() {
    for_each_user(|w| {
        w.busybox();
        let all: serde_json::Value = serde_json::from_str(&w.ok(&[
            "inspect",
            "busybox:1.38.0-musl",
            busybox_facts().short_id(),
        ]))
        .unwrap();
        assert_eq!(all.as_array().unwrap().len(), 2);
        let v = &all[0];
        assert_eq!(v["Id"], busybox_facts().id);
        assert_eq!(v["RepoTags"], serde_json::json!([BUSYBOX]));
        assert_eq!(
            v["RepoDigests"],
            serde_json::json!([format!(
                "docker.io/library/busybox@{}",
                busybox_facts().manifest
            )])
        );
        assert_eq!(v["Created"], busybox_facts().created);
        assert_eq!(v["Config"]["Cmd"], serde_json::json!(["sh"]));
        assert!(v["Config"]["Env"][0].as_str().unwrap().starts_with("PATH="));
        assert_eq!(v["RootFS"]["Type"], "layers");
        assert_eq!(v["History"][0]["created_by"], busybox_facts().created_by);
        assert_eq!(v["Size"], busybox_facts().size);
        // Docker's key order: Id first.
        assert!(w
            .ok(&["inspect", "busybox:1.38.0-musl"])
            .trim_start_matches(['[', '\n', ' ', '{'])
            .trim_start()
            .starts_with("\"Id\""));
        let (_, err) = w.fails(&["inspect", "--format", "{{range .X}}", "busybox:1.38.0-musl"]);
        assert!(err.contains("without {{end}}"), "{err}");
    });
}

#[test]
fn concurrent_writers_lose_nothing() {
    for_each_user(|w| {
        w.busybox();
        let docker = docker_archive(&w);
        let mut kids = Vec::new();
        for i in 0..8 {
            let mut c = w.hutch();
            c.args(["tag", "busybox:1.38.0-musl", &format!("par/t{i}")]);
            kids.push(
                c.stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        for i in 0..3 {
            let mut c = w.hutch();
            c.args(["import", &alpine(), &format!("imp:{i}")]);
            kids.push(
                c.stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        let mut c = w.hutch();
        c.args(["load", "-i", &docker]);
        kids.push(
            c.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        for k in kids {
            let out = k.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let t = w.tags();
        for i in 0..8 {
            assert!(t.contains(&format!("docker.io/par/t{i}:latest")), "{t:?}");
        }
        for i in 0..3 {
            assert!(t.contains(&format!("docker.io/library/imp:{i}")), "{t:?}");
        }
        assert!(t.contains(&BUSYBOX.to_string()));
        // Removals racing with each other and with new tags.
        let mut kids = Vec::new();
        for i in 0..4 {
            let mut c = w.hutch();
            c.args(["rmi", &format!("par/t{i}")]);
            kids.push(
                c.stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
            let mut c = w.hutch();
            c.args(["tag", "busybox:1.38.0-musl", &format!("new/t{i}")]);
            kids.push(
                c.stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
        }
        for k in kids {
            let out = k.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let t = w.tags();
        for i in 0..4 {
            assert!(!t.contains(&format!("docker.io/par/t{i}:latest")), "{t:?}");
            assert!(
                t.contains(&format!("docker.io/par/t{}:latest", i + 4)),
                "{t:?}"
            );
            assert!(t.contains(&format!("docker.io/new/t{i}:latest")), "{t:?}");
        }
        assert_blobs_intact(&w);
    });
}

#[test]
fn skopeo_and_umoci_read_the_store() {
    for_each_user(|w| {
        w.busybox();
        w.ok(&["import", &alpine(), "quay.io/me/alpine:3.20"]);
        w.ok(&["tag", "busybox:1.38.0-musl", "localhost:5000/bb"]);
        // hutch's own files beside the layout must not disturb either tool.
        assert!(w.root().join("lock").exists() && w.root().join("tmp").is_dir());
        let root = w.root();
        let root = root.to_str().unwrap();
        for name in [
            BUSYBOX,
            "quay.io/me/alpine:3.20",
            "localhost:5000/bb:latest",
        ] {
            let out = user_ok(&w, "skopeo", &["inspect", &format!("oci:{root}:{name}")]);
            let v: serde_json::Value = serde_json::from_str(&out).unwrap();
            assert_eq!(v["Os"], "linux", "{name}");
        }
        let ls = user_ok(&w, "umoci", &["ls", "--layout", root]);
        let mut names: Vec<&str> = ls.lines().collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                BUSYBOX,
                "localhost:5000/bb:latest",
                "quay.io/me/alpine:3.20"
            ]
        );
        // And skopeo can copy out of it (every blob is where the index says).
        let out = w.path("copy");
        user_ok(
            &w,
            "skopeo",
            &[
                "copy",
                "-q",
                &format!("oci:{root}:{BUSYBOX}"),
                &format!("oci:{}:x", out.display()),
            ],
        );
    });
}

/// The unpacked layer dirs of a store: `o/<mapping>/<diff id>`.
fn layer_cache(w: &World) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for m in std::fs::read_dir(w.root().join("o")).into_iter().flatten() {
        for l in std::fs::read_dir(m.unwrap().path()).unwrap() {
            out.push(l.unwrap().path());
        }
    }
    out
}

#[test]
fn layer_cache_unpacks_once_and_rmi_cleans_it() {
    use std::os::unix::fs::MetadataExt;
    for_each_user(|w| {
        // Several loads racing to unpack the same layer.
        let kids: Vec<_> = (0..3)
            .map(|_| {
                w.hutch()
                    .args(["load", "--unpack", "-i", &layout()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for k in kids {
            let out = k.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
        let dirs = layer_cache(&w);
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        let dir = &dirs[0];
        assert!(dir.ends_with(&busybox_facts().diff_id[7..]));
        let busybox = dir.join("bin/busybox");
        assert!(busybox.is_file(), "{}", busybox.display());
        // Owners as the image says, seen through the mapping: root is the
        // user; `home` belongs to nobody (65534), a subordinate id when there are some.
        assert_eq!(busybox.metadata().unwrap().uid(), w.user.uid);
        let home = dir.join("home").metadata().unwrap().uid();
        match w.user.kind {
            Kind::SubIds => assert!(home >= 100000, "home owned by {home}"),
            Kind::Single => assert_eq!(home, w.user.uid),
        }
        // Unpacked once: a second load keeps the same directory.
        let ino = dir.metadata().unwrap().ino();
        w.ok(&["load", "--unpack", "-i", &layout()]);
        assert_eq!(dir.metadata().unwrap().ino(), ino);
        // The cache beside the layout does not disturb umoci.
        let root = w.root();
        let ls = user_ok(&w, "umoci", &["ls", "--layout", root.to_str().unwrap()]);
        assert_eq!(ls.trim(), BUSYBOX);
        // Removing the last image that needs the layer removes its files,
        // even those owned by subordinate ids.
        w.ok(&["rmi", "busybox:1.38.0-musl"]);
        assert!(layer_cache(&w).is_empty());
        let tmp: Vec<_> = std::fs::read_dir(w.root().join("tmp")).unwrap().collect();
        assert!(tmp.is_empty(), "{tmp:?}");
    });
}

#[test]
fn load_picks_this_platform_from_a_multi_platform_index() {
    use sha2::Digest as _;
    for_each_user(|w| {
        let dir = w.path("multi");
        user_ok(&w, "cp", &["-r", &layout(), dir.to_str().unwrap()]);
        user_ok(&w, "chmod", &["-R", "u+w", dir.to_str().unwrap()]);
        let other = format!("sha256:{}", "e".repeat(64));
        let (bbm, bbs) = (&busybox_facts().manifest, busybox_facts().manifest_size);
        let nested = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
            {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{other}","size":1,"platform":{{"architecture":"arm64","os":"linux"}}}},
            {{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{bbm}","size":{bbs},"platform":{{"architecture":"amd64","os":"linux"}}}}]}}"#
        );
        let hex = hex::encode(sha2::Sha256::digest(nested.as_bytes()));
        std::fs::write(dir.join("blobs/sha256").join(&hex), &nested).unwrap();
        std::fs::write(
            dir.join("index.json"),
            format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:{hex}","size":{},"annotations":{{"io.containerd.image.name":"docker.io/library/multi:1"}}}}]}}"#, nested.len()),
        )
        .unwrap();
        assert_eq!(
            w.ok(&["load", "-i", dir.to_str().unwrap()]),
            "Loaded image: docker.io/library/multi:1\n"
        );
        assert_eq!(w.inspect("multi:1")["Digest"], busybox_facts().manifest);
        // A nested index with no image for this machine is refused by name.
        let arm_only = nested.replace("amd64", "s390x");
        let hex2 = hex::encode(sha2::Sha256::digest(arm_only.as_bytes()));
        std::fs::write(dir.join("blobs/sha256").join(&hex2), &arm_only).unwrap();
        std::fs::write(
            dir.join("index.json"),
            format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:{hex2}","size":{}}}]}}"#, arm_only.len()),
        )
        .unwrap();
        let (_, err) = w.fails(&["load", "-i", dir.to_str().unwrap()]);
        assert!(err.contains("no linux/amd64 image"), "{err}");
    });
}

#[test]
fn damaged_image_is_reported_and_removable() {
    for_each_user(|w| {
        w.busybox();
        w.ok(&["import", &alpine(), "alpine:3.20"]);
        std::fs::remove_file(w.root().join("blobs/sha256").join(&busybox_facts().id[7..])).unwrap();
        let (code, err) = w.fails(&["images"]);
        assert_eq!(code, 125);
        assert!(
            err.contains("damaged")
                && err.contains(&busybox_facts().id[7..])
                && err.contains("hutch rmi"),
            "{err}"
        );
        // Other images still work; asking for the damaged one says what is wrong.
        assert_eq!(
            w.inspect("alpine:3.20")["RepoTags"][0],
            "docker.io/library/alpine:3.20"
        );
        let (_, err) = w.fails(&["inspect", "busybox:1.38.0-musl"]);
        assert!(
            err.contains("damaged") && err.contains("hutch rmi"),
            "{err}"
        );
        let out = w.ok(&["rmi", "busybox:1.38.0-musl"]);
        assert!(out.contains(&format!("Untagged: {BUSYBOX}")), "{out}");
        assert_eq!(w.tags(), vec!["docker.io/library/alpine:3.20"]);
        // Blobs of the damaged image are collected with the next removal.
        w.ok(&["rmi", "alpine:3.20"]);
        let left: Vec<_> = std::fs::read_dir(w.root().join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn device_nodes_of_an_imported_rootfs_are_one_warning() {
    for_each_user(|w| {
        // A debootstrap-like tree: a shell and the usual /dev nodes.
        let mut b = tar::Builder::new(Vec::new());
        let bb = std::fs::read("/bin/busybox").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(bb.len() as u64);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1000);
        h.set_cksum();
        b.append_data(&mut h, "bin/busybox", &bb[..]).unwrap();
        let devs = [
            "console", "full", "null", "ptmx", "random", "tty", "urandom", "zero",
        ];
        for (i, d) in devs.iter().enumerate() {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Char);
            h.set_device_major(1).unwrap();
            h.set_device_minor(i as u32).unwrap();
            h.set_mode(0o666);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1000);
            h.set_size(0);
            h.set_cksum();
            b.append_data(&mut h, format!("dev/{d}"), &[][..]).unwrap();
        }
        let p = w.write("debootstrap.tar", b.into_inner().unwrap());
        w.ok(&["import", p.to_str().unwrap(), "localhost/devs:1"]);
        let run = [
            "run",
            "--rm",
            "--network",
            "none",
            "localhost/devs:1",
            "/bin/busybox",
            "true",
        ];
        let out = w.run(&run);
        succeeded(&out, "the first run");
        let err = stderr(&out);
        let warnings: Vec<&str> = err.lines().filter(|l| l.contains("skipped")).collect();
        assert_eq!(warnings.len(), 1, "{err}");
        assert!(
            warnings[0].contains("skipped 8 entries (/dev/console, /dev/full, /dev/null, ...): device nodes cannot be created without root")
                && !warnings[0].contains("skipped skipped"),
            "{err}"
        );
        // The layer is unpacked once: the next run says nothing.
        let out = w.run(&run);
        assert_eq!(stderr(&out), "", "the second run");
    });
}
