//! `hutch info`: what hutch detected about this machine and why — the user
//! namespace mode, whether unprivileged user namespaces and overlayfs in them
//! work (and the fix when they do not), cgroups, devices, and where hutch
//! keeps things. Text for people, `--format json` for scripts.

use super::Ctx;
use crate::net;
use crate::rootfs::{Features, MountApi};
use crate::sandbox::host::{self, Cgroups, HostPaths};
use crate::sandbox::idmap::{IdMapping, IdSources, UsernsRequest};
use crate::sandbox::keeper;
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
    pub store: PathBuf,
    pub state: PathBuf,
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
    /// `overlay` (native overlayfs in a user namespace) or `none`.
    pub driver: String,
    /// How the overlay options are passed (`lowerdir-plus` or `legacy`).
    pub mount_api: Option<MountApi>,
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
pub fn gather(ctx: &Ctx) -> Info {
    let paths = HostPaths::default();
    let src = IdSources::default();
    let features = Features::load_or_probe(&ctx.dirs.state);
    let mapping = IdMapping::detect(UsernsRequest::Auto, &src);
    let helper = net::choose::choose(None, &net::choose::SearchPath::from_env());
    let range = |v: &[crate::sandbox::idmap::IdRange]| {
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
            Err(e) => e.clone(),
        },
        newuidmap: src.newuidmap.clone(),
        newgidmap: src.newgidmap.clone(),
        subuids: mapping.as_ref().ok().and_then(|m| range(&m.uids)),
        subgids: mapping.as_ref().ok().and_then(|m| range(&m.gids)),
        fix: match &mapping {
            Ok(m) if m.mode == crate::sandbox::idmap::MapMode::Single => Some(single_id_fix(&src)),
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
    let storage = Storage {
        driver: if features.overlay.is_some() {
            "overlay"
        } else {
            "none"
        }
        .into(),
        mount_api: features.overlay,
        error: features.overlay_error.clone(),
    };
    Info {
        kernel: features.kernel.clone(),
        userns,
        storage,
        cgroups: host::cgroups(&paths),
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
        store: ctx.dirs.store.clone(),
        state: ctx.dirs.state.clone(),
    }
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let info = gather(ctx);
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
    let c = &info.cgroups;
    out.push(format!(
        "cgroups: {:?}, {}",
        c.version,
        if c.delegated {
            "delegated to this user"
        } else {
            "not delegated: no resource limits (--memory, --cpus) possible"
        }
    ));
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
    for l in out {
        ctx.printer.out(&l);
    }
    Ok(0)
}
