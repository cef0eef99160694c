//! Library-level sandbox tests on a real busybox root filesystem, unpacked
//! here with tar so they do not depend on the image store. They need
//! unprivileged user namespaces and overlayfs in them; without those they
//! fail, or skip under HUTCH_TEST_ALLOW_SKIP=1. Run them as root and as
//! ordinary users (with and without /etc/subuid ranges).

use super::*;
use crate::net::Network;
use crate::rootfs::{Features, MountApi, Overlay};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use nix::sched::CloneFlags;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Run `body` in a process of its own: this test binary re-run with only the
/// test `name`, so that no other test thread can hold the allocator's lock
/// when the sandbox clones (the child gets a copy of the calling thread only).
fn alone(name: &str, body: impl FnOnce()) {
    const VAR: &str = "HUTCH_SANDBOX_TEST_ALONE";
    if std::env::var_os(VAR).is_some() {
        return body();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("sandbox::tests::{name}"),
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(VAR, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{name}:\n{text}"
    );
    if text.contains("SKIP:") {
        eprintln!("{text}");
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    lower: PathBuf,
}

impl Fixture {
    fn new() -> Option<Fixture> {
        let dir = tempfile::tempdir().unwrap();
        let features = Features::probe(dir.path());
        if features.userns_error.is_some() || features.overlay.is_none() {
            let why = format!("{features:?}");
            crate::testing::skip(&format!("sandbox tests: {why}"));
            return None;
        }
        let blob = crate::testing::busybox_layer();
        let lower = dir.path().join("lower");
        std::fs::create_dir(&lower).unwrap();
        let st = Command::new("tar")
            .arg("-xzf")
            .arg(&blob)
            .arg("-C")
            .arg(&lower)
            .arg("--no-same-owner")
            .status()
            .unwrap();
        assert!(st.success(), "unpacking {}", blob.display());
        for d in ["upper", "work", "merged", "out"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        // Writable for whichever user the container process runs as.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("out"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        Some(Fixture { dir, lower })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn spec(&self, args: &[&str], api: MountApi) -> Spec {
        let src = IdSources::default();
        Spec {
            mapping: IdMapping::detect(UsernsRequest::Auto, &src).unwrap(),
            id_sources: src,
            keeper: None,
            overlay: Overlay {
                lowers: vec![self.lower.clone()],
                data: Vec::new(),
                upper: self.path("upper"),
                work: self.path("work"),
                volatile: false,
            },
            rootfs_driver: crate::rootfs::Driver::Overlay(api),
            rootfs_mountpoint: self.path("merged"),
            scratch: self.dir.path().to_path_buf(),
            hostname: "box".into(),
            network: Network::None,
            etc_files: vec![],
            mounts: vec![MountSpec::Bind {
                source: self.path("out"),
                target: "/out".into(),
                read_only: false,
            }],
            read_only: false,
            read_only_tmpfs: true,
            process: ProcessSpec {
                args: args.iter().map(|s| s.to_string()).collect(),
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
                ..Default::default()
            },
            security: crate::sandbox::security::Security::standard().unwrap(),
            remove_after: None,
            layer_in_memory: false,
            cgroup: None,
        }
    }

    fn run(&self, spec: Spec) -> Result<Exit, Error> {
        run(&Plan::build(spec)?, &mut ())
    }

    fn out(&self, name: &str) -> String {
        std::fs::read_to_string(self.path("out").join(name))
            .unwrap_or_else(|e| panic!("reading out/{name}: {e}"))
            .trim()
            .to_string()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // overlayfs leaves mode-000 dirs in its work dirs; let the tempdir go.
        use std::os::unix::fs::PermissionsExt;
        for w in ["work", "work-Legacy", "work-LowerdirPlus"] {
            let _ = std::fs::set_permissions(
                self.path(&format!("{w}/work")),
                std::fs::Permissions::from_mode(0o700),
            );
        }
    }
}

#[test]
fn isolated_pid_hostname_and_copy_on_write() {
    alone("isolated_pid_hostname_and_copy_on_write", || {
        let Some(f) = Fixture::new() else { return };
        let script = "echo $$ > /out/pid; hostname > /out/host; \
                      ls /proc | grep -c '^[0-9]' > /out/procs; \
                      echo new > /newfile; rm /bin/vi; ls /bin/vi 2>/out/vi || echo gone >> /out/vi";
        let exit = f
            .run(f.spec(&["sh", "-c", script], MountApi::LowerdirPlus))
            .unwrap();
        assert_eq!(exit, Exit::Code(0));
        assert_eq!(f.out("pid"), "1");
        assert_eq!(f.out("host"), "box");
        // sh, and the ls and grep of the pipeline: nothing from the host.
        assert!(
            f.out("procs").parse::<u32>().unwrap() <= 3,
            "{}",
            f.out("procs")
        );
        assert!(f.out("vi").ends_with("gone"));
        assert_eq!(
            std::fs::read_to_string(f.path("upper/newfile")).unwrap(),
            "new\n"
        );
        assert!(!f.lower.join("newfile").exists());
        assert!(
            f.lower.join("bin/vi").exists(),
            "the layer must be untouched"
        );
        use std::os::unix::fs::FileTypeExt;
        let wh = std::fs::symlink_metadata(f.path("upper/bin/vi")).unwrap();
        assert!(wh.file_type().is_char_device(), "whiteout in the upper dir");
    });
}

#[test]
fn exit_codes_and_exec_failures() {
    alone("exit_codes_and_exec_failures", || {
        let Some(f) = Fixture::new() else { return };
        let api = MountApi::LowerdirPlus;
        assert_eq!(
            f.run(f.spec(&["sh", "-c", "exit 3"], api)).unwrap(),
            Exit::Code(3)
        );
        // pid 1 cannot be SIGKILLed from inside its namespace (pid_namespaces(7)):
        // kill a child shell, whose status the outer shell passes on.
        assert_eq!(
            f.run(f.spec(&["sh", "-c", "sh -c 'kill -9 $$'; exit $?"], api))
                .unwrap(),
            Exit::Code(137)
        );
        // With --init the command is pid 2; the init reports its death as 128+9.
        let mut s = f.spec(
            &[
                "sh",
                "-c",
                "echo $$ > /out/pid; cat /proc/1/comm > /out/init; kill -9 $$",
            ],
            api,
        );
        s.process.init = true;
        assert_eq!(f.run(s).unwrap(), Exit::Code(137));
        assert_eq!(f.out("pid"), "2");
        assert_eq!(f.out("init"), "hutch-init");
        let e = f.run(f.spec(&["no-such-command"], api)).unwrap_err();
        assert_eq!(e.exit_code(), 127, "{e}");
        assert!(e.to_string().contains("not found"), "{e}");
        let e = f.run(f.spec(&["/etc/passwd"], api)).unwrap_err();
        assert_eq!(e.exit_code(), 126, "{e}");
    });
}

#[test]
fn legacy_mount_with_many_long_layer_paths() {
    alone("legacy_mount_with_many_long_layer_paths", || {
        let Some(f) = Fixture::new() else { return };
        // 60 layers with ~100-byte paths: far over one page of mount options.
        let mut lowers = vec![f.lower.clone()];
        for i in 0..60 {
            let d = f.path(&format!("layers/{}/{i}", "x".repeat(80)));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("f{i}")), format!("{i}\n")).unwrap();
            std::fs::write(d.join("top"), format!("{i}\n")).unwrap();
            lowers.push(d);
        }
        for api in [MountApi::Legacy, MountApi::LowerdirPlus] {
            let mut s = f.spec(&["sh", "-c", "cat /f0 /f59 /top > /out/layers"], api);
            s.overlay.lowers = lowers.clone();
            // A volatile work dir cannot be mounted twice (overlayfs docs,
            // "Volatile mount"): a fresh upper and work dir per mount.
            s.overlay.volatile = true;
            for d in ["upper", "work"] {
                let p = f.path(&format!("{d}-{api:?}"));
                std::fs::create_dir(&p).unwrap();
                if d == "upper" {
                    s.overlay.upper = p;
                } else {
                    s.overlay.work = p;
                }
            }
            assert_eq!(f.run(s).unwrap(), Exit::Code(0), "{api:?}");
            // Every layer is there and the last one given is on top.
            assert_eq!(f.out("layers"), "0\n59\n59", "{api:?}");
        }
        // Reusing a volatile work dir fails (overlayfs docs, "Volatile mount"),
        // loudly and as a setup error.
        let mut s = f.spec(&["true"], MountApi::LowerdirPlus);
        s.overlay.volatile = true;
        s.overlay.upper = f.path("upper-LowerdirPlus");
        s.overlay.work = f.path("work-LowerdirPlus");
        let e = f.run(s).unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert!(
            e.to_string()
                .contains("mounting the root filesystem (overlay): fsconfig"),
            "{e}"
        );
    });
}

#[test]
fn private_network_has_only_loopback_and_it_is_up() {
    alone("private_network_has_only_loopback_and_it_is_up", || {
        let Some(f) = Fixture::new() else { return };
        let s = f.spec(
            &["sh", "-c", "ls /sys/class/net > /out/ifs; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags > /out/lo"],
            MountApi::LowerdirPlus,
        );
        assert_eq!(f.run(s).unwrap(), Exit::Code(0));
        assert_eq!(f.out("ifs"), "lo");
        // IFF_UP is bit 0 of the flags.
        let flags = f.out("lo");
        let flags = flags.lines().last().unwrap();
        let v = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap();
        assert_eq!(v & 1, 1, "lo is up: {flags}");
    });
}

#[test]
fn read_only_root_with_tmpfs_and_user_lookup() {
    alone("read_only_root_with_tmpfs_and_user_lookup", || {
        let Some(f) = Fixture::new() else { return };
        let mut s = f.spec(
            &["sh", "-c", "touch /x 2>/dev/null && echo rw > /out/root || echo ro > /out/root; touch /tmp/x && echo ok > /out/tmp; id -u > /out/uid; echo $HOME > /out/home"],
            MountApi::LowerdirPlus,
        );
        s.read_only = true;
        let single = s.mapping.mode == crate::userns::idmap::MapMode::Single;
        if !single {
            s.process.user = Some("nobody".into());
        }
        assert_eq!(f.run(s).unwrap(), Exit::Code(0));
        assert_eq!(f.out("root"), "ro");
        assert_eq!(f.out("tmp"), "ok");
        if !single {
            assert_eq!(f.out("uid"), "65534");
            assert_eq!(f.out("home"), "/home");
        } else {
            assert_eq!(f.out("uid"), "0");
            assert_eq!(f.out("home"), "/root");
        }
        let mut s = f.spec(&["true"], MountApi::LowerdirPlus);
        s.process.user = Some("nosuchuser".into());
        let e = f.run(s).unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert!(
            e.to_string().contains("unable to find user nosuchuser"),
            "{e}"
        );
    });
}

#[test]
fn image_symlinks_cannot_redirect_setup_to_the_host() {
    alone("image_symlinks_cannot_redirect_setup_to_the_host", || {
        let Some(f) = Fixture::new() else { return };
        // A layer whose /etc and /dev point at a real host directory.
        let host = f.path("host-home");
        std::fs::create_dir(&host).unwrap();
        let evil = f.path("evil-layer");
        std::fs::create_dir(&evil).unwrap();
        for name in ["etc", "dev", "mnt"] {
            std::os::unix::fs::symlink(&host, evil.join(name)).unwrap();
        }
        let mut s = f.spec(
            &[
                "sh",
                "-c",
                "cat /etc/hostname > /out/h; ls /dev/null > /out/d; ls /mnt/in > /out/m",
            ],
            MountApi::LowerdirPlus,
        );
        s.overlay.lowers.push(evil);
        s.etc_files = vec![("/etc/hostname".into(), "box\n".into())];
        s.mounts.push(MountSpec::Bind {
            source: f.path("out"),
            target: "/mnt/in".into(),
            read_only: true,
        });
        assert_eq!(f.run(s).unwrap(), Exit::Code(0));
        assert_eq!(f.out("h"), "box");
        assert_eq!(f.out("d"), "/dev/null");
        assert_eq!(
            std::fs::read_dir(&host).unwrap().count(),
            0,
            "nothing was created in the host directory"
        );
    });
}

/// The later masks clone the first one's tmpfs from its descriptor: a
/// symlink put where the first masked directory was (a volume shared with
/// another container can do that between two masks) changes nothing.
#[test]
fn later_masks_bind_the_first_tmpfs_not_its_path() {
    alone("later_masks_bind_the_first_tmpfs_not_its_path", || {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (first, away, second, host) = (
            d.join("first"),
            d.join("away"),
            d.join("second"),
            d.join("host"),
        );
        for p in [&first, &second, &host] {
            std::fs::create_dir(p).unwrap();
        }
        std::fs::write(host.join("secret"), "x").unwrap();
        let (ready, go) = (d.join("ready"), d.join("go"));
        let wait_for = |p: &Path| {
            for _ in 0..1000 {
                if p.exists() {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(format!("{} never came", p.display()))
        };
        let run = || -> Result<(), String> {
            own_user_and_mount_namespace()?;
            let mut empty = None;
            let mask = |empty: &mut Option<_>, t: &Path| {
                let fd = crate::sys::mount::open_path(t).map_err(|e| e.to_string())?;
                let at = crate::sys::mount::At::Fd(fd.as_fd());
                super::setup::mask_dir(empty, at, t).map_err(|e| e.to_string())
            };
            mask(&mut empty, &first)?;
            // The other container swaps it from outside this mount
            // namespace (where it is no mount point and can be renamed).
            std::fs::write(&ready, "").map_err(|e| e.to_string())?;
            wait_for(&go)?;
            mask(&mut empty, &second)?;
            let names = std::fs::read_dir(&second)
                .map_err(|e| e.to_string())?
                .count();
            let (a, b) = (nix::sys::stat::stat(&away), nix::sys::stat::stat(&second));
            let (a, b) = (a.map_err(|e| e.to_string())?, b.map_err(|e| e.to_string())?);
            let fs = nix::sys::statfs::statfs(&second).map_err(|e| e.to_string())?;
            let write = std::fs::write(second.join("f"), "x");
            if names != 0
                || a.st_dev != b.st_dev
                || fs.filesystem_type() != nix::sys::statfs::TMPFS_MAGIC
            {
                return Err(format!(
                    "second mask is not the first tmpfs: {names} entries, dev {} vs {}",
                    a.st_dev, b.st_dev
                ));
            }
            match write {
                Err(e) if e.raw_os_error() == Some(libc::EROFS) => Ok(()),
                other => Err(format!("second mask is writable: {other:?}")),
            }
        };
        match crate::sys::process::fork().unwrap() {
            crate::sys::process::Forked::Child => {
                let code = match run() {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("{e}");
                        1
                    }
                };
                crate::sys::process::child_exit(code)
            }
            crate::sys::process::Forked::Parent(pid) => {
                if wait_for(&ready).is_ok() {
                    std::fs::rename(&first, &away).unwrap();
                    std::os::unix::fs::symlink(&host, &first).unwrap();
                    std::fs::write(&go, "").unwrap();
                }
                let status = nix::sys::wait::waitpid(pid, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 0));
            }
        }
    });
}

/// The mask paths in /proc come from one read of the directory: a name
/// made after it is not looked up, the others are found with their types,
/// and a symlink there is still resolved inside the root. A directory
/// holding fewer of them (/sys) is looked up name by name.
#[test]
fn mask_paths_in_proc_come_from_one_listing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let proc = root.join("proc");
    for d in [proc.join("acpi"), root.join("elsewhere"), root.join("sys")] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(proc.join("keys"), "").unwrap();
    std::os::unix::fs::symlink("/elsewhere", proc.join("sys")).unwrap();
    let mut masks = super::setup::Seen::default();
    let mut find = |p: &str| {
        let found = masks.find(root, Path::new(p)).unwrap();
        found.map(|f| (f.host, f.is_dir))
    };
    assert_eq!(find("proc/acpi"), Some((proc.join("acpi"), true)));
    std::fs::write(proc.join("kcore"), "").unwrap();
    std::fs::write(root.join("sys/firmware"), "").unwrap();
    // Made after the listing, as no step of a start can: the mask steps
    // that follow it only hide names, and procfs gains no mask name.
    assert_eq!(find("proc/kcore"), None);
    assert_eq!(find("proc/keys"), Some((proc.join("keys"), false)));
    assert_eq!(find("proc/sys"), Some((root.join("elsewhere"), true)));
    assert_eq!(find("proc/asound"), None);
    assert_eq!(
        find("sys/firmware"),
        Some((root.join("sys/firmware"), false))
    );
}

/// The listing keeps only the names something masks, so that no other
/// name is asked its type (a lookup where the filesystem gives none).
#[test]
fn the_proc_listing_holds_only_mask_names() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["keys", "self", "cpuinfo"] {
        std::fs::write(dir.path().join(name), "").unwrap();
    }
    std::fs::create_dir(dir.path().join("sys")).unwrap();
    let fd = crate::sys::fsat::open_dir(dir.path()).unwrap();
    let listed = super::setup::list(fd.as_fd(), Path::new("proc"), dir.path()).unwrap();
    let mut names: Vec<_> = listed
        .iter()
        .map(|(n, t)| (n.clone(), *t == crate::sys::fsat::Kind::Dir))
        .collect();
    names.sort();
    assert_eq!(names, [("keys".into(), false), ("sys".into(), true)]);
}

/// /dev's tmpfs puts `fd -> /proc/self/fd` where an image's `/proc ->
/// /dev/fd` was resolved to a directory: /proc looked up before Op::Dev and
/// used after it would list the host's /proc/self/fd and mask nothing.
/// Looked up again, it is a symlink loop, and the start fails. A mask step
/// keeps what was resolved before it.
#[test]
fn a_directory_resolved_before_a_fixed_mount_is_looked_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("dev/fd")).unwrap();
    std::os::unix::fs::symlink("/dev/fd", root.join("proc")).unwrap();
    let mut seen = super::setup::Seen::default();
    seen.before(&plan::Op::Proc);
    assert!(seen.find(root, Path::new("proc/acpi")).unwrap().is_none());
    std::fs::create_dir(root.join("dev/fd/acpi")).unwrap();
    seen.before(&plan::Op::Mask(PathBuf::from("proc/acpi")));
    assert!(seen.find(root, Path::new("proc/acpi")).unwrap().is_none());
    seen.before(&plan::Op::Dev { shm_size: 0 });
    std::fs::remove_dir_all(root.join("dev/fd")).unwrap();
    std::os::unix::fs::symlink("/proc/self/fd", root.join("dev/fd")).unwrap();
    assert!(seen.find(root, Path::new("proc/acpi")).is_err());
}

/// A path below /sys's top directory is found by one openat2 that refuses
/// symlinks on the way: found where nothing links, missing when missing,
/// and resolved inside the root, as every other path, where a directory
/// on the way is a link (an image's or a volume's).
#[test]
fn a_path_below_a_top_directory_is_looked_up_without_links_or_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let powercap = root.join("sys/devices/virtual/powercap");
    std::fs::create_dir_all(&powercap).unwrap();
    let rel = Path::new("sys/devices/virtual/powercap");
    let find = |rel: &Path| {
        let found = super::setup::Seen::default().find(root, rel).unwrap();
        found.map(|f| (f.host, f.is_dir))
    };
    assert_eq!(find(rel), Some((powercap.clone(), true)));
    std::fs::remove_dir(&powercap).unwrap();
    assert_eq!(find(rel), None);
    std::fs::remove_dir_all(root.join("sys/devices")).unwrap();
    std::fs::create_dir_all(root.join("elsewhere/virtual/powercap")).unwrap();
    std::os::unix::fs::symlink("/elsewhere", root.join("sys/devices")).unwrap();
    assert_eq!(
        find(rel),
        Some((root.join("elsewhere/virtual/powercap"), true))
    );
    std::fs::write(root.join("elsewhere/firmware"), "").unwrap();
    std::fs::remove_dir_all(root.join("sys")).unwrap();
    std::os::unix::fs::symlink("elsewhere", root.join("sys")).unwrap();
    assert_eq!(
        find(Path::new("sys/firmware")),
        Some((root.join("elsewhere/firmware"), false))
    );
}

/// A read-only path is bound over itself read-only with its submounts,
/// a directory or a file, and nothing else (its directory, where the
/// binds are named from, stays writable): by open_tree_attr where the
/// kernel has it, and by open_tree and mount_setattr where it does not
/// (forced here) or where a seccomp filter answers EPERM for it alone
/// (as Docker's profile with CAP_SYS_ADMIN did).
#[test]
fn read_only_binds_cover_submounts_with_and_without_open_tree_attr() {
    alone(
        "read_only_binds_cover_submounts_with_and_without_open_tree_attr",
        || {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path().to_path_buf();
            for n in ["a", "b", "c"] {
                std::fs::create_dir_all(d.join(n).join("sub")).unwrap();
                std::fs::write(d.join(format!("{n}-file")), "x").unwrap();
            }
            let run = |names: &[&str], deny_open_tree_attr: bool| -> Result<(), String> {
                let s = |e: crate::sys::SysError| e.to_string();
                own_user_and_mount_namespace()?;
                let none = None::<&str>;
                use crate::sys::mount::{bind_read_only_over, mount, At, Flags};
                if deny_open_tree_attr {
                    let ins = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
                        code: code as u16,
                        jt,
                        jf,
                        k,
                    };
                    let nr = syscalls::Sysno::open_tree_attr.id() as u32;
                    let prog = [
                        ins(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0),
                        ins(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, nr, 0, 1),
                        ins(
                            libc::BPF_RET | libc::BPF_K,
                            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
                            0,
                            0,
                        ),
                        ins(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW, 0, 0),
                    ];
                    crate::sys::seccomp::install(&prog, 0, 0).map_err(s)?;
                }
                let dfd = crate::sys::fsat::open_dir(&d).map_err(s)?;
                for &n in names {
                    if n == "b" {
                        crate::sys::mount::without_open_tree_attr();
                    }
                    let t = d.join(n);
                    mount(
                        Some("tmpfs"),
                        &t.join("sub"),
                        Some("tmpfs"),
                        Flags::empty(),
                        none,
                    )
                    .map_err(s)?;
                    let name = std::ffi::CString::new(n).unwrap();
                    bind_read_only_over(At::Name(dfd.as_fd(), &name), &t).map_err(s)?;
                    let file = std::ffi::CString::new(format!("{n}-file")).unwrap();
                    let f = d.join(format!("{n}-file"));
                    bind_read_only_over(At::Name(dfd.as_fd(), &file), &f).map_err(s)?;
                    for p in [t.join("f"), t.join("sub/f"), f] {
                        match std::fs::OpenOptions::new()
                            .append(true)
                            .create(true)
                            .open(&p)
                        {
                            Err(e) if e.raw_os_error() == Some(libc::EROFS) => {}
                            other => return Err(format!("{}: {other:?}", p.display())),
                        }
                    }
                    let sibling = d.join(format!("{n}-sibling"));
                    std::fs::write(&sibling, "x")
                        .map_err(|e| format!("{}: {e}", sibling.display()))?;
                }
                Ok(())
            };
            for (names, deny) in [(&["a", "b"][..], false), (&["c"][..], true)] {
                match crate::sys::process::fork().unwrap() {
                    crate::sys::process::Forked::Child => {
                        let code = match run(names, deny) {
                            Ok(()) => 0,
                            Err(e) => {
                                eprintln!("{e}");
                                1
                            }
                        };
                        crate::sys::process::child_exit(code)
                    }
                    crate::sys::process::Forked::Parent(pid) => {
                        let status = nix::sys::wait::waitpid(pid, None).unwrap();
                        assert_eq!(status, nix::sys::wait::WaitStatus::Exited(pid, 0));
                    }
                }
            }
        },
    );
}

/// Enter a new user namespace (this user as its root) and a new mount
/// namespace whose mounts propagate nowhere: where a forked test child
/// may mount without touching the host's mounts.
fn own_user_and_mount_namespace() -> Result<(), String> {
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    crate::sys::cred::unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare: {e}"))?;
    std::fs::write("/proc/self/setgroups", "deny").map_err(|e| e.to_string())?;
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1")).map_err(|e| e.to_string())?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1")).map_err(|e| e.to_string())?;
    crate::sys::mount::mount(
        None::<&str>,
        Path::new("/"),
        None,
        crate::sys::mount::Flags::MS_PRIVATE | crate::sys::mount::Flags::MS_REC,
        None,
    )
    .map_err(|e| e.to_string())
}

/// procfs and sysfs go on `<root>/proc` and `<root>/sys` themselves: a
/// link there is refused, not followed (procfs where it led could be
/// covered by a volume on a directory above it), a file too, and a
/// missing one is made.
#[test]
fn proc_and_sys_are_mounted_only_on_ordinary_directories() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data/p")).unwrap();
    std::os::unix::fs::symlink("/data/p", root.join("proc")).unwrap();
    std::fs::write(root.join("sys"), "").unwrap();
    let refused = |name| {
        super::setup::kernel_fs_dir(root, name)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        refused("proc"),
        "the image's /proc is a symbolic link to /data/p: proc must be mounted on an ordinary directory"
    );
    assert_eq!(
        refused("sys"),
        "the image's /sys is a regular file: sys must be mounted on an ordinary directory"
    );
    std::fs::remove_file(root.join("proc")).unwrap();
    let made = super::setup::kernel_fs_dir(root, "proc").unwrap();
    assert_eq!(made, root.join("proc"));
    assert!(made.symlink_metadata().unwrap().is_dir());
}

/// A refused mount in /proc says where it led, /proc itself without a
/// trailing slash, in words of its own rather than as a kernel errno; the
/// root (a link to `/`) is refused as it would cover /proc; an allowed file
/// and a path outside /proc pass.
#[test]
fn a_mount_leading_into_proc_is_refused_in_words() {
    let root = Path::new("/r");
    let refused = |t: &str| {
        super::setup::outside_proc(root, Path::new(t))
            .unwrap_err()
            .to_string()
    };
    assert!(
        refused("/r/proc")
            .starts_with("refused: it leads to /proc, inside /proc, where only /proc/"),
        "{}",
        refused("/r/proc")
    );
    let kernel = refused("/r/proc/sys/kernel");
    assert!(
        kernel.starts_with("refused: it leads to /proc/sys/kernel, inside /proc,")
            && !kernel.contains("EPERM"),
        "{kernel}"
    );
    assert!(
        refused("/r").starts_with("refused: it leads to /, the container's root"),
        "{}",
        refused("/r")
    );
    assert!(super::setup::outside_proc(root, Path::new("/r/proc/uptime")).is_ok());
    assert!(super::setup::outside_proc(root, Path::new("/r/procs")).is_ok());
}
