//! Environment versions end to end, as both test users: snapshot, break
//! the environment (a file under /usr deleted, a local .apk installed),
//! `env diff` names both, roll back, roll the rollback back; versions are
//! images (listed, taggable, kept by `image prune -a`); a rollback refuses
//! while someone is inside; a rebuild keeps the old environment as a
//! version; hutch killed half way through a snapshot or a rollback leaves
//! the environment as it was (or, past the switch, rolled back), with one
//! container.

use crate::common::*;
use crate::project::{Proj, CONTAINERFILE};
use std::io::Write;
use std::process::Stdio;

/// A tar of package files: (name, data, mode), directories ending in `/`.
fn package_tar(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data, mode) in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mode(*mode);
        h.set_mtime(1_700_000_000);
        // apk reads every numeric field: none may be left blank.
        h.set_uid(0);
        h.set_gid(0);
        if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(data.len() as u64);
        }
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const HELLO_SCRIPT: &[u8] = b"#!/bin/sh\necho hello from the package\n";

/// An unsigned apk package installing `/usr/bin/hutch-hello`: apk's v2
/// format is a gzip stream of the control tar (.PKGINFO, its end-of-archive
/// blocks cut so the data tar follows as one archive) and one of the data.
fn hello_apk() -> Vec<u8> {
    let info =
        b"pkgname = hutch-hello\npkgver = 1.0-r0\narch = noarch\nsize = 40\npkgdesc = test\n";
    let mut control = package_tar(&[(".PKGINFO", info, 0o644)]);
    control.truncate(control.len() - 1024);
    let mut out = gz(&control);
    out.extend(gz(&package_tar(&[
        ("usr/", b"", 0o755),
        ("usr/bin/", b"", 0o755),
        ("usr/bin/hutch-hello", HELLO_SCRIPT, 0o755),
    ])));
    out
}

/// A project with its environment made, and the package beside it.
fn project(w: &World) -> Proj<'_> {
    let p = Proj::new(w, &[("Containerfile", CONTAINERFILE), ("hutch.toml", "")]);
    w.write("proj/hello.apk", hello_apk());
    p.sh("true");
    p
}

/// Break the environment: a file under /usr goes, a package comes.
fn breaks(p: &Proj) {
    let apk = p.dir.join("hello.apk");
    // apk reports an error for the repositories it cannot reach; the
    // package is installed all the same.
    let said = p.root_sh(&format!(
        "rm /usr/bin/getconf; apk add --no-network --allow-untrusted {} 2>&1; true",
        apk.display()
    ));
    assert_eq!(
        p.sh("hutch-hello 2>&1; true").trim(),
        "hello from the package",
        "apk said: {said}"
    );
}

fn state(p: &Proj) -> String {
    p.sh("test -e /usr/bin/getconf && echo fixed || echo broken; \
          command -v hutch-hello >/dev/null && echo hello || echo no-hello")
}

#[test]
fn snapshot_diff_rollback_and_back() {
    for_each_user(|w| {
        let p = project(&w);
        assert_eq!(p.ok(&["env", "snapshot", "-m", "clean"]).0.trim(), "1");
        breaks(&p);
        assert_eq!(state(&p), "broken\nhello\n");

        let diff = p.ok(&["env", "diff"]).0;
        assert!(diff.lines().any(|l| l == "D /usr/bin/getconf"), "{diff}");
        assert!(
            diff.lines().any(|l| l == "A /usr/bin/hutch-hello"),
            "{diff}"
        );
        assert!(
            diff.contains("packages (apk):\n+ hutch-hello 1.0-r0"),
            "{diff}"
        );

        p.ok(&["env", "rollback", "1"]);
        assert_eq!(state(&p), "fixed\nno-hello\n");
        let log = p.ok(&["env", "log"]).0;
        let rows: Vec<&str> = log.lines().collect();
        assert_eq!(rows.len(), 3, "{log}");
        assert!(rows[0].starts_with("VERSION"), "{log}");
        assert!(
            rows[1].starts_with('2') && rows[1].ends_with("before rollback to 1"),
            "{log}"
        );
        assert!(
            rows[2].starts_with('1') && rows[2].ends_with("clean"),
            "{log}"
        );
        // The environment now is version 1: nothing differs.
        assert_eq!(p.ok(&["env", "diff", "1"]).0, "");
        let between = p.ok(&["env", "diff", "1", "2"]).0;
        assert!(between.contains("D /usr/bin/getconf"), "{between}");
        assert!(between.contains("+ hutch-hello 1.0-r0"), "{between}");
        let back = p.ok(&["env", "diff", "v2", "1"]).0;
        assert!(back.contains("A /usr/bin/getconf"), "{back}");
        assert!(back.contains("- hutch-hello 1.0-r0"), "{back}");

        // Roll the rollback back.
        p.ok(&["env", "rollback", "2"]);
        assert_eq!(state(&p), "broken\nhello\n");

        // Versions are images: listed, taggable, kept by a prune of all
        // unused images.
        let images = w.ok(&["images"]);
        assert!(images.contains("hutch-env/"), "{images}");
        assert!(images.contains("v1"), "{images}");
        p.ok(&["env", "tag", "1", "local/clean:1"]);
        assert!(w.ok(&["images"]).contains("local/clean"));
        w.ok(&["rmi", "local/clean:1"]);
        w.ok(&["image", "prune", "-a", "-f"]);
        p.ok(&["env", "rollback", "1"]);
        assert_eq!(state(&p), "fixed\nno-hello\n");

        // Unknown versions: one line.
        let (code, err) = p.fails_in(&["env", "rollback", "9"]);
        assert_eq!(code, Some(125));
        assert!(one_error(&err) && err.contains("no version 9"), "{err}");
        let (_, err) = p.fails_in(&["env", "diff", "nope"]);
        assert!(one_error(&err) && err.contains("no version nope"), "{err}");

        // Prune keeps the newest and the one the environment runs on (1).
        let dropped = p.ok(&["env", "prune", "--keep", "1"]).0;
        assert_eq!(dropped.trim(), "dropped version 2\ndropped version 3");
        let log = p.ok(&["env", "log"]).0;
        let ids: Vec<&str> = log.lines().skip(1).map(|l| &l[..1]).collect();
        assert_eq!(ids, ["4", "1"], "{log}");
    });
}

#[test]
fn rollback_refuses_while_inside_and_force_stops() {
    for_each_user(|w| {
        let p = project(&w);
        p.ok(&["env", "snapshot"]);
        let mut inside =
            p.w.hutch()
                .current_dir(&p.dir)
                .env("HOME", w.path("home"))
                .args(["shell", "--", "sh", "-c", "echo in; exec sleep 60"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(inside.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line, "in\n");
        let (_, err) = p.fails_in(&["env", "rollback", "1"]);
        assert!(one_error(&err), "{err}");
        assert!(
            err.contains("in use by process") && err.contains("sleep 60"),
            "{err}"
        );
        assert!(err.contains("--force"), "{err}");
        p.ok(&["env", "rollback", "--force", "1"]);
        let status = inside.wait().unwrap();
        assert!(!status.success(), "the process inside was stopped");
    });
}

#[test]
fn rebuild_keeps_the_old_environment_as_a_version() {
    for_each_user(|w| {
        let p = project(&w);
        breaks(&p);
        w.write(
            "proj/Containerfile",
            format!("{CONTAINERFILE}RUN echo two > /two\n"),
        );
        let (_, err) = p.ok(&["shell", "--", "cat", "/two"]);
        assert!(err.contains("kept as version 1"), "{err}");
        assert_eq!(state(&p), "fixed\nno-hello\n");
        let log = p.ok(&["env", "log"]).0;
        assert!(log.contains("before rebuild"), "{log}");
        p.ok(&["env", "rollback", "1"]);
        assert_eq!(state(&p), "broken\nhello\n");
    });
}

#[test]
fn killed_snapshot_or_rollback_leaves_the_environment_as_it_was() {
    for_each_user(|w| {
        let p = project(&w);
        p.ok(&["env", "snapshot", "-m", "clean"]);
        breaks(&p);
        let killed = |point: &str, args: &[&str]| {
            let out =
                p.w.hutch()
                    .current_dir(&p.dir)
                    .env("HOME", w.path("home"))
                    .env("HUTCH_CRASH_AT", point)
                    .args(args)
                    .output()
                    .unwrap();
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(out.status.signal(), Some(9), "{point}: {}", stderr(&out));
        };
        killed("snapshot-committed", &["env", "snapshot"]);
        killed("snapshot-pinned", &["env", "snapshot"]);
        assert_eq!(p.ok(&["env", "log"]).0.lines().count(), 2);
        assert_eq!(state(&p), "broken\nhello\n");
        // The next command undoes a replacement killed before the switch
        // (the new container goes, the old one gets its name back) and
        // finishes one killed after it (the old container goes).
        let names = || w.ok(&["ps", "-a", "--format", "{{.Names}}"]);
        let name = names();
        assert_eq!(name.lines().count(), 1, "{name}");
        for point in ["rollback-snapshotted", "replace-renamed", "env-started"] {
            killed(point, &["env", "rollback", "1"]);
            assert_eq!(state(&p), "broken\nhello\n", "after a kill at {point}");
            assert_eq!(names(), name, "after a kill at {point}");
        }
        killed("replace-switched", &["env", "rollback", "1"]);
        assert_eq!(state(&p), "fixed\nno-hello\n");
        assert_eq!(names(), name);
    });
}

#[test]
fn promote_turns_hand_made_changes_into_containerfile_lines() {
    for_each_user(|w| {
        let p = project(&w);
        let (code, err) = p.fails_in(&["env", "promote"]);
        assert_eq!(code, Some(125));
        assert!(
            one_error(&err) && err.contains("nothing to promote"),
            "{err}"
        );

        breaks(&p);
        p.root_sh("mkdir -p /etc/hand && echo by hand > /etc/hand/made; chmod 600 /etc/hand/made");
        let (patch, _) = p.ok(&["env", "promote"]);
        assert!(
            patch.starts_with("--- a/Containerfile\n+++ b/Containerfile\n@@ -3,0 +4,"),
            "{patch}"
        );
        assert!(
            patch.contains("\n+RUN apk add --no-cache hutch-hello=1.0-r0\n"),
            "{patch}"
        );
        assert!(patch.contains("\n+COPY .hutch/promote/ /\n"), "{patch}");
        assert!(
            patch.contains("\n+RUN rm -rf /usr/bin/getconf\n"),
            "{patch}"
        );
        let made = p.dir.join(".hutch/promote/etc/hand/made");
        assert_eq!(std::fs::read_to_string(&made).unwrap(), "by hand\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&made).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // What the package owns and apk's own state are not copied.
        assert!(!p.dir.join(".hutch/promote/usr/bin/hutch-hello").exists());
        assert!(!p.dir.join(".hutch/promote/lib").exists());
        assert!(!p.dir.join(".hutch/promote/etc/apk").exists());
        // The Containerfile is untouched without --apply.
        assert_eq!(
            std::fs::read_to_string(p.dir.join("Containerfile")).unwrap(),
            CONTAINERFILE
        );
    });
}

#[test]
fn promote_apply_rebuilds_with_the_copied_files() {
    for_each_user(|w| {
        // An ignore file that leaves out what promote generates gets an
        // exception, or the COPY would find nothing.
        w.write("proj/.dockerignore", ".hutch\n");
        let p = project(&w);
        p.root_sh("rm /usr/bin/getconf; echo by hand > /etc/made");
        let (patch, _) = p.ok(&["env", "promote", "--apply"]);
        assert!(
            patch.contains("+++ b/.dockerignore\n@@ -1,0 +2,2 @@\n"),
            "{patch}"
        );
        let file = std::fs::read_to_string(p.dir.join("Containerfile")).unwrap();
        assert!(
            file.starts_with(CONTAINERFILE) && file.ends_with("RUN rm -rf /usr/bin/getconf\n"),
            "{file}"
        );
        let ignore = std::fs::read_to_string(p.dir.join(".dockerignore")).unwrap();
        assert!(ignore.ends_with("\n!.hutch/promote\n"), "{ignore}");
        let (_, err) = p.ok(&["shell", "--", "true"]);
        assert!(err.contains("kept as version 1"), "{err}");
        assert_eq!(
            p.sh("cat /etc/made; test -e /usr/bin/getconf || echo gone"),
            "by hand\ngone\n"
        );
        // The rebuilt environment has what the hand-made one had.
        let diff = p.ok(&["env", "diff", "1"]).0;
        for gone in ["A /etc/made", "D /etc/made", "A /usr/bin/getconf"] {
            assert!(!diff.lines().any(|l| l == gone), "{diff}");
        }
    });
}

/// The control fields of the `hutch-hello` Debian package.
const DEB_CONTROL: &str = "Package: hutch-hello\nVersion: 1.0\nArchitecture: all\n\
    Maintainer: hutch tests <tests@hutch.invalid>\nDescription: test package\n";

/// A `.deb` of `hutch-hello` 1.0 installing `/usr/bin/hutch-hello`: an ar
/// archive of `debian-binary`, the control tar and the data tar.
pub(crate) fn hello_deb() -> Vec<u8> {
    let members = [
        ("debian-binary", b"2.0\n".to_vec()),
        (
            "control.tar.gz",
            gz(&package_tar(&[(
                "./control",
                DEB_CONTROL.as_bytes(),
                0o644,
            )])),
        ),
        (
            "data.tar.gz",
            gz(&package_tar(&[
                ("./usr/", b"", 0o755),
                ("./usr/bin/", b"", 0o755),
                ("./usr/bin/hutch-hello", HELLO_SCRIPT, 0o755),
            ])),
        ),
    ];
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        let header = format!(
            "{name:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            1_700_000_000,
            0,
            0,
            100644,
            data.len()
        );
        out.extend(header.as_bytes());
        out.extend(&data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// A flat apt repository holding only `hutch-hello`, for `deb [trusted=yes]
/// file:/repo ./`: apt installs from it without the network.
fn hello_repo(w: &World, dir: &str) {
    use sha2::Digest;
    let deb = hello_deb();
    let name = "hutch-hello_1.0_all.deb";
    let packages = format!(
        "{DEB_CONTROL}Filename: ./{name}\nSize: {}\nSHA256: {}\n\n",
        deb.len(),
        hex::encode(sha2::Sha256::digest(&deb))
    );
    let release = format!(
        "Origin: hutch tests\nSuite: local\nSHA256:\n {} {} Packages\n",
        hex::encode(sha2::Sha256::digest(packages.as_bytes())),
        packages.len()
    );
    w.write(&format!("{dir}/{name}"), deb);
    w.write(&format!("{dir}/Packages"), packages);
    w.write(&format!("{dir}/Release"), release);
}

/// The apt path of promote on Debian, without Debian's mirror: the project
/// builds from the cached Debian base with a local repository as its only
/// source, the package is installed by hand with apt, and `promote --apply`
/// turns that into an `apt-get install` line the rebuild runs.
#[test]
fn promote_apply_of_an_apt_install_rebuilds_with_the_package() {
    for_each_user(|w| {
        let Some(base) = crate::debian::debian_base(&w) else {
            return;
        };
        w.ok(&["import", base.to_str().unwrap(), "local/debian:12"]);
        hello_repo(&w, "proj/repo");
        let p = Proj::new(
            &w,
            &[
                (
                    "Containerfile",
                    "FROM local/debian:12\nCOPY repo/ /repo/\nCOPY sources.list /etc/apt/\n",
                ),
                ("sources.list", "deb [trusted=yes] file:/repo ./\n"),
                ("hutch.toml", ""),
            ],
        );
        let apt = "apt-get -o APT::Sandbox::User=root";
        let said = p.root_sh(&format!(
            "{apt} update -q 2>&1 && {apt} install -y -q hutch-hello 2>&1; true"
        ));
        assert_eq!(
            p.sh("hutch-hello 2>&1; true").trim(),
            "hello from the package",
            "apt said: {said}"
        );
        let (patch, _) = p.ok(&["env", "promote", "--apply"]);
        assert!(
            patch.contains("--no-install-recommends hutch-hello=1.0 "),
            "{patch}"
        );
        assert!(
            !patch.contains("COPY"),
            "the package's files are not copied: {patch}"
        );
        let (_, err) = p.ok(&["shell", "--", "true"]);
        assert!(err.contains("kept as version 1"), "{err}");
        assert_eq!(p.sh("hutch-hello").trim(), "hello from the package");
        let diff = p.ok(&["env", "diff", "1"]).0;
        assert!(
            !diff.lines().any(|l| l.starts_with(['+', '-', '~'])),
            "no package differs from the hand-made environment: {diff}"
        );
    });
}

#[test]
fn push_and_exports_run_elsewhere() {
    for_each_user(|w| {
        let reg = crate::registry::Registry::start();
        let p = project(&w);
        let (code, err) = p.fails_in(&["env", "export", "devcontainer"]);
        assert_eq!(code, Some(125));
        assert!(one_error(&err) && err.contains("not pushed yet"), "{err}");

        let dest = format!("{}/team/env:v1", reg.host());
        let (first, _) = p.ok(&["env", "push", &dest]);
        // Nothing changed since: the same version is pushed again.
        assert_eq!(p.ok(&["env", "push", &dest]).0, first);
        assert_eq!(p.ok(&["env", "log"]).0.lines().count(), 2);
        p.root_sh("echo shared > /shared");
        let (pinned, _) = p.ok(&["env", "push", &dest]);
        assert_ne!(pinned, first);
        assert_eq!(p.ok(&["env", "log"]).0.lines().count(), 3);
        let pinned = pinned.trim().to_string();
        assert!(
            pinned.starts_with(&format!("{}/team/env@sha256:", reg.host())),
            "{pinned}"
        );
        // The label is in the config, the annotation in the pushed manifest.
        let inspect = user_ok(
            &w,
            "skopeo",
            &[
                "inspect",
                "--tls-verify=false",
                &format!("docker://{pinned}"),
            ],
        );
        assert!(inspect.contains("dev.hutch.env.definition"), "{inspect}");
        let raw = user_ok(
            &w,
            "skopeo",
            &[
                "inspect",
                "--raw",
                "--tls-verify=false",
                &format!("docker://{pinned}"),
            ],
        );
        let m: serde_json::Value = serde_json::from_str(&raw).unwrap();
        assert!(m["annotations"]["dev.hutch.env.definition"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));

        // devcontainer.json, read back by hutch's own devcontainer support
        // in another project directory (the image pulled by digest).
        let other = w.path("other");
        p.ok(&[
            "env",
            "export",
            "devcontainer",
            "-o",
            other
                .join(".devcontainer/devcontainer.json")
                .to_str()
                .unwrap(),
        ]);
        let text = std::fs::read_to_string(other.join(".devcontainer/devcontainer.json")).unwrap();
        let d: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(d["image"], pinned.as_str());
        if w.user.switch {
            std::process::Command::new("chown")
                .args(["-R", &format!("{}:{}", w.user.uid, w.user.gid)])
                .arg(&other)
                .status()
                .unwrap();
        }
        let out = w
            .hutch()
            .current_dir(&other)
            .env("HOME", w.path("home"))
            .args(["shell", "--", "cat", "/shared"])
            .output()
            .unwrap();
        assert_eq!(
            succeeded(&out, "shell in the exported devcontainer"),
            "shared\n"
        );
        let _ = w
            .hutch()
            .current_dir(&other)
            .env("HOME", w.path("home"))
            .args(["env", "rm"])
            .output();

        // The Job, field by field.
        let (code, err) = p.fails_in(&["env", "export", "kube", "--job"]);
        assert_eq!(code, Some(125));
        assert!(one_error(&err) && err.contains("runs a command"), "{err}");
        let (yaml, _) = p.ok(&["env", "export", "kube", "--job", "--", "cat", "/shared"]);
        let docs = yaml_docs(&w, &yaml);
        assert_eq!(docs.len(), 2, "{yaml}");
        let (pvc, job) = (&docs[0], &docs[1]);
        assert_eq!(pvc["kind"], "PersistentVolumeClaim");
        assert_eq!(job["apiVersion"], "batch/v1");
        assert_eq!(job["kind"], "Job");
        let spec = &job["spec"]["template"]["spec"];
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(spec["restartPolicy"], "Never");
        assert_eq!(spec["securityContext"]["runAsUser"], w.user.uid);
        let c = &spec["containers"][0];
        assert_eq!(c["image"], pinned.as_str());
        assert_eq!(c["command"], serde_json::json!(["cat", "/shared"]));
        assert_eq!(c["env"][0]["name"], "HUTCH_ENV_DEFINITION");
        assert!(c["env"][0]["value"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"));
        assert_eq!(c["volumeMounts"][0]["mountPath"], p.dir.to_str().unwrap());
        let vol = &spec["volumes"][0];
        assert_eq!(vol["name"], c["volumeMounts"][0]["name"]);
        assert_eq!(
            vol["persistentVolumeClaim"]["claimName"],
            pvc["metadata"]["name"]
        );
        assert!(!yaml.contains("hostPath"), "{yaml}");

        // The Pod, run by rootless podman (which needs subordinate ids).
        if !w.user.switch || w.user.kind != Kind::SubIds {
            return;
        }
        let (yaml, _) = p.ok(&["env", "export", "kube", "--", "cat", "/shared"]);
        let file = w.write("pod.yaml", &yaml);
        let play = crate::snapshot::podman(
            &w,
            &[
                "kube",
                "play",
                "--tls-verify=false",
                "--network",
                "none",
                file.to_str().unwrap(),
            ],
        );
        let name = docs[1]["metadata"]["name"].as_str().unwrap().to_string();
        let ctr = format!("{name}-env");
        let waited = crate::snapshot::podman(&w, &["wait", &ctr]);
        let logs = crate::snapshot::podman(&w, &["logs", &ctr]);
        let _ = crate::snapshot::podman(&w, &["kube", "down", file.to_str().unwrap()]);
        let _ = crate::snapshot::podman(&w, &["system", "reset", "-f"]);
        assert!(play.status.success(), "podman kube play: {}", stderr(&play));
        assert_eq!(stdout(&waited).trim(), "0", "{}", stderr(&waited));
        assert_eq!(stdout(&logs), "shared\n", "{}", stderr(&logs));
    });
}

/// The documents of a YAML stream, read by PyYAML as JSON.
fn yaml_docs(w: &World, yaml: &str) -> Vec<serde_json::Value> {
    let file = w.write("docs.yaml", yaml);
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(file)
        .output()
        .unwrap();
    serde_json::from_str(&succeeded(&out, "PyYAML")).unwrap()
}

/// The spec of the rpm tests' packages: `pkg` at `ver` (epoch `ep` if
/// given; noarch unless `arch` is defined and `--target` names one)
/// installing `/usr/bin/<pkg>`.
const RPM_SPEC: &str = "Name: %{pkg}\nVersion: %{ver}\nRelease: 1\n%{?ep:Epoch: %{ep}}\n\
    Summary: hutch test package\nLicense: MIT\n%{!?arch:BuildArch: noarch}\n\
    %description\ntest\n%install\nmkdir -p %{buildroot}/usr/bin\n\
    printf '#!/bin/sh\\necho %{pkg} %{ver}\\n' > %{buildroot}/usr/bin/%{pkg}\n\
    chmod 755 %{buildroot}/usr/bin/%{pkg}\n%files\n/usr/bin/%{pkg}\n";

/// Run `cmd` on the host; panic with its output when it fails.
fn host(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (are Debian's rpm and db5.3-util installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two rpm roots made by Debian's rpm (sqlite database) under `dir`:
/// `rpm1` with hutch-one 1.0, hutch-three 1.0, hutch-four 1.0 and
/// hutch-five 1.0 (x86_64) installed; `rpm2`, the same after an upgrade
/// of hutch-one to 2.0, an install of hutch-two (epoch 1), of hutch-four
/// 2.0 beside 1.0 (as kernels are) and of hutch-five for i686 beside
/// x86_64 (multilib), and the removal of hutch-three. The same two
/// databases in rpm's older formats beside them: `bdb1/Packages` and
/// `bdb2/Packages` (Berkeley DB, made by db5.3_load and read back by
/// Debian's rpm) and `ndb2/Packages.db`.
fn rpm_roots(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("t.spec"), RPM_SPEC).unwrap();
    let top = dir.join("top");
    for (pkg, ver, ep, arch) in [
        ("hutch-one", "1.0", None, None),
        ("hutch-one", "2.0", None, None),
        ("hutch-two", "1.0", Some("1"), None),
        ("hutch-three", "1.0", None, None),
        ("hutch-four", "1.0", None, None),
        ("hutch-four", "2.0", None, None),
        ("hutch-five", "1.0", None, Some("x86_64")),
        ("hutch-five", "1.0", None, Some("i686")),
    ] {
        let mut c = std::process::Command::new("rpmbuild");
        c.args(["-bb", "--quiet", "--define"])
            .arg(format!("_topdir {}", top.display()))
            .arg("--define")
            .arg(format!("_tmppath {}", dir.display()))
            .args(["--define", &format!("pkg {pkg}")])
            .args(["--define", &format!("ver {ver}")]);
        if let Some(ep) = ep {
            c.args(["--define", &format!("ep {ep}")]);
        }
        if let Some(arch) = arch {
            c.args(["--define", &format!("arch {arch}"), "--target", arch]);
        }
        host(c.arg(dir.join("t.spec")));
    }
    let rpm = |root: &str, args: &[&str], pkgs: &[&str]| {
        let mut c = std::process::Command::new("rpm");
        c.arg("--root")
            .arg(dir.join(root))
            .args(["--dbpath", "/var/lib/rpm", "--define", "_db_backend sqlite"])
            .args(args)
            .args(["--nodeps", "--ignorearch", "--replacefiles"]);
        for p in pkgs {
            let arch = p.rsplit('.').next().unwrap();
            c.arg(top.join(format!("RPMS/{arch}/{p}.rpm")));
        }
        host(&mut c);
    };
    rpm(
        "rpm1",
        &["-i"],
        &[
            "hutch-one-1.0-1.noarch",
            "hutch-three-1.0-1.noarch",
            "hutch-four-1.0-1.noarch",
            "hutch-five-1.0-1.x86_64",
        ],
    );
    host(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(dir.join("rpm1"))
            .arg(dir.join("rpm2")),
    );
    rpm("rpm2", &["-U"], &["hutch-one-2.0-1.noarch"]);
    rpm(
        "rpm2",
        &["-i"],
        &[
            "hutch-two-1.0-1.noarch",
            "hutch-four-2.0-1.noarch",
            "hutch-five-1.0-1.i686",
        ],
    );
    let mut erase = std::process::Command::new("rpm");
    erase.arg("--root").arg(dir.join("rpm2")).args([
        "--dbpath",
        "/var/lib/rpm",
        "-e",
        "--nodeps",
        "hutch-three",
    ]);
    host(&mut erase);
    let write = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/data/rpmdb-write.py");
    for (n, format, file) in [
        ("1", "bdb", "Packages"),
        ("2", "bdb", "Packages"),
        ("2", "ndb", "Packages.db"),
    ] {
        let out = dir.join(format!("{format}{n}"));
        std::fs::create_dir_all(&out).unwrap();
        host(
            std::process::Command::new("python3")
                .args([write, format])
                .arg(out.join(file))
                .arg(dir.join(format!("rpm{n}/var/lib/rpm/rpmdb.sqlite"))),
        );
    }
    // rpm itself reads the Berkeley DB databases as it reads its own.
    let listed = |backend: &str, db: &str| {
        let mut q = std::process::Command::new("rpm");
        q.arg("--dbpath").arg(dir.join(db)).args([
            "--define",
            &format!("_db_backend {backend}"),
            "-qa",
        ]);
        let mut l: Vec<String> = host(&mut q).lines().map(String::from).collect();
        l.sort();
        l
    };
    for n in ["1", "2"] {
        assert_eq!(
            listed("bdb_ro", &format!("bdb{n}")),
            listed("sqlite", &format!("rpm{n}/var/lib/rpm"))
        );
    }
}

/// rpm's databases as real images carry them: an environment built with
/// rpm1's root copied in (sqlite) has packages installed, upgraded and
/// removed by hand (rpm2's database and files copied over it); `env diff`
/// lists each with `[EPOCH:]VERSION-RELEASE` (two versions of one name
/// and two architectures of one name each kept), and `promote` turns them
/// into dnf lines without copying the packages' files. The same changes
/// in Berkeley DB and ndb databases are listed and promoted alike; a
/// damaged database is named and said to be unread.
#[test]
fn rpm_packages_in_diff_and_promote() {
    for_each_user(|w| {
        rpm_roots(&w.path("proj/rpm"));
        let p = Proj::new(
            &w,
            &[
                (
                    "Containerfile",
                    "FROM local/alpine:3.20\nCOPY rpm/rpm1/ /\n",
                ),
                ("hutch.toml", ""),
            ],
        );
        assert_eq!(p.sh("hutch-one"), "hutch-one 1.0\n");
        p.ok(&["env", "snapshot"]);
        let rpm = p.dir.join("rpm");
        p.root_sh(&format!(
            "cp {0}/rpm2/var/lib/rpm/rpmdb.sqlite /var/lib/rpm/ && \
             cp {0}/rpm2/usr/bin/hutch-one {0}/rpm2/usr/bin/hutch-two /usr/bin/ && \
             rm /usr/bin/hutch-three",
            rpm.display()
        ));
        let changes = "packages (rpm):\n+ hutch-five.i686 1.0-1\n+ hutch-four 2.0-1\n\
                       ~ hutch-one 1.0-1 -> 2.0-1\n- hutch-three 1.0-1\n+ hutch-two 1:1.0-1\n";
        let dnf = "\n+RUN dnf install -y hutch-five-1.0-1.i686 hutch-four-2.0-1 hutch-one-2.0-1 \
                   hutch-two-1:1.0-1 && dnf clean all\n+RUN dnf remove -y hutch-three\n";
        let diff = p.ok(&["env", "diff"]).0;
        assert!(diff.contains(changes), "{diff}");
        let (patch, err) = p.ok(&["env", "promote"]);
        assert!(!err.contains("rpm database"), "{err}");
        assert!(patch.contains(dnf), "{patch}");
        assert!(
            !patch.contains("COPY") && !patch.contains("rm -rf"),
            "the packages' files and rpm's database are not copied: {patch}"
        );

        // Berkeley DB (CentOS 7/8): the environment snapshotted with
        // rpm1's database in that format, then given rpm2's.
        p.root_sh(&format!(
            "rm /var/lib/rpm/rpmdb.sqlite && cp {0}/bdb1/Packages /var/lib/rpm/",
            rpm.display()
        ));
        p.ok(&["env", "snapshot"]);
        p.root_sh(&format!(
            "cp {0}/bdb2/Packages /var/lib/rpm/",
            rpm.display()
        ));
        let (diff, err) = p.ok(&["env", "diff"]);
        assert!(diff.contains(changes), "bdb: {diff}{err}");
        // The last build's sqlite database against this one.
        let (patch, err) = p.ok(&["env", "promote"]);
        assert!(patch.contains(dnf), "bdb: {patch}{err}");
        // ndb (openSUSE) beside it, which rpm would read first: rpm2's
        // against the first version's sqlite rpm1.
        p.root_sh(&format!(
            "cp {0}/ndb2/Packages.db /var/lib/rpm/",
            rpm.display()
        ));
        let (diff, err) = p.ok(&["env", "diff", "1"]);
        assert!(diff.contains(changes), "ndb: {diff}{err}");
        let (patch, err) = p.ok(&["env", "promote"]);
        assert!(patch.contains(dnf), "ndb: {patch}{err}");

        // A database hutch cannot read lists nothing and says why.
        p.root_sh(
            "head -c 5000 /var/lib/rpm/Packages.db > /tmp/p && mv /tmp/p /var/lib/rpm/Packages.db",
        );
        let (diff, err) = p.ok(&["env", "diff"]);
        assert!(!diff.contains("packages (rpm)"), "{diff}");
        assert!(
            err.contains("cannot read the rpm database /var/lib/rpm/Packages.db: a damaged ndb"),
            "{err}"
        );
        p.root_sh("echo junk > /var/lib/rpm/rpmdb.sqlite");
        let (diff, err) = p.ok(&["env", "diff"]);
        assert!(!diff.contains("packages (rpm)"), "{diff}");
        assert!(
            err.contains("cannot read the rpm database /var/lib/rpm/rpmdb.sqlite: ")
                && err.contains("rpm packages are not listed"),
            "{err}"
        );
    });
}
