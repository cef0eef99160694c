//! Turning a container record into a running sandbox, shared by `hutch run`
//! and `hutch start`: the record's image and config become a sandbox plan
//! (everything re-checked, nothing created), and the plan runs either in the
//! foreground (this process waits, relays the terminal and records the exit)
//! or under a detached supervisor (`container::supervisor`).
//!
//! It does not parse flags (run.rs does) and does not decide names or ids.

use super::Ctx;
use crate::container::{self, supervisor, Containers, ProcId, Record, Status};
use crate::net::plan::HostEnv;
use crate::net::ports::PortMapping;
use crate::net::Network;
use crate::rootfs::{Features, Overlay};
use crate::sandbox::idmap::{IdMapping, IdSources, UsernsRequest};
use crate::sandbox::{self, MountSpec, Plan, ProcessSpec, Spec};
use crate::store::{Image, Store};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What `hutch start` looks up again for a stored container: its image and
/// the id mapping, which must still be the one its files were made with.
/// `hutch run` has both already and passes them straight to [`plan`].
pub fn resolve(ctx: &Ctx, rec: &Record) -> anyhow::Result<(Image, IdMapping)> {
    let request: UsernsRequest = rec.config.userns.parse().map_err(anyhow::Error::msg)?;
    let image = Store::open(&ctx.dirs)?
        .image(&rec.image_id)
        .with_context(|| format!("the image {} of container {}", rec.image, rec.name))?;
    let mapping = IdMapping::detect(request, &IdSources::default()).map_err(anyhow::Error::msg)?;
    if !rec.mapping_key.is_empty() && mapping.key() != rec.mapping_key {
        bail!(
            "container {} was created with another user id mapping ({}, now {}): \
             its files would have the wrong owners; run a new container instead",
            rec.name,
            rec.mapping_key,
            mapping.key()
        );
    }
    Ok((image, mapping))
}

/// The sandbox plan that (re)creates `rec`'s container over its upper dir,
/// and the ports it publishes (recorded for `hutch port`).
pub fn plan(
    ctx: &Ctx,
    rec: &Record,
    dir: &Path,
    image: &Image,
    mapping: IdMapping,
) -> anyhow::Result<(Plan, Vec<PortMapping>)> {
    let c = &rec.config;
    let mut mounts = c
        .volumes
        .iter()
        .map(|v| parse_volume(v))
        .collect::<Result<Vec<_>, _>>()?;
    mounts.extend(c.tmpfs.iter().map(|t| parse_tmpfs(t)));
    let store = Store::open(&ctx.dirs)?;
    let src = IdSources::default();
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
    lowers.extend(store.layer_dirs(image, &mapping, &src, &ctx.printer)?);
    let cfg = image.config.config().clone().unwrap_or_default();
    let exposed = cfg.exposed_ports().clone().unwrap_or_default();
    let network = match c.network.joined_container() {
        Some(name) => joined(ctx, rec, name)?,
        None => Network::from_flags(&c.network, &exposed, &c.hostname, dir, &HostEnv::detect())
            .map_err(anyhow::Error::msg)?,
    };
    ctx.printer.debug(&format!("network: {}", network.mode()));
    let ports = network.ports().to_vec();
    let keeper = match &network {
        // The joined container's user namespace is used as it is.
        Network::Container(_) => None,
        _ => crate::sandbox::keeper::for_spec(&mapping, &src, &ctx.printer),
    };
    let spec = Spec {
        mapping,
        id_sources: src,
        keeper,
        overlay: Overlay {
            lowers,
            upper: dir.join("upper"),
            work: dir.join("work"),
            volatile: rec.auto_remove,
        },
        mount_api,
        rootfs_mountpoint: dir.join("rootfs"),
        scratch: dir.to_path_buf(),
        hostname: c.hostname.clone(),
        // Generated at each start, so a restart picks up the host's current
        // resolv.conf.
        etc_files: vec![
            ("/etc/hostname".into(), format!("{}\n", c.hostname)),
            (
                "/etc/hosts".into(),
                network.hosts(&c.hostname, Path::new("/etc/hosts")),
            ),
            (
                "/etc/resolv.conf".into(),
                network.resolv_conf(Path::new("/etc/resolv.conf")),
            ),
        ],
        network,
        mounts,
        read_only: c.read_only,
        read_only_tmpfs: c.read_only_tmpfs,
        process: ProcessSpec {
            args: rec.command.clone(),
            env: c.env.clone(),
            user: c.user.clone(),
            cwd: c.workdir.clone(),
            tty: c.tty,
            stdin: c.interactive,
            init: c.init,
        },
        remove_after: rec.auto_remove.then(|| dir.to_path_buf()),
    };
    Ok((Plan::build(spec)?, ports))
}

/// `--network container:NAME`: the running container's namespaces, and its
/// /etc/hosts and /etc/resolv.conf (the names that network resolves).
fn joined(ctx: &Ctx, rec: &Record, name: &str) -> anyhow::Result<Network> {
    crate::net::check_no_helper_flags(&rec.config.network, "container")
        .map_err(anyhow::Error::msg)?;
    let containers = Containers::new(&ctx.dirs.state);
    let target = containers
        .resolve(name)
        .with_context(|| format!("--network container:{name}"))?;
    // The host's network namespace belongs to the host's user namespace,
    // which no container can enter.
    if !target.config.network.private_namespace() {
        bail!(
            "--network container:{name}: container {} uses the host's network; use --network host",
            target.name
        );
    }
    let not_running = || {
        anyhow::anyhow!(
            "--network container:{name}: container {} is not running",
            target.name
        )
    };
    let Some(pid) = target
        .pid
        .filter(|_| container::state::observe(&target).is_running())
    else {
        return Err(not_running());
    };
    if target.mapping_key != rec.mapping_key {
        bail!(
            "--network container:{name}: container {} has another user id mapping ({}, this one {}); \
             use the same --userns",
            target.name,
            target.mapping_key,
            rec.mapping_key
        );
    }
    let open = |what: &str| -> anyhow::Result<std::sync::Arc<std::os::fd::OwnedFd>> {
        let f = std::fs::File::open(format!("/proc/{pid}/ns/{what}")).map_err(|_| not_running())?;
        Ok(std::sync::Arc::new(f.into()))
    };
    let etc = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/root/etc/{file}")).map_err(|_| not_running())
    };
    let joined = crate::net::Joined {
        user: open("user")?,
        net: open("net")?,
        hosts: etc("hosts")?,
        resolv_conf: etc("resolv.conf")?,
    };
    // The descriptors pin the namespaces: once pid 1 is still the target's,
    // they are the target's.
    if !target.init.is_some_and(|p| p.alive()) {
        return Err(not_running());
    }
    Ok(Network::Container(Box::new(joined)))
}

/// Mark `id` as starting, owned by this process, with the ports this start
/// publishes, unless it runs already. Under the container's lock, so two
/// starts cannot both win.
pub fn claim(containers: &Containers, id: &str, ports: Vec<PortMapping>) -> anyhow::Result<Record> {
    let _l = containers.lock(id)?;
    let mut rec = containers
        .read(id)
        .ok_or_else(|| container::Error::NotFound(id.to_string()))?;
    if container::state::observe(&rec).is_running() {
        bail!(
            "container {} is already running (stop it first with `hutch stop {}`)",
            rec.name,
            rec.name
        );
    }
    starting(&mut rec);
    rec.ports = ports;
    containers.save(&rec)?;
    Ok(rec)
}

/// The state a record has between its claim and pid 1's exec: running,
/// owned by this process, no pid yet.
pub fn starting(rec: &mut Record) {
    rec.status = Status::Running;
    rec.supervisor = ProcId::current();
    rec.init = None;
    rec.pid = None;
    rec.exit_code = None;
    rec.finished = None;
}

/// Run the plan here and wait; the container's exit code.
pub fn foreground(containers: &Containers, rec: &Record, plan: &Plan) -> anyhow::Result<u8> {
    let mut observer = Started {
        containers,
        id: &rec.id,
        supervision: None,
    };
    let result = sandbox::run(plan, &mut observer);
    let code = finish(containers, rec, &result);
    if let Err(e) = &result {
        eprintln!("Error: {e}");
    }
    Ok(u8::try_from(code).unwrap_or(super::EXIT_HUTCH_ERROR))
}

/// Run the plan under a detached supervisor; Ok(0) once pid 1 runs.
pub fn detached(
    containers: &Containers,
    rec: &Record,
    plan: &Plan,
    dir: &Path,
) -> anyhow::Result<u8> {
    let log = dir.join(container::logs::LOG_FILE);
    let outcome = supervisor::detach(&log, &plan.held_fds(), |s| {
        let mut observer = Started {
            containers,
            id: &rec.id,
            supervision: Some(&mut *s),
        };
        let result = sandbox::run(plan, &mut observer);
        if let Err(e) = &result {
            eprintln!("Error: {e}");
            s.failed(e.exit_code(), &e.to_string());
        }
        // Everything the container wrote is in the log before its exit is.
        s.close_log();
        finish(containers, rec, &result);
    })
    .map_err(anyhow::Error::msg)?;
    match outcome {
        supervisor::Outcome::Started => Ok(0),
        supervisor::Outcome::Failed(code, msg) => {
            // The supervisor records the failure right after reporting it:
            // let `ps` after a failed `run -d` show it exited already.
            let _ = container::control::wait(containers, &rec.id, Some(Duration::from_secs(10)));
            eprintln!("Error: {msg}");
            Ok(u8::try_from(code).unwrap_or(super::EXIT_HUTCH_ERROR))
        }
    }
}

/// Record the exit (unless --rm took the directory away); the exit code.
fn finish(
    containers: &Containers,
    rec: &Record,
    result: &Result<sandbox::Exit, sandbox::Error>,
) -> i32 {
    let code = match result {
        Ok(exit) => exit.code(),
        Err(e) => e.exit_code(),
    };
    if rec.auto_remove {
        // The sandbox removes the directory itself; only a failed clone
        // (nothing ran in a user namespace) leaves it for us.
        let _ = std::fs::remove_dir_all(containers.dir(&rec.id));
    } else {
        let _ = containers.update(&rec.id, |r| {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished = Some(chrono::Utc::now());
        });
    }
    code
}

/// Marks the record running once pid 1 has exec'd, and tells the caller of
/// a detached start.
struct Started<'a> {
    containers: &'a Containers,
    id: &'a str,
    supervision: Option<&'a mut supervisor::Supervision>,
}

impl sandbox::Observer for Started<'_> {
    fn started(&mut self, pid: i32) {
        let now = chrono::Utc::now();
        // A record that stays "starting" is the only cost of a failed write;
        // its supervisor still records the exit.
        let _ = self.containers.update(self.id, |r| {
            r.status = Status::Running;
            r.pid = Some(pid);
            r.init = ProcId::of(pid);
            r.supervisor = ProcId::current();
            r.started = Some(now);
        });
        if let Some(s) = self.supervision.as_mut() {
            s.started();
        }
    }
}

/// `HOST:CONTAINER[:ro|rw]`, or podman's overlay volume
/// `HOST:CONTAINER:O,upperdir=DIR,workdir=DIR`.
pub fn parse_volume(v: &str) -> anyhow::Result<MountSpec> {
    let parts: Vec<&str> = v.split(':').collect();
    let (host, ctr, ro) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        [h, c, o] if *o == "O" || o.starts_with("O,") => return overlay_volume(v, h, c, o),
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

/// The overlay form of [`parse_volume`]; the upper dir persists, so both
/// dirs must be named (podman's form without them, a throwaway upper, is
/// not supported).
fn overlay_volume(v: &str, host: &str, ctr: &str, opts: &str) -> anyhow::Result<MountSpec> {
    let (mut upper, mut work) = (None, None);
    for o in opts.split(',').skip(1) {
        match o.split_once('=') {
            Some(("upperdir", d)) => upper = Some(PathBuf::from(d)),
            Some(("workdir", d)) => work = Some(PathBuf::from(d)),
            _ => bail!("invalid volume '{v}': unknown overlay option '{o}'"),
        }
    }
    let (Some(upper), Some(work)) = (upper, work) else {
        bail!("invalid volume '{v}': an overlay volume needs upperdir=DIR,workdir=DIR");
    };
    Ok(MountSpec::Overlay {
        lower: PathBuf::from(host),
        upper,
        work,
        target: ctr.to_string(),
    })
}

/// `PATH[:OPTIONS]`.
pub fn parse_tmpfs(t: &str) -> MountSpec {
    let (target, options) = t.split_once(':').unwrap_or((t, ""));
    MountSpec::Tmpfs {
        target: target.to_string(),
        options: options.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
