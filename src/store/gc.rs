//! Removing images and collecting what no image needs any more: blobs,
//! unpacked layers (and keep-id's metadata layers), and scratch
//! directories of killed processes.
//!
//! Removal holds `gc.lock` exclusive (so no writer is between putting blobs in
//! place and naming them) and the index lock. Unpacked layers may hold files
//! owned by subordinate ids that the caller cannot delete directly, so they are
//! deleted from inside a user namespace with the caller's mapping. A blob is
//! deleted only when no remaining image's manifest names it and no build
//! cache pin (see `pins`) needs it.

use super::index::{self, Entry};
use super::Result;
use super::{lock, pins, resolve, tmp, Image, MetaKind, Store};
use crate::chain::{bail, WithContext};
use crate::oci::reference::Reference;
use crate::userns::idmap::{IdMapping, IdSources};
use crate::userns::run_in_userns;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What removing one argument did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Names taken off.
    pub untagged: Vec<String>,
    /// The image id, when the image itself was deleted.
    pub deleted: Option<String>,
}

pub fn remove(
    store: &Store,
    targets: &[String],
    force: bool,
    users: &super::InUse,
    map: &IdMapping,
    src: &IdSources,
) -> Result<Vec<Removed>> {
    let root = &store.root;
    let _gc = lock::collect(root)?;
    let _l = lock::index(root)?;
    let (mut images, damaged) = store.scan()?;
    let mut entries = index::read(root)?;
    let mut out = Vec::new();
    // Resolve everything before changing anything: one bad name removes nothing.
    let mut plan: Vec<(usize, Vec<String>)> = Vec::new();
    for t in targets {
        // A damaged image (a blob gone) can still be removed by name or digest.
        let full = Reference::parse_tag(t).map(|r| r.tagged_name()).ok();
        if let Some(d) = damaged.iter().find(|d| {
            d.entry.name.is_some() && d.entry.name == full
                || d.entry.desc.digest().to_string() == *t
        }) {
            let digest = d.entry.desc.digest().clone();
            let before = entries.len();
            entries.retain(|e| *e.desc.digest() != digest);
            if entries.len() != before {
                out.push(Removed {
                    untagged: damaged
                        .iter()
                        .filter(|x| *x.entry.desc.digest() == digest)
                        .filter_map(|x| x.entry.name.clone())
                        .collect(),
                    deleted: Some(digest.to_string()),
                });
            }
            continue;
        }
        let cands: Vec<resolve::Candidate> = images
            .iter()
            .map(|im| resolve::Candidate {
                id: &im.id,
                manifest: &im.manifest_digest,
                names: &im.names,
            })
            .collect();
        let i = resolve::resolve(&cands, t)?;
        let im = &images[i];
        let names = match name_used(im, t) {
            Some(n) => vec![n],
            None if im.names.len() > 1 && !force => bail!(
                "image {} has several names ({}): remove them one by one, or use -f to remove them all",
                im.short_id(),
                im.names.join(", ")
            ),
            None => im.names.clone(),
        };
        plan.push((i, names));
    }
    // Judged over the whole plan: `rmi a b` must not take both names of an
    // image a container uses when `rmi a` alone would be refused.
    if !force {
        for (i, _) in &plan {
            let im = &images[*i];
            let Some(c) = users.get(&im.id) else { continue };
            let all_go = im
                .names
                .iter()
                .all(|n| plan.iter().any(|(j, ns)| j == i && ns.contains(n)));
            if all_go {
                bail!(
                    "image {} is used by container {c}: remove the container first, or use -f to only untag it",
                    im.short_id()
                );
            }
        }
    }
    for (i, names) in plan {
        let im = &mut images[i];
        let untagged: Vec<String> = names.into_iter().filter(|n| im.names.contains(n)).collect();
        im.names.retain(|n| !untagged.contains(n));
        entries.retain(|e| !e.name.as_ref().is_some_and(|n| untagged.contains(n)));
        // An image a container runs on stays (untagged) until the container goes.
        if im.names.is_empty() && users.contains_key(&im.id) {
            let md = im.manifest_digest.clone();
            if !entries.iter().any(|e| e.desc.digest().to_string() == md) {
                if let Some(desc) = index::read(root)?
                    .into_iter()
                    .find(|e| e.desc.digest().to_string() == md)
                {
                    entries.push(Entry {
                        desc: desc.desc,
                        name: None,
                    });
                }
            }
            out.push(Removed {
                untagged,
                deleted: None,
            });
            continue;
        }
        let deleted = if im.names.is_empty() {
            let md = im.manifest_digest.clone();
            let before = entries.len();
            entries.retain(|e| e.desc.digest().to_string() != md);
            // Removing the image twice in one call reports it once.
            (before != entries.len() || !untagged.is_empty()).then(|| im.id.clone())
        } else {
            None
        };
        if untagged.is_empty() && deleted.is_none() {
            continue;
        }
        out.push(Removed { untagged, deleted });
    }
    index::write(root, &entries)?;
    collect(store, &entries, map, src)?;
    Ok(out)
}

pub fn prune(
    store: &Store,
    all: bool,
    users: &super::InUse,
    map: &IdMapping,
    src: &IdSources,
) -> Result<Vec<Removed>> {
    let root = &store.root;
    let _gc = lock::collect(root)?;
    let _l = lock::index(root)?;
    let (images, _damaged) = store.scan()?;
    let mut entries = index::read(root)?;
    let mut out = Vec::new();
    for im in images {
        if users.contains_key(&im.id) || !(all || im.names.is_empty()) {
            continue;
        }
        entries.retain(|e| e.desc.digest().to_string() != im.manifest_digest);
        out.push(Removed {
            untagged: im.names.clone(),
            deleted: Some(im.id.clone()),
        });
    }
    index::write(root, &entries)?;
    collect(store, &entries, map, src)?;
    Ok(out)
}

/// The name `input` refers to on `im`, when it was given as a name (not an id).
fn name_used(im: &Image, input: &str) -> Option<String> {
    let r = Reference::parse(input).ok()?;
    if r.digest.is_some() {
        return None;
    }
    let full = r.tagged_name();
    if im.names.contains(&full) {
        return Some(full);
    }
    let short = r.short.as_ref()?;
    let suffix = format!("/{short}:{}", r.tag.as_deref().unwrap_or("latest"));
    im.names.iter().find(|n| n.ends_with(&suffix)).cloned()
}

/// Delete blobs and unpacked layers that no entry needs, and stale scratch dirs.
/// Callers hold both locks.
pub(super) fn collect(
    store: &Store,
    entries: &[Entry],
    map: &IdMapping,
    src: &IdSources,
) -> Result<()> {
    let root = &store.root;
    let mut keep_blobs: HashSet<String> = HashSet::new();
    let mut keep_layers: HashSet<String> = HashSet::new();
    // Pinned build results count like images, except that a damaged pin
    // (a blob gone) is simply no longer a cache entry.
    let pinned = pins::all(root)?;
    let listed = entries.iter().map(|e| (e.desc.digest().clone(), true));
    for (manifest, must_load) in listed.chain(pinned.into_iter().map(|m| (m, false))) {
        let im = match store.load_image(&manifest) {
            Ok(im) => im,
            // Which blobs a damaged image still needs is unknown: keep them all.
            Err(_) if must_load => return Ok(()),
            Err(_) => continue,
        };
        keep_blobs.insert(manifest.digest().to_string());
        keep_blobs.insert(im.manifest.config().digest().digest().to_string());
        for l in im.manifest.layers() {
            keep_blobs.insert(l.digest().digest().to_string());
        }
        for d in im.config.rootfs().diff_ids() {
            keep_layers.insert(d.trim_start_matches("sha256:").to_string());
        }
    }
    let bdir = root.join("blobs/sha256");
    for name in list(&bdir)? {
        if !keep_blobs.contains(&name) {
            let p = bdir.join(&name);
            fs_err::remove_file(&p)?;
        }
    }
    let mut doomed: Vec<PathBuf> = Vec::new();
    let obase = root.join("o");
    for m in list(&obase)? {
        let mdir = obase.join(&m);
        for l in list(&mdir)? {
            if !keep_layers.contains(&l) {
                doomed.push(mdir.join(l));
            }
        }
    }
    // keep-id metadata layers go with their image.
    for m in super::meta::entries(root) {
        let gone = match &m.kind {
            MetaKind::Layer { image } => !keep_blobs.contains(image),
            MetaKind::Leftover => true,
        };
        if gone {
            doomed.push(m.path);
        }
    }
    let stale = tmp::stale(root)?;
    doomed.extend(stale.iter().map(|s| s.dir.clone()).filter(|d| d.exists()));
    if !doomed.is_empty() {
        remove_trees(&doomed, map, src)?;
    }
    for s in &stale {
        let _ = std::fs::remove_file(&s.lock);
    }
    // Mapping dirs left empty go too (best effort: another run may refill them).
    for m in list(&obase)? {
        let _ = std::fs::remove_dir(obase.join(m));
    }
    Ok(())
}

/// Remove directory trees whose files may belong to subordinate ids.
fn remove_trees(paths: &[PathBuf], map: &IdMapping, src: &IdSources) -> Result<()> {
    // Held open here: with keep-id the namespace's root may not traverse
    // the store's parents (see `userns::reach`); one already gone is done.
    let mut held = Vec::with_capacity(paths.len());
    for p in paths {
        match crate::userns::Reach::new(p) {
            Ok(at) => held.push((p, at)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    let rm = || -> Result<(), String> {
        for (p, at) in &held {
            match std::fs::remove_dir_all(at.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove {}: {e}", p.display())),
            }
        }
        Ok(())
    };
    run_in_userns(map, src, rm)
        .or_else(|e| rm().map_err(|e2| format!("{e2} (in a user namespace: {e})")))
        .map_err(crate::chain::Context::msg)
        .context("cannot remove unused unpacked layers")
        .map_err(Into::into)
}

fn list(dir: &Path) -> Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| {
                e.map(|e| e.file_name().to_string_lossy().into_owned())
                    .with_context(|| format!("cannot list {}", dir.display()))
                    .map_err(Into::into)
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
        Err(e) => Err(e)
            .with_context(|| format!("cannot list {}", dir.display()))
            .map_err(Into::into),
    }
}
