//! Registry tests against a real `docker-registry` on 127.0.0.1: push and
//! pull round trips, images pushed by skopeo, multi-platform indexes, podman
//! reading what hutch pushed, killed and resumed pulls, corrupt blobs, TLS
//! with htpasswd login, and clear errors for unknown repositories and closed
//! ports.

use crate::common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUSYBOX: &str = "busybox:1.38.0-musl";

/// A `docker-registry serve` on a free 127.0.0.1 port, killed on drop.
pub(crate) struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

struct Tls {
    cert: PathBuf,
    key: PathBuf,
}

impl Registry {
    pub(crate) fn start() -> Registry {
        Registry::start_with(None, None)
    }

    fn start_with(tls: Option<&Tls>, htpasswd: Option<&Path>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(t) = tls {
            cfg += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                t.cert.display(),
                t.key.display()
            );
        }
        if let Some(h) = htpasswd {
            cfg += &format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                h.display()
            );
        }
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is installed");
        let reg = Registry { child, port, dir };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    pub(crate) fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The file the registry keeps a blob's content in.
    fn blob_file(&self, hex: &str) -> PathBuf {
        self.dir.path().join(format!(
            "data/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn world() -> Option<World> {
    match any_user() {
        Some(u) => Some(World::new(u)),
        None => {
            skip("no unprivileged test user");
            None
        }
    }
}

fn inspect_one(w: &World, name: &str, field: &str) -> String {
    w.ok(&["inspect", "--format", field, name])
        .trim()
        .to_string()
}

/// The first diff id of an image (its blob digest, for uncompressed layers).
fn first_layer(w: &World, name: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(&inspect_one(w, name, "{{json .RootFS.Layers}}")).unwrap();
    v[0].as_str().unwrap().to_string()
}

/// Names of blobs and index.json: what a failed pull must not change.
fn snapshot(w: &World) -> (Vec<String>, String) {
    let mut blobs: Vec<String> = std::fs::read_dir(w.root().join("blobs/sha256"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    blobs.sort();
    let index = std::fs::read_to_string(w.root().join("index.json")).unwrap_or_default();
    (blobs, index)
}

fn partial_files(w: &World) -> Vec<String> {
    std::fs::read_dir(w.root().join("tmp/partial"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn push_rmi_pull_round_trip_keeps_digests() {
    let Some(w) = world() else { return };
    let reg = Registry::start();
    w.busybox();
    let dest = format!("{}/hutch/busybox:rt", reg.host());
    let out = w.hutch().args(["push", BUSYBOX, &dest]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(busybox_facts().manifest),
        "{}",
        stderr(&out)
    );
    w.ok(&["rmi", BUSYBOX]);
    assert!(w.ok(&["images", "-q"]).trim().is_empty());
    let id = w.ok(&["pull", &dest]);
    assert_eq!(id.trim(), busybox_facts().id);
    assert_eq!(inspect_one(&w, &dest, "{{.Id}}"), busybox_facts().id);
    let digest = inspect_one(&w, &dest, "{{.Digest}}");
    assert_eq!(digest, busybox_facts().manifest);
    assert!(partial_files(&w).is_empty(), "{:?}", partial_files(&w));
    // A second pull finds every blob in the store and downloads none.
    let out = w.hutch().args(["pull", &dest]).output().unwrap();
    assert!(out.status.success());
    let err = stderr(&out);
    assert!(!err.contains("Copied blob"), "{err}");
    assert_eq!(err.matches("already there").count(), 2, "{err}");
    // Pushing again skips both blobs (HEAD) on the registry.
    let out = w.hutch().args(["push", &dest]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out).matches("already there").count(), 2);
    // Pinned by digest: the same image, untagged names are fine.
    let pinned = format!("{}/hutch/busybox@{}", reg.host(), busybox_facts().manifest);
    assert_eq!(w.ok(&["pull", "-q", &pinned]).trim(), busybox_facts().id);
    // A push to another repository of the same registry mounts the blobs.
    let other = format!("{}/other/busybox:m", reg.host());
    let out = w.hutch().args(["push", &dest, &other]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("Mounted blob").count(),
        2,
        "{}",
        stderr(&out)
    );
}

#[test]
fn pulls_what_skopeo_pushed() {
    let Some(w) = world() else { return };
    let reg = Registry::start();
    let src = format!("oci:{}:{BUSYBOX}", image("busybox-musl").display());
    let dst = format!("docker://{}/sk/busybox:1", reg.host());
    let st = Command::new("skopeo")
        .args(["copy", "-q", "--dest-tls-verify=false", &src, &dst])
        .status()
        .unwrap();
    assert!(st.success());
    w.ok(&["pull", "-q", &format!("{}/sk/busybox:1", reg.host())]);
    let images = w.ok(&["images"]);
    assert!(
        images.contains(&format!("{}/sk/busybox", reg.host()))
            && images.contains(busybox_facts().short_id()),
        "{images}"
    );
    // v2s2 with gzip: pushed by hutch, read back by hutch with the Docker types.
    let v2 = format!("{}/sk/v2s2:1", reg.host());
    let out = w
        .hutch()
        .args([
            "push",
            "--format",
            "v2s2",
            &format!("{}/sk/busybox:1", reg.host()),
            &v2,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let inspect = Command::new("skopeo")
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{v2}"),
        ])
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        raw.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{raw}"
    );
    assert!(
        raw.contains("application/vnd.docker.image.rootfs.diff.tar.gzip"),
        "{raw}"
    );
}

/// An OCI layout whose index holds the busybox amd64 image and a fake arm64
/// image (its own config, same layer); returns (layout, arm64 config digest).
fn multi_arch_layout(dir: &Path) -> (PathBuf, String) {
    let out = dir.join("multi");
    let st = Command::new("cp")
        .arg("-a")
        .arg(image("busybox-musl"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let blobs = out.join("blobs/sha256");
    let put = |bytes: &[u8]| -> (String, usize) {
        use sha2::Digest as _;
        let hex = hex::encode(sha2::Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let cfg = std::fs::read(blobs.join(busybox_facts().id.trim_start_matches("sha256:"))).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_slice(&cfg).unwrap();
    cfg["architecture"] = "arm64".into();
    cfg["variant"] = "v8".into();
    let (cd, cs) = put(&serde_json::to_vec(&cfg).unwrap());
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": format!("sha256:{}", busybox_facts().layer), "size": std::fs::metadata(image("busybox-musl").join("blobs/sha256").join(busybox_facts().layer)).unwrap().len()}]
    });
    let (md, ms) = put(&serde_json::to_vec(&m).unwrap());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": busybox_facts().manifest, "size": 608,
             "platform": {"architecture": "amd64", "os": "linux"}}
        ]
    });
    let (xd, xs) = put(&serde_json::to_vec(&index).unwrap());
    let top = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": xd, "size": xs,
                       "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
    });
    std::fs::write(out.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    (out, cd)
}

#[test]
fn multi_platform_index_selects_this_machine_or_platform_flag() {
    let Some(w) = world() else { return };
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let (layout, arm_config) = multi_arch_layout(tmp.path());
    let dst = format!("docker://{}/multi/busybox:all", reg.host());
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--all", "--dest-tls-verify=false"])
        .arg(format!("oci:{}:multi", layout.display()))
        .arg(&dst)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let name = format!("{}/multi/busybox:all", reg.host());
    assert_eq!(w.ok(&["pull", "-q", &name]).trim(), busybox_facts().id);
    assert_eq!(
        w.ok(&["pull", "-q", "--platform", "linux/arm64", &name])
            .trim(),
        arm_config
    );
    let (_, err) = w.fails(&["pull", "--platform", "linux/s390x", &name]);
    assert!(
        err.contains("no image for linux/s390x") && err.contains("linux/amd64"),
        "{err}"
    );
    assert!(one_error(&err), "{err}");
}

#[test]
fn podman_pulls_and_runs_what_hutch_pushed() {
    let Some(w) = world() else { return };
    if w.user.kind != Kind::SubIds {
        skip("rootless podman needs subordinate ids");
        return;
    }
    let reg = Registry::start();
    w.busybox();
    let dest = format!("{}/hutch/pm:1", reg.host());
    w.ok(&["push", "-q", BUSYBOX, &dest]);
    let root = w.path("podman-root");
    let runroot = w.path("podman-run");
    let podman = |args: &[&str]| {
        let out = w
            .as_user("podman")
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .args([
                "--storage-driver",
                "overlay",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args)
            .env("XDG_RUNTIME_DIR", w.path("xdg-run"))
            .output()
            .unwrap();
        (
            out.status.success(),
            format!("{}{}", stdout(&out), stderr(&out)),
        )
    };
    std::fs::create_dir_all(w.path("xdg-run")).unwrap();
    std::fs::set_permissions(w.path("xdg-run"), std::fs::Permissions::from_mode(0o700)).unwrap();
    let st = Command::new("chown")
        .arg(format!("{}:{}", w.user.uid, w.user.gid))
        .arg(w.path("xdg-run"))
        .status()
        .unwrap();
    assert!(st.success());
    let (ok, log) = podman(&["pull", "-q", "--tls-verify=false", &dest]);
    assert!(ok, "podman pull failed: {log}");
    assert!(
        log.contains(busybox_facts().id.trim_start_matches("sha256:")),
        "{log}"
    );
    let (ok, log) = podman(&["run", "--rm", "--network", "none", &dest, "true"]);
    let _ = podman(&["system", "reset", "-f"]);
    assert!(ok, "podman run failed: {log}");
}

/// Forwards 127.0.0.1:<port> to `target`, sending answers at about 4 MB/s
/// so that a pull can be killed half way.
fn slow_proxy(target: u16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(client) = c else { return };
            let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                continue;
            };
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
            });
            let (mut client, mut server) = (client, server);
            std::thread::spawn(move || {
                let mut buf = [0u8; 32 << 10];
                loop {
                    match server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if client.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            std::thread::sleep(Duration::from_millis(8));
                        }
                    }
                }
                let _ = client.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

/// A one-layer image of ~48 MB of random bytes, made with `hutch import`.
fn big_image(w: &World, name: &str) {
    let mut data = vec![0u8; 48 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "random.bin", &data[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let p = w.write("big.tar", tar);
    w.ok(&["import", p.to_str().unwrap(), name]);
}

#[test]
fn killed_pull_resumes_and_leaves_no_partial_files() {
    let Some(w) = world() else { return };
    let reg = Registry::start();
    big_image(&w, "big:1");
    let dest = format!("{}/big/img:1", reg.host());
    // 48 MB is above the chunk size: this push uses chunked uploads. Kept
    // uncompressed (-D), the blob digest is the diff id inspect shows.
    w.ok(&["push", "-q", "-D", "big:1", &dest]);
    let layer = first_layer(&w, "big:1");
    let layer_hex = layer.trim_start_matches("sha256:").to_string();
    w.ok(&["rmi", "big:1"]);
    let before = snapshot(&w);

    let proxy = slow_proxy(reg.port);
    let slow = format!("127.0.0.1:{proxy}/big/img:1");
    let mut child = w.hutch().args(["pull", "-q", &slow]).spawn().unwrap();
    let partial = w.root().join("tmp/partial").join(&layer_hex);
    let t0 = Instant::now();
    loop {
        let size = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        if size > 4 << 20 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the pull ended before it could be killed"
        );
        assert!(t0.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = std::fs::metadata(&partial).unwrap().len();
    assert!(kept > 0 && kept < 48 << 20);
    // Nothing became visible.
    assert_eq!(snapshot(&w), before);

    // Again, straight from the registry: continues from the partial file.
    let out = w.hutch().args(["pull", &dest]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("Resuming {layer}")), "{err}");
    assert_eq!(first_layer(&w, &dest), layer);
    assert!(partial_files(&w).is_empty(), "{:?}", partial_files(&w));
    let stored = std::fs::read(w.root().join("blobs/sha256").join(&layer_hex)).unwrap();
    use sha2::Digest as _;
    assert_eq!(hex::encode(sha2::Sha256::digest(&stored)), layer_hex);
}

#[test]
fn corrupt_blob_on_registry_fails_and_changes_nothing() {
    let Some(w) = world() else { return };
    let reg = Registry::start();
    w.busybox();
    let dest = format!("{}/bad/busybox:1", reg.host());
    w.ok(&["push", "-q", BUSYBOX, &dest]);
    w.ok(&["rmi", BUSYBOX]);
    // Same size, different bytes.
    let f = reg.blob_file(busybox_facts().layer);
    let mut data = std::fs::read(&f).unwrap();
    data[1000] ^= 0xff;
    std::fs::write(&f, data).unwrap();
    let before = snapshot(&w);
    let (code, err) = w.fails(&["pull", &dest]);
    assert_eq!(code, 125);
    assert!(
        err.contains(&format!("sha256:{}", busybox_facts().layer)) && err.contains("corrupt"),
        "{err}"
    );
    assert!(
        err.lines().filter(|l| l.starts_with("Error")).count() == 1,
        "{err}"
    );
    assert_eq!(snapshot(&w), before);
    // The corrupt download is gone; the good config stays for a retry.
    assert!(
        !partial_files(&w).contains(&busybox_facts().layer.to_string()),
        "{:?}",
        partial_files(&w)
    );
}

#[test]
fn unknown_repository_and_closed_port_are_clear_errors() {
    let Some(w) = world() else { return };
    let reg = Registry::start();
    let (_, err) = w.fails(&["pull", &format!("{}/no/such:1", reg.host())]);
    assert!(
        err.contains("not found") && err.contains(&format!("{}/no/such", reg.host())),
        "{err}"
    );
    assert!(one_error(&err), "{err}");
    let closed = free_port();
    let t0 = Instant::now();
    let (_, err) = w.fails(&["pull", &format!("127.0.0.1:{closed}/x:1")]);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    assert!(
        err.contains("connection refused") && err.contains(&closed.to_string()),
        "{err}"
    );
    assert!(one_error(&err), "{err}");
    let (_, err) = w.fails(&["pull", "--platform", "linux", "x"]);
    assert!(err.contains("invalid platform"), "{err}");
}

#[test]
fn short_names_use_search_registries_and_mirrors() {
    let Some(w) = world() else { return };
    let reg = Registry::start();
    w.busybox();
    w.ok(&[
        "push",
        "-q",
        BUSYBOX,
        &format!("{}/library/busybox:s", reg.host()),
    ]);
    w.ok(&[
        "push",
        "-q",
        BUSYBOX,
        &format!("{}/mirror/team/app:m", reg.host()),
    ]);
    w.ok(&["rmi", BUSYBOX]);
    let cfg = w.path("xdg/hutch/registries.toml");
    w.write(
        "xdg/hutch/registries.toml",
        format!(
            "unqualified-search-registries = [\"{h}\"]\n[[registry]]\nprefix = \"example.invalid\"\n[[registry.mirror]]\nlocation = \"{h}/mirror\"\n",
            h = reg.host()
        ),
    );
    assert!(cfg.exists());
    let with_cfg = |args: &[&str]| {
        w.hutch()
            .env("XDG_CONFIG_HOME", w.path("xdg"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = with_cfg(&["pull", "-q", "library/busybox:s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), busybox_facts().id);
    let out = with_cfg(&["pull", "example.invalid/team/app:m"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let names = inspect_one(&w, busybox_facts().id, "{{json .RepoTags}}");
    assert!(names.contains("example.invalid/team/app:m"), "{names}");
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) -> (Tls, PathBuf) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=hutch test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        Tls {
            cert: dir.join("srv.crt"),
            key: dir.join("srv.key"),
        },
        dir.join("ca.crt"),
    )
}

#[test]
fn tls_registry_with_htpasswd_login_pull_push_logout() {
    let Some(w) = world() else { return };
    let certs = tempfile::tempdir().unwrap();
    let (tls, ca) = make_certs(certs.path());
    let htpasswd = certs.path().join("htpasswd");
    let out = Command::new("htpasswd")
        .args(["-Bbn", "tester", "s3cret-PASS"])
        .output()
        .expect("htpasswd (apache2-utils) is installed");
    std::fs::write(&htpasswd, &out.stdout).unwrap();
    let reg = Registry::start_with(Some(&tls), Some(&htpasswd));
    let host = reg.host();
    // Verify TLS for this loopback registry; trust its CA the Podman way.
    w.write(
        "xdg/hutch/registries.toml",
        format!("[[registry]]\nlocation = \"{host}\"\ninsecure = false\n"),
    );
    let auth = w.path("auth/auth.json");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut c = w.hutch();
        c.env("XDG_CONFIG_HOME", w.path("xdg"))
            .env("REGISTRY_AUTH_FILE", &auth)
            .args(args);
        if stdin.is_some() {
            c.stdin(Stdio::piped());
        }
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !text.contains("s3cret-PASS") && !text.contains("wrong-PASS"),
            "a secret was printed: {text}"
        );
        (out.status.success(), text)
    };
    // Untrusted CA: a clear TLS error that says where to put the CA.
    let (ok, text) = run(
        &["login", "-u", "tester", "--password-stdin", &host],
        Some("s3cret-PASS\n"),
    );
    assert!(!ok && text.contains("certs.d"), "{text}");
    w.write(
        &format!("xdg/containers/certs.d/{host}/ca.crt"),
        std::fs::read(&ca).unwrap(),
    );
    let (ok, text) = run(
        &["login", "-u", "tester", "--password-stdin", &host],
        Some("wrong-PASS\n"),
    );
    assert!(
        !ok && text.contains("refused the credentials of user 'tester'"),
        "{text}"
    );
    assert!(one_error(&text), "{text}");
    assert!(!auth.exists());
    let (ok, text) = run(
        &["login", "-u", "tester", "--password-stdin", &host],
        Some("s3cret-PASS\n"),
    );
    assert!(ok, "{text}");
    let mode = std::fs::metadata(&auth).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved = std::fs::read_to_string(&auth).unwrap();
    assert!(saved.contains(&host), "{saved}");
    // Pull and push with the saved credentials.
    w.busybox();
    let dest = format!("{host}/secure/busybox:1");
    let (ok, text) = run(&["push", BUSYBOX, &dest], None);
    assert!(ok, "{text}");
    w.ok(&["rmi", BUSYBOX]);
    let (ok, text) = run(&["pull", "-q", &dest], None);
    assert!(ok && text.contains(busybox_facts().id), "{text}");
    // Skopeo reads the same file.
    let sk = Command::new("skopeo")
        .args(["inspect", "--cert-dir"])
        .arg(w.path(&format!("xdg/containers/certs.d/{host}")))
        .arg("--authfile")
        .arg(&auth)
        .arg(format!("docker://{dest}"))
        .output()
        .unwrap();
    assert!(sk.status.success(), "{}", stderr(&sk));
    let (ok, text) = run(&["logout", &host], None);
    assert!(ok, "{text}");
    assert!(!std::fs::read_to_string(&auth).unwrap().contains(&host));
    let (ok, text) = run(&["pull", &dest], None);
    assert!(!ok && text.contains("requires authentication"), "{text}");
    let (ok, text) = run(&["logout", &host], None);
    assert!(!ok && text.contains("not logged in"), "{text}");
    // A Docker credential helper named in $DOCKER_CONFIG/config.json.
    let bin = w.write(
        "helpers/docker-credential-fake",
        "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"tester\",\"Secret\":\"s3cret-PASS\"}' \"$server\"\n",
    );
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    w.write(
        "docker/config.json",
        format!("{{\"credHelpers\":{{\"{host}\":\"fake\"}}}}"),
    );
    let out = w
        .hutch()
        .env("XDG_CONFIG_HOME", w.path("xdg"))
        .env("REGISTRY_AUTH_FILE", &auth)
        .env("DOCKER_CONFIG", w.path("docker"))
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", w.path("helpers").display()),
        )
        .args(["pull", "-q", &dest])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("s3cret-PASS") && !stdout(&out).contains("s3cret-PASS"));
    // XDG_RUNTIME_DIR naming a directory a logout removed counts as unset:
    // the credentials go to the config dir, and the runtime dir is not
    // made again.
    let gone = w.path("gone/run");
    let mut c = w.hutch();
    c.env("XDG_CONFIG_HOME", w.path("xdg"))
        .env("XDG_RUNTIME_DIR", &gone)
        .args(["login", "-u", "tester", "--password-stdin", &host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret-PASS\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let saved = std::fs::read_to_string(w.path("xdg/containers/auth.json")).unwrap();
    assert!(saved.contains(&host), "{saved}");
    assert!(!w.path("gone").exists());
}

#[test]
fn run_pulls_a_missing_image_per_pull_policy() {
    let reg = Registry::start();
    for_each_user(|w| {
        w.busybox();
        let name = format!("{}/run/busybox:1", reg.host());
        w.ok(&["push", "-q", BUSYBOX, &name]);
        w.ok(&["rmi", BUSYBOX]);
        // --pull=never: a clear refusal, nothing fetched.
        let (code, err) = w.fails(&["run", "--rm", "--pull", "never", &name, "true"]);
        assert_eq!(code, 125);
        assert!(err.contains("--pull=never"), "{err}");
        assert!(w.ok(&["images", "-q"]).trim().is_empty());
        // missing (the default): pulled, then run (the pull's threads are
        // gone before run forks, or the debug build's fork check would fail).
        let out = w.run(&["run", "--rm", &name, "echo", "pulled-and-ran"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "pulled-and-ran");
        assert!(stderr(&out).contains("Copied blob"), "{}", stderr(&out));
        // missing again: no registry traffic, the store has it.
        let out = w.run(&["run", "--rm", &name, "true"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!stderr(&out).contains("blob"), "{}", stderr(&out));
        // always: asks the registry, finds every blob in the store.
        let out = w.run(&["run", "--rm", "--pull", "always", &name, "true"]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("already there"), "{}", stderr(&out));
        // A missing image whose pull fails says both things.
        let gone = format!("{}/run/none:1", reg.host());
        let (_, err) = w.fails(&["run", "--rm", &gone, "true"]);
        assert!(
            err.contains(&format!("no such image: {gone}")) && err.contains("not found"),
            "{err}"
        );
    });
}

/// The manifest a registry holds for `reference`, read with skopeo.
fn pushed_manifest(reference: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    serde_json::from_slice(&succeeded(&out, "skopeo inspect --raw").into_bytes()).unwrap()
}

/// (media type, size) of each layer of a pushed manifest.
fn pushed_layers(reference: &str) -> Vec<(String, u64)> {
    pushed_manifest(reference)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_string(),
                l["size"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn imported_layers_are_compressed_on_push_unless_told_not_to() {
    const PLAIN: &str = "application/vnd.oci.image.layer.v1.tar";
    const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    let reg = Registry::start();
    for_each_user(|w| {
        let user = &w.user.name;
        // An uncompressed root filesystem tarball, as `hutch import` keeps it.
        let mut b = tar::Builder::new(Vec::new());
        let text = "a line of text that compresses well\n".repeat(30_000);
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1000);
        h.set_cksum();
        b.append_data(&mut h, "etc/words", text.as_bytes()).unwrap();
        let tar = b.into_inner().unwrap();
        let plain_size = tar.len() as u64;
        let p = w.write("rootfs.tar", tar);
        let id = w.ok(&["import", p.to_str().unwrap(), "localhost/imp:1"]);
        let id = id.trim();

        // Default: gzip, as Docker and Podman push.
        let dest = format!("{}/{user}/imp:gz", reg.host());
        w.ok(&["push", "-q", "localhost/imp:1", &dest]);
        let layers = pushed_layers(&dest);
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].0, GZIP);
        assert!(layers[0].1 < plain_size / 10, "{layers:?} vs {plain_size}");
        // The config (and so the image id) is unchanged: it names diff ids.
        w.ok(&["rmi", "localhost/imp:1"]);
        assert_eq!(w.ok(&["pull", "-q", &dest]).trim(), id);
        w.ok(&["rmi", &dest]);
        w.ok(&["import", p.to_str().unwrap(), "localhost/imp:1"]);

        // -D keeps it as stored.
        let dest = format!("{}/{user}/imp:plain", reg.host());
        w.ok(&["push", "-q", "-D", "localhost/imp:1", &dest]);
        assert_eq!(pushed_layers(&dest), [(PLAIN.to_string(), plain_size)]);
        // ... except where the format has no plain layers.
        let dest = format!("{}/{user}/imp:v2", reg.host());
        w.ok(&[
            "push",
            "-q",
            "-D",
            "--format",
            "v2s2",
            "localhost/imp:1",
            &dest,
        ]);
        assert_eq!(
            pushed_layers(&dest)[0].0,
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );

        // --compression-format recompresses every layer unless told not to.
        w.busybox();
        let dest = format!("{}/{user}/bb:z", reg.host());
        w.ok(&["push", "-q", "--compression-format", "zstd", BUSYBOX, &dest]);
        assert_eq!(pushed_layers(&dest)[0].0, ZSTD);
        // Without forcing, only the uncompressed layers get zstd.
        let unforced = |image: &str, tag: &str| {
            let dest = format!("{}/{user}/{tag}", reg.host());
            let args = ["--compression-format", "zstd", "--force-compression=false"];
            w.ok(&[&["push", "-q"][..], &args, &[image, &dest]].concat());
            pushed_manifest(&dest)["layers"][0].clone()
        };
        let kept = unforced(BUSYBOX, "bb:kept");
        assert_eq!(kept["digest"], format!("sha256:{}", busybox_facts().layer));
        assert_eq!(unforced("localhost/imp:1", "imp:z")["mediaType"], ZSTD);
        let (_, err) = w.fails(&["push", "-D", "--compression-format", "gzip", BUSYBOX, &dest]);
        assert!(err.contains("cannot be used with"), "{err}");
    });
}
