//! `hutch port CONTAINER [PORT[/PROTO]]`: the ports a container publishes,
//! from its record, in Docker's format (`80/tcp -> 127.0.0.1:8080`).

use super::Ctx;
use crate::container::Containers;
use crate::net::ports::Protocol;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Container name or id (or a unique id prefix).
    pub container: String,
    /// Show only the host side of this container port, e.g. 80 or 53/udp.
    #[arg(value_name = "PORT[/PROTO]")]
    pub port: Option<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let all = containers.list();
    let by_id: Vec<_> = all
        .iter()
        .filter(|r| r.id.starts_with(&a.container))
        .collect();
    let rec = match all.iter().find(|r| r.name == a.container) {
        Some(r) => r,
        None if by_id.len() == 1 => by_id[0],
        None if by_id.len() > 1 => anyhow::bail!(
            "'{}' matches {} containers: give more of the id, or the name",
            a.container,
            by_id.len()
        ),
        None => anyhow::bail!("no container named or with id '{}'", a.container),
    };
    let filter = a.port.as_deref().map(parse_filter).transpose()?;
    for m in &rec.ports {
        for line in m.lines() {
            let (ctr, host) = line.split_once(" -> ").unwrap_or((&line, ""));
            match &filter {
                None => ctx.printer.out(&line),
                // Docker prints only the host side for one port.
                Some(f) if ctr == f => ctx.printer.out(host),
                Some(_) => {}
            }
        }
    }
    Ok(0)
}

/// `80` means `80/tcp`.
fn parse_filter(p: &str) -> anyhow::Result<String> {
    let (port, proto) = p.split_once('/').unwrap_or((p, Protocol::Tcp.name()));
    let port: u16 = port
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid port '{p}': write PORT or PORT/tcp or PORT/udp"))?;
    if proto != "tcp" && proto != "udp" {
        anyhow::bail!("invalid port '{p}': the protocol is tcp or udp");
    }
    Ok(format!("{port}/{proto}"))
}
