//! `inputs.bin`: the recorded inputs of an environment's last build in a
//! compact binary form, so that the no-change check of every entry reads
//! one small file and stats each path relative to its open directory,
//! without parsing JSON or allocating per path (a project of 10,000 files
//! made env.json 2 MB).
//!
//! Layout, all integers little-endian:
//! `MAGIC` (8) · version u32 · id [32] (sha256 of the body) · body:
//! dirs u32, then per directory: len u32, absolute path, NUL;
//! entries u32, then per entry: dir u32, len u32, name, NUL, kind u8,
//! size u64, mtime_ns i64, len u32, payload (a file's sha256 in hex, a
//! symlink's target, nothing else).
//!
//! The file is read bounded and checked whole before use (every length,
//! index and name): a damaged or hostile one is `None`, which the caller
//! treats as "changed" and rebuilds from. env.json names the id it goes
//! with, so a file left from another build never passes for this one.

use super::inputs::{Input, Kind};
use crate::sys::fsat::{self, Kind as FsKind};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"HUTCHINP";
const VERSION: u32 = 1;
/// The largest file read (some 1.5 million inputs).
pub const MAX_SIZE: u64 = 256 << 20;

const ABSENT: u8 = 0;
const DIR: u8 = 1;
const FILE: u8 = 2;
const SYMLINK: u8 = 3;

/// `inputs` encoded; with the id env.json records.
pub fn encode(inputs: &[Input]) -> (Vec<u8>, String) {
    let mut dirs: Vec<&Path> = Vec::new();
    let mut index: HashMap<&Path, u32> = HashMap::new();
    let mut entries = Vec::new();
    let mut count = 0u32;
    for i in inputs {
        let (Some(dir), Some(name)) = (i.path.parent(), i.path.file_name()) else {
            continue;
        };
        let d = *index.entry(dir).or_insert_with(|| {
            dirs.push(dir);
            (dirs.len() - 1) as u32
        });
        count += 1;
        entries.extend_from_slice(&d.to_le_bytes());
        put_bytes(&mut entries, name.as_bytes(), true);
        let (kind, payload): (u8, &[u8]) = match &i.kind {
            Kind::Absent => (ABSENT, b""),
            Kind::Dir => (DIR, b""),
            Kind::File { sha256 } => (FILE, sha256.as_bytes()),
            Kind::Symlink { target } => (SYMLINK, target.as_bytes()),
        };
        entries.push(kind);
        entries.extend_from_slice(&i.size.to_le_bytes());
        entries.extend_from_slice(&i.mtime_ns.to_le_bytes());
        put_bytes(&mut entries, payload, false);
    }
    let mut body = Vec::with_capacity(entries.len() + dirs.len() * 64 + 8);
    body.extend_from_slice(&(dirs.len() as u32).to_le_bytes());
    for d in &dirs {
        put_bytes(&mut body, d.as_os_str().as_bytes(), true);
    }
    body.extend_from_slice(&count.to_le_bytes());
    body.extend_from_slice(&entries);
    let id: [u8; 32] = Sha256::digest(&body).into();
    let mut out = Vec::with_capacity(body.len() + 44);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&id);
    out.extend_from_slice(&body);
    (out, hex::encode(id))
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8], nul: bool) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
    if nul {
        out.push(0);
    }
}

/// A bounds-checked reader over the file's bytes.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    /// Bytes with a length before them; with `nul`, a NUL after them and
    /// none inside (returned with the NUL, as a C string).
    fn bytes(&mut self, nul: bool) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        let b = self.take(n + usize::from(nul))?;
        if nul && (b[n] != 0 || b[..n].contains(&0)) {
            return None;
        }
        Some(b)
    }
}

/// One entry as read, borrowing the file's bytes.
struct Entry<'a> {
    dir: usize,
    /// NUL-terminated, no '/'.
    name: &'a CStr,
    kind: u8,
    size: u64,
    mtime_ns: i64,
    payload: &'a [u8],
}

/// The file's directories and entries, checked whole; None when it is
/// not a valid file of this version with id `id`.
fn parse<'a>(bytes: &'a [u8], id: &str) -> Option<(Vec<&'a Path>, Vec<Entry<'a>>)> {
    let mut r = Reader { b: bytes };
    if r.take(8)? != MAGIC || r.u32()? != VERSION {
        return None;
    }
    let stored = r.take(32)?;
    if hex::encode(stored) != id {
        return None;
    }
    let ndirs = r.u32()? as usize;
    // Each directory takes at least 5 bytes: no count claims more.
    if ndirs > r.b.len() / 5 {
        return None;
    }
    let mut dirs = Vec::with_capacity(ndirs);
    for _ in 0..ndirs {
        let b = r.bytes(true)?;
        let p = Path::new(OsStr::from_bytes(&b[..b.len() - 1]));
        if !p.is_absolute() {
            return None;
        }
        dirs.push(p);
    }
    let n = r.u32()? as usize;
    if n > r.b.len() / 30 {
        return None;
    }
    let mut entries = Vec::with_capacity(n);
    for _ in 0..n {
        let dir = r.u32()? as usize;
        let name = CStr::from_bytes_with_nul(r.bytes(true)?).ok()?;
        let nb = name.to_bytes();
        if dir >= ndirs || nb.is_empty() || nb.contains(&b'/') || nb == b"." || nb == b".." {
            return None;
        }
        let kind = r.take(1)?[0];
        if kind > SYMLINK {
            return None;
        }
        let size = r.u64()?;
        let mtime_ns = r.u64()? as i64;
        let payload = r.bytes(false)?;
        entries.push(Entry {
            dir,
            name,
            kind,
            size,
            mtime_ns,
            payload,
        });
    }
    r.b.is_empty().then_some((dirs, entries))
}

/// The inputs in the file `bytes` with id `id`.
pub fn decode(bytes: &[u8], id: &str) -> Option<Vec<Input>> {
    let (dirs, entries) = parse(bytes, id)?;
    entries
        .into_iter()
        .map(|e| {
            let text = || String::from_utf8(e.payload.to_vec()).ok();
            Some(Input {
                path: dirs[e.dir].join(OsStr::from_bytes(e.name.to_bytes())),
                kind: match e.kind {
                    ABSENT => Kind::Absent,
                    DIR => Kind::Dir,
                    FILE => Kind::File { sha256: text()? },
                    _ => Kind::Symlink { target: text()? },
                },
                size: e.size,
                mtime_ns: e.mtime_ns,
            })
        })
        .collect()
}

/// What a stat-only check that found nothing changed saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unchanged {
    /// How many paths were statted.
    pub statted: usize,
    /// Whether a file input has other names (hard links), through which
    /// it can be written from anywhere.
    pub hard_linked: bool,
}

/// The stat-only check of the file `bytes` with id `id`, when every path
/// is as recorded (same kind, size, mtime, link target); None at the first
/// that is not, or for a file that does not check, so that the caller
/// runs the full check (which hashes).
pub fn unchanged(bytes: &[u8], id: &str) -> Option<Unchanged> {
    let (dirs, entries) = parse(bytes, id)?;
    let mut open: Option<(usize, Option<OwnedFd>)> = None;
    let mut hard_linked = false;
    for e in &entries {
        if open.as_ref().map(|(d, _)| *d) != Some(e.dir) {
            open = Some((e.dir, fsat::open_dir(dirs[e.dir]).ok()));
        }
        let fd = open.as_ref().and_then(|(_, fd)| fd.as_ref());
        let st = match fd {
            Some(fd) => fsat::lstat_at(fd.as_fd(), e.name).ok()?,
            // A directory that is gone: only absent entries stay the same.
            None => None,
        };
        let same = match (e.kind, st) {
            (ABSENT, None) => true,
            (_, None) | (ABSENT, Some(_)) => false,
            (kind, Some(st)) => {
                let mtime = st.mtime_sec * 1_000_000_000 + st.mtime_nsec;
                let stamp = st.size == e.size && mtime == e.mtime_ns;
                hard_linked |= kind == FILE && st.nlink > 1;
                match kind {
                    DIR => st.kind == FsKind::Dir && stamp,
                    FILE => st.kind == FsKind::File && stamp,
                    _ => {
                        st.kind == FsKind::Symlink
                            && fsat::readlink_at(fd?.as_fd(), e.name).ok()? == e.payload
                    }
                }
            }
        };
        if !same {
            return None;
        }
    }
    Some(Unchanged {
        statted: entries.len(),
        hard_linked,
    })
}

/// The directories whose listing or entries the inputs in `bytes` (with
/// id `id`) depend on: every directory an input lies in, and every input
/// that is a directory itself (a file made in it changes its listing).
/// Sorted, each once; None for a file that does not check.
pub fn watched(bytes: &[u8], id: &str) -> Option<Vec<PathBuf>> {
    let (dirs, entries) = parse(bytes, id)?;
    let mut out: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    out.extend(
        entries
            .iter()
            .filter(|e| e.kind == DIR)
            .map(|e| dirs[e.dir].join(OsStr::from_bytes(e.name.to_bytes()))),
    );
    out.sort();
    out.dedup();
    Some(out)
}

/// Where the file is in an environment's directory.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("inputs.bin")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::inputs::record;

    #[test]
    fn round_trip_and_stat_check() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("a");
        std::fs::write(&f, "one").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("a", d.path().join("sub/link")).unwrap();
        let inputs: Vec<Input> = ["a", "missing", "sub", "sub/link"]
            .iter()
            .map(|n| record(&d.path().join(n)).unwrap())
            .collect();
        let (bytes, id) = encode(&inputs);
        assert_eq!(decode(&bytes, &id).unwrap(), inputs);
        assert_eq!(unchanged(&bytes, &id).map(|c| c.statted), Some(4));
        assert!(decode(&bytes, "0000").is_none(), "another build's file");
        let top = d.path().to_path_buf();
        assert_eq!(
            watched(&bytes, &id).unwrap(),
            vec![top.clone(), top.join("sub")]
        );

        std::fs::write(&f, "two").unwrap();
        assert_eq!(unchanged(&bytes, &id), None);
        std::fs::write(&f, "one").unwrap();
        std::fs::write(d.path().join("missing"), "").unwrap();
        assert_eq!(unchanged(&bytes, &id), None);
    }

    #[test]
    fn damaged_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let inputs = vec![record(&d.path().join("x")).unwrap()];
        let (bytes, id) = encode(&inputs);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut], &id).is_none(), "cut at {cut}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long, &id).is_none());
        // A name with '/' in it (the id made to match the body).
        let evil = vec![Input {
            path: d.path().join("x"),
            ..inputs[0].clone()
        }];
        let (mut b, _) = encode(&evil);
        // The entry count (1), the entry's directory index (0), its name's
        // length (1), then the name: "x\0" alone may also occur in the
        // random directory name or the id.
        let entry = b"\x01\0\0\0\0\0\0\0\x01\0\0\0x\0";
        let at = b.windows(entry.len()).position(|w| w == entry).unwrap() + 12;
        b[at] = b'/';
        let id: [u8; 32] = Sha256::digest(&b[44..]).into();
        b[12..44].copy_from_slice(&id);
        assert!(decode(&b, &hex::encode(id)).is_none());
    }
}
