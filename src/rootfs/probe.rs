//! Kernel feature probes: can this user create user namespaces, and can it
//! mount overlayfs inside one (with the new mount API's `lowerdir+`, or only
//! with classic mount(2))?
//!
//! A probe forks into a fresh user namespace (a few milliseconds), so the
//! answer is cached in a small JSON file keyed by the kernel release and only
//! recomputed when the kernel changes. This module never mounts anything in
//! the caller's namespaces.

use super::kinds::MountApi;
use super::overlay::Overlay;
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use crate::userns::run_in_userns;
use std::path::{Path, PathBuf};

/// What the kernel allows this user, as probed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Features {
    /// `uname -r` when probed.
    pub kernel: String,
    /// None when unprivileged user namespaces work, else what failed.
    pub userns_error: Option<String>,
    /// How overlayfs can be mounted in a user namespace; None when it cannot.
    pub overlay: Option<MountApi>,
    /// Why overlay did not work (or why `lowerdir+` did not), when it did not.
    pub overlay_error: Option<String>,
    /// Why a FUSE filesystem cannot be mounted in a user namespace, or None.
    pub fuse_error: Option<String>,
    /// Why overlay cannot follow metacopy files into data-only lower layers
    /// in a user namespace (Linux 6.16+), or None when it can.
    #[serde(default)]
    pub data_layers_error: Option<String>,
}

/// The running kernel's release string.
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

impl Features {
    /// Where the cached answer for this kernel lives under `dir`.
    pub fn cache_path(dir: &Path) -> PathBuf {
        // v3: the data-only layer probe was added; older files lack its answer.
        dir.join(format!("kernel-features-v3-{}.json", kernel_release()))
    }

    /// The cached answer for this kernel, or a fresh probe (then cached).
    /// `dir` must be on the filesystem that will hold container upper dirs,
    /// since overlay support depends on the upper filesystem (user xattrs).
    pub fn load_or_probe(dir: &Path) -> Features {
        let path = Self::cache_path(dir);
        if let Some(f) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Features>(&b).ok())
        {
            return f;
        }
        let f = Self::probe(dir);
        // Best effort: a failed cache write only means probing again next time.
        if std::fs::create_dir_all(dir).is_ok() {
            let tmp = dir.join(format!(".kernel-features.{}.tmp", std::process::id()));
            if let Ok(json) = serde_json::to_vec_pretty(&f) {
                if std::fs::write(&tmp, json).is_ok() {
                    let _ = std::fs::rename(&tmp, &path);
                }
            }
        }
        f
    }

    /// Probe now, using scratch directories under `dir`.
    pub fn probe(dir: &Path) -> Features {
        let kernel = kernel_release();
        let mut f = Features {
            kernel,
            userns_error: None,
            overlay: None,
            overlay_error: None,
            fuse_error: None,
            data_layers_error: None,
        };
        let map = match IdMapping::detect(UsernsRequest::Single, &IdSources::default()) {
            Ok(m) => m,
            Err(e) => {
                f.userns_error = Some(e.to_string());
                return f;
            }
        };
        let src = IdSources::default();
        if let Err(e) = run_in_userns(&map, &src, || Ok(())) {
            f.userns_error = Some(e.to_string());
            return f;
        }
        let mut errors = Vec::new();
        for api in [MountApi::LowerdirPlus, MountApi::Legacy] {
            match try_overlay(dir, &map, &src, api) {
                Ok(()) => {
                    f.overlay = Some(api);
                    break;
                }
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            f.overlay_error = Some(errors.join("; "));
        }
        f.fuse_error = try_fuse(dir, &map, &src).err();
        f.data_layers_error = match f.overlay {
            Some(api) => try_data_layers(dir, &map, &src, api).err(),
            None => Some("overlayfs cannot be mounted".into()),
        };
        f
    }
}

/// Mount a two-layer overlay and check that the merged view shows both
/// layers.
fn try_overlay(dir: &Path, map: &IdMapping, src: &IdSources, api: MountApi) -> Result<(), String> {
    let layout = |s: &Path| {
        mkdirs(s, &["l0", "l1"])?;
        write(&s.join("l0/a"), b"a")?;
        write(&s.join("l1/b"), b"b")?;
        Ok(Overlay {
            lowers: vec![s.join("l0"), s.join("l1")],
            data: Vec::new(),
            upper: s.join("upper"),
            work: s.join("work"),
            volatile: false,
        })
    };
    let check = |merged: &Path| {
        if merged.join("a").exists() && merged.join("b").exists() {
            Ok(())
        } else {
            Err("overlay mounted but the lower layers are not visible".into())
        }
    };
    try_mount(dir, map, src, api, ".probe-", layout, check).map_err(|e| format!("{api:?}: {e}"))
}

/// Mount an overlay whose only file is a metacopy file redirected into a
/// data-only layer, and read the data through it.
fn try_data_layers(
    dir: &Path,
    map: &IdMapping,
    src: &IdSources,
    api: MountApi,
) -> Result<(), String> {
    const DATA: &[u8] = b"data";
    let layout = |s: &Path| {
        mkdirs(s, &["meta", "data/l"])?;
        write(&s.join("data/l/f"), DATA)?;
        let meta = std::fs::File::create(s.join("meta/f")).map_err(|e| e.to_string())?;
        meta.set_len(DATA.len() as u64).map_err(|e| e.to_string())?;
        use std::os::fd::AsFd;
        for (k, v) in [
            (c"user.overlay.metacopy", &b""[..]),
            (c"user.overlay.redirect", b"/l/f"),
        ] {
            crate::sys::fuse::fsetxattr(meta.as_fd(), k, v, 0)
                .map_err(|e| format!("setxattr {}: {e}", k.to_string_lossy()))?;
        }
        Ok(Overlay {
            lowers: vec![s.join("meta")],
            data: vec![s.join("data")],
            upper: s.join("upper"),
            work: s.join("work"),
            volatile: false,
        })
    };
    let check = |merged: &Path| match std::fs::read(merged.join("f")) {
        Ok(d) if d == DATA => Ok(()),
        Ok(_) => Err("a metacopy file does not show its data-only layer's data".into()),
        Err(e) => Err(format!("reading a metacopy file: {e}")),
    };
    try_mount(dir, map, src, api, ".probe-data-", layout, check)
}

/// In a scratch directory under `dir` (named from `prefix`), `layout`
/// makes the layers and says how to stack them; the overlay is mounted in
/// a throwaway user+mount namespace, where `check` looks at the merged
/// view.
fn try_mount(
    dir: &Path,
    map: &IdMapping,
    src: &IdSources,
    api: MountApi,
    prefix: &str,
    layout: impl FnOnce(&Path) -> Result<Overlay, String>,
    check: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(dir)
        .map_err(|e| format!("cannot create a scratch dir in {}: {e}", dir.display()))?;
    let s = scratch.path();
    mkdirs(s, &["upper", "work", "merged"])?;
    let ov = layout(s)?;
    let merged = s.join("merged");
    run_in_userns(map, src, || {
        crate::sys::cred::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare(CLONE_NEWNS) => {e}"))?;
        let seen = match ov.mount(&merged, &super::Driver::Overlay(api), s) {
            Ok(_) => check(&merged),
            Err(e) => Err(e.to_string()),
        };
        // overlay leaves a mode-000 work/work dir, even when mounting
        // failed half-way; only root here can list it.
        let _ = crate::sys::mount::umount_detach(&merged);
        let _ = std::fs::remove_dir_all(s.join("work"));
        seen
    })
    .map_err(|e| e.to_string())
}

fn mkdirs(s: &Path, dirs: &[&str]) -> Result<(), String> {
    for d in dirs {
        std::fs::create_dir_all(s.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    Ok(())
}

fn write(path: &Path, data: &[u8]) -> Result<(), String> {
    std::fs::write(path, data).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Mount FUSE in a throwaway user+mount namespace (no server needs to
/// answer: mount(2) itself is what a user namespace may refuse).
fn try_fuse(dir: &Path, map: &IdMapping, src: &IdSources) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let scratch = tempfile::Builder::new()
        .prefix(".probe-fuse-")
        .tempdir_in(dir)
        .map_err(|e| format!("cannot create a scratch dir in {}: {e}", dir.display()))?;
    let target = scratch.path().to_path_buf();
    run_in_userns(map, src, || {
        crate::sys::cred::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unshare(CLONE_NEWNS) => {e}"))?;
        let dev =
            crate::sys::fuse::open_dev_fuse(Path::new("/dev/fuse")).map_err(|e| e.to_string())?;
        use std::os::fd::AsFd;
        crate::sys::fuse::mount_fuse(
            dev.as_fd(),
            &target,
            "hutch-probe",
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
            "",
        )
        .map_err(|e| e.to_string())?;
        let _ = crate::sys::mount::umount_detach(&target);
        Ok(())
    })
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_result_is_cached_per_kernel() {
        let d = tempfile::tempdir().unwrap();
        let fake = Features {
            kernel: kernel_release(),
            userns_error: None,
            overlay: Some(MountApi::Legacy),
            overlay_error: Some("cached".into()),
            fuse_error: None,
            data_layers_error: None,
        };
        std::fs::write(
            Features::cache_path(d.path()),
            serde_json::to_vec(&fake).unwrap(),
        )
        .unwrap();
        assert_eq!(Features::load_or_probe(d.path()), fake);
    }
}
