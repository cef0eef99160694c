//! User-namespace id mappings: which host uids/gids stand behind the ids a
//! container sees, detected from /etc/subuid and /etc/subgid, and how to install
//! them on a fresh user namespace (newuidmap/newgidmap, or a direct write for
//! the single-id case).
//!
//! It does not create namespaces; `sys::process` forks and `sandbox` clones.

use super::error::{Error, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One contiguous range: `count` ids starting at `inside` in the namespace are
/// `outside..outside+count` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// What the user asked for with `--userns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsernsRequest {
    /// Subordinate ranges when the user has them and newuidmap exists, else one id.
    #[default]
    Auto,
    /// Insist on subordinate ranges; fail if they cannot be used.
    SubIds,
    /// Only the caller's own uid/gid, mapped to root inside.
    Single,
    /// The caller's uid/gid are the same inside (plus subordinate ids when present).
    KeepId,
}

impl std::str::FromStr for UsernsRequest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "auto" => Ok(Self::Auto),
            "subids" | "subid" => Ok(Self::SubIds),
            "single" | "host-uid" => Ok(Self::Single),
            "keep-id" => Ok(Self::KeepId),
            other => Err(Error::UnknownMode(other.to_string())),
        }
    }
}

impl fmt::Display for UsernsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::SubIds => "subids",
            Self::Single => "single",
            Self::KeepId => "keep-id",
        })
    }
}

/// The mode actually in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapMode {
    SubIds,
    Single,
    KeepId,
}

/// A complete mapping for one user namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMapping {
    pub mode: MapMode,
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
    /// The caller's own ids on the host.
    pub host_uid: u32,
    pub host_gid: u32,
    /// Why this mode was chosen, for `hutch info` and --verbose.
    pub reason: String,
}

/// Where to look for the mapping inputs; fields so tests can point elsewhere.
#[derive(Debug, Clone)]
pub struct IdSources {
    pub subuid: PathBuf,
    pub subgid: PathBuf,
    pub newuidmap: Option<PathBuf>,
    pub newgidmap: Option<PathBuf>,
}

impl Default for IdSources {
    /// newuidmap and newgidmap are looked up once per process: a start
    /// asks for the sources several times (the mapping, the keeper, the
    /// layers), and each search stats every $PATH entry, 20-odd statx for
    /// the pair. The paths found are kept for the process's life: a
    /// long-running one (a restarting supervisor) keeps using the tools
    /// found when it started, which is stale only if newuidmap or newgidmap
    /// moves (or first appears) while it runs.
    fn default() -> Self {
        static TOOLS: std::sync::OnceLock<(Option<PathBuf>, Option<PathBuf>)> =
            std::sync::OnceLock::new();
        let (newuidmap, newgidmap) = TOOLS
            .get_or_init(|| (find_in_path("newuidmap"), find_in_path("newgidmap")))
            .clone();
        IdSources {
            subuid: PathBuf::from("/etc/subuid"),
            subgid: PathBuf::from("/etc/subgid"),
            newuidmap,
            newgidmap,
        }
    }
}

/// Look a program up in $PATH, then in the usual system dirs (runuser resets PATH).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = search_dirs(&path);
    dirs.find_map(|d| Some(d.join(name)).filter(|p| is_executable(p)))
}

/// The directories `find_in_path` tries, in order, each once: a $PATH that
/// names a directory twice (shell profiles that prepend unconditionally)
/// costs no second stat.
fn search_dirs(path: &std::ffi::OsStr) -> impl Iterator<Item = PathBuf> + '_ {
    let mut seen = Vec::new();
    std::env::split_paths(path)
        .chain(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .filter(move |d| match seen.contains(d) {
            true => false,
            false => {
                seen.push(d.clone());
                true
            }
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

impl IdMapping {
    /// Decide the mapping for the calling user.
    pub fn detect(req: UsernsRequest, src: &IdSources) -> Result<IdMapping> {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name);
        let subu = read_subid(&src.subuid, name.as_deref(), uid);
        let subg = read_subid(&src.subgid, name.as_deref(), uid);
        let tools = src.newuidmap.is_some() && src.newgidmap.is_some();
        let sub = match (&subu, &subg) {
            (Some(u), Some(g)) if tools => Some((*u, *g)),
            _ => None,
        };
        let why_not_sub = if !tools {
            super::NoSubIds::NoTools
        } else if subu.is_none() {
            super::NoSubIds::NoRange(src.subuid.clone())
        } else {
            super::NoSubIds::NoRange(src.subgid.clone())
        };
        let single = |reason: String| IdMapping {
            mode: MapMode::Single,
            uids: vec![IdRange {
                inside: 0,
                outside: uid,
                count: 1,
            }],
            gids: vec![IdRange {
                inside: 0,
                outside: gid,
                count: 1,
            }],
            host_uid: uid,
            host_gid: gid,
            reason,
        };
        // Root may write any map itself: its own ids onto themselves, as
        // `sudo docker` runs containers, unless /etc/subuid gives it a range.
        if uid == 0 && sub.is_none() && req != UsernsRequest::Single {
            let own = |id: u32| {
                vec![
                    IdRange {
                        inside: 0,
                        outside: id,
                        count: 1,
                    },
                    IdRange {
                        inside: 1,
                        outside: 1,
                        count: ROOT_RANGE - 1,
                    },
                ]
            };
            return Ok(IdMapping {
                mode: if req == UsernsRequest::KeepId {
                    MapMode::KeepId
                } else {
                    MapMode::SubIds
                },
                uids: own(uid),
                gids: own(gid),
                host_uid: uid,
                host_gid: gid,
                reason: format!(
                    "root: host ids 0-{} onto themselves (no range for root in {})",
                    ROOT_RANGE - 1,
                    src.subuid.display()
                ),
            });
        }
        match req {
            UsernsRequest::Single => Ok(single("--userns=single".into())),
            UsernsRequest::Auto => Ok(match sub {
                Some((u, g)) => IdMapping {
                    mode: MapMode::SubIds,
                    uids: vec![
                        IdRange {
                            inside: 0,
                            outside: uid,
                            count: 1,
                        },
                        IdRange {
                            inside: 1,
                            outside: u.0,
                            count: u.1,
                        },
                    ],
                    gids: vec![
                        IdRange {
                            inside: 0,
                            outside: gid,
                            count: 1,
                        },
                        IdRange {
                            inside: 1,
                            outside: g.0,
                            count: g.1,
                        },
                    ],
                    host_uid: uid,
                    host_gid: gid,
                    reason: format!(
                        "subordinate ids {}-{} from {}",
                        u.0,
                        u.0 as u64 + u.1 as u64 - 1,
                        src.subuid.display()
                    ),
                },
                None => single(format!("single id: {why_not_sub}")),
            }),
            UsernsRequest::SubIds => match sub {
                Some(_) => Self::detect(UsernsRequest::Auto, src),
                None => Err(Error::NoSubIds(why_not_sub)),
            },
            UsernsRequest::KeepId => Ok(match sub {
                Some((u, g)) => IdMapping {
                    mode: MapMode::KeepId,
                    uids: keep_id_ranges(uid, u),
                    gids: keep_id_ranges(gid, g),
                    host_uid: uid,
                    host_gid: gid,
                    reason: "--userns=keep-id with subordinate ids".into(),
                },
                None => IdMapping {
                    mode: MapMode::KeepId,
                    uids: vec![IdRange {
                        inside: uid,
                        outside: uid,
                        count: 1,
                    }],
                    gids: vec![IdRange {
                        inside: gid,
                        outside: gid,
                        count: 1,
                    }],
                    host_uid: uid,
                    host_gid: gid,
                    reason: format!("--userns=keep-id with a single id: {why_not_sub}"),
                },
            }),
        }
    }

    /// A short stable name for caches that depend on the mapping (unpacked layers).
    pub fn key(&self) -> String {
        let fmt = |v: &[IdRange]| {
            v.iter()
                .map(|r| format!("{}-{}-{}", r.inside, r.outside, r.count))
                .collect::<Vec<_>>()
                .join("_")
        };
        format!("{}.{}", fmt(&self.uids), fmt(&self.gids))
    }

    /// The host uid behind a uid seen inside, if it is mapped.
    pub fn host_uid_of(&self, inside: u32) -> Option<u32> {
        map_id(&self.uids, inside)
    }

    /// The host gid behind a gid seen inside, if it is mapped.
    pub fn host_gid_of(&self, inside: u32) -> Option<u32> {
        map_id(&self.gids, inside)
    }

    /// The uid seen inside for a host uid (used when committing changes back).
    pub fn inside_uid_of(&self, host: u32) -> Option<u32> {
        unmap_id(&self.uids, host)
    }

    /// The gid seen inside for a host gid.
    pub fn inside_gid_of(&self, host: u32) -> Option<u32> {
        unmap_id(&self.gids, host)
    }

    /// Whether uid 0 exists inside (false only for keep-id without subordinate ids).
    pub fn has_root(&self) -> bool {
        self.host_uid_of(0).is_some() && self.host_gid_of(0).is_some()
    }

    /// Whether the mapping is one id onto the caller's own.
    fn one_own_id(&self) -> bool {
        self.uids.len() == 1 && self.uids[0].outside == self.host_uid && self.uids[0].count == 1
    }

    /// Whether root installs it: root may write any map (CAP_SETUID and
    /// CAP_SETGID in the parent namespace, user_namespaces(7)).
    fn by_root(&self) -> bool {
        self.host_uid == 0
    }

    /// Whether [`apply`](Self::apply) writes the maps itself (one id onto the
    /// caller, or any map by root) instead of running newuidmap/newgidmap.
    fn written_directly(&self) -> bool {
        self.one_own_id() || self.by_root()
    }

    /// Whether installing this mapping takes newuidmap/newgidmap (and so is
    /// worth a user-namespace keeper, `keeper`).
    pub fn needs_helpers(&self) -> bool {
        !self.written_directly()
    }

    /// Install this mapping on process `pid`'s fresh user namespace, nested
    /// in a keeper's namespace that maps the same ids already: every id onto
    /// itself. The caller must be in the keeper's namespace, where it is root
    /// and so may write any map of ids that namespace has (user_namespaces(7)).
    pub fn apply_nested(&self, pid: i32) -> Result<()> {
        self.write_maps(pid, |r| r.inside)
    }

    /// Write `pid`'s uid_map and gid_map: each range's inside ids onto
    /// `outside(range)` and on.
    fn write_maps(&self, pid: i32, outside: impl Fn(&IdRange) -> u32) -> Result<()> {
        for (file, ranges) in [("uid_map", &self.uids), ("gid_map", &self.gids)] {
            let text: String = ranges
                .iter()
                .map(|r| format!("{} {} {}\n", r.inside, outside(r), r.count))
                .collect();
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, text).map_err(|e| Error::file("write", path, e))?;
        }
        Ok(())
    }

    /// Whether processes in the namespace may call setgroups(2): not when
    /// an unprivileged caller wrote its one id itself, which requires
    /// denying it first (user_namespaces(7), "/proc/[pid]/setgroups").
    pub fn setgroups_allowed(&self) -> bool {
        !self.one_own_id()
    }

    /// Install this mapping on the user namespace of process `pid`, which must
    /// have just unshared it and be waiting.
    pub fn apply(&self, pid: i32, src: &IdSources) -> Result<()> {
        if self.by_root() && !self.one_own_id() {
            return self.write_maps(pid, |r| r.outside);
        }
        if self.written_directly() {
            // One id onto ourselves needs no helper: the kernel allows it once
            // setgroups is denied (user_namespaces(7)).
            let w = |file: &str, data: String| {
                let path = format!("/proc/{pid}/{file}");
                std::fs::write(&path, data).map_err(|e| Error::file("write", path, e))
            };
            w("setgroups", "deny".into())?;
            let r = self.uids[0];
            w("uid_map", format!("{} {} 1\n", r.inside, r.outside))?;
            let g = self.gids[0];
            return w("gid_map", format!("{} {} 1\n", g.inside, g.outside));
        }
        // Both helpers run at once: they write different files, and each is
        // a setuid exec costing about a millisecond.
        let spawn = |tool: &Option<PathBuf>, name: &'static str, ranges: &[IdRange]| {
            let tool = tool.as_ref().ok_or(Error::NoTool(name))?;
            let mut cmd = Command::new(tool);
            cmd.arg(pid.to_string());
            for r in ranges {
                cmd.arg(r.inside.to_string())
                    .arg(r.outside.to_string())
                    .arg(r.count.to_string());
            }
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map(|c| (name, c))
                .map_err(|e| Error::Spawn {
                    path: tool.clone(),
                    error: e,
                })
        };
        let finish = |(tool, child): (&'static str, std::process::Child)| {
            let out = child
                .wait_with_output()
                .map_err(|e| Error::Wait { tool, error: e })?;
            if !out.status.success() {
                return Err(Error::ToolFailed {
                    tool,
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                });
            }
            Ok(())
        };
        let uid = spawn(&src.newuidmap, "newuidmap", &self.uids)?;
        let gid = spawn(&src.newgidmap, "newgidmap", &self.gids);
        let uid_done = finish(uid);
        let gid_done = gid.and_then(finish);
        uid_done.and(gid_done)
    }
}

impl fmt::Display for MapMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapMode::SubIds => "subids",
            MapMode::Single => "single",
            MapMode::KeepId => "keep-id",
        })
    }
}

/// How many ids root maps onto themselves: as many as a usual
/// /etc/subuid range (nobody, 65534, included).
const ROOT_RANGE: u32 = 65536;

/// Podman's keep-id layout: 0..id from the range, id onto itself, the rest after.
fn keep_id_ranges(id: u32, (start, count): (u32, u32)) -> Vec<IdRange> {
    let below = id.min(count);
    let mut v = Vec::new();
    if below > 0 {
        v.push(IdRange {
            inside: 0,
            outside: start,
            count: below,
        });
    }
    v.push(IdRange {
        inside: id,
        outside: id,
        count: 1,
    });
    if count > below {
        v.push(IdRange {
            inside: id + 1,
            outside: start + below,
            count: count - below,
        });
    }
    v
}

fn map_id(ranges: &[IdRange], inside: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| inside >= r.inside && (inside - r.inside) < r.count)
        .map(|r| r.outside + (inside - r.inside))
}

fn unmap_id(ranges: &[IdRange], outside: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| outside >= r.outside && (outside - r.outside) < r.count)
        .map(|r| r.inside + (outside - r.outside))
}

/// First `name:start:count` (or `uid:start:count`) entry for the user.
fn read_subid(path: &Path, name: Option<&str>, uid: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(path).ok()?;
    let uid_s = uid.to_string();
    text.lines().find_map(|line| {
        let mut it = line.trim().split(':');
        let who = it.next()?;
        if who != uid_s && Some(who) != name {
            return None;
        }
        let start = it.next()?.parse().ok()?;
        let count: u32 = it.next()?.parse().ok()?;
        (count > 0).then_some((start, count))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_tools_are_searched_for_in_each_directory_once_in_order() {
        let dirs: Vec<PathBuf> =
            search_dirs(std::ffi::OsStr::new("/opt/a:/usr/bin:/opt/a:/opt/b")).collect();
        let want: Vec<PathBuf> = ["/opt/a", "/usr/bin", "/opt/b", "/bin", "/usr/sbin", "/sbin"]
            .map(PathBuf::from)
            .into();
        assert_eq!(dirs, want);
    }

    #[test]
    fn keep_id_layout_matches_podman() {
        let v = keep_id_ranges(1000, (100000, 65536));
        assert_eq!(
            v,
            vec![
                IdRange {
                    inside: 0,
                    outside: 100000,
                    count: 1000
                },
                IdRange {
                    inside: 1000,
                    outside: 1000,
                    count: 1
                },
                IdRange {
                    inside: 1001,
                    outside: 101000,
                    count: 64536
                },
            ]
        );
        assert_eq!(map_id(&v, 1000), Some(1000));
        assert_eq!(map_id(&v, 0), Some(100000));
        assert_eq!(unmap_id(&v, 101000), Some(1001));
    }

    #[test]
    fn subid_file_by_name_or_uid() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("subuid");
        std::fs::write(&p, "alice:100000:65536\n1234:300000:10\nbob:1:0\n").unwrap();
        assert_eq!(read_subid(&p, Some("alice"), 1), Some((100000, 65536)));
        assert_eq!(read_subid(&p, Some("carol"), 1234), Some((300000, 10)));
        assert_eq!(read_subid(&p, Some("bob"), 5), None);
    }
}
