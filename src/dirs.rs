//! Where hutch keeps things: the image store (XDG data dir), container state
//! (XDG state dir) and user configuration (XDG config dir).
//!
//! `--root DIR` / `HUTCH_ROOT` moves everything under one directory so tests and
//! users can keep fully separate worlds. This module only computes paths; it
//! never creates anything, and reads nothing but whether `XDG_RUNTIME_DIR`
//! names a directory of this user.

use std::path::{Path, PathBuf};

/// The directories one hutch invocation works in.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The image store: an OCI image layout plus hutch's caches beside it.
    pub store: PathBuf,
    /// Container records and their writable layers.
    pub state: PathBuf,
    /// `$XDG_CONFIG_HOME/hutch`: registries.toml and friends.
    pub config: PathBuf,
}

/// Why the directories could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot find a home directory: set HOME, or pass --root DIR")]
    NoHome,
    #[error("cannot resolve --root {path}: {error}")]
    Root {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl Dirs {
    /// Resolve from an explicit root (flag or env), else from the XDG base dirs.
    pub fn resolve(root: Option<&Path>) -> Result<Dirs, Error> {
        let base = directories::BaseDirs::new();
        let config = config_of(base.as_ref());
        if let Some(root) = root {
            let root = absolute(root)?;
            return Ok(Dirs {
                state: root.join("containers"),
                store: root,
                config,
            });
        }
        let base = base.ok_or(Error::NoHome)?;
        let store = base.data_dir().join("hutch");
        // `state_dir` is None on non-Linux; XDG says ~/.local/state when unset.
        let state = base
            .state_dir()
            .map(|p| p.join("hutch"))
            .unwrap_or_else(|| base.home_dir().join(".local/state/hutch"));
        Ok(Dirs {
            store,
            state,
            config,
        })
    }
}

/// `$XDG_CONFIG_HOME/hutch` (else `~/.config/hutch`), whatever the root:
/// config.toml may itself move the root.
pub fn config_home() -> PathBuf {
    config_of(directories::BaseDirs::new().as_ref())
}

/// `$XDG_RUNTIME_DIR` when it names a runtime dir of this user: an
/// absolute path (XDG's base directory spec: ignore a relative one; a
/// helper started in / would look elsewhere) of a directory that exists and
/// is this user's. Shells keep the variable after a logout removed
/// `/run/user/UID`, and `su` or `sudo` carry another user's; such a dir
/// counts as unset. Another user's directory is never used, whatever its
/// mode. The one rule for everything hutch keeps there.
pub fn runtime_dir() -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let uid = nix::unistd::getuid().as_raw();
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|run| {
            run.is_absolute() && std::fs::metadata(run).is_ok_and(|m| m.is_dir() && m.uid() == uid)
        })
}

fn config_of(base: Option<&directories::BaseDirs>) -> PathBuf {
    match base {
        Some(b) => b.config_dir().join("hutch"),
        None => PathBuf::from(".config/hutch"),
    }
}

fn absolute(p: &Path) -> Result<PathBuf, Error> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(p))
        .map_err(|error| Error::Root {
            path: p.to_path_buf(),
            error,
        })
}
