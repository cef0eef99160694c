//! Test harness: who runs hutch, where its store lives, and where the shared
//! real images are.
//!
//! As root (CI), every hutch call drops to the users named by
//! `HUTCH_TEST_USER_SUBIDS` (has /etc/subuid ranges) and `HUTCH_TEST_USER_SINGLE`
//! (has none); as an ordinary user, hutch runs as that user. A test that
//! cannot run fails and says why, unless `HUTCH_TEST_ALLOW_SKIP=1` asks to
//! skip it. `tests/run` prepares a machine and runs the suite this way.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Which kind of id mapping a test user gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SubIds,
    Single,
}

/// Someone to run hutch as.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub kind: Kind,
    /// False when the tests themselves run as this user (no switching needed).
    pub switch: bool,
}

fn lookup(name: &str, kind: Kind) -> User {
    let u = nix::unistd::User::from_name(name)
        .expect("getpwnam")
        .unwrap_or_else(|| panic!("test user {name} does not exist"));
    User {
        name: name.into(),
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        home: u.dir,
        kind,
        switch: true,
    }
}

fn current_kind() -> Kind {
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let uid = nix::unistd::getuid().to_string();
    let has = std::fs::read_to_string("/etc/subuid")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let who = l.split(':').next().unwrap_or("");
            who == me || who == uid
        });
    if has {
        Kind::SubIds
    } else {
        Kind::Single
    }
}

/// The user of the given kind, or None (the test should skip) when there is none.
pub fn user(kind: Kind) -> Option<User> {
    let var = match kind {
        Kind::SubIds => "HUTCH_TEST_USER_SUBIDS",
        Kind::Single => "HUTCH_TEST_USER_SINGLE",
    };
    if let Ok(name) = std::env::var(var) {
        return Some(lookup(&name, kind));
    }
    if nix::unistd::getuid().is_root() {
        return None;
    }
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()?;
    (current_kind() == kind).then(|| User {
        name: me.name,
        uid: me.uid.as_raw(),
        gid: me.gid.as_raw(),
        home: me.dir,
        kind,
        switch: false,
    })
}

/// Whether the person running the tests asked to skip what cannot run here.
pub fn skipping_allowed() -> bool {
    std::env::var("HUTCH_TEST_ALLOW_SKIP").as_deref() == Ok("1")
        && std::env::var("HUTCH_TEST_MUST_WORK").as_deref() != Ok("1")
}

/// Fail (saying why and how to fix it) or, under HUTCH_TEST_ALLOW_SKIP=1,
/// print why and skip.
pub fn skip(reason: &str) {
    if !skipping_allowed() {
        panic!(
            "test cannot run here: {reason}\n\
             (as root, tests/run prepares the machine and runs every test; \
             HUTCH_TEST_ALLOW_SKIP=1 skips what cannot run)"
        );
    }
    eprintln!("SKIP: {reason}");
}

/// The default test user: subordinate ids if available, else the single-id one.
pub fn any_user() -> Option<User> {
    user(Kind::SubIds).or_else(|| user(Kind::Single))
}

/// A world-readable scratch dir for files that test users must reach
/// (the binary, copies of the shared images) when the checkout is private.
fn public_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        remove_dead_public_dirs();
        let d = std::env::temp_dir().join(format!("hutch-it-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    })
}

/// Test processes never drop their statics, so each run leaves its public
/// dir (a binary and image copies, ~150 MB) behind; the next run removes
/// those whose process is gone.
fn remove_dead_public_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hutch-it-"))
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
            == Err(nix::errno::Errno::ESRCH);
        if gone {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The hutch binary, reachable by test users.
pub fn hutch_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_hutch"));
        if !nix::unistd::getuid().is_root() {
            return built;
        }
        let dst = public_dir().join("hutch");
        // Copy in a child process: a write descriptor held here would leak into
        // processes other test threads fork meanwhile, and exec'ing the copy
        // would then fail with ETXTBSY.
        let st = Command::new("cp").arg(&built).arg(&dst).status().unwrap();
        assert!(st.success(), "copying the hutch binary failed");
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755)).unwrap();
        dst
    })
}

/// The test images: `$HUTCH_TEST_IMAGES`, else `../shared/images` beside the
/// checkout (the real upstream images), copied somewhere public when running
/// as root. `tests/run` generates stand-ins when neither exists.
pub fn images_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let src = std::env::var_os("HUTCH_TEST_IMAGES")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/images"));
        let src = src.canonicalize().unwrap_or_else(|e| {
            panic!(
                "the test images are missing at {}: {e}; tests/run generates them \
                 (or run tests/make-images DIR and set HUTCH_TEST_IMAGES=DIR)",
                src.display()
            )
        });
        if !nix::unistd::getuid().is_root() {
            return src;
        }
        let dst = public_dir().join("images");
        let st = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&dst)
            .status()
            .unwrap();
        assert!(st.success(), "copying test images failed");
        Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(&dst)
            .status()
            .unwrap();
        dst
    })
}

/// Path of one shared image (`busybox-musl`, `busybox-glibc`, `alpine-3.20/...`).
pub fn image(name: &str) -> PathBuf {
    images_dir().join(name)
}

/// A private hutch world for one test: a user and a store root they own.
pub struct World {
    pub user: User,
    pub dir: tempfile::TempDir,
    /// `HUTCH_STORAGE_DRIVER` for every hutch command; by default the
    /// value of `HUTCH_TEST_STORAGE_DRIVER`, so the whole suite can run on
    /// one driver.
    pub driver: Option<String>,
}

/// A world's runtime dirs (`DIR/hutch`, as a test sets XDG_RUNTIME_DIR to
/// a dir of the world) go with it; the keepers recorded there are ended
/// first, or each would idle on: a keeper ends only when replaced.
impl Drop for World {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        let pid_files = entries
            .flatten()
            .filter_map(|e| std::fs::read_dir(e.path().join("hutch")).ok())
            .flat_map(|d| d.flatten().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pid"));
        for f in pid_files {
            // Checked to be a live `hutch userns-keeper` with the recorded
            // start time, so no other process with a reused pid is hit.
            if let Some(k) = hutch::userns::keeper::recorded_keeper(&f) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(k.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

impl World {
    pub fn new(user: User) -> World {
        let dir = tempfile::Builder::new()
            .prefix("hutch-test-")
            .tempdir_in(public_dir_base())
            .unwrap();
        if user.switch {
            chown_r(dir.path(), user.uid, user.gid);
        }
        let driver = std::env::var("HUTCH_TEST_STORAGE_DRIVER").ok();
        World { user, dir, driver }
    }

    /// The name of a container's writable tree in its directory: the copy
    /// driver's is the container's whole copy, the overlays' their upper dir.
    pub fn writable_layer(&self) -> &'static str {
        match self.driver.as_deref() {
            Some("copy") => "copy",
            _ => "upper",
        }
    }

    /// This world with every container on storage driver `d`.
    pub fn with_driver(mut self, d: &str) -> World {
        self.driver = Some(d.to_string());
        self
    }

    /// The store root passed as --root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// A scratch path inside this world (owned by the user).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a file the test user can read.
    pub fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, data).unwrap();
        if self.user.switch {
            chown_r(self.dir.path(), self.user.uid, self.user.gid);
        }
        p
    }

    /// A command running hutch as the user with this world's root.
    pub fn hutch(&self) -> Command {
        let mut c = self.as_user(hutch_bin());
        c.arg("--root").arg(self.root());
        if let Some(d) = &self.driver {
            c.env("HUTCH_STORAGE_DRIVER", d);
        }
        c
    }

    /// Any program run as the test user, with a clean environment like runuser's.
    pub fn as_user(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        // Signals as a terminal's shell would hand them on: std's Command
        // passes this process's dispositions and the spawning thread's mask
        // on, and a test run started as a background job ignores SIGINT
        // (a test that interrupts hutch would then see it never die).
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut c, || {
                use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow};
                for sig in [
                    nix::sys::signal::Signal::SIGINT,
                    nix::sys::signal::Signal::SIGQUIT,
                ] {
                    signal(sig, SigHandler::SigDfl)?;
                }
                sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
                Ok(())
            });
        }
        c.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", &self.user.home)
            .env("USER", &self.user.name)
            .env("LANG", "C.UTF-8")
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        if self.user.switch {
            c.uid(self.user.uid).gid(self.user.gid);
        }
        c
    }

    /// Run hutch with args; return the output whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.hutch().args(args).output().expect("spawn hutch")
    }

    /// Run hutch and require success; return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        succeeded(&self.run(args), &format!("hutch {args:?}"))
    }

    /// Write `dir/hutch.toml`: a project whose environment is the busybox
    /// image (which the caller loads), without a network.
    pub fn busybox_project(&self, dir: &str) {
        self.write(
            &format!("{dir}/hutch.toml"),
            "image = \"busybox:1.38.0-musl\"\n[run]\nnetwork = \"none\"\n",
        );
    }

    /// Run hutch in `dir` of the world (HOME there too, so an
    /// environment's home stays inside the world) and require success.
    pub fn ok_in(&self, dir: &str, args: &[&str]) -> Output {
        let out = self
            .hutch()
            .current_dir(self.path(dir))
            .env("HOME", self.path(dir))
            .args(args)
            .output()
            .expect("spawn hutch");
        succeeded(&out, &format!("hutch {args:?} in {dir}"));
        out
    }

    /// Run hutch and require failure; return stderr.
    pub fn fails(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "hutch {args:?} should have failed\nstdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `hutch inspect IMAGE`'s object for one image.
    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(&self.ok(&["inspect", image])).unwrap();
        v[0].clone()
    }

    /// Every name in the store, sorted (from `hutch images --format json`).
    pub fn tags(&self) -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["images", "--format", "json"])).unwrap();
        let mut out: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|i| i["RepoTags"].as_array().unwrap().clone())
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        out.sort();
        out
    }

    /// Load the shared busybox (musl) image; returns its short name.
    pub fn busybox(&self) -> &'static str {
        let p = image("busybox-musl");
        self.ok(&["load", "-i", p.to_str().unwrap()]);
        "busybox:1.38.0-musl"
    }
}

fn public_dir_base() -> PathBuf {
    std::env::var_os("HUTCH_TEST_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

/// `chown -R` that tolerates entries vanishing under it: a detached
/// container in the same world renames its record files while the walk is
/// on, and `chown -R` fails on the name it listed a moment before.
fn chown_r(p: &Path, uid: u32, gid: u32) {
    use std::os::unix::fs::MetadataExt;
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if gone(&e) => return,
        Err(e) => panic!("stat {}: {e}", p.display()),
    };
    if meta.uid() != uid || meta.gid() != gid {
        match std::os::unix::fs::lchown(p, Some(uid), Some(gid)) {
            Err(e) if !gone(&e) => panic!("chown {}: {e}", p.display()),
            _ => {}
        }
    }
    if !meta.is_dir() {
        return;
    }
    let entries = match std::fs::read_dir(p) {
        Ok(d) => d,
        Err(e) if gone(&e) => return,
        Err(e) => panic!("read {}: {e}", p.display()),
    };
    for entry in entries {
        match entry {
            Ok(e) => chown_r(&e.path(), uid, gid),
            Err(e) if gone(&e) => {}
            Err(e) => panic!("read {}: {e}", p.display()),
        }
    }
}

/// Run hutch as the test user of `w` under `umask`; require success.
pub fn ok_with_umask(w: &World, umask: &str, args: &[&str]) -> String {
    let out = w
        .as_user("sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(hutch_bin())
        .arg("--root")
        .arg(w.root())
        .args(args)
        .output()
        .expect("spawn sh");
    succeeded(&out, &format!("umask {umask}; hutch {args:?}"))
}

/// Whether host process `pid` is live: it exists and is not a zombie (on
/// machines whose init does not reap orphans, zombies stay).
pub fn live(pid: impl Into<i64>) -> bool {
    let pid = pid.into();
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

/// Require that the command described by `what` succeeded; its stdout.
pub fn succeeded(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Run a program as the test user and require success; its stdout.
pub fn user_ok(w: &World, prog: &str, args: &[&str]) -> String {
    let out = w.as_user(prog).args(args).output().expect("spawn");
    succeeded(&out, &format!("{prog} {args:?}"))
}

/// Whether `err` is one failure in hutch's shape: an `Error: ` line, then at
/// most one `hint: ` line.
pub fn one_error(err: &str) -> bool {
    let lines: Vec<&str> = err.trim_end().lines().collect();
    match lines.as_slice() {
        [what] => what.starts_with("Error: "),
        [what, hint] => what.starts_with("Error: ") && hint.starts_with("hint: "),
        _ => false,
    }
}

/// Stdout of an Output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr of an Output as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run `body` for each available test user kind and each storage driver
/// in `drivers`, each time in a fresh world.
pub fn for_each_user_and_driver(drivers: &[&str], mut body: impl FnMut(World)) {
    for_each_user(|w| {
        let user = w.user.clone();
        drop(w);
        for d in drivers {
            body(World::new(user.clone()).with_driver(d));
        }
    });
}

/// Run `body` once for each available test user kind; skip kinds that are missing.
pub fn for_each_user(mut body: impl FnMut(World)) {
    let mut ran = 0;
    for kind in [Kind::SubIds, Kind::Single] {
        match user(kind) {
            Some(u) => {
                body(World::new(u));
                ran += 1;
            }
            None => skip(&format!("no test user of kind {kind:?}")),
        }
    }
    assert!(ran > 0 || skipping_allowed());
}

/// Root as the test user (`sudo hutch ...`), with its own `--root`. hutch
/// maps 65536 host ids onto themselves for root, so it is a user with
/// subordinate ids to the tests. Needs the tests to run as root.
pub fn root_world() -> Option<World> {
    if !nix::unistd::getuid().is_root() {
        skip("the root tests need the tests to run as root");
        return None;
    }
    Some(World::new(User {
        name: "root".into(),
        uid: 0,
        gid: 0,
        home: "/root".into(),
        kind: Kind::SubIds,
        switch: false,
    }))
}

/// `body` as each test user and as root, each in a fresh world.
pub fn for_each_user_and_root(mut body: impl FnMut(World)) {
    for_each_user(&mut body);
    if let Some(w) = root_world() {
        body(w);
    }
}

/// What the tests check of the busybox (musl) layout, read from it: the
/// generated stand-in has other digests than the upstream image.
pub struct BusyboxFacts {
    /// The config digest, `sha256:...`: the image id.
    pub id: &'static str,
    /// The manifest digest, `sha256:...`.
    pub manifest: &'static str,
    pub manifest_size: u64,
    /// The layer blob's hex digest.
    pub layer: &'static str,
    /// The uncompressed layer's digest, `sha256:...`.
    pub diff_id: &'static str,
    pub created: &'static str,
    pub created_by: &'static str,
    /// Config plus layer bytes, as `inspect`'s Size counts them.
    pub size: u64,
}

impl BusyboxFacts {
    /// The 12-digit short id `images` prints.
    pub fn short_id(&self) -> &str {
        &self.id[7..19]
    }
}

/// The facts of `image("busybox-musl")`.
pub fn busybox_facts() -> &'static BusyboxFacts {
    static FACTS: OnceLock<BusyboxFacts> = OnceLock::new();
    FACTS.get_or_init(|| {
        let dir = image("busybox-musl");
        let json = |name: &str| -> serde_json::Value {
            let p = dir.join(name);
            serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
        };
        let blob = |d: &serde_json::Value| format!("blobs/sha256/{}", &d.as_str().unwrap()[7..]);
        let index = json("index.json");
        let m = &index["manifests"][0];
        let manifest = json(&blob(&m["digest"]));
        let config = json(&blob(&manifest["config"]["digest"]));
        let layer = &manifest["layers"][0];
        // Leaked once so the facts read like the constants they replace.
        let s = |v: &serde_json::Value| -> &'static str { v.as_str().unwrap().to_string().leak() };
        BusyboxFacts {
            id: s(&manifest["config"]["digest"]),
            manifest: s(&m["digest"]),
            manifest_size: m["size"].as_u64().unwrap(),
            layer: &s(&layer["digest"])[7..],
            diff_id: s(&config["rootfs"]["diff_ids"][0]),
            created: s(&config["created"]),
            created_by: s(&config["history"][0]["created_by"]),
            size: manifest["config"]["size"].as_u64().unwrap() + layer["size"].as_u64().unwrap(),
        }
    })
}

/// Container `id`'s record file in world `w`.
pub fn record_file(w: &World, id: &str) -> PathBuf {
    w.root().join("containers").join(id).join("container.json")
}

/// Replace container `id`'s record with `bytes` (whole, and owned by the
/// world's user, as hutch writes it); what it held before.
pub fn put_record(w: &World, id: &str, bytes: &[u8]) -> Vec<u8> {
    let record = record_file(w, id);
    let before = std::fs::read(&record).unwrap();
    let tmp = record.with_extension("test-tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::os::unix::fs::chown(&tmp, Some(w.user.uid), Some(w.user.gid)).unwrap();
    std::fs::rename(&tmp, &record).unwrap();
    before
}

/// Make container `id`'s record say that its pid 1 is being started (as
/// during a restart; its supervisor still runs); the record as it was.
pub fn mark_starting(w: &World, id: &str) -> Vec<u8> {
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(record_file(w, id)).unwrap()).unwrap();
    rec["pid"] = serde_json::Value::Null;
    rec["init"] = serde_json::Value::Null;
    put_record(w, id, &serde_json::to_vec(&rec).unwrap())
}

/// Whether `f` becomes true within `secs` seconds (tried every 50 ms, and
/// once more at the end).
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}

/// Read `from` byte by byte until what was read contains `marker` (a
/// process saying it is ready); panics at end of file or after 30 s.
pub fn read_until(from: &mut (impl std::io::Read + std::os::fd::AsFd), marker: &str) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        // A line that never comes fails the test instead of hanging it.
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = PollTimeout::try_from(left.as_millis() as i32).unwrap_or(PollTimeout::ZERO);
        let mut fds = [PollFd::new(from.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, ms).unwrap();
        assert!(
            ready > 0,
            "{marker:?} did not come within 30 s; saw {seen:?}"
        );
        assert_eq!(from.read(&mut byte).unwrap(), 1, "{seen:?}");
        seen.push(byte[0]);
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
