//! Versions of a project environment: its state (image and writable
//! layer) committed as an image in the store (`snapshot::commit`), tagged
//! `localhost/hutch-env/<env>:v<N>` and pinned (`store::pins`), so that
//! `images`, `save`, `push` and skopeo see it and no gc or prune drops it
//! until `env prune` unpins it. A snapshot writes one new layer, the
//! container's upper dir: the base is shared, never copied.
//!
//! `versions.json` in the environment's directory lists them (number,
//! image, date, message, size, the digest of the definition the
//! environment was built from), replaced atomically under the
//! environment's lock, written last: a snapshot killed half way leaves at
//! worst an unlisted image behind, never a listed version without one.
//!
//! Rolling back snapshots the state it leaves first, then replaces the
//! environment's container by one made from the version's image: the old
//! container is renamed, the new one created, env.json switched (the
//! moment the rollback happens), and only then is the old one removed.
//! `replacing.json` names the old container meanwhile: a replacement
//! killed half way is finished (after the switch) or undone (before it:
//! the new container removed, the old one named back) by the next command
//! that takes the environment's lock ([`Environment::recover`]).
//!
//! It never prints; the CLI shows what these functions return.

use super::discover::Definition;
use super::environment::{Environment, KEEPALIVE};
use super::inputs::Input;
use super::packages::{self, Installed, Manager};
use super::state::{EnvDir, EnvState};
use super::Error;
use crate::container::{self, control, proc, Record};
use crate::fault;
use crate::layer::codec::Compression;
use crate::snapshot::changes::{self, apply_layer_reading, Change, Contents, Tree};
use crate::snapshot::commit::{commit, CommitOptions, Format};
use crate::store::{Image, Store};
use crate::userns::idmap::{IdMapping, IdSources};
use oci_spec::image::MediaType;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::BufReader;

/// The label (and, when pushed, annotation) naming the digest of the
/// definition a version was built from.
pub const DEFINITION_LABEL: &str = "dev.hutch.env.definition";

/// One version, as `versions.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub n: u32,
    /// The image's id (config digest).
    pub image: String,
    /// Its manifest digest.
    pub manifest: String,
    /// RFC 3339.
    pub created: String,
    pub message: String,
    /// Bytes of the layer this version added.
    pub size: u64,
    /// sha256 of the recorded definition inputs.
    pub definition: String,
    /// The container it was taken from (empty in lists older than this
    /// field).
    #[serde(default)]
    pub container: String,
    /// sha256 of its layer uncompressed: with `container`, what tells
    /// that the environment has not changed since.
    #[serde(default)]
    pub diff_id: String,
}

/// What `env diff` found.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub paths: Vec<Change>,
    pub packages: Vec<(Manager, Vec<packages::Change>)>,
    /// Why an rpm database present was not read (it names the file).
    pub rpm: Option<String>,
}

/// One side of a diff: a version, the environment as it is now, or the
/// image of its last build (what `promote` starts from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side<'s> {
    Version(&'s str),
    Now,
    Base,
}

/// The state of one side: every path's metadata and the contents of the
/// files asked for (package databases, say).
pub(super) struct State {
    pub tree: Tree,
    pub contents: Contents,
}

impl State {
    /// `m`'s database file, its path and content; None without one.
    pub fn db(&self, m: Manager) -> Option<(&'static str, &[u8])> {
        m.dbs()
            .iter()
            .find_map(|p| Some((*p, self.contents.get(*p)?.as_slice())))
    }

    /// The packages `m`'s database lists, None without a database; an
    /// error for one hutch cannot read (only rpm's can be).
    pub fn packages(&self, m: Manager) -> Result<Option<Installed>, super::rpmdb::Unreadable> {
        self.db(m)
            .map(|(path, db)| packages::parse(m, path, db))
            .transpose()
    }
}

/// Whether `path` is a package database (what every state reads).
pub(super) fn is_db(path: &str) -> bool {
    Manager::ALL.iter().any(|m| m.dbs().contains(&path))
}

impl EnvDir {
    /// The versions, oldest first (none when the file is missing).
    pub fn versions(&self) -> Result<Vec<Version>, Error> {
        match std::fs::read(self.dir.join("versions.json")) {
            Ok(b) => serde_json::from_slice(&b).map_err(|source| Error::Versions {
                path: self.dir.join("versions.json"),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    fn write_versions(&self, v: &[Version]) -> Result<(), Error> {
        self.write_file(
            "versions.json",
            &serde_json::to_vec(v).map_err(std::io::Error::other)?,
        )
    }
}

/// The digest of what the environment was built from: every recorded input's
/// path and content (not its stat).
pub fn definition_digest(inputs: &[Input]) -> String {
    let mut h = Sha256::new();
    for i in inputs {
        h.update(i.path.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(&i.kind).unwrap_or_default());
        h.update([0]);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

impl Environment<'_> {
    pub(super) fn store(&self) -> Result<Store, Error> {
        Store::open(self.dirs).map_err(|e| Error::Backend(e.into()))
    }

    /// The pin key of version `n` of this project.
    fn version_key(&self, n: u32) -> String {
        let h = Sha256::digest(format!("hutch env version {} {n}", self.project.id()));
        hex::encode(h)
    }

    /// The name version `n` is tagged with.
    pub fn version_tag(&self, n: u32) -> String {
        format!(
            "localhost/hutch-env/{}:v{n}",
            self.project.env_name().to_lowercase()
        )
    }

    /// The name of the image the environment's definition makes: the
    /// last build's, or `image =`.
    pub(super) fn built_image_name(&self) -> Result<String, Error> {
        Ok(match self.project.definition()? {
            Definition::Image(name) => name,
            Definition::Build { .. } => super::environment::built_name(self.project),
        })
    }

    /// The environment's record and container, or NoEnv.
    pub(super) fn current(&self) -> Result<(EnvState, Record), Error> {
        let st = self
            .envdir
            .read()
            .ok_or_else(|| Error::NoEnv(self.project.root.clone()))?;
        let rec = self
            .containers
            .read(&st.container)
            .ok_or_else(|| Error::NoEnv(self.project.root.clone()))?;
        Ok((st, rec))
    }

    /// `rec`'s writable layer and the id mapping its files are written with.
    fn upper_of(
        &self,
        rec: &Record,
    ) -> Result<(crate::snapshot::container::Container, IdMapping), Error> {
        let c = crate::snapshot::container::find(&self.dirs.state, &rec.id)
            .map_err(backend)?
            .ok_or_else(|| Error::NoEnv(self.project.root.clone()))?;
        let map =
            crate::snapshot::container::mapping_for(&c, &IdSources::default()).map_err(backend)?;
        Ok((c, map))
    }

    /// The newest version when the environment has not changed since it
    /// was taken: taken from the same container, whose writable layer
    /// still diffs to the same tar (what a new snapshot would commit).
    /// Reads the layer's files, but neither compresses nor stores them.
    pub(super) fn unchanged_version(&self, rec: &Record) -> Result<Option<Version>, Error> {
        let Some(v) = self.envdir.versions()?.pop() else {
            return Ok(None);
        };
        if v.container != rec.id || v.diff_id.is_empty() {
            return Ok(None);
        }
        let store = self.store()?;
        let w = store.writer().map_err(backend)?;
        let now = self.diff_now(&store, w.scratch(), rec, None)?;
        Ok((now == v.diff_id).then_some(v))
    }

    /// The writable layer of `rec` as the tar a snapshot would commit,
    /// uncompressed, written to `out` when given (through the storage
    /// driver's changes, made where their files are readable); its diff_id.
    fn diff_now(
        &self,
        store: &Store,
        scratch: &std::path::Path,
        rec: &Record,
        out: Option<&fs_err::File>,
    ) -> Result<String, Error> {
        let (c, map) = self.upper_of(rec)?;
        let src = IdSources::default();
        let base = store.image(&c.image_id).map_err(backend)?;
        let changes = crate::snapshot::container::changes(
            &c,
            store,
            &self.dirs.state,
            &base,
            &map,
            &src,
            self.report,
        )
        .map_err(backend)?;
        let id_path = scratch.join("diff_id");
        let id_file = fs_err::File::create(&id_path)?;
        // Held open here: the namespace's root may not traverse the state
        // dir's parents (see `userns::reach`).
        let upper = crate::userns::Reach::new(changes.path())?;
        crate::userns::run_in_userns(&map, &src, || {
            let opts = Default::default();
            let d = match out {
                Some(f) => {
                    let mut buf = std::io::BufWriter::with_capacity(1 << 20, f);
                    let d = crate::layer::diff::diff(&upper.path(), &mut buf, &opts)
                        .map_err(|e| e.to_string())?;
                    std::io::Write::flush(&mut buf).map_err(|e| e.to_string())?;
                    d
                }
                None => crate::layer::diff::diff(&upper.path(), std::io::sink(), &opts)
                    .map_err(|e| e.to_string())?,
            };
            std::io::Write::write_all(&mut id_file.file(), d.diff_id.as_bytes())
                .map_err(|e| e.to_string())
        })
        .map_err(|e| Error::Upper {
            path: c.upper.clone(),
            source: Box::new(e),
        })?;
        Ok(fs_err::read_to_string(&id_path)?)
    }

    /// The environment's lock, with a replacement a killed hutch left half
    /// done finished or undone.
    pub(super) fn lock(&self) -> Result<crate::sys::flock::Held, Error> {
        let held = self.envdir.lock(|| {
            self.report
                .info("waiting for another hutch working on this environment")
        })?;
        self.recover()?;
        Ok(held)
    }

    /// The versions, oldest first.
    pub fn log(&self) -> Result<Vec<Version>, Error> {
        self.envdir.versions()
    }

    /// The version `id` names: its number, with or without a `v`.
    pub fn version(&self, id: &str) -> Result<Version, Error> {
        let all = self.envdir.versions()?;
        let n: Option<u32> = id.strip_prefix('v').unwrap_or(id).parse().ok();
        all.into_iter()
            .find(|v| Some(v.n) == n)
            .ok_or_else(|| Error::NoVersion(id.to_string()))
    }

    /// Version `v`'s image, named in the store's index again when a prune
    /// or `rmi` took it off (the pin kept its blobs): containers run only
    /// on listed images.
    fn version_image(&self, store: &Store, v: &Version) -> Result<Image, Error> {
        let pinned = store
            .version(&self.version_key(v.n))
            .ok_or_else(|| Error::VersionGone {
                n: v.n,
                pin: self.version_key(v.n),
            })?;
        if let Ok(listed) = store.image(&pinned.id) {
            return Ok(listed);
        }
        let manifest = crate::oci::digest::parse(&pinned.manifest_digest)
            .map_err(|e| Error::Digest(Box::new(e)))?;
        let bytes = store.read_blob(&manifest).map_err(backend)?;
        let mut w = store.writer().map_err(backend)?;
        w.add_manifest(&bytes, MediaType::ImageManifest, &[self.version_tag(v.n)])
            .map_err(backend)
    }

    /// Record the environment's state as a new version.
    pub fn snapshot(&self, message: Option<String>) -> Result<Version, Error> {
        let _lock = self.lock()?;
        let (st, rec) = self.current()?;
        self.snapshot_locked(&st, &rec, message.unwrap_or_default())
    }

    /// Commit `rec`'s writable layer on top of its image as version N+1;
    /// the caller holds the environment's lock.
    pub(super) fn snapshot_locked(
        &self,
        st: &EnvState,
        rec: &Record,
        message: String,
    ) -> Result<Version, Error> {
        let store = self.store()?;
        let mut all = self.envdir.versions()?;
        let n = all.iter().map(|v| v.n).max().unwrap_or(0) + 1;
        let (c, map) = self.upper_of(rec)?;
        let src = IdSources::default();
        let parent = store.image(&rec.image_id).map_err(backend)?;
        let definition = definition_digest(&st.inputs);
        let opts = CommitOptions {
            message: (!message.is_empty()).then(|| message.clone()),
            author: None,
            config: None,
            changes: vec![format!("LABEL {DEFINITION_LABEL}={definition}")],
            created_by: "hutch env snapshot".into(),
            // zstd: fast enough for a snapshot someone waits for.
            compression: Compression::Zstd,
            format: Format::Oci,
            names: vec![self.version_tag(n)],
        };
        let changes = crate::snapshot::container::changes(
            &c,
            &store,
            &self.dirs.state,
            &parent,
            &map,
            &src,
            self.report,
        )
        .map_err(backend)?;
        let made = commit(
            &store,
            changes.path(),
            &parent,
            &map,
            &src,
            &opts,
            self.report,
        )
        .map_err(backend)?;
        fault::point("snapshot-committed");
        store
            .pin_version(&self.version_key(n), &made.image)
            .map_err(backend)?;
        fault::point("snapshot-pinned");
        let v = Version {
            n,
            image: made.image.id.clone(),
            manifest: made.image.manifest_digest.clone(),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            message,
            size: made.layer.size(),
            definition,
            container: rec.id.clone(),
            diff_id: made.diff_id.clone(),
        };
        all.push(v.clone());
        self.envdir.write_versions(&all)?;
        Ok(v)
    }

    /// Give version `id` the name `name` (an ordinary image name).
    pub fn tag(&self, id: &str, name: &str) -> Result<String, Error> {
        let v = self.version(id)?;
        let store = self.store()?;
        let image = self.version_image(&store, &v)?;
        let full = crate::oci::reference::Reference::parse_tag(name)
            .map_err(|e| Error::Tag {
                name: name.to_string(),
                source: Box::new(e),
            })?
            .tagged_name();
        store
            .tag(&image, std::slice::from_ref(&full))
            .map_err(|e| Error::Backend(e.into()))?;
        Ok(full)
    }

    /// Drop all but the newest `keep` versions; the one the environment
    /// runs on stays. The dropped ones.
    pub fn prune(&self, keep: usize) -> Result<Vec<Version>, Error> {
        let _lock = self.lock()?;
        let running = self.envdir.read().map(|s| s.image_id);
        let all = self.envdir.versions()?;
        let cut = all.len().saturating_sub(keep);
        let (mut doomed, mut kept): (Vec<Version>, Vec<Version>) = (Vec::new(), Vec::new());
        for (i, v) in all.into_iter().enumerate() {
            if i < cut && running.as_deref() != Some(v.image.as_str()) {
                doomed.push(v);
            } else {
                kept.push(v);
            }
        }
        if doomed.is_empty() {
            return Ok(doomed);
        }
        // The list first: a prune killed half way leaves pins nobody lists,
        // never a listed version without its image.
        self.envdir.write_versions(&kept)?;
        let store = self.store()?;
        for v in &doomed {
            store
                .unpin_version(&self.version_key(v.n))
                .map_err(backend)?;
        }
        let src = IdSources::default();
        let map = self.mapping()?;
        let in_use = container::images_in_use(&self.dirs.state);
        let tags: Vec<String> = doomed
            .iter()
            .map(|v| self.version_tag(v.n))
            .filter(|t| store.image(t).is_ok())
            .collect();
        if !tags.is_empty() {
            store
                .remove(&tags, false, &in_use, &map, &src)
                .map_err(backend)?;
        }
        Ok(doomed)
    }

    /// What changed from `a` to `b`.
    pub fn diff(&self, a: Side<'_>, b: Side<'_>) -> Result<Diff, Error> {
        let store = self.store()?;
        let sa = self.state_of(&store, a, &is_db)?;
        let sb = self.state_of(&store, b, &is_db)?;
        let mut out = Diff {
            paths: changes::between(&sa.tree, &sb.tree),
            ..Diff::default()
        };
        for m in Manager::ALL {
            // An unreadable database on either side would list every
            // package as added or removed: none are listed (and the CLI
            // says why).
            let (pa, pb) = match (sa.packages(m), sb.packages(m)) {
                (Ok(pa), Ok(pb)) => (pa, pb),
                (Err(e), _) | (_, Err(e)) => {
                    out.rpm = Some(crate::chain::line(&e));
                    continue;
                }
            };
            if pa.is_none() && pb.is_none() {
                continue;
            }
            out.packages.push((
                m,
                packages::diff(m, &pa.unwrap_or_default(), &pb.unwrap_or_default()),
            ));
        }
        Ok(out)
    }

    /// The tree of `side` and the contents of the files `want` accepts.
    pub(super) fn state_of(
        &self,
        store: &Store,
        side: Side<'_>,
        want: &dyn Fn(&str) -> bool,
    ) -> Result<State, Error> {
        let mut s = State {
            tree: Tree::new(),
            contents: Contents::new(),
        };
        let image = match side {
            Side::Version(id) => {
                let v = self.version(id)?;
                self.version_image(store, &v)?
            }
            Side::Now => {
                let (_, rec) = self.current()?;
                store.image(&rec.image_id).map_err(backend)?
            }
            Side::Base => {
                let name = self.built_image_name()?;
                store.image(&name).map_err(|e| Error::BuildGone {
                    name,
                    source: Box::new(e),
                })?
            }
        };
        for (i, l) in image.manifest.layers().iter().enumerate() {
            let what = format!("layer {} of image {}", i + 1, image.short_id());
            let bad = |e: Box<dyn std::error::Error + Send + Sync>| Error::Layer {
                n: i + 1,
                image: format!("image {}", image.short_id()),
                source: e,
            };
            let f = fs_err::File::open(store.blob_path(l.digest())).map_err(|source| {
                Error::LayerMissing {
                    what: what.clone(),
                    source,
                }
            })?;
            let (_, r) = crate::layer::codec::decompressed(BufReader::with_capacity(1 << 16, f))
                .map_err(|e| bad(e.into()))?;
            apply_layer_reading(&mut s.tree, r, want, &mut s.contents).map_err(|e| {
                Error::ReadLayer {
                    what,
                    source: Box::new(e),
                }
            })?;
        }
        if side == Side::Now {
            // The writable layer as the tar a snapshot would commit,
            // uncompressed, made where its files are readable.
            let (_, rec) = self.current()?;
            let w = store.writer().map_err(backend)?;
            let path = w.scratch().join("upper.tar");
            let out = fs_err::File::create(&path)?;
            self.diff_now(store, w.scratch(), &rec, Some(&out))?;
            let f = fs_err::File::open(&path)?;
            apply_layer_reading(
                &mut s.tree,
                BufReader::with_capacity(1 << 16, f),
                want,
                &mut s.contents,
            )
            .map_err(|e| Error::Changes {
                source: Box::new(e),
            })?;
        }
        Ok(s)
    }

    /// Processes inside the environment besides its own keep-alive loop
    /// (someone's shell or command): host pid and command line.
    pub fn inside(&self, rec: &Record) -> Vec<(i32, String)> {
        let Some(init) = rec
            .init
            .as_ref()
            .filter(|_| crate::container::state::observe(rec).is_running())
        else {
            return Vec::new();
        };
        let members = proc::members(init.pid);
        let keepalive: Vec<i32> = members
            .iter()
            .filter(|m| m.ppid == init.pid && m.command.ends_with(KEEPALIVE))
            .map(|m| m.pid)
            .collect();
        members
            .into_iter()
            .filter(|m| m.pid != init.pid && !keepalive.contains(&m.pid))
            .filter(|m| !keepalive.contains(&m.ppid))
            .map(|m| (m.pid, m.command))
            .collect()
    }

    /// Return the environment to version `id`. The state it leaves is
    /// kept as a new version first (returned with the target). Refused
    /// while someone is inside, unless `force` (their processes end with
    /// the container).
    pub fn rollback(&self, id: &str, force: bool) -> Result<(Version, Version), Error> {
        let _lock = self.lock()?;
        let target = self.version(id)?;
        let (st, rec) = self.current()?;
        let inside = self.inside(&rec);
        if !inside.is_empty() && !force {
            let pids: Vec<String> = inside
                .iter()
                .map(|(p, c)| format!("{p} ({})", c.chars().take(40).collect::<String>()))
                .collect();
            return Err(Error::InUse(pids));
        }
        let store = self.store()?;
        let image = self.version_image(&store, &target)?;
        let saved = self.snapshot_locked(&st, &rec, format!("before rollback to {}", target.n))?;
        fault::point("rollback-snapshotted");
        self.replace(&st, &rec, image, st.inputs.clone(), false)?;
        Ok((saved, target))
    }

    /// Replace the environment's container `old` by a new one running
    /// `image`; env.json is switched only once the new container exists,
    /// and `old` is removed after that.
    pub(super) fn replace(
        &self,
        st: &EnvState,
        old: &Record,
        image: Image,
        inputs: Vec<Input>,
        created_hooks: bool,
    ) -> Result<Record, Error> {
        let name = self.project.env_name();
        let journal = Replacing {
            old: old.id.clone(),
            name: old.name.clone(),
        };
        self.envdir.write_file(
            REPLACING,
            &serde_json::to_vec(&journal).map_err(std::io::Error::other)?,
        )?;
        self.stop_container(old)?;
        if old.name == name {
            self.containers
                .rename(&old.id, &format!("{name}-{}", old.short_id()))?;
        }
        fault::point("replace-renamed");
        self.remove_new(st)?;
        self.write_etc(&image)?;
        let settings = self.settings()?;
        let fingerprint = serde_json::to_string(&settings).map_err(std::io::Error::other)?;
        let id = self.start_recorded(image, settings, fingerprint, inputs)?;
        fault::point("replace-switched");
        self.finish_replace(&journal)?;
        let rec = self
            .containers
            .read(&id)
            .ok_or(Error::Container(container::Error::NotFound(id)))?;
        if created_hooks {
            self.created_hooks(&rec)?;
        }
        self.hook(&rec, "postStartCommand", &self.project.extras.post_start)?;
        Ok(rec)
    }

    /// A container holding the environment's name that is not the one
    /// env.json names: made by a replacement that did not finish. Removed.
    fn remove_new(&self, st: &EnvState) -> Result<(), Error> {
        if let Some(new) = self.containers.by_name(&self.project.env_name()) {
            if new.id != st.container {
                control::force_remove(&self.containers, &new)?;
            }
        }
        Ok(())
    }

    /// After the switch: the replaced container goes, then the journal.
    fn finish_replace(&self, j: &Replacing) -> Result<(), Error> {
        match control::remove(&self.containers, &j.old) {
            Ok(()) | Err(container::Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.envdir.remove_file(REPLACING)
    }

    /// Finish or undo a replacement a killed hutch left half done (see
    /// the module's doc); the caller holds the environment's lock.
    pub(super) fn recover(&self) -> Result<(), Error> {
        let Some(j) = self.envdir.read_json::<Replacing>(REPLACING) else {
            return Ok(());
        };
        let st = self.envdir.read();
        match &st {
            Some(st) if st.container != j.old => self.finish_replace(&j),
            _ => {
                if let Some(st) = &st {
                    self.remove_new(st)?;
                }
                if let Some(old) = self.containers.read(&j.old) {
                    if old.name != j.name {
                        self.containers.rename(&old.id, &j.name)?;
                    }
                }
                self.report.info(&format!(
                    "an earlier replacement of the environment's container {} was \
                     interrupted: undone",
                    j.name
                ));
                self.envdir.remove_file(REPLACING)
            }
        }
    }

    /// Whether a replacement is left to finish or undo.
    pub(super) fn replacing(&self) -> bool {
        self.envdir.dir.join(REPLACING).exists()
    }
}

/// The journal of a container replacement under way.
const REPLACING: &str = "replacing.json";

/// What the journal records: the container being replaced and its name.
#[derive(Debug, Serialize, Deserialize)]
struct Replacing {
    old: String,
    name: String,
}

/// A failure of the store, snapshot or registry below an environment.
fn backend(e: impl Into<super::BoxError>) -> Error {
    Error::Backend(e.into())
}
