//! The user-namespace keeper: one idle, long-lived process per user and id
//! mapping that holds a user namespace with that mapping installed.
//!
//! A subordinate-id mapping can only be installed by newuidmap and
//! newgidmap, two setuid programs; running them was the largest single cost
//! of a container start and of every store operation that works as
//! subordinate ids. With a keeper, that is paid once: a start enters the
//! keeper's namespace and gives the container a namespace nested in it whose
//! identity mapping hutch may write itself (it is root in the keeper's
//! namespace), and store helpers simply join it. Podman's rootless "pause
//! process" plays the same part.
//!
//! The keeper is found through a pid file in the runtime dir
//! (`$XDG_RUNTIME_DIR/hutch`, else, also when that variable names no
//! directory of this user, `/tmp/hutch-UID`; private to the user). A
//! pid file is trusted only when the process it names still has the start
//! time written with it, it shares hutch's mount namespace (no container
//! does) and its namespace carries exactly the wanted mapping, so a dead
//! keeper, a reused pid or changed /etc/subuid ranges lead to a new keeper.
//! Killing the keeper leaves running containers alone (they keep
//! their own namespaces) and the next start makes a new keeper, but the
//! containers on user-defined networks then cannot change networks, and
//! their restarts land in a new shared network namespace, away from the
//! containers they talked to.
//!
//! A keeper ends itself once its pid file names another live keeper (it
//! was replaced, and no start will find it again) and nothing lives in its
//! namespace or one nested directly in it any more. A missing pid file is not
//! enough: a logout removes `/run/user/UID`, while containers on
//! user-defined networks keep running, and their restarts and `network
//! connect` still need this keeper (the shared network namespace is nested
//! in its namespace, see `net::bridge`). So a start never replaces a live
//! keeper of its runtime dir: when no pid file names a keeper, the live one
//! still watching that pid file (its `--pid-file`, read from /proc) is
//! recorded again before any new one is started. A running container's
//! keeper is found from its own namespace's parent ([`nesting`]), and a
//! shared network namespace's from the namespace it is in ([`owning`]),
//! both without the runtime dir.
//!
//! This module does not decide mappings (`idmap`) and does not clone
//! containers (`launch`).

use super::error::{Error, KeeperError, Result};
use super::idmap::{IdMapping, IdRange, IdSources};
use crate::procid::ProcId;
use crate::report::Report;
use crate::sys::flock;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// The hidden subcommand a keeper process runs (`hutch userns-keeper`).
pub const SUBCOMMAND: &str = "userns-keeper";

/// A keeper's user namespace, ready for `setns`.
#[derive(Debug)]
pub struct Keeper {
    pub pid: i32,
    pub userns: OwnedFd,
    /// Its start time, telling it apart from a later process with its pid.
    start: u64,
}

impl Keeper {
    /// Whether this keeper still runs and its namespace maps exactly `map`
    /// (a restart keeps the keeper it has while this holds).
    pub fn serves(&self, map: &IdMapping) -> bool {
        maps(self.pid, map)
            && ProcId {
                pid: self.pid,
                start: self.start,
            }
            .alive()
    }
}

/// The keeper for `map`, started (once per user and mapping, under a lock)
/// when none is running. Only for mappings that need newuidmap/newgidmap.
pub fn acquire(map: &IdMapping, src: &IdSources) -> Result<Keeper> {
    let dir = runtime_dir()?;
    let pid_file = dir.join(format!("userns-{}.pid", short_key(map)));
    if let Some(k) = open_valid(&pid_file, map) {
        return Ok(k);
    }
    let _held = flock::lock(&pid_file.with_extension("lock"), flock::Mode::Exclusive)?;
    // Another hutch may have started one while this one waited.
    if let Some(k) = open_valid(&pid_file, map) {
        return Ok(k);
    }
    // A logout removed the pid file but not its keeper (see `serve`), which
    // still holds the containers on user-defined networks and their shared
    // network namespace: a new keeper would split them from every later
    // start, so the one still watching this pid file is recorded again.
    if let Some(id) = watching(&pid_file, map) {
        write_record(&pid_file, id)?;
        if let Some(k) = open_valid(&pid_file, map) {
            return Ok(k);
        }
    }
    start(map, src, &pid_file)
}

/// The oldest live keeper for `map` still watching `pid_file` (its
/// `--pid-file`), found in /proc: the one [`acquire`] records again when the
/// file names none.
fn watching(pid_file: &Path, map: &IdMapping) -> Option<ProcId> {
    keepers(map)
        .into_iter()
        .filter(|(_, watched)| watched.as_deref() == Some(pid_file))
        .map(|(id, _)| id)
        .min_by_key(|id| id.start)
}

/// The live keeper whose user namespace is the parent of process `pid`'s
/// and maps exactly `map`: the one a running container is nested in,
/// found without the runtime dir (gone after a logout) and never started.
pub fn nesting(pid: i32, map: &IdMapping) -> Option<Keeper> {
    live_keeper(map, |user| {
        crate::sys::process::userns_parent_is(pid, user).unwrap_or(false)
    })
}

/// The live keeper for `map` whose user namespace process `pid` is in
/// (`held` when that is the one, or when there is none), never started: a
/// shared network namespace's keeper is in the namespace of the keeper that
/// started it, which a start from another runtime dir would not find by
/// pid file.
pub fn owning(pid: i32, map: &IdMapping, held: Keeper) -> Keeper {
    let theirs = PathBuf::from(format!("/proc/{pid}/ns/user"));
    if same_file(Path::new(&format!("/proc/{}/ns/user", held.pid)), &theirs) {
        return held;
    }
    live_keeper(map, |user| same_file(user, &theirs)).unwrap_or(held)
}

/// The first live keeper for `map` whose `/proc/PID/ns/user` passes `pick`.
fn live_keeper(map: &IdMapping, pick: impl Fn(&Path) -> bool) -> Option<Keeper> {
    keepers(map).into_iter().find_map(|(id, _)| {
        let user = PathBuf::from(format!("/proc/{}/ns/user", id.pid));
        let userns = OwnedFd::from(std::fs::File::open(&user).ok()?);
        // The namespace is opened before the start time is checked again,
        // so a pid reused in between is caught.
        (pick(&user) && id.alive()).then_some(Keeper {
            pid: id.pid,
            userns,
            start: id.start,
        })
    })
}

/// Whether two paths name the same file: for `/proc/PID/ns/*` links,
/// whether two processes share that namespace.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Every live keeper process of this user whose namespace maps exactly
/// `map`, with the pid file it watches if its command line says. It reads
/// all of /proc: only when no pid file names a keeper (for a start or
/// `hutch info`), and for `network connect`/`disconnect` of a running
/// container.
fn keepers(map: &IdMapping) -> Vec<(ProcId, Option<PathBuf>)> {
    let uid = nix::unistd::getuid().as_raw();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::metadata(format!("/proc/{pid}")).is_ok_and(|m| m.uid() == uid))
        .filter_map(|pid| {
            let id = ProcId::of(pid)?;
            let watched = keeper_of(pid)?;
            // A keeper's namespace is a child of this process's; a process in
            // a container (a grandchild) shows the same composed mapping and
            // may name itself a keeper in its command line, and must never be
            // adopted: every later start would nest in the container's
            // namespace. A container mapped by newuidmap (no keeper could be
            // had) is a child too, with the same mapping: its mount
            // namespace tells it apart.
            let child = crate::sys::process::userns_parent_is(pid, Path::new("/proc/self/ns/user"))
                .unwrap_or(false);
            (child && shares_mounts(pid) && maps(pid, map) && id.alive()).then_some((id, watched))
        })
        .collect()
}

/// Whether process `pid` is a `hutch userns-keeper`, and the `--pid-file`
/// it watches (None from a hutch that passed it otherwise).
fn keeper_of(pid: i32) -> Option<Option<PathBuf>> {
    let mut cmdline = Vec::new();
    std::fs::File::open(format!("/proc/{pid}/cmdline"))
        .ok()?
        .take(8192)
        .read_to_end(&mut cmdline)
        .ok()?;
    let mut args = cmdline.split(|&b| b == 0).skip(1);
    if args.next()? != SUBCOMMAND.as_bytes() {
        return None;
    }
    use std::os::unix::ffi::OsStrExt;
    Some(
        args.skip_while(|a| *a != b"--pid-file")
            .nth(1)
            .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p))),
    )
}

/// Record keeper `id` in `pid_file` (atomically: a keeper that finds it
/// half-written would not see itself).
fn write_record(pid_file: &Path, id: ProcId) -> Result<()> {
    let tmp = pid_file.with_extension(format!("{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(format!("{} {}\n", id.pid, id.start).as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, pid_file));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::file("write", pid_file, e)
    })
}

/// [`acquire`] for a sandbox spec: None when the mapping needs no helpers,
/// or (saying why under --verbose) when no keeper could be had; the start
/// then runs newuidmap/newgidmap itself (slower, same result).
pub fn for_spec(map: &IdMapping, src: &IdSources, report: &dyn Report) -> Option<Arc<Keeper>> {
    if !map.needs_helpers() {
        return None;
    }
    match acquire(map, src) {
        Ok(k) => Some(Arc::new(k)),
        Err(e) => {
            report.debug(&format!(
                "no user namespace keeper ({e}); running newuidmap/newgidmap"
            ));
            None
        }
    }
}

/// The keeper the next [`acquire`] for `map` would use, if one runs (for
/// `hutch info`): the one its pid file names, else the one still watching
/// that file after a logout. Never starts or records one; like a start, it
/// makes the runtime dir if it is missing (empty, private).
pub fn find(map: &IdMapping) -> Option<i32> {
    let dir = runtime_dir().ok()?;
    let pid_file = dir.join(format!("userns-{}.pid", short_key(map)));
    match open_valid(&pid_file, map) {
        Some(k) => Some(k.pid),
        None => watching(&pid_file, map).map(|id| id.pid),
    }
}

/// Where keepers' pid files live: `$XDG_RUNTIME_DIR/hutch`, else
/// `/tmp/hutch-UID` (podman's fallback too). The directory must be a real
/// directory owned by this user and closed to others, or a pid file planted
/// by someone else could point hutch at their namespace.
pub fn runtime_dir() -> Result<PathBuf> {
    let uid = nix::unistd::getuid().as_raw();
    // An unusable XDG_RUNTIME_DIR (see `dirs::runtime_dir`) would fail
    // every start that needs a keeper (Podman fails there instead).
    let dir = match crate::dirs::runtime_dir() {
        Some(run) => run.join("hutch"),
        None => PathBuf::from(format!("/tmp/hutch-{uid}")),
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::file("create", dir, e)),
    }
    let m = std::fs::symlink_metadata(&dir).map_err(|e| Error::file("inspect", &dir, e))?;
    if !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
        return Err(Error::NotPrivate {
            path: dir,
            owner: m.uid(),
            mode: m.mode() & 0o7777,
        });
    }
    Ok(dir)
}

fn short_key(map: &IdMapping) -> String {
    hex::encode(&Sha256::digest(map.key().as_bytes())[..6])
}

/// The keeper named by `pid_file`, if it is still the process that was
/// recorded and its namespace maps exactly `map`. The namespace is opened
/// first and the start time checked after, so a pid reused in between is
/// caught.
fn open_valid(pid_file: &Path, map: &IdMapping) -> Option<Keeper> {
    let ProcId { pid, start } = recorded(pid_file)?;
    let userns = OwnedFd::from(std::fs::File::open(format!("/proc/{pid}/ns/user")).ok()?);
    if !shares_mounts(pid) || !maps(pid, map) {
        return None;
    }
    // alive() also rejects a killed keeper nobody reaped: a zombie still
    // names its namespace, but it is not a keeper any more.
    ProcId { pid, start }
        .alive()
        .then_some(Keeper { pid, userns, start })
}

/// Whether process `pid` is in this process's mount namespace. A keeper
/// only unshares its user namespace (`sys::process::become_keeper`), so it
/// keeps that of the hutch that started it; a container always has a mount
/// namespace of its own, whatever it names itself and however it was mapped.
fn shares_mounts(pid: i32) -> bool {
    same_file(
        Path::new(&format!("/proc/{pid}/ns/mnt")),
        Path::new("/proc/self/ns/mnt"),
    )
}

/// Whether process `pid`'s user namespace maps exactly `map`.
fn maps(pid: i32, map: &IdMapping) -> bool {
    let proc_map =
        |file: &str| crate::procid::read_proc(Path::new(&format!("/proc/{pid}/{file}"))).ok();
    let same = |file: &str, ranges: &[IdRange]| {
        proc_map(file).is_some_and(|text| same_ranges(&String::from_utf8_lossy(&text), ranges))
    };
    same("uid_map", &map.uids) && same("gid_map", &map.gids)
}

/// The live keeper process `pid_file` names, if it names one (whatever its
/// mapping): what replaced a keeper, or what a test that made a runtime dir
/// of its own ends before deleting it.
pub fn recorded_keeper(pid_file: &Path) -> Option<ProcId> {
    let id = recorded(pid_file)?;
    let is_keeper = keeper_of(id.pid).is_some();
    (is_keeper && id.alive()).then_some(id)
}

/// The process a pid file names (`PID START`).
fn recorded(pid_file: &Path) -> Option<ProcId> {
    let mut text = String::new();
    std::fs::File::open(pid_file)
        .ok()?
        .take(64)
        .read_to_string(&mut text)
        .ok()?;
    let mut fields = text.split_whitespace();
    Some(ProcId {
        pid: fields.next()?.parse().ok()?,
        start: fields.next()?.parse().ok()?,
    })
}

/// Whether a `/proc/PID/uid_map` text lists exactly `ranges`.
fn same_ranges(text: &str, ranges: &[IdRange]) -> bool {
    let parsed: Option<Vec<IdRange>> = text
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some(IdRange {
                inside: f.next()??,
                outside: f.next()??,
                count: f.next()??,
            })
        })
        .collect();
    let Some(mut parsed) = parsed else {
        return false;
    };
    let mut want = ranges.to_vec();
    parsed.sort_by_key(|r| r.inside);
    want.sort_by_key(|r| r.inside);
    parsed == want
}

/// Start a keeper: `hutch userns-keeper` unshares its user namespace and says
/// so on its stdout; this process installs the mapping with
/// newuidmap/newgidmap, records the keeper and tells it so on its stdin.
/// The caller holds the lock.
fn start(map: &IdMapping, src: &IdSources, pid_file: &Path) -> Result<Keeper> {
    let mut child = crate::sys::spawn::this_binary(SUBCOMMAND)
        .arg("--pid-file")
        .arg(pid_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Keeper(KeeperError::Start(e)))?;
    let pid = child.id() as i32;
    let fail = |child: &mut std::process::Child, e: Error| {
        let _ = child.kill();
        let _ = child.wait();
        Err(e)
    };
    let mut b = [0u8; 1];
    let unshared = child
        .stdout
        .take()
        .map(|mut out| out.read(&mut b).map(|n| n == 1).unwrap_or(false))
        .unwrap_or(false);
    if !unshared {
        return fail(&mut child, Error::Keeper(KeeperError::NoNamespace));
    }
    if let Err(e) = map.apply(pid, src) {
        return fail(&mut child, e);
    }
    let Some(id) = ProcId::of(pid) else {
        return fail(&mut child, Error::Keeper(KeeperError::Exited));
    };
    if let Err(e) = write_record(pid_file, id) {
        return fail(&mut child, e);
    }
    // From now on the keeper watches the pid file, and ends once it names
    // another keeper and nothing is nested in it.
    let told = child.stdin.take().map(|mut i| i.write_all(b"k"));
    if !matches!(told, Some(Ok(()))) {
        return fail(&mut child, Error::Keeper(KeeperError::Exited));
    }
    // Not waited for: it outlives this process on purpose.
    drop(child);
    open_valid(pid_file, map).ok_or(Error::Keeper(KeeperError::Exited))
}

/// How often an idle keeper looks at its pid file.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// The keeper's own life (`hutch userns-keeper`): leave the caller's session,
/// unshare a user namespace, report on stdout, wait for its parent to say
/// that `pid_file` names it, let go of every inherited descriptor, then
/// idle until `pid_file` names another live keeper and no other process is
/// in or directly nested in its namespace (or it is killed).
pub fn serve(pid_file: &Path) -> Result<()> {
    crate::sys::process::become_keeper()?;
    std::io::stdout()
        .write_all(b"r")
        .and_then(|()| std::io::stdout().flush())
        .map_err(|e| Error::Keeper(KeeperError::Report(e)))?;
    // End of file instead: the hutch that started it failed or died before
    // recording it, and nobody will ever find it.
    let mut b = [0u8; 1];
    if !matches!(std::io::stdin().read(&mut b), Ok(1)) {
        return Ok(());
    }
    crate::sys::stdio::all_to_dev_null()?;
    let me = ProcId::current().ok_or(Error::Keeper(KeeperError::OwnProc))?;
    // A missing or unreadable pid file (its runtime dir removed at logout)
    // is not a replacement: containers may still need this namespace. Nor
    // does a replaced keeper go while anything lives in its namespace: the
    // containers nested in it and their shared network namespace's keeper
    // would lose their restarts' and `network connect`'s way back.
    loop {
        let replaced = matches!(recorded_keeper(pid_file), Some(k) if k != me);
        if replaced && !holds_any(me.pid) {
            return Ok(());
        }
        std::thread::sleep(CHECK_EVERY);
    }
}

/// Whether any process but `me` (this keeper) is in this process's user
/// namespace or in one nested in it directly.
fn holds_any(me: i32) -> bool {
    let own = Path::new("/proc/self/ns/user");
    let Ok(own_meta) = std::fs::metadata(own) else {
        return true;
    };
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .any(|pid| {
            let inside = std::fs::metadata(format!("/proc/{pid}/ns/user"))
                .is_ok_and(|m| m.dev() == own_meta.dev() && m.ino() == own_meta.ino());
            // A zombie still names its namespace, and where PID 1 does not
            // reap orphans (an orphaned netns keeper or pasta) it would hold
            // this keeper for ever.
            (inside || crate::sys::process::userns_parent_is(pid, own).unwrap_or(false))
                && ProcId::of(pid).is_some_and(|p| p.alive())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_map_text_is_compared_as_ranges() {
        let r = |inside, outside, count| IdRange {
            inside,
            outside,
            count,
        };
        let want = [r(0, 1001, 1), r(1, 100000, 65536)];
        let text = "         0       1001          1\n         1     100000      65536\n";
        assert!(same_ranges(text, &want));
        assert!(!same_ranges(text, &want[..1]));
        assert!(!same_ranges("         0       1001          1\n", &want));
        assert!(!same_ranges("         0       1001          x\n", &want));
        assert!(!same_ranges(
            "         0       1001          1\n         1     100000      65535\n",
            &want
        ));
    }

    #[test]
    fn a_pid_file_naming_another_process_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let map = IdMapping::detect(
            crate::userns::idmap::UsernsRequest::Single,
            &IdSources::default(),
        )
        .unwrap();
        let f = dir.path().join("userns.pid");
        // This test process: alive, but in the host's namespace and with
        // another start time.
        let me = std::process::id() as i32;
        std::fs::write(&f, format!("{me} 1\n")).unwrap();
        assert!(open_valid(&f, &map).is_none());
        std::fs::write(&f, "garbage").unwrap();
        assert!(open_valid(&f, &map).is_none());
    }
}
