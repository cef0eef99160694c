//! User-defined networks at run time, Podman's rootless network namespace
//! in hutch's shape: one shared network namespace per data dir and id
//! mapping, held by a small keeper process (`hutch netns-keeper`) that also
//! answers DNS for the networks' members (`resolver`), connected to the
//! outside by pasta, with a Linux bridge inside per network. Each container
//! keeps its own network namespace and gets a veth pair: one end on the
//! bridge, `eth0` with its own address in the container.
//!
//! Ownership decides the shape. Moving an interface into a namespace takes
//! CAP_NET_ADMIN over it, so the shared namespace is owned by the
//! user-namespace keeper's namespace, in which every container's own user
//! namespace is nested: a process that is root there (the attach helper)
//! may act in both. The keeper of the shared namespace survives the hutch
//! that started it and leaves, with its pasta, once no container has been
//! attached for a few seconds; a dead one is replaced (and its pasta ended)
//! on next use.
//!
//! This module starts and attaches; definitions, endpoints and addresses
//! are `netdef`'s, the DNS wire format `resolver`'s.

use super::addrs::PASTA_DNS_FORWARD;
use super::forward::{self, Forwarder};
use super::netdef::{Endpoint, NetError, NetworkDef, Networks};
use super::ports::PortMapping;
use super::resolver::{self, Answer};
use super::spawned::Target;
use crate::procid::ProcId;
use crate::sys::process::{child_exit, enter_network, fork, Forked};
use crate::userns::keeper::same_file;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The hidden subcommand the shared namespace's keeper runs.
pub const SUBCOMMAND: &str = "netns-keeper";

/// Seconds without any attached container before the keeper leaves.
const IDLE_SECONDS: u32 = 5;

/// Host ends of containers' veth pairs start with this.
const VETH_PREFIX: &str = "hv";

/// Inner ends of veth pairs, until they are renamed `ethN`.
const PEER_PREFIX: &str = "hp";

/// A container on user-defined networks: everything the sandbox needs to
/// attach it, decided before it is cloned.
#[derive(Debug, Clone)]
pub struct BridgeNet {
    /// Its networks, at least one; published ports reach its address on
    /// the first, whose name server its /etc/resolv.conf names.
    pub nets: Vec<Membership>,
    pub networks: Networks,
    /// The container's id and name.
    pub container: String,
    pub name: String,
    pub ports: Vec<PortMapping>,
    pub hosts: String,
    pub resolv_conf: String,
    /// The pasta binary that connects the shared namespace.
    pub pasta: PathBuf,
    /// The container's state directory (the port forwarder's log).
    pub run_dir: PathBuf,
}

/// A container's place on one network, as asked for.
#[derive(Debug, Clone)]
pub struct Membership {
    pub def: NetworkDef,
    /// `--network-alias` / `network connect --alias`.
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
}

/// Which container a running attachment is for, and where it lives.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// Its pid 1.
    pub pid: i32,
    /// The user-namespace keeper its user namespace is nested in.
    pub keeper_pid: i32,
    /// That keeper's mapping (`IdMapping::key`).
    pub mapping_key: &'a str,
}

/// Why a container could not join its network.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("cannot start the shared network namespace: {0}")]
    Keeper(#[source] KeeperError),
    #[error("pasta could not connect the shared network namespace: {0}")]
    Pasta(#[source] PastaError),
    #[error("cannot attach the container to network {network}: {why}")]
    Attach {
        network: String,
        #[source]
        why: AttachError,
    },
    #[error("cannot take the container off network {network}: {why}")]
    Detach {
        network: String,
        #[source]
        why: AttachError,
    },
    #[error(transparent)]
    Forwarder(#[from] forward::ForwardError),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    /// The keeper's DNS server.
    #[error("cannot listen on port 53: {0}")]
    Dns(std::io::Error),
    #[error("cannot report to hutch: {0}")]
    Report(std::io::Error),
    #[error("the networks' DNS server failed: {0}")]
    Resolver(std::io::Error),
}

/// Why the shared namespace's keeper (`hutch netns-keeper`) did not start.
#[derive(Debug, thiserror::Error)]
pub enum KeeperError {
    #[error("{}: {error}", dir.display())]
    RunDir {
        dir: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("cannot run hutch: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("it exited at once")]
    ExitedAtOnce,
    #[error("{}: {error}", record.display())]
    Record {
        record: PathBuf,
        #[source]
        error: std::io::Error,
    },
}

/// Why the shared namespace's pasta did not start; `log` is the tail of
/// pasta's own log (empty, or starting with a separator).
#[derive(Debug, thiserror::Error)]
pub enum PastaError {
    #[error("{}: {error}", log.display())]
    Log {
        log: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("cannot run {}: {error}", binary.display())]
    Run {
        binary: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("it exited ({status}){log}")]
    Exited {
        status: std::process::ExitStatus,
        log: String,
    },
    #[error("it wrote no pid file{log}")]
    NoPidFile { log: String },
}

/// Why the forked helper that plugs or unplugs a container failed.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("pipe: {0}")]
    Pipe(#[source] nix::Error),
    #[error(transparent)]
    Fork(crate::sys::SysError),
    #[error("the helper died")]
    HelperDied,
    #[error("the helper was killed by {0}")]
    Killed(nix::sys::signal::Signal),
    /// Not one address per network: the helper's answer as it came.
    #[error("the helper reported {0:?}")]
    Answer(String),
    #[error(transparent)]
    Step(#[from] StepError),
}

/// A failed step of that helper. It crosses the fork as JSON, so it holds
/// plain data: an errno as its number, a record's failure as its text.
#[derive(Debug, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StepError {
    #[error("the `ip` command is missing: install the iproute2 package")]
    NoIp,
    #[error("cannot run ip: {}", std::io::Error::from_raw_os_error(*errno))]
    RunIp { errno: i32 },
    #[error("ip {args}: {stderr}")]
    Ip { args: String, stderr: String },
    #[error("{call} => {}", nix::errno::Errno::from_raw(*errno))]
    Sys { call: String, errno: i32 },
    /// A [`NetError`] of the network's records (an address, an endpoint).
    #[error("{0}")]
    Record(String),
}

impl From<crate::sys::SysError> for StepError {
    fn from(e: crate::sys::SysError) -> Self {
        StepError::Sys {
            call: e.call,
            errno: e.errno as i32,
        }
    }
}

impl From<NetError> for StepError {
    fn from(e: NetError) -> Self {
        StepError::Record(e.to_string())
    }
}

/// An attached container: its address and the forwarder of its published
/// ports, ended with [`Attached::stop`] when the container is gone.
pub struct Attached {
    pub ip: Ipv4Addr,
    forwarder: Option<Forwarder>,
}

impl Attached {
    pub fn stop(self) {
        if let Some(mut f) = self.forwarder {
            f.stop();
        }
    }
}

/// A short name for an id mapping (`IdMapping::key`) in file names.
fn short_key(mapping_key: &str) -> String {
    hex::encode(&Sha256::digest(mapping_key.as_bytes())[..6])
}

fn record_path(networks: &Networks, key: &str) -> PathBuf {
    networks.run_dir().join(format!("netns-{key}.pid"))
}

/// The keeper and its pasta, as recorded: `PID START PASTA_PID PASTA_START`.
fn read_record(path: &Path) -> Option<(ProcId, Option<ProcId>)> {
    let text = std::fs::read_to_string(path).ok()?;
    let f: Vec<&str> = text.split_whitespace().collect();
    let id = |i: usize| -> Option<ProcId> {
        Some(ProcId {
            pid: f.get(i)?.parse().ok()?,
            start: f.get(i + 1)?.parse().ok()?,
        })
    };
    Some((id(0)?, id(2)))
}

fn kill(p: ProcId) {
    if p.alive() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The live shared namespace's keeper for this mapping (`IdMapping::key`),
/// as recorded, started or not by this process: the user namespace it is in
/// is the one a container must be nested in to join it.
pub fn recorded_keeper(networks: &Networks, mapping_key: &str) -> Option<i32> {
    let (k, _) = read_record(&record_path(networks, &short_key(mapping_key)))?;
    k.alive().then_some(k.pid)
}

/// The pid of the live shared namespace's keeper for this mapping, started
/// (with its pasta) when there is none. The caller holds the networks' lock.
fn shared(
    networks: &Networks,
    keeper_pid: i32,
    key: &str,
    pasta: &Path,
) -> Result<i32, BridgeError> {
    let record = record_path(networks, key);
    let keeper_user = PathBuf::from(format!("/proc/{keeper_pid}/ns/user"));
    if let Some((k, p)) = read_record(&record) {
        let user = PathBuf::from(format!("/proc/{}/ns/user", k.pid));
        if k.alive() && same_file(&user, &keeper_user) {
            return Ok(k.pid);
        }
        // A keeper in the namespace of a user-namespace keeper that is gone
        // cannot reach new containers; it keeps serving its own until they
        // stop. A dead one leaves its pasta behind, which goes now.
        if !k.alive() {
            p.into_iter().for_each(kill);
        }
    }
    let run = networks.run_dir();
    std::fs::create_dir_all(&run).map_err(|error| {
        BridgeError::Keeper(KeeperError::RunDir {
            dir: run.clone(),
            error,
        })
    })?;
    let mut child = crate::sys::spawn::this_binary(SUBCOMMAND)
        .arg("--userns")
        .arg(&keeper_user)
        .arg("--data")
        .arg(networks.data_dir())
        .arg("--key")
        .arg(key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| BridgeError::Keeper(KeeperError::Spawn(e)))?;
    let mut b = [0u8; 1];
    let ready = child
        .stdout
        .take()
        .is_some_and(|mut out| out.read(&mut b).is_ok_and(|n| n == 1));
    let pid = child.id() as i32;
    let fail = |mut child: std::process::Child, e: BridgeError| {
        let _ = child.kill();
        let _ = child.wait();
        Err(e)
    };
    let Some(id) = ProcId::of(pid).filter(|_| ready) else {
        return fail(child, BridgeError::Keeper(KeeperError::ExitedAtOnce));
    };
    let pasta_pid = run.join(format!("pasta-{key}.pid"));
    let pasta_id = match start_pasta(
        pasta,
        &keeper_user,
        pid,
        &pasta_pid,
        &run.join(format!("pasta-{key}.log")),
    ) {
        Ok(p) => p,
        Err(e) => return fail(child, e),
    };
    let text = format!(
        "{} {} {} {}\n",
        id.pid, id.start, pasta_id.pid, pasta_id.start
    );
    let tmp = record.with_extension("tmp");
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &record));
    if let Err(e) = written {
        kill(pasta_id);
        return fail(
            child,
            BridgeError::Keeper(KeeperError::Record { record, error: e }),
        );
    }
    // Not waited for: it outlives this process on purpose.
    drop(child);
    Ok(pid)
}

/// Connect the keeper `pid`'s network namespace with pasta, which goes
/// into the background once the namespace is configured.
fn start_pasta(
    pasta: &Path,
    userns: &Path,
    pid: i32,
    pid_file: &Path,
    log: &Path,
) -> Result<ProcId, BridgeError> {
    let fail = BridgeError::Pasta;
    let log_file = std::fs::File::create(log).map_err(|error| {
        fail(PastaError::Log {
            log: log.to_path_buf(),
            error,
        })
    })?;
    let _ = std::fs::remove_file(pid_file);
    let mut cmd = Command::new(super::pasta::executable(pasta));
    cmd.arg0(pasta).args([
        "--config-net",
        "-t",
        "none",
        "-u",
        "none",
        "-T",
        "none",
        "-U",
        "none",
        "--no-map-gw",
        "--dns-forward",
        &PASTA_DNS_FORWARD.to_string(),
        "--quiet",
    ]);
    if nix::unistd::geteuid().is_root() {
        // See `pasta::args`: as root, pasta would become nobody, who may
        // not enter root's user namespaces.
        cmd.args(["--runas", "0:0"]);
    }
    let status = cmd
        .arg("--pid")
        .arg(pid_file)
        .arg("--userns")
        .arg(userns)
        .arg("--netns")
        .arg(format!("/proc/{pid}/ns/net"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .status()
        .map_err(|error| {
            fail(PastaError::Run {
                binary: pasta.to_path_buf(),
                error,
            })
        })?;
    let tail = || super::spawned::log_tail(log);
    if !status.success() {
        return Err(fail(PastaError::Exited {
            status,
            log: tail(),
        }));
    }
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .and_then(ProcId::of)
        .ok_or_else(|| fail(PastaError::NoPidFile { log: tail() }))
}

/// Attach the container whose pid 1 is `child` (mapped, waiting) to its
/// networks (see [`plug`]) and forward its published ports to its address
/// on the first. `keeper_pid` is the user-namespace keeper the container's
/// namespace is nested in; `mapping_key` its mapping (`IdMapping::key`).
pub fn attach(
    b: &BridgeNet,
    keeper_pid: i32,
    mapping_key: &str,
    child: i32,
    deadline: Instant,
) -> Result<Attached, BridgeError> {
    let member = Member {
        id: &b.container,
        name: &b.name,
        pid: child,
        keeper_pid,
        mapping_key,
    };
    let ips = plug(&b.networks, &b.pasta, member, &b.nets)?;
    let ip = ips[0];
    let routes = forward::routes(&b.ports, ip.into());
    let forwarder = if routes.is_empty() {
        None
    } else {
        let log = b.run_dir.join("port-forwarder.log");
        let mut f = Forwarder::spawn(&routes, &Target::Pid(child as u32), None, &log)
            .map_err(forward::ForwardError::Spawn)?;
        f.wait_ready(deadline)?;
        Some(f)
    };
    Ok(Attached { ip, forwarder })
}

/// Put the running container `m` on `nets` (at least one), at its start or
/// by `network connect`: the shared namespace started if needed, each
/// network's bridge created, an address chosen and recorded, and a veth
/// pair made whose inner end becomes the container's lowest free `ethN`;
/// the first network that leads out gives the default route unless the
/// container has one. Its addresses, in the order of `nets`. A plug that
/// fails half-way (its helper failed or died) is undone (see [`unmake`]).
pub fn plug(
    networks: &Networks,
    pasta: &Path,
    m: Member<'_>,
    nets: &[Membership],
) -> Result<Vec<Ipv4Addr>, BridgeError> {
    let names: Vec<&str> = nets.iter().map(|n| n.def.name.as_str()).collect();
    let network = names.join(", ");
    let held = networks.lock()?;
    let nk = shared(networks, m.keeper_pid, &short_key(m.mapping_key), pasta)?;
    let attach = |why| BridgeError::Attach {
        network: network.clone(),
        why,
    };
    let result = in_helper(attach, || {
        let ips = plug_inside(networks, m, nk, nets)?;
        Ok(ips
            .iter()
            .map(|ip| ip.to_string())
            .collect::<Vec<_>>()
            .join(" "))
    })
    .and_then(|report| {
        let ips: Vec<Ipv4Addr> = report
            .split_whitespace()
            .filter_map(|ip| ip.parse().ok())
            .collect();
        match ips.len() == nets.len() {
            true => Ok(ips),
            false => Err(BridgeError::Attach {
                network: network.clone(),
                why: AttachError::Answer(report),
            }),
        }
    });
    if result.is_err() {
        unmake(networks, m, nk, nets);
    }
    drop(held);
    result
}

/// Undo a failed [`plug`] of `m` on `nets`: every veth pair it may have
/// made is deleted from the shared namespace `nk` (deleting one end
/// deletes the pair, so the container's end goes too, whatever it was
/// renamed to) and the endpoints whose pair is gone are forgotten; one
/// whose pair may still be there keeps its address until the container
/// stops (see `Endpoint::live`). Best effort: the error to report is the
/// plug's. The caller holds the networks' lock.
fn unmake(networks: &Networks, m: Member<'_>, nk: i32, nets: &[Membership]) {
    let fail = |why| BridgeError::Attach {
        network: String::new(),
        why,
    };
    let gone = in_helper(fail, || {
        enter_network(
            Path::new(&format!("/proc/{}/ns/user", m.keeper_pid)),
            Path::new(&format!("/proc/{nk}/ns/net")),
        )?;
        let mut gone = Vec::new();
        for n in nets {
            let veth = veth_name(m.id, &n.def.id);
            if exists(&veth) {
                let _ = ip(&["link", "del", &veth]);
            }
            if !exists(&veth) {
                gone.push(n.def.id.clone());
            }
        }
        Ok(gone.join(" "))
    })
    .unwrap_or_default();
    for n in nets
        .iter()
        .filter(|n| gone.split(' ').any(|id| id == n.def.id))
    {
        let _ = networks.forget(&n.def, m.id);
    }
}

/// Take the running container `m` off `def` at once: its veth pair is
/// deleted (the container's interface goes with it) and its endpoint
/// forgotten. When that interface carried the default route, the first
/// network of `rest` (the container's others) that leads out gives it;
/// `def`'s gateway stays reachable through the first of `rest`.
///
/// Best effort: each step is tried whatever the one before did. The
/// endpoint is forgotten once its veth is known to be gone; otherwise its
/// address stays reserved until the container stops (see
/// `Endpoint::live`), so that no other container is given it meanwhile.
/// What could not be done, one item per step (empty when everything was).
pub fn unplug(
    networks: &Networks,
    m: Member<'_>,
    def: &NetworkDef,
    rest: &[NetworkDef],
) -> Result<Vec<String>, BridgeError> {
    let held = networks.lock()?;
    let Some(ep) = networks
        .endpoints(def)
        .into_iter()
        .find(|e| e.container == m.id)
    else {
        return Ok(Vec::new());
    };
    let keeper_user = PathBuf::from(format!("/proc/{}/ns/user", m.keeper_pid));
    let live = read_record(&record_path(networks, &short_key(m.mapping_key))).filter(|(k, _)| {
        k.alive()
            && same_file(
                &PathBuf::from(format!("/proc/{}/ns/user", k.pid)),
                &keeper_user,
            )
    });
    let mut failed = Vec::new();
    // Without its shared namespace, no veth of the container is left.
    let mut gone = live.is_none();
    if let Some((k, _)) = live {
        let gateway = rest.iter().find(|d| !d.internal).map(|d| d.gateway);
        // Its /etc/resolv.conf may name this network's gateway: a route to
        // it through another network keeps that name server reachable.
        let dns_via = rest.first().map(|d| d.gateway.to_string());
        let detach = |why| BridgeError::Detach {
            network: def.name.clone(),
            why,
        };
        let undone = in_helper(detach, || {
            // `gone` or `left` (the veth), then failures as one line each,
            // all separated by tabs (the answer is one line).
            let mut failed: Vec<String> = Vec::new();
            let mut step = |r: Result<(), String>| {
                if let Err(e) = r {
                    failed.push(e.replace(['\n', '\t'], " "));
                }
            };
            let shared_ns = PathBuf::from(format!("/proc/{}/ns/net", k.pid));
            let entered = enter_network(&keeper_user, &shared_ns);
            let in_shared = entered.is_ok();
            crate::fault::point("unplug-entered");
            step(entered.map_err(|e| format!("deleting interface {}: {e}", ep.veth)));
            if in_shared && exists(&ep.veth) {
                step(ip(&["link", "del", &ep.veth]).map_err(|e| e.to_string()));
            }
            let veth_gone = in_shared && !exists(&ep.veth);
            let inside = enter_container(m.pid);
            let in_container = inside.is_ok();
            step(inside.map_err(|e| format!("fixing the container's routes: {e}")));
            if in_container {
                if let Some(via) = &dns_via {
                    let host = format!("{}/32", def.gateway);
                    step(ip(&["route", "replace", &host, "via", via]).map_err(|e| e.to_string()));
                }
                if let Some(gw) = gateway.filter(|_| !has_default_route()) {
                    step(
                        ip(&["route", "add", "default", "via", &gw.to_string()])
                            .map_err(|e| e.to_string()),
                    );
                }
            }
            failed.insert(0, (if veth_gone { "gone" } else { "left" }).into());
            Ok(failed.join("\t"))
        });
        match undone {
            Ok(a) => {
                let mut items = a.split('\t');
                gone = items.next() == Some("gone");
                failed.extend(items.filter(|s| !s.is_empty()).map(String::from));
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    if gone {
        networks.forget(def, m.id)?;
    } else {
        failed.push(format!(
            "address {} stays reserved until the container stops",
            ep.ip
        ));
    }
    drop(held);
    Ok(failed)
}

/// Run `work` in a forked helper (which may enter other namespaces); its
/// answer, or its error as `fail` words it.
fn in_helper(
    fail: impl Fn(AttachError) -> BridgeError,
    work: impl FnOnce() -> Result<String, StepError>,
) -> Result<String, BridgeError> {
    let (r, w) = nix::unistd::pipe().map_err(|e| fail(AttachError::Pipe(e)))?;
    let died: AttachError;
    let report = match fork().map_err(|e| fail(AttachError::Fork(e)))? {
        Forked::Child => {
            drop(r);
            // Out of the terminal's process group: a Ctrl-C meant for hutch
            // (which holds it back until its change is done or undone, see
            // `container::connect`) must not kill the helper or its `ip`s
            // half-way.
            let _ = crate::sys::process::leave_process_group();
            let msg = match work() {
                Ok(answer) => format!("ok {answer}"),
                Err(e) => format!("error {}", serde_json::to_string(&e).unwrap_or_default()),
            };
            let _ = std::fs::File::from(w).write_all(msg.as_bytes());
            child_exit(0)
        }
        Forked::Parent(helper) => {
            drop(w);
            let mut s = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut s);
            let status = nix::sys::wait::waitpid(helper, None);
            died = match status {
                Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => AttachError::Killed(sig),
                _ => AttachError::HelperDied,
            };
            s
        }
    };
    match (report.strip_prefix("ok "), report.strip_prefix("error ")) {
        (Some(answer), _) => Ok(answer.to_string()),
        (_, Some(e)) => Err(fail(
            serde_json::from_str::<StepError>(e).map_or(AttachError::HelperDied, AttachError::Step),
        )),
        _ => Err(fail(died)),
    }
}

/// `ip ARGS...`, its error as one line.
fn ip(args: &[&str]) -> Result<(), StepError> {
    ip_output(args).map(drop)
}

/// What `ip ARGS...` prints, its error as one line.
fn ip_output(args: &[&str]) -> Result<String, StepError> {
    let bin = crate::userns::idmap::find_in_path("ip").ok_or(StepError::NoIp)?;
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| StepError::RunIp {
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(StepError::Ip {
        args: args.join(" "),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn exists(iface: &str) -> bool {
    nix::net::if_::if_nametoindex(iface).is_ok()
}

/// Whether this network namespace has a default IPv4 route.
fn has_default_route() -> bool {
    ip_output(&["-4", "route", "show", "default"]).is_ok_and(|o| !o.trim().is_empty())
}

/// The host end of container `id`'s veth pair on network `net_id` (at most
/// 15 bytes, one per container and network).
fn veth_name(id: &str, net_id: &str) -> String {
    let h = Sha256::digest(format!("{id}:{net_id}").as_bytes());
    format!("{VETH_PREFIX}{}", &hex::encode(h)[..12])
}

/// A locally administered unicast MAC address for network `net_id`'s bridge.
fn bridge_mac(net_id: &str) -> String {
    let h = Sha256::digest(net_id.as_bytes());
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        h[0], h[1], h[2], h[3], h[4]
    )
}

/// Enter the network namespace of the container whose pid 1 is `pid`
/// (through its user namespace, nested in the keeper's this helper is in).
fn enter_container(pid: i32) -> Result<(), StepError> {
    Ok(enter_network(
        Path::new(&format!("/proc/{pid}/ns/user")),
        Path::new(&format!("/proc/{pid}/ns/net")),
    )?)
}

/// The forked helper's work for [`plug`], as root of the user-namespace
/// keeper's namespace: first in the shared network namespace (bridges,
/// veth pairs), then in the container's (names, addresses, route). The
/// endpoints are recorded last, once the container's side is configured.
fn plug_inside(
    networks: &Networks,
    m: Member<'_>,
    nk: i32,
    nets: &[Membership],
) -> Result<Vec<Ipv4Addr>, StepError> {
    enter_network(
        Path::new(&format!("/proc/{}/ns/user", m.keeper_pid)),
        Path::new(&format!("/proc/{nk}/ns/net")),
    )?;
    let mut made = Vec::new();
    for n in nets {
        let def = &n.def;
        let br = def.bridge();
        if !exists(&br) {
            // A fixed address: a bridge otherwise takes the lowest of its
            // ports', and a port joining later would change the gateway's
            // address under its members' ARP caches.
            ip(&[
                "link",
                "add",
                &br,
                "address",
                &bridge_mac(&def.id),
                "type",
                "bridge",
            ])?;
            ip(&[
                "addr",
                "add",
                &format!("{}/{}", def.gateway, def.subnet.prefix),
                "dev",
                &br,
            ])?;
            ip(&["link", "set", &br, "up"])?;
        }
        let veth = veth_name(m.id, &def.id);
        if exists(&veth) {
            ip(&["link", "del", &veth])?;
        }
        let live = |e: &Endpoint| e.live(exists);
        networks.forget_stale(def, &live);
        let addr = networks.allocate(def, m.id, n.ip, &live)?;
        // Named after its host end until it is in the container: only
        // there can the lowest free ethN be seen.
        let peer = format!("{PEER_PREFIX}{}", &veth[VETH_PREFIX.len()..]);
        ip(&[
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
            "netns",
            &m.pid.to_string(),
        ])?;
        ip(&["link", "set", &veth, "master", &br, "up"])?;
        made.push((n, addr, veth, peer));
    }
    enter_container(m.pid)?;
    // On a failure the caller deletes the pairs (see `unmake`).
    for (n, addr, _, peer) in &made {
        let def = &n.def;
        let eth = (0..)
            .map(|i| format!("eth{i}"))
            .find(|e| !exists(e))
            .expect("some ethN is free");
        ip(&["link", "set", peer, "name", &eth])?;
        ip(&[
            "addr",
            "add",
            &format!("{addr}/{}", def.subnet.prefix),
            "dev",
            &eth,
        ])?;
        ip(&["link", "set", &eth, "up"])?;
        if !def.internal && !has_default_route() {
            ip(&["route", "add", "default", "via", &def.gateway.to_string()])?;
        }
    }
    for (n, addr, veth, _) in &made {
        let ep = Endpoint {
            container: m.id.to_string(),
            name: m.name.to_string(),
            aliases: n.aliases.clone(),
            ip: *addr,
            veth: veth.clone(),
            init: ProcId::of(m.pid),
        };
        networks.save_endpoint(&n.def, &ep)?;
    }
    crate::fault::point("plug-recorded");
    Ok(made.iter().map(|(_, addr, _, _)| *addr).collect())
}

/// The container's /etc/resolv.conf on `def`: the network's name server
/// (the keeper, on the gateway address), then `--dns` servers; only the
/// search domains asked for, since every search suffix tried costs a
/// forwarded query before the bare name of a member is asked.
pub fn resolv_conf(
    def: &NetworkDef,
    servers: &[std::net::IpAddr],
    search: &[String],
    options: &[String],
) -> String {
    let mut s = String::new();
    let search: Vec<&str> = search
        .iter()
        .map(String::as_str)
        .filter(|d| *d != ".")
        .collect();
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    s.push_str(&format!("nameserver {}\n", def.gateway));
    for ip in servers {
        s.push_str(&format!("nameserver {ip}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// The keeper's life (`hutch netns-keeper`): enter the user-namespace
/// keeper's namespace, make the shared network namespace, report, then
/// answer DNS on port 53 of every bridge until no container has been
/// attached for a while; then leave, ending its pasta.
pub fn serve(userns: &Path, data: &Path, key: &str) -> Result<(), BridgeError> {
    crate::sys::process::become_netns_keeper(userns)?;
    crate::sys::net::interface_up("lo")?;
    // Containers' traffic leaves through pasta's interface. /proc/sys/net
    // is this process's network namespace's.
    let _ = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1");
    let sock = UdpSocket::bind(("0.0.0.0", 53)).map_err(BridgeError::Dns)?;
    std::io::stdout()
        .write_all(b"r")
        .and_then(|()| std::io::stdout().flush())
        .map_err(BridgeError::Report)?;
    crate::sys::stdio::all_to_dev_null()?;
    let _ = std::env::set_current_dir("/");
    let networks = Networks::new(data);
    let record = record_path(&networks, key);
    let me = ProcId::current();
    let lock = data.join("networks/.lock");
    // Learnt from the record (written just after this process reported),
    // at the first query or the first quiet second, whichever comes first:
    // the pasta to end on the way out, even if the record (or the whole
    // data dir) is gone by then.
    let pasta: std::cell::Cell<Option<ProcId>> = std::cell::Cell::new(None);
    let learn = || {
        if pasta.get().is_none() {
            if let Some((k, p)) = read_record(&record) {
                if Some(k) == me {
                    pasta.set(p);
                }
            }
        }
    };
    let lookup = |from: Ipv4Addr, name: &str| -> Answer {
        learn();
        networks
            .answer(from, name, &|e: &Endpoint| exists(&e.veth))
            .map_or(Answer::Forward, Answer::Member)
    };
    let mut idle = 0u32;
    let mut done = || {
        learn();
        if attached_any() {
            idle = 0;
            return false;
        }
        idle += 1;
        if idle < IDLE_SECONDS {
            return false;
        }
        // Under the lock, so no hutch is attaching a container meanwhile;
        // a data dir that was deleted has nobody left to attach.
        let held = crate::sys::flock::try_lock(&lock, crate::sys::flock::Mode::Exclusive);
        let free = matches!(held, Ok(Some(_))) || !lock.exists();
        if !free || attached_any() {
            return false;
        }
        if read_record(&record).is_some_and(|(k, _)| Some(k) == me) {
            let _ = std::fs::remove_file(&record);
        }
        pasta.get().into_iter().for_each(kill);
        drop(held);
        true
    };
    let upstream = SocketAddr::from((PASTA_DNS_FORWARD, 53));
    resolver::serve(&sock, &lookup, upstream, &mut done).map_err(BridgeError::Resolver)
}

/// Whether any container's veth is in this (the shared) namespace.
fn attached_any() -> bool {
    nix::net::if_::if_nameindex()
        .map(|l| {
            l.iter()
                .any(|i| i.name().to_string_lossy().starts_with(VETH_PREFIX))
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_helper_step_error_crosses_the_fork_as_it_was() {
        let sys = || crate::sys::SysError::new("setns(/proc/1/ns/net)", nix::errno::Errno::EPERM);
        let steps = [
            StepError::NoIp,
            StepError::RunIp {
                errno: libc::ENOENT,
            },
            StepError::Ip {
                args: "link add br0".into(),
                stderr: "RTNETLINK answers: File exists".into(),
            },
            StepError::from(sys()),
        ];
        for e in steps {
            let line = serde_json::to_string(&e).unwrap();
            assert!(!line.contains('\n'), "{line}");
            let back: StepError = serde_json::from_str(&line).unwrap();
            assert_eq!(back.to_string(), e.to_string());
        }
        assert_eq!(StepError::from(sys()).to_string(), sys().to_string());
    }

    #[test]
    fn resolv_conf_puts_the_network_first() {
        let def = NetworkDef {
            name: "n".into(),
            id: "0".repeat(64),
            created: chrono::Utc::now(),
            driver: "bridge".into(),
            subnet: "10.89.1.0/24".parse().unwrap(),
            gateway: Ipv4Addr::new(10, 89, 1, 1),
            internal: false,
            labels: Default::default(),
            options: Default::default(),
        };
        assert_eq!(resolv_conf(&def, &[], &[], &[]), "nameserver 10.89.1.1\n");
        let r = resolv_conf(
            &def,
            &["192.0.2.53".parse().unwrap()],
            &["example.org".into()],
            &["ndots:2".into()],
        );
        assert_eq!(
            r,
            "search example.org\nnameserver 10.89.1.1\nnameserver 192.0.2.53\noptions ndots:2\n"
        );
    }

    #[test]
    fn interface_names_fit_and_differ_per_network() {
        let (c, n1, n2) = ("c".repeat(64), "1".repeat(64), "2".repeat(64));
        let (a, b) = (veth_name(&c, &n1), veth_name(&c, &n2));
        assert_ne!(a, b);
        assert!(a.len() <= 15 && a.starts_with(VETH_PREFIX), "{a}");
        assert_ne!(bridge_mac(&n1), bridge_mac(&n2));
        // Locally administered, unicast.
        assert!(bridge_mac(&n1).starts_with("02:"));
        assert_eq!(bridge_mac(&n1).len(), 17);
    }

    #[test]
    fn records_name_keeper_and_pasta() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r");
        std::fs::write(&p, "12 34 56 78\n").unwrap();
        let (k, pasta) = read_record(&p).unwrap();
        assert_eq!((k.pid, k.start), (12, 34));
        assert_eq!(pasta.map(|p| (p.pid, p.start)), Some((56, 78)));
        std::fs::write(&p, "12\n").unwrap();
        assert!(read_record(&p).is_none());
        assert_eq!(short_key("a").len(), 12);
    }
}
