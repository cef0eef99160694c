//! `hutch info`: what hutch detected about this machine and why — the user
//! namespace mode, whether unprivileged user namespaces and overlayfs in them
//! work (and the fix when they do not), cgroups, devices, and where hutch
//! keeps things. Text for people, `--format json` for scripts.

use super::Ctx;
use crate::net;
use crate::rootfs::{driver, DriverKind, Features, MountApi};
use crate::sandbox::host::{self, Cgroups, HostPaths};
use crate::sandbox::limits::CgroupLimits;
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use crate::userns::keeper;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format: text or json.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

/// Everything `hutch info` reports.
#[derive(Debug, serde::Serialize)]
pub struct Info {
    pub kernel: String,
    pub userns: Userns,
    pub storage: Storage,
    pub cgroups: Cgroups,
    pub devices: Devices,
    /// The network `hutch run` uses without `--network`: `pasta`,
    /// `slirp4netns`, or `unavailable` when neither is installed.
    pub network_default: String,
    /// The helper's path and why it is the default, or what to install.
    pub network_reason: String,
    pub confinement: Confinement,
    pub store: PathBuf,
    pub state: PathBuf,
    /// config.toml's path, whether it exists.
    pub config_file: PathBuf,
    pub config_file_present: bool,
    /// Every per-machine setting's effective value and where it came from
    /// (default, config.toml:LINE, an environment variable or a flag).
    pub settings: Vec<super::config::Setting>,
}

/// What `hutch run` confines a container with by default, and which limits work.
#[derive(Debug, serde::Serialize)]
pub struct Confinement {
    /// The default seccomp profile.
    pub seccomp: String,
    /// The capabilities of a container's root (also its bounding set).
    pub capabilities: String,
    /// When calls that need more than one id are faked.
    pub fake_root: String,
    /// `--ulimit` and `--shm-size`: always applied.
    pub rlimits: bool,
    /// Why `--memory`, `--cpus`, `--pids-limit` are not applied, and the
    /// fix; None when they are.
    pub cgroup_limits_blocker: Option<String>,
    /// Those of `--memory`, `--cpus`, `--pids-limit` that are applied
    /// (comma-separated), and those that are not.
    pub cgroup_limits_applied: String,
    pub cgroup_limits_not_applied: String,
}

#[derive(Debug, serde::Serialize)]
pub struct Userns {
    /// Whether this user can create user namespaces.
    pub available: bool,
    /// The error when it cannot, and each known switch that blocks it with its fix.
    pub error: Option<String>,
    pub blockers: Vec<String>,
    /// The mode `--userns=auto` picks, and why.
    pub mode: Option<String>,
    pub reason: String,
    pub newuidmap: Option<PathBuf>,
    pub newgidmap: Option<PathBuf>,
    /// The subordinate ranges in use, `start-end` on the host.
    pub subuids: Option<String>,
    pub subgids: Option<String>,
    /// What to do to get subordinate ids, when there are none (single-id
    /// mode: only the caller's uid exists inside).
    pub fix: Option<String>,
    /// The user-namespace keeper for that mode: `pid N`, `not running`, or
    /// why none can be used (`not needed` for a single id).
    pub keeper: String,
}

#[derive(Debug, serde::Serialize)]
pub struct Storage {
    /// The driver `hutch run` uses (`HUTCH_STORAGE_DRIVER`, else the first
    /// usable one): `overlay`, `fuse`, `copy`, or `none`.
    pub driver: String,
    /// Why that one: asked for, or which ones were passed over.
    pub reason: String,
    /// How the overlay options are passed (`lowerdir-plus` or `legacy`).
    pub mount_api: Option<MountApi>,
    pub error: Option<String>,
    /// Every driver, whether it works here and why not.
    pub drivers: Vec<DriverState>,
}

#[derive(Debug, serde::Serialize)]
pub struct DriverState {
    pub name: DriverKind,
    pub usable: bool,
    pub error: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct Devices {
    /// Whether /dev/fuse can be opened read-write (needed by FUSE overlays).
    pub fuse: bool,
    /// Whether /dev/net/tun can be opened read-write (needed by pasta/slirp4netns).
    pub tun: bool,
}

/// How to leave single-id mode: the tools when they are missing, and a
/// range for this user (what `useradd` gives new users on Debian).
fn single_id_fix(src: &IdSources) -> String {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| nix::unistd::getuid().to_string());
    let range =
        format!("sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}");
    let fix = if src.newuidmap.is_none() || src.newgidmap.is_none() {
        format!("sudo apt-get install uidmap, and give {user} subordinate ids: {range}")
    } else {
        format!("give {user} subordinate ids: {range}")
    };
    format!("{fix} (only your own uid is mapped now, so images with other users fail)")
}

/// Gather the report (probing the kernel once; cached afterwards).
pub fn gather(ctx: &Ctx) -> anyhow::Result<Info> {
    use super::config::{self, KEYS};
    let mut settings = Vec::new();
    for key in KEYS {
        match ctx.settings.iter().find(|s| s.key == key.name) {
            Some(s) => settings.push(s.clone()),
            None => settings.push(ctx.config.effective(key, None)?),
        }
    }
    let requested = ctx
        .config
        .value::<DriverKind>(config::STORAGE_DRIVER, None)?;
    let driver_origin = settings
        .iter()
        .find(|s| s.key == config::STORAGE_DRIVER.name)
        .map(|s| s.origin.to_string())
        .unwrap_or_default();
    let paths = HostPaths::default();
    let src = IdSources::default();
    let features = Features::load_or_probe(&ctx.dirs.state);
    let mapping = IdMapping::detect(UsernsRequest::Auto, &src);
    let helper = net::choose::choose(None, &net::choose::SearchPath::from_env());
    let range = |v: &[crate::userns::idmap::IdRange]| {
        v.iter()
            .find(|r| r.inside == 1)
            .map(|r| format!("{}-{}", r.outside, r.outside as u64 + r.count as u64 - 1))
    };
    let userns = Userns {
        available: features.userns_error.is_none(),
        error: features.userns_error.clone(),
        blockers: host::userns_blockers(&paths),
        mode: mapping.as_ref().ok().map(|m| m.mode.to_string()),
        reason: match &mapping {
            Ok(m) => m.reason.clone(),
            Err(e) => e.to_string(),
        },
        newuidmap: src.newuidmap.clone(),
        newgidmap: src.newgidmap.clone(),
        subuids: mapping.as_ref().ok().and_then(|m| range(&m.uids)),
        subgids: mapping.as_ref().ok().and_then(|m| range(&m.gids)),
        fix: match &mapping {
            Ok(m) if m.mode == crate::userns::idmap::MapMode::Single => Some(single_id_fix(&src)),
            _ => None,
        },
        keeper: match &mapping {
            Ok(m) if m.needs_helpers() => match keeper::runtime_dir() {
                Ok(dir) => match keeper::find(m) {
                    Some(pid) => format!("pid {pid} ({})", dir.display()),
                    None => format!(
                        "not running (the next start makes one; pid file in {})",
                        dir.display()
                    ),
                },
                Err(e) => format!("unusable: {e}; every start runs newuidmap/newgidmap"),
            },
            _ => "not needed (single id)".into(),
        },
    };
    let selection = driver::select(requested, &DriverKind::ALL, &features);
    let storage = Storage {
        driver: selection
            .as_ref()
            .map_or("none".to_string(), |s| s.kind.to_string()),
        reason: match &selection {
            Ok(s) if s.rejected.is_empty() && requested.is_some() => {
                format!("set by {driver_origin}")
            }
            Ok(s) if s.rejected.is_empty() => "the first choice works".to_string(),
            Ok(s) => s
                .rejected
                .iter()
                .map(|(k, why)| format!("{k} passed over: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
            Err(e) => e.to_string(),
        },
        mount_api: features.overlay,
        error: features.overlay_error.clone(),
        drivers: DriverKind::ALL
            .iter()
            .map(|&k| {
                let error = driver::unusable(k, &features).map(|e| e.to_string());
                DriverState {
                    name: k,
                    usable: error.is_none(),
                    error,
                }
            })
            .collect(),
    };
    let cgroups = host::cgroups(&paths);
    let (cgroup_limits_applied, cgroup_limits_not_applied, cgroup_limits_blocker) =
        cgroup_limits(&cgroups);
    Ok(Info {
        kernel: features.kernel.clone(),
        userns,
        storage,
        cgroups,
        devices: Devices {
            fuse: host::writable(&paths.dev.join("fuse")),
            tun: host::writable(&paths.dev.join("net/tun")),
        },
        network_default: match &helper {
            Ok(c) => c.kind().name().to_string(),
            Err(_) => "unavailable".to_string(),
        },
        network_reason: match &helper {
            Ok(c) => format!("{}: {}", c.binary.display(), c.reason),
            Err(e) => e.to_string(),
        },
        confinement: Confinement {
            seccomp: "Docker's default profile (no new user namespaces, keyrings, bpf, \
                      perf_event_open, kexec, modules or clock changes)"
                .into(),
            capabilities: crate::sandbox::caps::DEFAULT.to_string(),
            fake_root: match mapping.as_ref().map(|m| m.mode) {
                Ok(crate::userns::idmap::MapMode::Single) => {
                    "on for build RUN steps (no subordinate ids); `run --fake-root` for containers"
                }
                _ => "off (subordinate ids give real users); `run --fake-root` to use it",
            }
            .into(),
            rlimits: true,
            cgroup_limits_blocker,
            cgroup_limits_applied,
            cgroup_limits_not_applied,
        },
        store: ctx.dirs.store.clone(),
        state: ctx.dirs.state.clone(),
        config_file: ctx.config.file().0.to_path_buf(),
        config_file_present: ctx.config.file().1,
        settings,
    })
}

/// The flags of `--memory`, `--cpus`, `--pids-limit` that work for a user
/// whose cgroups are `c`, those that do not, and why not.
fn cgroup_limits(c: &Cgroups) -> (String, String, Option<String>) {
    let all = CgroupLimits::ALL;
    let base = crate::sandbox::cgroup::base(c);
    let (kept, why) = crate::sandbox::limits::usable(c, base.as_deref(), &all);
    (
        crate::sandbox::cgroup::flags(&kept),
        crate::sandbox::cgroup::flags(&all.without(&kept)),
        why.map(|e| e.to_string()),
    )
}

/// The `limits:` line: which limits work, and for those that do not, why.
fn limits_line(k: &Confinement) -> String {
    let mut limits = vec!["--ulimit, --shm-size: yes".to_string()];
    if !k.cgroup_limits_applied.is_empty() {
        limits.push(format!("{}: yes", k.cgroup_limits_applied));
    }
    if let Some(why) = &k.cgroup_limits_blocker {
        limits.push(format!("{}: no — {why}", k.cgroup_limits_not_applied));
    }
    format!("  limits: {}", limits.join("; "))
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let info = gather(ctx)?;
    if a.format == "json" {
        ctx.printer.out(&serde_json::to_string_pretty(&info)?);
        return Ok(0);
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    let u = &info.userns;
    let mut out = vec![format!("kernel: {}", info.kernel)];
    out.push(format!(
        "user namespaces: {}",
        if u.available {
            "available".to_string()
        } else {
            format!("BLOCKED: {}", u.error.as_deref().unwrap_or(""))
        }
    ));
    for b in &u.blockers {
        out.push(format!("  blocked by {b}"));
    }
    out.push(format!(
        "  mode: {} ({})",
        u.mode.as_deref().unwrap_or("none"),
        u.reason
    ));
    let path = |p: &Option<PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "not found (install the uidmap package)".into())
    };
    out.push(format!("  newuidmap: {}", path(&u.newuidmap)));
    out.push(format!("  newgidmap: {}", path(&u.newgidmap)));
    out.push(format!(
        "  subordinate uids: {}, gids: {}",
        u.subuids.as_deref().unwrap_or("none"),
        u.subgids.as_deref().unwrap_or("none")
    ));
    if let Some(fix) = &u.fix {
        out.push(format!("  fix: {fix}"));
    }
    out.push(format!("  keeper: {}", u.keeper));
    let s = &info.storage;
    out.push(match s.mount_api {
        Some(api) => format!(
            "storage: native overlayfs in the user namespace ({})",
            match api {
                MountApi::LowerdirPlus => "new mount API, lowerdir+",
                MountApi::Legacy => "mount(2) with short layer links",
            }
        ),
        None => format!(
            "storage: none — overlayfs cannot be mounted in a user namespace: {}",
            s.error.as_deref().unwrap_or("unknown reason")
        ),
    });
    out.push(format!("storage driver: {} ({})", s.driver, s.reason));
    for d in &s.drivers {
        out.push(match &d.error {
            None => format!("  {}: usable", d.name),
            Some(e) => format!("  {}: not usable: {e}", d.name),
        });
    }
    let c = &info.cgroups;
    out.push(format!(
        "cgroups: {:?}, {}",
        c.version,
        if c.delegated {
            "delegated to this user"
        } else {
            "not delegated: no resource limits (--memory, --cpus, --pids-limit) possible"
        }
    ));
    let k = &info.confinement;
    out.push(format!(
        "confinement: seccomp with {}; no_new_privs; masked and read-only /proc and /sys paths",
        k.seccomp
    ));
    out.push(format!("  capabilities of root: {}", k.capabilities));
    out.push(format!("  fake root: {}", k.fake_root));
    out.push(limits_line(k));
    out.push(format!(
        "/dev/fuse usable: {}; /dev/net/tun usable: {}",
        yes(info.devices.fuse),
        yes(info.devices.tun)
    ));
    out.push(format!(
        "default network: {} ({})",
        info.network_default, info.network_reason
    ));
    out.push(format!("store: {}", info.store.display()));
    out.push(format!("containers: {}", info.state.display()));
    out.push(format!(
        "config file: {}{}",
        info.config_file.display(),
        if info.config_file_present {
            ""
        } else {
            " (not present)"
        }
    ));
    out.push("settings (value, then where it came from):".into());
    for s in &info.settings {
        out.push(format!("  {} = {} ({})", s.key, s.value, s.origin));
    }
    for l in out {
        ctx.printer.out(&l);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v1/v2 hybrid machine whose v2 hierarchy has `in_v2`, with the
    /// user's cgroup delegated and given all of them.
    fn delegated(in_v2: &str) -> (tempfile::TempDir, Cgroups) {
        let d = tempfile::tempdir().unwrap();
        let own = d.path().join("unified/user");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(d.path().join("unified/cgroup.controllers"), in_v2).unwrap();
        std::fs::write(own.join("cgroup.controllers"), in_v2).unwrap();
        std::fs::write(own.join("cgroup.procs"), "").unwrap();
        std::fs::write(d.path().join("self-cgroup"), "4:memory:/x\n0::/user\n").unwrap();
        let c = host::cgroups(&HostPaths {
            proc_self_cgroup: d.path().join("self-cgroup"),
            cgroup_root: d.path().to_path_buf(),
            ..HostPaths::default()
        });
        (d, c)
    }

    fn line(c: &Cgroups) -> String {
        let (applied, not_applied, blocker) = cgroup_limits(c);
        limits_line(&Confinement {
            seccomp: String::new(),
            capabilities: String::new(),
            fake_root: String::new(),
            rlimits: true,
            cgroup_limits_blocker: blocker,
            cgroup_limits_applied: applied,
            cgroup_limits_not_applied: not_applied,
        })
    }

    #[test]
    fn each_limit_says_whether_it_works_and_why_not() {
        // cpu and pids freed from v1, memory still there.
        let (d, c) = delegated("cpu pids");
        assert_eq!(
            line(&c),
            format!(
                "  limits: --ulimit, --shm-size: yes; --cpus, --pids-limit: yes; \
                 --memory: no — your delegated cgroup {} has no memory controller \
                 (memory: this v1/v2 hybrid machine's v1 hierarchy holds it; boot with \
                 systemd.unified_cgroup_hierarchy=1)",
                d.path().join("unified/user").display()
            )
        );
        let (_d, c) = delegated("cpu memory pids");
        assert_eq!(
            line(&c),
            "  limits: --ulimit, --shm-size: yes; --cpus, --memory, --pids-limit: yes"
        );
        let (_d, mut c) = delegated("");
        c.delegated = false;
        let l = line(&c);
        assert!(
            l.ends_with("--cpus, --memory, --pids-limit: no — your cgroup is not delegated to you (no systemd user session); log in through systemd-logind or run hutch under `systemd-run --user --scope -p Delegate=yes`"),
            "{l}"
        );
    }
}
