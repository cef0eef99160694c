//! `network connect` / `network disconnect` of a container: its record's
//! networks changed under its lock, and, while it runs, its interfaces
//! added or removed at once (`net::bridge::plug` / `unplug`), as Docker
//! does. A stopped container's change takes effect at its next start.
//!
//! A running container can change networks only when it is on a
//! user-defined network already: only then is its user namespace nested in
//! the keeper's that owns the shared network namespace, which moving an
//! interface into it takes. A running container on a helper network
//! (pasta, slirp4netns) is refused rather than given an interface beside
//! its helper, where Docker adds one beside its default bridge: its record
//! can only name the user-defined network in place of the helper (which is
//! what it starts on once connected while stopped), so it would not run
//! again as it ran then. `none`, `host` and `container:NAME` have no
//! network to add one beside, as with Docker. A disconnect is best effort:
//! the network leaves the record even when the interface or a route could
//! not be fixed, which the caller is told. This module decides and
//! records; the namespaces and interfaces are `net::bridge`'s.
//!
//! A container between states (its pid 1 being started, by `start` or its
//! restart policy, from a record read before; or gone while its supervisor
//! finishes) is waited for, up to 10 s, then refused: a change recorded
//! then could miss the run being set up.
//!
//! A change to a running container is not stopped half-way by Ctrl-C,
//! SIGTERM or SIGHUP: they are held back until it is done or undone (and
//! its helper runs outside the terminal's process group). A connect
//! records the network first and takes it out again when the plug fails,
//! so even a SIGKILL leaves a record that names the network of any
//! interface it made.

use super::{Containers, Record};
use crate::dirs::Dirs;
use crate::net::bridge::{self, BridgeError, Member, Membership};
use crate::net::netdef::{NetError, NetworkDef, Networks};
use crate::net::plan::{Attachment, NetFlags};
use crate::net::Network;
use std::time::{Duration, Instant};

/// Why a container's networks could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Docker's wording.
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyOn { container: String, network: String },
    /// Docker's wording (it names the container by id).
    #[error("container {id} is not connected to the network {network}")]
    NotOn { id: String, network: String },
    #[error(
        "container {name} is running on --network {mode}: hutch connects a running container \
         only when it is on a user-defined network already; stop it, connect it and start it"
    )]
    NotOnUserNetwork { name: String, mode: String },
    #[error(
        "container {name} runs in a user namespace whose keeper has ended (it was killed \
         since the container started): restart the container to change its networks"
    )]
    OtherKeeper { name: String },
    #[error("container {name} is restarting; try again")]
    Restarting { name: String },
    /// Docker refuses these too: the container has no network of its own
    /// to add one beside, or was made to have none.
    #[error(
        "container {name} is on --network {mode}, which cannot be combined with other \
         networks: create it again with --network NETWORK instead"
    )]
    Exclusive { name: String, mode: String },
    #[error(
        "container {name} publishes ports through its first network, {network}: \
         stop it before disconnecting that network (its ports move to the next one at start)"
    )]
    PublishedOn { name: String, network: String },
    #[error(transparent)]
    Container(#[from] super::Error),
    #[error(transparent)]
    Network(#[from] crate::net::Error),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Bridge(#[from] BridgeError),
    #[error(transparent)]
    Userns(#[from] crate::userns::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
}

type Result<T> = std::result::Result<T, ConnectError>;

/// Whether the `--network` value `n` names `def` (by name or id prefix).
pub fn names(n: &str, def: &NetworkDef) -> bool {
    n == def.name || (n.len() >= 12 && def.id.starts_with(n))
}

/// Whether `rec` is on the user-defined network `def` (running or not).
pub fn uses(rec: &Record, def: &NetworkDef) -> bool {
    rec.config
        .network
        .attachments()
        .iter()
        .any(|a| names(&a.network, def))
}

/// Where a running container's network namespace is reached from.
struct Running {
    pid: i32,
    keeper_pid: i32,
    mapping_key: String,
}

impl Running {
    fn member<'a>(&'a self, rec: &'a Record) -> Member<'a> {
        Member {
            id: &rec.id,
            name: &rec.name,
            pid: self.pid,
            keeper_pid: self.keeper_pid,
            mapping_key: &self.mapping_key,
        }
    }
}

/// The running container's pid 1 and the keeper its user namespace is
/// nested in; None when it is not running. The record is one read under
/// the container's lock, not between states (see [`target`]), so its pid 1
/// is the one it names with its start time.
fn running(rec: &Record) -> Result<Option<Running>> {
    let live = super::state::observe(rec) == super::state::State::Running;
    let Some(pid) = rec.init.filter(|_| live).map(|p| p.pid) else {
        return Ok(None);
    };
    if rec.config.network.attachments().is_empty() {
        return Err(ConnectError::NotOnUserNetwork {
            name: rec.name.clone(),
            mode: rec
                .config
                .network
                .network
                .clone()
                .unwrap_or_else(|| "default".into()),
        });
    }
    let mapping = rec.mapping()?;
    // The keeper it is nested in, whichever the runtime dir names now (or
    // none, after a logout): only that one's namespace owns the shared
    // network namespace the container is on.
    let keeper =
        crate::userns::keeper::nesting(pid, &mapping).ok_or_else(|| ConnectError::OtherKeeper {
            name: rec.name.clone(),
        })?;
    Ok(Some(Running {
        pid,
        keeper_pid: keeper.pid,
        mapping_key: mapping.key(),
    }))
}

/// The definitions of the user-defined networks `flags` name (those that
/// still exist).
fn defs_of(networks: &Networks, flags: &NetFlags) -> Vec<NetworkDef> {
    flags
        .attachments()
        .iter()
        .filter_map(|a| networks.find(&a.network).ok())
        .collect()
}

/// The network and the container a command names, the container's record
/// read again under its lock (held until the value is dropped).
struct Target {
    networks: Networks,
    def: NetworkDef,
    containers: Containers,
    rec: Record,
    _lock: super::Locked,
}

/// How long a container between states is waited for.
const SETTLE: Duration = Duration::from_secs(10);

/// The target, once its container is not between states: its pid 1 being
/// started (the supervisor planned that run from the record before this
/// change, and records its pid only once it runs) or gone while its
/// supervisor finishes (the pid may already belong to another process).
fn target(dirs: &Dirs, network: &str, container: &str) -> Result<Target> {
    let networks = Networks::new(&dirs.store);
    let def = networks.find(network)?;
    let containers = Containers::new(&dirs.state);
    let id = containers.resolve(container)?.id;
    let deadline = Instant::now() + SETTLE;
    loop {
        let lock = containers.lock(&id)?;
        let rec = containers
            .read(&id)
            .ok_or_else(|| super::Error::NotFound(container.to_string()))?;
        let settling = match super::state::observe(&rec) {
            super::state::State::Running => rec.init.is_none(),
            super::state::State::Stopping => true,
            _ => false,
        };
        if !settling {
            return Ok(Target {
                networks,
                def,
                containers,
                rec,
                _lock: lock,
            });
        }
        // The supervisor records the new state under this lock.
        drop(lock);
        if Instant::now() >= deadline {
            return Err(ConnectError::Restarting { name: rec.name });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `network connect [--alias A]... [--ip IP] NETWORK CONTAINER`.
pub fn connect(
    dirs: &Dirs,
    network: &str,
    container: &str,
    aliases: Vec<String>,
    ip: Option<String>,
) -> Result<()> {
    let Target {
        networks,
        def,
        containers,
        mut rec,
        _lock,
    } = target(dirs, network, container)?;
    if uses(&rec, &def) {
        return Err(ConnectError::AlreadyOn {
            container: rec.name,
            network: def.name,
        });
    }
    if let Some(mode) = rec.config.network.exclusive_mode() {
        return Err(ConnectError::Exclusive {
            name: rec.name,
            mode: mode.to_string(),
        });
    }
    let mut flags: NetFlags = rec.config.network.clone();
    flags.add_attachment(Attachment {
        network: def.name.clone(),
        aliases,
        ip,
    });
    // Checks the aliases and the address as `run` would.
    let joined: Vec<Membership> = Network::user_defined(&flags, &dirs.store)?
        .into_iter()
        .filter(|m| m.def.id == def.id)
        .collect();
    let live = running(&rec)?;
    let before = std::mem::replace(&mut rec.config.network, flags);
    let Some(r) = &live else {
        containers.save(&rec).map_err(super::Error::Io)?;
        return Ok(());
    };
    let pasta = crate::net::plan::HostEnv::detect()
        .search_path
        .find("pasta")
        .ok_or(crate::net::Error::NoPasta)?;
    let _deferred = crate::sys::signal::defer_termination()?;
    containers.save(&rec).map_err(super::Error::Io)?;
    if let Err(e) = bridge::plug(&networks, &pasta, r.member(&rec), &joined) {
        // The plug undid itself. Should the record stay as saved, the
        // network is joined at the next start, as after a stopped connect:
        // the plug's failure is the one to report.
        rec.config.network = before;
        let _ = containers.save(&rec);
        return Err(e.into());
    }
    Ok(())
}

/// `network disconnect NETWORK CONTAINER`. A running container's
/// interface is taken away as far as that can be done; the network is
/// forgotten in its record in any case. A warning (one line) naming what
/// could not be undone, if anything.
pub fn disconnect(dirs: &Dirs, network: &str, container: &str) -> Result<Option<String>> {
    let Target {
        networks,
        def,
        containers,
        mut rec,
        _lock,
    } = target(dirs, network, container)?;
    let mut flags = rec.config.network.clone();
    if !flags.remove_attachment(|n| names(n, &def)) {
        return Err(ConnectError::NotOn {
            id: rec.id,
            network: def.name,
        });
    }
    let mut warning = None;
    let live = running(&rec)?;
    let _deferred = live
        .as_ref()
        .map(|_| crate::sys::signal::defer_termination())
        .transpose()?;
    if let Some(r) = live {
        // The port forwarder runs against the first network's address,
        // which goes with it.
        let first = rec.config.network.network.as_deref();
        let publishes = !rec.config.network.publish.is_empty() || rec.config.network.publish_all;
        if publishes && first.is_some_and(|n| names(n, &def)) {
            return Err(ConnectError::PublishedOn {
                name: rec.name,
                network: def.name,
            });
        }
        let left = bridge::unplug(&networks, r.member(&rec), &def, &defs_of(&networks, &flags))?;
        if !left.is_empty() {
            warning = Some(format!(
                "container {} is off network {}, but not all was undone: {}",
                rec.name,
                def.name,
                left.join("; ")
            ));
        }
    }
    rec.config.network = flags;
    containers.save(&rec).map_err(super::Error::Io)?;
    Ok(warning)
}
