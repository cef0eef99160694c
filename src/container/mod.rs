//! Container records: one directory per container under the state dir,
//! `<state>/<id>/`, holding `container.json` (a [`Record`]; while it is
//! not yet durable, `container.json.prev` beside it is), the overlay
//! `upper/` and `work/` dirs, a `rootfs/` mount point only where the root
//! filesystem cannot be mounted over the directory itself (see
//! `launch`), and `ctr.log` (see [`logs`]) for every container not run
//! with `--rm`. The directory itself is the per-container flock: a lock
//! file would be one more inode to create and free at every `run --rm`.
//! (The container's /etc/hostname, hosts and resolv.conf are generated at
//! each start and live in memory only.) Other entries of the state dir (the
//! kernel feature cache, the skeleton layer, dot files) have no
//! `container.json` and are not containers.
//!
//! The record is the contract for everything that manages containers after
//! `hutch run` (ps, start, rm, commit): plain serde data, written atomically
//! (temp file + fsync + rename, or, unsynced, temp file + exchange) and
//! changed only under the container's lock ([`Containers::update`]), so two
//! hutch processes never lose each other's writes. Names are claimed under one lock for the whole state dir
//! ([`Containers::create`]).
//!
//! This module does not start containers; `supervisor` detaches a process
//! that does, `state` decides from /proc whether a record that says running
//! is true, and `control` signals, waits for and removes containers.

pub mod companion;
pub mod connect;
pub mod control;
pub mod cp;
pub mod detach;
pub mod exits;
pub mod freeze;
pub mod health;
pub mod inspect;
mod inuse;
pub mod keep_id;
pub mod launch;
pub mod logger;
pub mod logs;
pub mod mounts;
pub mod names;
pub mod proc;
pub mod restart;
pub mod signals;
pub mod state;
pub mod stdin;
pub mod supervisor;

use crate::sys::flock;
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::procid::ProcId;
pub use inuse::images_in_use;

/// The record's file name inside a container's directory.
pub const RECORD_FILE: &str = "container.json";
/// Beside the record, while the record may not be durable yet (see
/// [`Containers::save_unsynced`]): a hard link to the last record that
/// was.
const DURABLE_FILE: &str = "container.json.prev";
/// The lock file of containers made before the directory itself was the
/// lock: still taken where it exists, so that an older hutch still
/// supervising such a container excludes this one and the other way round.
const LEGACY_LOCK_FILE: &str = "lock";
/// Held while a name is checked and claimed, beside the container dirs.
const NAMES_LOCK: &str = ".names.lock";
/// What `rm` and a `--rm` container's own removal rename a container's
/// directory to (then `<id>`) before they delete it, so that no listing
/// sees a half-deleted container.
pub(crate) const REMOVING_PREFIX: &str = ".removing-";

/// The name container directory `dir` is deleted under.
pub(crate) fn removing(dir: &Path) -> PathBuf {
    let id = dir.file_name().unwrap_or_default().to_string_lossy();
    dir.with_file_name(format!("{REMOVING_PREFIX}{id}"))
}

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Its directory exists; the process has not started (or failed to).
    Created,
    /// Its pid 1 runs (see `pid`); check with `state::observe`, which also
    /// knows when the supervisor died without saying so.
    Running,
    /// Its pid 1 has exited (see `exit_code`).
    Exited,
}

/// Everything besides the image needed to recreate the container's sandbox
/// spec on `hutch start`. Strings are kept as the user wrote them and parsed
/// again on start, so a start fails with the same message a run would.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Config {
    /// `KEY=VALUE`: the image's environment (less what `-e`/`--env-file`
    /// set again), then `-e`/`--env-file`.
    pub env: Vec<String>,
    /// `user[:group]`; None runs as root.
    pub user: Option<String>,
    pub workdir: String,
    pub hostname: String,
    /// `--network`, `-p`, `-P`, `--dns*`, `--add-host` as given.
    pub network: crate::net::plan::NetFlags,
    /// The `--userns` request (`auto`, `subids`, `single`, `keep-id`).
    pub userns: String,
    /// `-v` as given, resolved at creation: relative host paths made
    /// absolute, anonymous volumes named (`NAME:CONTAINER[:OPTS]`), the
    /// image's VOLUMEs added as anonymous volumes.
    pub volumes: Vec<String>,
    /// `--mount` (Docker's CSV), resolved the same way.
    pub mounts: Vec<String>,
    /// The anonymous volumes made for this container: removed with it by
    /// `rm -v` and `--rm`.
    pub anonymous_volumes: Vec<String>,
    /// `--tmpfs PATH[:OPTIONS]` as given.
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub read_only_tmpfs: bool,
    pub init: bool,
    pub tty: bool,
    pub interactive: bool,
    /// `--detach-keys` as given to `run`/`create` (their bytes): what a
    /// later `start -ai` or `attach` detaches on unless given its own.
    pub detach_keys: Option<Vec<u8>>,
    /// The image's STOPSIGNAL, used by `hutch stop` (SIGTERM when None).
    pub stop_signal: Option<String>,
    /// Docker's container `Entrypoint` and `Cmd`: the image's unless
    /// `--entrypoint` or a command on the line replaced them (empty when
    /// there is none). `commit` records them; None in records written
    /// before they were kept (the image's then).
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// The storage driver the container was created with (`overlay`,
    /// `fuse`, `copy`); empty in records older than the choice.
    pub storage_driver: String,
    /// `--cap-add`, `--cap-drop`, `--privileged`, `--security-opt`,
    /// `--fake-root`, `--shm-size`, `--ulimit`, `--memory`, `--cpus`,
    /// `--pids-limit`, `--strict-limits` as given.
    pub security: crate::sandbox::security::Flags,
    /// `--restart` as given (empty: no).
    pub restart: String,
    /// `--label`/`--label-file` over the image's labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--stop-timeout` in seconds (`hutch stop`'s default when set).
    pub stop_timeout: Option<u64>,
    /// The health check (`--health-*` over the image's HEALTHCHECK); None
    /// without one or with `--no-healthcheck`.
    pub healthcheck: Option<health::Check>,
    /// `--log-driver` (empty: k8s-file) and `--log-opt KEY=VALUE`.
    pub log_driver: String,
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// `--group-add` as given (numbers or names from the container's /etc/group).
    pub group_add: Vec<String>,
    /// `--device HOST[:CONTAINER[:PERMS]]` as given.
    pub devices: Vec<String>,
    /// `--sig-proxy=false`: an attached hutch does not pass signals on.
    pub no_sig_proxy: bool,
    /// A hidden hutch subcommand and its arguments that the supervisor
    /// runs beside pid 1 for as long as it runs (a project environment's
    /// watcher, see `companion`); empty: none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub companion: Vec<String>,
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
    /// Exit code once exited (128+N for signal N; 125-127 for start failures;
    /// -1 when the supervisor died and the real status is unknown).
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
    /// Ports published to the host (`-p`, `-P`), for `hutch port`.
    #[serde(default)]
    pub ports: Vec<crate::net::ports::PortMapping>,
    /// How to start it again.
    #[serde(default)]
    pub config: Config,
    /// When pid 1 last started.
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
    /// pid 1 with its start time, so a reused pid is never mistaken for it.
    #[serde(default)]
    pub init: Option<ProcId>,
    /// The hutch process that waits for pid 1 and records its exit: the
    /// foreground `hutch run`/`start`, or the detached supervisor.
    #[serde(default)]
    pub supervisor: Option<ProcId>,
    /// How often the supervisor has restarted pid 1 (`--restart`).
    #[serde(default)]
    pub restart_count: u32,
    /// `hutch stop`/`kill` ended it: no restart policy starts it again.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// The health check's state while it has one (Docker's `State.Health`).
    #[serde(default)]
    pub health: Option<health::Health>,
}

impl Record {
    /// The first 12 hex digits of the id.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// How long `stop` waits before SIGKILL: `--stop-timeout`, else
    /// Docker's 10 seconds.
    pub fn stop_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.stop_timeout.unwrap_or(10))
    }

    /// The id mapping of this container, as detected now; it must be the
    /// one the container was started with, or users and groups would be
    /// checked against the wrong ranges.
    pub fn mapping(&self) -> Result<IdMapping> {
        let request: UsernsRequest = self.config.userns.parse()?;
        let mapping = IdMapping::detect(request, &IdSources::default())?;
        if !self.mapping_key.is_empty() && mapping.key() != self.mapping_key {
            return Err(Error::MappingChanged {
                name: self.name.clone(),
                was: self.mapping_key.clone(),
                now: mapping.key(),
            });
        }
        Ok(mapping)
    }
}

/// Why a container could not be found, named or changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such container: {0} (see `hutch ps -a`)")]
    NotFound(String),
    #[error("container id prefix '{0}' is ambiguous: give more digits or the name")]
    Ambiguous(String),
    #[error("the container name '{0}' is already in use (remove that container first, or choose another name)")]
    NameInUse(String),
    #[error("invalid container name '{0}': use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    InvalidName(String),
    #[error("container {0} is running: stop it first (`hutch stop {0}`) or force removal with -f")]
    Running(String),
    #[error(
        "container {name} was created with another user id mapping ({was}, now {now}): \
         its files would have the wrong owners; run a new container instead"
    )]
    MappingChanged {
        name: String,
        was: String,
        now: String,
    },
    #[error(transparent)]
    Mapping(#[from] crate::userns::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A held per-container lock; the record may be read and written while it
/// lives. Dropping it releases the lock.
pub struct Locked {
    _held: flock::Held,
    _legacy: Option<flock::Held>,
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

    /// Every readable record (directories without one are skipped), oldest first.
    pub fn list(&self) -> Vec<Record> {
        let mut all: Vec<Record> = self.ids().filter_map(|n| self.read(&n)).collect();
        all.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        all
    }

    /// The names in the state dir that are container ids. The dir also
    /// holds what is not a container (lock files and directories being
    /// removed, with dot names; the skeleton layer, kernel probes, compiled
    /// seccomp filters, project state), which is not read as one.
    fn ids(&self) -> impl Iterator<Item = String> {
        std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| is_id(n))
    }

    /// The record of container `id`, if it has one. One that does not
    /// parse (an unsynced record a power loss left empty or torn, see
    /// [`Containers::save_unsynced`]) reads as the durable record kept
    /// beside it, if any; a missing one is no record, whatever is beside it.
    pub fn read(&self, id: &str) -> Option<Record> {
        let dir = self.dir(id);
        match std::fs::read(dir.join(RECORD_FILE)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Ok(b) => {
                if let Ok(rec) = serde_json::from_slice(&b) {
                    return Some(rec);
                }
            }
            Err(_) => {}
        }
        let b = std::fs::read(dir.join(DURABLE_FILE)).ok()?;
        serde_json::from_slice(&b).ok()
    }

    /// The container called `name`, if any.
    pub fn by_name(&self, name: &str) -> Option<Record> {
        self.list().into_iter().find(|r| r.name == name)
    }

    /// Docker's lookup: a full id, an exact name, or a unique id prefix.
    pub fn resolve(&self, key: &str) -> Result<Record> {
        // Without reading every other record (`start` of an environment).
        if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Some(r) = self.read(key) {
                return Ok(r);
            }
        }
        let all = self.list();
        if let Some(r) = all.iter().find(|r| r.name == key || r.id == key) {
            return Ok(r.clone());
        }
        let hex = !key.is_empty() && key.bytes().all(|b| b.is_ascii_hexdigit());
        let mut hits = all.into_iter().filter(|r| hex && r.id.starts_with(key));
        match (hits.next(), hits.next()) {
            (Some(r), None) => Ok(r),
            (Some(_), Some(_)) => Err(Error::Ambiguous(key.to_string())),
            _ => Err(Error::NotFound(key.to_string())),
        }
    }

    /// Create the directory of a new container and write its first record,
    /// claiming `rec.name` (or a generated one when it is empty) under the
    /// state dir's name lock, so two concurrent runs cannot take one name.
    /// `fill` populates the directory before the record makes it visible.
    pub fn create(&self, rec: &mut Record, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
        fs_err::create_dir_all(&self.root)?;
        let _names = flock::lock(&self.root.join(NAMES_LOCK), flock::Mode::Exclusive)?;
        let taken: Vec<String> = self.list().into_iter().map(|r| r.name).collect();
        if rec.name.is_empty() {
            rec.name = names::generate(|n| taken.iter().any(|t| t == n));
        } else if taken.contains(&rec.name) {
            return Err(Error::NameInUse(rec.name.clone()));
        }
        let dir = self.dir(&rec.id);
        fs_err::create_dir(&dir)?;
        fill(&dir)?;
        Ok(self.save(rec)?)
    }

    /// Take container `id`'s lock; NotFound when the container is gone by
    /// the time the lock is held (a concurrent `rm` won, or a `--rm`
    /// container's supervisor is deleting its directory).
    ///
    /// The lock is the directory (flock(2) on a directory's descriptor),
    /// so nothing is created here: a lock file recreated in a directory
    /// that is being deleted would make that deletion fail and leave the
    /// directory behind.
    pub fn lock(&self, id: &str) -> Result<Locked> {
        let dir = self.dir(id);
        if !dir.join(RECORD_FILE).exists() {
            return Err(Error::NotFound(id.to_string()));
        }
        let gone = || Error::NotFound(id.to_string());
        // A concurrent `rm` may move the directory away before the open;
        // one that did while this waited leaves the lock on an inode the
        // path no longer names, which `lock_existing` does not hand out.
        let held = match flock::lock_existing(&dir, flock::Mode::Exclusive) {
            Ok(Some(h)) => h,
            Ok(None) => return Err(gone()),
            Err(_) if !dir.exists() => return Err(gone()),
            Err(e) => return Err(e.into()),
        };
        // Always after the directory's, as the next process takes them.
        let legacy = match flock::lock_existing(&dir.join(LEGACY_LOCK_FILE), flock::Mode::Exclusive)
        {
            Ok(l) => l,
            Err(_) if !dir.exists() => return Err(gone()),
            Err(e) => return Err(e.into()),
        };
        if !dir.join(RECORD_FILE).exists() {
            return Err(gone());
        }
        Ok(Locked {
            _held: held,
            _legacy: legacy,
        })
    }

    /// Take container `id`'s lock only if no other process holds it (nor
    /// the lock file of a container made before the directory was the
    /// lock): `None` when one does, or when the directory is gone.
    fn try_lock(&self, id: &str) -> Result<Option<Locked>> {
        let dir = self.dir(id);
        let Some(held) = flock::try_lock(&dir, flock::Mode::Exclusive)? else {
            return Ok(None);
        };
        let legacy_path = dir.join(LEGACY_LOCK_FILE);
        let legacy = if legacy_path.exists() {
            match flock::try_lock(&legacy_path, flock::Mode::Exclusive)? {
                Some(l) => Some(l),
                None => return Ok(None),
            }
        } else {
            None
        };
        Ok(Some(Locked {
            _held: held,
            _legacy: legacy,
        }))
    }

    /// The container directories whose record is there but cannot be read
    /// (nor a durable one beside it), held under their lock: what a power
    /// loss can leave of a `--rm` container, whose record is never synced
    /// (see [`Containers::save`]). Listings skip them, so only `system
    /// check` finds them. One whose lock another process holds is not
    /// among them: a live hutch is working on it. A directory without a
    /// record file is not either: [`Containers::create`] fills one before
    /// its first record, without the lock.
    pub fn unreadable(&self) -> Vec<(String, Locked)> {
        let broken = |id: &str| self.dir(id).join(RECORD_FILE).is_file() && self.read(id).is_none();
        self.ids()
            .filter(|id| broken(id))
            .filter_map(|id| match self.try_lock(&id) {
                Ok(Some(l)) if broken(&id) => Some((id, l)),
                _ => None,
            })
            .collect()
    }

    /// The directories `rm` or a `--rm` container's supervisor renamed
    /// away (`.removing-<id>`) and did not finish deleting (it was killed,
    /// or the deletion failed), each held under its flock. One whose lock
    /// another process holds is not among them: a live remover keeps the
    /// lock until its deletion is done.
    pub fn interrupted_removals(&self) -> Vec<(PathBuf, flock::Held)> {
        std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix(REMOVING_PREFIX))
                    .is_some_and(is_id)
                    && e.file_type().is_ok_and(|t| t.is_dir())
            })
            .map(|e| e.path())
            .filter_map(
                |dir| match flock::try_lock_dir(&dir, flock::Mode::Exclusive) {
                    Ok(Some(held)) => Some((dir, held)),
                    _ => None,
                },
            )
            .collect()
    }

    /// Read, change and write container `id`'s record under its lock; the
    /// record as written.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut Record)) -> Result<Record> {
        self.update_with(id, f, |rec| self.save(rec))
    }

    /// `update` without the fsync: the writer first tells whoever waits
    /// for the record, then calls [`Containers::sync`] (see
    /// [`Containers::save_unsynced`]).
    pub fn update_unsynced(&self, id: &str, f: impl FnOnce(&mut Record)) -> Result<Record> {
        self.update_with(id, f, |rec| self.save_unsynced(rec))
    }

    fn update_with(
        &self,
        id: &str,
        f: impl FnOnce(&mut Record),
        save: impl FnOnce(&Record) -> std::io::Result<()>,
    ) -> Result<Record> {
        let _l = self.lock(id)?;
        self.change_locked(id, f, save)
    }

    /// Read, change and write container `id`'s record; the caller holds
    /// its lock.
    fn change_locked(
        &self,
        id: &str,
        f: impl FnOnce(&mut Record),
        save: impl FnOnce(&Record) -> std::io::Result<()>,
    ) -> Result<Record> {
        let mut rec = self
            .read(id)
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        f(&mut rec);
        save(&rec)?;
        Ok(rec)
    }

    /// Give container `id` a new name, unique under the name lock.
    ///
    /// The container's lock is taken first: whoever holds it may hold it
    /// long (`cp` into a stopped container, a removal deleting a big upper
    /// dir), and waiting for it under the name lock would stop every
    /// `create` and `run` of the user meanwhile. No one takes the two the
    /// other way round: `create` locks no existing container.
    pub fn rename(&self, id: &str, new: &str) -> Result<Record> {
        check_name(new)?;
        let _l = self.lock(id)?;
        let _names = flock::lock(&self.root.join(NAMES_LOCK), flock::Mode::Exclusive)?;
        if self.list().iter().any(|r| r.name == new) {
            return Err(Error::NameInUse(new.to_string()));
        }
        self.change_locked(id, |r| r.name = new.to_string(), |rec| self.save(rec))
    }

    /// Write `rec` into its directory atomically: temp file, fsync, rename.
    /// Callers other than `create` hold the container's lock.
    ///
    /// The rename alone keeps readers from ever seeing half a record; the
    /// fsync only matters for records that must outlive a crash. A `--rm`
    /// container's record dies with it, so it skips the fsync: two of them
    /// were a measurable part of `run --rm`'s start-up on ext4.
    ///
    /// The trade: a power loss within the writeback window (about 30 s)
    /// can leave such a container's directory with an empty or torn record
    /// and no durable one beside it (it never had one, and the exchange
    /// in [`Containers::save_unsynced`] does not make ext4 write the new
    /// record out as a rename over it would). `ps -a`, `rm` and every
    /// lookup then skip the directory and its upper dir stays on disk;
    /// `hutch system check` reports it ([`Containers::unreadable`]) and
    /// `--repair` removes it.
    pub fn save(&self, rec: &Record) -> std::io::Result<()> {
        self.write(rec, !rec.auto_remove)
    }

    /// `save` without the fsync, for a record that is rewritten at once
    /// (a start's claim, which pid 1's start replaces) or synced by its
    /// writer right after ([`Containers::sync`]) once whoever waits for it
    /// has been told. Readers still never see half a record (the rename);
    /// what waits is only its durability, a few milliseconds, for a record
    /// that describes processes a crash ends anyway. Each fsync cost 0.5 to
    /// 10 ms of a stopped environment's entry on a busy disk.
    ///
    /// A rename over a file whose data is not on disk yet can come back
    /// empty after a power loss where the filesystem does not flush on
    /// rename-replace (XFS, ext4 with noauto_da_alloc): the container would
    /// then vanish from `ps -a`, `rm` and every lookup, and an environment
    /// would build a new container beside its old upper dir. So the record
    /// being replaced, when it is durable, is first hard-linked beside it
    /// (one link, no fsync), and [`Containers::read`] falls back to that
    /// link; the next synced save or [`Containers::sync`] removes it.
    pub fn save_unsynced(&self, rec: &Record) -> std::io::Result<()> {
        if !rec.auto_remove {
            self.keep_durable(&rec.id);
        }
        self.write(rec, false)
    }

    /// Link the record, durable while no link exists, to the side. An
    /// existing link already holds the last durable record (the record has
    /// not been synced since): it stays. Best effort: without the link a
    /// crash costs what it did before.
    fn keep_durable(&self, id: &str) {
        let dir = self.dir(id);
        let _ = std::fs::hard_link(dir.join(RECORD_FILE), dir.join(DURABLE_FILE));
    }

    /// Make container `id`'s record as it is now durable. The record kept
    /// beside it goes only under the container's lock, so that no unsynced
    /// write lands between the fsync and the unlink (it would have found the
    /// link there and not made its own); while the lock is busy it stays,
    /// an older record but a whole one, until the next synced save.
    pub fn sync(&self, id: &str) -> std::io::Result<()> {
        let dir = self.dir(id);
        let held = self.try_lock(id);
        std::fs::File::open(dir.join(RECORD_FILE))?.sync_all()?;
        if let Ok(Some(_held)) = held {
            forget_durable(&dir);
        }
        Ok(())
    }

    fn write(&self, rec: &Record, sync: bool) -> std::io::Result<()> {
        let dir = self.dir(&rec.id);
        // One temp name per process: a writer that lost the lock race never
        // truncates another's half-written file.
        let tmp = dir.join(format!(".{RECORD_FILE}.{}.tmp", std::process::id()));
        let json = serde_json::to_vec_pretty(rec).map_err(std::io::Error::other)?;
        let mut f = fs_err::File::create(&tmp)?;
        f.write_all(&json)?;
        if sync {
            f.sync_all()?;
        }
        drop(f);
        let record = dir.join(RECORD_FILE);
        if !sync && replace_unwritten(&tmp, &record) {
            return Ok(());
        }
        fs_err::rename(&tmp, record)?;
        if sync {
            forget_durable(&dir);
        }
        Ok(())
    }
}

/// Put the unsynced record `tmp` in place of `record` without asking the
/// filesystem to write it out: whether it did. A rename over the old
/// record makes ext4 allocate and write the new one's block at once
/// (`auto_da_alloc`); a `--rm` container's record, never synced, would
/// then free that block again at its removal, which costs a discard where
/// the filesystem discards (a directory with one record made and removed
/// took 4.0 ms on such a disk, with the record written twice 7.9 ms; see
/// bench/README.md). Exchanged instead, the new record
/// stays in the page cache until writeback, and one removed before then
/// never reaches the disk. No (no record yet, or a filesystem without
/// `RENAME_EXCHANGE`): the caller renames.
fn replace_unwritten(tmp: &Path, record: &Path) -> bool {
    if crate::sys::fsat::exchange(tmp, record).is_err() {
        return false;
    }
    // The old record, under the temp name now. Left behind (a kill right
    // here) it is a stray file of the directory, never read as a record.
    let _ = std::fs::remove_file(tmp);
    true
}

/// Remove the durable record kept beside one that is durable now. The
/// journal orders the unlink after the rename or fsync before it, so a crash
/// never leaves neither.
fn forget_durable(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(DURABLE_FILE));
}

/// A new random container id (64 hex digits, like Docker's).
///
/// Straight from the kernel (getrandom(2)): `thread_rng` would seed a
/// ChaCha generator whose first use probes the CPU's features with seven
/// CPUID instructions, and in a virtual machine each one traps to the
/// hypervisor (tens of microseconds apiece, measured here) at every start.
pub fn new_id() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Whether `name` can be a container id: lowercase hex digits, as
/// [`new_id`] makes them.
fn is_id(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Container names follow Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check_name(name: &str) -> Result<()> {
    let mut b = name.bytes();
    let first_ok = b.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if first_ok && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')) {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record of a created container named `name`, for tests here and
    /// in the submodules.
    pub(super) fn record(name: &str) -> Record {
        Record {
            id: new_id(),
            name: name.into(),
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
            ports: Vec::new(),
            config: Config::default(),
            started: None,
            init: None,
            supervisor: None,
            restart_count: 0,
            stopped_by_user: false,
            health: None,
        }
    }

    #[test]
    fn records_round_trip_and_are_found_by_name() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut rec = record("web");
        c.create(&mut rec, |_| Ok(())).unwrap();
        assert_eq!(c.by_name("web"), Some(rec.clone()));
        assert_eq!(c.by_name("db"), None);
        assert_eq!(rec.id.len(), 64);
    }

    #[test]
    fn the_listing_reads_only_container_dirs() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut rec = record("web");
        c.create(&mut rec, |_| Ok(())).unwrap();
        // What else lives in the state dir: a compiled seccomp filter, the
        // kernel probes, the skeleton layer, project state.
        std::fs::write(
            d.path().join(format!("seccomp-{}.bpf", "0".repeat(32))),
            b"x",
        )
        .unwrap();
        std::fs::write(d.path().join("kernel-features-v3-6.1.json"), b"{}").unwrap();
        std::fs::create_dir(d.path().join("skeleton-v2")).unwrap();
        std::fs::create_dir(d.path().join("projects")).unwrap();
        assert_eq!(c.ids().collect::<Vec<_>>(), [rec.id.clone()]);
        assert_eq!(c.list(), [rec]);
    }

    #[test]
    fn names_are_claimed_once_and_generated_when_empty() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        c.create(&mut record("web"), |_| Ok(())).unwrap();
        let err = c.create(&mut record("web"), |_| Ok(())).unwrap_err();
        assert!(matches!(err, Error::NameInUse(_)), "{err}");
        let mut anon = record("");
        c.create(&mut anon, |_| Ok(())).unwrap();
        assert!(anon.name.contains('_'), "{}", anon.name);
        assert!(check_name(&anon.name).is_ok());
    }

    #[test]
    fn resolve_takes_names_ids_and_unique_prefixes() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut a = record("a");
        a.id = format!("ab{}", &a.id[2..]);
        let mut b = record("b");
        b.id = format!("ac{}", &b.id[2..]);
        c.create(&mut a, |_| Ok(())).unwrap();
        c.create(&mut b, |_| Ok(())).unwrap();
        assert_eq!(c.resolve("a").unwrap().id, a.id);
        assert_eq!(c.resolve("ab").unwrap().id, a.id);
        assert_eq!(c.resolve(&b.id).unwrap().name, "b");
        assert!(matches!(c.resolve("a").map(|r| r.name), Ok(n) if n == "a"));
        assert!(matches!(c.resolve("ac1x"), Err(Error::NotFound(_))));
        // "a" is a name, so it never counts as a prefix; a bare prefix
        // shared by both is ambiguous.
        let mut x = record("zz");
        x.id = format!("ab{}", &x.id[2..]);
        c.create(&mut x, |_| Ok(())).unwrap();
        assert!(matches!(c.resolve("ab"), Err(Error::Ambiguous(_))));
    }

    #[test]
    fn update_and_rename_keep_names_unique() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut a = record("a");
        c.create(&mut a, |_| Ok(())).unwrap();
        c.create(&mut record("b"), |_| Ok(())).unwrap();
        assert!(matches!(c.rename(&a.id, "b"), Err(Error::NameInUse(_))));
        assert!(matches!(c.rename(&a.id, "-x"), Err(Error::InvalidName(_))));
        assert_eq!(c.rename(&a.id, "c").unwrap().name, "c");
        let r = c.update(&a.id, |r| r.status = Status::Exited).unwrap();
        assert_eq!(c.read(&a.id), Some(r));
        std::fs::remove_dir_all(c.dir(&a.id)).unwrap();
        assert!(matches!(c.update(&a.id, |_| {}), Err(Error::NotFound(_))));
    }

    #[test]
    fn an_unparsable_record_reads_as_the_durable_one_beside_it() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut rec = record("env");
        c.create(&mut rec, |_| Ok(())).unwrap();
        let dir = c.dir(&rec.id);
        std::fs::copy(dir.join(RECORD_FILE), dir.join(DURABLE_FILE)).unwrap();
        for lost in [&b""[..], b"{\"id\": \"", b"\0\0\0\0"] {
            std::fs::write(dir.join(RECORD_FILE), lost).unwrap();
            assert_eq!(c.read(&rec.id), Some(rec.clone()));
            assert_eq!(c.resolve("env").unwrap().id, rec.id);
            assert_eq!(c.list(), [rec.clone()]);
        }
        // Written whole again by a synced save, which drops the link.
        let r = c.update(&rec.id, |r| r.status = Status::Exited).unwrap();
        assert!(!dir.join(DURABLE_FILE).exists());
        assert_eq!(c.read(&rec.id), Some(r));
        // A record that is gone stays gone, whatever is beside it.
        std::fs::copy(dir.join(RECORD_FILE), dir.join(DURABLE_FILE)).unwrap();
        std::fs::remove_file(dir.join(RECORD_FILE)).unwrap();
        assert_eq!(c.read(&rec.id), None);
    }

    #[test]
    fn unsynced_saves_keep_the_last_durable_record_until_a_sync() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut rec = record("env");
        c.create(&mut rec, |_| Ok(())).unwrap();
        let dir = c.dir(&rec.id);
        let durable = std::fs::read(dir.join(RECORD_FILE)).unwrap();
        let kept = || std::fs::read(dir.join(DURABLE_FILE)).ok();
        c.update_unsynced(&rec.id, |r| r.status = Status::Running)
            .unwrap();
        assert_eq!(kept().as_ref(), Some(&durable));
        // A second unsynced write replaces one that may not be on disk:
        // the link keeps the older, durable one.
        c.update_unsynced(&rec.id, |r| r.pid = Some(7)).unwrap();
        assert_eq!(kept().as_ref(), Some(&durable));
        assert_eq!(c.read(&rec.id).unwrap().pid, Some(7));
        c.sync(&rec.id).unwrap();
        assert_eq!(kept(), None);
        // The same after a synced save.
        c.update_unsynced(&rec.id, |r| r.pid = Some(8)).unwrap();
        assert!(kept().is_some());
        c.update(&rec.id, |r| r.pid = Some(9)).unwrap();
        assert_eq!(kept(), None);
        // While another holds the lock, the sync keeps the link.
        c.update_unsynced(&rec.id, |r| r.pid = Some(10)).unwrap();
        let busy = c.lock(&rec.id).unwrap();
        c.sync(&rec.id).unwrap();
        assert!(kept().is_some());
        drop(busy);
        // So does an older hutch holding the lock file it made.
        std::fs::write(dir.join(LEGACY_LOCK_FILE), "").unwrap();
        let old = flock::lock_existing(&dir.join(LEGACY_LOCK_FILE), flock::Mode::Exclusive)
            .unwrap()
            .unwrap();
        c.sync(&rec.id).unwrap();
        assert!(kept().is_some());
        drop(old);
        c.sync(&rec.id).unwrap();
        assert_eq!(kept(), None);
        std::fs::remove_file(dir.join(LEGACY_LOCK_FILE)).unwrap();
        // A `--rm` container's record is never made durable: nothing kept.
        let mut gone = record("tmp");
        gone.auto_remove = true;
        c.create(&mut gone, |_| Ok(())).unwrap();
        c.update_unsynced(&gone.id, |r| r.pid = Some(1)).unwrap();
        assert!(!c.dir(&gone.id).join(DURABLE_FILE).exists());
    }

    #[test]
    fn unreadable_records_are_found_unless_locked() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut made = Vec::new();
        for name in ["empty", "torn", "prev", "held", "legacy", "fine", "bare"] {
            let mut rec = record(name);
            rec.auto_remove = true;
            c.create(&mut rec, |_| Ok(())).unwrap();
            made.push(c.dir(&rec.id));
        }
        let [empty, torn, prev, held, legacy, _fine, bare] = &made[..] else {
            unreachable!()
        };
        std::fs::write(empty.join(RECORD_FILE), "").unwrap();
        std::fs::write(torn.join(RECORD_FILE), "{\"id\": \"").unwrap();
        std::fs::copy(prev.join(RECORD_FILE), prev.join(DURABLE_FILE)).unwrap();
        for d in [prev, held, legacy] {
            std::fs::write(d.join(RECORD_FILE), "").unwrap();
        }
        std::fs::remove_file(bare.join(RECORD_FILE)).unwrap();
        let _busy = flock::lock_existing(held, flock::Mode::Shared)
            .unwrap()
            .unwrap();
        std::fs::write(legacy.join(LEGACY_LOCK_FILE), "").unwrap();
        let _old = flock::lock_existing(&legacy.join(LEGACY_LOCK_FILE), flock::Mode::Shared)
            .unwrap()
            .unwrap();
        let found = c.unreadable();
        let mut ids: Vec<PathBuf> = found.iter().map(|(id, _)| c.dir(id)).collect();
        ids.sort();
        let mut want = vec![empty.clone(), torn.clone()];
        want.sort();
        assert_eq!(ids, want);
        // Found under their lock.
        assert!(flock::try_lock(empty, flock::Mode::Shared)
            .unwrap()
            .is_none());
    }

    #[test]
    fn the_directory_is_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut rec = record("web");
        c.create(&mut rec, |_| Ok(())).unwrap();
        let dir = c.dir(&rec.id);
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, [RECORD_FILE], "no lock file");
        let held = c.lock(&rec.id).unwrap();
        assert!(flock::try_lock(&dir, flock::Mode::Shared)
            .unwrap()
            .is_none());
        drop(held);
        assert!(flock::try_lock(&dir, flock::Mode::Exclusive)
            .unwrap()
            .is_some());
        // A container made before keeps its lock file, which an older
        // hutch takes: held here too.
        std::fs::File::create(dir.join(LEGACY_LOCK_FILE)).unwrap();
        let held = c.lock(&rec.id).unwrap();
        assert!(
            flock::try_lock(&dir.join(LEGACY_LOCK_FILE), flock::Mode::Exclusive)
                .unwrap()
                .is_none()
        );
        drop(held);
        // Renamed away by `rm` while a locker waits: not found, not locked.
        let old = flock::lock_existing(&dir, flock::Mode::Exclusive)
            .unwrap()
            .unwrap();
        let waiter = {
            let c = c.clone();
            let id = rec.id.clone();
            std::thread::spawn(move || c.lock(&id).map(drop))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::fs::rename(&dir, d.path().join(".removing-x")).unwrap();
        drop(old);
        assert!(matches!(waiter.join().unwrap(), Err(Error::NotFound(_))));
    }

    #[test]
    fn a_rename_waiting_for_its_container_keeps_no_one_from_creating() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut rec = record("old");
        c.create(&mut rec, |_| Ok(())).unwrap();
        let busy = c.lock(&rec.id).unwrap();
        let renamer = {
            let (c, id) = (c.clone(), rec.id.clone());
            std::thread::spawn(move || c.rename(&id, "new").map(|r| r.name))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (done, created) = std::sync::mpsc::channel();
        let creator = {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut other = record("other");
                let made = c.create(&mut other, |_| Ok(())).is_ok();
                let _ = done.send(made);
            })
        };
        let made = created.recv_timeout(std::time::Duration::from_secs(5));
        assert_eq!(made, Ok(true), "a create waited for the rename");
        assert!(
            !renamer.is_finished(),
            "the rename did not wait for the lock"
        );
        drop(busy);
        assert_eq!(renamer.join().unwrap().unwrap(), "new");
        creator.join().unwrap();
    }

    #[test]
    fn an_unsynced_record_replaces_the_last_one_whole() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(d.path());
        let mut rec = record("tmp");
        rec.auto_remove = true;
        c.create(&mut rec, |_| Ok(())).unwrap();
        let dir = c.dir(&rec.id);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (c, id, stop) = (c.clone(), rec.id.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert!(c.read(&id).is_some(), "a record was missing or torn");
                    reads += 1;
                }
                reads
            })
        };
        for pid in 1..200 {
            c.update_unsynced(&rec.id, |r| r.pid = Some(pid)).unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(c.read(&rec.id).unwrap().pid, Some(199));
        // The record it replaced went: nothing but the record is left.
        let entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, [RECORD_FILE]);
        // The swap itself, and the old file's removal after it.
        let a = d.path().join("a");
        let b = d.path().join("b");
        std::fs::write(&a, "A").unwrap();
        std::fs::write(&b, "B").unwrap();
        crate::sys::fsat::exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "B");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "A");
        assert!(replace_unwritten(&a, &b));
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "B");
        assert!(!a.exists(), "the replaced file is removed");
        // Nothing to replace: the caller renames.
        std::fs::write(&a, "A").unwrap();
        assert!(!replace_unwritten(&a, &d.path().join("none")));
        assert!(a.exists());
    }

    #[test]
    fn names_follow_docker_rules() {
        assert!(check_name("my_box-1.2").is_ok());
        assert!(check_name("-x").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("").is_err());
    }
}
