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
