//! Installed packages as an image's package database lists them, and what
//! changed between two lists: apk's `/lib/apk/db/installed` and dpkg's
//! `/var/lib/dpkg/status`, and rpm's `rpmdb.sqlite` (read by `rpmdb`;
//! rpm's older Berkeley DB and ndb formats are not read, callers say so).
//!
//! The files come from images and environments, so they are hostile: the
//! caller bounds their size (see `snapshot::changes::CONTENT_LIMIT`), and
//! parsing keeps only names and versions of bounded length and ignores
//! lines it does not know; the text formats never fail, an unreadable rpm
//! database is an error the callers turn into "not listed".

use super::rpmdb;
use std::collections::BTreeMap;

/// apk's database of installed packages.
pub const APK_DB: &str = "lib/apk/db/installed";
/// dpkg's database of package states.
pub const DPKG_DB: &str = "var/lib/dpkg/status";
/// Where an rpm database lives (old and new places).
pub const RPM_DBS: [&str; 2] = ["var/lib/rpm", "usr/lib/sysimage/rpm"];
/// rpm's sqlite database in each of those places (Fedora 36 and later
/// make /var/lib/rpm a link to the second).
const RPM_SQLITE: [&str; 2] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
];

/// Longest package name or version kept; longer entries are skipped.
const FIELD_LIMIT: usize = 256;

/// Which package manager a database belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Manager {
    Apk,
    Dpkg,
    Rpm,
}

impl Manager {
    pub const ALL: [Manager; 3] = [Manager::Apk, Manager::Dpkg, Manager::Rpm];

    pub fn name(self) -> &'static str {
        match self {
            Manager::Apk => "apk",
            Manager::Dpkg => "dpkg",
            Manager::Rpm => "rpm",
        }
    }

    /// The paths its database may have, the one used first.
    pub fn dbs(self) -> &'static [&'static str] {
        match self {
            Manager::Apk => &[APK_DB],
            Manager::Dpkg => &[DPKG_DB],
            Manager::Rpm => &RPM_SQLITE,
        }
    }
}

/// Package name → version.
pub type Installed = BTreeMap<String, String>;

/// Parse a database file of `m`. Only rpm's can be unreadable (not an
/// sqlite database, no `Packages` table); the text formats never fail.
pub fn parse(m: Manager, db: &[u8]) -> Result<Installed, rpmdb::RpmDbError> {
    match m {
        Manager::Apk => Ok(parse_apk(&String::from_utf8_lossy(db))),
        Manager::Dpkg => Ok(parse_dpkg(&String::from_utf8_lossy(db))),
        Manager::Rpm => {
            let mut out = Installed::new();
            // Several versions of one name (kernels, multilib): the one
            // installed last is kept.
            for h in rpmdb::read_sqlite(db)? {
                keep(&mut out, &h.name, &h.evr());
            }
            Ok(out)
        }
    }
}

/// apk: blank-line separated records of `X:value` lines; `P` is the name,
/// `V` the version.
fn parse_apk(text: &str) -> Installed {
    let mut out = Installed::new();
    for record in text.split("\n\n") {
        let (mut name, mut version) = (None, None);
        for line in record.lines() {
            if let Some(v) = line.strip_prefix("P:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("V:") {
                version = Some(v.trim());
            }
        }
        if let (Some(n), Some(v)) = (name, version) {
            keep(&mut out, n, v);
        }
    }
    out
}

/// dpkg: RFC 822-like paragraphs; only packages whose `Status` ends in
/// `installed` count (removed ones keep a paragraph with their config files).
fn parse_dpkg(text: &str) -> Installed {
    let mut out = Installed::new();
    for para in text.split("\n\n") {
        let (mut name, mut version, mut installed) = (None, None, false);
        for line in para.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.trim().ends_with(" installed");
            }
        }
        if let (Some(n), Some(v), true) = (name, version, installed) {
            keep(&mut out, n, v);
        }
    }
    out
}

fn keep(out: &mut Installed, name: &str, version: &str) {
    let printable = |s: &str| {
        !s.is_empty() && s.len() <= FIELD_LIMIT && s.chars().all(|c| c.is_ascii_graphic())
    };
    if printable(name) && printable(version) {
        out.insert(name.to_string(), version.to_string());
    }
}

/// The paths (relative, no leading `/`) the packages of `m` own, given the
/// database and, for dpkg, the contents of `var/lib/dpkg/info/*.list`
/// (by path). `names` limits it to those packages.
pub fn owned(
    m: Manager,
    db: &[u8],
    lists: &BTreeMap<String, Vec<u8>>,
    names: &[&str],
) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    match m {
        // apk: `F:` names a directory, each `R:` after it a file in it.
        Manager::Apk => {
            for record in String::from_utf8_lossy(db).split("\n\n") {
                let mine = record
                    .lines()
                    .find_map(|l| l.strip_prefix("P:"))
                    .is_some_and(|n| names.contains(&n.trim()));
                if !mine {
                    continue;
                }
                let mut dir = String::new();
                for line in record.lines() {
                    if let Some(d) = line.strip_prefix("F:") {
                        dir = d.trim_matches('/').to_string();
                        out.insert(dir.clone());
                    } else if let Some(f) = line.strip_prefix("R:") {
                        out.insert(if dir.is_empty() {
                            f.to_string()
                        } else {
                            format!("{dir}/{f}")
                        });
                    }
                }
            }
        }
        // rpm: each header lists its files.
        Manager::Rpm => {
            for h in rpmdb::read_sqlite(db).unwrap_or_default() {
                if names.contains(&h.name.as_str()) {
                    out.extend(
                        h.files
                            .iter()
                            .map(|f| f.trim_matches('/').to_string())
                            .filter(|f| !f.is_empty()),
                    );
                }
            }
        }
        // dpkg: one absolute path a line in info/<name>[:<arch>].list.
        Manager::Dpkg => {
            for (path, text) in lists {
                let Some(file) = path
                    .strip_prefix(DPKG_INFO)
                    .and_then(|f| f.strip_suffix(".list"))
                else {
                    continue;
                };
                let name = file.split(':').next().unwrap_or(file);
                if !names.contains(&name) {
                    continue;
                }
                for line in String::from_utf8_lossy(text).lines() {
                    let p = line.trim_matches('/');
                    if !p.is_empty() && p != "." {
                        out.insert(p.to_string());
                    }
                }
            }
        }
    }
    out
}

/// Where dpkg lists each package's files.
pub const DPKG_INFO: &str = "var/lib/dpkg/info/";

/// One package's change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Added {
        name: String,
        version: String,
    },
    Removed {
        name: String,
        version: String,
    },
    /// Another version (up or down: versions are not compared).
    Upgraded {
        name: String,
        from: String,
        to: String,
    },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added { name, version } => write!(f, "+ {name} {version}"),
            Change::Removed { name, version } => write!(f, "- {name} {version}"),
            Change::Upgraded { name, from, to } => write!(f, "~ {name} {from} -> {to}"),
        }
    }
}

/// What changed from `a` to `b`, by package name.
pub fn diff(a: &Installed, b: &Installed) -> Vec<Change> {
    let mut out = Vec::new();
    for (name, version) in a {
        match b.get(name) {
            None => out.push(Change::Removed {
                name: name.clone(),
                version: version.clone(),
            }),
            Some(to) if to != version => out.push(Change::Upgraded {
                name: name.clone(),
                from: version.clone(),
                to: to.clone(),
            }),
            Some(_) => {}
        }
    }
    for (name, version) in b {
        if !a.contains_key(name) {
            out.push(Change::Added {
                name: name.clone(),
                version: version.clone(),
            });
        }
    }
    out.sort_by(|x, y| key(x).cmp(key(y)));
    out
}

fn key(c: &Change) -> &str {
    match c {
        Change::Added { name, .. }
        | Change::Removed { name, .. }
        | Change::Upgraded { name, .. } => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apk_records() {
        let db =
            b"C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\n\nP:broken\n\n";
        let got = parse(Manager::Apk, db).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got["musl"], "1.2.5-r0");
        assert_eq!(got["busybox"], "1.36.1-r29");
    }

    #[test]
    fn dpkg_paragraphs_count_installed_only() {
        let db = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\
                  Description: shell\n multi line\n\n\
                  Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
                  Package: odd name\nStatus: install ok installed\nVersion: 1\n";
        let got = parse(Manager::Dpkg, db.as_bytes()).unwrap();
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            [("bash".to_string(), "5.2.15-2+b2".to_string())]
        );
    }

    #[test]
    fn hostile_bytes_are_skipped_not_fatal() {
        let mut db = b"P:\xff\xfe\nV:1\n\nP:ok\nV:2\n\n".to_vec();
        db.extend(format!("P:{}\nV:1\n", "x".repeat(FIELD_LIMIT + 1)).as_bytes());
        let got = parse(Manager::Apk, &db).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["ok"]);
    }

    #[test]
    fn owned_files() {
        let apk = b"P:a\nV:1\nF:usr/bin\nR:a\nR:a2\nF:etc\nR:a.conf\n\nP:b\nV:1\nF:usr/bin\nR:b\n";
        let got = owned(Manager::Apk, apk, &BTreeMap::new(), &["a"]);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            ["etc", "etc/a.conf", "usr/bin", "usr/bin/a", "usr/bin/a2"]
        );
        let lists: BTreeMap<String, Vec<u8>> = [
            (
                "var/lib/dpkg/info/hello.list",
                &b"/.\n/usr\n/usr/bin/hello\n"[..],
            ),
            ("var/lib/dpkg/info/libc6:amd64.list", b"/lib/libc.so.6\n"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
        let got = owned(Manager::Dpkg, b"", &lists, &["hello", "libc6"]);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            ["lib/libc.so.6", "usr", "usr/bin/hello"]
        );
    }

    #[test]
    fn changes_between_lists() {
        let a: Installed = [("a", "1"), ("b", "1"), ("c", "1")]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let b: Installed = [("b", "2"), ("c", "1"), ("d", "1")]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        let lines: Vec<String> = diff(&a, &b).iter().map(|c| c.to_string()).collect();
        assert_eq!(lines, ["- a 1", "~ b 1 -> 2", "+ d 1"]);
    }
}
