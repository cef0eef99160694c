//! Confinement: hostile files in a container, seccomp, masked paths,
//! capabilities and limits, probed from inside real containers as both
//! unprivileged users.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const BB: &str = "busybox:1.38.0-musl";

/// Run hutch, killing it if it takes longer than `secs` (a hang is a failure).
pub(crate) fn within(w: &World, secs: u64, args: &[&str]) -> Output {
    let mut child = w
        .hutch()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hutch");
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("hutch {args:?} hung for {secs}s\nstderr: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Peak resident memory of finished children of this test process (ru_maxrss, KiB).
fn children_max_rss_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .unwrap()
        .max_rss()
}

fn refused(out: &Output, what: &str, needle: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "{what} should fail\nstderr: {err}");
    assert!(err.contains(needle), "{what}: {err}");
}

#[test]
fn hostile_passwd_is_refused_quickly_in_run_and_exec() {
    for_each_user(|w| {
        w.busybox();
        let cases = [
            ("ln -sf /dev/zero /etc/passwd", "character device"),
            ("rm /etc/passwd && mkfifo /etc/passwd", "FIFO"),
            (
                "rm /etc/passwd && truncate -s 1G /etc/passwd",
                "larger than",
            ),
        ];
        for (i, (script, needle)) in cases.iter().enumerate() {
            let name = format!("t{i}");
            w.ok(&[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                BB,
                "sleep",
                "600",
            ]);
            w.ok(&["exec", &name, "sh", "-c", script]);
            let out = within(&w, 20, &["exec", &name, "id"]);
            refused(&out, &format!("exec with {script}"), needle);
            // The same file in a new container's image (a sparse 1 GB file
            // would make a 1 GB layer: the volume below covers `run`).
            if i < 2 {
                let tag = format!("hostile:{i}");
                w.ok(&["commit", &name, &tag]);
                let out = within(&w, 20, &["run", "--rm", "--network", "none", &tag, "id"]);
                refused(&out, &format!("run with {script}"), needle);
            }
            w.ok(&["rm", "-f", &name]);
        }
        // A 1 GB sparse passwd given to `run` through a volume.
        let big = w.path("passwd");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(1 << 30).unwrap();
        let vol = format!("{}:/etc/passwd:ro", big.display());
        let out = within(
            &w,
            20,
            &["run", "--rm", "--network", "none", "-v", &vol, BB, "id"],
        );
        refused(&out, "run with a 1 GB passwd", "larger than");
        assert!(
            children_max_rss_kib() < 512 * 1024,
            "hutch read a hostile passwd into memory"
        );
    });
}

/// The static probe (tests/it/probe.c), built once per test run and copied
/// into the world where the test user can mount it.
pub(crate) fn probe(w: &World) -> String {
    static BUILT: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let bin = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = dir.join("probe");
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/probe.c");
        let st = std::process::Command::new("cc")
            .args(["-static", "-O", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("cc (gcc and libc6-dev) builds the probe");
        assert!(st.success(), "building {}", src.display());
        out
    });
    let dest = w.write("probe", std::fs::read(bin).unwrap());
    std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{}:/probe:ro", dest.display())
}

/// A 32-bit x86 program, written out by hand (no multilib compiler
/// needed): it calls unshare(CLONE_NEWUSER), writes "hi", and exits with
/// the errno unshare gave (0 when it worked). Returns the `-v` spec that
/// mounts it at /hi32.
fn i386_program(w: &World) -> String {
    const BASE: u32 = 0x0804_8000;
    const CODE_AT: u32 = 52 + 32;
    let mut code: Vec<u8> = Vec::new();
    let mov = |code: &mut Vec<u8>, op: u8, v: u32| {
        code.push(op);
        code.extend(v.to_le_bytes());
    };
    let int80 = [0xCD, 0x80];
    mov(&mut code, 0xB8, 310); // eax = unshare (i386's number)
    mov(&mut code, 0xBB, libc::CLONE_NEWUSER as u32); // ebx = flags
    code.extend(int80);
    code.extend([0xF7, 0xD8, 0x89, 0xC6]); // esi = -eax
    mov(&mut code, 0xB8, 4); // write
    mov(&mut code, 0xBB, 1);
    let msg_at = code.len() + 1;
    mov(&mut code, 0xB9, 0);
    mov(&mut code, 0xBA, 3);
    code.extend(int80);
    mov(&mut code, 0xB8, 1); // exit(esi)
    code.extend([0x89, 0xF3]);
    code.extend(int80);
    let msg = BASE + CODE_AT + code.len() as u32;
    code[msg_at..msg_at + 4].copy_from_slice(&msg.to_le_bytes());
    code.extend(b"hi\n");
    let size = CODE_AT + code.len() as u32;
    let mut elf: Vec<u8> = b"\x7fELF\x01\x01\x01".to_vec();
    elf.resize(16, 0);
    for half in [2u16, 3] {
        elf.extend(half.to_le_bytes()); // executable, i386
    }
    for word in [1, BASE + CODE_AT, 52, 0, 0] {
        elf.extend(word.to_le_bytes()); // version, entry, phoff, shoff, flags
    }
    for half in [52u16, 32, 1, 0, 0, 0] {
        elf.extend(half.to_le_bytes()); // ehsize, phentsize, phnum, sh*
    }
    // One PT_LOAD of the whole file, read + execute.
    for word in [1, 0, BASE, BASE, size, size, 5, 0x1000] {
        elf.extend(word.to_le_bytes());
    }
    elf.extend(code);
    let dest = w.write("hi32", elf);
    std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    format!("{}:/hi32:ro", dest.display())
}

/// `run --rm --network none [flags] busybox sh -c SCRIPT` with the probe
/// mounted at /probe; stdout.
fn inside(w: &World, flags: &[&str], script: &str) -> String {
    let vol = probe(w);
    let mut args = vec!["run", "--rm", "--network", "none", "-v", &vol];
    args.extend(flags);
    args.extend([BB, "sh", "-c", script]);
    w.ok(&args)
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} in {status}"))
        .trim()
        .to_string()
}

/// hutch's documented default capability set (docs/SECURITY.md).
const DEFAULT_CAPBND: &str = "00000000a80425fb";

#[test]
fn a_default_container_is_confined_like_dockers() {
    for_each_user(|w| {
        w.busybox();
        let status = inside(&w, &[], "cat /proc/self/status");
        assert_eq!(status_field(&status, "Seccomp"), "2");
        assert_eq!(status_field(&status, "NoNewPrivs"), "1");
        assert_eq!(status_field(&status, "CapBnd"), DEFAULT_CAPBND);
        assert_eq!(status_field(&status, "CapEff"), DEFAULT_CAPBND);

        let host_pid = std::process::id().to_string();
        let denied = inside(
            &w,
            &[],
            &format!(
                "for c in keyctl add_key request_key unshare-user clone-user bpf perf_event_open \
                 kexec_load init_module clock_settime; do /probe $c; done; /probe ptrace {host_pid}; \
                 unshare -U true 2>/dev/null || echo unshare-cmd denied; \
                 mount -t tmpfs none /mnt 2>/dev/null || echo mount denied"
            ),
        );
        for c in [
            "keyctl",
            "add_key",
            "request_key",
            "unshare-user",
            "clone-user",
            "bpf",
            "perf_event_open",
            "kexec_load",
            "init_module",
            "clock_settime",
        ] {
            assert!(denied.contains(&format!("{c} EPERM\n")), "{c}: {denied}");
        }
        // Nothing outside is even visible: a host pid does not exist here.
        assert!(denied.contains("ptrace ESRCH\n"), "{denied}");
        assert!(denied.contains("unshare-cmd denied") && denied.contains("mount denied"));

        // 32-bit x86 programs run, under the same rules by their own
        // numbers: unshare is refused with EPERM (1), not killed (SIGSYS,
        // 159), and works where the filter is off.
        let hi32 = i386_program(&w);
        let run32 = |flags: &[&str]| {
            let mut args = vec!["run", "--rm", "--network", "none", "-v", &hi32];
            args.extend(flags);
            args.extend([BB, "sh", "-c", "/hi32; echo rc=$?"]);
            w.ok(&args)
        };
        assert_eq!(run32(&[]), "hi\nrc=1\n");
        assert_eq!(
            run32(&["--security-opt", "seccomp=unconfined"]),
            "hi\nrc=0\n"
        );

        // Masked paths read empty, directories list nothing, tunables are read-only.
        let masked = inside(
            &w,
            &[],
            "cat /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug /proc/interrupts | wc -c; \
             ls -A /proc/acpi /proc/scsi /sys/firmware 2>/dev/null | grep -v ':$' | grep -c . ; \
             (echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null || echo sys read-only; \
             (echo h > /proc/sysrq-trigger) 2>/dev/null || echo sysrq read-only",
        );
        let lines: Vec<&str> = masked.lines().collect();
        assert_eq!(lines[0].trim(), "0", "masked files are empty: {masked}");
        assert_eq!(lines[1].trim(), "0", "masked dirs are empty: {masked}");
        assert!(masked.contains("sys read-only") && masked.contains("sysrq read-only"));
        // Each masked directory is read-only, nosuid, nodev and noexec,
        // though all but the first are clones of the first one's tmpfs. A
        // volume on /sys holds both of its masked directories (with a file
        // each), so at least two are masked whatever this host has.
        let sys = w.path("fake-sys");
        for d in ["firmware", "devices/virtual/powercap"] {
            std::fs::create_dir_all(sys.join(d)).unwrap();
            std::fs::write(sys.join(d).join("shown"), "").unwrap();
        }
        let sys_vol = format!("{}:/sys", sys.display());
        let dirs = inside(
            &w,
            &["-v", &sys_vol],
            "for d in /proc/acpi /proc/asound /proc/scsi /sys/firmware /sys/devices/virtual/powercap; do \
               [ -d $d ] && { grep \" $d \" /proc/self/mounts; touch $d/x 2>&1; ls -A $d; }; done; true",
        );
        let mounts: Vec<&str> = dirs.lines().filter(|l| l.contains(" tmpfs ")).collect();
        assert!(mounts.len() >= 2, "{dirs}");
        assert!(!dirs.contains("shown"), "{dirs}");
        for m in &mounts {
            assert!(m.contains(" ro,nosuid,nodev,noexec"), "{dirs}");
        }
        assert_eq!(
            dirs.matches("Read-only file system").count(),
            mounts.len(),
            "{dirs}"
        );

        // A private cgroup namespace: its own root, not the host's namespace.
        let cg = inside(
            &w,
            &[],
            "cat /proc/self/cgroup; readlink /proc/self/ns/cgroup",
        );
        assert!(cg.lines().any(|l| l == "0::/"), "{cg}");
        let host_ns = std::fs::read_link("/proc/self/ns/cgroup").unwrap();
        assert!(!cg.contains(&*host_ns.to_string_lossy()), "{cg}");

        // /dev/shm: 64 MiB unless --shm-size says otherwise.
        let shm = |flags: &[&str]| {
            inside(&w, flags, "df -k /dev/shm | tail -1")
                .split_whitespace()
                .nth(1)
                .unwrap()
                .to_string()
        };
        assert_eq!(shm(&[]), "65536");
        assert_eq!(shm(&["--shm-size", "1m"]), "1024");
    });
}

/// A masked path that is a symbolic link (a volume mounted over /sys may
/// hold one) is resolved inside the container's root, as every mount
/// target is: the mask lands on the container's directory the link names.
#[test]
fn a_masked_path_that_is_a_link_in_a_volume_resolves_inside_the_root() {
    for_each_user(|w| {
        w.busybox();
        let secret = w.write("target/secret", "host");
        let links = w.path("links");
        std::fs::create_dir_all(&links).unwrap();
        std::os::unix::fs::symlink("/masktarget", links.join("powercap")).unwrap();
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{}:/sys/devices/virtual", links.display()),
            "-v",
            &format!("{}:/masktarget", w.path("target").display()),
            BB,
            "sh",
            "-c",
            "ls -A /masktarget | wc -l; ls -A /sys/devices/virtual/powercap/ | wc -l",
        ]);
        let counts: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(counts, ["0", "0"], "{out}");
        assert_eq!(std::fs::read_to_string(secret).unwrap(), "host");
    });
}

/// A masked path that cannot be looked at (its directory in a volume is
/// closed to the container) is not taken for a missing one: the run fails
/// and says which path, rather than leaving it unmasked on a guess.
#[test]
fn a_masked_path_that_cannot_be_looked_at_fails_the_run() {
    for_each_user(|w| {
        w.busybox();
        // Owned by the tests' root, which no test user's namespace maps.
        let closed = w.path("closed");
        std::fs::create_dir_all(closed.join("powercap")).unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let (code, err) = w.fails(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{}:/sys/devices/virtual", closed.display()),
            BB,
            "true",
        ]);
        assert_ne!(code, 0);
        assert!(
            err.contains("masking /sys/devices/virtual/powercap")
                && err.contains("powercap)")
                && err.contains("EACCES"),
            "{err}"
        );
    });
}

/// Imports as `name` the busybox image with its /proc replaced by a link
/// to `to`. Imported rather than built: a build here would raise this test
/// process's peak child memory, which another test measures.
fn import_with_proc_link(w: &World, name: &str, to: &str) {
    let layer = image("busybox-musl")
        .join("blobs/sha256")
        .join(busybox_facts().layer);
    let rootfs = w.path(&format!("{name}-rootfs"));
    std::fs::create_dir_all(&rootfs).unwrap();
    let tar = |args: &[&std::ffi::OsStr]| {
        let st = std::process::Command::new("tar").args(args).status();
        assert!(st.unwrap().success(), "tar {args:?}");
    };
    tar(&[
        "-xf".as_ref(),
        layer.as_os_str(),
        "-C".as_ref(),
        rootfs.as_os_str(),
    ]);
    let _ = std::fs::remove_dir(rootfs.join("proc"));
    std::os::unix::fs::symlink(to, rootfs.join("proc")).unwrap();
    let archive = w.path(&format!("{name}.tar"));
    tar(&[
        "-cf".as_ref(),
        archive.as_os_str(),
        "-C".as_ref(),
        rootfs.as_os_str(),
        ".".as_ref(),
    ]);
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).unwrap();
    w.ok(&["import", archive.to_str().unwrap(), name]);
}

/// `run` of `image`, whose /proc links to `to`, with `extra` flags: refused
/// in one line naming the link, before the container reads anything.
fn refused_for_its_proc_link(w: &World, image: &str, to: &str, extra: &[&str]) {
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image, "cat", "/proc/self/status"]);
    let out = within(w, 30, &args);
    let want = format!(
        "mounting /proc: the image's /proc is a symbolic link to {to}: proc must be mounted on an ordinary directory"
    );
    refused(&out, image, &want);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(!stdout(&out).contains("CapBnd"), "{}", stdout(&out));
}

/// An image whose /proc is a link into /dev would get procfs mounted in
/// the image's /dev, which /dev's own tmpfs then covers with `fd ->
/// /proc/self/fd`, and masks that miss it. Procfs goes only on an ordinary
/// /proc directory (as runc has it), so the container does not start.
#[test]
fn an_image_whose_proc_is_a_link_into_dev_does_not_start_unmasked() {
    for_each_user(|w| {
        import_with_proc_link(&w, "proclink", "/dev/fd");
        refused_for_its_proc_link(&w, "proclink", "/dev/fd", &[]);
    });
}

/// An image whose /proc links into a directory a volume covers
/// (`/proc -> /data/p`, `-v DIR:/data`): procfs mounted where the link led
/// would be hidden under the volume, and the container would read the
/// volume's /proc files (here a CapBnd of 0) and get its masks on the
/// volume. The start is refused before any of that.
#[test]
fn an_image_whose_proc_links_under_a_volume_is_refused() {
    for_each_user(|w| {
        import_with_proc_link(&w, "procdata", "/data/p");
        w.write("data/p/self/status", "CapBnd:\t0000000000000000\n");
        let volume = format!("{}:/data", w.path("data").display());
        refused_for_its_proc_link(&w, "procdata", "/data/p", &["-v", &volume]);
        let left: Vec<_> = std::fs::read_dir(w.path("data/p"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["self"], "nothing mounted or made on the volume");
    });
}

#[test]
fn capabilities_privileged_and_security_options_change_what_they_say() {
    for_each_user(|w| {
        w.busybox();
        // --cap-add SYS_ADMIN: sethostname works in the container's own UTS
        // namespace; the host's name is untouched.
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        let out = inside(&w, &["--cap-add", "sys_admin"], "hostname x && hostname");
        assert_eq!(out, "x\n");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
            host_name
        );
        let bnd =
            |flags: &[&str]| status_field(&inside(&w, flags, "cat /proc/self/status"), "CapBnd");
        assert_eq!(bnd(&["--cap-add", "CAP_SYS_ADMIN"]), "00000000a82425fb");
        // CAP_SYS_ADMIN brings back open_tree_attr with the other mount
        // calls: a hutch inside makes its read-only paths with it.
        let call = "/probe open_tree_attr";
        let admin = inside(&w, &["--cap-add", "CAP_SYS_ADMIN"], call);
        assert_eq!(admin, "open_tree_attr ENOENT\n");
        assert_eq!(inside(&w, &[], call), "open_tree_attr EPERM\n");
        assert_eq!(bnd(&["--cap-drop", "ALL"]), "0000000000000000");
        assert_eq!(
            bnd(&["--cap-drop", "ALL", "--cap-add", "chown"]),
            "0000000000000001"
        );
        let out = inside(
            &w,
            &["--cap-drop", "CHOWN"],
            "touch /f; chown 1:1 /f 2>/dev/null || echo chown denied",
        );
        assert_eq!(out, "chown denied\n");

        // --privileged: every capability, no filter, no masks; still no_new_privs.
        let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let status = inside(&w, &["--privileged"], "cat /proc/self/status");
        assert_eq!(
            status_field(&status, "CapBnd"),
            format!("{:016x}", (1u64 << (last + 1)) - 1)
        );
        assert_eq!(status_field(&status, "Seccomp"), "0");
        assert_eq!(status_field(&status, "NoNewPrivs"), "1");
        let out = inside(
            &w,
            &["--privileged"],
            "grep -c -E ' /proc/(keys|kcore|sys) ' /proc/self/mounts; unshare -U true && echo nested",
        );
        assert_eq!(out, "0\nnested\n");

        // --security-opt.
        let status = inside(
            &w,
            &[
                "--security-opt",
                "seccomp=unconfined",
                "--security-opt",
                "no-new-privileges=false",
            ],
            "cat /proc/self/status",
        );
        assert_eq!(status_field(&status, "Seccomp"), "0");
        assert_eq!(status_field(&status, "NoNewPrivs"), "0");
        let status = inside(
            &w,
            &["--security-opt", "no-new-privileges=false"],
            "cat /proc/self/status",
        );
        assert_eq!(
            status_field(&status, "Seccomp"),
            "2",
            "filter without no_new_privs"
        );
        // systempaths=unconfined (Docker's): no masked or read-only paths,
        // the filter stays.
        let out = inside(
            &w,
            &["--security-opt", "systempaths=unconfined"],
            "grep -c -E ' /proc/(keys|kcore|sys) ' /proc/self/mounts; grep Seccomp: /proc/self/status",
        );
        assert_eq!(out, "0\nSeccomp:\t2\n");
        let profile = w.write(
            "profile.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
        );
        let opt = format!("seccomp={}", profile.display());
        let out = inside(
            &w,
            &["--security-opt", &opt],
            "mkdir /x 2>&1; /probe keyctl; grep Seccomp: /proc/self/status",
        );
        assert!(out.contains("Permission denied"), "{out}");
        assert!(
            out.contains("keyctl ok") || out.contains("keyctl EINVAL"),
            "{out}"
        );
        let bad = w.write("bad.json", "{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}");
        let (code, err) = w.fails(&[
            "run",
            "--rm",
            "--security-opt",
            &format!("seccomp={}", bad.display()),
            BB,
            "true",
        ]);
        assert_eq!(code, 125);
        assert!(err.contains("SCMP_ACT_NOTIFY"), "{err}");
        let odd = w.write(
            "odd.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_NEW_LISTENER"]}"#,
        );
        let (code, err) = w.fails(&[
            "run",
            "--rm",
            "--security-opt",
            &format!("seccomp={}", odd.display()),
            BB,
            "true",
        ]);
        assert_eq!(code, 125);
        assert!(
            err.contains(&format!(
                "seccomp={}: flags: unknown flag 'SECCOMP_FILTER_FLAG_NEW_LISTENER'",
                odd.display()
            )),
            "{err}"
        );
        for (flag, val, says) in [
            ("--cap-add", "FLY", "unknown capability"),
            ("--security-opt", "apparmor=x", "unsupported --security-opt"),
            ("--ulimit", "nofile=2:1", "soft limit"),
            ("--shm-size", "lots", "invalid size"),
        ] {
            let (code, err) = w.fails(&["run", "--rm", flag, val, BB, "true"]);
            assert_eq!(code, 125, "{flag} {val}");
            assert!(err.contains(says), "{flag} {val}: {err}");
        }

        // --ulimit sets both limits of the container's processes.
        let out = inside(&w, &["--ulimit", "nofile=100:200"], "ulimit -n; ulimit -Hn");
        assert_eq!(out, "100\n200\n");
        // Without it, open files and processes get Podman's default: 1048576
        // or the caller's hard limit where lower, for soft and hard alike
        // (not the caller's soft limits, 512 and 600 here).
        let script = "ulimit -n; ulimit -Hn; ulimit -u; ulimit -Hu";
        let out = w
            .as_user("bash")
            .arg("-c")
            .arg(
                "ulimit -Sn 512 && { ulimit -Su 600 2>/dev/null || true; } && \
                 ulimit -Hn && ulimit -Hu && exec \"$0\" \"$@\"",
            )
            .arg(hutch_bin())
            .arg("--root")
            .arg(w.root())
            .args(["run", "--rm", "--network", "none", BB, "sh", "-c", script])
            .output()
            .unwrap();
        let text = stdout(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}{}", stderr(&out));
        let want = |hard: &str| match hard {
            "unlimited" => (1u64 << 20).to_string(),
            n => n.parse::<u64>().unwrap().min(1 << 20).to_string(),
        };
        let (files, procs) = (want(lines[0]), want(lines[1]));
        assert_eq!(lines[2..], [&files, &files, &procs, &procs], "{text}");
        assert_ne!(files, "512");

        // Without a delegated cgroup, cgroup limits are one warning naming
        // the cause, or an error with --strict-limits.
        let out = w.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "--memory",
            "64m",
            BB,
            "true",
        ]);
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("not applied") && err.contains("delegated"),
            "{err}"
        );
        let (code, err) = w.fails(&[
            "run",
            "--rm",
            "--pids-limit",
            "10",
            "--strict-limits",
            BB,
            "true",
        ]);
        assert_eq!(code, 125);
        assert!(err.contains("cannot be applied"), "{err}");
        assert!(w
            .ok(&["info"])
            .contains("--cpus, --memory, --pids-limit: no"));
    });
}

#[test]
fn exec_gets_pid_1s_confinement_and_its_helper_shows_nothing_of_the_host() {
    for_each_user(|w| {
        w.busybox();
        w.ok(&[
            "run",
            "-d",
            "--name",
            "c",
            "--network",
            "none",
            "--cap-drop",
            "NET_RAW",
            BB,
            "sleep",
            "600",
        ]);
        let status = |pid: &str| w.ok(&["exec", "c", "cat", &format!("/proc/{pid}/status")]);
        let (one, me) = (status("1"), status("self"));
        for key in ["Seccomp", "NoNewPrivs", "CapBnd", "CapEff"] {
            assert_eq!(status_field(&one, key), status_field(&me, key), "{key}");
        }
        assert_eq!(status_field(&me, "CapBnd"), "00000000a80405fb");
        assert_eq!(status_field(&me, "Seccomp"), "2");

        // While `hutch exec` runs, its process is not dumpable (its environ,
        // memory and descriptors are closed even to the same user) and its
        // command line names no host path.
        let mut child = w
            .hutch()
            .args(["exec", "c", "sleep", "30"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let t0 = Instant::now();
        let cmdline = loop {
            let c = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if c.starts_with(b"hutch-exec") || t0.elapsed() > Duration::from_secs(10) {
                break c;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let shown = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        assert_eq!(shown.trim(), "hutch-exec", "{shown:?}");
        let environ = w
            .as_user("cat")
            .arg(format!("/proc/{pid}/environ"))
            .output()
            .unwrap();
        assert!(
            !environ.status.success(),
            "environ of the helper is readable"
        );
        let _ = child.kill();
        let _ = child.wait();
        w.ok(&["rm", "-f", "c"]);
    });
}

#[test]
fn single_id_users_install_packages_with_fake_root() {
    let Some(u) = user(Kind::Single) else {
        skip("no single-id test user");
        return;
    };
    let w = World::new(u);
    let Some(tar) = crate::debian::debian_base(&w) else {
        return;
    };
    w.ok(&["import", tar.to_str().unwrap(), "deb:base"]);
    let info = w.ok(&["info"]);
    assert!(info.contains("fake root: on for build RUN steps"), "{info}");

    // A local .deb the test makes, installed with dpkg (which chowns every
    // file it unpacks to root).
    w.write("ctx/hello.deb", crate::versions::hello_deb());
    w.write(
        "ctx/Dockerfile",
        "FROM deb:base\n\
         RUN apt-get update && apt-get install -y --no-install-recommends hello adduser\n\
         RUN adduser --disabled-password --gecos '' bob && touch /home/bob/f && chown bob:bob /home/bob/f\n\
         COPY hello.deb /tmp/\n\
         RUN dpkg -i /tmp/hello.deb && rm /tmp/hello.deb\n\
         RUN hello && id bob && hutch-hello && dpkg -s hutch-hello | grep Status\n",
    );
    let out = w.run(&["build", "-t", "deb:hello", w.path("ctx").to_str().unwrap()]);
    let err = stderr(&out);
    assert!(out.status.success(), "build failed: {err}");
    assert!(err.contains("--> fake root (no subordinate ids)"), "{err}");
    assert!(err.contains("Hello, world!"), "{err}");
    assert!(err.contains("uid=1000(bob)"), "{err}");
    assert!(err.contains("hello from the package"), "{err}");
    assert!(err.contains("Status: install ok installed"), "{err}");

    // A failing RUN in this mode says what fake root cannot do.
    w.write(
        "bad/Dockerfile",
        "FROM deb:base\nRUN su -s /bin/sh nobody -c 'test $(id -u) = 65534'\n",
    );
    let (_, err) = w.fails(&["build", w.path("bad").to_str().unwrap()]);
    assert!(err.contains("give the user ranges in /etc/subuid"), "{err}");

    // `run --fake-root` opts in; without it a single id cannot chown.
    let vol = probe(&w);
    let script = "touch /f; chown 1:1 /f && echo chown ok; /probe setgroups; /probe mknod-char /n";
    let on = w.ok(&[
        "run",
        "--rm",
        "--fake-root",
        "-v",
        &vol,
        "deb:base",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(on, "chown ok\nsetgroups ok\nmknod-char ok\n");
    let off = w.ok(&["run", "--rm", "-v", &vol, "deb:base", "sh", "-c", script]);
    assert!(
        !off.contains("chown ok") && !off.contains("setgroups ok"),
        "{off}"
    );
}

#[test]
fn hutch_toml_security_keys_confine_the_environment() {
    for_each_user(|w| {
        w.busybox();
        w.write(
            "proj/hutch.toml",
            format!(
                "image = \"{BB}\"\n[run]\nnetwork = \"none\"\ncap_drop = [\"ALL\"]\n\
                 cap_add = [\"CHOWN\"]\nulimits = [\"nofile=100:200\"]\n\
                 security_opt = [\"seccomp=profile.json\"]\n[run.limits]\nshm_size = \"1m\"\n"
            ),
        );
        w.write(
            "proj/profile.json",
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "flags":["SECCOMP_FILTER_FLAG_LOG","SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
        );
        let shell = |script: &str| {
            let out = w
                .hutch()
                .current_dir(w.path("proj"))
                .env("HOME", w.path("home"))
                .args(["shell", "--", "sh", "-c", script])
                .output()
                .unwrap();
            succeeded(&out, script)
        };
        let out = shell(
            "grep -E '^(CapBnd|Seccomp):' /proc/self/status; ulimit -n; ulimit -Hn; \
             df -k /dev/shm | tail -1 | awk '{print $2}'; mkdir /tmp/x 2>&1 || true",
        );
        let status: String = out.lines().take(2).collect::<Vec<_>>().join("\n");
        assert_eq!(status_field(&status, "CapBnd"), "0000000000000001", "{out}");
        assert_eq!(status_field(&status, "Seccomp"), "2", "{out}");
        let rest: Vec<&str> = out.lines().skip(2).collect();
        assert_eq!(rest[..3], ["100", "200", "1024"], "{out}");
        assert!(rest[3].contains("Permission denied"), "{out}");

        // A bad value is refused with the file, line and key.
        w.write(
            "proj/hutch.toml",
            format!("image = \"{BB}\"\n[run]\ncap_add = [\"FLY\"]\n"),
        );
        let out = w
            .hutch()
            .current_dir(w.path("proj"))
            .env("HOME", w.path("home"))
            .args(["shell", "--", "true"])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!out.status.success());
        assert!(
            err.contains("hutch.toml:3: run.cap_add:") && err.contains("FLY"),
            "{err}"
        );
        // A valid file again, so that the environment can be removed (and
        // its container and watcher end with it).
        w.write("proj/hutch.toml", format!("image = \"{BB}\"\n"));
        let out = w
            .hutch()
            .current_dir(w.path("proj"))
            .env("HOME", w.path("home"))
            .args(["env", "rm"])
            .output()
            .unwrap();
        succeeded(&out, "env rm");
        assert_eq!(w.ok(&["ps", "-aq"]), "");
    });
}

/// A mount inside /proc could hand the container a value the kernel never
/// gave or hide a masked path. (While the container's process read
/// cap_last_cap itself, a file holding 5 mounted there left CAP_SYS_ADMIN
/// in the bounding set; it has since been read in the parent, so the
/// refusal is what guards the other files.) `-v`, `--mount` and `--tmpfs`
/// there are refused before anything is created, except over the files
/// runc allows (lxcfs's), which show the mounted content.
#[test]
fn mounts_inside_proc_are_refused_but_for_runcs_list() {
    for_each_user(|w| {
        w.busybox();
        let five = w.write("five", "5\n");
        let five = five.display();
        let cases = [
            vec![
                "-v".to_string(),
                format!("{five}:/proc/sys/kernel/cap_last_cap"),
            ],
            vec![
                "--mount".to_string(),
                format!("type=bind,source={five},target=/proc/sys/kernel/cap_last_cap"),
            ],
            vec!["--tmpfs".to_string(), "/proc/sys".to_string()],
            vec!["-v".to_string(), format!("{five}:/proc")],
        ];
        for case in &cases {
            let mut args = vec!["run", "--rm", "--network", "none"];
            args.extend(case.iter().map(String::as_str));
            args.extend([BB, "cat", "/proc/self/status"]);
            let out = within(&w, 30, &args);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(125), "{case:?}: {err}");
            assert!(
                err.contains("is inside /proc (only /proc/cpuinfo,") && err.lines().count() == 1,
                "{case:?}: {err}"
            );
        }
        assert_eq!(
            w.ok(&["ps", "-aq"]).trim(),
            "",
            "a refused run left a record"
        );
        let uptime = w.write("uptime", "4242.00 1.00\n");
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{}:/proc/uptime:ro", uptime.display()),
            BB,
            "cat",
            "/proc/uptime",
        ]);
        assert_eq!(out, "4242.00 1.00\n");
    });
}

/// The /proc rule holds where the mount lands, not only in its text: a
/// link in the image (`/link -> /proc`, or `/top -> /` above it) is
/// resolved inside the root and the mount refused there, as runc does at
/// mount time; a RUN's own `--mount`
/// (which never passes the command line's check) meets the same refusal.
#[test]
fn mounts_reaching_proc_through_a_link_or_a_run_mount_are_refused() {
    for_each_user(|w| {
        w.busybox();
        w.write(
            "plink/Dockerfile",
            format!("FROM {BB}\nRUN ln -s /proc /link && ln -s / /top\n"),
        );
        w.ok(&["build", "-t", "plink", w.path("plink").to_str().unwrap()]);
        let run_with = |volume: &str, command: &[&str]| {
            let mut args = vec!["run", "--rm", "--network", "none", "-v", volume, "plink"];
            args.extend_from_slice(command);
            within(&w, 30, &args)
        };
        let five = w.write("five", "5\n");
        let out = run_with(
            &format!("{}:/link/sys/kernel/cap_last_cap", five.display()),
            &["cat", "/proc/self/status"],
        );
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{err}");
        assert!(
            err.contains(" on /link/sys/kernel/cap_last_cap: refused: it leads to /proc/sys/kernel/cap_last_cap, inside /proc,")
                && !err.contains("EPERM"),
            "{err}"
        );
        assert!(!stdout(&out).contains("CapBnd"), "{}", stdout(&out));
        // The root through a link (`/top -> /`) would cover /proc whole.
        let data = w.write("data/keep", "");
        let data = data.parent().unwrap();
        let out = run_with(&format!("{}:/top", data.display()), &["true"]);
        refused(
            &out,
            "a volume on /top -> /",
            " on /top: refused: it leads to /, the container's root",
        );
        // An allowed file reached through the link still works, and the
        // bounding set is the default one.
        let uptime = w.write("uptime", "4242.00 1.00\n");
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            &format!("{}:/link/uptime:ro", uptime.display()),
            "plink",
            "sh",
            "-c",
            "cat /proc/uptime; grep CapBnd /proc/self/status",
        ]);
        assert_eq!(out, format!("4242.00 1.00\nCapBnd:\t{DEFAULT_CAPBND}\n"));

        // No network: a set-up that fails this early can lose the race with
        // pasta, whose error is then the one reported.
        w.write(
            "runproc/Dockerfile",
            format!("FROM {BB}\nRUN --network=none --mount=type=tmpfs,target=/proc/sys/kernel cat /proc/sys/kernel/cap_last_cap\n"),
        );
        let (_, err) = w.fails(&["build", w.path("runproc").to_str().unwrap()]);
        assert!(
            err.contains("mounting a tmpfs on /proc/sys/kernel: refused: it leads to /proc/sys/kernel, inside /proc,"),
            "{err}"
        );

        // An image's VOLUME there: refused naming the VOLUME, before an
        // anonymous volume is made for it.
        w.write(
            "volproc/Dockerfile",
            format!("FROM {BB}\nVOLUME /proc/sys/kernel\n"),
        );
        w.ok(&[
            "build",
            "-t",
            "volproc",
            w.path("volproc").to_str().unwrap(),
        ]);
        let (_, err) = w.fails(&["run", "--rm", "--network", "none", "volproc", "true"]);
        assert!(
            err.contains("the image's VOLUME /proc/sys/kernel cannot be mounted: cannot mount over '/proc/sys/kernel': it is inside /proc")
                && err.lines().count() == 1,
            "{err}"
        );
        assert_eq!(w.ok(&["volume", "ls", "-q"]), "");
    });
}
