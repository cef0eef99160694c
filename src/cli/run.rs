//! `hutch run`: Docker's `run` flags mapped onto an image, a container record
//! and a sandbox spec. The order matters for speed and for clean failures:
//! everything that can be rejected (flags, volumes, the image, the user
//! namespace, overlay support, the plan) is checked before the container's
//! directory is created or anything is cloned.

use super::Ctx;
use crate::container::{self, Containers, Record, Status};
use crate::net::Network;
use crate::registry::pull::{ensure_image, PullPolicy};
use crate::rootfs::{Features, Overlay};
use crate::sandbox::idmap::{IdMapping, IdSources, MapMode, UsernsRequest};
use crate::sandbox::{self, MountSpec, Plan, ProcessSpec, Spec};
use crate::store::Store;
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Remove the container (its directory and writable layer) when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Name the container (unique among existing containers).
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable: KEY=VALUE, or KEY to pass on hutch's value.
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Read environment variables from a file (KEY=VALUE lines, # comments).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container (created if missing).
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run as USER[:GROUP] (names from the image's /etc/passwd and /etc/group, or numbers).
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Override the image's entrypoint ("" clears it); also drops the image's command.
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Container host name (default: the short container id).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Bind mount a host path: HOST:CONTAINER[:ro|rw]. HOST must be absolute and exist.
    #[arg(short = 'v', long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    pub volume: Vec<String>,
    /// Mount a tmpfs: PATH[:OPTIONS] (mount(8) options such as size=64m,mode=1777).
    #[arg(long, value_name = "PATH[:OPTIONS]")]
    pub tmpfs: Vec<String>,
    /// Mount the container's root filesystem read-only.
    #[arg(long)]
    pub read_only: bool,
    /// With --read-only, mount fresh tmpfs on /tmp, /var/tmp and /run.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub read_only_tmpfs: bool,
    /// Run a small init as pid 1 that forwards signals and reaps zombies.
    #[arg(long)]
    pub init: bool,
    /// Network: none (private, loopback only; the default) or host (share the host's).
    #[arg(long, default_value = "none", value_name = "MODE")]
    pub network: Network,
    /// User namespace: auto, subids, single or keep-id (your uid/gid inside).
    #[arg(long, default_value = "auto", value_name = "MODE")]
    pub userns: UsernsRequest,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Pull the image: missing (only when the store lacks it), always, or never.
    #[arg(long, value_enum, default_value = "missing", value_name = "POLICY")]
    pub pull: PullPolicy,
    /// Image name or id.
    pub image: String,
    /// Command and arguments (default: the image's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Exit code for hutch's own failures.
const EXIT_ERROR: u8 = super::EXIT_HUTCH_ERROR;

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    // Flags first: nothing below runs for a bad command line.
    let volumes = a
        .volume
        .iter()
        .map(|v| parse_volume(v))
        .collect::<Result<Vec<_>, _>>()?;
    let tmpfs = a.tmpfs.iter().map(|t| parse_tmpfs(t)).collect::<Vec<_>>();
    let mut user_env = Vec::new();
    for f in &a.env_file {
        let text = fs_err::read_to_string(f).context("cannot read --env-file")?;
        for line in text.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with('#') {
                user_env.extend(env_entry(line)?);
            }
        }
    }
    for e in &a.env {
        user_env.extend(env_entry(e)?);
    }
    if let Some(n) = &a.name {
        container::check_name(n).map_err(anyhow::Error::msg)?;
    }

    // Pulls (when needed) finish and join their threads before anything forks.
    let image = ensure_image(ctx, &a.image, a.pull)?;
    let store = Store::open(&ctx.dirs)?;
    let src = IdSources::default();
    let mapping = IdMapping::detect(a.userns, &src).map_err(anyhow::Error::msg)?;
    ctx.printer.debug(&format!(
        "user namespace: {} ({})",
        mapping.mode, mapping.reason
    ));
    let features = Features::load_or_probe(&ctx.dirs.state);
    if let Some(e) = &features.userns_error {
        bail!("user namespaces are not available to this user: {e} (run `hutch info` for the fix)");
    }
    let Some(mount_api) = features.overlay else {
        bail!(
            "overlayfs cannot be mounted in a user namespace on this kernel ({}): {} \
             (run `hutch info`)",
            features.kernel,
            features
                .overlay_error
                .as_deref()
                .unwrap_or("unknown reason")
        );
    };
    // The skeleton goes below the image: mount points without copy-ups.
    let mut lowers = vec![crate::rootfs::skeleton::ensure(&ctx.dirs.state)?];
    lowers.extend(store.layer_dirs(&image, &mapping, &src, &ctx.printer)?);

    let cfg = image.config.config().clone().unwrap_or_default();
    let args = command_line(
        cfg.entrypoint().as_deref(),
        cfg.cmd().as_deref(),
        a.entrypoint.as_deref(),
        &a.command,
    );
    let mut env = cfg.env().clone().unwrap_or_default();
    env.extend(user_env);
    let user = a
        .user
        .clone()
        .or_else(|| cfg.user().clone().filter(|u| !u.is_empty()))
        .or_else(|| {
            // podman's keep-id: run as yourself unless told otherwise.
            (mapping.mode == MapMode::KeepId)
                .then(|| format!("{}:{}", mapping.host_uid, mapping.host_gid))
        });
    let cwd = a
        .workdir
        .clone()
        .or_else(|| cfg.working_dir().clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());

    let containers = Containers::new(&ctx.dirs.state);
    let id = container::new_id();
    let short = &id[..12];
    let name = match &a.name {
        Some(n) => {
            if containers.by_name(n).is_some() {
                bail!("the container name '{n}' is already in use (remove that container first)");
            }
            n.clone()
        }
        None => short.to_string(),
    };
    let hostname = a.hostname.clone().unwrap_or_else(|| short.to_string());
    let dir = containers.dir(&id);
    let mut mounts: Vec<MountSpec> = volumes;
    mounts.extend(tmpfs);
    let spec = Spec {
        mapping: mapping.clone(),
        id_sources: src,
        overlay: Overlay {
            lowers,
            upper: dir.join("upper"),
            work: dir.join("work"),
            volatile: a.rm,
        },
        mount_api,
        rootfs_mountpoint: dir.join("rootfs"),
        scratch: dir.clone(),
        hostname: hostname.clone(),
        network: a.network,
        etc_files: vec![
            ("/etc/hostname".into(), format!("{hostname}\n")),
            (
                "/etc/hosts".into(),
                a.network.hosts(&hostname, Path::new("/etc/hosts")),
            ),
            (
                "/etc/resolv.conf".into(),
                a.network.resolv_conf(Path::new("/etc/resolv.conf")),
            ),
        ],
        mounts,
        read_only: a.read_only,
        read_only_tmpfs: a.read_only_tmpfs,
        process: ProcessSpec {
            args: args.clone(),
            env,
            user,
            cwd,
            tty: a.tty,
            stdin: a.interactive,
            init: a.init,
        },
        remove_after: a.rm.then(|| dir.clone()),
    };
    let plan = Plan::build(spec)?;

    let mut rec = Record {
        id: id.clone(),
        name,
        image: a.image.clone(),
        image_id: image.id.clone(),
        command: args,
        created: chrono::Utc::now(),
        status: Status::Created,
        pid: None,
        exit_code: None,
        finished: None,
        mapping_key: mapping.key(),
        auto_remove: a.rm,
    };
    // The record is written once pid 1 runs (or when it could not start):
    // one write fewer on the hot path, and no record claims a container
    // that never got as far as a process.
    create_dir(&dir)?;

    let mut observer = Started {
        containers: &containers,
        rec: rec.clone(),
    };
    let result = sandbox::run(&plan, &mut observer);
    if a.rm {
        // The sandbox removes the directory itself; only a failed clone
        // (nothing ran in a user namespace) leaves it for us.
        let _ = std::fs::remove_dir_all(&dir);
    }
    let code = match &result {
        Ok(exit) => exit.code(),
        Err(e) => e.exit_code(),
    };
    if !a.rm {
        rec.status = Status::Exited;
        rec.exit_code = Some(code);
        rec.finished = Some(chrono::Utc::now());
        containers.save(&rec)?;
    }
    match result {
        Ok(_) => Ok(u8::try_from(code).unwrap_or(EXIT_ERROR)),
        Err(e) => {
            eprintln!("Error: {e}");
            Ok(u8::try_from(e.exit_code()).unwrap_or(EXIT_ERROR))
        }
    }
}

/// Marks the record running once pid 1 has exec'd.
struct Started<'a> {
    containers: &'a Containers,
    rec: Record,
}

impl sandbox::Observer for Started<'_> {
    fn started(&mut self, pid: i32) {
        self.rec.status = Status::Running;
        self.rec.pid = Some(pid);
        // A record that stays "created" is the only cost of a failed write.
        let _ = self.containers.save(&self.rec);
    }
}

/// The container's directory with its overlay dirs and /etc files.
fn create_dir(dir: &Path) -> anyhow::Result<()> {
    fs_err::create_dir_all(dir.parent().unwrap_or(dir))?;
    fs_err::create_dir(dir)?;
    for d in ["upper", "work", "rootfs"] {
        fs_err::create_dir(dir.join(d))?;
    }
    Ok(())
}

/// Docker's rule: `--entrypoint` replaces the image's entrypoint and drops its
/// command; a command on the line replaces the image's command.
fn command_line(
    image_entry: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entry_flag: Option<&str>,
    cmd: &[String],
) -> Vec<String> {
    let entry: Vec<String> = match entry_flag {
        Some("") => Vec::new(),
        Some(e) => vec![e.to_string()],
        None => image_entry.unwrap_or_default().to_vec(),
    };
    let cmd: Vec<String> = if !cmd.is_empty() {
        cmd.to_vec()
    } else if entry_flag.is_some() {
        Vec::new()
    } else {
        image_cmd.unwrap_or_default().to_vec()
    };
    entry.into_iter().chain(cmd).collect()
}

/// `-e KEY=VALUE` as given; bare `-e KEY` takes hutch's value, or nothing
/// when hutch has none (Docker drops it too).
fn env_entry(e: &str) -> anyhow::Result<Option<String>> {
    let key = e.split('=').next().unwrap_or("");
    if key.is_empty() || key.contains(char::is_whitespace) {
        bail!("invalid environment variable '{e}': expected KEY=VALUE or KEY");
    }
    if e.contains('=') {
        return Ok(Some(e.to_string()));
    }
    Ok(std::env::var(key).ok().map(|v| format!("{key}={v}")))
}

/// `HOST:CONTAINER[:ro|rw]`.
fn parse_volume(v: &str) -> anyhow::Result<MountSpec> {
    let parts: Vec<&str> = v.split(':').collect();
    let (host, ctr, ro) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        [_, _, o] => bail!("invalid volume '{v}': unknown option '{o}' (use ro or rw)"),
        _ => bail!("invalid volume '{v}': expected HOST:CONTAINER[:ro]"),
    };
    if host.is_empty() || ctr.is_empty() {
        bail!("invalid volume '{v}': expected HOST:CONTAINER[:ro]");
    }
    if !host.starts_with('/') {
        bail!(
            "invalid volume '{v}': the host path '{host}' is relative; use an absolute path \
             (named volumes are not supported)"
        );
    }
    if !ctr.starts_with('/') {
        bail!("invalid volume '{v}': the container path '{ctr}' must be absolute");
    }
    if let Err(e) = Path::new(host).metadata() {
        bail!("invalid volume '{v}': cannot use host path {host}: {e}");
    }
    Ok(MountSpec::Bind {
        source: PathBuf::from(host),
        target: ctr.to_string(),
        read_only: ro,
    })
}

/// `PATH[:OPTIONS]`.
fn parse_tmpfs(t: &str) -> MountSpec {
    let (target, options) = t.split_once(':').unwrap_or((t, ""));
    MountSpec::Tmpfs {
        target: target.to_string(),
        options: options.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_command_follow_docker() {
        let e = s(&["/init"]);
        let c = s(&["sh"]);
        assert_eq!(
            command_line(Some(&e), Some(&c), None, &[]),
            s(&["/init", "sh"])
        );
        assert_eq!(
            command_line(Some(&e), Some(&c), None, &s(&["ls"])),
            s(&["/init", "ls"])
        );
        assert_eq!(
            command_line(Some(&e), Some(&c), Some("echo"), &[]),
            s(&["echo"])
        );
        assert_eq!(
            command_line(Some(&e), Some(&c), Some(""), &s(&["id"])),
            s(&["id"])
        );
    }

    #[test]
    fn volume_specs() {
        assert!(matches!(
            parse_volume("/tmp:/mnt:ro").unwrap(),
            MountSpec::Bind {
                read_only: true,
                ..
            }
        ));
        for bad in [
            "/tmp",
            "rel:/mnt",
            "/tmp:mnt",
            "/tmp:/mnt:xx",
            "/nonexistent-x:/m",
            "/a:/b:ro:x",
        ] {
            assert!(parse_volume(bad).is_err(), "{bad}");
        }
        assert!(parse_volume("rel:/mnt")
            .unwrap_err()
            .to_string()
            .contains("relative"));
    }

    #[test]
    fn env_entries() {
        assert_eq!(env_entry("A=1").unwrap(), Some("A=1".into()));
        assert_eq!(env_entry("HUTCH_SURELY_UNSET_VAR").unwrap(), None);
        assert!(env_entry("=x").is_err());
    }
}
