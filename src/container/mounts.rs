//! The mount syntax of `run` and `create`: `-v` (Docker's forms with
//! Docker's and Podman's options `ro,rw,z,Z,U,O,nocopy`) and `--mount`
//! (Docker's CSV), parsed into one typed [`Mount`], their container paths
//! (and `--tmpfs`'s) checked against /proc; resolved once, when the
//! container is created (relative host paths against the working directory,
//! as Docker 23+ does; anonymous volumes named), and written back into the
//! record in the same syntax; turned into sandbox mounts at each start.
//!
//! Records written before volumes existed hold only `HOST:CONTAINER[:ro]`
//! and `...:O,upperdir=,workdir=`, which parse as they always did.

use super::{Containers, Record};
use crate::sandbox::MountSpec;
use crate::volume::{self, Volumes};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Why a `-v`, `--mount` or `--volumes-from` value cannot be used (the
/// caller names the flag and its value).
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("invalid mode '{0}' (use ro or rw)")]
    Mode(String),
    #[error("expected CONTAINER[:ro|:rw]")]
    VolumesFromSyntax,
    #[error("expected [SOURCE:]CONTAINER[:OPTIONS]")]
    VolumeSyntax,
    #[error("options ro and rw conflict")]
    ReadOnlyAndWrite,
    #[error(
        "propagation '{0}' is not supported: a rootless container cannot share mounts with \
         the host (use rslave)"
    )]
    SharedPropagation(String),
    #[error("unknown option '{0}' (use ro, rw, z, Z, U, O or nocopy)")]
    UnknownOption(String),
    #[error("upperdir and workdir go with the O option")]
    OverlayDirsWithoutO,
    #[error("an overlay volume needs both upperdir= and workdir=")]
    OverlayDirsHalf,
    #[error("the O option overlays a host directory: give HOST:CONTAINER:O")]
    OverlayNotHost,
    #[error(
        "'{0}' includes invalid characters for a local volume name, only \
         [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed; if you intended to pass a host \
         directory, use an absolute path or one starting with ./"
    )]
    VolumeNameOrPath(String),
    #[error("the container path '{0}' must be absolute")]
    RelativeTarget(String),
    #[error(
        "cannot mount over '{0}': it is inside /proc (only {list} may be mounted over)",
        list = crate::sandbox::plan::PROC_ALLOWED.join(", ")
    )]
    InsideProc(String),
    #[error(transparent)]
    Target(#[from] crate::sandbox::error::SpecError),
    #[error("invalid field '{0}': must be a key=value pair")]
    NotKeyValue(String),
    #[error("invalid value for {key}: '{value}' (use true or false)")]
    NotBoolean { key: String, value: String },
    #[error(
        "bind-propagation={0} is not supported: a rootless container cannot share mounts \
         with the host (use rslave)"
    )]
    SharedBind(String),
    #[error("invalid bind-propagation '{0}'")]
    Propagation(String),
    #[error("volume driver '{0}' is not supported: use local")]
    Driver(String),
    #[error("invalid {key} '{field}': expected {key}=KEY=VALUE")]
    VolumeOption { key: String, field: String },
    #[error("invalid tmpfs-mode '{0}': give octal bits, e.g. 1777")]
    TmpfsMode(String),
    #[error("unexpected key '{key}' in '{field}' (known keys: {MOUNT_KEYS})")]
    UnknownKey { key: String, field: String },
    #[error("target is required (target=/path/in/container)")]
    NoTarget,
    #[error("cannot mix '{options}-*' options with mount type '{kind}'")]
    Mix { options: &'static str, kind: String },
    #[error("source is required for a bind mount (source=/host/path)")]
    NoBindSource,
    #[error("source is required for a bind mount")]
    EmptyBindSource,
    #[error("bind source path does not exist: {}", .0.display())]
    MissingBindSource(PathBuf),
    #[error("a tmpfs mount takes no source")]
    TmpfsSource,
    #[error("mount type '{0}' is not supported (use bind, volume or tmpfs)")]
    MountType(String),
    #[error("the anonymous volume on {0} has no name")]
    UnnamedVolume(String),
    #[error(transparent)]
    Volume(#[from] crate::volume::Error),
}

/// Where a mount's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A host path (absolute once resolved).
    Host(PathBuf),
    /// A named volume.
    Volume(String),
    /// A volume made for this container (`-v /path`, `--mount
    /// type=volume` without a source).
    Anonymous,
    /// `--mount type=tmpfs`.
    Tmpfs,
}

/// Which flag wrote it (and how to write it back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Volume,
    Mount,
}

/// One mount as the user asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub syntax: Syntax,
    pub source: Source,
    pub target: String,
    pub read_only: bool,
    /// `:U`: the source is given to the container user at each start.
    pub chown: bool,
    /// `:O`: an overlay with the source below; upper and work dirs when
    /// named (they persist), else a throwaway upper dir.
    pub overlay: Option<Option<(PathBuf, PathBuf)>>,
    /// `nocopy` / `volume-nocopy`: a fresh volume is not filled from the image.
    pub nocopy: bool,
    /// `-v` options as written (kept verbatim in the record).
    pub options: String,
    /// `--mount volume-opt=` and `volume-label=`: for a volume it creates.
    pub volume_opts: BTreeMap<String, String>,
    pub volume_labels: BTreeMap<String, String>,
    /// `--mount tmpfs-size=`, `tmpfs-mode=`.
    pub tmpfs_size: Option<String>,
    pub tmpfs_mode: Option<String>,
    /// `--mount bind-propagation=` as given.
    pub propagation: Option<String>,
}

impl Mount {
    fn new(syntax: Syntax, source: Source, target: &str) -> Mount {
        Mount {
            syntax,
            source,
            target: target.to_string(),
            read_only: false,
            chown: false,
            overlay: None,
            nocopy: false,
            options: String::new(),
            volume_opts: BTreeMap::new(),
            volume_labels: BTreeMap::new(),
            tmpfs_size: None,
            tmpfs_mode: None,
            propagation: None,
        }
    }

    /// The volume it names, once resolved.
    pub fn volume(&self) -> Option<&str> {
        match &self.source {
            Source::Volume(n) => Some(n),
            _ => None,
        }
    }

    /// The flag value that recreates this mount (sources resolved).
    pub fn to_flag(&self) -> String {
        match self.syntax {
            Syntax::Volume => {
                let src = match &self.source {
                    Source::Host(p) => format!("{}:", p.display()),
                    Source::Volume(n) => format!("{n}:"),
                    Source::Anonymous | Source::Tmpfs => String::new(),
                };
                let opts = match self.options.as_str() {
                    "" => String::new(),
                    o => format!(":{o}"),
                };
                format!("{src}{}{opts}", self.target)
            }
            Syntax::Mount => {
                let (kind, src) = match &self.source {
                    Source::Host(p) => ("bind", Some(p.display().to_string())),
                    Source::Volume(n) => ("volume", Some(n.clone())),
                    Source::Anonymous => ("volume", None),
                    Source::Tmpfs => ("tmpfs", None),
                };
                let mut f = vec![format!("type={kind}")];
                f.extend(src.map(|s| format!("source={s}")));
                f.push(format!("target={}", self.target));
                if self.read_only {
                    f.push("readonly".into());
                }
                if self.nocopy {
                    f.push("volume-nocopy".into());
                }
                for (k, v) in &self.volume_opts {
                    f.push(format!("volume-opt={k}={v}"));
                }
                for (k, v) in &self.volume_labels {
                    f.push(format!("volume-label={k}={v}"));
                }
                f.extend(self.tmpfs_size.as_ref().map(|s| format!("tmpfs-size={s}")));
                f.extend(self.tmpfs_mode.as_ref().map(|s| format!("tmpfs-mode={s}")));
                f.extend(
                    self.propagation
                        .as_ref()
                        .map(|s| format!("bind-propagation={s}")),
                );
                f.join(",")
            }
        }
    }
}

/// `--volumes-from CONTAINER[:ro|:rw]`: the container and the mode asked
/// for (None: each mount keeps its own).
pub fn parse_volumes_from(v: &str) -> Result<(&str, Option<bool>), MountError> {
    let (name, mode) = match v.rsplit_once(':') {
        Some((n, "ro")) => (n, Some(true)),
        Some((n, "rw")) => (n, Some(false)),
        Some((_, m)) => return Err(MountError::Mode(m.to_string())),
        None => (v, None),
    };
    match name.is_empty() {
        true => Err(MountError::VolumesFromSyntax),
        false => Ok((name, mode)),
    }
}

/// The mounts `--volumes-from` takes from `rec`: its volumes and bind
/// mounts (not its tmpfs mounts), read-only when `read_only` says so.
pub fn inherited(rec: &Record, read_only: Option<bool>) -> Vec<Mount> {
    let mut out: Vec<Mount> = of_record(rec)
        .into_iter()
        .filter(|m| !matches!(m.source, Source::Tmpfs))
        .collect();
    if let Some(ro) = read_only {
        for m in &mut out {
            m.read_only = ro;
            let mut opts: Vec<&str> = m
                .options
                .split(',')
                .filter(|o| !o.is_empty() && *o != "ro" && *o != "rw")
                .collect();
            opts.push(if ro { "ro" } else { "rw" });
            m.options = opts.join(",");
        }
    }
    out
}

/// A `-v` value: `CONTAINER` (an anonymous volume), `NAME:CONTAINER[:OPTS]`
/// or `HOST:CONTAINER[:OPTS]` (HOST absolute, or relative starting with
/// `.` or `..`).
pub fn parse_volume(v: &str) -> Result<Mount, MountError> {
    volume_with(v, check_target)
}

fn volume_with(v: &str, check: TargetCheck) -> Result<Mount, MountError> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, target, opts) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [s, t] => (Some(*s), *t, ""),
        [s, t, o] => (Some(*s), *t, *o),
        _ => return Err(MountError::VolumeSyntax),
    };
    if target.is_empty() || src.is_some_and(str::is_empty) {
        return Err(MountError::VolumeSyntax);
    }
    check(target)?;
    let source = match src {
        None => Source::Anonymous,
        Some(s) => host_or_volume(s)?,
    };
    let mut m = Mount::new(Syntax::Volume, source, target);
    m.options = opts.to_string();
    let mut mode = None;
    let mut overlay_dirs = (None, None);
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" => {
                if mode.is_some_and(|m| m != o) {
                    return Err(MountError::ReadOnlyAndWrite);
                }
                mode = Some(o);
            }
            // SELinux relabelling: nothing to relabel without SELinux.
            "z" | "Z" => {}
            "U" => m.chown = true,
            "O" => m.overlay = Some(None),
            "nocopy" => m.nocopy = true,
            "private" | "rprivate" | "slave" | "rslave" => {}
            "shared" | "rshared" => return Err(MountError::SharedPropagation(o.to_string())),
            _ => match o.split_once('=') {
                Some(("upperdir", d)) => overlay_dirs.0 = Some(PathBuf::from(d)),
                Some(("workdir", d)) => overlay_dirs.1 = Some(PathBuf::from(d)),
                _ => return Err(MountError::UnknownOption(o.to_string())),
            },
        }
    }
    m.read_only = mode == Some("ro");
    match (&m.overlay, overlay_dirs) {
        (None, (None, None)) => {}
        (None, _) => return Err(MountError::OverlayDirsWithoutO),
        (Some(_), (Some(u), Some(w))) => m.overlay = Some(Some((u, w))),
        (Some(_), (None, None)) => {}
        (Some(_), _) => return Err(MountError::OverlayDirsHalf),
    }
    if m.overlay.is_some() && !matches!(m.source, Source::Host(_)) {
        return Err(MountError::OverlayNotHost);
    }
    Ok(m)
}

/// `-v`'s source: a host path (absolute, or `.`/`..`-relative), else a
/// volume name.
fn host_or_volume(s: &str) -> Result<Source, MountError> {
    let relative = s == "." || s == ".." || s.starts_with("./") || s.starts_with("../");
    if s.starts_with('/') || relative {
        return Ok(Source::Host(PathBuf::from(s)));
    }
    volume::check_name(s).map_err(|_| MountError::VolumeNameOrPath(s.to_string()))?;
    Ok(Source::Volume(s.to_string()))
}

/// A mount's container path: absolute, without `..`, not `/`, and not
/// /proc or inside it unless [`crate::sandbox::plan::PROC_ALLOWED`] has it
/// (`-v`, `--mount` and `--tmpfs` alike). Only the text is looked at, for
/// an early clear error: the sandbox checks again where the path leads once
/// the image's symlinks are resolved.
pub fn check_target(t: &str) -> Result<(), MountError> {
    if !crate::sandbox::plan::proc_mountable(&shape(t)?) {
        return Err(MountError::InsideProc(t.to_string()));
    }
    Ok(())
}

/// [`check_target`] without the /proc rule: what a record written by an
/// older hutch may hold.
fn check_shape(t: &str) -> Result<(), MountError> {
    shape(t).map(drop)
}

/// `t` relative to the container's `/`, when it is absolute, without `..`
/// and not `/`.
fn shape(t: &str) -> Result<PathBuf, MountError> {
    if !t.starts_with('/') {
        return Err(MountError::RelativeTarget(t.to_string()));
    }
    Ok(crate::sandbox::plan::container_path(t)?)
}

/// The keys `--mount` knows.
const MOUNT_KEYS: &str = "type, source, target, readonly, bind-propagation, volume-nocopy, \
                          volume-opt, volume-label, volume-driver, tmpfs-size, tmpfs-mode";

/// A `--mount` value: `type=bind|volume|tmpfs,source=,target=,readonly,...`.
pub fn parse_mount(csv: &str) -> Result<Mount, MountError> {
    mount_with(csv, check_target)
}

/// How a parse checks the container path: [`check_target`] for what the
/// user gives, [`check_shape`] for what a record holds.
type TargetCheck = fn(&str) -> Result<(), MountError>;

fn mount_with(csv: &str, check: TargetCheck) -> Result<Mount, MountError> {
    let mut kind = "volume".to_string();
    let mut source = None;
    let mut target = None;
    let mut m = Mount::new(Syntax::Mount, Source::Anonymous, "");
    let (mut volume_keys, mut tmpfs_keys, mut bind_keys) = (false, false, false);
    for field in csv.split(',').filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v)),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = || value.ok_or_else(|| MountError::NotKeyValue(field.to_string()));
        let boolean = |what: &str| match value {
            None | Some("1" | "true") => Ok(true),
            Some("0" | "false") => Ok(false),
            Some(v) => Err(MountError::NotBoolean {
                key: what.to_string(),
                value: v.to_string(),
            }),
        };
        match key.as_str() {
            "type" => kind = need()?.to_string(),
            "source" | "src" => source = Some(need()?.to_string()),
            "target" | "destination" | "dst" => target = Some(need()?.to_string()),
            "readonly" | "ro" => m.read_only = boolean(&key)?,
            "consistency" => {
                need()?;
            }
            "bind-propagation" => {
                bind_keys = true;
                let p = need()?;
                match p {
                    "private" | "rprivate" | "slave" | "rslave" => {}
                    "shared" | "rshared" => return Err(MountError::SharedBind(p.to_string())),
                    _ => return Err(MountError::Propagation(p.to_string())),
                }
                m.propagation = Some(p.to_string());
            }
            "volume-nocopy" => {
                volume_keys = true;
                m.nocopy = boolean(&key)?;
            }
            "volume-driver" => {
                volume_keys = true;
                let d = need()?;
                if d != volume::LOCAL {
                    return Err(MountError::Driver(d.to_string()));
                }
            }
            "volume-opt" | "volume-label" => {
                volume_keys = true;
                let (k, v) = need()?
                    .split_once('=')
                    .ok_or_else(|| MountError::VolumeOption {
                        key: key.clone(),
                        field: field.to_string(),
                    })?;
                let map = match key.as_str() {
                    "volume-opt" => &mut m.volume_opts,
                    _ => &mut m.volume_labels,
                };
                map.insert(k.to_string(), v.to_string());
            }
            "tmpfs-size" => {
                tmpfs_keys = true;
                m.tmpfs_size = Some(need()?.to_string());
            }
            "tmpfs-mode" => {
                tmpfs_keys = true;
                let mode = need()?;
                u32::from_str_radix(mode, 8)
                    .map_err(|_| MountError::TmpfsMode(mode.to_string()))?;
                m.tmpfs_mode = Some(mode.to_string());
            }
            _ => {
                return Err(MountError::UnknownKey {
                    key,
                    field: field.to_string(),
                })
            }
        }
    }
    let target = target.ok_or(MountError::NoTarget)?;
    check(&target)?;
    m.target = target;
    let mix = |options| {
        Err(MountError::Mix {
            options,
            kind: kind.clone(),
        })
    };
    m.source = match kind.as_str() {
        "bind" => {
            if volume_keys {
                return mix("volume");
            }
            if tmpfs_keys {
                return mix("tmpfs");
            }
            let s = source.ok_or(MountError::NoBindSource)?;
            match host_or_volume(&s) {
                Ok(Source::Host(p)) => Source::Host(p),
                _ if !s.is_empty() => Source::Host(PathBuf::from(s)),
                _ => return Err(MountError::EmptyBindSource),
            }
        }
        "volume" => {
            if tmpfs_keys {
                return mix("tmpfs");
            }
            if bind_keys {
                return mix("bind");
            }
            match source {
                None => Source::Anonymous,
                Some(s) => {
                    volume::check_name(&s)?;
                    Source::Volume(s)
                }
            }
        }
        "tmpfs" => {
            if volume_keys {
                return mix("volume");
            }
            if bind_keys {
                return mix("bind");
            }
            if source.is_some() {
                return Err(MountError::TmpfsSource);
            }
            Source::Tmpfs
        }
        other => return Err(MountError::MountType(other.to_string())),
    };
    Ok(m)
}

/// `path` made absolute against `cwd` and cleaned of `.` and `..`
/// (Go's filepath.Abs, which Docker uses).
pub fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    let joined = cwd.join(path);
    let mut out = PathBuf::from("/");
    for c in joined.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Every mount of a record (`-v`, then `--mount`); records are written by
/// hutch, so one that no longer parses is skipped. The /proc rule is not
/// applied: a record an older hutch wrote may mount there, and its volumes
/// are still in use.
pub fn of_record(rec: &Record) -> Vec<Mount> {
    let c = &rec.config;
    c.volumes
        .iter()
        .filter_map(|v| volume_with(v, check_shape).ok())
        .chain(
            c.mounts
                .iter()
                .filter_map(|m| mount_with(m, check_shape).ok()),
        )
        .collect()
}

/// The container (its name, or short id) using each volume, among the
/// containers in `containers` other than `except`.
pub fn volume_users(containers: &Containers, except: Option<&str>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for rec in containers.list() {
        if except == Some(rec.id.as_str()) {
            continue;
        }
        let who = match rec.name.as_str() {
            "" => rec.short_id().to_string(),
            n => n.to_string(),
        };
        for m in of_record(&rec) {
            if let Some(v) = m.volume() {
                out.entry(v.to_string()).or_insert_with(|| who.clone());
            }
        }
    }
    out
}

/// Remove a container's anonymous volumes that no other container uses.
pub fn remove_anonymous(containers: &Containers, volumes: &Volumes, rec: &Record) {
    for name in &rec.config.anonymous_volumes {
        let _ = volumes.remove(name, |n| volume_users(containers, Some(&rec.id)).remove(n));
    }
}

/// The sandbox mount for `m` (resolved) at one start. `scratch` is the
/// container's directory, for a throwaway overlay's upper dir.
pub fn to_spec(
    m: &Mount,
    volumes: &Volumes,
    scratch: &Path,
    index: usize,
) -> Result<MountSpec, MountError> {
    let target = m.target.clone();
    match &m.source {
        Source::Host(p) => match &m.overlay {
            Some(Some((upper, work))) => Ok(MountSpec::Overlay {
                lower: p.clone(),
                upper: upper.clone(),
                work: work.clone(),
                target,
                fresh: false,
            }),
            Some(None) => {
                // Podman's throwaway overlay: emptied at each start.
                let base = scratch.join("overlay-volumes").join(index.to_string());
                Ok(MountSpec::Overlay {
                    lower: p.clone(),
                    upper: base.join("upper"),
                    work: base.join("work"),
                    target,
                    fresh: true,
                })
            }
            None if m.chown => Ok(MountSpec::Volume {
                source: p.clone(),
                target,
                read_only: m.read_only,
                fill: false,
                chown: true,
            }),
            None => Ok(MountSpec::Bind {
                source: p.clone(),
                target,
                read_only: m.read_only,
            }),
        },
        Source::Volume(name) => {
            let vol = volumes.get(name)?;
            Ok(match volumes.source(&vol) {
                volume::Source::Dir {
                    path,
                    fresh,
                    read_only,
                } => MountSpec::Volume {
                    source: path,
                    target,
                    read_only: m.read_only || read_only,
                    fill: fresh && !m.nocopy,
                    chown: m.chown,
                },
                volume::Source::Tmpfs { options } => MountSpec::Tmpfs {
                    target,
                    options: with_ro(options, m.read_only),
                },
            })
        }
        Source::Tmpfs => {
            let mut o: Vec<String> = Vec::new();
            o.extend(m.tmpfs_size.as_ref().map(|s| format!("size={s}")));
            o.extend(m.tmpfs_mode.as_ref().map(|s| format!("mode={s}")));
            Ok(MountSpec::Tmpfs {
                target,
                options: with_ro(o.join(","), m.read_only),
            })
        }
        Source::Anonymous => Err(MountError::UnnamedVolume(target)),
    }
}

fn with_ro(options: String, ro: bool) -> String {
    match (ro, options.is_empty()) {
        (false, _) => options,
        (true, true) => "ro".into(),
        (true, false) => format!("{options},ro"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record an older hutch wrote, before mounts inside /proc were
    /// refused: its volumes still count as in use (`volume rm`,
    /// `--volumes-from`), so reading it must not apply the rule.
    #[test]
    fn a_record_with_mounts_inside_proc_still_lists_them() {
        let mut rec = super::super::tests::record("old");
        rec.config.volumes = vec!["db:/proc/sys/kernel/x".into()];
        rec.config.mounts = vec!["type=volume,source=cache,target=/proc/x".into()];
        assert!(parse_volume(&rec.config.volumes[0]).is_err());
        let vols: Vec<_> = of_record(&rec)
            .iter()
            .filter_map(|m| m.volume().map(str::to_string))
            .collect();
        assert_eq!(vols, ["db", "cache"]);
    }

    #[test]
    fn volume_flags() {
        let m = parse_volume("/tmp:/mnt:ro").unwrap();
        assert_eq!(m.source, Source::Host("/tmp".into()));
        assert!(m.read_only);
        assert_eq!(parse_volume("/data").unwrap().source, Source::Anonymous);
        let m = parse_volume("db:/var/lib/db:z,U").unwrap();
        assert_eq!(m.source, Source::Volume("db".into()));
        assert!(m.chown && !m.read_only);
        assert_eq!(m.to_flag(), "db:/var/lib/db:z,U");
        assert_eq!(
            parse_volume("./src:/src").unwrap().source,
            Source::Host("./src".into())
        );
        assert_eq!(
            parse_volume("/tmp:/mnt:O,upperdir=/u,workdir=/w")
                .unwrap()
                .overlay,
            Some(Some(("/u".into(), "/w".into())))
        );
        assert_eq!(parse_volume("/tmp:/mnt:O").unwrap().overlay, Some(None));
        for (bad, why) in [
            ("rel/dir:/data", "invalid characters"),
            ("/tmp:mnt", "must be absolute"),
            ("/tmp:/mnt:xx", "unknown option"),
            ("/a:/b:ro:x", "expected"),
            ("/a:/b:ro,rw", "conflict"),
            ("/a:/b:O,upperdir=/u", "both"),
            ("vol:/b:O", "host directory"),
            ("/a:/b:rshared", "not supported"),
            ("/a:/", "root"),
        ] {
            let e = parse_volume(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn mount_flags() {
        let m = parse_mount("type=bind,source=./x,target=/x,readonly").unwrap();
        assert_eq!(m.source, Source::Host("./x".into()));
        assert!(m.read_only);
        let m =
            parse_mount("type=volume,src=data,dst=/d,volume-opt=type=tmpfs,volume-nocopy").unwrap();
        assert_eq!(m.source, Source::Volume("data".into()));
        assert_eq!(m.volume_opts.get("type").map(String::as_str), Some("tmpfs"));
        assert!(m.nocopy);
        assert_eq!(parse_mount(&m.to_flag()).unwrap(), m);
        assert_eq!(
            parse_mount("target=/anon").unwrap().source,
            Source::Anonymous
        );
        let m = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        assert_eq!(parse_mount(&m.to_flag()).unwrap(), m);
        for (bad, why) in [
            ("type=bind,target=/x,colour=red", "unexpected key 'colour'"),
            ("type=bind,source=/x", "target is required"),
            ("type=bind,target=/x", "source is required"),
            (
                "type=bind,source=/x,target=/x,tmpfs-size=1",
                "cannot mix 'tmpfs-*'",
            ),
            ("type=tmpfs,source=/x,target=/x", "no source"),
            ("type=nfs,target=/x", "not supported"),
            ("type=volume,target=/x,readonly=maybe", "true or false"),
            ("type=tmpfs,target=/x,tmpfs-mode=rwx", "octal"),
            ("type=volume,target=/x,volume-driver=nfs", "use local"),
        ] {
            let e = parse_mount(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn proc_takes_only_the_allowed_files() {
        for t in [
            "/proc",
            "/proc/",
            "/proc/sys/kernel/cap_last_cap",
            "//proc/./sys/kernel/cap_last_cap",
            "/proc/self",
            "/proc/cpuinfo/x",
        ] {
            let e = parse_volume(&format!("/x:{t}")).unwrap_err();
            assert!(matches!(e, MountError::InsideProc(_)), "{t}: {e}");
            let e = parse_mount(&format!("type=tmpfs,target={t}")).unwrap_err();
            assert!(matches!(e, MountError::InsideProc(_)), "{t}: {e}");
        }
        for t in [
            "/proc/uptime",
            "/proc//cpuinfo",
            "/proc/net/dev",
            "/procfs",
            "/x/proc",
        ] {
            parse_volume(&format!("/x:{t}")).unwrap();
            check_target(t).unwrap();
        }
    }

    #[test]
    fn relative_paths_resolve_like_go() {
        let cwd = Path::new("/home/me/proj");
        assert_eq!(
            absolute(Path::new("./src"), cwd),
            Path::new("/home/me/proj/src")
        );
        assert_eq!(
            absolute(Path::new("../x/./y"), cwd),
            Path::new("/home/me/x/y")
        );
        assert_eq!(absolute(Path::new("."), cwd), Path::new("/home/me/proj"));
    }
}
