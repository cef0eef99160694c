//! An environment's own directory under hutch's state dir,
//! `<state>/projects/<project id>/`: `env.json` (which container is the
//! environment, which image it runs and the inputs of the build that made
//! it), `home/` (the private home), `home-upper/` and `home-work/` (the
//! overlay home's writable layer), the generated `passwd` and `group`,
//! `lock`, held while the environment is built or (re)created so that two
//! entries racing build once, and the files of versions (`versions.json`,
//! `replacing.json`) and sharing (`pushed.json`).
//!
//! env.json is replaced atomically (temp file, fsync, rename) and written
//! only under the lock.

use super::inputs::Input;
use super::Error;
use crate::sys::flock;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `env.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub settings: String,
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

    pub fn read(&self) -> Option<EnvState> {
        let b = std::fs::read(self.dir.join("env.json")).ok()?;
        serde_json::from_slice(&b).ok()
    }

    /// Replace env.json (caller holds the lock).
    pub fn write(&self, st: &EnvState) -> Result<(), Error> {
        self.write_file(
            "env.json",
            &serde_json::to_vec(st).map_err(std::io::Error::other)?,
        )
    }

    /// Forget the environment (caller holds the lock); the homes stay
    /// unless `homes` is set.
    pub fn clear(&self, homes: bool) -> Result<(), Error> {
        self.remove_file("env.json")?;
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
            inputs: vec![],
            settings: String::new(),
        };
        let _l = e.lock(|| panic!("nobody else holds it")).unwrap();
        e.write(&st).unwrap();
        assert_eq!(e.read(), Some(st));
        e.clear(true).unwrap();
        assert!(e.read().is_none());
    }
}
