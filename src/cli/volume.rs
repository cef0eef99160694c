//! `hutch volume create|ls|inspect|rm|prune`: Docker's volume commands over
//! `volume::Volumes`, with Docker's output shapes (`ls`: DRIVER and VOLUME
//! NAME; `inspect`: a JSON array of Name, Driver, Mountpoint, Labels,
//! Options, Scope, CreatedAt). Whether a volume is in use comes from the
//! container records (`container::mounts::volume_users`).

use super::template::{print_rows, Listing, Template};
use super::Ctx;
use crate::container::mounts::volume_users;
use crate::container::Containers;
use crate::volume::{Volume, Volumes, LOCAL};
use anyhow::bail;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Create a volume (a random name when none is given); prints its name.
    Create(CreateArgs),
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show volumes as JSON.
    Inspect(InspectArgs),
    /// Remove volumes (never one a container uses, running or not).
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove volumes no container uses: anonymous ones, or all with -a.
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Volume name: [a-zA-Z0-9][a-zA-Z0-9_.-]+.
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
    /// The same, as a flag (Docker's older spelling).
    #[arg(
        long = "name",
        value_name = "VOLUME",
        hide = true,
        conflicts_with = "name"
    )]
    pub name_flag: Option<String>,
    /// Volume driver: only local.
    #[arg(short, long, default_value = LOCAL, value_name = "DRIVER")]
    pub driver: String,
    /// Set a label: KEY[=VALUE].
    #[arg(short = 'l', long = "label", value_name = "KEY[=VALUE]")]
    pub label: Vec<String>,
    /// Driver option: type=tmpfs (with o=size=64m,...), or
    /// type=none,o=bind,device=/host/path.
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Print only volume names.
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter: name=TEXT (part of the name), label=KEY[=VALUE],
    /// dangling=true|false (used by no container), driver=local.
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// `table`, `json`, or a Go template over Name, Driver, Scope,
    /// Mountpoint, Labels, CreatedAt, e.g. '{{.Name}}'.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// `json` (the default) or a Go template, e.g. '{{.Mountpoint}}'.
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Do not fail on volumes that do not exist (a volume in use is still kept).
    #[arg(short, long)]
    pub force: bool,
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Remove every unused volume, not only anonymous ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Only volumes matching: label=KEY[=VALUE], label!=KEY[=VALUE].
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let volumes = Volumes::new(&ctx.dirs.store);
    match args.command {
        Cmd::Create(a) => create(ctx, &volumes, a),
        Cmd::Ls(a) => ls(ctx, &volumes, a),
        Cmd::Inspect(a) => inspect(ctx, &volumes, a),
        Cmd::Rm(a) => rm(ctx, &volumes, a),
        Cmd::Prune(a) => prune(ctx, &volumes, a),
    }
}

fn key_values(
    items: &[String],
    what: &str,
    need_value: bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for i in items {
        let (k, v) = match i.split_once('=') {
            Some((k, v)) => (k, v),
            None if !need_value => (i.as_str(), ""),
            None => bail!("invalid {what} '{i}': expected KEY=VALUE"),
        };
        if k.is_empty() {
            bail!("invalid {what} '{i}': the key is empty");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

fn create(ctx: &Ctx, volumes: &Volumes, a: CreateArgs) -> anyhow::Result<u8> {
    let labels = key_values(&a.label, "label", false)?;
    let options = key_values(&a.opt, "option", true)?;
    let name = a.name.or(a.name_flag);
    let v = volumes.create(name.as_deref(), &a.driver, labels, options)?;
    ctx.printer.out(&v.name);
    Ok(0)
}

/// Docker's `volume inspect` object.
fn inspect_value(volumes: &Volumes, v: &Volume) -> Value {
    json!({
        "CreatedAt": v.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": volumes.mountpoint(&v.name),
        "Name": v.name,
        "Options": v.options,
        "Scope": "local",
    })
}

fn inspect(ctx: &Ctx, volumes: &Volumes, a: InspectArgs) -> anyhow::Result<u8> {
    let tpl = a
        .format
        .as_deref()
        .filter(|f| *f != "json")
        .map(Template::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let mut values = Vec::new();
    let mut failed = false;
    for n in &a.volumes {
        match volumes.get(n) {
            Ok(v) => values.push(inspect_value(volumes, &v)),
            Err(e) => {
                super::errors::eprint(&e.to_string());
                failed = true;
            }
        }
    }
    super::inspect::print_inspected(ctx, tpl.as_ref(), &values)?;
    Ok(u8::from(failed))
}

/// One `--filter` of `volume ls` / `volume prune`.
enum Filter {
    Name(String),
    Label(String, Option<String>, bool),
    Dangling(bool),
    Driver(String),
}

fn filters(items: &[String], allowed: &[&str]) -> anyhow::Result<Vec<Filter>> {
    let mut out = Vec::new();
    for f in items {
        let (k, v) = match f.split_once("!=") {
            Some((k, v)) => (format!("{k}!"), v),
            None => match f.split_once('=') {
                Some((k, v)) => (k.to_string(), v),
                None => bail!("invalid filter '{f}': expected KEY=VALUE"),
            },
        };
        if !allowed.contains(&k.as_str()) {
            bail!("invalid filter '{k}': use {}", allowed.join(", "));
        }
        let label = |keep| {
            let (lk, lv) = match v.split_once('=') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (v.to_string(), None),
            };
            Filter::Label(lk, lv, keep)
        };
        out.push(match k.as_str() {
            "name" => Filter::Name(v.to_string()),
            "label" => label(true),
            "label!" => label(false),
            "driver" => Filter::Driver(v.to_string()),
            _ => Filter::Dangling(match v {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => bail!("invalid dangling filter '{v}': use true or false"),
            }),
        });
    }
    Ok(out)
}

fn matches(filters: &[Filter], v: &Volume, used: bool) -> bool {
    filters.iter().all(|f| match f {
        Filter::Name(n) => v.name.contains(n.as_str()),
        Filter::Label(k, val, keep) => {
            let has = v
                .labels
                .get(k)
                .is_some_and(|x| val.as_ref().map_or(true, |w| w == x));
            has == *keep
        }
        Filter::Dangling(d) => used != *d,
        Filter::Driver(d) => v.driver == *d,
    })
}

fn ls(ctx: &Ctx, volumes: &Volumes, a: LsArgs) -> anyhow::Result<u8> {
    let format = Listing::parse(a.format.as_deref()).map_err(anyhow::Error::msg)?;
    let filters = filters(
        &a.filter,
        &["name", "label", "label!", "dangling", "driver"],
    )?;
    let users = volume_users(&Containers::new(&ctx.dirs.state), None);
    let list: Vec<Volume> = volumes
        .list()?
        .into_iter()
        .filter(|v| matches(&filters, v, users.contains_key(&v.name)))
        .collect();
    if a.quiet {
        for v in &list {
            ctx.printer.out(&v.name);
        }
        return Ok(0);
    }
    let row = |v: &Volume| {
        let labels: Vec<String> = v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
        json!({
            "Name": v.name, "Driver": v.driver, "Scope": "local",
            "Mountpoint": volumes.mountpoint(&v.name), "Labels": labels.join(","),
            "CreatedAt": v.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
    };
    match format {
        Listing::Json => {
            let rows: Vec<Value> = list.iter().map(row).collect();
            ctx.printer.out(&serde_json::to_string_pretty(&rows)?);
        }
        Listing::Template(t) => {
            let fields = [
                "Name",
                "Driver",
                "Scope",
                "Mountpoint",
                "Labels",
                "CreatedAt",
            ];
            let titles = [("Name", "VOLUME NAME")];
            let rows: Vec<Value> = list.iter().map(row).collect();
            print_rows(&ctx.printer, &t, &fields, &titles, &rows)?;
        }
        Listing::Table => {
            let rows: Vec<[String; 2]> = list
                .iter()
                .map(|v| [v.driver.clone(), v.name.clone()])
                .collect();
            ctx.printer.table(Some(["DRIVER", "VOLUME NAME"]), &rows, 4);
        }
    }
    Ok(0)
}

fn rm(ctx: &Ctx, volumes: &Volumes, a: RmArgs) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for n in &a.volumes {
        match volumes.remove(n, |n| volume_users(&containers, None).remove(n)) {
            Ok(()) => ctx.printer.out(n),
            Err(crate::volume::Error::NotFound(_)) if a.force => {}
            Err(e) => {
                super::errors::eprint(&e.to_string());
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn prune(ctx: &Ctx, volumes: &Volumes, a: PruneArgs) -> anyhow::Result<u8> {
    let filters = filters(&a.filter, &["label", "label!"])?;
    if !a.force {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!("volume prune asks for confirmation: pass -f to prune without asking");
        }
        eprint!(
            "WARNING! This will remove {} volumes not used by at least one container.\n\
             Are you sure you want to continue? [y/N] ",
            if a.all { "all" } else { "anonymous local" }
        );
        std::io::stderr().flush()?;
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for v in volumes.list()? {
        if !(a.all || v.anonymous()) || !matches(&filters, &v, false) {
            continue;
        }
        // Asked again under the volumes lock: a container created since
        // keeps its volume.
        match volumes.remove(&v.name, |n| volume_users(&containers, None).remove(n)) {
            Ok(()) => ctx.printer.out(&v.name),
            Err(crate::volume::Error::InUse { .. } | crate::volume::Error::NotFound(_)) => {}
            Err(e) => {
                super::errors::eprint(&e.to_string());
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
