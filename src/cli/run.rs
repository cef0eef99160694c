//! `hutch run`: Docker's `run` flags mapped onto an image, a container record
//! and a sandbox spec. The order matters for speed and for clean failures:
//! everything that can be rejected (flags, volumes, the image, the user
//! namespace, overlay support, the plan) is checked before the container's
//! directory is created or anything is cloned. Starting the plan, in the
//! foreground or detached, is `container::launch`'s job; this file only
//! maps flags onto a [`Launch`].

use super::attach::DetachKeys;
use super::choice::choice;
use super::config;
use super::Ctx;
use crate::container::health::{self, parse_go_duration};
use crate::container::launch::{
    check_tmpfs, parse_mount, parse_volume, Launch, Outcome, Prepared, RmLayer,
};
use crate::container::logs::Driver as LogDriver;
use crate::container::restart::Policy;
use crate::net::plan::{Attachment, NetFlags};
use crate::registry::pull::{ensure_image, PullPolicy};
use crate::rootfs::DriverKind;
use crate::ui::progress::Bars;
use crate::userns::idmap::UsernsRequest;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A single-value flag given twice takes the last value, as Docker's
/// parser does (repeatable ones such as -e and -v collect every value).
///
/// The flags are flattened from groups of a few each, in the order `--help`
/// lists them, because clap's derive builds every argument of a struct in
/// one function: for all of `run`'s flags its stack frame was 51 KiB, 13
/// fresh stack pages faulted in at every start. A group's frame is a few
/// KiB, and the groups are built one after the other. They make no
/// `ArgGroup` of their own (`group(skip)`): nothing asks for one, and each
/// would cost every parse.
#[derive(clap::Args, Debug)]
#[command(args_override_self = true)]
pub struct Args {
    #[command(flatten)]
    pub process: super::flags::Process,
    #[command(flatten)]
    pub naming: Naming,
    #[command(flatten)]
    pub mounts: Mounts,
    #[command(flatten)]
    pub networking: Networking,
    #[command(flatten)]
    pub confinement: Confinement,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub lifecycle: Lifecycle,
    #[command(flatten)]
    pub health: Health,
    #[command(flatten)]
    pub io: Io,
    #[command(flatten)]
    pub extra: Extra,
    /// Image name or id.
    pub image: String,
    /// Command and arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Removal, name, environment files, entrypoint and host name.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Naming {
    /// Remove the container (its directory and writable layer) when it exits.
    /// Its writable layer is on disk unless HUTCH_RM_LAYER, else `rm_layer`
    /// in config.toml, says `memory` (faster starts; up to half of RAM, and
    /// no commit, diff or export while it runs).
    #[arg(long)]
    pub rm: bool,
    /// Name the container (unique among existing containers).
    #[arg(long)]
    pub name: Option<String>,
    /// Read environment variables from a file (KEY=VALUE lines, # comments).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Override the image's entrypoint ("" clears it); also drops the image's command.
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Container host name (default: the short container id).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
}

/// Volumes, mounts, a read-only root and the init process.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Mounts {
    /// Mount a volume: [SOURCE:]CONTAINER[:OPTIONS]. SOURCE is a host path
    /// (absolute, or relative starting with ./ or ../; a missing one is
    /// created as a directory) or a volume name (created when missing);
    /// none makes an anonymous volume. OPTIONS, comma-separated: ro, rw,
    /// z, Z (accepted; no SELinux labels), U (give the source to the
    /// container user), O (an overlay over the host directory, writes
    /// discarded; O,upperdir=DIR,workdir=DIR keeps them), nocopy.
    #[arg(
        short = 'v',
        long = "volume",
        value_name = "[SOURCE:]CONTAINER[:OPTIONS]"
    )]
    pub volume: Vec<String>,
    /// Mount with Docker's syntax: type=bind|volume|tmpfs,source=,target=,
    /// readonly, volume-opt=KEY=VALUE, volume-label=, volume-nocopy,
    /// tmpfs-size=, tmpfs-mode=, bind-propagation=. A bind source must exist.
    #[arg(long = "mount", value_name = "type=TYPE,...")]
    pub mount: Vec<String>,
    /// Mount the volumes and bind mounts of another container, in their
    /// own modes or all read-only (:ro) or read-write (:rw).
    #[arg(long = "volumes-from", value_name = "CONTAINER[:ro|:rw]")]
    pub volumes_from: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS] (mount(8) options such as size=64m,mode=1777).
    #[arg(long, value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// With --read-only, mount fresh tmpfs on /tmp, /var/tmp and /run
    /// (Podman's default; Docker, and hutch, add none unless asked).
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false,
          default_missing_value = "true",
          action = clap::ArgAction::Set, value_name = "BOOL")]
    pub read_only_tmpfs: bool,
    /// Run a small init as pid 1 that forwards signals and reaps zombies.
    #[arg(long)]
    pub init: bool,
}

/// Networks, published ports, DNS and /etc/hosts.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Networking {
    /// Network: pasta[:ARG,...] (the default when installed, as in Podman 5),
    /// slirp4netns[:KEY=VALUE,...], none (loopback only), host (share the host's),
    /// container:NAME (share a running container's) or the name of a network
    /// made with `hutch network create`; bridge (Docker's default network)
    /// is the default network, as without --network. Given more than once,
    /// the container is on each of those user-defined networks.
    #[arg(long, alias = "net", value_name = "MODE")]
    pub network: Vec<String>,
    /// Another name the container answers to on its (first) user-defined network.
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// The container's IPv4 address on its user-defined network.
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Publish a container port: [IP:][HOSTPORT:]PORT[/tcp|/udp], ranges as
    /// 8000-8010:80-90. Without IP the port listens on 127.0.0.1 only.
    #[arg(short = 'p', long = "publish", value_name = "[IP:][HOSTPORT:]PORT")]
    pub publish: Vec<String>,
    /// Publish every port the image exposes on a free port of 127.0.0.1.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Name server for the container's /etc/resolv.conf (replaces the default).
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// Search domain for /etc/resolv.conf ("." for none).
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Option line entry for /etc/resolv.conf, e.g. ndots:2.
    #[arg(long = "dns-option", value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Add NAME:IP to /etc/hosts (IP may be host-gateway).
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
}

/// Storage driver, user namespace, capabilities and security options.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Confinement {
    /// Storage driver for the root filesystem: overlay (native overlayfs),
    /// fuse (hutch's FUSE overlay) or copy (a private copy of the image).
    /// Default: HUTCH_STORAGE_DRIVER, else `storage_driver` in config.toml,
    /// else the first that works here, in that order (`hutch info`).
    #[arg(long, value_name = "DRIVER",
          value_parser = choice::<DriverKind>(DriverKind::NAMES, &[]))]
    pub storage_driver: Option<DriverKind>,
    /// User namespace: auto, subids, single or keep-id (your uid/gid inside).
    /// Default: HUTCH_USERNS, else `userns` in config.toml, else auto.
    #[arg(long, value_name = "MODE")]
    pub userns: Option<UsernsRequest>,
    /// Add a capability to the container's root: NAME or CAP_NAME, or ALL.
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from the container's root: NAME or CAP_NAME, or ALL.
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Every capability the user namespace allows, no seccomp filter, no
    /// masked or read-only /proc and /sys paths (never more than your user has).
    #[arg(long)]
    pub privileged: bool,
    /// seccomp=unconfined, seccomp=FILE.json (Docker's profile format),
    /// no-new-privileges[=true|false] (on by default) or
    /// systempaths=unconfined (no masked or read-only /proc and /sys paths).
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Make chown, the setuid/setgid/setgroups family and mknod of devices
    /// succeed without effect (for package managers in single-id mode).
    #[arg(long = "fake-root")]
    pub fake_root: bool,
}

/// /dev/shm's size, ulimits and cgroup limits.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Limits {
    /// Size of /dev/shm (default 64m).
    #[arg(long = "shm-size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// Resource limit for the container's processes: NAME=SOFT[:HARD], e.g. nofile=1024:2048.
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Memory limit (e.g. 512m); needs a delegated cgroup v2 (see `hutch info`).
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// CPU limit in CPUs (e.g. 1.5); needs a delegated cgroup v2.
    #[arg(long, value_name = "N")]
    pub cpus: Option<String>,
    /// Process limit (-1 for none); needs a delegated cgroup v2.
    #[arg(long = "pids-limit", value_name = "N")]
    pub pids_limit: Option<String>,
    /// Fail when a limit cannot be applied instead of warning and going on.
    #[arg(long = "strict-limits")]
    pub strict_limits: bool,
}

/// Detaching, the pull policy and the restart policy.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Lifecycle {
    /// Run in the background: print the container id and return; output goes
    /// to the container's log (`hutch logs`).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Pull the image: missing (only when the store lacks it), always, or never.
    #[arg(long, value_parser = choice::<PullPolicy>(PullPolicy::NAMES, &[]), default_value = "missing", value_name = "POLICY")]
    pub pull: PullPolicy,
    /// Restart policy, honoured by the detached container's supervisor:
    /// no, on-failure[:MAX], always or unless-stopped. Without a daemon,
    /// always means "while its supervisor lives": nothing restarts a
    /// container after a reboot or after its supervisor was killed, and
    /// `hutch stop`/`kill` end it for good under every policy.
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<Policy>,
}

/// The health check and labels.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Health {
    /// Command whose exit status tells whether the container is healthy
    /// (run with /bin/sh -c in the container, as `hutch exec` would).
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between health checks, e.g. 30s, 1m30s (default 30s).
    #[arg(long = "health-interval", value_name = "DURATION", value_parser = parse_go_duration)]
    pub health_interval: Option<Duration>,
    /// Failures in a row that make the container unhealthy (default 3).
    #[arg(long = "health-retries", value_name = "N")]
    pub health_retries: Option<u32>,
    /// Time after the start during which failures do not count (default 0s).
    #[arg(long = "health-start-period", value_name = "DURATION", value_parser = parse_go_duration)]
    pub health_start_period: Option<Duration>,
    /// How long one check may run before it counts as failed (default 30s).
    #[arg(long = "health-timeout", value_name = "DURATION", value_parser = parse_go_duration)]
    pub health_timeout: Option<Duration>,
    /// Disable any health check, the image's HEALTHCHECK included.
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Set a label: KEY=VALUE (or KEY for an empty value); over the image's labels.
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Read labels from a file (KEY=VALUE lines, # comments).
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
}

/// Attached streams, stopping, logs, signals and detach keys.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Io {
    /// Attach only these streams to the terminal: stdin, stdout, stderr
    /// (default stdout and stderr; not with -d).
    #[arg(short = 'a', long = "attach", value_name = "STREAM",
          value_parser = ["stdin", "stdout", "stderr"])]
    pub attach: Vec<String>,
    /// Seconds `hutch stop` waits before killing the container (default 10).
    #[arg(long = "stop-timeout", value_name = "SECONDS")]
    pub stop_timeout: Option<u64>,
    /// Signal `hutch stop` sends first (default: the image's STOPSIGNAL, else TERM).
    #[arg(long = "stop-signal", value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// How the container's output is kept: k8s-file (default, Podman's
    /// format), json-file (Docker's) or none (`hutch logs` has nothing).
    #[arg(long = "log-driver", value_name = "DRIVER",
          value_parser = choice::<LogDriver>(LogDriver::NAMES, &[]))]
    pub log_driver: Option<LogDriver>,
    /// Log option KEY=VALUE: max-size=SIZE (rotate at that size, e.g. 10m),
    /// max-file=N (files kept, the current one included).
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    pub log_opt: Vec<String>,
    /// Pass the signals hutch gets on to the container (without -t);
    /// --sig-proxy=false ignores them instead.
    #[arg(long = "sig-proxy", num_args = 0..=1, require_equals = true, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    /// The key sequence that detaches from a -it run on a terminal (the
    /// container runs on, as with -d; `hutch attach` comes back):
    /// comma-separated, each a character or ctrl-X (default ctrl-p,ctrl-q).
    /// Kept with the container for `start -ai` and `attach`.
    #[arg(long = "detach-keys", value_name = "KEYS", value_parser = super::attach::detach_keys)]
    pub detach_keys: Option<DetachKeys>,
}

/// Platform, quiet pull, the id file, extra groups and devices.
#[derive(clap::Args, Debug)]
#[group(skip)]
pub struct Extra {
    /// Run the image only if it is for this platform (OS/ARCH[/VARIANT]);
    /// hutch does not emulate other CPUs.
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Do not show the pull's progress.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the container's id to FILE (which must not exist).
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// Another supplementary group for the container's process: a number or
    /// a name from the container's /etc/group.
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Pass a host device node you can open into the container:
    /// HOST[:CONTAINER[:PERMS]], e.g. /dev/fuse. PERMS (rwm) may leave out
    /// only what the node's permissions refuse you anyway (there is no
    /// device cgroup to enforce more).
    #[arg(long, value_name = "HOST[:CONTAINER[:PERMS]]")]
    pub device: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let detach = a.lifecycle.detach;
    let restarts = a.lifecycle.restart.is_some_and(|p| p != Policy::No);
    let keys = a.io.detach_keys.clone().unwrap_or_default();
    let prepared = prepare(ctx, a)?;
    let id = prepared.id().to_string();
    if detach {
        let outcome = prepared.detached()?;
        if matches!(outcome, Outcome::Started) {
            ctx.printer.out(&id);
        }
        return Ok(report(&outcome));
    }
    if restarts {
        ctx.printer.warn(
            "--restart is honoured by a detached container's supervisor: this foreground run is not restarted unless you detach from it (or use -d)",
        );
    }
    Ok(report(
        &prepared.detach_keys(keys.0).foreground(&ctx.printer)?,
    ))
}

/// `hutch create`: `run`'s flags, the container recorded as created and
/// left for `hutch start` (a `--rm` one is removed once that run ends).
pub fn create(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    if a.lifecycle.detach {
        bail!("create takes no -d: a created container runs detached when `hutch start` starts it");
    }
    let id = prepare(ctx, a)?.leave_created()?;
    ctx.printer.out(&id);
    Ok(0)
}

/// Check the flags, get the image, record the container and check its
/// sandbox plan: everything before it runs.
fn prepare(ctx: &Ctx, a: Args) -> anyhow::Result<Prepared> {
    // Flags first: nothing below runs for a bad command line.
    // Docker's `bridge` is its default network: hutch's is what no
    // --network gives.
    let flag = a
        .networking
        .network
        .first()
        .cloned()
        .filter(|n| n != "bridge");
    let network = ctx.config.value(config::NETWORK, flag)?;
    // Docker's --network-alias and --ip apply to the first network.
    let more_networks = a
        .networking
        .network
        .iter()
        .skip(1)
        .map(|n| Attachment {
            network: n.clone(),
            ..Attachment::default()
        })
        .collect();
    let userns = ctx.config.value(config::USERNS, a.confinement.userns)?;
    let storage_driver = ctx
        .config
        .value(config::STORAGE_DRIVER, a.confinement.storage_driver)?;
    let rm_layer = ctx.config.value::<RmLayer>(config::RM_LAYER, None)?;
    for v in &a.mounts.volume {
        parse_volume(v)?;
    }
    for m in &a.mounts.mount {
        parse_mount(m)?;
    }
    for t in &a.mounts.tmpfs {
        check_tmpfs(t)?;
    }
    if a.lifecycle.detach && !a.io.attach.is_empty() {
        bail!("conflicting options: -a/--attach and -d/--detach (a detached container has nothing attached; drop one)");
    }
    let health = health_flags(&a)?;
    let labels = labels(&a.health.label, &a.health.label_file)?;
    let log_opts = key_values(&a.io.log_opt, "--log-opt")?;
    if let Some(p) = &a.extra.platform {
        check_platform(p)?;
    }
    if let Some(f) = &a.extra.cidfile {
        if f.symlink_metadata().is_ok() {
            bail!(
                "container ID file found, make sure the other container isn't running or delete {}",
                f.display()
            );
        }
    }
    let mut user_env = Vec::new();
    for f in &a.naming.env_file {
        let text = fs_err::read_to_string(f).context("cannot read --env-file")?;
        user_env.extend(env_file(&text).with_context(|| format!("--env-file {}", f.display()))?);
    }
    for e in &a.process.env {
        user_env.extend(env_entry(e)?);
    }
    if let Some(n) = &a.naming.name {
        crate::container::check_name(n)?;
    }

    let mut security = crate::sandbox::security::Flags {
        cap_add: a.confinement.cap_add,
        cap_drop: a.confinement.cap_drop,
        privileged: a.confinement.privileged,
        security_opt: a.confinement.security_opt,
        seccomp_profile: None,
        fake_root: a.confinement.fake_root,
        shm_size: a.limits.shm_size,
        ulimits: a.limits.ulimit,
        memory: a.limits.memory,
        cpus: a.limits.cpus,
        pids_limit: a.limits.pids_limit,
        strict_limits: a.limits.strict_limits,
    };
    if let Some(f) = security.seccomp_file().map_err(anyhow::Error::msg)? {
        let text = fs_err::read_to_string(f).context("cannot read the seccomp profile")?;
        security.seccomp_profile = Some(text);
    }
    security.check().map_err(anyhow::Error::msg)?;

    // Pulls (when needed) finish and join their threads before anything forks.
    let image = match a.extra.quiet {
        true => ensure_image(
            &ctx.dirs,
            &a.image,
            a.lifecycle.pull,
            &crate::report::Silent,
        )?,
        false => ensure_image(
            &ctx.dirs,
            &a.image,
            a.lifecycle.pull,
            &Bars::new(ctx.printer),
        )?,
    };
    if let Some(p) = &a.extra.platform {
        image_platform_matches(&image, p)?;
    }
    // With -a, only the streams it names are attached (-i or not).
    let attached = |s: &str| a.io.attach.is_empty() || a.io.attach.iter().any(|x| x == s);
    let interactive = match a.io.attach.is_empty() {
        true => a.process.interactive,
        false => attached("stdin"),
    };
    let (stdout, stderr) = (attached("stdout"), attached("stderr"));
    let mut launch = Launch::new(&ctx.dirs, &a.image, image)
        .command(a.command)
        .envs(user_env)
        .network(NetFlags {
            network,
            publish: a.networking.publish,
            publish_all: a.networking.publish_all,
            dns: a.networking.dns,
            dns_search: a.networking.dns_search,
            dns_option: a.networking.dns_option,
            add_host: a.networking.add_host,
            aliases: a.networking.network_alias,
            ip: a.networking.ip,
            more_networks,
        })
        .userns(userns.unwrap_or_default())
        .read_only(a.mounts.read_only, a.mounts.read_only_tmpfs)
        .init(a.mounts.init)
        .tty(a.process.tty)
        .interactive(interactive)
        .auto_remove(a.naming.rm)
        .rm_layer(rm_layer.unwrap_or_default())
        .security(security)
        .restart(a.lifecycle.restart.unwrap_or_default())
        .labels(labels)
        .healthcheck(health, a.health.no_healthcheck)
        .log(
            a.io.log_driver.map(|d| d.to_string()).unwrap_or_default(),
            log_opts,
        )
        .group_add(a.extra.group_add)
        .devices(a.extra.device)
        .no_sig_proxy(!a.io.sig_proxy);
    if let Some(t) = a.io.stop_timeout {
        launch = launch.stop_timeout(t);
    }
    if let Some(s) = a.io.stop_signal {
        launch = launch.stop_signal(s);
    }
    if let Some(k) = a.io.detach_keys {
        launch = launch.detach_keys(k.0);
    }
    if let Some(n) = a.naming.name {
        launch = launch.name(n);
    }
    if let Some(d) = storage_driver {
        launch = launch.storage_driver(d);
    }
    if let Some(e) = a.naming.entrypoint {
        launch = launch.entrypoint(e);
    }
    if let Some(u) = a.process.user {
        launch = launch.user(u);
    }
    if let Some(w) = a.process.workdir {
        launch = launch.workdir(w);
    }
    if let Some(h) = a.naming.hostname {
        launch = launch.hostname(h);
    }
    for v in a.mounts.volume {
        launch = launch.volume(v);
    }
    for m in a.mounts.mount {
        launch = launch.mount(m);
    }
    for f in a.mounts.volumes_from {
        launch = launch.volumes_from(f);
    }
    for t in a.mounts.tmpfs {
        launch = launch.tmpfs(t);
    }
    let cidfile = a
        .extra
        .cidfile
        .as_deref()
        .map(CidFile::reserve)
        .transpose()?;
    let prepared = launch.create(&ctx.printer)?;
    if let Some(f) = cidfile {
        f.write(prepared.id())?;
    }
    Ok(prepared.attach(stdout, stderr))
}

/// `--health-*` as a check whose unset fields the image's HEALTHCHECK fills.
fn health_flags(a: &Args) -> anyhow::Result<health::Check> {
    let nanos = |d: Option<Duration>, flag: &str| -> anyhow::Result<u64> {
        match d {
            Some(d) if !d.is_zero() && d < Duration::from_millis(1) => {
                bail!("{flag} must be at least 1ms")
            }
            d => Ok(d.map_or(0, |d| d.as_nanos().min(u64::MAX as u128) as u64)),
        }
    };
    let check = health::Check {
        test: match &a.health.health_cmd {
            Some(c) if !c.is_empty() => vec!["CMD-SHELL".into(), c.clone()],
            _ => Vec::new(),
        },
        interval: nanos(a.health.health_interval, "--health-interval")?,
        timeout: nanos(a.health.health_timeout, "--health-timeout")?,
        start_period: nanos(a.health.health_start_period, "--health-start-period")?,
        retries: a.health.health_retries.unwrap_or(0),
    };
    if a.health.no_healthcheck && check != health::Check::default() {
        bail!("--no-healthcheck conflicts with --health-* options (drop one or the other)");
    }
    Ok(check)
}

/// `--label-file` lines, then `--label`s (Docker's order: later wins).
fn labels(flags: &[String], files: &[PathBuf]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut entries = Vec::new();
    for f in files {
        let text = fs_err::read_to_string(f).context("cannot read --label-file")?;
        entries.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    entries.extend(flags.iter().cloned());
    let mut out = BTreeMap::new();
    for e in entries {
        let (k, v) = e.split_once('=').unwrap_or((&e, ""));
        if k.is_empty() {
            bail!("invalid label '{e}': expected KEY=VALUE");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// `KEY=VALUE` entries of a repeatable option.
fn key_values(entries: &[String], flag: &str) -> anyhow::Result<BTreeMap<String, String>> {
    entries
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("invalid {flag} '{e}': expected KEY=VALUE"),
        })
        .collect()
}

/// hutch runs images for this machine only: `--platform` must name it.
fn check_platform(p: &str) -> anyhow::Result<()> {
    let want = crate::registry::manifest::Platform::parse(p)?;
    let host = crate::registry::manifest::Platform::host();
    if want.os != host.os || want.arch != host.arch {
        bail!(
            "--platform {p}: this machine runs {}/{} images only (hutch does not emulate other CPUs)",
            host.os,
            host.arch
        );
    }
    Ok(())
}

/// The image must be for the requested platform.
fn image_platform_matches(image: &crate::store::Image, p: &str) -> anyhow::Result<()> {
    let want = crate::registry::manifest::Platform::parse(p)?;
    let (os, arch) = (
        image.config.os().to_string(),
        image.config.architecture().to_string(),
    );
    if os != want.os || arch != want.arch {
        bail!(
            "image {} is for {os}/{arch}, not the requested {p} (pull the right one: `hutch pull --platform {p} IMAGE`)",
            image.short_id()
        );
    }
    Ok(())
}

/// `--cidfile`, created empty and exclusively before the container is (as
/// Docker does): a path that cannot be created fails the run before any
/// record exists, and the file goes again when the create fails.
struct CidFile {
    path: PathBuf,
    /// The mode the umask gave the reserved file, which the id keeps (the
    /// temporary file it is written to is made 0600).
    mode: std::fs::Permissions,
    written: bool,
}

impl CidFile {
    fn reserve(f: &Path) -> anyhow::Result<CidFile> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(f)
            .with_context(|| format!("cannot create --cidfile {}", f.display()))?;
        let mode = file
            .metadata()
            .with_context(|| format!("cannot create --cidfile {}", f.display()))?
            .permissions();
        Ok(CidFile {
            path: f.to_path_buf(),
            mode,
            written: false,
        })
    }

    /// The id, written to a temporary file beside it and renamed over it:
    /// a reader sees the empty file or the whole id. Written through the
    /// open file before its mode is set.
    fn write(mut self, id: &str) -> anyhow::Result<()> {
        use std::io::Write;
        let f = &self.path;
        let dir = f
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let written = (|| {
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            tmp.as_file_mut().write_all(id.as_bytes())?;
            tmp.as_file().set_permissions(self.mode.clone())?;
            tmp.as_file().sync_all()?;
            tmp.persist(f).map_err(|e| e.error)
        })();
        written.with_context(|| format!("cannot write --cidfile {}", f.display()))?;
        self.written = true;
        Ok(())
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The exit code of a launch, after saying what went wrong inside hutch.
pub(super) fn report(outcome: &Outcome) -> u8 {
    if let Some(e) = outcome.error() {
        super::errors::eprint(&e.to_string());
    }
    if matches!(outcome, Outcome::Detached) {
        // Docker's words when its detach keys end an attached run.
        eprintln!("read escape sequence");
    }
    u8::try_from(outcome.code()).unwrap_or(super::EXIT_HUTCH_ERROR)
}

/// An `--env-file`, read as Docker reads one: leading whitespace and a
/// UTF-8 byte order mark are dropped, blank lines and lines starting with
/// `#` skipped, the value after the first `=` kept verbatim (spaces at
/// either end included; only a CR before the newline goes), and a line
/// with only a name takes hutch's value, or is dropped when it has none.
fn env_file(text: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for raw in text.lines() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (line, None),
        };
        if name.is_empty() {
            bail!("no variable name on line '{line}'");
        }
        if name.contains([' ', '\t']) {
            bail!("variable '{name}' contains whitespace: write NAME=VALUE");
        }
        match value {
            Some(v) => out.push(format!("{name}={v}")),
            None => out.extend(std::env::var(name).ok().map(|v| format!("{name}={v}"))),
        }
    }
    Ok(out)
}

/// `-e KEY=VALUE` as given; bare `-e KEY` takes hutch's value, or nothing
/// when hutch has none (Docker drops it too).
pub(super) fn env_entry(e: &str) -> anyhow::Result<Option<String>> {
    let key = e.split('=').next().unwrap_or("");
    if key.is_empty() || key.contains(char::is_whitespace) {
        bail!("invalid environment variable '{e}': expected KEY=VALUE or KEY");
    }
    if e.contains('=') {
        return Ok(Some(e.to_string()));
    }
    Ok(std::env::var(key).ok().map(|v| format!("{key}={v}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        use clap::Parser;
        let cli = super::super::Cli::try_parse_from(["hutch", "run"].iter().chain(args).copied())?;
        match cli.command {
            super::super::Command::Run(a) => Ok(*a),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_last_of_a_repeated_flag_wins_and_lists_collect() {
        let a = parse(&[
            "--name",
            "a",
            "--name",
            "b",
            "--restart",
            "always",
            "--restart",
            "no",
            "-e",
            "A=1",
            "-e",
            "B=2",
            "--sig-proxy=false",
            "--sig-proxy=true",
            "img",
        ])
        .unwrap();
        assert_eq!(a.naming.name.as_deref(), Some("b"));
        assert_eq!(a.lifecycle.restart, Some(Policy::No));
        assert_eq!(a.process.env, s(&["A=1", "B=2"]));
        assert!(a.io.sig_proxy);
        let e = parse(&["--restart", "sometimes", "img"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("sometimes") && e.contains("on-failure"), "{e}");
        let e = parse(&["--detach-keys", "ctrl-1", "img"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("ctrl-1"), "{e}");
        assert!(parse(&["--detach-keys", "ctrl-p,q", "img"]).is_ok());
        let e = parse(&["--log-driver", "syslog", "img"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("json-file"), "{e}");
    }

    #[test]
    fn env_entries() {
        assert_eq!(env_entry("A=1").unwrap(), Some("A=1".into()));
        assert_eq!(env_entry("HUTCH_SURELY_UNSET_VAR").unwrap(), None);
        assert!(env_entry("=x").is_err());
    }

    #[test]
    fn env_files_read_as_docker_reads_them() {
        let text = "\u{feff}A=1\n  B= two  \n# C=3\n\n\t\nD=\r\nE=x=y\nHUTCH_SURELY_UNSET_VAR\n";
        assert_eq!(
            env_file(text).unwrap(),
            s(&["A=1", "B= two  ", "D=", "E=x=y"])
        );
        let e = env_file("F =1\n").unwrap_err().to_string();
        assert!(e.contains("'F '") && e.contains("whitespace"), "{e}");
        assert!(env_file("=1\n").is_err());
        assert!(env_file("two words\n").is_err());
    }
}
