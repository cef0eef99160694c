//! `system check`: verify the store. Every blob must hash to its name, every
//! index entry must lead to a readable manifest, config and layers whose
//! diff-id count matches, every unpacked layer and keep-id metadata layer
//! must belong to an image, and no scratch directory may be left by a killed
//! process.
//!
//! With `repair`, as `podman system check --repair` does: damaged images are
//! removed unless a container uses them (then they are reported and kept),
//! and garbage collection then removes corrupt or unreferenced blobs,
//! unpacked layers no image needs and stale scratch dirs. It never deletes a
//! blob an intact image or a container's image needs.

use super::index::{self, Entry};
use super::Result;
use super::{blobs, gc, lock, pins, MetaKind, Store};
use crate::oci::config::{parse_config, parse_manifest};
use crate::oci::digest::{self, Hasher};
use crate::userns::idmap::{IdMapping, IdSources};
use std::collections::{HashMap, HashSet};
use std::io::BufReader;
use std::path::Path;

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub problem: String,
    /// What `--repair` did about it, or why it left it.
    pub action: Option<String>,
}

/// Everything `check` found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub blobs: usize,
    pub images: usize,
    pub findings: Vec<Finding>,
}

pub fn check(
    store: &Store,
    repair: bool,
    users: &super::InUse,
    map: &IdMapping,
    src: &IdSources,
) -> Result<CheckReport> {
    let root = &store.root;
    // Repair deletes: exclusive like rmi. A check alone only keeps blobs in place.
    let _gc = if repair {
        lock::collect(root)?
    } else {
        lock::keep(root)?
    };
    let _l = if repair {
        Some(lock::index(root)?)
    } else {
        None
    };
    let mut rep = CheckReport::default();
    let blobs = scan_blobs(root, &mut rep);
    let entries = index::read(root)?;
    let refs = check_references(root, &entries, &blobs);
    rep.images = refs.images;
    let keep_entries = report_damaged(root, &entries, &refs.damaged, users, repair, &mut rep);
    // Build cache entries keep their unpacked layers as images do (gc
    // keeps them): those are not leftovers.
    let mut wanted = refs.diff_ids.clone();
    let mut configs = refs.configs.clone();
    for m in pins::all(root)? {
        if let Ok(im) = store.load_image(&m) {
            wanted.extend(
                im.config
                    .rootfs()
                    .diff_ids()
                    .iter()
                    .map(|d| d.trim_start_matches("sha256:").to_string()),
            );
            configs.insert(im.id.trim_start_matches("sha256:").to_string());
        }
    }
    report_leftovers(root, &wanted, &configs, repair, &mut rep)?;
    if repair {
        let needed = needed_blobs(root, &keep_entries);
        settle_actions(&mut rep, &needed);
        index::write(root, &keep_entries)?;
        gc::collect(store, &keep_entries, map, src)?;
        // Corrupt blobs still named by a kept entry are left for the user.
        for name in &blobs.corrupt {
            if !needed.contains(name) {
                let _ = std::fs::remove_file(root.join(BLOB_DIR).join(name));
            }
        }
    }
    Ok(rep)
}

const BLOB_DIR: &str = "blobs/sha256";

/// What the blob directory holds (hex names).
struct BlobScan {
    present: HashSet<String>,
    corrupt: HashSet<String>,
}

/// Step 1, blobs: each must hash to its name.
fn scan_blobs(root: &Path, rep: &mut CheckReport) -> BlobScan {
    let mut scan = BlobScan {
        present: HashSet::new(),
        corrupt: HashSet::new(),
    };
    let mut find = |problem: String| {
        rep.findings.push(Finding {
            problem,
            action: None,
        })
    };
    let mut nblobs = 0;
    for e in std::fs::read_dir(root.join(BLOB_DIR))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        nblobs += 1;
        let d = match digest::parse(&format!("sha256:{name}")) {
            Ok(d) => d,
            Err(_) => {
                find(format!("blobs/sha256/{name} is not named by a digest"));
                scan.corrupt.insert(name);
                continue;
            }
        };
        scan.present.insert(name.clone());
        let got = std::fs::File::open(e.path())
            .and_then(|f| Hasher::new(BufReader::with_capacity(1 << 16, f)).finish());
        match got {
            Ok((got, _)) if got == d => {}
            Ok((got, _)) => {
                find(format!("blob {d} is corrupt: its content hashes to {got}"));
                scan.corrupt.insert(name);
            }
            Err(err) => {
                find(format!("blob {d} cannot be read: {err}"));
                scan.corrupt.insert(name);
            }
        }
    }
    rep.blobs = nblobs;
    scan
}

/// What following every reference found.
struct References {
    /// Manifest digest → why that image is damaged.
    damaged: HashMap<String, String>,
    /// Layers (hex diff ids) of the images.
    diff_ids: HashSet<String>,
    /// Image ids (hex config digests) the manifests name.
    configs: HashSet<String>,
    /// Distinct manifests named.
    images: usize,
}

/// Step 2, references: index → manifest → config and layers.
fn check_references(root: &Path, entries: &[Entry], scan: &BlobScan) -> References {
    let ok_blob = |d: &oci_spec::image::Digest| -> Result<(), String> {
        let hex = d.digest().to_string();
        if !scan.present.contains(&hex) {
            Err(format!("blob {d} is missing"))
        } else if scan.corrupt.contains(&hex) {
            Err(format!("blob {d} is corrupt"))
        } else {
            Ok(())
        }
    };
    let mut damaged: HashMap<String, String> = HashMap::new();
    let mut diff_ids: HashSet<String> = HashSet::new();
    let mut configs: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    for e in entries {
        let md = e.desc.digest().to_string();
        if !seen.insert(md.clone()) {
            continue;
        }
        let result = (|| -> Result<(), String> {
            ok_blob(e.desc.digest()).map_err(|m| format!("its manifest: {m}"))?;
            let mbytes = blobs::read(root, e.desc.digest()).map_err(|e| crate::chain::line(&e))?;
            let m = parse_manifest(&mbytes, "its manifest").map_err(|e| e.to_string())?;
            configs.insert(m.config().digest().digest().to_string());
            ok_blob(m.config().digest()).map_err(|x| format!("its config: {x}"))?;
            let cbytes =
                blobs::read(root, m.config().digest()).map_err(|e| crate::chain::line(&e))?;
            let cfg = parse_config(&cbytes, "its config").map_err(|e| e.to_string())?;
            for (n, l) in m.layers().iter().enumerate() {
                ok_blob(l.digest()).map_err(|x| format!("layer {}: {x}", n + 1))?;
            }
            let ids = cfg.rootfs().diff_ids();
            if ids.len() != m.layers().len() {
                return Err(format!(
                    "{} layers but {} diff ids",
                    m.layers().len(),
                    ids.len()
                ));
            }
            diff_ids.extend(
                ids.iter()
                    .map(|d| d.trim_start_matches("sha256:").to_string()),
            );
            Ok(())
        })();
        if let Err(why) = result {
            damaged.insert(md, why);
        }
    }
    References {
        damaged,
        diff_ids,
        configs,
        images: seen.len(),
    }
}

/// One finding per damaged image, saying what repair does with it; the
/// index entries that stay (intact, or damaged but used by a container).
fn report_damaged(
    root: &Path,
    entries: &[Entry],
    damaged: &HashMap<String, String>,
    users: &super::InUse,
    repair: bool,
    rep: &mut CheckReport,
) -> Vec<Entry> {
    let label = |md: &str| -> String {
        let names: Vec<String> = entries
            .iter()
            .filter(|e| e.desc.digest().to_string() == md)
            .filter_map(|e| e.name.clone())
            .collect();
        if names.is_empty() {
            format!("image with manifest {md}")
        } else {
            format!("image {}", names.join(", "))
        }
    };
    let mut keep_entries: Vec<Entry> = Vec::new();
    let mut reported: HashSet<String> = HashSet::new();
    for e in entries {
        let md = e.desc.digest().to_string();
        let Some(why) = damaged.get(&md) else {
            keep_entries.push(e.clone());
            continue;
        };
        // The config digest is the image id, if the manifest still says it.
        let id = blobs::read(root, e.desc.digest())
            .ok()
            .and_then(|b| parse_manifest(&b, "").ok())
            .map(|m| m.config().digest().to_string());
        let user = id.as_ref().and_then(|id| users.get(id));
        if user.is_some() {
            keep_entries.push(e.clone());
        }
        if !reported.insert(md.clone()) {
            continue;
        }
        let action = match (repair, user) {
            (false, _) => None,
            (true, Some(c)) => Some(format!(
                "kept: container {c} uses it; remove the container, then repair again"
            )),
            (true, None) => Some("removed; load or pull it again".to_string()),
        };
        rep.findings.push(Finding {
            problem: format!("{} is damaged: {why}", label(&md)),
            action,
        });
    }
    keep_entries
}

/// Step 3: unpacked layers and keep-id metadata layers no image needs, and
/// scratch dirs of dead processes.
fn report_leftovers(
    root: &Path,
    diff_ids: &HashSet<String>,
    configs: &HashSet<String>,
    repair: bool,
    rep: &mut CheckReport,
) -> Result<()> {
    let obase = root.join("o");
    for m in std::fs::read_dir(&obase).into_iter().flatten().flatten() {
        for l in std::fs::read_dir(m.path()).into_iter().flatten().flatten() {
            let hex = l.file_name().to_string_lossy().into_owned();
            if !diff_ids.contains(&hex) {
                rep.findings.push(Finding {
                    problem: format!(
                        "unpacked layer {} belongs to no image",
                        l.path().strip_prefix(root).unwrap_or(&l.path()).display()
                    ),
                    action: repair.then(|| "removed".to_string()),
                });
            }
        }
    }
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    for m in super::meta::entries(root) {
        let problem = match &m.kind {
            MetaKind::Layer { image } if configs.contains(image) => continue,
            MetaKind::Layer { .. } => {
                format!("metadata layer {} belongs to no image", shown(&m.path))
            }
            MetaKind::Leftover => {
                format!("{} was left by a process that was killed", shown(&m.path))
            }
        };
        rep.findings.push(Finding {
            problem,
            action: repair.then(|| "removed".to_string()),
        });
    }
    for s in super::tmp::stale(root)? {
        rep.findings.push(Finding {
            problem: format!(
                "{} was left by a process that was killed",
                s.dir.strip_prefix(root).unwrap_or(&s.dir).display()
            ),
            action: repair.then(|| "removed".to_string()),
        });
    }
    Ok(())
}

/// Every blob (hex) the kept entries name.
fn needed_blobs(root: &Path, keep_entries: &[Entry]) -> HashSet<String> {
    let mut needed: HashSet<String> = HashSet::new();
    for e in keep_entries {
        needed.insert(e.desc.digest().digest().to_string());
        if let Ok(m) = blobs::read(root, e.desc.digest())
            .map_err(|e| e.to_string())
            .and_then(|b| parse_manifest(&b, "").map_err(|e| e.to_string()))
        {
            needed.insert(m.config().digest().digest().to_string());
            needed.extend(m.layers().iter().map(|l| l.digest().digest().to_string()));
        }
    }
    needed
}

/// Step 4, what repair does with the findings that have no action yet: blobs no
/// intact image needs go (corrupt ones included), everything else too.
fn settle_actions(rep: &mut CheckReport, needed: &HashSet<String>) {
    for f in rep.findings.iter_mut() {
        if f.action.is_none() && f.problem.starts_with("blob ") {
            let hex = f
                .problem
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .trim_start_matches("sha256:")
                .to_string();
            f.action = Some(if needed.contains(&hex) {
                "kept: an image a container uses needs it".into()
            } else {
                "removed".into()
            });
        } else if f.action.is_none() {
            f.action = Some("removed".into());
        }
    }
}
