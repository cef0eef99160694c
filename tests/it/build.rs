//! `hutch build`: real builds of real Dockerfiles as unprivileged users,
//! checked through `hutch inspect`, the stored config and layer blobs, and
//! the step lines that say what the cache did.

use crate::common::*;
use serde_json::Value;
use std::io::Read;

const ALPINE_TGZ: &str = "alpine-3.20/alpine-minirootfs-3.20.3-x86_64.tar.gz";

/// A world for tests that run no container: the default user.
fn world() -> Option<World> {
    match any_user() {
        Some(u) => Some(World::new(u)),
        None => {
            skip("no test user");
            None
        }
    }
}

/// Put the Alpine minirootfs tarball into the context as `alpine.tar.gz`.
fn with_alpine(w: &World, ctx: &str) {
    let bytes = std::fs::read(image(ALPINE_TGZ)).unwrap();
    w.write(&format!("{ctx}/alpine.tar.gz"), bytes);
}

/// What the build printed per step: (instruction, was it cached).
fn steps(stderr: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("STEP ") {
            let text = rest.split_once(": ").map(|x| x.1).unwrap_or(rest);
            out.push((text.to_string(), false));
        } else if line == "--> CACHED" {
            out.last_mut().expect("CACHED after a STEP").1 = true;
        }
    }
    out
}

/// Build `ctx` with extra args; returns (image id, step lines).
fn build(w: &World, ctx: &str, extra: &[&str]) -> (String, Vec<(String, bool)>) {
    let ctx_path = w.path(ctx);
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    args.push(ctx_path.to_str().unwrap());
    let out = w.run(&args);
    assert!(
        out.status.success(),
        "build failed: {}\n{}",
        stdout(&out),
        stderr(&out)
    );
    (stdout(&out).trim().to_string(), steps(&stderr(&out)))
}

/// Build `ctx`, which must fail; its stderr.
fn build_fails(w: &World, ctx: &str) -> String {
    let ctx_path = w.path(ctx);
    w.fails(&["build", ctx_path.to_str().unwrap()]).1
}

/// Which instructions (not FROM) ran instead of coming from the cache.
fn ran(steps: &[(String, bool)]) -> Vec<String> {
    steps
        .iter()
        // FROM and ARG do no work of their own: never cached, never run.
        .filter(|(s, cached)| !cached && !s.starts_with("FROM") && !s.starts_with("ARG"))
        .map(|(s, _)| s.clone())
        .collect()
}

/// The stored config blob (it has Docker's keys that inspect leaves out).
fn raw_config(w: &World, id: &str) -> Value {
    let hex = id.strip_prefix("sha256:").unwrap();
    serde_json::from_slice(&std::fs::read(w.root().join("blobs/sha256").join(hex)).unwrap())
        .unwrap()
}

/// Entries of the image's last layer: path → (mode, uid, gid, mtime, content or link).
fn last_layer(w: &World, image: &str) -> Vec<(String, u32, u64, u64, u64, String)> {
    let man_digest = w.inspect(image)["Digest"].as_str().unwrap().to_string();
    let blobs = w.root().join("blobs/sha256");
    let read = |d: &str| std::fs::read(blobs.join(d.strip_prefix("sha256:").unwrap())).unwrap();
    let manifest: Value = serde_json::from_slice(&read(&man_digest)).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let blob = read(layers.last().unwrap()["digest"].as_str().unwrap());
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
    let mut out = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let h = e.header().clone();
        let mut body = String::new();
        if let Some(l) = e.link_name().unwrap() {
            body = format!("-> {}", l.display());
        } else {
            e.read_to_string(&mut body).unwrap_or_default();
        }
        out.push((
            path,
            h.mode().unwrap() & 0o7777,
            h.uid().unwrap(),
            h.gid().unwrap(),
            h.mtime().unwrap(),
            body,
        ));
    }
    out
}

#[test]
fn alpine_recipe_builds_and_rebuilds_from_cache() {
    let Some(w) = world() else { return };
    with_alpine(&w, "ctx");
    w.write(
        "ctx/Dockerfile",
        "FROM scratch\nADD alpine.tar.gz /\nCMD [\"/bin/sh\"]\n",
    );
    let (id, first) = build(&w, "ctx", &["-t", "alpine:built"]);
    assert_eq!(ran(&first).len(), 2, "{first:?}");
    let im = w.inspect("alpine:built");
    assert_eq!(im["Id"], id.as_str());
    assert_eq!(im["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    assert_eq!(im["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    let files = last_layer(&w, "alpine:built");
    let release = files
        .iter()
        .find(|f| f.0 == "etc/alpine-release")
        .expect("the tarball was unpacked into the layer");
    assert_eq!(release.5.trim(), "3.20.3");
    // The tarball's owners and modes are kept (/etc/shadow is 0640 root:shadow).
    let shadow = files.iter().find(|f| f.0 == "etc/shadow").unwrap();
    assert_eq!((shadow.1, shadow.2, shadow.3), (0o640, 0, 42));
    // Everything again: all cached, the same image.
    let (again, second) = build(&w, "ctx", &["-t", "alpine:built"]);
    assert_eq!(again, id);
    assert!(ran(&second).is_empty(), "{second:?}");
    // -q prints the id alone.
    let q = w.ok(&["build", "-q", w.path("ctx").to_str().unwrap()]);
    assert_eq!(q.trim(), id);
    // And the image runs.
    let out = w.ok(&["run", "--rm", "alpine:built", "cat", "/etc/alpine-release"]);
    assert_eq!(out.trim(), "3.20.3");
}

#[test]
fn metadata_instructions_land_in_the_config() {
    let Some(w) = world() else { return };
    w.write(
        "meta/Dockerfile",
        r#"FROM scratch
MAINTAINER someone@example.com
ENV A=1 B="two words"
ENV A=3
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
CMD echo $A
ENTRYPOINT ["/bin/tini", "--"]
WORKDIR /srv
WORKDIR app
USER 1000:1000
EXPOSE 80 53/udp
VOLUME ["/data", "/cache"]
LABEL org.example.name="hutch test" version=1
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost
ONBUILD COPY . /src
"#,
    );
    let (id, _) = build(&w, "meta", &["-t", "meta:1", "--label", "extra=yes"]);
    let c = &w.inspect("meta:1")["Config"];
    assert_eq!(
        c["Env"],
        serde_json::json!([
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "A=3",
            "B=two words"
        ])
    );
    // Shell form goes through the SHELL in force; CMD set in this stage survives ENTRYPOINT.
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/ash", "-eo", "pipefail", "-c", "echo $A"])
    );
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/tini", "--"]));
    assert_eq!(c["WorkingDir"], "/srv/app");
    assert_eq!(c["User"], "1000:1000");
    let mut ports: Vec<&String> = c["ExposedPorts"].as_object().unwrap().keys().collect();
    ports.sort();
    assert_eq!(ports, ["53/udp", "80/tcp"]);
    let mut vols: Vec<&String> = c["Volumes"].as_object().unwrap().keys().collect();
    vols.sort();
    assert_eq!(vols, ["/cache", "/data"]);
    assert_eq!(c["Labels"]["org.example.name"], "hutch test");
    assert_eq!(c["Labels"]["version"], "1");
    assert_eq!(c["Labels"]["extra"], "yes");
    assert_eq!(c["StopSignal"], "SIGINT");
    let raw = raw_config(&w, &id);
    assert_eq!(raw["author"], "someone@example.com");
    let rc = &raw["config"];
    assert_eq!(
        rc["Healthcheck"],
        serde_json::json!({"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 5_000_000_000u64, "Retries": 2})
    );
    assert_eq!(rc["OnBuild"], serde_json::json!(["COPY . /src"]));
    assert_eq!(
        rc["Shell"],
        serde_json::json!(["/bin/ash", "-eo", "pipefail", "-c"])
    );
    // `hutch inspect` shows the Docker-only keys too, as `docker inspect` does.
    for key in ["Healthcheck", "OnBuild", "Shell"] {
        assert_eq!(c[key], rc[key], "inspect's Config.{key}");
    }
    // WORKDIR made its directories (a layer); the rest are empty layers.
    let history = raw["history"].as_array().unwrap();
    assert_eq!(history.len(), 15);
    let with_layer: Vec<&str> = history
        .iter()
        .filter(|h| h.get("empty_layer").is_none())
        .map(|h| h["created_by"].as_str().unwrap())
        .collect();
    assert_eq!(with_layer, ["WORKDIR /srv", "WORKDIR app"]);
    let files: Vec<String> = last_layer(&w, "meta:1").into_iter().map(|f| f.0).collect();
    // The parent comes again with its metadata, so unpacking the layer
    // cannot give it another.
    assert_eq!(files, ["srv/", "srv/app/"]);
}

#[test]
fn copy_and_add_follow_docker_rules() {
    let Some(w) = world() else { return };
    with_alpine(&w, "c");
    w.write("c/app/main.txt", "main\n");
    w.write("c/app/sub/deep.txt", "deep\n");
    w.write("c/notes/a.md", "a\n");
    w.write("c/notes/b.md", "b\n");
    w.write("c/notes/c.txt", "c\n");
    w.write("c/single", "single\n");
    std::os::unix::fs::symlink("app/main.txt", w.path("c/link")).unwrap();
    std::fs::set_permissions(
        w.path("c/app/main.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o751),
    )
    .unwrap();
    w.write(
        "c/Dockerfile",
        r#"FROM scratch AS base
ADD alpine.tar.gz /
FROM base
COPY app /dst/app
COPY notes/*.md /dst/md/
COPY single /dst/renamed
COPY single /dst/intodir/
COPY link /dst/
COPY --chown=nobody:wheel --chmod=0600 single /dst/owned
COPY --chown=123 single /dst/numeric
COPY <<EOF /dst/heredoc.txt
hello from a heredoc
EOF
"#,
    );
    build(&w, "c", &["-t", "copy:1"]);
    let im = w.inspect("copy:1");
    // alpine + one layer per COPY.
    assert_eq!(im["RootFS"]["Layers"].as_array().unwrap().len(), 9);
    // Check each COPY's layer by building up to it would be long; the last
    // layer is the heredoc, the others are checked through the ids below.
    let last = last_layer(&w, "copy:1");
    let heredoc = last.iter().find(|f| f.0 == "dst/heredoc.txt").unwrap();
    assert_eq!(heredoc.5, "hello from a heredoc\n");
    let dst = last.iter().find(|f| f.0 == "dst/").unwrap();
    assert_eq!(
        (dst.1, dst.4),
        (0o755, 0),
        "/dst exists below: repeated as it is there"
    );
    // One image per COPY, so each layer can be looked at.
    let dockerfile = std::fs::read_to_string(w.path("c/Dockerfile")).unwrap();
    let lines: Vec<&str> = dockerfile.lines().collect();
    let layer_after = |n: usize| {
        w.write("c/Dockerfile.part", lines[..n].join("\n"));
        let p = w.path("c/Dockerfile.part");
        let (_, st) = build(&w, "c", &["-f", p.to_str().unwrap(), "-t", "part:1"]);
        assert!(ran(&st).is_empty(), "same steps: cached {st:?}");
        last_layer(&w, "part:1")
    };
    let names = |l: &[(String, u32, u64, u64, u64, String)]| -> Vec<String> {
        l.iter().map(|f| f.0.clone()).collect()
    };
    // A directory's contents are copied, modes kept, owned by root.
    let l = layer_after(4);
    assert_eq!(
        names(&l),
        [
            "dst/",
            "dst/app/",
            "dst/app/main.txt",
            "dst/app/sub/",
            "dst/app/sub/deep.txt"
        ]
    );
    let main = &l[2];
    assert_eq!((main.1, main.2, main.3), (0o751, 0, 0));
    let ctx_mtime = std::fs::metadata(w.path("c/app/main.txt"))
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(main.4, ctx_mtime, "COPY keeps mtimes");
    assert_eq!(
        names(&layer_after(5)),
        ["dst/", "dst/md/", "dst/md/a.md", "dst/md/b.md"]
    );
    assert_eq!(names(&layer_after(6)), ["dst/", "dst/renamed"]);
    assert_eq!(
        names(&layer_after(7)),
        ["dst/", "dst/intodir/", "dst/intodir/single"]
    );
    let l = layer_after(8);
    assert_eq!(l[1].0, "dst/link");
    assert_eq!(l[1].5, "main\n", "a symlink named as source is followed");
    // Names come from the image's /etc/passwd and /etc/group (nobody=65534, wheel=10).
    let l = layer_after(9);
    assert_eq!((l[1].1, l[1].2, l[1].3), (0o600, 65534, 10));
    let l = layer_after(10);
    assert_eq!((l[1].2, l[1].3), (123, 123));
}

#[test]
fn cache_invalidates_exactly_what_docker_does() {
    let Some(w) = world() else { return };
    w.write("k/a.txt", "a\n");
    w.write("k/b.txt", "b\n");
    w.write("k/ignored.log", "x\n");
    w.write("k/.dockerignore", "*.log\n");
    w.write(
        "k/Dockerfile",
        "FROM scratch\nARG USED=1\nARG UNUSED=1\nCOPY a.txt /a\nLABEL v=$USED\nCOPY . /all/\nENV DONE=1\n",
    );
    let all = [
        "COPY a.txt /a",
        "LABEL v=$USED",
        "COPY . /all/",
        "ENV DONE=1",
    ];
    let (id, st) = build(&w, "k", &[]);
    assert_eq!(ran(&st), all);
    let (same, st) = build(&w, "k", &[]);
    assert_eq!((same.as_str(), ran(&st)), (id.as_str(), vec![]));
    // An ignored file is not part of the context.
    w.write("k/ignored.log", "changed\n");
    assert!(ran(&build(&w, "k", &[]).1).is_empty());
    // Touching a file without changing it does not count (mtimes are not hashed).
    let t = std::fs::File::options()
        .write(true)
        .open(w.path("k/b.txt"))
        .unwrap();
    t.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    assert!(ran(&build(&w, "k", &[]).1).is_empty());
    // One byte of b.txt: only the COPY that reads it and what follows.
    w.write("k/b.txt", "B\n");
    assert_eq!(ran(&build(&w, "k", &[]).1), &all[2..]);
    // Its mode.
    std::fs::set_permissions(
        w.path("k/b.txt"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    assert_eq!(ran(&build(&w, "k", &[]).1), &all[2..]);
    // a.txt: everything from the first COPY.
    w.write("k/a.txt", "A\n");
    assert_eq!(ran(&build(&w, "k", &[]).1), all);
    // A build arg nothing uses changes nothing; a used one invalidates from its user on.
    assert!(ran(&build(&w, "k", &["--build-arg", "UNUSED=2"]).1).is_empty());
    assert_eq!(
        ran(&build(&w, "k", &["--build-arg", "USED=2"]).1),
        &all[1..]
    );
    // --no-cache runs everything.
    assert_eq!(ran(&build(&w, "k", &["--no-cache"]).1), all);
}

#[test]
fn stages_target_and_copy_from() {
    let Some(w) = world() else { return };
    with_alpine(&w, "m");
    w.write("m/hello.txt", "hello\n");
    w.write(
        "m/Dockerfile",
        r#"FROM scratch AS base
ADD alpine.tar.gz /
FROM base AS build
COPY hello.txt /out/hello.txt
LABEL stage=build
FROM base AS never
RUN exit 1
FROM scratch AS final
COPY --from=build /out /
COPY --from=base /etc/alpine-release /release
"#,
    );
    let (_, st) = build(&w, "m", &["-t", "multi:1"]);
    assert!(
        !st.iter().any(|(s, _)| s.starts_with("RUN")),
        "the unused stage did not run: {st:?}"
    );
    let files: Vec<(String, String)> = last_layer(&w, "multi:1")
        .into_iter()
        .map(|f| (f.0, f.5))
        .collect();
    assert_eq!(files, [("release".to_string(), "3.20.3\n".to_string())]);
    let im = w.inspect("multi:1");
    assert_eq!(im["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    assert!(
        im["Config"]["Labels"].is_null(),
        "final starts from scratch"
    );
    // --target stops at that stage.
    build(&w, "m", &["--target", "build", "-t", "multi:build"]);
    let im = w.inspect("multi:build");
    assert_eq!(im["Config"]["Labels"]["stage"], "build");
    assert_eq!(im["RootFS"]["Layers"].as_array().unwrap().len(), 2);
}

#[test]
fn copy_from_a_stage_with_wildcards() {
    let Some(w) = world() else { return };
    for f in ["a.txt", "b.txt", "c.md", "sub/d.txt"] {
        w.write(&format!("g/out/{f}"), format!("{f}\n"));
    }
    w.write(
        "g/Dockerfile",
        r#"FROM scratch AS build
COPY out /out
FROM scratch
COPY --from=build /out/*.txt /dst/
COPY --from=build /o?t/s[u]b /sub/
"#,
    );
    build(&w, "g", &["-t", "glob:1"]);
    let files: Vec<String> = last_layer(&w, "glob:1").into_iter().map(|f| f.0).collect();
    assert_eq!(files, ["sub/", "sub/d.txt"]);
    let im = w.inspect("glob:1");
    assert_eq!(im["RootFS"]["Layers"].as_array().unwrap().len(), 2);
    w.write(
        "g/Dockerfile",
        "FROM scratch AS build\nCOPY out /out\nFROM scratch\nCOPY --from=build /out/*.txt /dst/\n",
    );
    build(&w, "g", &["-t", "glob:2"]);
    let files: Vec<String> = last_layer(&w, "glob:2").into_iter().map(|f| f.0).collect();
    assert_eq!(files, ["dst/", "dst/a.txt", "dst/b.txt"]);
    // No match is an error naming the pattern, as for the context.
    w.write(
        "g/Dockerfile",
        "FROM scratch AS build\nCOPY out /out\nFROM scratch\nCOPY --from=build /out/*.rs /dst/\n",
    );
    let err = build_fails(&w, "g");
    assert!(
        err.contains("Dockerfile:4: COPY --from=build /out/*.rs /dst/: /out/*.rs: no file in the --from image matches"),
        "{err}"
    );
}

#[test]
fn bad_input_is_one_clear_line_and_tags_nothing() {
    let Some(w) = world() else { return };
    w.write("x/a.txt", "a\n");
    let cases: &[(&str, &[&str], &str)] = &[
        ("FROM scratch\nFROBNICATE x\n", &[], "Dockerfile:2"),
        ("COPY a.txt /a\n", &[], "Dockerfile:1"),
        (
            "FROM scratch\nCOPY ../x /x\n",
            &[],
            "outside the build context",
        ),
        (
            "FROM scratch\nCOPY nope.txt /x\n",
            &[],
            "Dockerfile:2: COPY nope.txt /x: nope.txt: not found",
        ),
        (
            "FROM scratch AS a\n",
            &["--target", "b"],
            "target stage 'b' not found",
        ),
        (
            "FROM not-loaded:1\n",
            &["--pull=never"],
            "Dockerfile:1: FROM not-loaded:1: no such image: not-loaded:1",
        ),
        (
            "FROM scratch\nCOPY --from=missing:1 /x /x\n",
            &["--pull=never"],
            "Dockerfile:2: COPY --from=missing:1 /x /x: no such image: missing:1",
        ),
        (
            "FROM scratch\nCOPY a.txt a.txt /dir\n",
            &[],
            "must be a directory and end with a /",
        ),
        (
            "FROM scratch\nADD http://127.0.0.1:9/x /x\n",
            &[],
            "Dockerfile:2: ADD http://127.0.0.1:9/x /x: cannot download http://127.0.0.1:9/x",
        ),
    ];
    for (text, extra, want) in cases {
        w.write("x/Dockerfile", text);
        let mut args = vec!["build", "-t", "bad:1"];
        args.extend_from_slice(extra);
        let ctx = w.path("x");
        args.push(ctx.to_str().unwrap());
        let (code, err) = w.fails(&args);
        assert_eq!(code, 125, "{text}: {err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("Error:")).collect();
        assert_eq!(errors.len(), 1, "{text}: {err}");
        assert!(errors[0].contains(want), "{text}: want {want:?} in {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert_eq!(w.ok(&["images", "-q"]).trim(), "", "nothing was added");
}

#[test]
fn onbuild_triggers_run_in_the_child_build() {
    let Some(w) = world() else { return };
    w.write(
        "parent/Dockerfile",
        "FROM scratch\nONBUILD LABEL from=trigger\nONBUILD COPY marker /marker\n",
    );
    build(&w, "parent", &["-t", "parent:1"]);
    w.write("child/marker", "made by a trigger\n");
    w.write("child/Dockerfile", "FROM parent:1\nLABEL own=yes\n");
    let (id, st) = build(&w, "child", &["-t", "child:1"]);
    let order: Vec<&str> = st.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        order,
        [
            "FROM parent:1",
            "LABEL from=trigger",
            "COPY marker /marker",
            "LABEL own=yes"
        ]
    );
    let c = &w.inspect("child:1")["Config"];
    assert_eq!(c["Labels"]["from"], "trigger");
    assert_eq!(c["Labels"]["own"], "yes");
    assert!(
        raw_config(&w, &id)["config"].get("OnBuild").is_none(),
        "triggers are not inherited"
    );
    // The COPY trigger read the child's context and made the only layer.
    let files: Vec<(String, String)> = last_layer(&w, "child:1")
        .into_iter()
        .map(|f| (f.0, f.5))
        .collect();
    assert_eq!(
        files,
        [("marker".to_string(), "made by a trigger\n".to_string())]
    );
    assert_eq!(
        w.inspect("child:1")["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn cache_survives_rmi_and_dockerfile_sources() {
    let Some(w) = world() else { return };
    w.write("s/data.txt", "data\n");
    w.write("s/secret.key", "k\n");
    // A Dockerfile-specific ignore file next to a Dockerfile outside the context.
    w.write("elsewhere/Build.df", "FROM scratch\nCOPY . /ctx/\n");
    w.write("elsewhere/Build.df.dockerignore", "*.key\n");
    let df = w.path("elsewhere/Build.df");
    let (id, st) = build(&w, "s", &["-f", df.to_str().unwrap(), "-t", "s:1"]);
    assert_eq!(ran(&st), ["COPY . /ctx/"]);
    let names: Vec<String> = last_layer(&w, "s:1").into_iter().map(|f| f.0).collect();
    assert_eq!(names, ["ctx/", "ctx/data.txt"]);
    // Removing the image collects its blobs but not the build cache's.
    w.ok(&["rmi", "s:1"]);
    assert_eq!(w.ok(&["images", "-q"]).trim(), "");
    let (again, st) = build(&w, "s", &["-f", df.to_str().unwrap(), "-t", "s:1"]);
    assert_eq!(again, id);
    assert!(ran(&st).is_empty(), "{st:?}");
    last_layer(&w, "s:1");
    // The Dockerfile on stdin, with no context: metadata works, COPY says why not.
    let out = w
        .hutch()
        .args(["build", "-t", "stdin:1", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"FROM scratch\nLABEL via=stdin\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(w.inspect("stdin:1")["Config"]["Labels"]["via"], "stdin");
}

/// Alpine from the minirootfs, then `body`, in context `ctx`.
fn alpine_dockerfile(w: &World, ctx: &str, body: &str) {
    with_alpine(w, ctx);
    w.write(
        &format!("{ctx}/Dockerfile"),
        format!("FROM scratch\nADD alpine.tar.gz /\n{body}"),
    );
}

#[test]
fn run_steps_make_layers_in_the_sandbox() {
    for_each_user(|w| {
        alpine_dockerfile(
            &w,
            "r",
            concat!(
                "ARG WHO=builder\n",
                "ENV GREETING=hello\n",
                "WORKDIR /work\n",
                "SHELL [\"/bin/sh\", \"-ec\"]\n",
                "RUN echo \"$GREETING from $WHO in $(pwd)\" > made.txt; rm /etc/motd; ln -s made.txt link\n",
                "RUN true\n",
                "RUN <<DOC\n",
                "echo heredoc >> /work/made.txt\n",
                "DOC\n",
                "CMD [\"cat\", \"/work/made.txt\"]\n",
            ),
        );
        let (id, st) = build(&w, "r", &["-t", "ran:1"]);
        assert_eq!(ran(&st).len(), 8, "{st:?}");
        let out = w.ok(&["run", "--rm", "ran:1"]);
        assert_eq!(out, "hello from builder in /work\nheredoc\n");
        // The deletion is a whiteout in the layer, so the file is gone.
        let (code, _) = w.fails(&["run", "--rm", "ran:1", "ls", "/etc/motd"]);
        assert_ne!(code, 0);
        let link = w.ok(&["run", "--rm", "ran:1", "readlink", "/work/link"]);
        assert_eq!(link.trim(), "made.txt");
        // A RUN that changes nothing adds no layer.
        let raw = raw_config(&w, &id);
        let empty: Vec<&str> = raw["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["empty_layer"] == true)
            .map(|h| h["created_by"].as_str().unwrap())
            .collect();
        assert!(empty.contains(&"RUN true"), "{empty:?}");
        // ADD, WORKDIR, the first RUN and the heredoc RUN.
        assert_eq!(raw["rootfs"]["diff_ids"].as_array().unwrap().len(), 4);
        // Rebuilt: all cached, same image; a new build arg value reruns the RUNs.
        let (again, st) = build(&w, "r", &["-t", "ran:1"]);
        assert_eq!((again.as_str(), ran(&st).len()), (id.as_str(), 0));
        let (_, st) = build(&w, "r", &["-t", "ran:2", "--build-arg", "WHO=you"]);
        let rerun: Vec<String> = ran(&st).into_iter().map(|s| s[..8].to_string()).collect();
        assert_eq!(rerun, ["RUN echo", "RUN true", "RUN <<DO", "CMD [\"ca"]);
        let out = w.ok(&["run", "--rm", "ran:2"]);
        assert!(out.starts_with("hello from you"), "{out}");
    });
}

#[test]
fn heredoc_with_a_shebang_runs_its_own_interpreter() {
    for_each_user(|w| {
        alpine_dockerfile(
            &w,
            "sb",
            concat!(
                "RUN <<EOF\n",
                "#!/bin/sh -e\n",
                "echo \"via $0\" > /shebang.txt\n",
                "EOF\n",
                "RUN <<EOF\n",
                "#!/usr/bin/env sh\n",
                "echo hi > /env.txt\n",
                "EOF\n",
            ),
        );
        build(&w, "sb", &["-t", "sb:1"]);
        let cat = |f: &str| w.ok(&["run", "--rm", "sb:1", "cat", f]);
        assert_eq!(cat("/shebang.txt"), "via /dev/pipes/EOF\n");
        assert_eq!(cat("/env.txt"), "hi\n");
        let files: Vec<String> = last_layer(&w, "sb:1").into_iter().map(|f| f.0).collect();
        assert_eq!(files, ["env.txt"], "the script is not in the layer");
        // The interpreter's own options apply: `-e` stops at `false`.
        alpine_dockerfile(
            &w,
            "sb",
            "RUN <<EOF\n#!/bin/sh -e\nfalse\ntouch /after\nEOF\n",
        );
        let err = build_fails(&w, "sb");
        assert!(err.contains("exited with code 1"), "{err}");
    });
}

#[test]
fn failing_run_names_step_command_and_code_and_tags_nothing() {
    for_each_user(|w| {
        alpine_dockerfile(&w, "f", "RUN echo partial > /partial && exit 7\n");
        let ctx = w.path("f");
        let (code, err) = w.fails(&["build", "-t", "broken:1", ctx.to_str().unwrap()]);
        assert_eq!(code, 125);
        let line = err.lines().find(|l| l.starts_with("Error:")).unwrap();
        assert!(
            line.contains("Dockerfile:3: RUN echo partial > /partial && exit 7")
                && line.contains("exited with code 7")
                && line.contains("/bin/sh"),
            "{err}"
        );
        assert_eq!(w.ok(&["images", "-q"]).trim(), "", "nothing tagged");
        // No scratch dir (the partial upper) is left behind.
        let left: Vec<_> = std::fs::read_dir(w.root().join("tmp"))
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn run_mounts_cache_bind_tmpfs_and_secrets() {
    for_each_user(|w| {
        w.write("mnt/data/value.txt", "from the context\n");
        w.write("token", "s3cret\n");
        alpine_dockerfile(
            &w,
            "mnt",
            concat!(
                "RUN --mount=type=cache,target=/var/cache/app sh -c 'echo run >> /var/cache/app/log; wc -l < /var/cache/app/log > /runs'\n",
                "RUN --mount=type=bind,source=data,target=/mnt cp /mnt/value.txt /bound.txt\n",
                "RUN --mount=type=tmpfs,target=/scratch sh -c 'touch /scratch/x && test \"$(stat -f -c %T /scratch)\" = tmpfs'\n",
                "RUN --mount=type=secret,id=tok,required sh -c 'test \"$(cat /run/secrets/tok)\" = s3cret && touch /had-secret'\n",
            ),
        );
        let ctx = w.path("mnt");
        let secret = format!("id=tok,src={}", w.path("token").display());
        let args = ["-t", "mnt:1", "--secret", secret.as_str()];
        build(&w, "mnt", &args);
        let cat = |f: &str| w.ok(&["run", "--rm", "mnt:1", "cat", f]);
        assert_eq!(cat("/runs").trim(), "1");
        assert_eq!(cat("/bound.txt"), "from the context\n");
        w.ok(&["run", "--rm", "mnt:1", "ls", "/had-secret"]);
        // Mount points the image did not have stay out of the layers.
        for gone in [
            "/var/cache/app",
            "/mnt/value.txt",
            "/scratch",
            "/run/secrets",
        ] {
            let (code, _) = w.fails(&["run", "--rm", "mnt:1", "ls", gone]);
            assert_ne!(code, 0, "{gone} should not be in the image");
        }
        // The cache mount keeps its contents across builds.
        build(
            &w,
            "mnt",
            &["--no-cache", "-t", "mnt:1", "--secret", secret.as_str()],
        );
        assert_eq!(cat("/runs").trim(), "2");
        // What a bind mount shows is part of the cache key; the secret is not.
        w.write("mnt/data/value.txt", "changed\n");
        let (_, st) = build(&w, "mnt", &args);
        let rerun: Vec<String> = ran(&st).into_iter().map(|s| s[..26].to_string()).collect();
        assert_eq!(
            rerun,
            [
                "RUN --mount=type=bind,sour",
                "RUN --mount=type=tmpfs,tar",
                "RUN --mount=type=secret,id"
            ]
        );
        // A required secret that is not given: a clear error.
        let (_, err) = w.fails(&["build", "--no-cache", ctx.to_str().unwrap()]);
        assert!(err.contains("secret tok is required"), "{err}");
    });
}

#[test]
fn run_binds_from_a_stage_read_only_or_throwaway_rw() {
    for_each_user(|w| {
        w.write("bf/data/v.txt", "from the stage\n");
        with_alpine(&w, "bf");
        w.write(
            "bf/Dockerfile",
            concat!(
                "FROM scratch AS tools\n",
                "COPY data /data\n",
                "FROM scratch\n",
                "ADD alpine.tar.gz /\n",
                "RUN --mount=type=bind,from=tools,source=/data,target=/m sh -c 'cp /m/v.txt /got.txt && ! touch /m/new 2>/dev/null'\n",
                "RUN --mount=type=bind,from=tools,source=data,target=/m,rw sh -c 'echo changed > /m/v.txt && cp /m/v.txt /rw.txt'\n",
                "RUN --mount=type=bind,from=tools,target=/m cp /m/data/v.txt /again.txt\n",
            ),
        );
        build(&w, "bf", &["-t", "bf:1"]);
        let cat = |f: &str| w.ok(&["run", "--rm", "bf:1", "cat", f]);
        assert_eq!(cat("/got.txt"), "from the stage\n");
        assert_eq!(cat("/rw.txt"), "changed\n");
        // The rw write was the RUN's own: the next mount sees the stage.
        assert_eq!(cat("/again.txt"), "from the stage\n");
        let (code, _) = w.fails(&["run", "--rm", "bf:1", "ls", "/m"]);
        assert_ne!(code, 0, "the mount point is not in the image");
        // What the stage holds is part of the cache key.
        w.write("bf/data/v.txt", "new\n");
        build(&w, "bf", &["-t", "bf:2"]);
        assert_eq!(w.ok(&["run", "--rm", "bf:2", "cat", "/got.txt"]), "new\n");
    });
}

/// A static HTTP server on 127.0.0.1 serving `dir`; killed on drop.
struct Server {
    child: std::process::Child,
    port: u16,
}

impl Server {
    fn start(dir: &std::path::Path) -> Server {
        use std::io::BufRead;
        let mut child = std::process::Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 for a test HTTP server");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected http.server banner: {line}"));
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn add_from_a_url_with_and_without_checksum() {
    let Some(w) = world() else { return };
    let served = w.path("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(served.join("tool.tar.gz"), b"not unpacked\n").unwrap();
    let server = Server::start(&served);
    let url = format!("http://127.0.0.1:{}/tool.tar.gz", server.port);
    w.write("u/Dockerfile", format!("FROM scratch\nADD {url} /dl/\n"));
    build(&w, "u", &["-t", "url:1"]);
    let l = last_layer(&w, "url:1");
    let file = l
        .iter()
        .find(|f| f.0 == "dl/tool.tar.gz")
        .expect("downloaded");
    assert_eq!((file.1, file.5.as_str()), (0o600, "not unpacked\n"));
    // The content decides: unchanged content is cached, changed content is not.
    let (_, st) = build(&w, "u", &["-t", "url:1"]);
    assert!(ran(&st).is_empty(), "{st:?}");
    std::fs::write(served.join("tool.tar.gz"), b"new release\n").unwrap();
    let (_, st) = build(&w, "u", &["-t", "url:1"]);
    assert_eq!(ran(&st), [format!("ADD {url} /dl/")]);
    // --checksum: a wrong one fails and names both digests...
    let wrong = format!("sha256:{}", "0".repeat(64));
    w.write(
        "u/Dockerfile",
        format!("FROM scratch\nADD --checksum={wrong} {url} /dl/\n"),
    );
    let (_, err) = w.fails(&["build", w.path("u").to_str().unwrap()]);
    assert!(err.contains("not the --checksum"), "{err}");
    // ...a right one works, and once cached needs no server at all.
    let sum = {
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(b"new release\n"))
        )
    };
    w.write(
        "u/Dockerfile",
        format!("FROM scratch\nADD --checksum={sum} {url} /dl/\n"),
    );
    build(&w, "u", &["-t", "url:2"]);
    drop(server);
    let (_, st) = build(&w, "u", &["-t", "url:2"]);
    assert!(ran(&st).is_empty(), "{st:?}");
}

#[test]
fn run_steps_get_the_default_network_unless_told() {
    for_each_user(|w| {
        let bb = w.busybox();
        w.write(
            "n/Dockerfile",
            format!(
                "FROM {bb}\nRUN ls /sys/class/net > /nets\n\
                 RUN --network=none ls /sys/class/net > /nets-none\n"
            ),
        );
        let nets = |extra: &[&str]| {
            let mut args = vec!["-t", "n:1"];
            args.extend_from_slice(extra);
            build(&w, "n", &args);
            let cat = |f: &str| w.ok(&["run", "--rm", "n:1", "cat", f]);
            (cat("/nets"), cat("/nets-none"))
        };
        // The default connects the step: an interface besides lo.
        let (default, none) = nets(&[]);
        assert!(default.lines().any(|l| l != "lo"), "{default}");
        assert_eq!(none, "lo\n");
        let (default, none) = nets(&["--no-cache", "--network", "none"]);
        assert_eq!((default.as_str(), none.as_str()), ("lo\n", "lo\n"));
        // Docker's `bridge` is the default network.
        let (bridge, _) = nets(&["--no-cache", "--network", "bridge"]);
        assert!(bridge.lines().any(|l| l != "lo"), "{bridge}");
        let out = w.run(&["build", "--network", "pasta", w.path("n").to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("--network pasta") && one_error(&err), "{err}");
    });
}

/// `stat -c FORMAT PATHS...` inside `image`, one line per path.
fn stat_in(w: &World, image: &str, format: &str, paths: &[&str]) -> Vec<String> {
    let mut args = vec!["run", "--rm", image, "stat", "-c", format];
    args.extend_from_slice(paths);
    w.ok(&args).lines().map(String::from).collect()
}

#[test]
fn copy_keeps_existing_directories_as_the_image_has_them() {
    for_each_user(|w| {
        w.write("p/hello.c", "int main(void) { return 0; }\n");
        w.write("p/f", "f\n");
        w.write("p/tree/sub/g", "g\n");
        alpine_dockerfile(
            &w,
            "p",
            concat!(
                "COPY hello.c /tmp/\n",
                "COPY f /var/tmp/x/\n",
                "COPY tree /tmp/\n",
                "WORKDIR /tmp\n",
                "COPY f .\n",
                "WORKDIR /var/tmp/made\n",
            ),
        );
        build(&w, "p", &["-t", "parents:1"]);
        // Existing /tmp and /var/tmp keep 1777 root; what COPY and WORKDIR
        // create is 0755 root.
        assert_eq!(
            stat_in(
                &w,
                "parents:1",
                "%n %a %u:%g",
                &[
                    "/tmp",
                    "/var/tmp",
                    "/var/tmp/x",
                    "/var/tmp/made",
                    "/tmp/sub"
                ]
            ),
            [
                "/tmp 1777 0:0",
                "/var/tmp 1777 0:0",
                "/var/tmp/x 755 0:0",
                "/var/tmp/made 755 0:0",
                "/tmp/sub 755 0:0",
            ]
        );
        let out = w.ok(&["run", "--rm", "parents:1", "cat", "/tmp/hello.c", "/tmp/f"]);
        assert_eq!(out, "int main(void) { return 0; }\nf\n");
        // A WORKDIR over a file fails as Docker's `mkdir`, instead of
        // putting a directory over the file; a link on the way is followed.
        for (dir, named) in [
            ("/etc/passwd", "/etc/passwd"),
            ("/bin/sh/sub", "/bin/busybox"),
        ] {
            alpine_dockerfile(&w, "q", &format!("WORKDIR {dir}\n"));
            let err = build_fails(&w, "q");
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("Error: ")).collect();
            assert!(
                errors.len() == 1
                    && errors[0].ends_with(&format!(
                        "WORKDIR {dir}: {named} exists in the image and is not a directory"
                    )),
                "{err}"
            );
        }
        // The layer repeats the parent with the image's own metadata
        // (alpine's /var/tmp: 1777, root, mtime of the minirootfs).
        let l = last_layer(&w, "parents:1");
        let var_tmp = l.iter().find(|f| f.0 == "var/tmp/").unwrap();
        assert_eq!((var_tmp.1, var_tmp.2, var_tmp.3), (0o1777, 0, 0));
        assert!(var_tmp.4 > 0, "the image's mtime, not 0: {var_tmp:?}");
    });
}

#[test]
fn copy_keeps_hard_links_among_its_sources() {
    for_each_user(|w| {
        w.write("h/files/a", "same\n");
        std::fs::hard_link(w.path("h/files/a"), w.path("h/files/b")).unwrap();
        w.write("h/files/c", "other\n");
        with_alpine(&w, "h");
        w.write(
            "h/Dockerfile",
            concat!(
                "FROM scratch AS zero\n",
                "ADD alpine.tar.gz /\n",
                "COPY files /h/\n",
                "FROM zero\n",
                "COPY --from=zero /h /again/\n",
            ),
        );
        build(&w, "h", &["-t", "links:1"]);
        let l = last_layer(&w, "links:1");
        let entries: Vec<(String, String)> = l
            .iter()
            .filter(|f| f.0.starts_with("again/"))
            .map(|f| (f.0.clone(), f.5.clone()))
            .collect();
        assert_eq!(
            entries,
            [
                ("again/".to_string(), String::new()),
                ("again/a".to_string(), "same\n".to_string()),
                ("again/b".to_string(), "-> again/a".to_string()),
                ("again/c".to_string(), "other\n".to_string()),
            ],
            "a hard link in the --from stage stays one"
        );
        // From the context: one inode, two names, in the image's layer.
        let links = stat_in(&w, "links:1", "%n %h", &["/h/a", "/h/b", "/h/c"]);
        assert_eq!(links, ["/h/a 2", "/h/b 2", "/h/c 1"]);
        let inodes = stat_in(&w, "links:1", "%i", &["/h/a", "/h/b"]);
        // Native overlay and the copy show the layer's one inode under both
        // names; the FUSE overlay shows each name of a lower hard link as
        // its own file (so that copying one up cannot change the other), as
        // the README says.
        if w.driver.as_deref() == Some("fuse") {
            assert_ne!(inodes[0], inodes[1]);
        } else {
            assert_eq!(inodes[0], inodes[1]);
        }
    });
}

#[test]
fn copy_follows_a_symlink_named_as_source_inside_the_context() {
    for_each_user(|w| {
        w.write("s/real/file.txt", "real\n");
        w.write("s/tree/plain.txt", "plain\n");
        let ln = |target: &str, at: &str| std::os::unix::fs::symlink(target, w.path(at)).unwrap();
        ln("real/file.txt", "s/link");
        ln("real", "s/dirlink");
        ln("plain.txt", "s/tree/inner");
        // Absolute and climbing targets resolve inside the context.
        ln("/real/file.txt", "s/abs");
        ln("../../../../real/file.txt", "s/climb");
        ln("/etc/hostname", "s/escape");
        w.write(
            "s/Dockerfile",
            concat!(
                "FROM scratch\n",
                "COPY link /one/\n",
                "COPY dirlink /two/\n",
                "COPY tree /three/\n",
                "COPY l?nk abs climb /four/\n",
            ),
        );
        build(&w, "s", &["-t", "sym:1"]);
        let l = last_layer(&w, "sym:1");
        let got: Vec<(String, String)> = l.iter().map(|f| (f.0.clone(), f.5.clone())).collect();
        let want = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            got,
            want(&[
                ("four/", ""),
                ("four/abs", "real\n"),
                ("four/climb", "real\n"),
                ("four/link", "real\n"),
            ])
        );
        let layers = |n: usize| {
            let lines: Vec<&str> = [
                "FROM scratch",
                "COPY link /one/",
                "COPY dirlink /two/",
                "COPY tree /three/",
            ][..n]
                .to_vec();
            w.write("s/Dockerfile.part", lines.join("\n"));
            let p = w.path("s/Dockerfile.part");
            build(&w, "s", &["-f", p.to_str().unwrap(), "-t", "part:1"]);
            last_layer(&w, "part:1")
                .into_iter()
                .map(|f| (f.0, f.5))
                .collect::<Vec<_>>()
        };
        // The link's name, the target's content.
        assert_eq!(layers(2), want(&[("one/", ""), ("one/link", "real\n")]));
        // A link to a directory copies the directory's contents.
        assert_eq!(layers(3), want(&[("two/", ""), ("two/file.txt", "real\n")]));
        // Inside a copied directory a symlink stays a symlink.
        assert_eq!(
            layers(4),
            want(&[
                ("three/", ""),
                ("three/inner", "-> plain.txt"),
                ("three/plain.txt", "plain\n"),
            ])
        );
        // A link out of the context is looked up inside it: not found.
        w.write("s/Dockerfile", "FROM scratch\nCOPY escape /x\n");
        let err = build_fails(&w, "s");
        assert!(
            err.contains("COPY escape /x: escape: not found in the build context"),
            "{err}"
        );
    });
}

#[test]
fn stage_args_reach_stages_built_from_them_only() {
    for_each_user(|w| {
        w.write(
            "a/Dockerfile",
            concat!(
                "ARG G=global\n",
                "FROM scratch AS base\n",
                "ARG X=from-base\n",
                "LABEL g=\"[$G]\"\n",
                "FROM base AS child\n",
                "ARG X\n",
                "LABEL x=\"[$X]\"\n",
                "FROM base AS grandchild\n",
                "LABEL x=\"[$X]\"\n",
                "FROM scratch AS other\n",
                "LABEL x=\"[$X]\"\n",
            ),
        );
        let label = |target: &str, key: &str| {
            build(
                &w,
                "a",
                &["--target", target, "-t", &format!("args:{target}")],
            );
            w.inspect(&format!("args:{target}"))["Config"]["Labels"][key]
                .as_str()
                .unwrap()
                .to_string()
        };
        // A global ARG is only seen in a stage that declares it again.
        assert_eq!(label("base", "g"), "[]");
        assert_eq!(label("child", "x"), "[from-base]");
        assert_eq!(label("grandchild", "x"), "[from-base]");
        assert_eq!(label("other", "x"), "[]");
        // A build argument given for it reaches the inheriting stage too.
        build(
            &w,
            "a",
            &[
                "--target",
                "grandchild",
                "-t",
                "args:cli",
                "--build-arg",
                "X=cli",
            ],
        );
        let x = &w.inspect("args:cli")["Config"]["Labels"]["x"];
        assert_eq!(x, "[cli]");
    });
}
