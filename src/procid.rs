//! Process identity from /proc: a pid plus its start time (field 22 of
//! `/proc/<pid>/stat`, in clock ticks since boot). A pid alone can be reused
//! after its process dies; the pair cannot, so a record naming a pid with a
//! start time says "running" only about that very process.
//!
//! It also holds [`read_proc`], the reader for any /proc file (the keeper
//! reads id maps with it): procfs gives no size hint, and std's readers ask
//! for one.
//!
//! It only reads /proc; sending signals lives in `sys::process`. It sits on
//! the lowest floor because the user-namespace keeper, the sandbox and the
//! container records all tell processes apart with it.

use std::path::Path;

/// One process, told apart from later processes that reuse its pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcId {
    pub pid: i32,
    pub start: u64,
}

impl ProcId {
    /// The calling process. Read once: a start asks for it more than once,
    /// and a process's start time never changes. A forked child has
    /// another pid than the one remembered, and reads its own.
    pub fn current() -> Option<ProcId> {
        static ME: std::sync::OnceLock<Option<ProcId>> = std::sync::OnceLock::new();
        let pid = std::process::id() as i32;
        remembered_for(*ME.get_or_init(|| Self::of(pid)), pid).or_else(|| Self::of(pid))
    }

    /// The process that has `pid` now, if any.
    pub fn of(pid: i32) -> Option<ProcId> {
        let stat = read_proc(&Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
        Some(ProcId {
            pid,
            start: start_time(&stat)?,
        })
    }

    /// Whether this process still exists (and is not a zombie waiting to be
    /// reaped: a zombie pid 1 means the container has ended).
    pub fn alive(&self) -> bool {
        let Ok(stat) = read_proc(Path::new(&format!("/proc/{}/stat", self.pid))) else {
            return false;
        };
        start_time(&stat) == Some(self.start) && state(&stat) != Some('Z')
    }

    /// Whether this very process is stopped by a signal (SIGSTOP), as a
    /// paused container's are.
    pub fn stopped(&self) -> bool {
        let Ok(stat) = read_proc(Path::new(&format!("/proc/{}/stat", self.pid))) else {
            return false;
        };
        start_time(&stat) == Some(self.start) && state(&stat) == Some('T')
    }
}

/// What [`ProcId::current`] remembered, if it is process `pid`'s: a forked
/// child inherits its parent's memory, and with it the parent's identity.
fn remembered_for(me: Option<ProcId>, pid: i32) -> Option<ProcId> {
    me.filter(|me| me.pid == pid)
}

/// A /proc file's bytes, without the stat that `fs::read` asks for a size
/// hint (procfs says 0), and in two reads for a stat line or an id map (the
/// second finds the end) rather than five growing ones. Bytes, not text: a
/// process names itself (prctl PR_SET_NAME, /proc/self/comm) with any
/// bytes, and a stat line holds that name.
pub fn read_proc(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::with_capacity(1024);
    // `Take` reads as any reader does; `File`'s own read_to_end stats.
    std::fs::File::open(path)?
        .take(u64::MAX)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The fields after the command name, which is in parentheses and may itself
/// contain spaces, parentheses and bytes that are not UTF-8 (proc(5)); the
/// fields are numbers and a state letter.
fn after_comm(stat: &[u8]) -> Option<&str> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    Some(std::str::from_utf8(&stat[close + 1..]).ok()?.trim_start())
}

fn state(stat: &[u8]) -> Option<char> {
    after_comm(stat)?.chars().next()
}

/// Field 22, starttime; field 3 is the first after the command name.
fn start_time(stat: &[u8]) -> Option<u64> {
    after_comm(stat)?
        .split_whitespace()
        .nth(22 - 3)?
        .parse()
        .ok()
}

/// Field 4, the parent pid.
pub fn parent_of(stat: impl AsRef<[u8]>) -> Option<i32> {
    after_comm(stat.as_ref())?
        .split_whitespace()
        .nth(4 - 3)?
        .parse()
        .ok()
}

/// Runs `f` with the pid of a live child `sh` that has renamed itself to
/// the bytes `a\xffb`, not UTF-8 (a process may write any bytes to its own
/// comm); the child ends after `f` returns. Asserts the name took. Here,
/// beside the reader it tests, so that modules on every floor above can
/// use it.
#[cfg(test)]
pub(crate) fn with_child_named_in_non_utf8<T>(f: impl FnOnce(i32) -> T) -> T {
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};
    let mut child = Command::new("sh")
        .args([
            "-c",
            r"printf 'a\377b' >/proc/$$/comm && echo named && read x",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "named\n");
    let pid = child.id() as i32;
    let comm = std::fs::read(format!("/proc/{pid}/comm")).unwrap();
    let out = f(pid);
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    child.wait().unwrap();
    assert_eq!(comm, b"a\xffb\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let stat = b"42 (a) b) c) S 7 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1 2";
        assert_eq!(start_time(stat), Some(98765));
        assert_eq!(state(stat), Some('S'));
        assert_eq!(parent_of(stat), Some(7));
    }

    #[test]
    fn a_proc_file_reads_whole() {
        let me = std::process::id();
        let stat = read_proc(Path::new(&format!("/proc/{me}/stat"))).unwrap();
        assert!(stat.starts_with(format!("{me} (").as_bytes()) && stat.ends_with(b"\n"));
        let maps = read_proc(Path::new("/proc/self/maps")).unwrap();
        assert!(maps.len() > 1024 && maps.ends_with(b"\n"));
    }

    /// A forked child remembers its parent's identity, and must not take
    /// it for its own. (A real fork needs `sys::process`, on this module's
    /// floor, so the choice is tested here.)
    #[test]
    fn remembered_for_keeps_only_the_same_pid() {
        let me = ProcId::current().unwrap();
        assert_eq!(remembered_for(Some(me), me.pid), Some(me));
        assert_eq!(remembered_for(Some(me), me.pid + 1), None);
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcId::current().unwrap();
        assert!(me.alive());
        let other = ProcId {
            start: me.start + 1,
            ..me
        };
        assert!(!other.alive());
    }

    /// A process may name itself with bytes that are not UTF-8; it is still
    /// told apart and seen alive (a container's pid 1 could otherwise make
    /// `hutch exec` refuse it as ended).
    #[test]
    fn a_process_named_in_bytes_that_are_not_utf8_is_alive() {
        let (id, alive) = super::with_child_named_in_non_utf8(|pid| {
            let id = ProcId::of(pid);
            (id, id.is_some_and(|id| id.alive()))
        });
        assert!(alive, "{id:?}");
    }
}
