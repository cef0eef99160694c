//! `index.json`: the list of images in the store. Each tagged image is one
//! manifest descriptor whose `org.opencontainers.image.ref.name` annotation
//! holds the full name (`docker.io/library/busybox:1.38.0-musl`), so
//! `skopeo inspect oci:ROOT:docker.io/library/busybox:1.38.0-musl` and
//! `umoci ls --layout ROOT` read the store directly. An untagged image is one
//! descriptor without that annotation.
//!
//! This module reads and atomically replaces the file; callers hold the index
//! lock around read-modify-write. It does not touch blobs.

use super::Result;
use crate::chain::WithContext;
use crate::oci::source::REF_NAME;
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder, MediaType, SCHEMA_VERSION};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// One line of the index: a manifest and the name it carries, if any.
#[derive(Debug, Clone)]
pub struct Entry {
    pub desc: Descriptor,
    pub name: Option<String>,
}

/// Read the entries; a store without index.json has none.
pub fn read(root: &Path) -> Result<Vec<Entry>> {
    let path = root.join("index.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read {}", path.display()))
                .map_err(Into::into)
        }
    };
    let idx: ImageIndex = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{} is not a valid OCI index: restore it or remove the store",
            path.display()
        )
    })?;
    Ok(idx
        .manifests()
        .iter()
        .map(|d| Entry {
            name: d
                .annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME).cloned()),
            desc: d.clone(),
        })
        .collect())
}

/// Replace index.json with `entries`: temp file, fsync, rename, fsync the dir.
pub fn write(root: &Path, entries: &[Entry]) -> Result<()> {
    let manifests: Vec<Descriptor> = entries
        .iter()
        .map(|e| {
            let mut d = e.desc.clone();
            let mut ann: HashMap<String, String> = d.annotations().clone().unwrap_or_default();
            ann.remove(REF_NAME);
            if let Some(n) = &e.name {
                ann.insert(REF_NAME.to_string(), n.clone());
            }
            d.set_annotations((!ann.is_empty()).then_some(ann));
            d
        })
        .collect();
    let idx = ImageIndexBuilder::default()
        .schema_version(SCHEMA_VERSION)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests)
        .build()
        .context("cannot build the store index")?;
    let bytes = serde_json::to_vec_pretty(&idx).context("cannot encode the store index")?;
    write_atomic(root, "index.json", &bytes)
}

/// Write `root/name` so that readers see the old or the new content, never a mix.
pub fn write_atomic(root: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let dest = root.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(root)
        .with_context(|| format!("cannot create a temp file in {}", root.display()))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", dest.display()))?;
    tmp.persist(&dest)
        .with_context(|| format!("cannot replace {}", dest.display()))?;
    sync_dir(root)
}

/// fsync a directory so a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
        .map_err(Into::into)
}
