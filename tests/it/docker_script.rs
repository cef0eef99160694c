//! A script written for `docker` runs unchanged with `docker` replaced by
//! hutch: the acceptance test of Docker parity. `tests/it/data/
//! docker-workflow.sh` creates a network, a named volume, a "db" container
//! restarted on failure and an "app" container that reaches it by name,
//! copies a file in and out with `cp`, and tears everything down — as both
//! test users and as root.

use crate::common::{for_each_user_and_root, stderr, stdout};
use std::os::unix::fs::symlink;

#[test]
fn a_docker_workflow_script_runs_unchanged() {
    for_each_user_and_root(|w| {
        let bb = w.busybox();
        // `docker` on PATH is hutch; the store comes from HUTCH_ROOT, as a
        // script sets nothing hutch-specific on its command lines.
        let bin = w.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        symlink(crate::common::hutch_bin(), bin.join("docker")).unwrap();
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/it/data/docker-workflow.sh");
        let out = w
            .as_user("sh")
            .arg(&script)
            .env(
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            )
            .env("HUTCH_ROOT", w.root())
            .env("IMAGE", bb)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the script failed\nstdout:\n{}\nstderr:\n{}",
            stdout(&out),
            stderr(&out)
        );
        let said = stdout(&out);
        assert_eq!(said.matches("hello-from-db").count(), 2, "{said}");
        assert!(said.trim_end().ends_with("workflow-done"), "{said}");
        assert_eq!(
            std::fs::read_to_string(w.path("back.txt")).unwrap(),
            "a note from the host\n"
        );
    });
}
