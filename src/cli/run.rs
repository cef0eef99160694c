//! `hutch run`: Docker's `run` flags mapped onto an image, a container record
//! and a sandbox spec. The order matters for speed and for clean failures:
//! everything that can be rejected (flags, volumes, the image, the user
//! namespace, overlay support, the plan) is checked before the container's
//! directory is created or anything is cloned. Starting the plan, in the
//! foreground or detached, is `container::launch`'s job; this file only
//! maps flags onto a [`Launch`].

use super::choice::choice;
use super::Ctx;
use crate::container::launch::{parse_mount, parse_volume, Launch, Outcome, Prepared};
use crate::net::plan::NetFlags;
use crate::registry::pull::{ensure_image, PullPolicy};
use crate::rootfs::DriverKind;
use crate::ui::progress::Bars;
use crate::userns::idmap::UsernsRequest;
use anyhow::{bail, Context};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub process: super::flags::Process,
    /// Remove the container (its directory and writable layer) when it exits.
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
    /// Network: pasta[:ARG,...] (the default when installed, as in Podman 5),
    /// slirp4netns[:KEY=VALUE,...], none (loopback only), host (share the host's)
    /// or container:NAME (share a running container's).
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
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
    /// Storage driver for the root filesystem: overlay (native overlayfs),
    /// fuse (hutch's FUSE overlay) or copy (a private copy of the image).
    /// Default: the first that works here, in that order (`hutch info`).
    #[arg(long, env = "HUTCH_STORAGE_DRIVER", value_name = "DRIVER",
          value_parser = choice::<DriverKind>(DriverKind::NAMES, &[]))]
    pub storage_driver: Option<DriverKind>,
    /// User namespace: auto, subids, single or keep-id (your uid/gid inside).
    #[arg(long, default_value = "auto", value_name = "MODE")]
    pub userns: UsernsRequest,
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
    /// seccomp=unconfined, seccomp=FILE.json (Docker's profile format) or
    /// no-new-privileges[=true|false] (on by default).
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Make chown, the setuid/setgid/setgroups family and mknod of devices
    /// succeed without effect (for package managers in single-id mode).
    #[arg(long = "fake-root")]
    pub fake_root: bool,
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
    /// Run in the background: print the container id and return; output goes
    /// to the container's log (`hutch logs`).
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Pull the image: missing (only when the store lacks it), always, or never.
    #[arg(long, value_parser = choice::<PullPolicy>(PullPolicy::NAMES, &[]), default_value = "missing", value_name = "POLICY")]
    pub pull: PullPolicy,
    /// Image name or id.
    pub image: String,
    /// Command and arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let detach = a.detach;
    let prepared = prepare(ctx, a)?;
    let id = prepared.id().to_string();
    if detach {
        let outcome = prepared.detached()?;
        if matches!(outcome, Outcome::Started) {
            ctx.printer.out(&id);
        }
        return Ok(report(&outcome));
    }
    Ok(report(&prepared.foreground(&ctx.printer)?))
}

/// `hutch create`: `run`'s flags, the container recorded as created and
/// left for `hutch start` (a `--rm` one is removed once that run ends).
pub fn create(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    if a.detach {
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
    for v in &a.volume {
        parse_volume(v)?;
    }
    for m in &a.mount {
        parse_mount(m)?;
    }
    let mut user_env = Vec::new();
    for f in &a.env_file {
        let text = fs_err::read_to_string(f).context("cannot read --env-file")?;
        user_env.extend(env_file(&text).with_context(|| format!("--env-file {}", f.display()))?);
    }
    for e in &a.process.env {
        user_env.extend(env_entry(e)?);
    }
    if let Some(n) = &a.name {
        crate::container::check_name(n)?;
    }

    let mut security = crate::sandbox::security::Flags {
        cap_add: a.cap_add,
        cap_drop: a.cap_drop,
        privileged: a.privileged,
        security_opt: a.security_opt,
        seccomp_profile: None,
        fake_root: a.fake_root,
        shm_size: a.shm_size,
        ulimits: a.ulimit,
        memory: a.memory,
        cpus: a.cpus,
        pids_limit: a.pids_limit,
        strict_limits: a.strict_limits,
    };
    if let Some(f) = security.seccomp_file().map_err(anyhow::Error::msg)? {
        let text = fs_err::read_to_string(f).context("cannot read the seccomp profile")?;
        security.seccomp_profile = Some(text);
    }
    security.check().map_err(anyhow::Error::msg)?;

    // Pulls (when needed) finish and join their threads before anything forks.
    let image = ensure_image(&ctx.dirs, &a.image, a.pull, &Bars::new(ctx.printer))?;
    let mut launch = Launch::new(&ctx.dirs, &a.image, image)
        .command(a.command)
        .envs(user_env)
        .network(NetFlags {
            network: a.network,
            publish: a.publish,
            publish_all: a.publish_all,
            dns: a.dns,
            dns_search: a.dns_search,
            dns_option: a.dns_option,
            add_host: a.add_host,
        })
        .userns(a.userns)
        .read_only(a.read_only, a.read_only_tmpfs)
        .init(a.init)
        .tty(a.process.tty)
        .interactive(a.process.interactive)
        .auto_remove(a.rm)
        .security(security);
    if let Some(n) = a.name {
        launch = launch.name(n);
    }
    if let Some(d) = a.storage_driver {
        launch = launch.storage_driver(d);
    }
    if let Some(e) = a.entrypoint {
        launch = launch.entrypoint(e);
    }
    if let Some(u) = a.process.user {
        launch = launch.user(u);
    }
    if let Some(w) = a.process.workdir {
        launch = launch.workdir(w);
    }
    if let Some(h) = a.hostname {
        launch = launch.hostname(h);
    }
    for v in a.volume {
        launch = launch.volume(v);
    }
    for m in a.mount {
        launch = launch.mount(m);
    }
    for f in a.volumes_from {
        launch = launch.volumes_from(f);
    }
    for t in a.tmpfs {
        launch = launch.tmpfs(t);
    }
    Ok(launch.create(&ctx.printer)?)
}

/// The exit code of a launch, after saying what went wrong inside hutch.
pub(super) fn report(outcome: &Outcome) -> u8 {
    if let Some(e) = outcome.error() {
        eprintln!("Error: {e}");
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
