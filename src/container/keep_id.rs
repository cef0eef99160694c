//! keep-id on native overlay without a copy of the image: the metadata
//! layer (`rootfs::metacopy`) of an image for one id mapping, made once in
//! that mapping's user namespace and kept under
//! `ROOT/o-meta/<image id>-<mapping>` (gc removes it with its image).
//!
//! It decides and caches; the layer's contents are `rootfs::metacopy`'s.

use crate::report::Report;
use crate::rootfs::fuse::IdShift;
use crate::rootfs::Features;
use crate::store::{Image, Store};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use crate::userns::Reach;
use std::path::{Path, PathBuf};

/// The metadata layer of `skeleton` and `image` for `mapping` and the
/// data-only layer it points into (the layers unpacked for the default
/// mapping). None, with a line saying why, when this kernel or image
/// cannot have one (or the default mapping's layers cannot be unpacked):
/// the caller then unpacks the layers for `mapping`, and reports what
/// fails there.
pub(super) fn metadata(
    store: &Store,
    image: &Image,
    skeleton: &Path,
    mapping: &IdMapping,
    features: &Features,
    src: &IdSources,
    report: &dyn Report,
) -> Option<(PathBuf, PathBuf)> {
    let fallback = "keep-id unpacks another copy of the image for this id mapping";
    if let Some(why) = &features.data_layers_error {
        report.info(&format!(
            "{fallback}: overlayfs cannot use data-only layers here ({why})"
        ));
        return None;
    }
    let unpacked = IdMapping::detect(UsernsRequest::Auto, src)
        .map_err(|e| e.to_string())
        .and_then(|base| {
            let dirs = store
                .layer_dirs(image, &base, src, report)
                .map_err(|e| crate::chain::line(&e))?;
            Ok((base, dirs))
        });
    let (base, dirs) = match unpacked {
        Ok(u) => u,
        Err(e) => {
            report.info(&format!("{fallback}: {e}"));
            return None;
        }
    };
    let mut layers = vec![skeleton.to_path_buf()];
    layers.extend(dirs);
    let data = layers
        .get(1)
        .and_then(|l| l.parent())
        .map(Path::to_path_buf)?;
    let dir = store.root.join(crate::store::META_DIR);
    let meta = dir.join(name(&image.id, &mapping.key(), &base.key(), skeleton));
    if meta.is_dir() {
        return Some((meta, data));
    }
    let shift = IdShift::between(mapping, &base);
    // Built in a scratch dir: one a killed hutch leaves is the store's
    // garbage (`system check --repair`, prune), never a half layer here.
    let scratch = match store.scratch() {
        Ok(s) => s,
        Err(e) => {
            report.info(&format!("{fallback}: {}", crate::chain::line(&e)));
            return None;
        }
    };
    let tmp = scratch.path().join("meta");
    // Reached through directories held open here: the namespace's root
    // may not traverse the store's parents (see `userns::reach`).
    let made = std::fs::create_dir_all(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))
        .and_then(|()| {
            let at = |p: &Path| Reach::new(p).map_err(|e| e.to_string());
            let held = layers
                .iter()
                .map(|l| at(l))
                .collect::<Result<Vec<_>, _>>()?;
            let tmp_at = at(&tmp)?;
            crate::userns::run_in_userns(mapping, src, || {
                let layers: Vec<PathBuf> = held.iter().map(Reach::path).collect();
                let tmp = tmp_at.path();
                let r = crate::rootfs::metacopy::build(&layers, &shift, &tmp);
                if r.is_err() {
                    let _ = std::fs::remove_dir_all(&tmp);
                }
                r.map_err(|e| e.to_string())
            })
            .map_err(|e| e.to_string())
        });
    if let Err(e) = made {
        report.info(&format!("{fallback}: cannot make its metadata layer: {e}"));
        return None;
    }
    crate::fault::point("keep-id-meta-built");
    // Moved as root of the namespace: moving a directory to another parent
    // takes write access to the directory itself, and that root owns it.
    let placed = Reach::new(&tmp)
        .and_then(|from| Reach::new(&meta).map(|to| (from, to)))
        .map_err(|e| e.to_string())
        .and_then(|(from, to)| {
            crate::userns::run_in_userns(mapping, src, || {
                match std::fs::rename(from.path(), to.path()) {
                    Ok(()) => Ok(()),
                    // A concurrent start won: its layer is as good as ours.
                    Err(_) if to.path().is_dir() => {
                        std::fs::remove_dir_all(from.path()).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(format!("{}: {e}", meta.display())),
                }
            })
            .map_err(|e| e.to_string())
        });
    if let Err(e) = placed {
        report.info(&format!(
            "{fallback}: cannot put its metadata layer in place: {e}"
        ));
        return None;
    }
    Some((meta, data))
}

/// The metadata layer's name for image `image_id`, id mapping `mapping_key`
/// over the default mapping `base_key`, with `skeleton` below the image:
/// the image id first, so that gc can tell whose it is.
pub fn name(image_id: &str, mapping_key: &str, base_key: &str, skeleton: &Path) -> String {
    let key = format!("{mapping_key}\n{base_key}\n{}", skeleton.display());
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
    format!("{}-{}", image_id.trim_start_matches("sha256:"), &hash[..8])
}
