//! The containers snapshots are taken of, found through the records `hutch
//! run` writes (`<state>/<id>/container.json` beside `upper/`): which image
//! and id mapping the upper dir was written against, whether it still runs,
//! and a pause (SIGSTOP to every process of its pid namespace, SIGCONT when
//! dropped) so that `commit --pause` reads a still tree.
//!
//! It reads records through `crate::container` and never writes one.

use crate::chain::{bail, WithContext};
use crate::container::{state, Containers};
use crate::snapshot::Result;
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

/// A container found by name or id.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub command: Vec<String>,
    /// Its writable layer.
    pub upper: PathBuf,
    /// pid 1 on the host while it runs.
    pub running: Option<i32>,
    /// `IdMapping::key` of the mapping the upper dir was written with.
    pub mapping_key: String,
}

/// The container named `what` (a name, full id or unique id prefix), or None.
pub fn find(state: &Path, what: &str) -> Result<Option<Container>> {
    let containers = Containers::new(state);
    let mut hits = Vec::new();
    for r in containers.list() {
        if r.name == what || r.id == what {
            hits = vec![r];
            break;
        }
        if what.len() >= 3 && r.id.starts_with(what) {
            hits.push(r);
        }
    }
    if hits.len() > 1 {
        bail!(
            "'{what}' is the start of {} container ids: give more of the id",
            hits.len()
        );
    }
    let Some(r) = hits.pop() else {
        return Ok(None);
    };
    // The record's status is checked against /proc: a killed supervisor
    // leaves a record that still says running.
    let running = match (state::observe(&r).is_running(), r.pid) {
        (true, Some(pid)) => Some(pid),
        _ => None,
    };
    if r.config.storage_driver == "copy" {
        // Its root is a whole copy, not an upper dir of changes.
        bail!(
            "container {} uses the copy storage driver: its changes cannot be read \
             (commit, diff and export need --storage-driver overlay or fuse)",
            if r.name.is_empty() { &r.id } else { &r.name }
        );
    }
    let dir = containers.dir(&r.id);
    Ok(Some(Container {
        id: r.id,
        name: r.name,
        image_id: r.image_id,
        command: r.command,
        upper: dir.join("upper"),
        running,
        mapping_key: r.mapping_key,
    }))
}

/// The id mapping whose key the container recorded: its files carry the ids
/// of exactly that mapping.
pub fn mapping_for(c: &Container, src: &IdSources) -> Result<IdMapping> {
    for req in [
        UsernsRequest::Auto,
        UsernsRequest::SubIds,
        UsernsRequest::Single,
        UsernsRequest::KeepId,
    ] {
        if let Ok(m) = IdMapping::detect(req, src) {
            if m.key() == c.mapping_key {
                return Ok(m);
            }
        }
    }
    bail!(
        "container {} was created with an id mapping this user no longer has (/etc/subuid changed?)",
        c.name
    )
}

/// The processes of a paused container; they continue when this is dropped.
pub struct Paused {
    pids: Vec<Pid>,
}

/// Stop every process in the pid namespace of `pid1`. New processes forked
/// while stopping are caught by scanning again until nothing new appears.
pub fn pause(pid1: i32) -> Result<Paused> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let target = ns(&pid1.to_string())
        .with_context(|| format!("cannot read the pid namespace of process {pid1}"))?;
    let mut p = Paused { pids: Vec::new() };
    for _ in 0..16 {
        let mut new = 0;
        for e in std::fs::read_dir("/proc")
            .context("cannot list /proc")?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(n) = name.parse::<i32>() else { continue };
            let pid = Pid::from_raw(n);
            if p.pids.contains(&pid) || ns(&name).as_ref() != Some(&target) {
                continue;
            }
            if kill(pid, Signal::SIGSTOP).is_ok() {
                p.pids.push(pid);
                new += 1;
            }
        }
        if new == 0 {
            return Ok(p);
        }
    }
    bail!("the container keeps starting processes; cannot pause it")
}

impl Drop for Paused {
    fn drop(&mut self) {
        for pid in &self.pids {
            let _ = kill(*pid, Signal::SIGCONT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_name_id_and_prefix() {
        let d = tempfile::tempdir().unwrap();
        for (id, name) in [("abcdef0011", "web"), ("abc99", "db")] {
            std::fs::create_dir(d.path().join(id)).unwrap();
            std::fs::write(
                d.path().join(id).join("container.json"),
                format!(
                    r#"{{"id":"{id}","name":"{name}","image":"x","image_id":"sha256:1","command":["sh"],
                        "created":"2026-01-01T00:00:00Z","status":"exited","mapping_key":"k"}}"#
                ),
            )
            .unwrap();
        }
        let c = find(d.path(), "web").unwrap().unwrap();
        assert_eq!(c.id, "abcdef0011");
        assert!(c.upper.ends_with("abcdef0011/upper"));
        assert!(c.running.is_none());
        assert_eq!(find(d.path(), "abcd").unwrap().unwrap().name, "web");
        assert!(find(d.path(), "abc")
            .unwrap_err()
            .to_string()
            .contains("2 container ids"));
        assert!(find(d.path(), "nope").unwrap().is_none());
    }
}
