//! The exit codes of detached `--rm` containers, kept a short while after
//! their directory is gone, so that a `wait` started before the exit prints
//! the code as Docker's does. One file per container, `<state>/.exits/<id>`,
//! holding the code as text; whoever records a new one removes those older
//! than [`KEEP`] (there is no daemon to do it).
//!
//! It does not decide when a container has ended (`control` does).

use super::Containers;
use std::path::PathBuf;
use std::time::Duration;

/// How long an exit code stays after its container went.
pub const KEEP: Duration = Duration::from_secs(600);

fn dir(containers: &Containers) -> PathBuf {
    containers.root.join(".exits")
}

/// Record that the `--rm` container `id` exited with `code`. Best effort:
/// the container is gone either way, only a late `wait` misses the code.
pub fn record(containers: &Containers, id: &str, code: i32) {
    let dir = dir(containers);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    forget_old(&dir);
    // Temp + rename, so a reader never sees half a number; no fsync: like
    // the record of a `--rm` container, it need not outlive a crash.
    let tmp = dir.join(format!(".{id}.{}.tmp", std::process::id()));
    if std::fs::write(&tmp, code.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, dir.join(id));
    }
}

/// The recorded exit code of the removed `--rm` container `id`, if kept.
pub fn code(containers: &Containers, id: &str) -> Option<i32> {
    // Ids are hex: nothing else may name a path here.
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let text = std::fs::read_to_string(dir(containers).join(id)).ok()?;
    text.trim().parse().ok()
}

fn forget_old(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > KEEP);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
