//! An environment's own directory under hutch's state dir,
//! `<state>/projects/<project id>/`: `env.json` (which container is the
//! environment, which image it runs), `inputs.bin` (the inputs of the build
//! that made it, see `stamps`; env.json names its id), `home/` (the private
//! home), `home-upper/` and `home-work/` (the overlay home's writable
//! layer), the generated `passwd` and `group`, `origin` (the project
//! directory's identity and path, so that an entry from the directory's new
//! path finds the environment it had), the files of versions
//! (`versions.json`, `replacing.json`) and sharing (`pushed.json`), the
//! watcher's socket (`watch.sock`), and
//! `lock`, held while the environment is built or (re)created so that two
//! entries racing build once.
//!
//! env.json is replaced atomically (temp file, fsync, rename) and written
//! only under the lock, after the inputs.bin it names: a crash between the
//! two leaves an env.json whose inputs do not check, which rebuilds.

use super::inputs::{Input, Kind};
use super::{stamps, Error};
use crate::sys::flock;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// An environment's record (env.json and inputs.bin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvState {
    /// The project directory this environment belongs to.
    pub project: PathBuf,
    /// The environment's container id.
    pub container: String,
    /// The image it runs (config digest).
    pub image_id: String,
    /// What the build that made the image read.
    pub inputs: Vec<Input>,
    /// The launch settings the container was made with (JSON), compared
    /// with the project's current ones.
    pub settings: String,
}

/// What `env.json` holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    project: PathBuf,
    container: String,
    image_id: String,
    /// Only in files written before inputs.bin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    inputs: Vec<Input>,
    #[serde(default)]
    settings: String,
    /// The id of the inputs.bin that goes with this file.
    #[serde(default)]
    inputs_id: String,
}

/// The socket the environment's watcher answers on (see `watch`).
pub const WATCH_SOCKET: &str = "watch.sock";

/// An entry's no-change check that found nothing moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unchanged {
    /// The environment's container id.
    pub container: String,
    /// The id of the inputs.bin it checked.
    pub inputs_id: String,
    /// How many inputs this check statted.
    pub statted: usize,
    /// How many inputs the watcher vouched for instead (then none were
    /// statted).
    pub vouched: Option<usize>,
}

/// The largest env.json read.
const ENV_JSON_MAX: u64 = 16 << 20;

/// `path`'s bytes, at most `max`; None when it cannot be read.
fn read_bounded(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut b = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(max + 1)
        .read_to_end(&mut b)
        .ok()?;
    (b.len() as u64 <= max).then_some(b)
}

/// The largest `origin` file read (an identity and a path).
const ORIGIN_MAX: u64 = 8192;

/// What stays the same when a directory is renamed or moved within its
/// file system, and differs for a new directory at the same path: device,
/// inode and (where the file system keeps it) birth time, which tells a
/// reused inode number from the directory that had it.
pub fn identity(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(dir).ok()?;
    let born = m
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some(format!("{}:{}:{born}", m.dev(), m.ino()))
}

/// One environment's directory.
#[derive(Debug, Clone)]
pub struct EnvDir {
    pub dir: PathBuf,
}

impl EnvDir {
    pub fn new(state: &Path, project_id: &str) -> EnvDir {
        EnvDir {
            dir: state.join("projects").join(project_id),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    fn stored(&self) -> Option<Stored> {
        let b = read_bounded(&self.dir.join("env.json"), ENV_JSON_MAX)?;
        serde_json::from_slice(&b).ok()
    }

    /// Whether the environment was made (env.json exists).
    pub fn exists(&self) -> bool {
        self.dir.join("env.json").exists()
    }

    pub fn read(&self) -> Option<EnvState> {
        let s = self.stored()?;
        let inputs = if s.inputs_id.is_empty() {
            s.inputs
        } else {
            read_bounded(&stamps::path(&self.dir), stamps::MAX_SIZE)
                .and_then(|b| stamps::decode(&b, &s.inputs_id))
                // Unreadable: an input that never checks, so the next
                // entry rebuilds (inputs.bin is no directory).
                .unwrap_or_else(|| {
                    vec![Input {
                        path: stamps::path(&self.dir),
                        kind: Kind::Dir,
                        size: 0,
                        mtime_ns: 0,
                    }]
                })
        };
        Some(EnvState {
            project: s.project,
            container: s.container,
            image_id: s.image_id,
            inputs,
            settings: s.settings,
        })
    }

    /// The stat-only no-change check of an entry; None when an input
    /// moved (or the record is missing, old or damaged), for the full check.
    pub fn unchanged(&self) -> Option<Unchanged> {
        let s = self.stored()?;
        let bytes = read_bounded(&stamps::path(&self.dir), stamps::MAX_SIZE)?;
        let n = stamps::unchanged(&bytes, &s.inputs_id)?.statted;
        Some(Unchanged {
            container: s.container,
            inputs_id: s.inputs_id,
            statted: n,
            vouched: None,
        })
    }

    /// The container env.json names and the id of its inputs.bin.
    pub fn ids(&self) -> Option<(String, String)> {
        let s = self.stored()?;
        Some((s.container, s.inputs_id))
    }

    /// The id env.json names and the bytes of inputs.bin, unchecked (the
    /// watcher checks them).
    pub fn inputs_file(&self) -> Option<(String, Vec<u8>)> {
        let s = self.stored()?;
        let bytes = read_bounded(&stamps::path(&self.dir), stamps::MAX_SIZE)?;
        Some((s.inputs_id, bytes))
    }

    /// Replace inputs.bin, then env.json (caller holds the lock).
    pub fn write(&self, st: &EnvState) -> Result<(), Error> {
        let (bytes, inputs_id) = stamps::encode(&st.inputs);
        self.write_file("inputs.bin", &bytes)?;
        let stored = Stored {
            project: st.project.clone(),
            container: st.container.clone(),
            image_id: st.image_id.clone(),
            inputs: Vec::new(),
            settings: st.settings.clone(),
            inputs_id,
        };
        self.write_file(
            "env.json",
            &serde_json::to_vec(&stored).map_err(std::io::Error::other)?,
        )
    }

    /// Forget the environment (caller holds the lock); the homes stay
    /// unless `homes` is set.
    pub fn clear(&self, homes: bool) -> Result<(), Error> {
        for f in ["env.json", "inputs.bin", "origin", WATCH_SOCKET] {
            self.remove_file(f)?;
        }
        if homes {
            for d in ["home", "home-upper", "home-work"] {
                let p = self.dir.join(d);
                if p.exists() {
                    fs_err::remove_dir_all(&p)?;
                }
            }
        }
        Ok(())
    }

    /// A JSON file of the directory; None when missing or unreadable.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        serde_json::from_slice(&std::fs::read(self.dir.join(name)).ok()?).ok()
    }

    /// Remove a file of the directory; a missing one is fine.
    pub fn remove_file(&self, name: &str) -> Result<(), Error> {
        match fs_err::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Record which directory the environment belongs to (caller holds
    /// the lock).
    pub fn write_origin(&self, project: &Path) -> Result<(), Error> {
        let Some(id) = identity(project) else {
            return Ok(());
        };
        let mut text = format!("{id}\n").into_bytes();
        text.extend_from_slice(project.as_os_str().as_encoded_bytes());
        self.write_file("origin", &text)
    }

    /// The identity and path recorded by [`EnvDir::write_origin`].
    fn origin(&self) -> Option<(String, PathBuf)> {
        use std::io::Read;
        let mut text = Vec::new();
        std::fs::File::open(self.dir.join("origin"))
            .ok()?
            .take(ORIGIN_MAX)
            .read_to_end(&mut text)
            .ok()?;
        let nl = text.iter().position(|&b| b == b'\n')?;
        let id = std::str::from_utf8(&text[..nl]).ok()?.to_string();
        let path = PathBuf::from(std::ffi::OsStr::from_bytes(&text[nl + 1..]));
        Some((id, path))
    }

    /// The environment of `project` made while the directory was
    /// somewhere else, and where that was: one whose recorded identity is
    /// `project`'s and whose recorded path no longer is this directory.
    pub fn moved(state: &Path, project: &Path) -> Option<(EnvDir, PathBuf)> {
        let id = identity(project)?;
        for entry in std::fs::read_dir(state.join("projects")).ok()?.flatten() {
            let env = EnvDir { dir: entry.path() };
            let Some((was, old)) = env.origin() else {
                continue;
            };
            if was == id
                && old != project
                && identity(&old).as_deref() != Some(&id)
                && env.dir.join("env.json").exists()
            {
                return Some((env, old));
            }
        }
        None
    }

    /// Write a generated file atomically; its path.
    pub fn write_file(&self, name: &str, data: &[u8]) -> Result<(), Error> {
        fs_err::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut f = fs_err::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs_err::rename(&tmp, self.dir.join(name))?;
        Ok(())
    }

    /// Wait for the environment's lock; `waited` is told first when
    /// someone else holds it.
    pub fn lock(&self, waited: impl FnOnce()) -> Result<flock::Held, Error> {
        fs_err::create_dir_all(&self.dir)?;
        let path = self.dir.join("lock");
        // try_lock does not create the file.
        fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        if let Some(h) = flock::try_lock(&path, flock::Mode::Exclusive)? {
            return Ok(h);
        }
        waited();
        Ok(flock::lock(&path, flock::Mode::Exclusive)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let e = EnvDir::new(d.path(), "abc");
        assert!(e.read().is_none());
        let st = EnvState {
            project: "/p".into(),
            container: "c".into(),
            image_id: "sha256:1".into(),
            inputs: vec![super::super::inputs::record(&d.path().join("x")).unwrap()],
            settings: String::new(),
        };
        let _l = e.lock(|| panic!("nobody else holds it")).unwrap();
        e.write(&st).unwrap();
        assert_eq!(e.read(), Some(st.clone()));
        assert_eq!(
            e.unchanged().map(|u| (u.container, u.statted)),
            Some(("c".into(), 1))
        );
        // Damaged inputs: an input that never checks.
        std::fs::write(stamps::path(&e.dir), b"junk").unwrap();
        assert!(e.unchanged().is_none());
        let damaged = e.read().unwrap().inputs;
        assert!(!super::super::inputs::check(&damaged).changed.is_empty());
        e.clear(true).unwrap();
        assert!(e.read().is_none());
    }

    #[test]
    fn a_moved_project_finds_its_environment() {
        let d = tempfile::tempdir().unwrap();
        let (state, old, new) = (d.path().join("s"), d.path().join("a"), d.path().join("b"));
        std::fs::create_dir(&old).unwrap();
        let e = EnvDir::new(&state, "abc");
        e.write_file("env.json", b"{}").unwrap();
        e.write_origin(&old).unwrap();
        assert!(EnvDir::moved(&state, &old).is_none(), "not moved");
        std::fs::rename(&old, &new).unwrap();
        let (found, was) = EnvDir::moved(&state, &new).unwrap();
        assert_eq!((found.dir, was), (e.dir.clone(), old.clone()));
        // A new directory at the old path is another project.
        std::fs::create_dir(&old).unwrap();
        assert!(EnvDir::moved(&state, &old).is_none());
        e.clear(false).unwrap();
        assert!(EnvDir::moved(&state, &new).is_none(), "forgotten");
    }
}
