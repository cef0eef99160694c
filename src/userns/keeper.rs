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
//! (`$XDG_RUNTIME_DIR/hutch`, else `/tmp/hutch-UID`; private to the user). A
//! pid file is trusted only when the process it names still has the start
//! time written with it and its namespace carries exactly the wanted mapping,
//! so a dead keeper, a reused pid or changed /etc/subuid ranges lead to a new
//! keeper. Killing the keeper is always safe: running containers keep their
//! own namespaces, and the next start makes a new keeper.
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

/// The hidden subcommand a keeper process runs (`hutch userns-keeper`).
pub const SUBCOMMAND: &str = "userns-keeper";

/// A keeper's user namespace, ready for `setns`.
#[derive(Debug)]
pub struct Keeper {
    pub pid: i32,
    pub userns: OwnedFd,
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
    start(map, src, &pid_file)
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

/// The running keeper for `map`, if any (for `hutch info`); never starts one.
pub fn find(map: &IdMapping) -> Option<i32> {
    let dir = runtime_dir().ok()?;
    open_valid(&dir.join(format!("userns-{}.pid", short_key(map))), map).map(|k| k.pid)
}

/// Where keepers' pid files live: `$XDG_RUNTIME_DIR/hutch`, else
/// `/tmp/hutch-UID` (podman's fallback too). The directory must be a real
/// directory owned by this user and closed to others, or a pid file planted
/// by someone else could point hutch at their namespace.
pub fn runtime_dir() -> Result<PathBuf> {
    let uid = nix::unistd::getuid().as_raw();
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(run) => PathBuf::from(run).join("hutch"),
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
    let text = std::fs::read_to_string(pid_file).ok()?;
    let mut fields = text.split_whitespace();
    let pid: i32 = fields.next()?.parse().ok()?;
    let start: u64 = fields.next()?.parse().ok()?;
    let userns = OwnedFd::from(std::fs::File::open(format!("/proc/{pid}/ns/user")).ok()?);
    let proc_map = |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok();
    if !same_ranges(&proc_map("uid_map")?, &map.uids)
        || !same_ranges(&proc_map("gid_map")?, &map.gids)
    {
        return None;
    }
    // alive() also rejects a killed keeper nobody reaped: a zombie still
    // names its namespace, but it is not a keeper any more.
    ProcId { pid, start }
        .alive()
        .then_some(Keeper { pid, userns })
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
/// newuidmap/newgidmap and records the keeper. The caller holds the lock.
fn start(map: &IdMapping, src: &IdSources, pid_file: &Path) -> Result<Keeper> {
    let mut child = crate::sys::spawn::this_binary(SUBCOMMAND)
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
    let tmp = pid_file.with_extension(format!("{}.tmp", std::process::id()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(format!("{pid} {}\n", id.start).as_bytes()))
        .and_then(|()| std::fs::rename(&tmp, pid_file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return fail(&mut child, Error::file("write", pid_file, e));
    }
    // Not waited for: it outlives this process on purpose.
    drop(child);
    open_valid(pid_file, map).ok_or(Error::Keeper(KeeperError::Exited))
}

/// The keeper's own life (`hutch userns-keeper`): leave the caller's session,
/// unshare a user namespace, report on stdout, let go of every inherited
/// descriptor, then idle until killed.
pub fn serve() -> Result<()> {
    crate::sys::process::become_keeper()?;
    std::io::stdout()
        .write_all(b"r")
        .and_then(|()| std::io::stdout().flush())
        .map_err(|e| Error::Keeper(KeeperError::Report(e)))?;
    crate::sys::stdio::all_to_dev_null()?;
    loop {
        std::thread::sleep(std::time::Duration::from_secs(24 * 3600));
    }
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
