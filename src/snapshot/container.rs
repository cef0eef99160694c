//! The containers snapshots are taken of, found through the records `hutch
//! run` writes (`<state>/<id>/container.json` beside `upper/`): which image
//! and id mapping the upper dir was written against, whether it still runs,
//! and a pause (SIGSTOP to every process of its pid namespace, SIGCONT when
//! dropped) so that `commit --pause` reads a still tree.
//!
//! A container on the copy storage driver has no upper dir; `changes`
//! makes one from its copy for the time a snapshot needs it.
//!
//! It reads records through `crate::container` and never writes one.

use crate::chain::{bail, WithContext};
use crate::container::{freeze, state, Containers, ProcId};
use crate::report::Report;
use crate::rootfs::DriverKind;
use crate::snapshot::Result;
use crate::store::{Image, Store};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use crate::userns::{run_in_userns, Reach};
use std::path::{Path, PathBuf};

/// A container found by name or id.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub command: Vec<String>,
    /// Its writable layer (read it through [`changes`]: the copy driver
    /// leaves it empty).
    pub upper: PathBuf,
    /// The copy driver's private root, for a container on that driver.
    pub copy: Option<PathBuf>,
    /// pid 1 on the host while it runs.
    pub running: Option<i32>,
    /// `IdMapping::key` of the mapping the upper dir was written with.
    pub mapping_key: String,
}

/// The container named `what` (a name, full id or unique id prefix), or None.
pub fn find(state: &Path, what: &str) -> Result<Option<Container>> {
    let containers = Containers::new(state);
    let mut hits = Vec::new();
    for r in containers.list() {
        if r.name == what || r.id == what {
            hits = vec![r];
            break;
        }
        if what.len() >= 3 && r.id.starts_with(what) {
            hits.push(r);
        }
    }
    if hits.len() > 1 {
        bail!(
            "'{what}' is the start of {} container ids: give more of the id",
            hits.len()
        );
    }
    let Some(r) = hits.pop() else {
        return Ok(None);
    };
    // The record's status is checked against /proc: a killed supervisor
    // leaves a record that still says running.
    let running = match (state::observe(&r).is_running(), r.pid) {
        (true, Some(pid)) => Some(pid),
        _ => None,
    };
    let dir = containers.dir(&r.id);
    let copy = (r.config.storage_driver == DriverKind::Copy.to_string()).then(|| dir.join("copy"));
    Ok(Some(Container {
        id: r.id,
        name: r.name,
        image_id: r.image_id,
        command: r.command,
        upper: dir.join("upper"),
        copy,
        running,
        mapping_key: r.mapping_key,
    }))
}

/// The id mapping whose key the container recorded: its files carry the ids
/// of exactly that mapping.
pub fn mapping_for(c: &Container, src: &IdSources) -> Result<IdMapping> {
    for req in [
        UsernsRequest::Auto,
        UsernsRequest::SubIds,
        UsernsRequest::Single,
        UsernsRequest::KeepId,
    ] {
        if let Ok(m) = IdMapping::detect(req, src) {
            if m.key() == c.mapping_key {
                return Ok(m);
            }
        }
    }
    bail!(
        "container {} was created with an id mapping this user no longer has (/etc/subuid changed?)",
        c.name
    )
}

/// A container's changes in overlayfs's upper-dir format: its upper dir,
/// or for the copy driver one made from the copy, removed when dropped.
pub struct Changes<'a> {
    path: PathBuf,
    made: Option<(&'a IdMapping, &'a IdSources)>,
}

impl Changes<'_> {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Changes<'_> {
    fn drop(&mut self) {
        if let Some((map, src)) = self.made {
            // Its files are the container's ids: removed from inside,
            // reached from here (see `userns::reach`).
            if let Ok(at) = Reach::new(&self.path) {
                let _ = run_in_userns(map, src, move || {
                    std::fs::remove_dir_all(at.path()).map_err(|e| e.to_string())
                });
            }
        }
    }
}

/// The changes of `c` (over `image`, whose layers are unpacked for `map`).
pub fn changes<'a>(
    c: &Container,
    store: &Store,
    state: &Path,
    image: &Image,
    map: &'a IdMapping,
    src: &'a IdSources,
    report: &dyn Report,
) -> Result<Changes<'a>> {
    // The copy driver makes its copy at the container's first start: one
    // never started is its image, with no changes (its upper dir is empty).
    let Some(copy) = c.copy.as_ref().filter(|copy| copy.is_dir()) else {
        // A running `--rm` container may keep its writable layer in memory,
        // inside its own mount namespace (`Spec::layer_in_memory`), where
        // nothing outside can read it: say so rather than read no changes.
        if c.running.is_some() && !c.upper.exists() {
            bail!(
                "container {} keeps its writable layer in memory (it was run with --rm): \
                 its changes cannot be read from outside it; to commit, diff or export \
                 such a container, run it with HUTCH_RM_LAYER=disk (or rm_layer = \"disk\" \
                 in config.toml) or without --rm",
                c.name
            );
        }
        return Ok(Changes {
            path: c.upper.clone(),
            made: None,
        });
    };
    // The copy was made from the skeleton and the image's layers.
    let mut lowers = vec![crate::rootfs::skeleton::ensure(state)
        .with_context(|| format!("cannot make the skeleton layer in {}", state.display()))?];
    lowers.extend(store.layer_dirs(image, map, src, report)?);
    let path = c
        .upper
        .with_file_name(format!("changes-{}", std::process::id()));
    let made = Changes {
        path: path.clone(),
        made: Some((map, src)),
    };
    // Held open here: with keep-id the namespace's root may not traverse
    // the store's or state dir's parents (see `userns::reach`).
    let lowers_at = lowers
        .iter()
        .map(|p| Reach::new(p))
        .collect::<std::io::Result<Vec<_>>>()?;
    let (copy_at, path_at) = (Reach::new(copy)?, Reach::new(&path)?);
    run_in_userns(map, src, || {
        let lowers: Vec<PathBuf> = lowers_at.iter().map(Reach::path).collect();
        let path = path_at.path();
        // A changes dir left by a hutch that was killed is stale.
        let _ = std::fs::remove_dir_all(&path);
        crate::rootfs::copy::changes(&lowers, &copy_at.path(), &path).map_err(|e| e.to_string())
    })
    .map_err(crate::chain::Context::msg)
    .with_context(|| {
        format!(
            "cannot compare the copy of container {} with its image",
            c.name
        )
    })?;
    Ok(made)
}

/// The processes of a paused container; they continue when this is dropped.
pub struct Paused {
    init: Option<ProcId>,
}

/// Stop every process in the pid namespace of `pid1` (`container::freeze`).
/// A container paused already (`hutch pause`) is left as it is, and stays
/// paused after.
pub fn pause(pid1: i32) -> Result<Paused> {
    let init = ProcId::of(pid1).with_context(|| format!("process {pid1} is gone"))?;
    if freeze::frozen(init) {
        return Ok(Paused { init: None });
    }
    freeze::freeze(init)?;
    Ok(Paused { init: Some(init) })
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(init) = self.init {
            let _ = freeze::thaw(init);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_name_id_and_prefix() {
        let d = tempfile::tempdir().unwrap();
        for (id, name) in [("abcdef0011", "web"), ("abc99", "db")] {
            std::fs::create_dir(d.path().join(id)).unwrap();
            std::fs::write(
                d.path().join(id).join("container.json"),
                format!(
                    r#"{{"id":"{id}","name":"{name}","image":"x","image_id":"sha256:1","command":["sh"],
                        "created":"2026-01-01T00:00:00Z","status":"exited","mapping_key":"k"}}"#
                ),
            )
            .unwrap();
        }
        let c = find(d.path(), "web").unwrap().unwrap();
        assert_eq!(c.id, "abcdef0011");
        assert!(c.upper.ends_with("abcdef0011/upper"));
        assert!(c.running.is_none());
        assert_eq!(find(d.path(), "abcd").unwrap().unwrap().name, "web");
        assert!(find(d.path(), "abc")
            .unwrap_err()
            .to_string()
            .contains("2 container ids"));
        assert!(find(d.path(), "nope").unwrap().is_none());
    }
}
