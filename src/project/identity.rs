//! Who enters an environment: the caller's user name, uid, primary group,
//! home and shell on the host, and the /etc/passwd and /etc/group files
//! the environment sees, which are the image's own with an entry for the
//! caller put in (podman's keep-id and toolbox do the same).
//!
//! The image's files are read from its layer tars, bounded in size, never
//! through links; a hostile image can only make its own entries odd.

use super::Error;
use crate::layer::codec;
use crate::layer::whiteout::{classify, OciName};
use crate::store::{Image, Store};
use std::io::Read;
use std::path::PathBuf;

/// The largest /etc/passwd or /etc/group read from an image.
const MAX_ETC_FILE: u64 = 1 << 20;

/// The caller, as the host knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub group: String,
    /// `$HOME` when absolute, else the passwd entry's home.
    pub home: PathBuf,
}

impl Caller {
    pub fn detect() -> Caller {
        use nix::unistd::{getgid, getuid, Group, User};
        let uid = getuid().as_raw();
        let gid = getgid().as_raw();
        let pw = User::from_uid(getuid()).ok().flatten();
        let name = pw
            .as_ref()
            .map(|u| u.name.clone())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| format!("user{uid}"));
        let group = Group::from_gid(getgid())
            .ok()
            .flatten()
            .map_or_else(|| name.clone(), |g| g.name);
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|h| h.is_absolute())
            .or_else(|| pw.map(|u| u.dir))
            .unwrap_or_else(|| PathBuf::from("/"));
        Caller {
            name,
            uid,
            gid,
            group,
            home,
        }
    }
}

/// The image's /etc/passwd and /etc/group (empty when it has none).
pub fn image_files(store: &Store, image: &Image) -> Result<(String, String), Error> {
    let mut files = [String::new(), String::new()];
    const NAMES: [&str; 2] = ["etc/passwd", "etc/group"];
    for (n, desc) in image.manifest.layers().iter().enumerate() {
        let bad = |e: Box<dyn std::error::Error + Send + Sync>| Error::Layer {
            n: n + 1,
            image: image.short_id().to_string(),
            source: e,
        };
        let file = fs_err::File::open(store.blob_path(desc.digest()))?;
        let (_, tar) = codec::decompressed(file).map_err(|e| bad(e.into()))?;
        let mut ar = tar::Archive::new(tar);
        for e in ar.entries().map_err(|e| bad(e.into()))? {
            let mut e = e.map_err(|e| bad(e.into()))?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let path = raw.trim_start_matches("./").trim_start_matches('/');
            let (parent, base) = path.rsplit_once('/').unwrap_or(("", path));
            match classify(base.as_bytes()) {
                OciName::Whiteout(victim) => {
                    let victim = format!("{parent}/{}", String::from_utf8_lossy(victim));
                    let victim = victim.trim_start_matches('/');
                    for (i, name) in NAMES.iter().enumerate() {
                        if *name == victim || (victim == "etc") {
                            files[i].clear();
                        }
                    }
                    continue;
                }
                OciName::Opaque if parent == "etc" => {
                    files = [String::new(), String::new()];
                    continue;
                }
                OciName::Plain => {}
                _ => continue,
            }
            let Some(i) = NAMES.iter().position(|n| *n == path.trim_end_matches('/')) else {
                continue;
            };
            files[i].clear();
            // Links and devices at these paths read as absent.
            if e.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            if e.size() > MAX_ETC_FILE {
                return Err(Error::EtcTooLarge {
                    n: n + 1,
                    image: image.short_id().to_string(),
                    path: path.to_string(),
                    max: MAX_ETC_FILE,
                });
            }
            let mut buf = Vec::new();
            (&mut e)
                .take(MAX_ETC_FILE)
                .read_to_end(&mut buf)
                .map_err(|e| bad(e.into()))?;
            files[i] = String::from_utf8_lossy(&buf).into_owned();
        }
    }
    let [passwd, group] = files;
    Ok((passwd, group))
}

/// The image's passwd with the caller's entry (home and shell as given)
/// in place of any entry with the same name or uid.
pub fn passwd(image: &str, c: &Caller, shell: &str) -> String {
    let mut out: String = image
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(':').collect();
            f.len() < 3 || (f[0] != c.name && f[2] != c.uid.to_string())
        })
        .map(|l| format!("{l}\n"))
        .collect();
    if !image.lines().any(|l| l.starts_with("root:")) && c.uid != 0 {
        out.insert_str(0, "root:x:0:0:root:/root:/bin/sh\n");
    }
    out.push_str(&format!(
        "{}:x:{}:{}:{}:{}:{shell}\n",
        c.name,
        c.uid,
        c.gid,
        c.name,
        c.home.display()
    ));
    out
}

/// The image's group file with the caller's primary group.
pub fn group(image: &str, c: &Caller) -> String {
    let mut out: String = image
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split(':').collect();
            f.len() < 3 || (f[0] != c.group && f[2] != c.gid.to_string())
        })
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("{}:x:{}:{}\n", c.group, c.gid, c.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Caller {
        Caller {
            name: "ada".into(),
            uid: 1000,
            gid: 1000,
            group: "ada".into(),
            home: "/home/ada".into(),
        }
    }

    #[test]
    fn caller_replaces_clashing_entries() {
        let p = passwd(
            "root:x:0:0:root:/root:/bin/ash\nold:x:1000:1000::/home/old:/bin/sh\nada:x:5:5::/:/bin/false\n",
            &me(),
            "/bin/sh",
        );
        assert_eq!(
            p,
            "root:x:0:0:root:/root:/bin/ash\nada:x:1000:1000:ada:/home/ada:/bin/sh\n"
        );
        let g = group("root:x:0:\nusers:x:1000:\nwheel:x:10:root\n", &me());
        assert_eq!(g, "root:x:0:\nwheel:x:10:root\nada:x:1000:ada\n");
        assert!(passwd("", &me(), "/bin/sh").starts_with("root:x:0:0:"));
    }
}
