//! The image store: an OCI image layout (`oci-layout`, `index.json` whose
//! manifests carry `org.opencontainers.image.ref.name` = the full image name,
//! `blobs/sha256/<hex>`) plus hutch's own things beside it, which OCI tools
//! ignore:
//!
//! ```text
//! ROOT/oci-layout, index.json, blobs/sha256/   the OCI layout
//! ROOT/lock, gc.lock                           see `lock`
//! ROOT/tmp/                                    scratch space, see `tmp`
//! ROOT/tmp/partial/<hex>                       resumable downloads, see `partial`
//! ROOT/o/<mapping>/<diff-id hex>/              unpacked layers, see `layers`
//! ROOT/o-meta/<image hex>-<mapping hash>/      keep-id metadata layers, see `meta`
//! ROOT/cache/steps/<key>                       pinned build results, see `pins`
//! ROOT/cache/locks/<key>                       the build step running now, see `lock`
//! ```
//!
//! It owns every write under the store root and makes each one atomic. It does
//! not run containers and does not parse Dockerfiles.

mod blobs;
mod check;
mod error;
mod gc;
mod index;
mod layers;
mod lock;
mod meta;
pub use meta::{MetaEntry, MetaKind, META_DIR};
mod partial;
mod pins;
mod resolve;
mod tmp;
mod usage;
mod write;

pub use check::{CheckReport, Finding};
pub(crate) use error::over_store;
pub use error::{Error, Result};
pub use gc::Removed;
pub use lock::Step as StepLock;
/// Image id (`sha256:...`) → the name of one container that uses it: what
/// removal, pruning and repair must leave alone. The caller reads it from the
/// container records (`container::images_in_use`).
pub type InUse = std::collections::HashMap<String, String>;
pub use blobs::Spool;
pub use partial::{Partial, Verified};
pub use resolve::NoSuchImage;
pub use tmp::TmpDir;
pub use usage::{CachedLayer, DiskUsage};
pub use write::Writer;

use crate::chain::WithContext;
use crate::dirs::Dirs;
use crate::oci::config::{parse_config, parse_manifest};
use crate::report::Report;
use crate::userns::idmap::{IdMapping, IdSources};
use oci_spec::image::Digest;
use std::path::PathBuf;

/// An open store.
pub struct Store {
    pub root: PathBuf,
    /// Container records, read to keep images that containers use.
    pub state: PathBuf,
}

/// An image resolved from a name or id.
#[derive(Debug, Clone)]
pub struct Image {
    /// Digest of the config blob, `sha256:<hex>` (Docker's image id).
    pub id: String,
    /// Digest of the manifest blob.
    pub manifest_digest: String,
    pub manifest: oci_spec::image::ImageManifest,
    pub config: oci_spec::image::ImageConfiguration,
    /// The config blob's bytes as read: what `config` has no field for
    /// (a HEALTHCHECK) is parsed from them without reading the blob again.
    pub config_json: Vec<u8>,
    /// Full names (`docker.io/library/busybox:1.38.0-musl`) pointing at this image.
    pub names: Vec<String>,
}

impl Image {
    /// Docker's short id: the first 12 hex chars of the config digest.
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }

    /// Bytes the image's config and layer blobs take in the store.
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }

    /// The config's labels, sorted by key.
    pub fn labels(&self) -> std::collections::BTreeMap<String, String> {
        self.config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .unwrap_or_default()
            .into_iter()
            .collect()
    }
}

/// An index entry whose manifest or config blob cannot be read.
struct Damaged {
    entry: index::Entry,
    error: Error,
}

const OCI_LAYOUT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

impl Store {
    /// Open (creating if needed) the store at `dirs.store`.
    pub fn open(dirs: &Dirs) -> Result<Store> {
        let root = dirs.store.clone();
        fs_err::create_dir_all(root.join("blobs/sha256"))
            .context("cannot create the image store (pass --root DIR to use another place)")?;
        if !root.join("oci-layout").exists() {
            index::write_atomic(&root, "oci-layout", OCI_LAYOUT.as_bytes())?;
        }
        if !root.join("index.json").exists() {
            let _l = lock::index(&root)?;
            if !root.join("index.json").exists() {
                index::write(&root, &[])?;
            }
        }
        Ok(Store {
            root,
            state: dirs.state.clone(),
        })
    }

    /// Resolve a name (short or full, with tag or digest) or an id (prefix) to an image.
    pub fn image(&self, name: &str) -> Result<Image> {
        let _keep = lock::keep(&self.root)?;
        let (mut all, damaged) = self.scan()?;
        let cands: Vec<resolve::Candidate> = all
            .iter()
            .map(|im| resolve::Candidate {
                id: &im.id,
                manifest: &im.manifest_digest,
                names: &im.names,
            })
            .collect();
        match resolve::resolve(&cands, name) {
            Ok(i) => Ok(all.swap_remove(i)),
            Err(e) => {
                // A damaged image only matters when it is the one asked for.
                let full = crate::oci::reference::Reference::parse_tag(name)
                    .map(|r| r.tagged_name())
                    .ok();
                match damaged
                    .into_iter()
                    .find(|d| d.entry.name.is_some() && d.entry.name == full)
                {
                    Some(d) => Err(Error::Damaged {
                        name: name.to_string(),
                        why: Box::new(d.error),
                        asked: true,
                    }),
                    None => Err(e),
                }
            }
        }
    }

    /// Every image in the store, in index order (tagged and untagged).
    pub fn images(&self) -> Result<Vec<Image>> {
        let _keep = lock::keep(&self.root)?;
        self.images_unlocked()
    }

    fn images_unlocked(&self) -> Result<Vec<Image>> {
        let (images, damaged) = self.scan()?;
        if let Some(d) = damaged.into_iter().next() {
            let what = d
                .entry
                .name
                .clone()
                .unwrap_or_else(|| d.entry.desc.digest().to_string());
            return Err(Error::Damaged {
                name: what,
                why: Box::new(d.error),
                asked: false,
            });
        }
        Ok(images)
    }

    /// Every image in the index, and the entries whose blobs cannot be read.
    fn scan(&self) -> Result<(Vec<Image>, Vec<Damaged>)> {
        let mut out: Vec<Image> = Vec::new();
        let mut damaged = Vec::new();
        for e in index::read(&self.root)? {
            let digest = e.desc.digest().to_string();
            if let Some(im) = out.iter_mut().find(|i| i.manifest_digest == digest) {
                im.names.extend(e.name);
                continue;
            }
            match self.load_image(e.desc.digest()) {
                Ok(mut im) => {
                    im.names.extend(e.name);
                    out.push(im);
                }
                Err(error) => damaged.push(Damaged { entry: e, error }),
            }
        }
        Ok((out, damaged))
    }

    /// Read an image's manifest and config from their blobs.
    fn load_image(&self, manifest: &Digest) -> Result<Image> {
        let mbytes = blobs::read(&self.root, manifest)?;
        let m = parse_manifest(&mbytes, &format!("manifest {manifest}"))
            .map_err(crate::chain::Context::msg)?;
        let cd = m.config().digest().clone();
        let cbytes = blobs::read(&self.root, &cd)?;
        let config = parse_config(&cbytes, &format!("config {cd} of manifest {manifest}"))
            .map_err(crate::chain::Context::msg)?;
        Ok(Image {
            id: cd.to_string(),
            manifest_digest: manifest.to_string(),
            manifest: m,
            config,
            config_json: cbytes,
            names: vec![],
        })
    }

    /// The image pinned under `key` (see `pins`), if any and still whole.
    pub fn pinned(&self, key: &str) -> Option<Image> {
        let _keep = lock::keep(&self.root).ok()?;
        let m = pins::get(&self.root, key)?;
        self.load_image(&m).ok()
    }

    /// Hold the build step `key` until the returned value is dropped:
    /// another build of the same step waits (after `waited` is called).
    pub fn lock_step(&self, key: &str, waited: impl FnOnce()) -> Result<StepLock> {
        lock::step(&self.root, key, waited)
    }

    /// Pin `image` as an environment version under `key` (see `pins`): gc
    /// and prune keep it, named or not, until [`Store::unpin_version`].
    pub fn pin_version(&self, key: &str, image: &Image) -> Result<()> {
        let _keep = lock::keep(&self.root)?;
        let m = crate::oci::digest::parse(&image.manifest_digest)
            .map_err(crate::chain::Context::msg)?;
        // Loaded under the lock: a collection that ran before it did not
        // leave a pin naming missing blobs.
        self.load_image(&m)
            .with_context(|| format!("image {} was removed meanwhile", image.short_id()))?;
        pins::put_version(&self.root, key, &m)
    }

    /// The version pinned under `key`, if any and still whole.
    pub fn version(&self, key: &str) -> Option<Image> {
        let _keep = lock::keep(&self.root).ok()?;
        let m = pins::get_version(&self.root, key)?;
        self.load_image(&m).ok()
    }

    /// Drop a version's pin; the next gc or prune may take its blobs.
    pub fn unpin_version(&self, key: &str) -> Result<()> {
        pins::unpin_version(&self.root, key)
    }

    /// A scratch directory in the store, removed when dropped; gc and
    /// `system check --repair` remove one a killed process left (see `tmp`).
    pub fn scratch(&self) -> Result<TmpDir> {
        TmpDir::new(&self.root)
    }

    /// Start writing: blobs go to scratch space and become visible only when
    /// an image naming them is added.
    pub fn writer(&self) -> Result<Writer<'_>> {
        Writer::new(self)
    }

    /// Give `image` more names (full names, e.g. from `Reference::tagged_name`);
    /// a name already on another image moves here, as with `docker tag`.
    pub fn tag(&self, image: &Image, names: &[String]) -> Result<()> {
        let manifest = crate::oci::digest::parse(&image.manifest_digest)
            .map_err(crate::chain::Context::msg)?;
        let _l = lock::index(&self.root)?;
        let mut entries = index::read(&self.root)?;
        let Some(desc) = entries
            .iter()
            .find(|e| *e.desc.digest() == manifest)
            .map(|e| e.desc.clone())
        else {
            crate::chain::bail!("image {} was removed meanwhile", image.short_id());
        };
        for n in names {
            write::set_name(&mut entries, &desc, n);
        }
        index::write(&self.root, &entries)
    }

    /// The bytes of a small blob (a config or manifest).
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        blobs::read(&self.root, d)
    }

    /// Size of a blob when the store has it (so a pull can skip it).
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        blobs::path(&self.root, d).metadata().ok().map(|m| m.len())
    }

    /// Open or continue the resumable download of blob `d` (see `partial`);
    /// a writer adopts it once verified, with [`Writer::add_verified`].
    pub fn partial(&self, d: &Digest) -> Result<Partial> {
        partial::open(&self.root, d)
    }

    /// Forget partial downloads nobody touched for `age` (abandoned pulls).
    pub fn sweep_partials(&self, age: std::time::Duration) -> Result<()> {
        partial::sweep(&self.root, age)
    }

    /// Path of a blob, for readers that stream layers (build, export).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        blobs::path(&self.root, d)
    }

    /// Directories holding the image's layers unpacked for `map`, lowest layer
    /// first, ready to be overlay lower dirs. Unpacks (once) what is missing.
    pub fn layer_dirs(
        &self,
        image: &Image,
        map: &IdMapping,
        src: &IdSources,
        report: &dyn Report,
    ) -> Result<Vec<PathBuf>> {
        layers::layer_dirs(self, image, map, src, report)
    }

    /// Remove images (by name or id): untag names, delete what no image needs.
    pub fn remove(
        &self,
        targets: &[String],
        force: bool,
        in_use: &InUse,
        map: &IdMapping,
        src: &IdSources,
    ) -> Result<Vec<Removed>> {
        gc::remove(self, targets, force, in_use, map, src)
    }

    /// Remove images no container uses: untagged ones, or with `all` every
    /// one; then everything only they needed.
    pub fn prune(
        &self,
        all: bool,
        in_use: &InUse,
        map: &IdMapping,
        src: &IdSources,
    ) -> Result<Vec<Removed>> {
        gc::prune(self, all, in_use, map, src)
    }

    /// Verify every blob's digest and every reference; with `repair`,
    /// remove what can go safely (see `check`).
    pub fn check(
        &self,
        repair: bool,
        in_use: &InUse,
        map: &IdMapping,
        src: &IdSources,
    ) -> Result<CheckReport> {
        check::check(self, repair, in_use, map, src)
    }
}
