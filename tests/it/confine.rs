//! Confinement: hostile files in a container, seccomp, masked paths,
//! capabilities and limits, probed from inside real containers as both
//! unprivileged users.

use crate::common::*;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

const BB: &str = "busybox:1.38.0-musl";

/// Run hutch, killing it if it takes longer than `secs` (a hang is a failure).
fn within(w: &World, secs: u64, args: &[&str]) -> Output {
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
fn probe(w: &World) -> String {
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
