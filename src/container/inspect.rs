//! The JSON shown for a container: Docker's `docker inspect` object (`Id`,
//! `Created`, `Path`, `Args`, `State`, `Image`, `Name` with its leading
//! '/', `Config`, `HostConfig`, `Mounts`, `NetworkSettings`), built from
//! the record and its observed state. Keys Docker has and hutch has no
//! value for are there with Docker's empty value, so templates such as
//! `{{.HostConfig.Privileged}}` work unchanged.
//!
//! It only shapes data it is given; it reads nothing.

use super::restart::Policy;
use super::state::{restarting, State, EXIT_UNKNOWN};
use super::Record;
use crate::net::netdef::{Endpoint, NetworkDef};
use crate::net::ports::PortMapping;
use crate::sandbox::limits::parse_size;
use crate::sandbox::security::DEFAULT_SHM_SIZE;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What the record does not hold: the image's labels and exposed ports
/// (empty when the image is gone), where the container's log is, and its
/// places on the user-defined networks it names (the first first).
#[derive(Debug, Default)]
pub struct Facts {
    pub labels: BTreeMap<String, String>,
    pub exposed: Vec<String>,
    pub log_path: String,
    pub networks: Vec<(NetworkDef, Endpoint)>,
    /// Where volumes live (for their `Source`).
    pub volumes: crate::volume::Volumes,
}

/// Go's zero time, which Docker prints for a time that never came.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or(ZERO_TIME.into(), |t| {
        t.to_rfc3339_opts(SecondsFormat::Nanos, true)
    })
}

/// Docker's `State.Status` word for a container in an observed state.
pub fn status_word(rec: &Record, s: State) -> &'static str {
    match s {
        State::Created => "created",
        _ if super::state::paused(rec, s) => "paused",
        State::Running | State::Stopping => "running",
        _ if restarting(rec, s) => "restarting",
        State::Exited { .. } | State::Lost => "exited",
    }
}

/// Docker's container labels: the image's, then the container's own.
pub fn labels(rec: &Record, image: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all = image.clone();
    all.extend(rec.config.labels.clone());
    all
}

/// Docker's `{"80/tcp": [{"HostIp": "...", "HostPort": "8080"}]}`, one key
/// per container port of every mapping (ranges spelled out).
fn port_map(ports: &[PortMapping]) -> Value {
    let mut m: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in ports {
        for i in 0..p.range {
            m.entry(format!("{}/{}", p.container_port + i, p.protocol.name()))
                .or_default()
                .push(json!({
                    "HostIp": p.host_ip.to_string(),
                    "HostPort": (p.host_port + i).to_string(),
                }));
        }
    }
    json!(m)
}

/// Docker's `Mounts` entry for one `-v` or `--mount` (tmpfs mounts are
/// listed under `HostConfig.Tmpfs` only, as Docker does).
fn mount(m: &super::mounts::Mount, volumes: &crate::volume::Volumes) -> Option<Value> {
    use super::mounts::Source;
    let mode = match m.syntax {
        super::mounts::Syntax::Volume => m.options.clone(),
        super::mounts::Syntax::Mount => String::new(),
    };
    let rw = !m.read_only;
    Some(match &m.source {
        Source::Host(p) => json!({
            "Type": "bind",
            "Source": p,
            "Destination": m.target,
            "Mode": mode,
            "RW": rw,
            "Propagation": m.propagation.as_deref().unwrap_or("rprivate"),
        }),
        Source::Volume(name) => json!({
            "Type": "volume",
            "Name": name,
            "Source": volumes.mountpoint(name),
            "Destination": m.target,
            "Driver": crate::volume::LOCAL,
            "Mode": mode,
            "RW": rw,
            "Propagation": "",
        }),
        Source::Anonymous | Source::Tmpfs => return None,
    })
}

/// Docker's inspect object for one container.
pub fn inspect(rec: &Record, state: State, facts: &Facts) -> Value {
    let c = &rec.config;
    let (code, finished) = match state {
        State::Exited { code, finished } => (code, finished.or(rec.finished)),
        State::Lost => (EXIT_UNKNOWN, rec.finished),
        _ => (0, None),
    };
    let running = state.is_running();
    let entrypoint = c.entrypoint.clone().unwrap_or_default();
    let cmd = c.cmd.clone().unwrap_or_default();
    let tmpfs: Map<String, Value> = c
        .tmpfs
        .iter()
        .map(|t| {
            let (path, opts) = t.split_once(':').unwrap_or((t, ""));
            (path.to_string(), json!(opts))
        })
        .collect();
    let exposed: Map<String, Value> = facts
        .exposed
        .iter()
        .map(|p| (p.clone(), json!({})))
        .collect();
    let empty_none = |v: &[String]| -> Value {
        if v.is_empty() {
            Value::Null
        } else {
            json!(v)
        }
    };
    let sec = &c.security;
    let size = |s: &Option<String>| s.as_deref().and_then(|s| parse_size(s).ok());
    let nano_cpus = sec
        .cpus
        .as_deref()
        .and_then(|c| c.parse::<f64>().ok())
        .map_or(0, |c| (c * 1e9) as i64);
    let pid = rec.pid.filter(|_| running);
    // Docker shows a network address only while the container runs.
    let places: &[(NetworkDef, Endpoint)] = if running { &facts.networks } else { &[] };
    let address = places.first();
    // Kept as given and checked when the container was created.
    let policy: Policy = c.restart.parse().unwrap_or_default();
    let log_driver = match c.log_driver.as_str() {
        "" => "k8s-file",
        d => d,
    };
    let devices: Vec<Value> = c
        .devices
        .iter()
        .map(|d| {
            let mut parts = d.splitn(3, ':');
            let host = parts.next().unwrap_or_default();
            let (target, perms) = match (parts.next(), parts.next()) {
                (Some(p), None) if !p.starts_with('/') => (host, p),
                (Some(t), p) => (t, p.unwrap_or("rwm")),
                (None, _) => (host, "rwm"),
            };
            json!({"PathOnHost": host, "PathInContainer": target, "CgroupPermissions": perms})
        })
        .collect();
    let mut v = json!({
        "Id": rec.id,
        "Created": time(Some(rec.created)),
        "Path": rec.command.first().cloned().unwrap_or_default(),
        "Args": rec.command.iter().skip(1).collect::<Vec<_>>(),
        "State": {
            "Status": status_word(rec, state),
            "Running": running,
            "Paused": super::state::paused(rec, state),
            "Restarting": restarting(rec, state),
            "OOMKilled": false,
            "Dead": false,
            "Pid": pid.unwrap_or(0),
            "ExitCode": code,
            "Error": "",
            "StartedAt": time(rec.started),
            "FinishedAt": time(finished),
        },
        "Image": rec.image_id,
        "Name": format!("/{}", rec.name),
        "LogPath": facts.log_path,
        // Generated in memory at each start: no host file to point at.
        "ResolvConfPath": "",
        "HostnamePath": "",
        "HostsPath": "",
        "RestartCount": rec.restart_count,
        "Driver": c.storage_driver,
        "Platform": "linux",
        "Config": {
            "Hostname": c.hostname,
            "Domainname": "",
            "User": c.user.clone().unwrap_or_default(),
            "AttachStdin": c.interactive,
            "AttachStdout": true,
            "AttachStderr": true,
            "ExposedPorts": exposed,
            "Tty": c.tty,
            "OpenStdin": c.interactive,
            "StdinOnce": false,
            "Env": c.env,
            "Cmd": empty_none(&cmd),
            "Image": rec.image,
            "Volumes": Value::Null,
            "WorkingDir": c.workdir,
            "Entrypoint": empty_none(&entrypoint),
            "Labels": labels(rec, &facts.labels),
            "StopSignal": c.stop_signal.clone().unwrap_or_else(|| "SIGTERM".into()),
            "StopTimeout": c.stop_timeout,
        },
        "HostConfig": {
            "Binds": empty_none(&c.volumes),
            "NetworkMode": c.network.network.clone().unwrap_or_else(|| "default".into()),
            "PortBindings": port_map(&rec.ports),
            "RestartPolicy": {"Name": policy.name(), "MaximumRetryCount": policy.max_retries()},
            "AutoRemove": rec.auto_remove,
            "CapAdd": empty_none(&c.security.cap_add),
            "CapDrop": empty_none(&c.security.cap_drop),
            "Dns": c.network.dns,
            "DnsOptions": c.network.dns_option,
            "DnsSearch": c.network.dns_search,
            "ExtraHosts": empty_none(&c.network.add_host),
            "Init": c.init,
            "Privileged": c.security.privileged,
            "PublishAllPorts": c.network.publish_all,
            "ReadonlyRootfs": c.read_only,
            "SecurityOpt": empty_none(&c.security.security_opt),
            "Tmpfs": tmpfs,
            "UsernsMode": c.userns,
            "LogConfig": {"Type": log_driver, "Config": c.log_opts},
            "GroupAdd": empty_none(&c.group_add),
            "Devices": devices,
            "Memory": size(&sec.memory).unwrap_or(0),
            "NanoCpus": nano_cpus,
            "PidsLimit": sec.pids_limit.as_deref().and_then(|p| p.parse::<i64>().ok()),
            "ShmSize": size(&sec.shm_size).unwrap_or(DEFAULT_SHM_SIZE),
        },
        "Mounts": super::mounts::of_record(rec)
            .iter()
            .filter_map(|m| mount(m, &facts.volumes))
            .collect::<Vec<_>>(),
        "NetworkSettings": {
            "Ports": if running { port_map(&rec.ports) } else { json!({}) },
            // The namespace of pid 1 (`nsenter --net=...`).
            "SandboxKey": pid.map(|p| format!("/proc/{p}/ns/net")).unwrap_or_default(),
            "IPAddress": address.map(|(_, e)| e.ip.to_string()).unwrap_or_default(),
            "IPPrefixLen": address.map_or(0, |(d, _)| d.subnet.prefix),
            "Gateway": address.map(|(d, _)| d.gateway.to_string()).unwrap_or_default(),
            "MacAddress": "",
            "Networks": places
                .iter()
                .map(|(d, e)| {
                    let v = json!({
                        "NetworkID": d.id,
                        "EndpointID": Endpoint::id(&rec.id, &d.id),
                        "IPAddress": e.ip.to_string(),
                        "IPPrefixLen": d.subnet.prefix,
                        "Gateway": d.gateway.to_string(),
                        "Aliases": e.aliases,
                        "MacAddress": "",
                    });
                    (d.name.clone(), v)
                })
                .collect::<Map<String, Value>>(),
        },
    });
    // Docker has these keys only when they are set.
    if let Some(h) = &rec.health {
        v["State"]["Health"] = json!(h);
    }
    if let Some(h) = &c.healthcheck {
        v["Config"]["Healthcheck"] = json!(h);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ports::Protocol;
    use std::path::Path;

    #[test]
    fn ports_are_keyed_by_container_port_and_protocol() {
        let p = PortMapping {
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: 8080,
            container_port: 80,
            protocol: Protocol::Tcp,
            range: 2,
        };
        assert_eq!(
            port_map(&[p]),
            json!({
                "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}],
            })
        );
    }

    #[test]
    fn binds_and_volumes_become_mounts() {
        let vols = crate::volume::Volumes::new(Path::new("/store"));
        let m =
            |v: &str| mount(&crate::container::mounts::parse_volume(v).unwrap(), &vols).unwrap();
        assert_eq!(m("/h:/c:ro")["RW"], json!(false));
        assert_eq!(m("/h:/c")["Destination"], json!("/c"));
        assert_eq!(m("/h:/c")["Type"], json!("bind"));
        let v = m("data:/d:z");
        assert_eq!(v["Type"], json!("volume"));
        assert_eq!(v["Name"], json!("data"));
        assert_eq!(v["Source"], json!("/store/volumes/data/_data"));
        assert_eq!(v["Mode"], json!("z"));
        let t = crate::container::mounts::parse_mount("type=tmpfs,target=/t").unwrap();
        assert!(mount(&t, &vols).is_none());
        assert_eq!(time(None), ZERO_TIME);
    }
}
