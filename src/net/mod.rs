//! Container networking: which network namespace a container gets, and the
//! /etc/hosts and /etc/resolv.conf it sees.
//!
//! `none` is a private network namespace with only `lo`, brought up; `host`
//! shares the caller's; `pasta` (the default when installed, as in Podman 5)
//! and `slirp4netns` connect a private namespace through a user-mode helper.
//! `sandbox::launch` starts that helper on the child's namespace right after
//! the id mapping, the helper configures it while the child sets up its root
//! filesystem, and the child execs only once the helper is ready. This module
//! does not create namespaces itself. `container:NAME` shares a running
//! container's network namespace (and so its user namespace, see `Joined`).
//! A user-defined network (`network create`, `netdef`) puts the container on
//! a bridge in a shared network namespace (`bridge`), with names answered by
//! `resolver`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::Error;

pub mod addrs;
pub mod bridge;
pub mod choose;
pub mod dns;
mod error;
pub mod forward;
pub mod helper;
pub mod hosts;
pub mod netdef;
pub mod options;
pub mod pasta;
pub mod plan;
pub mod ports;
pub mod resolver;
pub mod slirp;
pub mod spawned;

/// The network a container gets.
#[derive(Debug, Clone, Default)]
pub enum Network {
    /// A private network namespace holding only the loopback interface.
    #[default]
    None,
    /// The caller's network namespace, shared.
    Host,
    /// A private namespace connected by pasta or slirp4netns.
    User(Box<UserNet>),
    /// Another running container's network namespace.
    Container(Box<Joined>),
    /// A private namespace on a user-defined network (`network create`).
    Bridge(Box<bridge::BridgeNet>),
}

/// A running container's namespaces, held open, and its /etc files.
///
/// Entering a network namespace takes CAP_SYS_ADMIN in the user namespace
/// that owns it, which a fresh user namespace never has over another one.
/// So the sandbox's go-between enters this user namespace first (as root
/// there, with the same id mapping) and then the network namespace, and
/// clones the container with only the other namespaces new; hutch itself
/// stays in the host's.
#[derive(Debug, Clone)]
pub struct Joined {
    pub user: Arc<OwnedFd>,
    pub net: Arc<OwnedFd>,
    pub hosts: String,
    pub resolv_conf: String,
}

/// A helper-connected network: the checked plan and where the helper keeps
/// its pid file, API socket and log (the container's state directory).
#[derive(Debug, Clone)]
pub struct UserNet {
    pub plan: plan::NetPlan,
    pub run_dir: PathBuf,
}

impl Network {
    /// Turn `hutch run`'s network flags into a network. `exposed` is the
    /// image's `ExposedPorts` (for `-P`). Errors are one line saying what to
    /// change.
    pub fn from_flags(
        flags: &plan::NetFlags,
        exposed: &[String],
        hostname: &str,
        run_dir: &Path,
        env: &plan::HostEnv,
    ) -> Result<Network, Error> {
        if !flags.aliases.is_empty() || flags.ip.is_some() {
            return Err(Error::NeedsUserNetwork);
        }
        let own = match flags.network.as_deref() {
            Some("none") => Some(Network::None),
            Some("host") => Some(Network::Host),
            Some(m) if !options::HelperRequest::is_helper_mode(m) => {
                return Err(options::OptionsError::UnknownMode(m.to_string()).into())
            }
            _ => None,
        };
        if let Some(n) = own {
            check_no_helper_flags(flags, n.mode())?;
            return Ok(n);
        }
        let plan = plan::plan(flags, exposed, hostname, env)?;
        Ok(Network::User(Box::new(UserNet {
            plan,
            run_dir: run_dir.to_path_buf(),
        })))
    }

    /// The user-defined networks the flags name (made with `network
    /// create`, kept under the data dir `data`), the first first; none for
    /// a built-in mode.
    pub fn user_defined(
        flags: &plan::NetFlags,
        data: &Path,
    ) -> Result<Vec<bridge::Membership>, Error> {
        let first = flags.network.as_deref().unwrap_or_default();
        if plan::built_in_mode(first) && !flags.more_networks.is_empty() {
            return Err(Error::Mixed(first.to_string()));
        }
        let networks = netdef::Networks::new(data);
        let mut out: Vec<bridge::Membership> = Vec::new();
        for a in flags.attachments() {
            // Docker's default network has a name no user network may take.
            if a.network == "bridge" {
                return Err(Error::DockerBridge);
            }
            let def = match networks.find(&a.network) {
                Ok(def) => def,
                Err(netdef::NetError::NotFound(_)) => return Err(Error::NotFound(a.network)),
                Err(e) => return Err(e.into()),
            };
            if out.iter().any(|m| m.def.id == def.id) {
                return Err(Error::Twice(def.name));
            }
            let ip =
                a.ip.as_deref()
                    .map(|ip| {
                        ip.parse()
                            .map_err(|_| netdef::NetError::BadIp(ip.to_string()))
                    })
                    .transpose()?;
            if let Some(bad) = a.aliases.iter().find(|a| !hosts::valid_name(a)) {
                return Err(Error::BadAlias(bad.clone()));
            }
            out.push(bridge::Membership {
                def,
                aliases: a.aliases,
                ip,
            });
        }
        Ok(out)
    }

    /// A container (`id`, `name`) on the user-defined networks `nets` (at
    /// least one; see [`Network::user_defined`]).
    #[allow(clippy::too_many_arguments)]
    pub fn on_bridge(
        nets: Vec<bridge::Membership>,
        flags: &plan::NetFlags,
        exposed: &[String],
        hostname: &str,
        (id, name): (&str, &str),
        run_dir: &Path,
        data: &Path,
        env: &plan::HostEnv,
    ) -> Result<Network, Error> {
        let pasta = env.search_path.find("pasta").ok_or(Error::NoPasta)?;
        let first = &nets.first().ok_or(Error::NeedsUserNetwork)?.def;
        let (ports, hosts, resolv_conf) = plan::bridge_parts(flags, exposed, hostname, env, first)?;
        Ok(Network::Bridge(Box::new(bridge::BridgeNet {
            nets,
            networks: netdef::Networks::new(data),
            container: id.to_string(),
            name: name.to_string(),
            ports,
            hosts,
            resolv_conf,
            pasta,
            run_dir: run_dir.to_path_buf(),
        })))
    }

    /// `none`, `host`, `container`, `pasta`, `slirp4netns` or `bridge` (a
    /// user-defined network).
    pub fn mode(&self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Host => "host",
            Network::Container(_) => "container",
            Network::User(u) => u.plan.helper.kind().name(),
            Network::Bridge(_) => "bridge",
        }
    }

    /// Whether the container gets its own network namespace (CLONE_NEWNET).
    pub fn private_namespace(&self) -> bool {
        !matches!(self, Network::Host | Network::Container(_))
    }

    /// The descriptors this network holds open until the container starts
    /// (a joined container's namespaces), which a process that closes what
    /// it inherits (the detached supervisor) must keep.
    pub fn held_fds(&self) -> Vec<BorrowedFd<'_>> {
        match self {
            Network::Container(j) => vec![j.user.as_fd(), j.net.as_fd()],
            _ => Vec::new(),
        }
    }

    /// The ports published to the host, for the container record.
    pub fn ports(&self) -> &[ports::PortMapping] {
        match self {
            Network::User(u) => &u.plan.ports,
            Network::Bridge(b) => &b.ports,
            _ => &[],
        }
    }

    /// The container's /etc/hosts.
    pub fn hosts(&self, hostname: &str, host_hosts: &Path) -> String {
        let mut s = String::new();
        match self {
            Network::User(u) => return u.plan.hosts.clone(),
            Network::Bridge(b) => return b.hosts.clone(),
            Network::Container(j) => return j.hosts.clone(),
            Network::Host => {
                // Same interfaces as the host: its names resolve the same way.
                if let Ok(h) = std::fs::read_to_string(host_hosts) {
                    s.push_str(&h);
                    if !s.ends_with('\n') {
                        s.push('\n');
                    }
                }
            }
            Network::None => {
                s.push_str("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
            }
        }
        s.push_str(&format!("127.0.1.1\t{hostname}\n"));
        s
    }

    /// The container's /etc/resolv.conf.
    pub fn resolv_conf(&self, host_resolv: &Path) -> String {
        match self {
            Network::User(u) => u.plan.resolv_conf.clone(),
            Network::Bridge(b) => b.resolv_conf.clone(),
            Network::Container(j) => j.resolv_conf.clone(),
            // A loopback stub resolver (127.0.0.53) on the host is reachable too.
            Network::Host => std::fs::read_to_string(host_resolv).unwrap_or_default(),
            // Programs expect the file; there is nothing to point it at.
            Network::None => "# --network none: no name servers are reachable\n".into(),
        }
    }
}

/// `-p`, `--dns` and `--add-host` configure a helper; refuse them where
/// there is none (`mode` names the network for the message).
pub fn check_no_helper_flags(flags: &plan::NetFlags, mode: &str) -> Result<(), Error> {
    match flags.helper_only_flag() {
        Some(flag) => Err(Error::HelperOnlyFlag {
            flag,
            mode: mode.into(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_for_none_maps_the_hostname_to_loopback() {
        let h = Network::None.hosts("abc", Path::new("/nonexistent"));
        assert!(h.contains("127.0.0.1\tlocalhost\n"));
        assert!(h.ends_with("127.0.1.1\tabc\n"));
    }

    fn from(flags: plan::NetFlags) -> Result<Network, String> {
        let env = plan::HostEnv {
            search_path: choose::SearchPath("/nonexistent".into()),
            ..plan::HostEnv::detect()
        };
        Network::from_flags(&flags, &[], "box", Path::new("/run/x"), &env)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn network_modes_parse() {
        let mode = |m: &str| plan::NetFlags {
            network: Some(m.into()),
            ..plan::NetFlags::default()
        };
        assert!(matches!(from(mode("host")), Ok(Network::Host)));
        assert!(matches!(from(mode("none")), Ok(Network::None)));
        assert!(from(mode("bridge"))
            .unwrap_err()
            .contains("none, host, container:NAME, pasta"));
        // No helper installed in this search path: the error names the package.
        assert!(from(mode("pasta")).unwrap_err().contains("passt"));
        assert!(from(plan::NetFlags::default())
            .unwrap_err()
            .contains("--network none"));
        let p = plan::NetFlags {
            network: Some("none".into()),
            publish: vec!["8080:80".into()],
            ..plan::NetFlags::default()
        };
        assert!(from(p)
            .unwrap_err()
            .contains("-p/-P needs a connected network"));
    }
}
