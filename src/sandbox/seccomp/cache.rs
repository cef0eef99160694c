//! Compiled filters kept on disk, so that a container's start reads a few
//! kilobytes instead of building the default profile and compiling it
//! (0.2 ms of a start that should cost no more than 0.3 ms for all of its
//! confinement).
//!
//! A file is named by a hash of everything the program depends on: the
//! profile's source (the built-in default or a profile file's text), the
//! fake-root rules, the capability set, the architecture and kernel
//! version, and the hutch binary itself (its device, inode, size and
//! mtime, so that a rebuilt or upgraded hutch never reads another's
//! programs). The directory is the user's own state directory, which no
//! container sees. A missing, unreadable or malformed file is compiled
//! again; a failed write only costs the next start the compile.

use super::{Filters, Host, InstallFlags};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The kernel takes at most this many instructions per program.
const MAX_INSNS: usize = 4096;

/// What a filter is compiled from, for the cache key.
pub struct Key<'a> {
    /// `None` for the built-in default profile, else a profile file's text.
    pub profile: Option<&'a str>,
    pub fake_root: bool,
    pub host: &'a Host,
}

/// The cached programs for `key` under `dir`, or `compile()`'s (then
/// written for the next start).
pub fn load_or_compile<E>(
    dir: &Path,
    key: &Key<'_>,
    compile: impl FnOnce() -> Result<Filters, E>,
) -> Result<Filters, E> {
    let Some(path) = file(dir, key) else {
        return compile();
    };
    if let Some(f) = read(&path).and_then(|b| decode(&b)) {
        return Ok(f);
    }
    let f = compile()?;
    store(&path, &f);
    Ok(f)
}

/// The file's bytes, read into room for the default programs (2 KB) and
/// more: one read and the one that finds the end, where std::fs::read and
/// File::read_to_end first ask the file's size (statx, lseek).
fn read(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut b = vec![0u8; 16 * 1024];
    let mut n = 0;
    loop {
        match f.read(&mut b[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
        if n == b.len() {
            b.resize(n * 2, 0);
        }
    }
    b.truncate(n);
    Some(b)
}

fn file(dir: &Path, key: &Key<'_>) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let exe = std::fs::metadata("/proc/self/exe").ok()?;
    let mut h = Sha256::new();
    h.update(b"hutch-seccomp-v2\0");
    for n in [exe.dev(), exe.ino(), exe.size()] {
        h.update(n.to_le_bytes());
    }
    h.update(exe.mtime().to_le_bytes());
    h.update(exe.mtime_nsec().to_le_bytes());
    match key.profile {
        None => h.update(b"default\0"),
        Some(text) => {
            h.update(b"file\0");
            h.update(text.as_bytes());
        }
    }
    h.update([key.fake_root as u8]);
    h.update(key.host.caps.0.to_le_bytes());
    h.update(key.host.arch.as_bytes());
    h.update(key.host.kernel.0.to_le_bytes());
    h.update(key.host.kernel.1.to_le_bytes());
    let hex = hex::encode(&h.finalize()[..16]);
    Some(dir.join(format!("seccomp-{hex}.bpf")))
}

/// The install flags (required, then if-known: u32 LE each), then programs
/// as: per program, its instruction count (u32 LE), then each
/// instruction's code (u16), jt, jf (u8) and k (u32), little endian.
fn encode(f: &Filters) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&f.flags.required.to_le_bytes());
    out.extend_from_slice(&f.flags.if_known.to_le_bytes());
    for p in &f.programs {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        for i in p {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.extend([i.jt, i.jf]);
            out.extend_from_slice(&i.k.to_le_bytes());
        }
    }
    out
}

fn decode(b: &[u8]) -> Option<Filters> {
    let flag = |at: usize| Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?));
    let flags = InstallFlags {
        required: flag(0)?,
        if_known: flag(4)?,
    };
    let mut b = &b[8..];
    let mut progs = Vec::new();
    while !b.is_empty() {
        let n = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
        if n == 0 || n > MAX_INSNS || progs.len() >= 8 {
            return None;
        }
        let body = b.get(4..4 + n * 8)?;
        let prog = body
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        progs.push(prog);
        b = &b[4 + n * 8..];
    }
    (!progs.is_empty()).then_some(Filters {
        programs: progs,
        flags,
    })
}

fn store(path: &Path, f: &Filters) {
    if f.is_empty() {
        return;
    }
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    // Temp + rename: a concurrent start reads the old file or the new one.
    let tmp = dir.join(format!(".seccomp.{}.tmp", std::process::id()));
    if std::fs::write(&tmp, encode(f)).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::caps::CapSet;

    #[test]
    fn programs_round_trip_and_keys_separate_what_differs() {
        let host = Host::detect(CapSet(0xa80425fb));
        let d = tempfile::tempdir().unwrap();
        let key = Key {
            profile: None,
            fake_root: false,
            host: &host,
        };
        let compile = || super::super::compile(&super::super::default::profile(), &[], &host);
        let first = load_or_compile(d.path(), &key, compile).unwrap();
        let again =
            load_or_compile(d.path(), &key, || Err(String::from("compiled again"))).unwrap();
        assert_eq!(encode(&first), encode(&again));
        // Another capability set, fake root or profile text is another file.
        let other_host = Host::detect(CapSet(0));
        for k in [
            Key {
                profile: None,
                fake_root: true,
                host: &host,
            },
            Key {
                profile: Some("{}"),
                fake_root: false,
                host: &host,
            },
            Key {
                profile: None,
                fake_root: false,
                host: &other_host,
            },
        ] {
            let e = load_or_compile(d.path(), &k, || Err(String::from("miss")));
            assert_eq!(e.unwrap_err(), "miss");
        }
        // A damaged file is compiled again, not installed.
        let path = file(d.path(), &key).unwrap();
        std::fs::write(&path, [1, 0, 0]).unwrap();
        let e = load_or_compile(d.path(), &key, || Err(String::from("recompiled")));
        assert_eq!(e.unwrap_err(), "recompiled");
        assert!(decode(&[0, 0, 0, 0]).is_none());
        let header = [0u8; 8];
        assert!(decode(&[&header[..], &[0, 0, 0, 0]].concat()).is_none());
        assert!(decode(&[&header[..], &5000u32.to_le_bytes()].concat()).is_none());
    }

    #[test]
    fn a_cached_filter_keeps_the_flags_its_profile_names() {
        let host = Host::detect(CapSet(0xa80425fb));
        let mut profile = super::super::default::profile();
        profile.flags = InstallFlags {
            required: crate::sys::seccomp::FLAG_LOG,
            if_known: 0,
        };
        let f = super::super::compile(&profile, &[], &host).unwrap();
        let back = decode(&encode(&f)).unwrap();
        assert_eq!(back.flags, profile.flags);
        assert_eq!(encode(&back), encode(&f));
    }
}
