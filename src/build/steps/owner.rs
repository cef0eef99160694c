//! `--chown` and `--chmod` values of COPY and ADD: `user[:group]` as names
//! or numbers, names looked up in the image's own /etc/passwd and
//! /etc/group (never the host's), and octal modes.
//!
//! It only interprets the values; it reads files through [`ImageFs`].

use crate::build::error::StepError;
use crate::build::imagefs::ImageFs;

/// Files the owner lookup needs kept when an image tree is loaded.
pub fn wanted(path: &str) -> bool {
    path == "etc/passwd" || path == "etc/group"
}

fn lookup(fs: &ImageFs, file: &str, name: &str) -> Option<(u32, Option<u32>)> {
    let text = String::from_utf8_lossy(fs.read(file)?).into_owned();
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.first() != Some(&name) || f.len() < 3 {
            return None;
        }
        let id = f[2].parse().ok()?;
        Some((id, f.get(3).and_then(|g| g.parse().ok())))
    })
}

/// Resolve `user[:group]` against the image: a number is used as is; a
/// name must exist. A user without a group gets the user's primary group
/// (or, for a number without a passwd entry, the same number), as Docker.
pub fn resolve_chown(spec: &str, fs: &ImageFs) -> Result<(u32, u32), StepError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() {
        return Err(StepError::ChownNoUser(spec.into()));
    }
    let (uid, primary) = match user.parse::<u32>() {
        Ok(n) => {
            let primary = fs_primary(fs, n);
            (n, primary.or(Some(n)))
        }
        Err(_) => lookup(fs, "/etc/passwd", user).ok_or_else(|| StepError::ChownUser {
            spec: spec.into(),
            user: user.into(),
        })?,
    };
    let gid = match group {
        None => primary.unwrap_or(uid),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => {
                lookup(fs, "/etc/group", g)
                    .ok_or_else(|| StepError::ChownGroup {
                        spec: spec.into(),
                        group: g.into(),
                    })?
                    .0
            }
        },
    };
    Ok((uid, gid))
}

fn fs_primary(fs: &ImageFs, uid: u32) -> Option<u32> {
    let text = String::from_utf8_lossy(fs.read("/etc/passwd")?).into_owned();
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[3].parse().ok())?
    })
}

/// An octal `--chmod` value (`644`, `0755`, up to `7777`).
pub fn parse_chmod(spec: &str) -> Result<u32, StepError> {
    u32::from_str_radix(spec, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !spec.is_empty())
        .ok_or_else(|| StepError::Chmod(spec.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::imagefs::{FsKind, FsNode};

    fn fs() -> ImageFs {
        let mut fs = ImageFs::default();
        let file = |data: &str| FsNode {
            kind: FsKind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            data: Some(data.as_bytes().to_vec()),
            layer: 0,
        };
        fs.nodes.insert(
            "etc/passwd".into(),
            file("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"),
        );
        fs.nodes
            .insert("etc/group".into(), file("root:x:0:\nstaff:x:50:\n"));
        fs
    }

    #[test]
    fn names_numbers_and_primary_groups() {
        let fs = fs();
        assert_eq!(resolve_chown("app", &fs).unwrap(), (1000, 1001));
        assert_eq!(resolve_chown("app:staff", &fs).unwrap(), (1000, 50));
        assert_eq!(resolve_chown("1000", &fs).unwrap(), (1000, 1001));
        assert_eq!(resolve_chown("77", &fs).unwrap(), (77, 77));
        assert_eq!(resolve_chown("7:8", &fs).unwrap(), (7, 8));
        assert!(resolve_chown("nobody", &fs)
            .unwrap_err()
            .to_string()
            .contains("no user 'nobody'"));
        assert!(resolve_chown("app:nogroup", &fs)
            .unwrap_err()
            .to_string()
            .contains("no group"));
        assert_eq!(parse_chmod("0755").unwrap(), 0o755);
        assert!(parse_chmod("u+x").is_err());
    }
}
