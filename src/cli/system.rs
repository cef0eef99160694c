//! `hutch system df` and `hutch system check [--repair]`: how much space the
//! store takes and what could be reclaimed; whether it is intact.

use super::template::{print_rows, Listing};
use super::units::human_size;
use super::Ctx;
use crate::container::mounts::volume_users;
use crate::container::{control, images_in_use, keep_id, state, Containers};
use crate::store::{DiskUsage, Finding, Store};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use crate::volume::{Source, Volumes};
use clap::Subcommand;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Show disk usage of images, containers, volumes and the layer cache.
    Df(DfArgs),
    /// Verify every blob and reference in the store; optionally repair.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct DfArgs {
    /// `json` for machine-readable output, or a Go template (`table` for a
    /// header row): .Type .Total .Active .Size .Reclaimable.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Remove damaged images no container uses, corrupt or unreferenced
    /// blobs, unpacked layers no image needs, leftovers of killed runs and
    /// container directories whose record a power loss left unreadable.
    #[arg(short, long)]
    pub repair: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    match args.command {
        Cmd::Df(a) => df(ctx, a),
        Cmd::Check(a) => check(ctx, a),
    }
}

/// One row of `system df`, with Docker's meanings.
struct Row {
    kind: &'static str,
    total: usize,
    active: usize,
    size: u64,
    reclaimable: u64,
}

impl Row {
    fn new(kind: &'static str, total: usize) -> Row {
        Row {
            kind,
            total,
            active: 0,
            size: 0,
            reclaimable: 0,
        }
    }

    /// One item of `size` bytes; what is not active can be reclaimed.
    fn count(&mut self, size: u64, active: bool) {
        self.size += size;
        if active {
            self.active += 1;
        } else {
            self.reclaimable += size;
        }
    }
}

/// Docker's `system df`: images (ACTIVE = used by any container, reclaimable
/// = what `image prune -a` frees), containers (ACTIVE = running, reclaimable
/// = the writable layers of the others), local volumes (`volume_row`), and
/// hutch's unpacked layer cache with keep-id's metadata layers
/// (ACTIVE = layers some container stands on; the rest go with their images
/// and are unpacked or made again when needed).
fn df(ctx: &Ctx, args: DfArgs) -> anyhow::Result<u8> {
    let store = Store::open(&ctx.dirs)?;
    let images = store.images()?;
    let users = images_in_use(&ctx.dirs.state);
    // Blobs shared by several images count once.
    let mut seen: HashSet<String> = HashSet::new();
    let mut total = 0u64;
    let mut reclaim_blobs: HashSet<String> = HashSet::new();
    let mut needed: HashSet<String> = HashSet::new();
    let mut sizes = HashMap::new();
    for im in &images {
        let mut blobs = vec![(
            im.manifest.config().digest().to_string(),
            im.manifest.config().size(),
        )];
        blobs.extend(
            im.manifest
                .layers()
                .iter()
                .map(|l| (l.digest().to_string(), l.size())),
        );
        for (d, s) in blobs {
            sizes.insert(d.clone(), s);
            if seen.insert(d.clone()) {
                total += s;
            }
            if users.contains_key(&im.id) {
                needed.insert(d);
            } else {
                reclaim_blobs.insert(d);
            }
        }
    }
    let reclaimable: u64 = reclaim_blobs.difference(&needed).map(|d| sizes[d]).sum();
    let active = images.iter().filter(|i| users.contains_key(&i.id)).count();

    let mut du = DiskUsage::default();
    let all = Containers::new(&ctx.dirs.state);
    let records = all.list();
    let mut containers = Row::new("Containers", records.len());
    // Layers containers stand on: (mapping dir, diff id hex), and the
    // keep-id metadata layers (by name) they would stand on.
    let mut standing: HashSet<(PathBuf, String)> = HashSet::new();
    let mut standing_meta: HashSet<String> = HashSet::new();
    let base = IdMapping::detect(UsernsRequest::Auto, &IdSources::default())
        .map(|m| m.key())
        .unwrap_or_default();
    let skeleton = crate::rootfs::skeleton::path(&ctx.dirs.state);
    for r in &records {
        standing_meta.insert(keep_id::name(&r.image_id, &r.mapping_key, &base, &skeleton));
        let size = du.add(&all.dir(&r.id).join("upper"));
        containers.count(size, state::observe(r).is_running());
        if let Some(im) = images.iter().find(|i| i.id == r.image_id) {
            let m = store.mapping_dir_for_key(&r.mapping_key);
            for d in im.config.rootfs().diff_ids() {
                let hex = d.strip_prefix("sha256:").unwrap_or(d);
                standing.insert((m.clone(), hex.to_string()));
            }
        }
    }
    let volumes = volume_row(ctx, &all, &mut du)?;
    let cached = store.cached_layers();
    let meta = store.meta_layers();
    let mut cache = Row::new("Layer cache", cached.len() + meta.len());
    for l in &cached {
        let size = du.add(&l.dir);
        cache.count(
            size,
            standing.contains(&(l.mapping_dir.clone(), l.diff_hex.clone())),
        );
    }
    for m in &meta {
        let name = m.file_name().unwrap_or_default().to_string_lossy();
        cache.count(du.add(m), standing_meta.contains(name.as_ref()));
    }
    let rows = [
        Row {
            kind: "Images",
            total: images.len(),
            active,
            size: total,
            reclaimable,
        },
        containers,
        volumes,
        cache,
    ];
    let v: Vec<_> = rows
        .iter()
        .map(|r| {
            serde_json::json!({"Type": r.kind, "Total": r.total, "Active": r.active, "Size": r.size, "Reclaimable": r.reclaimable})
        })
        .collect();
    match Listing::parse(args.format.as_deref()).map_err(anyhow::Error::msg)? {
        Listing::Json => {
            ctx.printer.out(&serde_json::to_string_pretty(&v)?);
            return Ok(0);
        }
        Listing::Template(t) => {
            let fields = ["Type", "Total", "Active", "Size", "Reclaimable"];
            print_rows(&ctx.printer, &t, &fields, &[], &v)?;
            return Ok(0);
        }
        Listing::Table => {}
    }
    ctx.printer.out(&format!(
        "{:<16}{:<8}{:<8}{:<12}{}",
        "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"
    ));
    for r in rows {
        let pct = (r.reclaimable * 100).checked_div(r.size).unwrap_or(0);
        ctx.printer.out(&format!(
            "{:<16}{:<8}{:<8}{:<12}{} ({pct}%)",
            r.kind,
            r.total,
            r.active,
            human_size(r.size),
            human_size(r.reclaimable)
        ));
    }
    Ok(0)
}

/// Docker's `Local Volumes`: ACTIVE = used by any container (running or
/// not), reclaimable = the data of the others (what `volume prune -a`
/// frees). A tmpfs or bound volume keeps no data in the store: size 0.
fn volume_row(ctx: &Ctx, containers: &Containers, du: &mut DiskUsage) -> anyhow::Result<Row> {
    let volumes = Volumes::new(&ctx.dirs.store);
    let list = volumes.list()?;
    let users = volume_users(containers, None);
    let mut row = Row::new("Local Volumes", list.len());
    for v in &list {
        let size = match volumes.source(v) {
            Source::Dir {
                path, fresh: true, ..
            } => du.add(&path),
            _ => 0,
        };
        row.count(size, users.contains_key(&v.name));
    }
    Ok(row)
}

/// What `--repair` did with a container directory, as `check` reports it.
fn removal(done: crate::container::Result<()>) -> String {
    match done {
        Ok(()) => "removed".to_string(),
        Err(e) => format!("kept: {}", crate::chain::line(&e)),
    }
}

fn check(ctx: &Ctx, args: CheckArgs) -> anyhow::Result<u8> {
    let src = IdSources::default();
    let map = IdMapping::detect(UsernsRequest::Auto, &src).map_err(anyhow::Error::msg)?;
    let store = Store::open(&ctx.dirs)?;
    let mut rep = store.check(args.repair, &images_in_use(&ctx.dirs.state), &map, &src)?;
    let containers = Containers::new(&ctx.dirs.state);
    // Listed first: a failed repair below leaves a `.removing-` directory
    // that this list must not find again.
    let interrupted = containers.interrupted_removals();
    for (id, lock) in containers.unreadable() {
        let problem = format!(
            "container directory {} has no readable record",
            containers.dir(&id).display()
        );
        let action = args
            .repair
            .then(|| removal(control::remove_unreadable(&containers, &id, lock)));
        rep.findings.push(Finding { problem, action });
    }
    for (dir, lock) in interrupted {
        let problem = format!(
            "container directory {} is what an interrupted removal left",
            dir.display()
        );
        let action = args
            .repair
            .then(|| removal(control::finish_removal(&dir, lock)));
        rep.findings.push(Finding { problem, action });
    }
    for f in &rep.findings {
        match &f.action {
            Some(a) => ctx.printer.out(&format!("{}: {a}", f.problem)),
            None => ctx.printer.out(&f.problem),
        }
    }
    if rep.findings.is_empty() {
        ctx.printer.info(&format!(
            "{} images and {} blobs checked: no problems found",
            rep.images, rep.blobs
        ));
        return Ok(0);
    }
    let left = rep
        .findings
        .iter()
        .filter(|f| f.action.as_deref().map_or(true, |a| a.starts_with("kept")))
        .count();
    if left == 0 {
        ctx.printer.info("every problem was repaired");
        return Ok(0);
    }
    if !args.repair {
        ctx.printer
            .info("run `hutch system check --repair` to remove what can be removed safely");
    }
    Ok(1)
}
