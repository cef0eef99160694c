//! `hutch system df` and `hutch system check [--repair]`: how much space the
//! store takes and what could be reclaimed; whether it is intact.

use super::images::human_size;
use super::Ctx;
use crate::container::images_in_use;
use crate::store::Store;
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use clap::Subcommand;
use std::collections::HashSet;
use std::path::Path;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Show disk usage of images, containers and the layer cache.
    Df(DfArgs),
    /// Verify every blob and reference in the store; optionally repair.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
pub struct DfArgs {
    /// `json` for machine-readable output.
    #[arg(long, value_name = "FORMAT", value_parser = ["json"])]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Remove damaged images no container uses, corrupt or unreferenced
    /// blobs, unpacked layers no image needs and leftovers of killed runs.
    #[arg(short, long)]
    pub repair: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    match args.command {
        Cmd::Df(a) => df(ctx, a),
        Cmd::Check(a) => check(ctx, a),
    }
}

/// Bytes under `p`, without following symlinks; unreadable parts (files of
/// subordinate ids in private dirs) count as what could be seen.
fn du(p: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !m.is_dir() {
        return m.blocks() * 512;
    }
    let mut total = m.blocks() * 512;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        total += du(&e.path());
    }
    total
}

fn df(ctx: &Ctx, args: DfArgs) -> anyhow::Result<u8> {
    let store = Store::open(&ctx.dirs)?;
    let images = store.images()?;
    let users = images_in_use(&ctx.dirs.state);
    // Blobs shared by several images count once.
    let mut seen: HashSet<String> = HashSet::new();
    let mut total = 0u64;
    let mut reclaim_blobs: HashSet<String> = HashSet::new();
    let mut needed: HashSet<String> = HashSet::new();
    let mut sizes = std::collections::HashMap::new();
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
    let mut containers = 0usize;
    let mut csize = 0u64;
    for e in std::fs::read_dir(&ctx.dirs.state)
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.path().join("container.json").is_file() {
            containers += 1;
            csize += du(&e.path().join("upper"));
        }
    }
    let cache = du(&store.root.join("o"));
    let rows = [
        ("Images", images.len(), active, total, reclaimable),
        ("Containers", containers, containers, csize, 0),
        // Unpacked layers can be unpacked again from their blobs at any time.
        ("Layer cache", 0, 0, cache, cache),
    ];
    if args.format.is_some() {
        let v: Vec<_> = rows
            .iter()
            .map(|(t, n, a, s, r)| {
                serde_json::json!({"Type": t, "Total": n, "Active": a, "Size": s, "Reclaimable": r})
            })
            .collect();
        ctx.printer.out(&serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    ctx.printer.out(&format!(
        "{:<13}{:<8}{:<8}{:<12}{}",
        "TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"
    ));
    for (t, n, a, s, r) in rows {
        let pct = (r * 100).checked_div(s).unwrap_or(0);
        ctx.printer.out(&format!(
            "{:<13}{:<8}{:<8}{:<12}{} ({pct}%)",
            t,
            n,
            a,
            human_size(s),
            human_size(r)
        ));
    }
    Ok(0)
}

fn check(ctx: &Ctx, args: CheckArgs) -> anyhow::Result<u8> {
    let src = IdSources::default();
    let map = IdMapping::detect(UsernsRequest::Auto, &src).map_err(anyhow::Error::msg)?;
    let store = Store::open(&ctx.dirs)?;
    let rep = store.check(args.repair, &images_in_use(&ctx.dirs.state), &map, &src)?;
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
