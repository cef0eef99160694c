//! Container records: one directory per container under the state dir,
//! `<state>/<id>/`, holding `container.json` (a [`Record`]), the overlay
//! `upper/` and `work/` dirs and the `rootfs/` mount point. (The container's
//! /etc/hostname, hosts and resolv.conf are generated at each start and live
//! in memory only.) Other entries of the state dir (the kernel feature cache,
//! the skeleton layer) have no `container.json` and are not containers.
//!
//! The record is the contract for everything that manages containers after
//! `hutch run` (ps, start, rm, commit): plain serde data, written atomically
//! (temp file + rename). This module does not start or stop processes.

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

/// The record's file name inside a container's directory.
pub const RECORD_FILE: &str = "container.json";

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Its directory exists; the process has not started (or failed to).
    Created,
    /// Its pid 1 runs (see `pid`).
    Running,
    /// Its pid 1 has exited (see `exit_code`).
    Exited,
}

/// What `container.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// 64 hex digits; the first 12 are the short id.
    pub id: String,
    /// Unique among the containers in this state dir.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image's config digest (`sha256:...`).
    pub image_id: String,
    /// The full argv of the process (entrypoint + command).
    pub command: Vec<String>,
    pub created: DateTime<Utc>,
    pub status: Status,
    /// Host pid of the container's pid 1 while running.
    #[serde(default)]
    pub pid: Option<i32>,
    /// Exit code once exited (128+N for signal N; 125-127 for start failures).
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub finished: Option<DateTime<Utc>>,
    /// The id mapping's cache key (`IdMapping::key`): which unpacked layers
    /// the upper dir was written against.
    pub mapping_key: String,
    /// `--rm`: the directory goes away when the container exits.
    #[serde(default)]
    pub auto_remove: bool,
}

/// The containers of one state dir.
#[derive(Debug, Clone)]
pub struct Containers {
    pub root: PathBuf,
}

impl Containers {
    pub fn new(state: &Path) -> Containers {
        Containers {
            root: state.to_path_buf(),
        }
    }

    /// The directory of container `id`.
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Every readable record (directories without one are skipped).
    pub fn list(&self) -> Vec<Record> {
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        rd.filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read(e.path().join(RECORD_FILE)).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// The container called `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<Record> {
        self.list().into_iter().find(|r| r.name == name)
    }

    /// Write `rec` into its directory atomically (temp file + rename).
    pub fn save(&self, rec: &Record) -> std::io::Result<()> {
        let dir = self.dir(&rec.id);
        let tmp = dir.join(format!(".{RECORD_FILE}.tmp"));
        let json = serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?;
        fs_err::write(&tmp, json)?;
        fs_err::rename(&tmp, dir.join(RECORD_FILE))
    }
}

/// A new random container id (64 hex digits, like Docker's).
pub fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Container names follow Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut b = name.bytes();
    let first_ok = b.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) {
        Ok(())
    } else {
        Err(format!(
            "invalid container name '{name}': use letters, digits, '_', '.' and '-', starting with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_are_found_by_name() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let rec = Record {
            id: new_id(),
            name: "web".into(),
            image: "busybox".into(),
            image_id: "sha256:00".into(),
            command: vec!["sh".into()],
            created: Utc::now(),
            status: Status::Created,
            pid: None,
            exit_code: None,
            finished: None,
            mapping_key: "k".into(),
            auto_remove: false,
        };
        std::fs::create_dir(c.dir(&rec.id)).unwrap();
        c.save(&rec).unwrap();
        assert_eq!(c.by_name("web"), Some(rec.clone()));
        assert_eq!(c.by_name("db"), None);
        assert_eq!(rec.id.len(), 64);
    }

    #[test]
    fn names_follow_docker_rules() {
        assert!(check_name("my_box-1.2").is_ok());
        assert!(check_name("-x").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }
}
