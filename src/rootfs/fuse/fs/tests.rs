//! The overlay's answers to files that lost their last name while the
//! kernel still holds them (unlinked or renamed over while open), served
//! straight from an [`OverlayFs`] over temporary layer directories; and the
//! copy-up of such a file where the upper file system has no O_TMPFILE.

use super::*;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

struct Dirs {
    _tmp: tempfile::TempDir,
    lower: PathBuf,
    upper: PathBuf,
    work: PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| {
        let p = tmp.path().join(n);
        std::fs::create_dir(&p).unwrap();
        p
    };
    let (lower, upper, work) = (p("l"), p("u"), p("w"));
    Dirs {
        _tmp: tmp,
        lower,
        upper,
        work,
    }
}

fn overlay(lower: &Path, upper: &Path, work: &Path) -> OverlayFs {
    let open = |p: &Path| sys::open_path(p).unwrap();
    let layers = Layers {
        upper: open(upper),
        lowers: vec![open(lower)],
        work: open(work),
        proc: open(Path::new("/proc")),
    };
    OverlayFs::new(layers, IdShift::default()).unwrap()
}

fn lookup(fs: &OverlayFs, name: &str) -> Arc<Node> {
    let (node, _) = fs
        .do_lookup(INodeNo::ROOT, OsStr::new(name))
        .unwrap()
        .unwrap_or_else(|| panic!("{name} not found"));
    node
}

fn set(mode: Option<u32>, mtime: Option<SystemTime>) -> SetAttr {
    SetAttr {
        mode,
        uid: None,
        gid: None,
        size: None,
        atime: None,
        mtime: mtime.map(TimeOrNow::SpecificTime),
        fh: None,
    }
}

fn mknod(p: &Path, kind: u32) {
    let dir = sys::open_path(p.parent().unwrap()).unwrap();
    let name = CString::new(p.file_name().unwrap().as_bytes()).unwrap();
    sys::mknod_at(dir.as_fd(), &name, kind | 0o644, 0).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn whiteout_at(p: &Path) -> bool {
    let m = std::fs::symlink_metadata(p).unwrap();
    m.file_type().is_char_device() && m.rdev() == 0
}

const WHEN: u64 = 981_173_106;

/// A lower symlink, fifo and socket that lose their name while the kernel
/// holds them (an O_PATH descriptor, a fifo open for reading) take a chown,
/// chmod and utimens: each is copied up into a node of its own that never
/// gets a name, as a nameless regular file is. overlayfs would copy it up
/// to its old name instead, bringing a deleted file back or replacing the
/// file renamed over it; neither happens here, and nothing is ENOENT.
#[test]
fn nameless_lower_symlink_fifo_and_socket_copy_up() {
    let d = dirs();
    std::os::unix::fs::symlink("target", d.lower.join("s")).unwrap();
    mknod(&d.lower.join("p"), libc::S_IFIFO);
    mknod(&d.lower.join("k"), libc::S_IFSOCK);
    mknod(&d.lower.join("over"), libc::S_IFIFO);
    std::fs::create_dir(d.lower.join("dir")).unwrap();
    mknod(&d.lower.join("dir/q"), libc::S_IFIFO);
    std::fs::write(d.lower.join("dir/r"), "data").unwrap();
    std::fs::write(d.upper.join("new"), "new").unwrap();
    let lower_mtime = std::fs::symlink_metadata(d.lower.join("s"))
        .unwrap()
        .mtime();
    let fs = overlay(&d.lower, &d.upper, &d.work);
    let when = UNIX_EPOCH + Duration::from_secs(WHEN);

    let mut nodes: Vec<_> = ["s", "p", "k", "over"]
        .iter()
        .map(|n| lookup(&fs, n))
        .collect();
    for n in ["s", "p", "k"] {
        fs.do_unlink(INodeNo::ROOT, OsStr::new(n), false).unwrap();
    }
    // `rm -rf dir` with dir/q and dir/r open: their copy-ups must neither
    // bring dir back nor need it.
    let dir = INodeNo(lookup(&fs, "dir").ino);
    let (q, _) = fs.do_lookup(dir, OsStr::new("q")).unwrap().unwrap();
    let (r, _) = fs.do_lookup(dir, OsStr::new("r")).unwrap().unwrap();
    nodes.push(q);
    for n in ["q", "r"] {
        fs.do_unlink(dir, OsStr::new(n), false).unwrap();
    }
    fs.do_unlink(INodeNo::ROOT, OsStr::new("dir"), true)
        .unwrap();
    let w = fs.file(INodeNo(r.ino), FileHandle(0), true).unwrap();
    sys::pwrite(bfd(&w), b"more", 4).unwrap();
    let mut buf = [0u8; 16];
    let n = sys::pread(
        bfd(&fs.file(INodeNo(r.ino), FileHandle(0), false).unwrap()),
        &mut buf,
        0,
    )
    .unwrap();
    assert_eq!(&buf[..n], b"datamore", "nameless dir/r after rm -rf dir");
    lookup(&fs, "new");
    fs.do_rename(
        INodeNo::ROOT,
        OsStr::new("new"),
        INodeNo::ROOT,
        OsStr::new("over"),
        RenameFlags::empty(),
    )
    .unwrap();

    for (node, name) in nodes.iter().zip(["s", "p", "k", "over", "dir/q"]) {
        let ino = INodeNo(node.ino);
        let a = fs
            .do_setattr(ino, set(None, Some(when)))
            .unwrap_or_else(|e| panic!("utimens of nameless {name}: {e}"));
        assert_eq!(a.mtime, when, "{name}");
        if name == "s" {
            assert_eq!(
                fs.do_setattr(ino, set(Some(0o600), None)).unwrap_err(),
                NixErrno::EOPNOTSUPP,
                "chmod of a symlink"
            );
        } else {
            let a = fs.do_setattr(ino, set(Some(0o600), None)).unwrap();
            assert_eq!(a.perm, 0o600, "{name}");
        }
        let inner = node.read();
        assert_eq!(
            (inner.layer, inner.name.as_bytes()),
            (0, &b""[..]),
            "{name}"
        );
        assert_eq!(stat_node(&inner).unwrap().st_mtime as u64, WHEN, "{name}");
        if name == "s" {
            assert_eq!(sys::readlink_at(bfd(&inner.fd), c"").unwrap(), b"target");
        }
    }
    // No user xattrs on a symlink or fifo, named or not: EPERM, and no
    // copy-up for it (overlayfs leaves none either).
    std::os::unix::fs::symlink("target", d.lower.join("s2")).unwrap();
    let s2 = INodeNo(lookup(&fs, "s2").ino);
    for ino in [s2, INodeNo(nodes[0].ino), INodeNo(nodes[1].ino)] {
        let r = fs.do_setxattr(ino, OsStr::new("user.x"), b"1", 0);
        assert_eq!(r, Err(NixErrno::EPERM));
    }
    assert!(std::fs::symlink_metadata(d.upper.join("s2")).is_err());
    // A link to a file with no name is refused as linkat(2) refuses it.
    assert_eq!(
        fs.do_link(INodeNo(nodes[1].ino), INodeNo::ROOT, OsStr::new("again"))
            .map(drop)
            .unwrap_err(),
        NixErrno::ENOENT
    );
    // The upper dir has the whiteouts and the file renamed over, no
    // copy; the work dir is left empty; the lower layer is untouched.
    assert_eq!(names(&d.upper), ["dir", "k", "over", "p", "s"]);
    for n in ["dir", "k", "p", "s"] {
        assert!(whiteout_at(&d.upper.join(n)), "{n}");
    }
    assert_eq!(
        std::fs::read_to_string(d.upper.join("over")).unwrap(),
        "new"
    );
    assert_eq!(names(&d.work), Vec::<String>::new());
    let m = std::fs::symlink_metadata(d.lower.join("s")).unwrap();
    assert_eq!(m.mtime(), lower_mtime);
}

/// utimens and chmod of an upper socket with no name left act on it
/// through its O_PATH descriptor (AT_EMPTY_PATH; a socket cannot be opened).
#[test]
fn nameless_upper_socket_takes_utimens_and_chmod() {
    let d = dirs();
    mknod(&d.upper.join("k"), libc::S_IFSOCK);
    let fs = overlay(&d.lower, &d.upper, &d.work);
    let node = lookup(&fs, "k");
    fs.do_unlink(INodeNo::ROOT, OsStr::new("k"), false).unwrap();
    assert!(node.read().name.is_empty(), "kept as a nameless node");
    let when = UNIX_EPOCH + Duration::from_secs(WHEN);
    let a = fs
        .do_setattr(INodeNo(node.ino), set(Some(0o640), Some(when)))
        .unwrap();
    assert_eq!((a.mtime, a.perm), (when, 0o640));
    assert_eq!(
        fs.do_link(INodeNo(node.ino), INodeNo::ROOT, OsStr::new("back"))
            .map(drop)
            .unwrap_err(),
        NixErrno::ENOENT
    );
    assert_eq!(names(&d.upper), Vec::<String>::new());
}

/// Where the upper file system refuses O_TMPFILE (here: a FUSE mount whose
/// server has no TMPFILE), a lower file renamed over while open is copied
/// up into a file made in the work dir and unlinked at once: its data
/// survives, and neither dir keeps a name for it. A named copy-up is built
/// in the work dir too and moved to its name complete: one that fails
/// half-way (a chown to an owner the namespace cannot map) leaves nothing
/// to hide the lower file, and neither does a directory's, built there
/// too. Where the upper file system has no rename2 (forced here), a copy
/// is linked to its name and a directory made at it, and removed again if
/// it fails. What a killed server left in the work dir is cleared at the
/// start.
#[test]
fn nameless_copy_up_falls_back_when_o_tmpfile_is_refused() {
    let d = dirs();
    let outer = tempfile::tempdir().unwrap();
    let p = |n: &str| {
        let p = outer.path().join(n);
        std::fs::create_dir(&p).unwrap();
        p
    };
    let (l0, u0, w0, m0) = (p("l"), p("u"), p("w"), p("m"));
    std::fs::write(d.lower.join("f"), "data").unwrap();
    std::fs::write(d.lower.join("n"), "named").unwrap();
    std::fs::write(d.lower.join("h"), "held").unwrap();
    // Not mapped in the single-id namespace below.
    std::os::unix::fs::chown(d.lower.join("h"), Some(54321), None).unwrap();
    for n in ["hd", "dd"] {
        std::fs::create_dir(d.lower.join(n)).unwrap();
    }
    std::os::unix::fs::chown(d.lower.join("hd"), Some(54321), None).unwrap();
    std::fs::write(d.lower.join("n2"), "linked").unwrap();
    std::os::unix::fs::symlink("target", d.lower.join("s")).unwrap();
    super::super::tests::with_mounted(
        (&l0, &u0, &w0, &m0),
        || {},
        || {
            let (upper, work) = (m0.join("up"), m0.join("work"));
            for p in [&upper, &work] {
                std::fs::create_dir(p).map_err(|e| e.to_string())?;
            }
            let up = sys::open_path(&upper).map_err(|e| e.to_string())?;
            match sys::tmpfile_in(up.as_fd(), 0o600) {
                Err(e) if copyup::tmpfile_refused(e) => {}
                r => return Err(format!("O_TMPFILE on the FUSE upper: {r:?}")),
            }
            std::fs::write(upper.join("g"), "new").map_err(|e| e.to_string())?;
            std::fs::write(work.join("#copyup-1-0"), "").map_err(|e| e.to_string())?;
            let fs = overlay(&d.lower, &upper, &work);
            let f = lookup(&fs, "f");
            lookup(&fs, "g");
            let rename = fs.do_rename(
                INodeNo::ROOT,
                OsStr::new("g"),
                INodeNo::ROOT,
                OsStr::new("f"),
                RenameFlags::empty(),
            );
            rename.map_err(|e| format!("rename: {e}"))?;
            let ino = INodeNo(f.ino);
            let w = fs
                .file(ino, FileHandle(0), true)
                .map_err(|e| format!("copy-up: {e}"))?;
            sys::pwrite(bfd(&w), b"more", 4).map_err(|e| e.to_string())?;
            let r = fs
                .file(ino, FileHandle(0), false)
                .map_err(|e| e.to_string())?;
            let mut buf = [0u8; 16];
            let n = sys::pread(bfd(&r), &mut buf, 0).map_err(|e| e.to_string())?;
            if &buf[..n] != b"datamore" {
                return Err(format!(
                    "read back {:?}",
                    String::from_utf8_lossy(&buf[..n])
                ));
            }
            if f.read().layer != 0 {
                return Err("not copied up".into());
            }
            let (u, w) = (names(&upper), names(&work));
            if u != ["f"] || !w.is_empty() {
                return Err(format!("upper {u:?}, work {w:?}"));
            }
            let now = std::fs::read_to_string(upper.join("f")).map_err(|e| e.to_string())?;
            if now != "new" {
                return Err(format!("the file renamed over it: {now:?}"));
            }
            let named = |n: &str| INodeNo(lookup(&fs, n).ino);
            fs.file(named("n"), FileHandle(0), true)
                .map_err(|e| format!("named copy-up: {e}"))?;
            let n = std::fs::read_to_string(upper.join("n")).map_err(|e| e.to_string())?;
            if n != "named" {
                return Err(format!("named copy-up holds {n:?}"));
            }
            match fs.file(named("h"), FileHandle(0), true) {
                Err(NixErrno::EINVAL) => {}
                r => return Err(format!("copy-up with an unmapped owner: {:?}", r.map(drop))),
            }
            let (u, w) = (names(&upper), names(&work));
            if u != ["f", "n"] || !w.is_empty() {
                return Err(format!("after the named copy-ups: upper {u:?}, work {w:?}"));
            }
            // A directory that cannot be given its owner is not left
            // half-made in the upper dir, with rename2 or without it
            // (NFS): made at its name then, and removed again.
            for no_rename2 in [false, true] {
                fs.no_rename2.store(no_rename2, Ordering::Relaxed);
                match fs.do_setattr(named("hd"), set(Some(0o750), None)) {
                    Err(NixErrno::EINVAL) => {}
                    r => return Err(format!("directory copy-up: {:?}", r.map(drop))),
                }
                let (u, w) = (names(&upper), names(&work));
                if u != ["f", "n"] || !w.is_empty() || lookup(&fs, "hd").read().layer == 0 {
                    return Err(format!("after the directory: upper {u:?}, work {w:?}"));
                }
            }
            // Without rename2, a file and a symlink are linked to their
            // names; a directory is made at its name.
            fs.file(named("n2"), FileHandle(0), true)
                .map_err(|e| format!("copy-up without rename2: {e}"))?;
            let mut chown = set(None, None);
            chown.uid = Some(nix::unistd::getuid().as_raw());
            fs.do_setattr(named("s"), chown)
                .map_err(|e| format!("symlink copy-up without rename2: {e}"))?;
            fs.do_setattr(named("dd"), set(Some(0o750), None))
                .map_err(|e| format!("directory copy-up without rename2: {e}"))?;
            let n2 = std::fs::read_to_string(upper.join("n2")).map_err(|e| e.to_string())?;
            let s = std::fs::read_link(upper.join("s")).map_err(|e| e.to_string())?;
            let dd = std::fs::symlink_metadata(upper.join("dd")).map_err(|e| e.to_string())?;
            let (u, w) = (names(&upper), names(&work));
            if n2 != "linked"
                || s != Path::new("target")
                || dd.mode() & 0o7777 != 0o750
                || u != ["dd", "f", "n", "n2", "s"]
                || !w.is_empty()
            {
                return Err(format!("without rename2: {n2:?} {s:?} {dd:?} {u:?} {w:?}"));
            }
            Ok(())
        },
    );
    assert_eq!(std::fs::read_to_string(d.lower.join("f")).unwrap(), "data");
}

/// What a killed server left in the work dir is cleared at the start,
/// whatever it is: a file, a directory copy with entries in it (its
/// symlinks not followed), and never stops the start.
#[test]
fn leftover_copies_are_cleared_from_the_work_dir() {
    let d = dirs();
    std::fs::write(d.lower.join("kept"), "").unwrap();
    let left = d.work.join("#copyup-1-0");
    std::fs::create_dir_all(left.join("sub")).unwrap();
    std::fs::write(left.join("sub/x"), "").unwrap();
    std::os::unix::fs::symlink(&d.lower, left.join("out")).unwrap();
    std::fs::write(d.work.join("#copyup-1-1"), "").unwrap();
    std::fs::write(d.work.join("other"), "").unwrap();
    let fs = overlay(&d.lower, &d.upper, &d.work);
    lookup(&fs, "kept");
    assert_eq!(names(&d.work), ["other"]);
    assert_eq!(names(&d.lower), ["kept"]);
}

/// A lower fifo and symlink copied up by name (for a chown) keep their
/// mode and times, whatever the umask; the work dir they are built in is
/// left empty.
#[test]
fn named_copy_up_of_a_fifo_and_symlink_keeps_mode_and_times() {
    use std::os::unix::fs::PermissionsExt;
    let d = dirs();
    mknod(&d.lower.join("p"), libc::S_IFIFO);
    let perm = std::fs::Permissions::from_mode(0o666);
    std::fs::set_permissions(d.lower.join("p"), perm).unwrap();
    std::os::unix::fs::symlink("target", d.lower.join("s")).unwrap();
    let lower = sys::open_path(&d.lower).unwrap();
    for n in [c"p", c"s"] {
        let t = sys::Time::At(WHEN as i64, 0);
        sys::utimens_at(lower.as_fd(), n, t, t).unwrap();
    }
    let fs = overlay(&d.lower, &d.upper, &d.work);
    let me = nix::unistd::getuid().as_raw();
    for n in ["p", "s"] {
        let ino = INodeNo(lookup(&fs, n).ino);
        let mut chown = set(None, None);
        chown.uid = Some(me);
        fs.do_setattr(ino, chown).unwrap();
        let m = std::fs::symlink_metadata(d.upper.join(n)).unwrap();
        assert_eq!((m.mtime() as u64, m.atime() as u64), (WHEN, WHEN), "{n}");
        if n == "p" {
            assert!(m.file_type().is_fifo());
            assert_eq!(m.mode() & 0o7777, 0o666);
        }
    }
    assert_eq!(names(&d.work), Vec::<String>::new());
}

/// A lower directory removed (rmdir) or renamed over while the kernel
/// still holds it (a shell's working directory) is gone: a change made
/// through it is ENOENT, with no copy-up of it or its parents, instead of
/// a mkdir that meets the whiteout or the new directory at its name.
#[test]
fn removed_lower_directory_is_not_copied_up() {
    let d = dirs();
    for n in ["a/gone", "a/over"] {
        std::fs::create_dir_all(d.lower.join(n)).unwrap();
    }
    std::fs::create_dir_all(d.upper.join("a/new")).unwrap();
    let fs = overlay(&d.lower, &d.upper, &d.work);
    let a = INodeNo(lookup(&fs, "a").ino);
    let node = |n: &str| fs.do_lookup(a, OsStr::new(n)).unwrap().unwrap().0;
    let (gone, over) = (node("gone"), node("over"));
    fs.do_unlink(a, OsStr::new("gone"), true).unwrap();
    fs.do_rename(
        a,
        OsStr::new("new"),
        a,
        OsStr::new("over"),
        RenameFlags::empty(),
    )
    .unwrap();
    let when = UNIX_EPOCH + Duration::from_secs(WHEN);
    for (n, ino) in [("gone", gone.ino), ("over", over.ino)] {
        let r = fs.do_setattr(INodeNo(ino), set(None, Some(when)));
        assert_eq!(r.map(drop), Err(NixErrno::ENOENT), "{n}");
    }
    assert_eq!(names(&d.upper.join("a")), ["gone", "over"]);
    assert!(whiteout_at(&d.upper.join("a/gone")));
    assert!(std::fs::metadata(d.upper.join("a/over")).unwrap().is_dir());
}
