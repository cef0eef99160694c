//! The unpacked-layer cache: `ROOT/o/<mapping>/<diff-id hex>/`, one directory
//! per layer and id mapping, ready to be an overlay lower dir.
//!
//! Files must carry the owners the image says as seen through the mapping, so
//! a layer is unpacked inside a user namespace with that mapping (files then
//! belong to subordinate ids on the host) and the cache is keyed by it;
//! `<mapping>` is a short hash of the mapping to keep overlay mount options
//! small. A layer is unpacked into the writer's scratch dir, its blob digest
//! checked, then renamed into place, so a half-unpacked layer is never seen;
//! when two processes race, the first rename wins and the loser drops its copy.
//!
//! This module does not mount anything and does not decide when a cached layer
//! may go (see `gc`).

use super::tmp::TmpDir;
use super::Result;
use super::{blobs, lock, Image, Store};
use crate::chain::{bail, WithContext};
use crate::layer::unpack::{unpack, Owners, UnpackOptions};
use crate::oci::digest::{self, Hasher};
use crate::report::Report;
use crate::userns::idmap::{IdMapping, IdSources, MapMode};
use crate::userns::{run_in_userns, Reach};
use oci_spec::image::Descriptor;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

/// `ROOT/o/<mapping>`: where layers unpacked for `map` live.
pub fn mapping_dir(root: &Path, map: &IdMapping) -> PathBuf {
    mapping_dir_for_key(root, &map.key())
}

/// `ROOT/o/<mapping>` for a mapping's key (`IdMapping::key`), as container
/// records keep it.
pub fn mapping_dir_for_key(root: &Path, key: &str) -> PathBuf {
    let h = hex::encode(Sha256::digest(key.as_bytes()));
    root.join("o").join(&h[..8])
}

pub fn layer_dirs(
    store: &Store,
    image: &Image,
    map: &IdMapping,
    src: &IdSources,
    report: &dyn Report,
) -> Result<Vec<PathBuf>> {
    let root = &store.root;
    let _keep = lock::keep(root)?;
    let diff_ids = image.config.rootfs().diff_ids();
    let layers = image.manifest.layers();
    if diff_ids.len() != layers.len() {
        bail!(
            "image {} is inconsistent: its manifest has {} layers but its config lists {} diff ids",
            image.short_id(),
            layers.len(),
            diff_ids.len()
        );
    }
    let base = mapping_dir(root, map);
    fs_err::create_dir_all(&base)?;
    let mut out = Vec::with_capacity(layers.len());
    for (n, (desc, diff)) in layers.iter().zip(diff_ids).enumerate() {
        let diff = digest::parse(diff)
            .map_err(|e| crate::chain::msg!("image {}: layer {}: {e}", image.short_id(), n + 1))?;
        let dir = base.join(diff.digest());
        if !dir.is_dir() {
            report.debug(&format!("unpacking layer {} ({})", n + 1, desc.digest()));
            unpack_one(store, desc, &dir, map, src, report).with_context(|| {
                format!(
                    "cannot unpack layer {} of image {}",
                    n + 1,
                    image.short_id()
                )
            })?;
        }
        out.push(dir);
    }
    Ok(out)
}

fn unpack_one(
    store: &Store,
    desc: &Descriptor,
    dest: &Path,
    map: &IdMapping,
    src: &IdSources,
    report: &dyn Report,
) -> Result<()> {
    let blob = blobs::path(&store.root, desc.digest());
    if !blob.is_file() {
        bail!("blob {} is missing from the store", desc.digest());
    }
    let tmp = TmpDir::new(&store.root)?;
    let work = tmp.path().join("l");
    // A layer's root without a `./` entry keeps this mode, as its implicit
    // parents do theirs (`layer::tree`): the copy driver's `/` is the top
    // layer's root.
    crate::modes::create_public_dir(&work)?;
    let owners = if map.mode == MapMode::Single || map.uids.len() < 2 {
        Owners::Caller
    } else {
        Owners::FromTar
    };
    let expected = desc.digest().clone();
    // Opened here, as the caller: keep-id's namespace root may not be able
    // to traverse the directories above the store (see `userns::reach`).
    let f = fs_err::File::open(&blob)?;
    let work_at = Reach::new(&work)?;
    let dest_at = Reach::new(dest)?;
    run_in_userns(map, src, || {
        let (work, dest) = (work_at.path(), dest_at.path());
        let mut input = Hasher::new(std::io::BufReader::with_capacity(1 << 16, f));
        let result = unpack(&mut input, &work, &UnpackOptions { owners })
            .map_err(|e| format!("blob {expected}: {e}"))
            .and_then(|unpacked| {
                let (got, _) = input
                    .finish()
                    .map_err(|e| format!("cannot read blob {expected}: {e}"))?;
                if got != expected {
                    return Err(format!(
                        "blob {expected} is corrupt: its content hashes to {got}; remove the image and load it again"
                    ));
                }
                Ok(unpacked)
            });
        let unpacked = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&work);
                return Err(e);
            }
        };
        for s in unpacked.skipped_summary() {
            report.warn(&format!("layer {expected}: {s}"));
        }
        // Renamed from inside the namespace: moving a directory to a new
        // parent needs write access to it, which its mapped owner has.
        if let Err(e) = std::fs::rename(&work, &dest) {
            let _ = std::fs::remove_dir_all(&work);
            if !dest.is_dir() {
                return Err(format!(
                    "cannot move the unpacked layer to {}: {e}",
                    dest_at.shown().display()
                ));
            }
            // Another process unpacked the same layer first; use theirs.
        }
        Ok(())
    })
    .map_err(crate::chain::Context::msg)?;
    drop(tmp);
    Ok(())
}
