//! `hutch network create|ls|inspect|rm|connect|disconnect|prune`: Docker's
//! network commands over `net::netdef`. Which containers use a network is
//! read from their records (the networks they name), so a stopped container
//! keeps its networks from being removed, as with Podman. Connecting and
//! disconnecting is `container::connect`'s.

use super::template::{print_rows, Listing, Template};
use super::Ctx;
use crate::container::{connect, state, Containers, Record};
use crate::net::netdef::{Endpoint, NetError, NetworkDef, Networks, NewNetwork};
use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a network; containers on it reach each other by name.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show networks as JSON.
    Inspect(InspectArgs),
    /// Remove networks no container uses.
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Put a container on one more network (a running one at once).
    Connect(ConnectArgs),
    /// Take a container off a network (a running one at once).
    Disconnect(DisconnectArgs),
    /// Remove every network no container uses.
    Prune(PruneArgs),
}

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The network's name.
    #[arg(value_name = "NETWORK")]
    pub name: String,
    /// Driver: only `bridge` (the default).
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR form, e.g. 10.90.0.0/24 (default: the first free 10.89.N.0/24).
    #[arg(long, value_name = "CIDR")]
    pub subnet: Option<String>,
    /// The gateway address (default: the subnet's first address).
    #[arg(long, value_name = "IP")]
    pub gateway: Option<String>,
    /// No route out: containers reach only each other.
    #[arg(long)]
    pub internal: bool,
    /// Set metadata KEY=VALUE on the network.
    #[arg(long, value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Driver options KEY=VALUE (recorded, shown by inspect).
    #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
    pub opt: Vec<String>,
    /// IPv6 networks are not supported; refused.
    #[arg(long)]
    pub ipv6: bool,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Print only network ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show full ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// Keep networks matching KEY=VALUE: name, id, label (KEY or KEY=VALUE),
    /// driver, type (custom).
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    /// `json`, or a Go template (`table` for a header row): .ID .Name
    /// .Driver .Scope .Created .Internal .IPv6 .Labels.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Network names or ids.
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
    /// A Go template applied to each network's JSON object.
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Network names or ids.
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
    /// Say nothing about networks that do not exist.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct ConnectArgs {
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Another name the container answers to on the network.
    #[arg(long, value_name = "ALIAS")]
    pub alias: Vec<String>,
    /// The container's IPv4 address on the network.
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct DisconnectArgs {
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Accepted for Docker's sake: hutch always disconnects at once.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
    /// Only networks matching label=KEY[=VALUE].
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let networks = Networks::new(&ctx.dirs.store);
    match args.command {
        Cmd::Create(a) => create(ctx, &networks, a),
        Cmd::Ls(a) => ls(ctx, &networks, a),
        Cmd::Inspect(a) => inspect(ctx, &networks, a),
        Cmd::Rm(a) => rm(ctx, &networks, a),
        Cmd::Connect(a) => connect(ctx, a),
        Cmd::Disconnect(a) => disconnect(ctx, a),
        Cmd::Prune(a) => prune(ctx, &networks, a),
    }
}

/// `KEY=VALUE` values (a bare `KEY` has an empty value, as Docker's labels).
fn key_values(flag: &str, vals: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    vals.iter()
        .map(|v| {
            let (k, val) = v.split_once('=').unwrap_or((v, ""));
            if k.is_empty() {
                bail!("invalid {flag} {v:?}: write KEY=VALUE");
            }
            Ok((k.to_string(), val.to_string()))
        })
        .collect()
}

fn create(ctx: &Ctx, networks: &Networks, a: CreateArgs) -> anyhow::Result<u8> {
    if a.driver != "bridge" {
        bail!(
            "network driver {:?} is not supported: hutch's networks are bridges (-d bridge)",
            a.driver
        );
    }
    if a.ipv6 {
        bail!("--ipv6 is not supported: hutch's user-defined networks are IPv4 only");
    }
    let def = networks.create(&NewNetwork {
        name: a.name,
        subnet: a.subnet,
        gateway: a.gateway,
        internal: a.internal,
        labels: key_values("--label", &a.label)?,
        options: key_values("--opt", &a.opt)?,
    })?;
    ctx.printer.out(&def.id);
    Ok(0)
}

/// The containers whose records name `def`, oldest first.
fn users(containers: &Containers, def: &NetworkDef) -> Vec<Record> {
    containers
        .list()
        .into_iter()
        .filter(|r| connect::uses(r, def))
        .collect()
}

/// Docker's `network ls --filter` keys.
fn keep(def: &NetworkDef, filters: &[(String, String)]) -> bool {
    filters.iter().all(|(k, v)| match k.as_str() {
        "name" => def.name.contains(v.as_str()),
        "id" => def.id.starts_with(v.as_str()),
        "driver" => def.driver == *v,
        "type" => v == "custom",
        "label" => match v.split_once('=') {
            Some((lk, lv)) => def.labels.get(lk).is_some_and(|x| x == lv),
            None => def.labels.contains_key(v.as_str()),
        },
        _ => false,
    })
}

fn parse_filters(vals: &[String], known: &[&str]) -> anyhow::Result<Vec<(String, String)>> {
    vals.iter()
        .map(|f| {
            let (k, v) = f
                .split_once('=')
                .with_context(|| format!("invalid --filter {f:?}: write KEY=VALUE"))?;
            if !known.contains(&k) {
                bail!("invalid --filter {f:?}: filter by {}", known.join(", "));
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

fn labels_text(l: &BTreeMap<String, String>) -> String {
    l.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn ls(ctx: &Ctx, networks: &Networks, a: LsArgs) -> anyhow::Result<u8> {
    let format = Listing::parse(a.format.as_deref()).map_err(anyhow::Error::msg)?;
    let filters = parse_filters(&a.filter, &["name", "id", "label", "driver", "type"])?;
    let defs: Vec<NetworkDef> = networks
        .list()?
        .into_iter()
        .filter(|d| keep(d, &filters))
        .collect();
    let id = |d: &NetworkDef| {
        if a.no_trunc {
            d.id.clone()
        } else {
            d.short_id().to_string()
        }
    };
    if a.quiet {
        defs.iter().for_each(|d| ctx.printer.out(&id(d)));
        return Ok(0);
    }
    match format {
        Listing::Json => {
            let v: Vec<Value> = defs
                .iter()
                .map(|d| inspect_json(d, &[], networks))
                .collect();
            ctx.printer.out(&serde_json::to_string_pretty(&v)?);
        }
        Listing::Template(t) => {
            let rows: Vec<Value> = defs
                .iter()
                .map(|d| {
                    json!({
                        "ID": id(d), "Name": d.name, "Driver": d.driver, "Scope": "local",
                        "Created": d.created.to_rfc3339(), "Internal": d.internal.to_string(),
                        "IPv6": "false", "Labels": labels_text(&d.labels),
                    })
                })
                .collect();
            let fields = [
                "ID", "Name", "Driver", "Scope", "Created", "Internal", "IPv6", "Labels",
            ];
            print_rows(&ctx.printer, &t, &fields, &[("ID", "NETWORK ID")], &rows)?;
        }
        Listing::Table => {
            let rows: Vec<[String; 4]> = defs
                .iter()
                .map(|d| [id(d), d.name.clone(), d.driver.clone(), "local".into()])
                .collect();
            ctx.printer
                .table(Some(["NETWORK ID", "NAME", "DRIVER", "SCOPE"]), &rows, 3);
        }
    }
    Ok(0)
}

/// Docker's `network inspect` object; `running` are the containers on it
/// now, with their addresses from the network's endpoints.
fn inspect_json(def: &NetworkDef, running: &[Record], networks: &Networks) -> Value {
    let endpoints = networks.endpoints(def);
    let containers: serde_json::Map<String, Value> = running
        .iter()
        .map(|r| {
            let ip = endpoints
                .iter()
                .find(|e| e.container == r.id)
                .map(|e| format!("{}/{}", e.ip, def.subnet.prefix))
                .unwrap_or_default();
            (
                r.id.clone(),
                json!({
                    "Name": r.name, "EndpointID": Endpoint::id(&r.id, &def.id), "MacAddress": "",
                    "IPv4Address": ip, "IPv6Address": "",
                }),
            )
        })
        .collect();
    json!({
        "Name": def.name,
        "Id": def.id,
        "Created": def.created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "Scope": "local",
        "Driver": def.driver,
        "EnableIPv6": false,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": [{"Subnet": def.subnet.to_string(), "Gateway": def.gateway.to_string()}],
        },
        "Internal": def.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": containers,
        "Options": def.options,
        "Labels": def.labels,
    })
}

fn inspect(ctx: &Ctx, networks: &Networks, a: InspectArgs) -> anyhow::Result<u8> {
    let template = a
        .format
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let containers = Containers::new(&ctx.dirs.state);
    let mut out = Vec::new();
    let mut failed = false;
    for key in &a.networks {
        match networks.find(key) {
            Ok(def) => {
                let running: Vec<Record> = users(&containers, &def)
                    .into_iter()
                    .filter(|r| state::observe(r).is_running())
                    .collect();
                out.push(inspect_json(&def, &running, networks));
            }
            Err(e) => {
                super::errors::eprint(&e.to_string());
                failed = true;
            }
        }
    }
    super::inspect::print_inspected(ctx, template.as_ref(), &out)?;
    Ok(u8::from(failed))
}

fn rm(ctx: &Ctx, networks: &Networks, a: RmArgs) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for key in &a.networks {
        match remove_one(networks, &containers, key) {
            Ok(()) => ctx.printer.out(key),
            Err(e) if a.force && matches!(e.downcast_ref(), Some(NetError::NotFound(_))) => {}
            Err(e) => {
                super::errors::eprint(&super::errors::text(&e));
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

/// Remove the network `key` unless a container names it.
fn remove_one(networks: &Networks, containers: &Containers, key: &str) -> anyhow::Result<()> {
    let def = networks.find(key)?;
    if let Some(r) = users(containers, &def).first() {
        bail!(
            "network {} is in use by container {} ({}); remove the container or `network disconnect` it first",
            def.name,
            r.name,
            r.short_id()
        );
    }
    Ok(networks.remove(&def)?)
}

fn prune(ctx: &Ctx, networks: &Networks, a: PruneArgs) -> anyhow::Result<u8> {
    let filters = parse_filters(&a.filter, &["label"])?;
    if !a.force {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!("network prune asks for confirmation: pass -f to prune without asking");
        }
        eprint!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        if !matches!(line.trim(), "y" | "Y" | "yes") {
            return Ok(0);
        }
    }
    let containers = Containers::new(&ctx.dirs.state);
    let mut deleted = Vec::new();
    for def in networks.list()? {
        if keep(&def, &filters) && users(&containers, &def).is_empty() {
            networks.remove(&def)?;
            deleted.push(def.name);
        }
    }
    if !deleted.is_empty() {
        ctx.printer.out("Deleted Networks:");
        deleted.iter().for_each(|n| ctx.printer.out(n));
    }
    Ok(0)
}

fn connect(ctx: &Ctx, a: ConnectArgs) -> anyhow::Result<u8> {
    crate::container::connect::connect(&ctx.dirs, &a.network, &a.container, a.alias, a.ip)?;
    Ok(0)
}

fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> anyhow::Result<u8> {
    if let Some(w) = crate::container::connect::disconnect(&ctx.dirs, &a.network, &a.container)? {
        ctx.printer.warn(&w);
    }
    Ok(0)
}
