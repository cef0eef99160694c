//! Adding images: blobs are staged in a private scratch directory and
//! checked, then moved into `blobs/` and named in index.json in one step per
//! image, so a failed or killed writer leaves no new image and no partial blob.
//!
//! A writer holds `gc.lock` shared for its whole life so that garbage
//! collection cannot delete blobs it relies on between putting them in place
//! and naming them in the index. It does not read load formats (see
//! `oci::source`) nor build configs (see `oci::change`).

use super::index::{self, Entry};
use super::tmp::TmpDir;
use super::Result;
use super::{blobs, lock, pins, Image, Store};
use crate::chain::{bail, WithContext};
use crate::oci::config::parse_manifest;
use crate::oci::digest::{self, Hasher};
use crate::sys::flock::Held;
use oci_spec::image::{
    Descriptor, Digest, ImageConfiguration, ImageManifestBuilder, MediaType, SCHEMA_VERSION,
};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// An open write to the store.
pub struct Writer<'s> {
    store: &'s Store,
    tmp: TmpDir,
    staged: HashMap<Digest, PathBuf>,
    _keep: Held,
}

impl<'s> Writer<'s> {
    pub(super) fn new(store: &'s Store) -> Result<Writer<'s>> {
        let keep = lock::keep(&store.root)?;
        // Leftovers of killed writers: remove what we can; files owned by
        // subordinate ids wait for the next `rmi`, which enters the namespace.
        for s in super::tmp::stale(&store.root)? {
            let _ = std::fs::remove_dir_all(&s.dir);
            if !s.dir.exists() {
                let _ = std::fs::remove_file(&s.lock);
            }
        }
        Ok(Writer {
            store,
            tmp: TmpDir::new(&store.root)?,
            staged: HashMap::new(),
            _keep: keep,
        })
    }

    /// A scratch directory on the store's filesystem, removed with the writer.
    pub fn scratch(&self) -> &std::path::Path {
        self.tmp.path()
    }

    /// Stage a blob; with `expected`, its content must hash to that digest
    /// (the error names `what`). Returns its digest and size.
    pub fn write_blob(
        &mut self,
        input: impl Read,
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<(Digest, u64)> {
        if let Some(d) = expected {
            // Already stored or staged: the content is known, skip the copy.
            if let Some(size) = self.known_size(d) {
                return Ok((d.clone(), size));
            }
        }
        let (path, d, size) = blobs::stage(input, self.tmp.path(), expected, what)?;
        if self.known_size(&d).is_some() {
            fs_err::remove_file(&path)?;
        } else {
            self.staged.insert(d.clone(), path);
        }
        Ok((d, size))
    }

    /// Stage an uncompressed layer tar gzip-compressed, as build and commit
    /// produce them. Returns its manifest descriptor and its diff id (sha256
    /// of the uncompressed tar), for the config's `rootfs.diff_ids`.
    pub fn write_layer(&mut self, tar: impl Read, what: &str) -> Result<(Descriptor, Digest)> {
        let mut gz = flate2::read::GzEncoder::new(Hasher::new(tar), flate2::Compression::fast());
        let (d, size) = self.write_blob(&mut gz, None, what)?;
        let (diff_id, _) = gz
            .into_inner()
            .finish()
            .with_context(|| format!("cannot read {what}"))?;
        Ok((Descriptor::new(MediaType::ImageLayerGzip, size, d), diff_id))
    }

    /// Stage the file at `path` like [`Writer::write_blob`]. A file that is
    /// already in this writer's scratch dir (an unpacked archive) is checked
    /// in place and moved rather than copied.
    pub fn write_blob_file(
        &mut self,
        path: &Path,
        expected: Option<&Digest>,
        what: &str,
    ) -> Result<(Digest, u64)> {
        if let Some(d) = expected {
            if let Some(size) = self.known_size(d) {
                return Ok((d.clone(), size));
            }
        }
        let file = fs_err::File::open(path)?;
        if !path.starts_with(self.tmp.path()) {
            return self.write_blob(std::io::BufReader::new(file), expected, what);
        }
        let (d, size) = Hasher::new(std::io::BufReader::new(&file))
            .finish()
            .with_context(|| format!("cannot read {what}"))?;
        if let Some(want) = expected.filter(|w| **w != d) {
            bail!(
                "{what} is corrupt: its digest should be {want} but its content hashes to {d}; nothing was stored"
            );
        }
        if self.known_size(&d).is_none() {
            file.sync_all()?;
            self.staged.insert(d.clone(), path.to_path_buf());
        }
        Ok((d, size))
    }

    /// A new scratch file `name` for a blob whose producer hashes it as
    /// it writes it; stage it with [`Writer::add_spooled`].
    pub fn spool(&self, name: &str) -> Result<(PathBuf, blobs::Spool)> {
        let path = self.tmp.path().join(name);
        let spool = blobs::Spool::create(&path)?;
        Ok((path, spool))
    }

    /// Stage the blob at `path` (a [`Writer::spool`] of this writer) as
    /// `digest` and `size`, which its producer computed over exactly the
    /// bytes it wrote: the store does not read it again (for a 150 MB layer
    /// that is a sha256 pass the writer waited for). The size is checked
    /// against the file, which is fsync'd here as any staged blob; `system
    /// check` verifies its digest like any other's.
    pub fn add_spooled(
        &mut self,
        path: &Path,
        digest: &Digest,
        size: u64,
        what: &str,
    ) -> Result<(Digest, u64)> {
        if path.parent() != Some(self.tmp.path()) {
            bail!(
                "{what}: {} is not a file of this writer's scratch dir",
                path.display()
            );
        }
        let file = fs_err::File::open(path)?;
        let len = file.metadata()?.len();
        if len != size {
            bail!("{what} is {len} bytes but its writer reported {size}; nothing was stored");
        }
        match self.known_size(digest) {
            None => {
                file.sync_all()
                    .with_context(|| format!("cannot write {what} to {}", path.display()))?;
                self.staged.insert(digest.clone(), path.to_path_buf());
            }
            // The digest was not checked here: a blob of that name but
            // another size means the writer reported it wrongly.
            Some(known) if known != size => bail!(
                "{what} is {size} bytes, but the blob {digest} its writer named is {known}; \
                 nothing was stored"
            ),
            Some(_) => fs_err::remove_file(path)?,
        }
        Ok((digest.clone(), size))
    }

    /// Stage a download that [`super::Partial::finish`] verified.
    pub fn add_verified(&mut self, v: super::Verified) -> Result<(Digest, u64)> {
        let (d, size) = (v.digest.clone(), v.size);
        if self.known_size(&d).is_none() {
            let p = super::partial::adopt(v, &self.tmp)?;
            self.staged.insert(d.clone(), p);
        } else {
            // Someone else stored it meanwhile; this copy is not needed.
            fs_err::remove_file(&v.path)?;
        }
        Ok((d, size))
    }

    /// Path of a blob this writer staged (or one already in the store).
    pub fn blob_file(&self, d: &Digest) -> Result<PathBuf> {
        let p = self
            .staged
            .get(d)
            .cloned()
            .unwrap_or_else(|| blobs::path(&self.store.root, d));
        if !p.exists() {
            bail!("blob {d} is neither staged nor in the store");
        }
        Ok(p)
    }

    /// Open a blob this writer staged (or one already in the store) to read it back.
    pub fn open_blob(&self, d: &Digest) -> Result<fs_err::File> {
        let p = self
            .staged
            .get(d)
            .cloned()
            .unwrap_or_else(|| blobs::path(&self.store.root, d));
        Ok(fs_err::File::open(p)?)
    }

    fn known_size(&self, d: &Digest) -> Option<u64> {
        let p = self
            .staged
            .get(d)
            .cloned()
            .unwrap_or_else(|| blobs::path(&self.store.root, d));
        p.metadata().ok().map(|m| m.len())
    }

    /// Store `config` and a manifest over `layers` (already written with
    /// `write_blob`), and name the image. Returns the new image.
    pub fn add_image(
        &mut self,
        config: &ImageConfiguration,
        layers: Vec<Descriptor>,
        names: &[String],
    ) -> Result<Image> {
        let cbytes = serde_json::to_vec(config).context("cannot encode the image config")?;
        let config = self.write_blob(&cbytes[..], None, "the image config")?;
        self.add_image_with_config(config, layers, names)
    }

    /// Like [`Writer::add_image`] for a config blob already written (kept byte
    /// for byte, since its digest is the image id): `(digest, size)`.
    pub fn add_image_with_config(
        &mut self,
        (cd, csize): (Digest, u64),
        layers: Vec<Descriptor>,
        names: &[String],
    ) -> Result<Image> {
        let manifest = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, csize, cd))
            .layers(layers)
            .build()
            .context("cannot build the image manifest")?;
        let mbytes = serde_json::to_vec(&manifest).context("cannot encode the image manifest")?;
        self.add_manifest(&mbytes, MediaType::ImageManifest, names)
    }

    /// Store `config` (kept byte for byte) and a manifest over `layers`,
    /// publish their blobs and pin the image under `key` (see `pins`)
    /// without naming it in index.json. The build cache records step results
    /// this way; a pin replaces an older pin of the same key.
    pub fn pin(&mut self, key: &str, config: &[u8], layers: Vec<Descriptor>) -> Result<Image> {
        let (cd, csize) = self.write_blob(config, None, "the image config")?;
        let manifest = ImageManifestBuilder::default()
            .schema_version(SCHEMA_VERSION)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, csize, cd.clone()))
            .layers(layers)
            .build()
            .context("cannot build the image manifest")?;
        let mbytes = serde_json::to_vec(&manifest).context("cannot encode the image manifest")?;
        let (md, _) = self.write_blob(&mbytes[..], None, "the image manifest")?;
        let mut needed = vec![cd];
        needed.extend(manifest.layers().iter().map(|l| l.digest().clone()));
        needed.push(md.clone());
        let root = &self.store.root;
        let mut published = false;
        for d in &needed {
            if let Some(p) = self.staged.remove(d) {
                blobs::publish(root, &p, d)?;
                published = true;
            } else if self.known_size(d).is_none() {
                bail!("pinned image needs blob {d}, which was not written");
            }
        }
        if published {
            index::sync_dir(&root.join("blobs/sha256"))?;
        }
        // The pin is written while this writer still holds gc.lock shared, so
        // a collection cannot run between publishing the blobs and pinning them.
        pins::put(root, key, &md)?;
        self.store.load_image(&md)
    }

    /// Store a manifest (kept byte for byte, so its digest is preserved) whose
    /// config and layers were written with `write_blob`, and name the image.
    /// If an image with the same config (image id) exists, the names go to it.
    pub fn add_manifest(
        &mut self,
        mbytes: &[u8],
        media_type: MediaType,
        names: &[String],
    ) -> Result<Image> {
        let md = digest::of_bytes(mbytes);
        let what = format!("manifest {md}");
        let manifest = parse_manifest(mbytes, &what).map_err(crate::chain::Context::msg)?;
        self.write_blob(mbytes, Some(&md), &what)?;
        let mut needed = vec![manifest.config().digest().clone()];
        needed.extend(manifest.layers().iter().map(|l| l.digest().clone()));
        for d in &needed {
            if self.known_size(d).is_none() {
                crate::chain::bail!("{what} needs blob {d}, which was not written");
            }
        }
        let root = &self.store.root;
        let _l = lock::index(root)?;
        let mut entries = index::read(root)?;
        // One manifest per image id: a second copy of the same image (e.g. the
        // docker-archive form of an OCI image) just adds names to the first.
        let existing = entries.iter().map(|e| e.desc.clone()).find(|desc| {
            blobs::read(root, desc.digest())
                .ok()
                .and_then(|b| parse_manifest(&b, "").ok())
                .is_some_and(|m| m.config().digest() == manifest.config().digest())
        });
        let desc = match existing {
            Some(d) => d,
            None => {
                let mut published = false;
                for d in needed.iter().chain([&md]) {
                    if let Some(p) = self.staged.remove(d) {
                        blobs::publish(root, &p, d)?;
                        published = true;
                    }
                }
                if published {
                    index::sync_dir(&root.join("blobs/sha256"))?;
                }
                Descriptor::new(media_type, mbytes.len() as u64, md)
            }
        };
        if names.is_empty() && !entries.iter().any(|e| e.desc.digest() == desc.digest()) {
            entries.push(Entry {
                desc: desc.clone(),
                name: None,
            });
        }
        for n in names {
            set_name(&mut entries, &desc, n);
        }
        index::write(root, &entries)?;
        let mut image = self.store.load_image(desc.digest())?;
        image.names = entries
            .iter()
            .filter(|e| e.desc.digest() == desc.digest())
            .filter_map(|e| e.name.clone())
            .collect();
        Ok(image)
    }
}

/// Point `name` at `desc`: take it off whichever image had it (that image
/// stays, untagged, if it has no other name) and drop `desc`'s untagged entry.
pub(super) fn set_name(entries: &mut Vec<Entry>, desc: &Descriptor, name: &str) {
    let mut orphaned = None;
    if let Some(i) = entries.iter().position(|e| e.name.as_deref() == Some(name)) {
        let old = entries.remove(i).desc;
        if !entries.iter().any(|e| e.desc.digest() == old.digest()) {
            orphaned = Some(old);
        }
    }
    entries.retain(|e| !(e.name.is_none() && e.desc.digest() == desc.digest()));
    if let Some(old) = orphaned.filter(|o| o.digest() != desc.digest()) {
        entries.push(Entry {
            desc: old,
            name: None,
        });
    }
    entries.push(Entry {
        desc: desc.clone(),
        name: Some(name.to_string()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dirs::Dirs;
    use oci_spec::image::{ImageConfigurationBuilder, RootFsBuilder};

    fn store(dir: &Path) -> Store {
        let dirs = Dirs {
            store: dir.join("root"),
            state: dir.join("state"),
            config: dir.join("config"),
        };
        Store::open(&dirs).unwrap()
    }

    fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
        b.into_inner().unwrap()
    }

    fn config(diff_ids: Vec<String>, cmd: &str) -> ImageConfiguration {
        let mut cfg = oci_spec::image::Config::default();
        cfg.set_cmd(Some(vec![cmd.to_string()]));
        ImageConfigurationBuilder::default()
            .config(cfg)
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(diff_ids)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn layers_images_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let tar = tar_with("hello", b"world");
        let mut w = s.writer().unwrap();
        let (desc, diff_id) = w.write_layer(&tar[..], "test layer").unwrap();
        assert_eq!(diff_id, digest::of_bytes(&tar));
        assert_ne!(*desc.digest(), diff_id, "the stored layer is compressed");
        // Nothing is visible before the image is added.
        assert!(!blobs::path(&s.root, desc.digest()).exists());
        let a = w
            .add_image(
                &config(vec![diff_id.to_string()], "a"),
                vec![desc.clone()],
                &["x/a:1".into()],
            )
            .unwrap();
        assert!(blobs::path(&s.root, desc.digest()).exists());
        assert_eq!(a.names, vec!["x/a:1"]);
        // The same config again: same image, one more name.
        let again = w
            .add_image(
                &config(vec![diff_id.to_string()], "a"),
                vec![desc.clone()],
                &["x/a:2".into()],
            )
            .unwrap();
        assert_eq!(again.id, a.id);
        assert_eq!(again.names, vec!["x/a:1", "x/a:2"]);
        // A name moves to the newer image; the old one keeps its other name.
        let b = w
            .add_image(
                &config(vec![diff_id.to_string()], "b"),
                vec![desc],
                &["x/a:1".into()],
            )
            .unwrap();
        drop(w);
        let all = s.images().unwrap();
        assert_eq!(all.len(), 2);
        let names = |id: &str| all.iter().find(|i| i.id == id).unwrap().names.clone();
        assert_eq!(names(&a.id), vec!["x/a:2"]);
        assert_eq!(names(&b.id), vec!["x/a:1"]);
        // Taking the last name off leaves the image, untagged.
        s.tag(&b, &["x/a:2".into()]).unwrap();
        let all = s.images().unwrap();
        assert!(all.iter().any(|i| i.id == a.id && i.names.is_empty()));
        // The scratch space is gone with the writer.
        assert_eq!(std::fs::read_dir(s.root.join("tmp")).unwrap().count(), 0);
    }

    #[test]
    fn a_spooled_blob_is_taken_under_its_producers_digest() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let tar = tar_with("hello", b"world");
        let mut w = s.writer().unwrap();
        // More than one writeback window, written in odd pieces.
        let data: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
        let (path, mut spool) = w.spool("layer").unwrap();
        for piece in data.chunks(100_003) {
            spool.write_all(piece).unwrap();
        }
        drop(spool);
        let d = digest::of_bytes(&data);
        let size = data.len() as u64;
        let e = w.add_spooled(&path, &d, size + 1, "the layer").unwrap_err();
        assert!(e.to_string().contains("its writer reported"), "{e}");
        let e = w
            .add_spooled(&dir.path().join("elsewhere"), &d, size, "the layer")
            .unwrap_err();
        assert!(e.to_string().contains("scratch dir"), "{e}");
        assert_eq!(
            w.add_spooled(&path, &d, size, "the layer").unwrap(),
            (d.clone(), size)
        );
        // Published with the image that uses it, byte for byte.
        let (base, diff_id) = w.write_layer(&tar[..], "base").unwrap();
        let desc = Descriptor::new(MediaType::ImageLayerZstd, size, d.clone());
        w.add_image(
            &config(vec![diff_id.to_string(), diff_id.to_string()], "a"),
            vec![base, desc],
            &["x/spooled:1".into()],
        )
        .unwrap();
        drop(w);
        assert!(std::fs::read(blobs::path(&s.root, &d)).unwrap() == data);
        // The same content spooled again: the stored copy is kept.
        let mut w = s.writer().unwrap();
        let (again, mut spool) = w.spool("layer").unwrap();
        spool.write_all(&data).unwrap();
        w.add_spooled(&again, &d, size, "the layer").unwrap();
        assert!(!again.exists());
        // A stored digest named for content of another size is refused.
        let (short, mut spool) = w.spool("layer").unwrap();
        spool.write_all(b"other").unwrap();
        drop(spool);
        let e = w.add_spooled(&short, &d, 5, "the layer").unwrap_err();
        assert!(e.to_string().contains("its writer named is"), "{e}");
    }

    #[test]
    fn digest_mismatch_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let mut w = s.writer().unwrap();
        let wrong = digest::of_bytes(b"something else");
        let e = w
            .write_blob(&b"data"[..], Some(&wrong), "blob X of image Y")
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("blob X of image Y") && msg.contains("corrupt"),
            "{msg}"
        );
        assert_eq!(std::fs::read_dir(w.scratch()).unwrap().count(), 0);
        let e = w
            .add_image(
                &config(vec![], "a"),
                vec![Descriptor::new(MediaType::ImageLayer, 4, wrong)],
                &[],
            )
            .unwrap_err();
        assert!(e.to_string().contains("was not written"), "{e}");
        drop(w);
        assert!(s.images().unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(s.root.join("blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
    }
}
