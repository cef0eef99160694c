//! The environment's watcher: what git's fsmonitor and watchman do for the
//! no-change check, without a daemon of its own. While an environment's
//! container runs, its supervisor runs `hutch env-watcher` beside it (a
//! container companion, see `container::companion`), which
//!
//! 1. reads the record (env.json's inputs id and inputs.bin),
//! 2. adds inotify watches on every directory the inputs depend on (those
//!    they lie in, the directory inputs themselves, the environment's own
//!    directory where the record lives) and on their ancestors (for a move
//!    or removal of the tree above, or a symlink on the way re-pointed),
//! 3. then lstats every input once, as an entry's check would, and when
//!    all are as recorded, and none is a file with other names (hard
//!    links: written through another name, in a directory nobody watches,
//!    it makes no event here), holds that record "clean".
//!
//! Any event on a watched directory, a queue overflow, a watch that
//! cannot be added (max_user_watches) or a directory on a network or FUSE
//! file system (where changes need not pass through this kernel) makes it
//! dirty; after a quiet spell it starts again from 1 with fresh watches,
//! so a rebuild that replaced the record, or a subdirectory made since, is
//! watched from then on. The watcher ending (killed with its container, or
//! killed alone) leaves no answer, so nothing stale is ever vouched for.
//!
//! An entry asks it over a socket in the environment's directory instead
//! of reading a stamp file: before it answers, the watcher drains its
//! inotify queue, so every change that finished before the entry asked is
//! seen (the kernel queues the event within the changing syscall), with no
//! window between a change and its event being read. The answer names the
//! record it vouches for; the entry uses it only when that is the record
//! env.json names now. No answer (no watcher, a watcher that ended, a
//! stale socket) or any other answer: the entry does the full check.
//!
//! What inotify cannot see, this cannot either: writes through a shared
//! memory mapping (no event, as for git's fsmonitor) and a mount placed
//! over a watched directory. Editors and build tools write files.
//!
//! It only watches and answers; it never writes the record or decides
//! about a rebuild.

use super::stamps;
use super::state::{EnvDir, Unchanged, WATCH_SOCKET as SOCKET};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent, WatchDescriptor};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The hidden subcommand the supervisor runs.
pub const SUBCOMMAND: &str = "env-watcher";

/// How long the watched directories must stay still before the watcher
/// checks again after a change.
const QUIET: Duration = Duration::from_millis(100);

/// How long an entry waits for the answer (a watcher in the middle of its
/// lstat pass answers when done) before doing the check itself.
const ASK_TIMEOUT: Duration = Duration::from_millis(250);

/// The companion arguments of an environment whose directory is `dir`.
pub fn companion(dir: &Path) -> Vec<String> {
    vec![
        SUBCOMMAND.to_string(),
        "--dir".to_string(),
        dir.to_string_lossy().into_owned(),
    ]
}

/// What the watcher of the environment in `dir` vouches for: the inputs
/// id of the record every input is as recorded in, and how many inputs
/// that record has. None when no watcher answers or it vouches for none.
pub fn ask(dir: &Path) -> Option<(String, usize)> {
    // Through the directory's descriptor: a socket's path is limited to
    // 108 bytes, a state directory's path is not.
    let d = std::fs::File::open(dir).ok()?;
    let path = format!("/proc/self/fd/{}/{SOCKET}", d.as_raw_fd());
    let s = UnixStream::connect(path).ok()?;
    s.set_read_timeout(Some(ASK_TIMEOUT)).ok()?;
    let mut answer = String::new();
    s.take(256).read_to_string(&mut answer).ok()?;
    parse_answer(&answer)
}

fn parse_answer(answer: &str) -> Option<(String, usize)> {
    let mut words = answer.strip_suffix('\n')?.split(' ');
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("clean"), Some(id), Some(n), None) if !id.is_empty() => {
            Some((id.to_string(), n.parse().ok()?))
        }
        _ => None,
    }
}

/// The no-change check answered by the watcher of `env`: only when it
/// vouches for the very record env.json names now.
pub fn unchanged(env: &EnvDir) -> Option<Unchanged> {
    let (container, inputs_id) = env.ids()?;
    let (id, n) = ask(&env.dir)?;
    (id == inputs_id).then_some(Unchanged {
        container,
        inputs_id,
        statted: 0,
        vouched: Some(n),
    })
}

/// What is watched in the directories the inputs depend on: any change of
/// an entry or of the directory itself.
fn dir_mask() -> AddWatchFlags {
    AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
}

/// What is watched on their ancestors: the directory itself moving or
/// going, and entries made, removed or renamed in it, of which only those
/// of the names on the way down to a watched directory count (a symlink
/// on the way re-pointed, `ln -sfn v2 current`, is a rename there). Added
/// to, not in place of, what is watched on the same directory already
/// (IN_MASK_ADD: one reached by two paths keeps its full mask).
fn ancestor_mask() -> AddWatchFlags {
    AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_ONLYDIR
        | AddWatchFlags::from_bits_retain(libc::IN_MASK_ADD)
}

/// Whether changes to `dir` are all made through this kernel, so that
/// inotify sees them: not on a network file system (another client's
/// writes make no event here) nor FUSE (the server's own writes neither),
/// as git's fsmonitor refuses them.
fn local(dir: &Path) -> bool {
    const REMOTE: [u32; 8] = [
        0x6969,      // NFS
        0x517b,      // SMB
        0xff53_4d42, // CIFS
        0xfe53_4d42, // SMB2
        0x0102_1997, // 9p
        0x00c3_6400, // Ceph
        0x5346_414f, // AFS
        0x6573_5546, // FUSE
    ];
    nix::sys::statfs::statfs(dir).is_ok_and(|s| !REMOTE.contains(&(s.filesystem_type().0 as u32)))
}

/// One pass: fresh watches over the record as it was read.
struct Round {
    inotify: Inotify,
    /// Watches on which any event is a change.
    full: HashSet<WatchDescriptor>,
    /// Watches on ancestors: the names in each that lead to a watched
    /// directory.
    ancestors: HashMap<WatchDescriptor, HashSet<OsString>>,
    /// The record vouched for and its number of inputs; None: dirty.
    clean: Option<(String, usize)>,
    /// When the last event came (dirty since): the next round starts once
    /// `QUIET` has passed without another.
    last_event: Option<Instant>,
}

impl Round {
    /// Watch first, then check: a change after a watch is added is an
    /// event, one before it shows in the check.
    fn start(env: &EnvDir) -> nix::Result<Round> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let mut round = Round {
            inotify,
            full: HashSet::new(),
            ancestors: HashMap::new(),
            clean: None,
            last_event: None,
        };
        // The record's directory first: a rebuild replacing it is an
        // event even when nothing else can be watched.
        match round.inotify.add_watch(&env.dir, dir_mask()) {
            Ok(wd) => round.full.insert(wd),
            Err(_) => return Ok(round),
        };
        let Some((id, bytes)) = env.inputs_file() else {
            return Ok(round);
        };
        let Some(dirs) = stamps::watched(&bytes, &id) else {
            return Ok(round);
        };
        if !round.watch_all(&dirs) {
            return Ok(round);
        }
        // A file with another name elsewhere can be written through that
        // one, in a directory nobody watches: only a stat sees it.
        if let Some(c) = stamps::unchanged(&bytes, &id).filter(|c| !c.hard_linked) {
            round.clean = Some((id, c.statted));
        }
        round.drain();
        Ok(round)
    }

    /// Watch `dirs` and their ancestors; false when one cannot be
    /// watched (gone, or the user's watches are used up: ENOSPC) or is on
    /// a file system whose changes need not pass through this kernel.
    fn watch_all(&mut self, dirs: &[PathBuf]) -> bool {
        if !dirs.iter().all(|d| local(d)) {
            return false;
        }
        for d in dirs {
            match self.inotify.add_watch(d, dir_mask()) {
                Ok(wd) => self.full.insert(wd),
                Err(_) => return false,
            };
        }
        // Each ancestor, with the names in it on the way to those.
        let mut ancestors: BTreeMap<&Path, HashSet<OsString>> = BTreeMap::new();
        for d in dirs {
            for a in d.ancestors().skip(1) {
                if let Some(next) = d.strip_prefix(a).ok().and_then(|r| r.iter().next()) {
                    ancestors.entry(a).or_default().insert(next.to_os_string());
                }
            }
        }
        for (a, names) in ancestors {
            match self.inotify.add_watch(a, ancestor_mask()) {
                Ok(wd) => self.ancestors.entry(wd).or_default().extend(names),
                Err(_) => return false,
            }
        }
        true
    }

    /// Whether `e` says something the inputs depend on may have changed.
    fn matters(&self, e: &InotifyEvent) -> bool {
        if self.full.contains(&e.wd) {
            return true;
        }
        let Some(names) = self.ancestors.get(&e.wd) else {
            // An overflow (no watch), or a watch of no known kind.
            return true;
        };
        let own = AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_IGNORED
            | AddWatchFlags::IN_UNMOUNT;
        e.mask.intersects(own) || e.name.as_ref().is_some_and(|n| names.contains(n))
    }

    /// Read every queued event; any that matters makes the round dirty
    /// (an overflow too).
    fn drain(&mut self) {
        loop {
            match self.inotify.read_events() {
                Ok(events) if !events.is_empty() => {
                    if events.iter().any(|e| self.matters(e)) {
                        self.clean = None;
                        self.last_event = Some(Instant::now());
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // EAGAIN: the queue is empty.
                _ => return,
            }
        }
    }

    fn answer(&self) -> String {
        match &self.clean {
            Some((id, n)) => format!("clean {id} {n}\n"),
            None => "dirty\n".to_string(),
        }
    }

    /// How long until the next round should start; None: not until an
    /// event comes.
    fn until_next(&self) -> Option<Duration> {
        self.last_event.map(|t| QUIET.saturating_sub(t.elapsed()))
    }
}

/// The watcher's life (`hutch env-watcher --dir DIR`): it runs until it is
/// killed (its container's supervisor does that when pid 1 exits) or
/// cannot go on.
pub fn serve(dir: &Path) -> std::io::Result<()> {
    let env = EnvDir {
        dir: dir.to_path_buf(),
    };
    let listener = bind(dir)?;
    listener.set_nonblocking(true)?;
    loop {
        // The previous round's instance is closed first: a user has only
        // max_user_instances (128 by default) of them.
        serve_round(Round::start(&env)?, &listener)?;
    }
}

/// Answer over `listener` until `round` should start again.
fn serve_round(mut round: Round, listener: &UnixListener) -> std::io::Result<()> {
    loop {
        let timeout = match round.until_next() {
            None => PollTimeout::NONE,
            Some(d) => {
                PollTimeout::try_from(d.as_millis().max(1) as i32).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [
            PollFd::new(round.inotify.as_fd(), PollFlags::POLLIN),
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let asked = fds[1].any().unwrap_or(false);
        round.drain();
        if asked {
            // Drained just now: every change finished before the asker
            // connected is in the answer.
            while let Ok((mut s, _)) = listener.accept() {
                round.drain();
                // A small line into an empty socket buffer; a peer that
                // went away costs nothing.
                let _ = s.set_nonblocking(true);
                let _ = s.write_all(round.answer().as_bytes());
            }
        }
        if round.until_next() == Some(Duration::ZERO) {
            return Ok(());
        }
    }
}

/// The listening socket, put in place with a rename so that an entry
/// never finds the path missing or half made, and a socket left by an
/// earlier watcher is replaced.
fn bind(dir: &Path) -> std::io::Result<UnixListener> {
    let d = std::fs::File::open(dir)?;
    let base = format!("/proc/self/fd/{}", d.as_raw_fd());
    let tmp = format!("{base}/.{SOCKET}.{}", std::process::id());
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    std::fs::rename(&tmp, format!("{base}/{SOCKET}"))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::inputs::record;
    use crate::project::state::EnvState;

    #[test]
    fn answers_parse() {
        assert_eq!(parse_answer("clean abc 3\n"), Some(("abc".into(), 3)));
        for bad in ["dirty\n", "clean abc 3", "clean  3\n", "clean abc x\n", ""] {
            assert_eq!(parse_answer(bad), None, "{bad:?}");
        }
    }

    /// A round over a real record: clean after watching, dirty at the
    /// first change in a watched directory, including one made after the
    /// watches were added, and clean again in a new round once the record
    /// says so.
    #[test]
    fn rounds_go_dirty_on_any_change() {
        let d = tempfile::tempdir().unwrap();
        let proj = d.path().join("top/proj");
        std::fs::create_dir_all(proj.join("tree")).unwrap();
        std::fs::write(proj.join("tree/a"), "a").unwrap();
        let env = EnvDir {
            dir: d.path().join("env"),
        };
        let inputs: Vec<_> = ["tree", "tree/a"]
            .iter()
            .map(|n| record(&proj.join(n)).unwrap())
            .collect();
        let st = EnvState {
            project: proj.clone(),
            container: "c".into(),
            image_id: "i".into(),
            inputs,
            settings: String::new(),
        };
        env.write(&st).unwrap();
        let (id, _) = env.inputs_file().unwrap();

        let mut r = Round::start(&env).unwrap();
        assert_eq!(r.clean, Some((id.clone(), 2)));
        r.drain();
        assert!(r.clean.is_some(), "reading the record is no event");

        std::fs::create_dir(proj.join("tree/sub")).unwrap();
        r.drain();
        assert!(r.clean.is_none() && r.until_next().is_some());

        // The new directory is no input: the next round is dirty (the
        // tree's listing moved), and a file in it is an event.
        let mut r = Round::start(&env).unwrap();
        assert_eq!(r.clean, None);
        recorded(&env, &proj, &["tree", "tree/a", "tree/sub"]);
        r.drain();
        assert!(r.until_next().is_some(), "the record was replaced");
        let mut r = Round::start(&env).unwrap();
        assert!(r.clean.is_some());
        std::fs::write(proj.join("tree/sub/new"), "").unwrap();
        r.drain();
        assert!(r.clean.is_none(), "a file in a new subdirectory");

        // The record brought up to date: clean again; then the tree above
        // the project moves away.
        std::fs::remove_file(proj.join("tree/sub/new")).unwrap();
        recorded(&env, &proj, &["tree", "tree/a", "tree/sub"]);
        let mut r = Round::start(&env).unwrap();
        assert!(r.clean.is_some());
        std::fs::rename(d.path().join("top"), d.path().join("moved")).unwrap();
        r.drain();
        assert!(r.clean.is_none(), "an ancestor moved");

        // An input in a directory that cannot be watched (here: missing;
        // ENOSPC alike) is never vouched for, though it checks.
        let absent = record(&d.path().join("nowhere/x")).unwrap();
        env.write(&EnvState {
            inputs: vec![absent],
            ..st
        })
        .unwrap();
        let (id, bytes) = env.inputs_file().unwrap();
        assert!(stamps::unchanged(&bytes, &id).is_some());
        assert_eq!(Round::start(&env).unwrap().clean, None);
    }

    /// An environment over `inputs` (paths under `base`), written to `env`.
    fn recorded(env: &EnvDir, base: &Path, inputs: &[&str]) {
        env.write(&EnvState {
            project: base.to_path_buf(),
            container: "c".into(),
            image_id: "i".into(),
            inputs: inputs
                .iter()
                .map(|n| record(&base.join(n)).unwrap())
                .collect(),
            settings: String::new(),
        })
        .unwrap();
    }

    /// Entries in an ancestor count only on the way down: an unrelated
    /// file there is no change, a symlink on the way re-pointed is one.
    #[test]
    fn ancestors_matter_only_on_the_way_down() {
        let d = tempfile::tempdir().unwrap();
        for v in ["v1", "v2"] {
            std::fs::create_dir_all(d.path().join(v).join("src")).unwrap();
            std::fs::write(d.path().join(v).join("src/a"), v).unwrap();
        }
        std::os::unix::fs::symlink("v1", d.path().join("current")).unwrap();
        let env = EnvDir {
            dir: d.path().join("env"),
        };
        let proj = d.path().join("current");
        recorded(&env, &proj, &["src", "src/a"]);
        let mut r = Round::start(&env).unwrap();
        assert!(r.clean.is_some());
        std::fs::write(d.path().join("unrelated"), "").unwrap();
        std::fs::create_dir(d.path().join("v2/other")).unwrap();
        r.drain();
        assert!(r.clean.is_some(), "nothing on the way down changed");
        // `ln -sfn v2 current`: a new link renamed over the old one.
        std::os::unix::fs::symlink("v2", d.path().join("next")).unwrap();
        std::fs::rename(d.path().join("next"), d.path().join("current")).unwrap();
        r.drain();
        assert!(r.clean.is_none(), "the symlink on the way was re-pointed");
    }

    /// A file with a second name can be written through it anywhere: never
    /// vouched for.
    #[test]
    fn hard_linked_inputs_are_not_vouched_for() {
        let d = tempfile::tempdir().unwrap();
        let proj = d.path().join("proj");
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::write(proj.join("a"), "a").unwrap();
        let env = EnvDir {
            dir: d.path().join("env"),
        };
        recorded(&env, &proj, &["a"]);
        assert!(Round::start(&env).unwrap().clean.is_some());
        std::fs::hard_link(proj.join("a"), d.path().join("elsewhere")).unwrap();
        recorded(&env, &proj, &["a"]);
        let (id, bytes) = env.inputs_file().unwrap();
        assert!(stamps::unchanged(&bytes, &id).is_some_and(|c| c.hard_linked));
        assert_eq!(Round::start(&env).unwrap().clean, None);
    }
}
