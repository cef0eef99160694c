//! The image store: an OCI image layout (blobs/sha256, index.json with
//! `org.opencontainers.image.ref.name` annotations) plus hutch's caches beside
//! it (unpacked layers per id mapping, short overlay links, temp space, lock).
//!
//! It owns every write under the store root and makes each one atomic. It does
//! not run containers and does not parse Dockerfiles.

use crate::dirs::Dirs;
use crate::sandbox::idmap::{IdMapping, IdSources};
use crate::ui::Printer;
use std::path::PathBuf;

/// An open store.
pub struct Store {
    pub root: PathBuf,
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
    /// Full names (`docker.io/library/busybox:1.38.0-musl`) pointing at this image.
    pub names: Vec<String>,
}

impl Store {
    /// Open (creating if needed) the store at `dirs.store`.
    pub fn open(dirs: &Dirs) -> anyhow::Result<Store> {
        Ok(Store {
            root: dirs.store.clone(),
        })
    }

    /// Resolve a name (short or full, with tag or digest) or an id (prefix) to an image.
    pub fn image(&self, name: &str) -> anyhow::Result<Image> {
        anyhow::bail!("image store not implemented yet: cannot resolve {name}")
    }

    /// Directories holding the image's layers unpacked for `map`, lowest layer
    /// first, ready to be overlay lower dirs. Unpacks (once) what is missing.
    pub fn layer_dirs(
        &self,
        image: &Image,
        map: &IdMapping,
        src: &IdSources,
        printer: &Printer,
    ) -> anyhow::Result<Vec<PathBuf>> {
        let _ = (image, map, src, printer);
        anyhow::bail!("image store not implemented yet")
    }
}
