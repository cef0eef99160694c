//! Installed packages as an image's package database lists them, and what
//! changed between two lists: apk's `/lib/apk/db/installed` and dpkg's
//! `/var/lib/dpkg/status`, and rpm's databases (sqlite, Berkeley DB and
//! ndb, read by `rpmdb`).
//!
//! A package is keyed by name and, for rpm, architecture (multilib keeps
//! `glibc.i686` beside `glibc.x86_64`), and each key lists every version
//! installed (several kernels at once): nothing a database lists is
//! dropped.
//!
//! The files come from images and environments, so they are hostile: the
//! caller bounds their size (see `snapshot::changes::CONTENT_LIMIT`), and
//! parsing keeps only names and versions of bounded length and ignores
//! lines it does not know; the text formats never fail, an unreadable rpm
//! database is an error naming it, which callers turn into "not listed".

use super::rpmdb::{self, Unreadable};
use std::collections::{BTreeMap, BTreeSet};

/// apk's database of installed packages.
pub const APK_DB: &str = "lib/apk/db/installed";
/// dpkg's database of package states.
pub const DPKG_DB: &str = "var/lib/dpkg/status";
/// rpm's databases, in the order rpm prefers them (sqlite, ndb, Berkeley
/// DB), each in the old and the new place (Fedora 36 and later make
/// /var/lib/rpm a link to the second).
const RPM_DBS: [&str; 6] = [
    "var/lib/rpm/rpmdb.sqlite",
    "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages.db",
    "var/lib/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages",
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

    /// What joins a package's architecture to its name where several
    /// architectures of one name are installed: `glibc.i686` for rpm and
    /// dnf, `libc6:i386` for dpkg and apt (multiarch).
    pub fn arch_separator(self) -> char {
        match self {
            Manager::Dpkg => ':',
            Manager::Apk | Manager::Rpm => '.',
        }
    }

    /// The paths its database may have, the one used first.
    pub fn dbs(self) -> &'static [&'static str] {
        match self {
            Manager::Apk => &[APK_DB],
            Manager::Dpkg => &[DPKG_DB],
            Manager::Rpm => &RPM_DBS,
        }
    }
}

/// What tells packages apart: the name and, for rpm and dpkg, the
/// architecture (empty for apk, and for rpm's signing keys, which have
/// none).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub name: String,
    pub arch: String,
}

/// Each package → every version of it installed.
pub type Installed = BTreeMap<Key, BTreeSet<String>>;

/// Parse the database file of `m` at `path` (relative to the image's
/// root). Only rpm's can be unreadable; the text formats never fail.
pub fn parse(m: Manager, path: &str, db: &[u8]) -> Result<Installed, Unreadable> {
    match m {
        Manager::Apk => Ok(parse_apk(&String::from_utf8_lossy(db))),
        Manager::Dpkg => Ok(parse_dpkg(&String::from_utf8_lossy(db))),
        Manager::Rpm => {
            let mut out = Installed::new();
            for h in rpm_headers(path, db)? {
                keep(&mut out, &h.name, &h.arch, &h.evr());
            }
            Ok(out)
        }
    }
}

/// The headers of the rpm database at `path`, in the format its name says.
fn rpm_headers(path: &str, db: &[u8]) -> Result<Vec<rpmdb::Header>, Unreadable> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let format = rpmdb::Format::of(name).unwrap_or(rpmdb::Format::Sqlite);
    rpmdb::read(format, db).map_err(|error| Unreadable {
        path: path.to_string(),
        error,
    })
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
            keep(&mut out, n, "", v);
        }
    }
    out
}

/// dpkg: RFC 822-like paragraphs; only packages whose `Status` ends in
/// `installed` count (removed ones keep a paragraph with their config files).
/// Multiarch installs one name once per architecture (`libc6:amd64` and
/// `libc6:i386`), each its own paragraph.
fn parse_dpkg(text: &str) -> Installed {
    let mut out = Installed::new();
    for para in text.split("\n\n") {
        let (mut name, mut version, mut installed, mut arch) = (None, None, false, "");
        for line in para.lines() {
            if let Some(v) = line.strip_prefix("Package:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Version:") {
                version = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("Status:") {
                installed = v.trim().ends_with(" installed");
            } else if let Some(v) = line.strip_prefix("Architecture:") {
                arch = v.trim();
            }
        }
        if let (Some(n), Some(v), true) = (name, version, installed) {
            keep(&mut out, n, arch, v);
        }
    }
    out
}

fn keep(out: &mut Installed, name: &str, arch: &str, version: &str) {
    let printable = |s: &str| {
        !s.is_empty() && s.len() <= FIELD_LIMIT && s.chars().all(|c| c.is_ascii_graphic())
    };
    if printable(name) && printable(version) && (arch.is_empty() || printable(arch)) {
        out.entry(Key {
            name: name.to_string(),
            arch: arch.to_string(),
        })
        .or_default()
        .insert(version.to_string());
    }
}

/// The paths (relative, no leading `/`) the packages of `m` own, given the
/// database and, for dpkg, the contents of `var/lib/dpkg/info/*.list`
/// (by path). `names` limits it to those packages.
pub fn owned(
    m: Manager,
    path: &str,
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
            for h in rpm_headers(path, db).unwrap_or_default() {
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
pub struct Change {
    pub key: Key,
    /// Whether the architecture is part of the name people see: when the
    /// name has several on either side (multilib, multiarch).
    pub show_arch: bool,
    /// What joins them then (`Manager::arch_separator`).
    pub separator: char,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum What {
    Added(String),
    /// A version gone; `last` when no version of the package is left.
    Removed {
        version: String,
        last: bool,
    },
    /// Another version (up or down: versions are not compared), said only
    /// when each side has one.
    Upgraded {
        from: String,
        to: String,
    },
}

impl Change {
    /// The name as the package manager writes it: `NAME`, or `NAME.ARCH`
    /// (rpm) or `NAME:ARCH` (dpkg) when the architecture tells it apart.
    pub fn name(&self) -> String {
        if self.show_arch {
            format!("{}{}{}", self.key.name, self.separator, self.key.arch)
        } else {
            self.key.name.clone()
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = self.name();
        match &self.what {
            What::Added(v) => write!(f, "+ {name} {v}"),
            What::Removed { version, .. } => write!(f, "- {name} {version}"),
            What::Upgraded { from, to } => write!(f, "~ {name} {from} -> {to}"),
        }
    }
}

/// What changed from `a` (packages of `m`) to `b`, by package name: one version each side
/// that differs is an upgrade; otherwise every version only in `a` is
/// removed and every one only in `b` added. A name with one architecture
/// on each side is one package even when the architecture changed (a
/// later version built noarch); one with several is compared
/// architecture by architecture, and named NAME.ARCH.
pub fn diff(m: Manager, a: &Installed, b: &Installed) -> Vec<Change> {
    let mut by_name: BTreeMap<&str, (Vec<&Key>, Vec<&Key>)> = BTreeMap::new();
    for k in a.keys() {
        by_name.entry(&k.name).or_default().0.push(k);
    }
    for k in b.keys() {
        by_name.entry(&k.name).or_default().1.push(k);
    }
    let none = BTreeSet::new();
    let mut out = Vec::new();
    for (ka, kb) in by_name.values() {
        if let (0 | 1, 0 | 1) = (ka.len(), kb.len()) {
            let (va, vb) = (
                ka.first().map_or(&none, |k| &a[*k]),
                kb.first().map_or(&none, |k| &b[*k]),
            );
            if let Some(key) = kb.first().or(ka.first()) {
                changes(&mut out, key, None, va, vb);
            }
            continue;
        }
        let keys: BTreeSet<&Key> = ka.iter().chain(kb).copied().collect();
        for key in keys {
            let (va, vb) = (a.get(key).unwrap_or(&none), b.get(key).unwrap_or(&none));
            changes(&mut out, key, Some(m.arch_separator()), va, vb);
        }
    }
    out
}

/// The changes of one package from versions `va` to `vb`; `arch` joins
/// its architecture to its name when that is part of what people see.
fn changes(
    out: &mut Vec<Change>,
    key: &Key,
    arch: Option<char>,
    va: &BTreeSet<String>,
    vb: &BTreeSet<String>,
) {
    let change = |what| Change {
        key: key.clone(),
        show_arch: arch.is_some(),
        separator: arch.unwrap_or('.'),
        what,
    };
    let gone: Vec<&String> = va.difference(vb).collect();
    let new: Vec<&String> = vb.difference(va).collect();
    if let ([from], [to], 1, 1) = (&gone[..], &new[..], va.len(), vb.len()) {
        out.push(change(What::Upgraded {
            from: (*from).clone(),
            to: (*to).clone(),
        }));
        return;
    }
    for v in gone {
        out.push(change(What::Removed {
            version: v.clone(),
            last: vb.is_empty(),
        }));
    }
    for v in new {
        out.push(change(What::Added(v.clone())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `NAME[.ARCH] VERSION` for each version listed.
    fn flat(i: &Installed) -> Vec<String> {
        i.iter()
            .flat_map(|(k, vs)| {
                vs.iter().map(move |v| match k.arch.as_str() {
                    "" => format!("{} {v}", k.name),
                    a => format!("{}.{a} {v}", k.name),
                })
            })
            .collect()
    }

    #[test]
    fn apk_records() {
        let db =
            b"C:Q1abc=\nP:musl\nV:1.2.5-r0\nA:x86_64\n\nP:busybox\nV:1.36.1-r29\n\nP:broken\n\n";
        let got = parse(Manager::Apk, APK_DB, db).unwrap();
        assert_eq!(flat(&got), ["busybox 1.36.1-r29", "musl 1.2.5-r0"]);
    }

    #[test]
    fn dpkg_paragraphs_count_installed_only() {
        let db = "Package: bash\nStatus: install ok installed\nVersion: 5.2.15-2+b2\n\
                  Description: shell\n multi line\n\n\
                  Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
                  Package: odd name\nStatus: install ok installed\nVersion: 1\n";
        let got = parse(Manager::Dpkg, DPKG_DB, db.as_bytes()).unwrap();
        assert_eq!(flat(&got), ["bash 5.2.15-2+b2"]);
    }

    #[test]
    fn hostile_bytes_are_skipped_not_fatal() {
        let mut db = b"P:\xff\xfe\nV:1\n\nP:ok\nV:2\n\n".to_vec();
        db.extend(format!("P:{}\nV:1\n", "x".repeat(FIELD_LIMIT + 1)).as_bytes());
        let got = parse(Manager::Apk, APK_DB, &db).unwrap();
        assert_eq!(flat(&got), ["ok 2"]);
    }

    #[test]
    fn owned_files() {
        let apk = b"P:a\nV:1\nF:usr/bin\nR:a\nR:a2\nF:etc\nR:a.conf\n\nP:b\nV:1\nF:usr/bin\nR:b\n";
        let got = owned(Manager::Apk, APK_DB, apk, &BTreeMap::new(), &["a"]);
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
        let got = owned(Manager::Dpkg, DPKG_DB, b"", &lists, &["hello", "libc6"]);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            ["lib/libc.so.6", "usr", "usr/bin/hello"]
        );
    }

    #[test]
    fn an_unreadable_rpm_database_is_named() {
        let e = parse(Manager::Rpm, "var/lib/rpm/Packages", b"junk").unwrap_err();
        let line = crate::chain::line(&e);
        assert!(
            line.starts_with("cannot read the rpm database /var/lib/rpm/Packages: ")
                && line.contains("Berkeley DB"),
            "{line}"
        );
        let e = parse(Manager::Rpm, "usr/lib/sysimage/rpm/Packages.db", b"junk").unwrap_err();
        assert!(crate::chain::line(&e).contains("ndb"));
    }

    /// A list of `(name, arch, version)`.
    fn list(pkgs: &[(&str, &str, &str)]) -> Installed {
        let mut out = Installed::new();
        for (n, a, v) in pkgs {
            keep(&mut out, n, a, v);
        }
        out
    }

    fn lines(a: &Installed, b: &Installed) -> Vec<String> {
        diff(Manager::Rpm, a, b)
            .iter()
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn changes_between_lists() {
        let a = list(&[("a", "", "1"), ("b", "", "1"), ("c", "", "1")]);
        let b = list(&[("b", "", "2"), ("c", "", "1"), ("d", "", "1")]);
        assert_eq!(lines(&a, &b), ["- a 1", "~ b 1 -> 2", "+ d 1"]);
    }

    #[test]
    fn several_versions_and_architectures_of_one_name() {
        // Two kernels, then a third and the oldest removed; glibc for two
        // architectures (multilib), one of them upgraded.
        let a = list(&[
            ("kernel", "x86_64", "5.14-1"),
            ("kernel", "x86_64", "5.14-2"),
            ("glibc", "x86_64", "2.34-1"),
            ("glibc", "i686", "2.34-1"),
            ("bash", "x86_64", "5.1-1"),
        ]);
        let b = list(&[
            ("kernel", "x86_64", "5.14-2"),
            ("kernel", "x86_64", "5.14-3"),
            ("glibc", "x86_64", "2.34-2"),
            ("glibc", "i686", "2.34-1"),
            ("bash", "x86_64", "5.1-1"),
        ]);
        assert_eq!(
            flat(&a),
            [
                "bash.x86_64 5.1-1",
                "glibc.i686 2.34-1",
                "glibc.x86_64 2.34-1",
                "kernel.x86_64 5.14-1",
                "kernel.x86_64 5.14-2"
            ]
        );
        assert_eq!(
            lines(&a, &b),
            [
                "~ glibc.x86_64 2.34-1 -> 2.34-2",
                "- kernel 5.14-1",
                "+ kernel 5.14-3"
            ]
        );
        let d = diff(Manager::Rpm, &a, &b);
        assert!(matches!(d[1].what, What::Removed { last: false, .. }));
        // The i686 glibc removed: its arch is still named, and it was the
        // last of its key.
        let c = list(&[("glibc", "x86_64", "2.34-1")]);
        assert_eq!(
            lines(
                &list(&[("glibc", "x86_64", "2.34-1"), ("glibc", "i686", "2.34-1")]),
                &c
            ),
            ["- glibc.i686 2.34-1"]
        );
        assert!(matches!(
            diff(Manager::Rpm, &a, &c)[0].what,
            What::Removed { last: true, .. }
        ));
        // One architecture each side, but another one: still one package.
        let x = list(&[("tzdata", "x86_64", "2023a-1")]);
        let y = list(&[("tzdata", "noarch", "2024a-1")]);
        assert_eq!(lines(&x, &y), ["~ tzdata 2023a-1 -> 2024a-1"]);
        assert_eq!(diff(Manager::Rpm, &x, &y)[0].key.arch, "noarch");
    }

    #[test]
    fn dpkg_multiarch_names_each_architecture() {
        let db = |i386: &str| {
            format!(
                "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n\
                 Version: 2.36-9\n\n\
                 Package: libc6\nStatus: install ok installed\nArchitecture: i386\n\
                 Version: {i386}\n\n\
                 Package: bash\nStatus: install ok installed\nArchitecture: amd64\n\
                 Version: 5.2\n"
            )
        };
        let a = parse(Manager::Dpkg, DPKG_DB, db("2.36-8").as_bytes()).unwrap();
        let b = parse(Manager::Dpkg, DPKG_DB, db("2.36-9").as_bytes()).unwrap();
        assert_eq!(
            flat(&a),
            ["bash.amd64 5.2", "libc6.amd64 2.36-9", "libc6.i386 2.36-8"]
        );
        let d = diff(Manager::Dpkg, &a, &b);
        let lines: Vec<String> = d.iter().map(|c| c.to_string()).collect();
        assert_eq!(lines, ["~ libc6:i386 2.36-8 -> 2.36-9"]);
        // One architecture: the plain name, as before.
        let only = parse(
            Manager::Dpkg,
            DPKG_DB,
            b"Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.3\n",
        )
        .unwrap();
        let lines: Vec<String> = diff(Manager::Dpkg, &a, &only)
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            lines,
            [
                "~ bash 5.2 -> 5.3",
                "- libc6:amd64 2.36-9",
                "- libc6:i386 2.36-8"
            ]
        );
    }
}
