//! `hutch ps`: list containers as Podman does (a table, `-q` ids, or
//! `--format json`). The status comes from `container::state`, so a
//! container whose supervisor died shows as exited, never as running.

use super::template::{print_rows, Listing};
use super::Ctx;
use crate::container::state::{self, human_duration, State};
use crate::container::{Containers, Record};
use serde_json::json;

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
    /// .State .Ports .Names.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// Width of the COMMAND column before it is cut (Podman's).
const COMMAND_WIDTH: usize = 20;

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let format = Listing::parse(a.format.as_deref()).map_err(anyhow::Error::msg)?;
    let containers = Containers::new(&ctx.dirs.state);
    let mut rows: Vec<(Record, State)> = containers
        .list()
        .into_iter()
        .map(|r| state::settle(&containers, r))
        .map(|r| {
            let s = state::observe(&r);
            (r, s)
        })
        .filter(|(_, s)| a.all || s.is_running())
        .collect();
    // Newest first, like Podman.
    rows.reverse();
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
            let v: Vec<_> = rows.iter().map(|(r, s)| to_json(r, *s, now)).collect();
            ctx.printer.out(&serde_json::to_string_pretty(&v)?);
            return Ok(0);
        }
        Listing::Template(t) => {
            // Docker's `ps --format` fields.
            let v: Vec<_> = rows
                .iter()
                .map(|(r, s)| {
                    json!({
                        "ID": id(r), "Image": r.image,
                        "Command": serde_json::Value::String(command(r)).to_string(),
                        "CreatedAt": r.created.to_rfc3339(),
                        "RunningFor": format!("{} ago", human_duration((now - r.created).num_seconds())),
                        "Status": state::describe(r, *s, now), "State": to_json(r, *s, now)["State"],
                        "Ports": ports(r, *s), "Names": r.name,
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
            ];
            let titles = [("ID", "CONTAINER ID"), ("RunningFor", "CREATED")];
            print_rows(&ctx.printer, t, &fields, &titles, &v)?;
            return Ok(0);
        }
        Listing::Table => {}
    }
    let table: Vec<[String; 7]> = rows
        .iter()
        .map(|(r, s)| {
            let cmd = command(r);
            [
                id(r),
                r.image.clone(),
                cmd,
                format!("{} ago", human_duration((now - r.created).num_seconds())),
                state::describe(r, *s, now),
                ports(r, *s),
                r.name.clone(),
            ]
        })
        .collect();
    let head = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    ctx.printer.table(Some(head), &table, 2);
    Ok(0)
}

/// Podman's `ps --format json` fields that hutch has.
fn to_json(r: &Record, s: State, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    let (state_name, exit) = match s {
        State::Created => ("created", None),
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
