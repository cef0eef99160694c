//! `hutch ps`: list containers as Podman does (a table, `-q` ids, or
//! `--format json`). The status comes from `container::state`, so a
//! container whose supervisor died shows as exited, never as running.

use super::filters::{label_matches, regex_matches, Filters};
use super::template::{print_rows, Listing};
use super::units::human_size;
use super::Ctx;
use crate::container::state::{self, human_duration, State};
use crate::container::{Containers, Record};
use crate::store::Store;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

/// Docker's `.Networks` of `ps --format`: the networks, comma-separated.
fn networks_text(n: &crate::net::plan::NetFlags) -> String {
    let user: Vec<String> = n.attachments().into_iter().map(|a| a.network).collect();
    match (user.is_empty(), &n.network) {
        (false, _) => user.join(","),
        (true, Some(mode)) => mode.clone(),
        (true, None) => "default".into(),
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show all containers (default: only running ones).
    #[arg(short, long)]
    pub all: bool,
    /// Print only container ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show full ids and commands.
    #[arg(long)]
    pub no_trunc: bool,
    /// `json` for a JSON array of containers, or a Go template (`table`
    /// for a header row): .ID .Image .Command .CreatedAt .RunningFor .Status
    /// .State .Ports .Names .Labels .Mounts .Networks .Size.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Show only containers that match: id, name (regular expressions),
    /// label=KEY[=VALUE], status (created, running, exited...), exited=CODE,
    /// ancestor=IMAGE, before=CONTAINER, since=CONTAINER, health (starting,
    /// healthy, unhealthy, none). One key given
    /// twice matches either value; different keys must all match.
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Show the size of each container's writable layer (and with its
    /// image's, the virtual size).
    #[arg(short, long)]
    pub size: bool,
    /// Show the N most recently created containers (in every state).
    #[arg(short = 'n', long = "last", value_name = "N")]
    pub last: Option<usize>,
    /// Show the most recently created container (in every state).
    #[arg(short, long, conflicts_with = "last")]
    pub latest: bool,
}

/// Width of the COMMAND column before it is cut (Podman's).
const COMMAND_WIDTH: usize = 20;

/// The keys `--filter` takes.
const FILTERS: &[&str] = &[
    "id", "name", "label", "status", "exited", "ancestor", "before", "since", "health",
];

/// Docker's `health=` values: a check's status, or none without a check.
const HEALTH: &[&str] = &["starting", "healthy", "unhealthy", "none"];

/// Docker's container states, as `status=` takes them.
const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let format = Listing::parse(a.format.as_deref()).map_err(anyhow::Error::msg)?;
    let filters = Filters::parse(&a.filter, FILTERS).map_err(anyhow::Error::msg)?;
    let containers = Containers::new(&ctx.dirs.state);
    let all_recs: Vec<Record> = containers
        .list()
        .into_iter()
        .map(|r| state::settle(&containers, r))
        .collect();
    let wants_size =
        !a.quiet && (a.size || a.format.as_deref().is_some_and(|f| f.contains("Size")));
    let wants_images = filters.has("label")
        || filters.has("ancestor")
        || wants_size
        || a.format.as_deref().is_some_and(|f| f.contains("Label"));
    let images = match wants_images {
        true => ImageFacts::load(ctx, &filters)?,
        false => ImageFacts::default(),
    };
    let keep = Keep::new(&filters, &all_recs)?;
    // Docker: a status filter, -n and -l look at every container.
    let every = a.all || a.latest || a.last.is_some() || filters.has("status");
    let mut rows: Vec<(Record, State)> = all_recs
        .into_iter()
        .map(|r| {
            let s = state::observe(&r);
            (r, s)
        })
        .filter(|(_, s)| every || s.is_running())
        .collect();
    // Newest first, like Podman.
    rows.reverse();
    rows.retain(|(r, s)| keep.keeps(r, *s, &images));
    if let Some(n) = a.last.or(a.latest.then_some(1)) {
        rows.truncate(n);
    }
    let sizes: Vec<String> = rows
        .iter()
        .map(|(r, _)| match wants_size {
            true => size(&containers, r, &images),
            false => String::new(),
        })
        .collect();
    let id = |r: &Record| {
        if a.no_trunc {
            r.id.clone()
        } else {
            r.short_id().to_string()
        }
    };
    if a.quiet {
        rows.iter().for_each(|(r, _)| ctx.printer.out(&id(r)));
        return Ok(0);
    }
    let now = chrono::Utc::now();
    let command = |r: &Record| {
        let cmd = r.command.join(" ");
        if !a.no_trunc && cmd.chars().count() > COMMAND_WIDTH {
            cmd.chars().take(COMMAND_WIDTH - 3).collect::<String>() + "..."
        } else {
            cmd
        }
    };
    match &format {
        Listing::Json => {
            let mut v: Vec<_> = rows.iter().map(|(r, s)| to_json(r, *s, now)).collect();
            if a.size {
                for (v, size) in v.iter_mut().zip(&sizes) {
                    v["Size"] = json!(size);
                }
            }
            ctx.printer.out(&serde_json::to_string_pretty(&v)?);
            return Ok(0);
        }
        Listing::Template(t) => {
            // Docker's `ps --format` fields.
            let v: Vec<_> = rows
                .iter()
                .zip(&sizes)
                .map(|((r, s), size)| {
                    let labels = images.labels(r);
                    json!({
                        "ID": id(r), "Image": r.image,
                        "Command": serde_json::Value::String(command(r)).to_string(),
                        "CreatedAt": r.created.to_rfc3339(),
                        "RunningFor": format!("{} ago", human_duration((now - r.created).num_seconds())),
                        "Status": state::describe(r, *s, now), "State": to_json(r, *s, now)["State"],
                        "Ports": ports(r, *s), "Names": r.name,
                        "Labels": labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                        "Mounts": r.config.volumes.iter().filter_map(|v| v.split(':').next()).collect::<Vec<_>>().join(","),
                        "Networks": networks_text(&r.config.network),
                        "Size": size,
                    })
                })
                .collect();
            let fields = [
                "ID",
                "Image",
                "Command",
                "CreatedAt",
                "RunningFor",
                "Status",
                "State",
                "Ports",
                "Names",
                "Labels",
                "Mounts",
                "Networks",
                "Size",
            ];
            let titles = [("ID", "CONTAINER ID"), ("RunningFor", "CREATED")];
            print_rows(&ctx.printer, t, &fields, &titles, &v)?;
            return Ok(0);
        }
        Listing::Table => {}
    }
    let head = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    let cells = |(r, s): &(Record, State)| {
        [
            id(r),
            r.image.clone(),
            command(r),
            format!("{} ago", human_duration((now - r.created).num_seconds())),
            state::describe(r, *s, now),
            ports(r, *s),
            r.name.clone(),
        ]
    };
    if a.size {
        let [h0, h1, h2, h3, h4, h5, h6] = head;
        let head = [h0, h1, h2, h3, h4, h5, h6, "SIZE"];
        let table: Vec<[String; 8]> = rows
            .iter()
            .zip(sizes)
            .map(|(row, size)| {
                let [a, b, c, d, e, f, g] = cells(row);
                [a, b, c, d, e, f, g, size]
            })
            .collect();
        ctx.printer.table(Some(head), &table, 2);
    } else {
        let table: Vec<[String; 7]> = rows.iter().map(cells).collect();
        ctx.printer.table(Some(head), &table, 2);
    }
    Ok(0)
}

/// Docker's SIZE: the writable layer, and with the image the virtual size
/// (`2.1kB (virtual 4.3MB)`). Parts of the writable layer owned by
/// subordinate ids that this user cannot read count as far as they are seen.
fn size(containers: &Containers, r: &Record, images: &ImageFacts) -> String {
    let upper = writable_size(containers, r);
    let image = images.size.get(&r.image_id).copied().unwrap_or(0);
    format!(
        "{} (virtual {})",
        human_size(upper),
        human_size(upper + image)
    )
}

/// Bytes of the container's writable layer (Docker's `SizeRw`).
pub(super) fn writable_size(containers: &Containers, r: &Record) -> u64 {
    crate::store::DiskUsage::default().add(&containers.dir(&r.id).join("upper"))
}

/// What the filters and columns need to know of the images containers use.
#[derive(Default)]
struct ImageFacts {
    labels: HashMap<String, BTreeMap<String, String>>,
    layers: HashMap<String, Vec<String>>,
    size: HashMap<String, u64>,
    /// Each `ancestor=` value's image (None: no such image).
    ancestors: Vec<(String, Option<Ancestor>)>,
}

/// An image named by `ancestor=`: its id and layer digests.
struct Ancestor {
    id: String,
    layers: Vec<String>,
}

impl ImageFacts {
    fn load(ctx: &Ctx, filters: &Filters) -> anyhow::Result<ImageFacts> {
        let mut f = ImageFacts::default();
        if !ctx.dirs.store.join("index.json").exists() {
            return Ok(f);
        }
        let store = Store::open(&ctx.dirs)?;
        for im in store.images()? {
            let layers: Vec<String> = im
                .manifest
                .layers()
                .iter()
                .map(|l| l.digest().to_string())
                .collect();
            f.size.insert(im.id.clone(), im.size());
            f.labels.insert(im.id.clone(), im.labels());
            f.layers.insert(im.id.clone(), layers);
        }
        for a in filters.values("ancestor") {
            let found = store.image(a).ok().map(|im| Ancestor {
                layers: f.layers.get(&im.id).cloned().unwrap_or_default(),
                id: im.id,
            });
            f.ancestors.push((a.clone(), found));
        }
        Ok(f)
    }

    /// A container's labels: its image's, then its own.
    fn labels(&self, r: &Record) -> BTreeMap<String, String> {
        let image = self.labels.get(&r.image_id).cloned().unwrap_or_default();
        crate::container::inspect::labels(r, &image)
    }

    /// Docker's ancestor: the image named, or one built on top of it.
    fn descends(&self, r: &Record, ancestor: &str) -> bool {
        let Some((_, found)) = self.ancestors.iter().find(|(a, _)| a == ancestor) else {
            return false;
        };
        match found {
            Some(Ancestor { id, layers }) => {
                *id == r.image_id
                    || self
                        .layers
                        .get(&r.image_id)
                        .is_some_and(|l| !layers.is_empty() && l.starts_with(layers))
            }
            None => r.image == ancestor,
        }
    }
}

/// The `--filter`s, with the containers `before=`/`since=` name resolved.
struct Keep<'a> {
    filters: &'a Filters,
    before: Option<chrono::DateTime<chrono::Utc>>,
    since: Option<chrono::DateTime<chrono::Utc>>,
}

impl<'a> Keep<'a> {
    fn new(filters: &'a Filters, all: &[Record]) -> anyhow::Result<Keep<'a>> {
        for v in filters.values("status") {
            if !STATUSES.contains(&v.as_str()) {
                anyhow::bail!(
                    "invalid filter 'status={v}': the statuses are {}",
                    STATUSES.join(", ")
                );
            }
        }
        for v in filters.values("health") {
            if !HEALTH.contains(&v.as_str()) {
                anyhow::bail!(
                    "invalid filter 'health={v}': use {}",
                    crate::named::one_of(HEALTH)
                );
            }
        }
        for v in filters.values("exited") {
            if v.parse::<i32>().is_err() {
                anyhow::bail!("invalid filter 'exited={v}': give an exit code (a number)");
            }
        }
        for v in filters.values("id").iter().chain(filters.values("name")) {
            regex_matches(v, "").map_err(anyhow::Error::msg)?;
        }
        let created = |key: &str| -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
            let Some(v) = filters.values(key).last() else {
                return Ok(None);
            };
            let r = all
                .iter()
                .find(|r| r.name == *v || r.id == *v)
                .or_else(|| {
                    let mut hits = all.iter().filter(|r| r.id.starts_with(v.as_str()));
                    match (hits.next(), hits.next()) {
                        (Some(r), None) => Some(r),
                        _ => None,
                    }
                })
                .ok_or_else(|| crate::container::Error::NotFound(v.clone()))?;
            Ok(Some(r.created))
        };
        Ok(Keep {
            filters,
            before: created("before")?,
            since: created("since")?,
        })
    }

    fn keeps(&self, r: &Record, s: State, images: &ImageFacts) -> bool {
        let f = self.filters;
        let status = crate::container::inspect::status_word(r, s);
        let exit = match s {
            State::Exited { code, .. } if r.started.is_some() => Some(code),
            State::Lost => Some(state::EXIT_UNKNOWN),
            _ => None,
        };
        f.allows("id", |v| regex_matches(v, &r.id).unwrap_or(false))
            // Docker tries the name with its leading '/' and without.
            && f.allows("name", |v| {
                regex_matches(v, &r.name).unwrap_or(false)
                    || regex_matches(v, &format!("/{}", r.name)).unwrap_or(false)
            })
            && f.allows("status", |v| v == status)
            && f.allows("exited", |v| exit.is_some_and(|c| v.parse() == Ok(c)))
            && f.allows("health", |v| health_word(r) == v)
            && f.allows("label", |v| label_matches(v, images.labels(r).iter()))
            && f.allows("ancestor", |v| images.descends(r, v))
            && self.before.map_or(true, |t| r.created < t)
            && self.since.map_or(true, |t| r.created > t)
    }
}

/// Docker's word for a container's health: its check's status, or none.
fn health_word(r: &Record) -> String {
    r.health
        .as_ref()
        .filter(|_| r.config.healthcheck.is_some())
        .map_or("none".into(), |h| h.status.to_string())
}

/// Podman's `ps --format json` fields that hutch has.
fn to_json(r: &Record, s: State, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let (state_name, exit) = match s {
        State::Created => ("created", None),
        _ if state::paused(r, s) => ("paused", None),
        State::Running | State::Stopping => ("running", None),
        State::Exited { code, .. } => ("exited", Some(code)),
        State::Lost => ("exited", Some(state::EXIT_UNKNOWN)),
    };
    json!({
        "Id": r.id,
        "Names": [r.name],
        "Image": r.image,
        "ImageID": r.image_id.strip_prefix("sha256:").unwrap_or(&r.image_id),
        "Command": r.command,
        "Created": r.created.timestamp(),
        "CreatedAt": r.created.to_rfc3339(),
        "StartedAt": r.started.map(|t| t.timestamp()),
        "ExitedAt": r.finished.map(|t| t.timestamp()),
        "State": state_name,
        "Status": state::describe(r, s, now),
        "Exited": exit.is_some(),
        "ExitCode": exit.unwrap_or(0),
        "Pid": if s.is_running() { r.pid.unwrap_or(0) } else { 0 },
        "Ports": if s.is_running() {
            r.ports
                .iter()
                .map(|p| {
                    json!({
                        "host_ip": p.host_ip.to_string(),
                        "container_port": p.container_port,
                        "host_port": p.host_port,
                        "range": p.range,
                        "protocol": p.protocol.name(),
                    })
                })
                .collect()
        } else {
            serde_json::Value::Null
        },
    })
}

/// The PORTS column: what a running container publishes (Docker leaves it
/// empty once the container has stopped: nothing listens any more).
fn ports(r: &Record, s: State) -> String {
    if !s.is_running() {
        return String::new();
    }
    r.ports
        .iter()
        .map(|p| p.ps_entry())
        .collect::<Vec<_>>()
        .join(", ")
}
