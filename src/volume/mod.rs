//! Volumes: named and anonymous data directories kept in the store, under
//! `<store>/volumes/<name>/`, each with `volume.json` (a [`Volume`]) and
//! `_data/`, the directory containers mount (Docker's layout). Docker's
//! `local` driver options are kept too: `type=tmpfs` (a fresh tmpfs at each
//! mount, since no daemon keeps one mounted) and `type=none,o=bind,
//! device=PATH` (a bind of a host path).
//!
//! Creation and removal hold one lock for the whole volumes dir, so two
//! hutch processes never half-create or half-remove a volume; a volume
//! appears by renaming a complete directory into place and goes by renaming
//! it away first. Files in `_data` may belong to subordinate ids; they are
//! deleted from inside the user namespace.
//!
//! This module knows nothing of containers: whether a volume is in use is
//! the caller's question (`container::mounts::volume_users`).

use crate::sys::flock::{self, Mode};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The metadata file inside a volume's directory.
const META_FILE: &str = "volume.json";
/// The directory containers mount.
const DATA_DIR: &str = "_data";
/// Held while volumes are created or removed.
const LOCK_FILE: &str = ".lock";
/// Docker 23+ marks anonymous volumes with this label; `volume prune`
/// without `-a` removes only those.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// The only driver there is.
pub const LOCAL: &str = "local";
/// Longest metadata file read back (hostile input, bounded).
const META_LIMIT: u64 = 1 << 20;

/// What `volume.json` holds (and `volume inspect` shows, with the
/// mount point added).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local driver's `-o KEY=VALUE` options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub created: DateTime<Utc>,
}

impl Volume {
    /// Made for a container (`-v /path`, an image's VOLUME) rather than
    /// by name.
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// How a container mounts a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The volume's own data dir, or `device` of `o=bind`: bind-mounted.
    /// `fresh` when it is the volume's data dir (filled from the image and
    /// given to the container user while empty); `read_only` for `o=bind,ro`.
    Dir {
        path: PathBuf,
        fresh: bool,
        read_only: bool,
    },
    /// `type=tmpfs`: a new tmpfs with these mount(8) options.
    Tmpfs { options: String },
}

/// Why a volume could not be created, found or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such volume: {0} (see `hutch volume ls`)")]
    NotFound(String),
    #[error(
        "invalid volume name '{0}': use at least two characters from [a-zA-Z0-9_.-], \
         starting with a letter or digit"
    )]
    BadName(String),
    #[error("volume driver '{0}' is not supported: use local")]
    Driver(String),
    #[error("volume {name}: {why}")]
    Options {
        name: String,
        #[source]
        why: OptionsError,
    },
    #[error("volume {name} is in use by container {container}: remove the container first (`hutch rm {container}`)")]
    InUse { name: String, container: String },
    #[error("volume {name} already exists with other options or labels")]
    Conflict { name: String },
    #[error("volume {name}: {path}: {error}")]
    Io {
        name: String,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("volume {name}: damaged metadata in {path}: {error}")]
    Damaged {
        name: String,
        path: PathBuf,
        #[source]
        error: serde_json::Error,
    },
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Why the local driver's options cannot make a volume without root.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("unknown option '{0}' for the local driver (use type, o, device)")]
    Unknown(String),
    #[error("a tmpfs volume has no device (got '{0}')")]
    TmpfsDevice(String),
    #[error("a bind volume needs device=PATH (an absolute host path)")]
    NoDevice,
    #[error("device '{0}' must be an absolute host path")]
    RelativeDevice(String),
    #[error("mount option '{0}' is not supported for a bind volume (use bind, ro, rw)")]
    BindOption(String),
    #[error(
        "type '{0}' cannot be mounted without root: use type=tmpfs, or \
         type=none,o=bind,device=PATH"
    )]
    Type(String),
    #[error("options need type=tmpfs, or type=none,o=bind,device=PATH")]
    NoType,
}

/// The volumes of one store.
#[derive(Debug, Clone, Default)]
pub struct Volumes {
    pub root: PathBuf,
}

impl Volumes {
    /// The volumes kept in store dir `store`.
    pub fn new(store: &Path) -> Volumes {
        Volumes {
            root: store.join("volumes"),
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Where a volume's data lives (Docker's `Mountpoint`).
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir(name).join(DATA_DIR)
    }

    fn lock(&self) -> Result<flock::Held> {
        let io = |error| Error::Io {
            name: String::new(),
            path: self.root.clone(),
            error,
        };
        std::fs::create_dir_all(&self.root).map_err(io)?;
        Ok(flock::lock(&self.root.join(LOCK_FILE), Mode::Exclusive)?)
    }

    /// Create volume `name` (a random one when None), or return it when
    /// it exists with the same driver, options and labels (Docker's
    /// `volume create` of an existing name succeeds).
    pub fn create(
        &self,
        name: Option<&str>,
        driver: &str,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        let name = match name {
            Some(n) => {
                check_name(n)?;
                n.to_string()
            }
            None => random_name(),
        };
        if driver != LOCAL {
            return Err(Error::Driver(driver.to_string()));
        }
        check_options(&name, &options)?;
        let _held = self.lock()?;
        if let Some(old) = self.read(&name)? {
            let same =
                old.options == options && labels.iter().all(|(k, v)| old.labels.get(k) == Some(v));
            return match same {
                true => Ok(old),
                false => Err(Error::Conflict { name }),
            };
        }
        let vol = Volume {
            name: name.clone(),
            driver: driver.to_string(),
            labels,
            options,
            created: Utc::now(),
        };
        let io = |path: &Path| {
            let name = name.clone();
            let path = path.to_path_buf();
            move |error| Error::Io { name, path, error }
        };
        let tmp = self.root.join(format!(".creating-{name}"));
        // A crash mid-create leaves this; it belongs to nobody (we hold the lock).
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir(&tmp).map_err(io(&tmp))?;
        // The mount point's mode in every container until something else is
        // put there.
        let data = tmp.join(DATA_DIR);
        crate::modes::create_public_dir(&data).map_err(io(&data))?;
        let meta = tmp.join(META_FILE);
        let json = serde_json::to_vec_pretty(&vol).map_err(std::io::Error::other);
        json.and_then(|j| {
            let mut f = std::fs::File::create(&meta)?;
            f.write_all(&j)?;
            f.sync_all()
        })
        .map_err(io(&meta))?;
        let dest = self.dir(&name);
        std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
        let _ = std::fs::File::open(&self.root).and_then(|f| f.sync_all());
        Ok(vol)
    }

    /// Volume `name`, created with the defaults when missing.
    pub fn ensure(&self, name: &str) -> Result<Volume> {
        match self.read(name)? {
            Some(v) => Ok(v),
            None => self.create(Some(name), LOCAL, BTreeMap::new(), BTreeMap::new()),
        }
    }

    /// Volume `name`, None when there is none.
    pub fn read(&self, name: &str) -> Result<Option<Volume>> {
        if check_name(name).is_err() {
            return Ok(None);
        }
        let path = self.dir(name).join(META_FILE);
        let text = match std::fs::File::open(&path) {
            Ok(f) => {
                use std::io::Read;
                let mut s = String::new();
                f.take(META_LIMIT)
                    .read_to_string(&mut s)
                    .map_err(|error| Error::Io {
                        name: name.to_string(),
                        path: path.clone(),
                        error,
                    })?;
                s
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(Error::Io {
                    name: name.to_string(),
                    path,
                    error,
                })
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| Error::Damaged {
                name: name.to_string(),
                path,
                error,
            })
    }

    /// Volume `name`, or [`Error::NotFound`].
    pub fn get(&self, name: &str) -> Result<Volume> {
        self.read(name)?
            .ok_or_else(|| Error::NotFound(name.to_string()))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(error) => {
                return Err(Error::Io {
                    name: String::new(),
                    path: self.root.clone(),
                    error,
                })
            }
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if let Some(v) = self.read(&name)? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Remove volume `name` and its data, unless `user` (asked under the
    /// volumes lock) names a container that uses it.
    pub fn remove(&self, name: &str, user: impl FnOnce(&str) -> Option<String>) -> Result<()> {
        let held = self.lock()?;
        if self.read(name)?.is_none() {
            return Err(Error::NotFound(name.to_string()));
        }
        if let Some(container) = user(name) {
            return Err(Error::InUse {
                name: name.to_string(),
                container,
            });
        }
        let doomed = self.root.join(format!(".removing-{name}"));
        let _ = remove_tree(&doomed);
        let dir = self.dir(name);
        std::fs::rename(&dir, &doomed).map_err(|error| Error::Io {
            name: name.to_string(),
            path: dir,
            error,
        })?;
        drop(held);
        remove_tree(&doomed).map_err(|error| Error::Io {
            name: name.to_string(),
            path: doomed,
            error,
        })
    }

    /// How a container mounts volume `vol`.
    pub fn source(&self, vol: &Volume) -> Source {
        let o = &vol.options;
        match o.get("type").map(String::as_str) {
            Some("tmpfs") => Source::Tmpfs {
                options: o.get("o").cloned().unwrap_or_default(),
            },
            _ if o.contains_key("device") => Source::Dir {
                path: PathBuf::from(&o["device"]),
                fresh: false,
                read_only: o.get("o").is_some_and(|x| x.split(',').any(|x| x == "ro")),
            },
            _ => Source::Dir {
                path: self.mountpoint(&vol.name),
                fresh: true,
                read_only: false,
            },
        }
    }
}

/// Docker's volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() >= 2
        && name.len() <= 255
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    match ok {
        true => Ok(()),
        false => Err(Error::BadName(name.to_string())),
    }
}

/// A new anonymous volume's name: 64 hex digits, as Docker's (from the
/// kernel, as container ids: made during `run`'s start-up).
fn random_name() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The local driver's options that work without privileges: `type=tmpfs`
/// with `o=` tmpfs options, or a bind (`type=none` or `bind`, `o=bind`,
/// `device=` an absolute host path). Anything else would need the host's
/// root (mount(2) of a block device or a network filesystem).
fn check_options(name: &str, o: &BTreeMap<String, String>) -> Result<()> {
    let bad = |why: OptionsError| Error::Options {
        name: name.to_string(),
        why,
    };
    for k in o.keys() {
        if !["type", "o", "device"].contains(&k.as_str()) {
            return Err(bad(OptionsError::Unknown(k.clone())));
        }
    }
    let opts = o.get("o").map(String::as_str).unwrap_or("");
    match o.get("type").map(String::as_str) {
        None if o.is_empty() => Ok(()),
        Some("tmpfs") => match o.get("device").map(String::as_str) {
            None | Some("tmpfs") => Ok(()),
            Some(d) => Err(bad(OptionsError::TmpfsDevice(d.to_string()))),
        },
        Some("none" | "bind") | None if opts.split(',').any(|x| x == "bind" || x == "rbind") => {
            let dev = o.get("device").ok_or_else(|| bad(OptionsError::NoDevice))?;
            if !dev.starts_with('/') {
                return Err(bad(OptionsError::RelativeDevice(dev.clone())));
            }
            if let Some(x) = opts
                .split(',')
                .find(|x| !["bind", "rbind", "ro", "rw", ""].contains(x))
            {
                return Err(bad(OptionsError::BindOption(x.to_string())));
            }
            Ok(())
        }
        Some(t) => Err(bad(OptionsError::Type(t.to_string()))),
        None => Err(bad(OptionsError::NoType)),
    }
}

/// Delete a volume's directory, from inside the user namespace (its files
/// may belong to subordinate ids), or as this user when that fails.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    if dir.symlink_metadata().is_err() {
        return Ok(());
    }
    let src = IdSources::default();
    let inside = IdMapping::detect(UsernsRequest::Auto, &src).is_ok_and(|m| {
        crate::userns::run_in_userns(&m, &src, || {
            std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
        })
        .is_ok()
    });
    match inside {
        true => Ok(()),
        false => std::fs::remove_dir_all(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_follow_docker() {
        for ok in ["ab", "db-data", "a.b_c", "0x"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["a", "", "-x", ".x", "a/b", "a:b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn local_driver_options() {
        assert!(check_options("v", &opts(&[])).is_ok());
        assert!(check_options("v", &opts(&[("type", "tmpfs"), ("o", "size=1m")])).is_ok());
        let bind = opts(&[("type", "none"), ("o", "bind"), ("device", "/srv")]);
        assert!(check_options("v", &bind).is_ok());
        for (o, why) in [
            (opts(&[("type", "nfs")]), "without root"),
            (opts(&[("size", "1")]), "unknown option 'size'"),
            (opts(&[("type", "none"), ("o", "bind")]), "device=PATH"),
            (
                opts(&[("type", "none"), ("o", "bind"), ("device", "rel")]),
                "absolute",
            ),
        ] {
            let e = check_options("v", &o).unwrap_err().to_string();
            assert!(e.contains(why), "{o:?}: {e}");
        }
    }

    #[test]
    fn create_is_idempotent_and_remove_asks_first() {
        let d = tempfile::tempdir().unwrap();
        let v = Volumes::new(d.path());
        let l = opts(&[("a", "1")]);
        let a = v.create(Some("data"), LOCAL, l.clone(), opts(&[])).unwrap();
        assert_eq!(v.create(Some("data"), LOCAL, l, opts(&[])).unwrap(), a);
        assert!(v
            .create(Some("data"), LOCAL, opts(&[("a", "2")]), opts(&[]))
            .is_err());
        assert!(v.mountpoint("data").is_dir());
        assert_eq!(v.list().unwrap(), vec![a]);
        let e = v.remove("data", |_| Some("c1".into())).unwrap_err();
        assert!(e.to_string().contains("in use by container c1"), "{e}");
        v.remove("data", |_| None).unwrap();
        assert!(v.list().unwrap().is_empty());
        assert!(matches!(
            v.remove("data", |_| None),
            Err(Error::NotFound(_))
        ));
        assert!(v.create(None, "nfs", opts(&[]), opts(&[])).is_err());
    }
}
