//! `save`: images out of the store as a `docker save` archive (uncompressed
//! layer tars named by diff id, `manifest.json` with `RepoTags`), an OCI
//! archive (a tar of an OCI layout whose index names each image with
//! `org.opencontainers.image.ref.name`) or an OCI layout directory.
//!
//! Output is built beside its destination and renamed into place when
//! complete, so a failed save leaves no partial file or directory; only a
//! stream to stdout cannot be taken back. Every blob is checked against its
//! digest on the way out, so a damaged store is not silently exported. It
//! reads the store and never writes to it.

use super::media;
use crate::chain::{bail, WithContext};
use crate::layer::codec::{self, Compression, Compressor};
use crate::oci::digest::{self, Hasher};
use crate::oci::source::REF_NAME;
use crate::snapshot::Result;
use crate::store::{Image, Store};
use oci_spec::image::{Descriptor, Digest, ImageIndexBuilder, MediaType, SCHEMA_VERSION};
use std::collections::{HashMap, HashSet};
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The output formats, as podman names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `docker save`'s format; `docker load` and `podman load` read it.
    DockerArchive,
    /// A tar of an OCI image layout.
    OciArchive,
    /// An OCI image layout directory.
    OciDir,
}

crate::named::named!(Format, "output format", {
    DockerArchive => "docker-archive",
    OciArchive => "oci-archive",
    OciDir => "oci-dir",
});

/// One image to save and the names to record for it.
#[derive(Debug, Clone)]
pub struct Item {
    pub image: Image,
    /// Full names; empty saves the image unnamed (loadable by id).
    pub names: Vec<String>,
}

/// Where the files of an output go: a tar stream or a directory.
pub trait Sink {
    /// A small file with the given content.
    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()>;
    /// A copy of `src`, whose content must hash to `expect` when given.
    fn file(&mut self, path: &str, src: &Path, expect: Option<&Digest>) -> Result<()>;
}

/// Write `items` into `sink` as `format`. `compression` (OCI formats only)
/// recompresses layers stored otherwise; `scratch` holds temporary files.
pub fn save(
    store: &Store,
    items: &[Item],
    format: Format,
    compression: Option<Compression>,
    scratch: &Path,
    sink: &mut dyn Sink,
) -> Result<()> {
    if items.is_empty() {
        bail!("nothing to save: name at least one image");
    }
    match format {
        Format::DockerArchive => {
            if compression.is_some_and(|c| c != Compression::None) {
                bail!("docker-archive layers are uncompressed tars: --compress applies to oci-archive and oci-dir");
            }
            docker_archive(store, items, scratch, sink)
        }
        Format::OciArchive | Format::OciDir => oci_layout(store, items, compression, scratch, sink),
    }
}

fn docker_archive(
    store: &Store,
    items: &[Item],
    scratch: &Path,
    sink: &mut dyn Sink,
) -> Result<()> {
    let mut written: HashSet<String> = HashSet::new();
    let mut manifest = Vec::new();
    for it in items {
        let im = &it.image;
        let cd = im.manifest.config().digest();
        let config_name = format!("{}.json", cd.digest());
        if written.insert(config_name.clone()) {
            sink.file(&config_name, &store.blob_path(cd), Some(cd))?;
        }
        let diff_ids = im.config.rootfs().diff_ids();
        if diff_ids.len() != im.manifest.layers().len() {
            bail!(
                "image {} is inconsistent: {} layers but {} diff ids",
                im.short_id(),
                im.manifest.layers().len(),
                diff_ids.len()
            );
        }
        let mut layers = Vec::new();
        for (n, (l, diff)) in im.manifest.layers().iter().zip(diff_ids).enumerate() {
            let diff = digest::parse(diff).map_err(crate::chain::Context::msg)?;
            let name = format!("{}.tar", diff.digest());
            if written.insert(name.clone()) {
                let what = format!("layer {} of image {}", n + 1, im.short_id());
                let (plain, expect) = uncompressed(store, l, &diff, scratch, &what)?;
                sink.file(&name, &plain, expect.as_ref())?;
                if plain.starts_with(scratch) {
                    fs_err::remove_file(&plain)?;
                }
            }
            layers.push(name);
        }
        manifest.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": it.names,
            "Layers": layers,
        }));
    }
    let bytes = serde_json::to_vec(&manifest).context("cannot encode manifest.json")?;
    sink.bytes("manifest.json", &bytes)
}

/// The layer as an uncompressed tar file, and the digest it must have when
/// copied: the blob itself when stored so (checked on the way out), else
/// decompressed into `scratch` (checked here).
fn uncompressed(
    store: &Store,
    l: &Descriptor,
    diff: &Digest,
    scratch: &Path,
    what: &str,
) -> Result<(PathBuf, Option<Digest>)> {
    let blob = store.blob_path(l.digest());
    let mut f = fs_err::File::open(&blob).with_context(|| format!("{what} is missing"))?;
    let mut head = [0u8; 4];
    let n = f.read(&mut head)?;
    if codec::detect(&head[..n]) == Compression::None {
        // Stored uncompressed: its blob digest is its diff id.
        return Ok((blob, Some(l.digest().clone())));
    }
    let f = fs_err::File::open(&blob)?;
    let mut packed = Hasher::new(BufReader::with_capacity(1 << 16, f));
    let out_path = scratch.join(diff.digest());
    let (_, tar) = codec::decompressed(&mut packed).map_err(crate::chain::Context::msg)?;
    let mut plain = Hasher::new(tar);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(&out_path)?);
    std::io::copy(&mut plain, &mut out).with_context(|| format!("cannot decompress {what}"))?;
    out.flush()?;
    let (got_plain, _) = plain.finish()?;
    let (got, _) = packed.finish()?;
    if got != *l.digest() || got_plain != *diff {
        bail!(
            "{what} is corrupt in the store (blob {}): run `hutch system check`",
            l.digest()
        );
    }
    Ok((out_path, None))
}

fn oci_layout(
    store: &Store,
    items: &[Item],
    compression: Option<Compression>,
    scratch: &Path,
    sink: &mut dyn Sink,
) -> Result<()> {
    sink.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut written: HashSet<Digest> = HashSet::new();
    // Layers recompressed once even when several images share them.
    let mut recompressed: HashMap<Digest, Descriptor> = HashMap::new();
    let mut index = Vec::new();
    for it in items {
        let im = &it.image;
        let mdigest = digest::parse(&im.manifest_digest).map_err(crate::chain::Context::msg)?;
        let mbytes = fs_err::read(store.blob_path(&mdigest))
            .with_context(|| format!("the manifest of image {} is missing", im.short_id()))?;
        let mut mtype = media_type_of(&mbytes);
        let mut layers = Vec::new();
        let mut changed = false;
        for (n, l) in im.manifest.layers().iter().enumerate() {
            let have = media::layer_compression(l.media_type());
            let want = compression.filter(|w| have.is_some_and(|h| h != *w));
            let Some(want) = want else {
                layers.push(l.clone());
                continue;
            };
            changed = true;
            let what = format!("layer {} of image {}", n + 1, im.short_id());
            let d = match recompressed.get(l.digest()) {
                Some(d) => d.clone(),
                None => {
                    let d = recompress(store, l, want, scratch, &what, sink)?;
                    written.insert(d.digest().clone());
                    recompressed.insert(l.digest().clone(), d.clone());
                    d
                }
            };
            layers.push(d);
        }
        let (mdigest, mbytes) = if changed {
            // New layer blobs need a new manifest; the config (and so the
            // image id) stays, since the diff ids do not change.
            let mut m = im.manifest.clone();
            m.set_media_type(Some(MediaType::ImageManifest));
            let mut cfg = m.config().clone();
            cfg.set_media_type(MediaType::ImageConfig);
            m.set_config(cfg);
            m.set_layers(layers);
            let bytes = serde_json::to_vec(&m).context("cannot encode a manifest")?;
            mtype = MediaType::ImageManifest;
            (digest::of_bytes(&bytes), bytes)
        } else {
            (mdigest, mbytes)
        };
        if written.insert(mdigest.clone()) {
            sink.bytes(&blob_name(&mdigest), &mbytes)?;
        }
        let cd = im.manifest.config().digest();
        if written.insert(cd.clone()) {
            sink.file(&blob_name(cd), &store.blob_path(cd), Some(cd))?;
        }
        for l in im.manifest.layers() {
            if recompressed.contains_key(l.digest()) {
                continue;
            }
            if written.insert(l.digest().clone()) {
                sink.file(
                    &blob_name(l.digest()),
                    &store.blob_path(l.digest()),
                    Some(l.digest()),
                )?;
            }
        }
        let desc = Descriptor::new(mtype, mbytes.len() as u64, mdigest);
        if it.names.is_empty() {
            index.push(desc.clone());
        }
        for n in &it.names {
            let mut d = desc.clone();
            d.set_annotations(Some(HashMap::from([(REF_NAME.to_string(), n.clone())])));
            index.push(d);
        }
    }
    let idx = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(index)
        .build()
        .context("cannot build index.json")?;
    let bytes = serde_json::to_vec(&idx).context("cannot encode index.json")?;
    sink.bytes("index.json", &bytes)
}

/// A layer in another compression, written to the sink; its new descriptor.
fn recompress(
    store: &Store,
    l: &Descriptor,
    want: Compression,
    scratch: &Path,
    what: &str,
    sink: &mut dyn Sink,
) -> Result<Descriptor> {
    let f = fs_err::File::open(store.blob_path(l.digest()))
        .with_context(|| format!("{what} is missing"))?;
    let mut packed = Hasher::new(BufReader::with_capacity(1 << 16, f));
    let tmp = scratch.join("recompressed");
    let (_, mut tar) = codec::decompressed(&mut packed).map_err(crate::chain::Context::msg)?;
    let out = std::io::BufWriter::with_capacity(1 << 20, fs_err::File::create(&tmp)?);
    let mt = media::oci_layer(want);
    let (out, info) = if want == Compression::None {
        let mut h = Hasher::new(&mut tar);
        let mut out = out;
        std::io::copy(&mut h, &mut out).with_context(|| format!("cannot decompress {what}"))?;
        let (d, size) = h.finish()?;
        (out, (d, size))
    } else {
        let mut c = Compressor::new(out, want).map_err(crate::chain::Context::msg)?;
        std::io::copy(&mut tar, &mut c).with_context(|| format!("cannot recompress {what}"))?;
        let (out, info) = c.finish().map_err(crate::chain::Context::msg)?;
        (
            out,
            (
                digest::parse(&info.digest).map_err(crate::chain::Context::msg)?,
                info.size,
            ),
        )
    };
    out.into_inner()
        .map_err(|e| crate::chain::msg!("cannot write {what}: {}", e.error()))?;
    drop(tar);
    let (got, _) = packed.finish()?;
    if got != *l.digest() {
        bail!(
            "{what} is corrupt in the store (blob {}): run `hutch system check`",
            l.digest()
        );
    }
    sink.file(&blob_name(&info.0), &tmp, Some(&info.0))?;
    fs_err::remove_file(&tmp)?;
    Ok(Descriptor::new(mt, info.1, info.0))
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm(), d.digest())
}

/// A stored manifest's own media type (Docker's or OCI's).
fn media_type_of(manifest: &[u8]) -> MediaType {
    serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(MediaType::from))
        .unwrap_or(MediaType::ImageManifest)
}

/// A tar stream: deterministic headers (mode 0644, owner 0, mtime 0).
pub struct TarSink<W: Write> {
    b: tar::Builder<W>,
    dirs: HashSet<String>,
}

impl<W: Write> TarSink<W> {
    pub fn new(out: W) -> Self {
        TarSink {
            b: tar::Builder::new(out),
            dirs: HashSet::new(),
        }
    }

    /// End the archive and hand back the writer.
    pub fn finish(self) -> Result<W> {
        self.b
            .into_inner()
            .context("cannot finish the archive")
            .map_err(Into::into)
    }

    fn header(size: u64, kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// Directory entries for the parents of `path`, once each.
    fn parents(&mut self, path: &str) -> Result<()> {
        let mut acc = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for p in &parts[..parts.len() - 1] {
            acc.push_str(p);
            acc.push('/');
            if self.dirs.insert(acc.clone()) {
                let mut h = Self::header(0, tar::EntryType::Directory, 0o755);
                self.b
                    .append_data(&mut h, &acc, std::io::empty())
                    .context("cannot write the archive")?;
            }
        }
        Ok(())
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.parents(path)?;
        let mut h = Self::header(data.len() as u64, tar::EntryType::Regular, 0o644);
        self.b
            .append_data(&mut h, path, data)
            .context("cannot write the archive")
            .map_err(Into::into)
    }

    fn file(&mut self, path: &str, src: &Path, expect: Option<&Digest>) -> Result<()> {
        self.parents(path)?;
        let f = fs_err::File::open(src)?;
        let size = f.metadata()?.len();
        let mut h = Self::header(size, tar::EntryType::Regular, 0o644);
        let input = BufReader::with_capacity(1 << 16, f);
        let Some(expect) = expect else {
            return self
                .b
                .append_data(&mut h, path, input)
                .context("cannot write the archive")
                .map_err(Into::into);
        };
        let mut hashed = Hasher::new(input);
        self.b
            .append_data(&mut h, path, &mut hashed)
            .context("cannot write the archive")?;
        check(hashed, src, expect)
    }
}

/// An OCI layout directory being filled.
pub struct DirSink {
    pub root: PathBuf,
}

impl Sink for DirSink {
    fn bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let p = self.root.join(path);
        if let Some(parent) = p.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&p, data)?;
        Ok(())
    }

    fn file(&mut self, path: &str, src: &Path, expect: Option<&Digest>) -> Result<()> {
        let p = self.root.join(path);
        if let Some(parent) = p.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let input = BufReader::with_capacity(1 << 16, fs_err::File::open(src)?);
        let mut out = fs_err::File::create(&p)?;
        let copy_err = || format!("cannot copy {} to {}", src.display(), p.display());
        let Some(expect) = expect else {
            std::io::copy(&mut { input }, &mut out).with_context(copy_err)?;
            return Ok(());
        };
        let mut hashed = Hasher::new(input);
        std::io::copy(&mut hashed, &mut out).with_context(copy_err)?;
        check(hashed, src, expect)
    }
}

fn check<R: Read>(h: Hasher<R>, src: &Path, want: &Digest) -> Result<()> {
    let (got, _) = h.finish()?;
    if got != *want {
        bail!(
            "blob {want} is corrupt in the store ({} hashes to {got}): run `hutch system check`",
            src.display()
        );
    }
    Ok(())
}
