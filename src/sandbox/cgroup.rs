//! A container's own cgroup (v2), made under the cgroup delegated to the
//! user: where it goes, the controllers its parent must enable for the
//! limits, the limit files (`memory.max`, `memory.swap.max`, `cpu.max`,
//! `pids.max`), moving pid 1 in, freezing (`cgroup.freeze`) and removal.
//!
//! Containers' cgroups are children of the delegated cgroup hutch runs in
//! (`BASE/hutch-<container id>`). In cgroup v2 a cgroup whose children
//! have controllers must have no processes of its own (a domain controller
//! is refused; with only threaded ones it becomes a thread root, whose
//! child domains take no processes), so when the delegated cgroup has some
//! (the user's shell, hutch), they are first moved into a leaf child,
//! `BASE/init`, as Podman and Docker's dind do; later runs started from
//! that leaf use its parent as the base.
//!
//! Plain file operations under the cgroup2 mount, no syscalls. Whether a
//! cgroup is delegated at all is `host::cgroups`; the words for why limits
//! are not applied are `limits`.

use super::host::Cgroups;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The limits that need cgroups, as parsed from the flags.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CgroupLimits {
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub pids: Option<i64>,
}

impl CgroupLimits {
    pub fn any(&self) -> bool {
        self.memory.is_some() || self.cpus.is_some() || self.pids.is_some()
    }

    /// The limits of `self` that `kept` does not have.
    pub fn without(&self, kept: &CgroupLimits) -> CgroupLimits {
        CgroupLimits {
            memory: self.memory.filter(|_| kept.memory.is_none()),
            cpus: self.cpus.filter(|_| kept.cpus.is_none()),
            pids: self.pids.filter(|_| kept.pids.is_none()),
        }
    }

    /// Every kind of limit, for asking whether all of them work.
    pub const ALL: CgroupLimits = CgroupLimits {
        memory: Some(1),
        cpus: Some(1.0),
        pids: Some(1),
    };
}

/// What can go wrong with a container's cgroup; each names the cgroup.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error(
        "your delegated cgroup {} has no {} controller ({})",
        base.display(),
        missing.join(", "),
        no_controller_fix(missing, not_in_v2, *hybrid)
    )]
    NoController {
        base: PathBuf,
        missing: Vec<&'static str>,
        /// Those of `missing` the root of the v2 hierarchy lacks too: no
        /// delegation can give them (the others are there, not enabled
        /// down to `base`).
        not_in_v2: Vec<&'static str>,
        /// A v1/v2 hybrid machine, where a v1 hierarchy holds what v2 lacks.
        hybrid: bool,
    },
    #[error("cannot {what} {}: {source}", path.display())]
    File {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has no parent cgroup", .0.display())]
    NoParent(PathBuf),
    #[error(
        "your delegated cgroup {} holds processes of its own ({}) while its children have \
         controllers, so cgroup v2 lets none of its child cgroups take a process{}; move \
         those processes out of {}",
        base.display(),
        pids.join(", "),
        why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default(),
        base.display()
    )]
    HoldsProcesses {
        base: PathBuf,
        pids: Vec<String>,
        /// Why hutch could not move them into its leaf itself.
        why: Option<String>,
    },
    #[error("the processes in {} did not {} within 5 s", dir.display(), if *frozen { "freeze" } else { "thaw" })]
    Slow { dir: PathBuf, frozen: bool },
}

/// The fix for each cause of [`CgroupError::NoController`], naming the
/// controllers it applies to.
fn no_controller_fix(missing: &[&str], not_in_v2: &[&str], hybrid: bool) -> String {
    let not_delegated: Vec<&str> = missing
        .iter()
        .filter(|m| !not_in_v2.contains(m))
        .copied()
        .collect();
    let it = |cs: &[&str]| if cs.len() == 1 { "it" } else { "them" };
    let mut fixes = Vec::new();
    if !not_in_v2.is_empty() {
        let (which, it) = (not_in_v2.join(", "), it(not_in_v2));
        fixes.push(match hybrid {
            true => format!(
                "{which}: this v1/v2 hybrid machine's v1 hierarchy holds {it}; boot with \
                 systemd.unified_cgroup_hierarchy=1"
            ),
            false => format!(
                "{which}: the machine's cgroup v2 hierarchy has none (a kernel built \
                 without it, or booted with cgroup_disable=)"
            ),
        });
    }
    if !not_delegated.is_empty() {
        fixes.push(format!(
            "{}: its parent does not enable {it} for you; delegate {it}, e.g. systemd's \
             Delegate=yes",
            not_delegated.join(", "),
            it = it(&not_delegated)
        ));
    }
    fixes.join("; ")
}

/// The leaf the delegated cgroup's own processes are moved into.
pub const LEAF: &str = "init";

/// cpu.max's period, Docker's (100 ms).
const CPU_PERIOD: u64 = 100_000;

/// Where containers' cgroups go: the delegated cgroup hutch runs in, or
/// its parent when hutch runs in the leaf an earlier start made there.
pub fn base(c: &Cgroups) -> Option<PathBuf> {
    let own = c.dir.as_ref().filter(|_| c.delegated)?;
    match own.parent() {
        Some(p)
            if own.file_name().is_some_and(|n| n == LEAF)
                && super::host::writable(&p.join("cgroup.procs")) =>
        {
            Some(p.to_path_buf())
        }
        _ => Some(own.clone()),
    }
}

/// Each kind of limit set in `limits`: its controller and its flag, in the
/// order cgroup.controllers lists the controllers.
fn kinds(limits: &CgroupLimits) -> Vec<(&'static str, &'static str)> {
    [
        (limits.cpus.is_some(), ("cpu", "--cpus")),
        (limits.memory.is_some(), ("memory", "--memory")),
        (limits.pids.is_some(), ("pids", "--pids-limit")),
    ]
    .into_iter()
    .filter_map(|(set, kind)| set.then_some(kind))
    .collect()
}

/// The controllers `limits` need.
fn controllers(limits: &CgroupLimits) -> Vec<&'static str> {
    kinds(limits).into_iter().map(|(c, _)| c).collect()
}

fn words(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The part of `limits` whose controllers `base` has (Docker applies the
/// limits the machine supports and warns about the others), and why the
/// rest cannot be set; `v2_root` (the cgroup2 mount) tells whether the
/// machine has them at all, `hybrid` whether a v1 hierarchy holds those it
/// lacks.
pub fn usable(
    base: &Path,
    v2_root: Option<&Path>,
    hybrid: bool,
    limits: &CgroupLimits,
) -> (CgroupLimits, Option<CgroupError>) {
    let have = words(&base.join("cgroup.controllers"));
    let missing: Vec<&str> = controllers(limits)
        .into_iter()
        .filter(|c| !have.iter().any(|h| h == c))
        .collect();
    if missing.is_empty() {
        return (*limits, None);
    }
    let kept = CgroupLimits {
        memory: limits.memory.filter(|_| !missing.contains(&"memory")),
        cpus: limits.cpus.filter(|_| !missing.contains(&"cpu")),
        pids: limits.pids.filter(|_| !missing.contains(&"pids")),
    };
    let in_root = v2_root.map_or_else(Vec::new, |r| words(&r.join("cgroup.controllers")));
    let not_in_v2 = missing
        .iter()
        .filter(|m| !in_root.iter().any(|h| h == *m))
        .copied()
        .collect();
    let why = CgroupError::NoController {
        base: base.to_path_buf(),
        missing,
        not_in_v2,
        hybrid,
    };
    (kept, Some(why))
}

/// The flags of the limits in `limits`, for saying which are not applied.
pub fn flags(limits: &CgroupLimits) -> String {
    let flags: Vec<&str> = kinds(limits).into_iter().map(|(_, f)| f).collect();
    flags.join(", ")
}

/// The files and values that set `limits` (Docker's meaning of each flag).
pub fn limit_files(limits: &CgroupLimits) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(m) = limits.memory {
        out.push(("memory.max", m.to_string()));
        // Docker's default --memory-swap is twice --memory: as much swap
        // again.
        out.push(("memory.swap.max", m.to_string()));
    }
    if let Some(c) = limits.cpus {
        let quota = ((c * CPU_PERIOD as f64).round() as u64).max(1000);
        out.push(("cpu.max", format!("{quota} {CPU_PERIOD}")));
    }
    if let Some(p) = limits.pids {
        // 0 and -1 mean no limit, as in Docker.
        let v = if p > 0 { p.to_string() } else { "max".into() };
        out.push(("pids.max", v));
    }
    out
}

/// A container's cgroup: made before the container is cloned, pid 1 moved
/// in before it is released, removed once it has exited.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// `BASE/hutch-<container id>`.
    pub dir: PathBuf,
    pub limits: CgroupLimits,
}

fn err(what: &str, path: &Path, source: std::io::Error) -> CgroupError {
    CgroupError::File {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    }
}

impl Placement {
    /// Make the cgroup (an existing one, left by a killed run, is reused),
    /// enabling the controllers the limits need in its parent, and write
    /// the limits.
    pub fn create(&self) -> Result<(), CgroupError> {
        let base = self
            .dir
            .parent()
            .ok_or_else(|| CgroupError::NoParent(self.dir.clone()))?;
        enable(base, &controllers(&self.limits))?;
        match std::fs::create_dir(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err("create the cgroup", &self.dir, e)),
        }
        for (file, value) in limit_files(&self.limits) {
            let p = self.dir.join(file);
            match std::fs::write(&p, &value) {
                Ok(()) => {}
                // No swap accounting: memory.max alone still holds.
                Err(e) if file == "memory.swap.max" && e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    self.remove();
                    return Err(err(&format!("write {value} to"), &p, e));
                }
            }
        }
        Ok(())
    }

    /// Move process `pid` (and its future children) into the cgroup.
    pub fn enter(&self, pid: i32) -> Result<(), CgroupError> {
        let p = self.dir.join("cgroup.procs");
        std::fs::write(&p, pid.to_string()).map_err(|e| err("move a process into", &p, e))
    }

    /// Remove the cgroup once the container is gone. Processes of a pid
    /// namespace whose pid 1 died are killed by the kernel, but may take a
    /// moment to leave; any still there after that are killed.
    pub fn remove(&self) {
        let until = Instant::now() + Duration::from_secs(2);
        let mut killed = false;
        loop {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == ErrorKind::NotFound => return,
                Err(_) if Instant::now() < until => {
                    if !killed {
                        killed = std::fs::write(self.dir.join("cgroup.kill"), "1").is_ok();
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        }
    }
}

/// How many times the delegated cgroup's processes are moved out before
/// giving up: processes started meanwhile (a login, another hutch) can
/// land in it between reading its cgroup.procs and moving them.
const ROUNDS: usize = 10;

/// Make `base` enable `wanted` for its children, first moving its own
/// processes into its leaf when it has any and will have controllers on.
/// Both halves of cgroup v2's rule need the move: a domain controller
/// (memory) is refused with EBUSY while `base` has processes; the threaded
/// ones (cpu, pids) are accepted, but `base` then becomes a thread root, and
/// a process moved into a child domain cgroup (the container's) is refused
/// with EOPNOTSUPP.
fn enable(base: &Path, wanted: &[&str]) -> Result<(), CgroupError> {
    let control = base.join("cgroup.subtree_control");
    let on = words(&control);
    let missing: Vec<String> = wanted
        .iter()
        .filter(|w| !on.iter().any(|o| o == *w))
        .map(|w| format!("+{w}"))
        .collect();
    if on.is_empty() && missing.is_empty() {
        return Ok(());
    }
    empty(base)?;
    if missing.is_empty() {
        return Ok(());
    }
    let line = missing.join(" ");
    let mut round = 0;
    loop {
        match std::fs::write(&control, &line) {
            Ok(()) => break,
            // A process arrived since `empty`: move it too and try again.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && round < ROUNDS => {
                round += 1;
                empty(base)?;
            }
            Err(e) => return Err(err(&format!("write {line} to"), &control, e)),
        }
    }
    // One that arrived just before threaded controllers went on made
    // `base` a thread root.
    empty(base)
}

/// The processes in cgroup `dir`.
fn procs(dir: &Path) -> Result<Vec<String>, CgroupError> {
    let file = dir.join("cgroup.procs");
    let text = std::fs::read_to_string(&file).map_err(|e| err("read", &file, e))?;
    Ok(text.lines().map(String::from).collect())
}

/// Move `base`'s own processes into its leaf until it has none, for at
/// most [`ROUNDS`] rounds. The hierarchy's root (root's hutch runs there),
/// the one cgroup without a cgroup.type, is exempt from the rule and keeps
/// them: they include kernel threads, which cannot move.
fn empty(base: &Path) -> Result<(), CgroupError> {
    if !base.join("cgroup.type").exists() {
        return Ok(());
    }
    let leaf = base.join(LEAF);
    for _ in 0..ROUNDS {
        let pids = procs(base)?;
        if pids.is_empty() {
            return Ok(());
        }
        match std::fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err("create the cgroup", &leaf, e)),
        }
        match move_all(&pids, &leaf) {
            Ok(()) => {}
            // A process put into `base` while its threaded controllers
            // were on and no child was populated made it a thread root,
            // whose child domains take no process.
            Err((_, e)) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => unroot(base, &leaf)?,
            Err((pid, e)) => {
                return Err(CgroupError::HoldsProcesses {
                    base: base.to_path_buf(),
                    pids,
                    why: Some(format!("moving {pid} into {}: {e}", leaf.display())),
                })
            }
        }
    }
    let pids = procs(base)?;
    match pids.is_empty() {
        true => Ok(()),
        false => Err(CgroupError::HoldsProcesses {
            base: base.to_path_buf(),
            pids,
            why: Some(format!("more kept arriving after {ROUNDS} moves")),
        }),
    }
}

/// Move `pids` into cgroup `to`; one that exited meanwhile is fine. The
/// first that cannot move stops it, with the kernel's reason.
fn move_all(pids: &[String], to: &Path) -> Result<(), (String, std::io::Error)> {
    let file = to.join("cgroup.procs");
    for pid in pids {
        match std::fs::write(&file, pid) {
            Err(e) if e.raw_os_error() != Some(libc::ESRCH) => return Err((pid.clone(), e)),
            _ => {}
        }
    }
    Ok(())
}

/// Turn thread root `base` back into a domain: switch its controllers off
/// for a moment, move its processes into its leaf, and switch them on
/// again. No limit is lost meanwhile: a thread root's child domains take no
/// process, and the kernel puts no process into a cgroup whose child
/// domains have any, so none of its children has a process to limit.
fn unroot(base: &Path, leaf: &Path) -> Result<(), CgroupError> {
    let control = base.join("cgroup.subtree_control");
    let on = words(&control);
    let held = |why: String| -> Result<(), CgroupError> {
        Err(CgroupError::HoldsProcesses {
            base: base.to_path_buf(),
            pids: procs(base)?,
            why: Some(why),
        })
    };
    if on.is_empty() {
        return held(format!("{} takes no process", leaf.display()));
    }
    let off: Vec<String> = on.iter().map(|c| format!("-{c}")).collect();
    let off = off.join(" ");
    if let Err(e) = std::fs::write(&control, &off) {
        return held(format!("writing {off} to {}: {e}", control.display()));
    }
    let moved = move_all(&procs(base)?, leaf);
    let back: Vec<String> = on.iter().map(|c| format!("+{c}")).collect();
    let back = back.join(" ");
    std::fs::write(&control, &back).map_err(|e| err(&format!("write {back} to"), &control, e))?;
    match moved {
        Ok(()) => Ok(()),
        Err((pid, e)) => held(format!("moving {pid} into {}: {e}", leaf.display())),
    }
}

/// Remove the cgroup of container `id` if a run left it (its supervisor was
/// killed: pid 1 died with it, so the cgroup is empty). Called when the
/// container is removed; from outside the delegated cgroup there is
/// nothing of ours to find.
pub fn forget(id: &str) {
    if let Some(b) = base(&super::host::cgroups(&Default::default())) {
        let _ = std::fs::remove_dir(b.join(format!("hutch-{id}")));
    }
}

/// The cgroup v2 of process `pid`, as a path under the cgroup2 mount.
pub fn of_pid(c: &Cgroups, pid: i32) -> Option<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    Some(c.v2_root.as_ref()?.join(super::host::v2_path(&text)?))
}

/// The cgroup of its own that a container whose pid 1 is `pid` runs in,
/// if it has one (`hutch-<id>`, from whichever cgroup it was started).
pub fn of_container(pid: i32) -> Option<PathBuf> {
    let c = super::host::cgroups(&Default::default());
    of_pid(&c, pid).filter(|d| {
        d.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("hutch-"))
    })
}

/// Move the calling process into the cgroup of the container whose pid 1
/// is `pid`, when it has one of its own: a `hutch exec` process then counts
/// against the container's limits and freezes with it, as in Docker. From
/// a cgroup outside the delegated one the kernel refuses the move (it needs
/// write access to the common ancestor); the process then stays where it
/// is, as crun's rootless exec does.
pub fn join(pid: i32) {
    if let Some(dir) = of_container(pid) {
        let _ = std::fs::write(dir.join("cgroup.procs"), "0");
    }
}

/// Freeze (`true`) or thaw every process in cgroup `dir` with the cgroup v2
/// freezer, and wait until the kernel reports it done (`cgroup.events`).
/// For `pause`/`unpause` of a container that has a cgroup of its own.
pub fn freeze(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    let file = dir.join("cgroup.freeze");
    let want = if frozen { "1" } else { "0" };
    std::fs::write(&file, want).map_err(|e| err(&format!("write {want} to"), &file, e))?;
    let events = dir.join("cgroup.events");
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&events).map_err(|e| err("read", &events, e))?;
        if text.lines().any(|l| l == format!("frozen {want}")) {
            return Ok(());
        }
        if Instant::now() >= until {
            return Err(CgroupError::Slow {
                dir: dir.to_path_buf(),
                frozen,
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(memory: Option<u64>, cpus: Option<f64>, pids: Option<i64>) -> CgroupLimits {
        CgroupLimits { memory, cpus, pids }
    }

    #[test]
    fn flags_become_dockers_file_values() {
        assert_eq!(
            limit_files(&limits(Some(64 << 20), Some(1.5), Some(20))),
            vec![
                ("memory.max", "67108864".to_string()),
                ("memory.swap.max", "67108864".to_string()),
                ("cpu.max", "150000 100000".to_string()),
                ("pids.max", "20".to_string()),
            ]
        );
        assert_eq!(
            limit_files(&limits(None, Some(0.001), Some(-1))),
            vec![
                ("cpu.max", "1000 100000".to_string()),
                ("pids.max", "max".to_string())
            ]
        );
        assert!(limit_files(&CgroupLimits::default()).is_empty());
    }

    /// A fake cgroup directory: plain files where the kernel has its own.
    fn fake(controllers: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("cgroup.controllers"), controllers).unwrap();
        std::fs::write(d.path().join("cgroup.subtree_control"), "").unwrap();
        std::fs::write(d.path().join("cgroup.procs"), "").unwrap();
        std::fs::write(d.path().join("cgroup.type"), "domain").unwrap();
        d
    }

    #[test]
    fn missing_controllers_are_named() {
        let d = fake("cpu memory");
        let l = limits(Some(1 << 20), Some(1.0), Some(5));
        // What the machine has is kept, the rest named.
        let (kept, why) = usable(d.path(), None, true, &l);
        assert_eq!(kept, limits(Some(1 << 20), Some(1.0), None));
        assert_eq!(l.without(&kept), limits(None, None, Some(5)));
        let why = why.unwrap().to_string();
        assert!(why.contains("has no pids controller"), "{why}");
        let one = limits(Some(1), None, None);
        assert_eq!(usable(d.path(), None, true, &one).0, one);
        assert!(usable(d.path(), None, true, &one).1.is_none());
        assert!(usable(d.path(), None, true, &CgroupLimits::default())
            .1
            .is_none());
        let (kept, why) = usable(&d.path().join("nothing"), None, true, &l);
        assert!(!kept.any() && why.is_some());
        // The fix depends on where the controller is: missing from the v2
        // hierarchy (held by v1), or there but not delegated.
        let root = fake("cpu memory");
        let why = |root: &Path, hybrid| {
            usable(d.path(), Some(root), hybrid, &l)
                .1
                .unwrap()
                .to_string()
        };
        let on_hybrid = why(root.path(), true);
        assert!(
            on_hybrid.contains("pids: this v1/v2 hybrid machine's v1 hierarchy holds it")
                && on_hybrid.contains("unified_cgroup_hierarchy=1")
                && !on_hybrid.contains("Delegate=yes"),
            "{on_hybrid}"
        );
        // A pure v2 machine lacking it: booting unified cannot help.
        let on_v2 = why(root.path(), false);
        assert!(
            on_v2.contains("pids: the machine's cgroup v2 hierarchy has none")
                && !on_v2.contains("unified_cgroup_hierarchy"),
            "{on_v2}"
        );
        let root = fake("cpu memory pids");
        let not_delegated = why(root.path(), true);
        assert!(
            not_delegated.contains("pids: its parent does not enable it for you")
                && not_delegated.contains("Delegate=yes")
                && !not_delegated.contains("v1"),
            "{not_delegated}"
        );
        // Each missing controller gets its own fix.
        let mixed = fake("cpu");
        let root = fake("cpu pids");
        let why = usable(mixed.path(), Some(root.path()), true, &l)
            .1
            .unwrap()
            .to_string();
        assert!(
            why.contains("has no memory, pids controller")
                && why.contains("memory: this v1/v2 hybrid machine's v1 hierarchy holds it")
                && why.contains("pids: its parent does not enable it for you"),
            "{why}"
        );
        assert_eq!(flags(&l), "--cpus, --memory, --pids-limit");
        // Controllers that share a fix are named together.
        let none = fake("");
        let why = |root: &Path| {
            usable(none.path(), Some(root), true, &l)
                .1
                .unwrap()
                .to_string()
        };
        let held = why(fake("").path());
        assert!(
            held.contains("cpu, memory, pids: this v1/v2 hybrid machine's v1 hierarchy holds them"),
            "{held}"
        );
        let undelegated = why(fake("cpu memory pids").path());
        assert!(
            undelegated.contains(
                "cpu, memory, pids: its parent does not enable them for you; delegate them"
            ),
            "{undelegated}"
        );
    }

    #[test]
    fn create_enables_controllers_and_writes_the_limits() {
        let d = fake("cpu memory pids");
        let p = Placement {
            dir: d.path().join("hutch-abc"),
            limits: limits(Some(1 << 20), None, Some(7)),
        };
        p.create().unwrap();
        assert_eq!(
            std::fs::read_to_string(d.path().join("cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
        let read = |f: &str| std::fs::read_to_string(p.dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), "1048576");
        assert_eq!(read("pids.max"), "7");
        // Reused when a killed run left it.
        p.create().unwrap();
        p.enter(42).unwrap();
        assert_eq!(read("cgroup.procs"), "42");
    }

    #[test]
    fn the_base_s_own_processes_leave_before_its_children_get_controllers() {
        // No controllers on or wanted: the processes may stay.
        let d = fake("cpu pids");
        let procs = d.path().join("cgroup.procs");
        std::fs::write(&procs, "7\n8\n").unwrap();
        enable(d.path(), &[]).unwrap();
        assert!(!d.path().join(LEAF).exists());
        // A plain file keeps its processes, as a cgroup would whose
        // processes keep arriving: the moves stop, the controllers stay
        // off, and the error names the processes.
        let why = enable(d.path(), &["cpu"]).unwrap_err().to_string();
        let leaf = d.path().join(LEAF).join("cgroup.procs");
        assert_eq!(std::fs::read_to_string(&leaf).unwrap(), "8");
        let control = d.path().join("cgroup.subtree_control");
        assert_eq!(std::fs::read_to_string(&control).unwrap(), "");
        assert!(
            why.contains("holds processes of its own (7, 8)")
                && why.contains("more kept arriving after 10 moves")
                && why.contains(&format!(
                    "move those processes out of {}",
                    d.path().display()
                )),
            "{why}"
        );
        // A move the kernel refuses is not passed over.
        std::fs::remove_file(&leaf).unwrap();
        std::fs::create_dir(&leaf).unwrap();
        let why = enable(d.path(), &["cpu"]).unwrap_err().to_string();
        assert!(why.contains("(moving 7 into "), "{why}");
        // Once they are gone, the controllers go on.
        std::fs::write(&procs, "").unwrap();
        enable(d.path(), &["cpu"]).unwrap();
        assert_eq!(std::fs::read_to_string(&control).unwrap(), "+cpu");
    }

    #[test]
    fn the_hierarchy_s_root_keeps_its_processes() {
        // Root's hutch runs in the root cgroup, which has no cgroup.type:
        // its processes (kernel threads too) stay, the controllers go on.
        let d = fake("cpu pids");
        std::fs::remove_file(d.path().join("cgroup.type")).unwrap();
        std::fs::write(d.path().join("cgroup.procs"), "2\n7\n").unwrap();
        enable(d.path(), &["cpu", "pids"]).unwrap();
        assert!(!d.path().join(LEAF).exists());
        let control = d.path().join("cgroup.subtree_control");
        assert_eq!(std::fs::read_to_string(&control).unwrap(), "+cpu +pids");
    }

    #[test]
    fn the_base_is_the_parent_of_our_own_leaf() {
        let d = fake("");
        let leaf = d.path().join(LEAF);
        std::fs::create_dir(&leaf).unwrap();
        let c = |dir: &Path, delegated| Cgroups {
            version: super::super::host::CgroupVersion::V2,
            delegated,
            dir: Some(dir.to_path_buf()),
            v2_root: None,
        };
        assert_eq!(base(&c(&leaf, true)), Some(d.path().to_path_buf()));
        assert_eq!(base(&c(d.path(), true)), Some(d.path().to_path_buf()));
        assert_eq!(base(&c(d.path(), false)), None);
    }
}
