//! `env promote`: the changes made by hand in an environment since its last
//! build, turned into Containerfile lines so the next build (and the next
//! person) gets them. Packages installed, upgraded or removed through apk,
//! apt or dnf (from the database diff) become `RUN apk add`/`apk del`,
//! `apt-get install pkg=ver`/`apt-get remove` or `dnf install -y
//! name-ver-rel`/`dnf remove -y` lines (yum, microdnf or zypper when the
//! image has that instead of dnf); other files written by
//! hand are copied into a generated directory in the build context
//! (`.hutch/promote/`) with one `COPY` of it; deleted files become one
//! `RUN rm -rf`. Files the changed packages own, package-manager state and
//! caches, and the mount points hutch made are left out.
//!
//! The result is a patch (printed by the CLI); `apply` appends the lines to
//! the Containerfile (atomically), and the next entry rebuilds from it.
//! When the build's ignore file leaves the generated directory out of the
//! context, the patch also appends an exception (`!.hutch/promote`) to it.
//! Paths come from layer tars: they are checked before anything is written
//! under the generated directory.

use super::discover::Definition;
use super::environment::Environment;
use super::packages::{self, Manager, What, DPKG_INFO};
use super::versions::{is_db, Side};
use super::Error;
use crate::build::ignore;
use crate::snapshot::changes::{between, Contents, Meta};
use std::collections::BTreeSet;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where the copied files go, relative to the build context.
pub const GENERATED: &str = ".hutch/promote";

/// Package-manager state and caches: changed by every install, never
/// worth copying; and the passwd and group hutch writes for the caller.
const NOISE: [&str; 17] = [
    "etc/passwd",
    "etc/group",
    "lib/apk",
    "etc/apk",
    "var/lib/dpkg",
    "var/lib/apt",
    "var/lib/rpm",
    "usr/lib/sysimage/rpm",
    "var/lib/dnf",
    "var/cache",
    "var/log",
    "tmp",
    "var/tmp",
    "run",
    "etc/ld.so.cache",
    "usr/share/info/dir",
    "root/.ash_history",
];

/// What a promotion makes.
#[derive(Debug, Clone)]
pub struct Promotion {
    /// The Containerfile the lines are for.
    pub file: PathBuf,
    /// The lines appended to it.
    pub lines: Vec<String>,
    /// A unified diff adding them.
    pub patch: String,
    /// Files copied under the generated directory (absolute in the image).
    pub copied: Vec<String>,
    pub generated: PathBuf,
}

impl Environment<'_> {
    /// Turn the changes of `version` (default: the environment now) since
    /// the last build into Containerfile lines; with `apply`, append them.
    pub fn promote(&self, version: Option<&str>, apply: bool) -> Result<Promotion, Error> {
        let (file, context) = match self.project.definition()? {
            Definition::Build { file, context, .. } => (file, context),
            Definition::Image(name) => return Err(Error::NotBuilt(name)),
        };
        let store = self.store()?;
        let side = version.map_or(Side::Now, Side::Version);
        let want = |p: &str| is_db(p) || (p.starts_with(DPKG_INFO) && p.ends_with(".list"));
        let base = self.state_of(&store, Side::Base, &want)?;
        let target = self.state_of(&store, side, &want)?;

        let mut lines = Vec::new();
        let mut owned = BTreeSet::new();
        for m in Manager::ALL {
            // An unreadable database gives no lines rather than wrong ones.
            let (Ok(a), Ok(b)) = (base.packages(m), target.packages(m)) else {
                continue;
            };
            if a.is_none() && b.is_none() {
                continue;
            }
            let mut install = Vec::new();
            let mut remove = Vec::new();
            for c in packages::diff(m, &a.unwrap_or_default(), &b.unwrap_or_default()) {
                // Imported signing keys, not packages a tool installs.
                if m == Manager::Rpm && c.key.name == "gpg-pubkey" {
                    continue;
                }
                let arch = c.show_arch.then(|| c.key.arch.clone());
                let name = c.key.name;
                match c.what {
                    What::Added(v) | What::Upgraded { to: v, .. } => install.push(Pkg {
                        name,
                        arch,
                        version: Some(v),
                    }),
                    // Other versions stay (kernels): only this one goes.
                    What::Removed { version, last } => remove.push(Pkg {
                        name,
                        arch,
                        version: (!last).then_some(version),
                    }),
                }
            }
            // The files of what was installed (in the target) and of what
            // was removed (in the base) come with those lines.
            let names = |pkgs: &[Pkg]| pkgs.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
            for (state, names) in [(&target, names(&install)), (&base, names(&remove))] {
                if let Some((path, db)) = state.db(m) {
                    let names: Vec<&str> = names.iter().map(String::as_str).collect();
                    owned.extend(packages::owned(m, path, db, &state.contents, &names));
                }
            }
            lines.extend(package_lines(m, rpm_tool(&target.tree), &install, &remove));
        }

        let mounts = [self.project.root.clone(), self.caller_home()];
        let mut copies = Vec::new();
        let mut deletes = Vec::new();
        for c in between(&base.tree, &target.tree) {
            if owned.contains(&c.path) || noise(&c.path) || mount_stub(&c.path, &mounts) {
                continue;
            }
            match (c.kind, target.tree.get(&c.path)) {
                ('D', _) => deletes.push(c.path),
                (_, Some(meta)) if is_copied(meta) => copies.push(c.path),
                _ => {}
            }
        }
        let generated = context.join(GENERATED);
        let mut unignore = None;
        if !copies.is_empty() {
            unignore = unignored(&context, &file, &copies)?;
            let wanted: BTreeSet<&str> = copies.iter().map(String::as_str).collect();
            let files = self.state_of(&store, side, &|p| wanted.contains(p))?;
            write_generated(&generated, &copies, &target.tree, &files.contents)?;
            lines.push(format!("COPY {GENERATED}/ /"));
        }
        if !deletes.is_empty() {
            let paths: Vec<String> = deletes.iter().map(|p| quote(&format!("/{p}"))).collect();
            lines.push(format!("RUN rm -rf {}", paths.join(" ")));
        }
        if lines.is_empty() {
            return Err(Error::NothingToPromote(version.map(str::to_string)));
        }
        lines.insert(
            0,
            "# promoted from the environment by `hutch env promote`".into(),
        );

        let text = fs_err::read_to_string(&file)?;
        let shown = |f: &Path| {
            f.strip_prefix(&self.project.root)
                .unwrap_or(f)
                .display()
                .to_string()
        };
        let mut unified = patch(&shown(&file), &text, &lines);
        if let Some(u) = &unignore {
            unified.push_str(&patch(&shown(&u.file), &u.text, &u.lines));
        }
        if apply {
            // The ignore file first, so that the Containerfile never
            // copies a directory the context leaves out.
            if let Some(u) = &unignore {
                replace_file(&u.file, appended(&u.text, &u.lines).as_bytes())?;
            }
            replace_file(&file, appended(&text, &lines).as_bytes())?;
        }
        Ok(Promotion {
            file,
            lines,
            patch: unified,
            copied: copies.iter().map(|p| format!("/{p}")).collect(),
            generated,
        })
    }
}

/// Lines to append to the build's ignore file so that it no longer leaves
/// the generated directory out of the context (the COPY would fail).
struct Unignore {
    file: PathBuf,
    text: String,
    lines: Vec<String>,
}

/// What the ignore file of a build from `context` with `containerfile`
/// needs to keep the copied files (`paths` under the generated directory)
/// in the context: nothing, or an exception appended.
fn unignored(
    context: &Path,
    containerfile: &Path,
    paths: &[String],
) -> Result<Option<Unignore>, Error> {
    let Some(file) = ignore::find_ignore_file(context, containerfile) else {
        return Ok(None);
    };
    let text = fs_err::read_to_string(&file)?;
    let m = ignore::IgnoreMatcher::parse(&text).map_err(|source| Error::Ignore {
        path: file.clone(),
        source,
    })?;
    if !paths
        .iter()
        .any(|p| m.excluded(&format!("{GENERATED}/{p}")))
    {
        return Ok(None);
    }
    // It matches every copied path's parent and comes last: it decides.
    let lines = vec![
        "# the files `hutch env promote` copied".to_string(),
        format!("!{GENERATED}"),
    ];
    Ok(Some(Unignore { file, text, lines }))
}

/// `text` with `lines` appended, each ending in a newline.
fn appended(text: &str, lines: &[String]) -> String {
    let mut new = text.to_string();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    for l in lines {
        new.push_str(l);
        new.push('\n');
    }
    new
}

/// The tool that installs rpm packages in an image with `tree`: the first
/// of dnf, yum, microdnf and zypper it has, dnf when none.
fn rpm_tool(tree: &crate::snapshot::changes::Tree) -> &'static str {
    ["dnf", "yum", "microdnf", "zypper"]
        .into_iter()
        .find(|t| tree.contains_key(&format!("usr/bin/{t}")))
        .unwrap_or("dnf")
}

/// A package as a RUN line names it: the architecture when it tells the
/// package apart (multilib), the version when pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pkg {
    name: String,
    arch: Option<String>,
    version: Option<String>,
}

impl Pkg {
    /// dnf, yum and microdnf: `NAME[-[EPOCH:]VERSION-RELEASE][.ARCH]`.
    fn nevra(&self) -> String {
        let mut s = self.name.clone();
        if let Some(v) = &self.version {
            s = format!("{s}-{v}");
        }
        if let Some(a) = &self.arch {
            s = format!("{s}.{a}");
        }
        s
    }

    /// apk and zypper: `NAME[.ARCH][=VERSION]`.
    fn pinned(&self) -> String {
        self.joined('.')
    }

    /// apt: `NAME[:ARCH][=VERSION]` (multiarch).
    fn apt(&self) -> String {
        self.joined(':')
    }

    fn joined(&self, separator: char) -> String {
        let mut s = self.name.clone();
        if let Some(a) = &self.arch {
            s = format!("{s}{separator}{a}");
        }
        if let Some(v) = &self.version {
            s = format!("{s}={v}");
        }
        s
    }
}

/// The RUN lines that install `install` and remove `remove`; rpm
/// packages through `rpm_tool`.
fn package_lines(m: Manager, rpm_tool: &str, install: &[Pkg], remove: &[Pkg]) -> Vec<String> {
    let zypper = rpm_tool == "zypper";
    let named: fn(&Pkg) -> String = match m {
        Manager::Rpm if !zypper => Pkg::nevra,
        Manager::Dpkg => Pkg::apt,
        _ => Pkg::pinned,
    };
    let add = install.iter().map(named).collect::<Vec<_>>().join(" ");
    let del = remove.iter().map(named).collect::<Vec<_>>().join(" ");
    let (add_line, del_line) = match m {
        // zypper wants no questions.
        Manager::Rpm if zypper => (
            format!("RUN zypper --non-interactive install -y {add} && zypper clean --all"),
            format!("RUN zypper --non-interactive remove -y {del}"),
        ),
        Manager::Rpm => (
            format!("RUN {rpm_tool} install -y {add} && {rpm_tool} clean all"),
            format!("RUN {rpm_tool} remove -y {del}"),
        ),
        Manager::Apk => (
            format!("RUN apk add --no-cache {add}"),
            format!("RUN apk del {del}"),
        ),
        Manager::Dpkg => {
            // APT::Sandbox::User=root: apt's download user needs a second
            // uid, which a build without subordinate ids lacks.
            let apt = "apt-get -o APT::Sandbox::User=root";
            (
                format!(
                    "RUN {apt} update && DEBIAN_FRONTEND=noninteractive {apt} install -y \
                     --no-install-recommends {add} && rm -rf /var/lib/apt/lists/*"
                ),
                format!("RUN {apt} remove -y {del}"),
            )
        }
    };
    let mut out = Vec::new();
    if !add.is_empty() {
        out.push(add_line);
    }
    if !del.is_empty() {
        out.push(del_line);
    }
    out
}

fn noise(path: &str) -> bool {
    NOISE
        .iter()
        .any(|n| path == *n || path.starts_with(&format!("{n}/")))
}

/// The project and home directories are bind mounts: their mount points
/// (and the directories above them) are hutch's, not the user's.
fn mount_stub(path: &str, mounts: &[PathBuf]) -> bool {
    let p = Path::new("/").join(path);
    mounts.iter().any(|m| m.starts_with(&p) || p.starts_with(m))
}

/// Regular files and symlinks are copied; directories come with them.
fn is_copied(m: &Meta) -> bool {
    matches!(m.kind, b'0' | b'\0' | b'2' | b'7')
}

/// `s` single-quoted for a shell.
fn quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Write the copied files under a fresh `dir` (a sibling temp dir renamed
/// over it), modes kept, symlinks as symlinks.
fn write_generated(
    dir: &Path,
    paths: &[String],
    tree: &crate::snapshot::changes::Tree,
    contents: &Contents,
) -> Result<(), Error> {
    let parent = dir.parent().unwrap_or(dir);
    fs_err::create_dir_all(parent)?;
    let tmp = parent.join(format!(".promote.{}.tmp", std::process::id()));
    if tmp.exists() {
        fs_err::remove_dir_all(&tmp)?;
    }
    fs_err::create_dir(&tmp)?;
    for p in paths {
        // Names from a layer tar: plain components only.
        if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
            return Err(Error::OddPath(p.clone()));
        }
        let Some(meta) = tree.get(p) else { continue };
        let out = tmp.join(p);
        if let Some(d) = out.parent() {
            fs_err::create_dir_all(d)?;
        }
        if meta.kind == b'2' {
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&meta.link), &out)?;
            continue;
        }
        let data = contents.get(p).map(Vec::as_slice).unwrap_or_default();
        let f = fs_err::File::create(&out)?;
        f.file().write_all(data)?;
        // The time the file had, so the rebuilt image matches it.
        f.file()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(meta.mtime))?;
        f.set_permissions(std::fs::Permissions::from_mode(meta.mode & 0o7777))?;
    }
    if dir.exists() {
        fs_err::remove_dir_all(dir)?;
    }
    fs_err::rename(&tmp, dir)?;
    Ok(())
}

/// A unified diff appending `lines` to `text` (the file `name`).
fn patch(name: &str, text: &str, lines: &[String]) -> String {
    let n = text.lines().count();
    let mut out = format!(
        "--- a/{name}\n+++ b/{name}\n@@ -{n},0 +{},{} @@\n",
        n + 1,
        lines.len()
    );
    for l in lines {
        out.push('+');
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Replace `path` atomically, keeping its permissions.
fn replace_file(path: &Path, data: &[u8]) -> Result<(), Error> {
    let perms = fs_err::metadata(path)?.permissions();
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let mut f = fs_err::File::create(&tmp)?;
    f.write_all(data)?;
    f.set_permissions(perms)?;
    f.sync_all()?;
    drop(f);
    fs_err::rename(&tmp, path)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, arch: Option<&str>, version: Option<&str>) -> Pkg {
        Pkg {
            name: name.into(),
            arch: arch.map(Into::into),
            version: version.map(Into::into),
        }
    }

    #[test]
    fn lines_for_each_manager() {
        let i = [pkg("hello", None, Some("2.10-3"))];
        let r = [pkg("nano", None, None)];
        assert_eq!(
            package_lines(Manager::Apk, "dnf", &i, &r),
            ["RUN apk add --no-cache hello=2.10-3", "RUN apk del nano"]
        );
        let d = package_lines(Manager::Dpkg, "dnf", &i, &[]);
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("install -y --no-install-recommends hello=2.10-3"));
        let i = [pkg("hello", None, Some("1:2.10-3.fc40"))];
        assert_eq!(
            package_lines(Manager::Rpm, "dnf", &i, &r),
            [
                "RUN dnf install -y hello-1:2.10-3.fc40 && dnf clean all",
                "RUN dnf remove -y nano"
            ]
        );
        assert_eq!(
            package_lines(Manager::Rpm, "zypper", &i, &[]),
            ["RUN zypper --non-interactive install -y hello=1:2.10-3.fc40 && zypper clean --all"]
        );
    }

    #[test]
    fn multilib_and_kept_versions_are_named_exactly() {
        // A second architecture installed; one of two kernels removed.
        let i = [pkg("glibc", Some("i686"), Some("2.34-1.el9"))];
        let r = [pkg("kernel", None, Some("5.14-1.el9"))];
        assert_eq!(
            package_lines(Manager::Rpm, "dnf", &i, &r),
            [
                "RUN dnf install -y glibc-2.34-1.el9.i686 && dnf clean all",
                "RUN dnf remove -y kernel-5.14-1.el9"
            ]
        );
        assert_eq!(
            package_lines(Manager::Rpm, "zypper", &i, &[]),
            ["RUN zypper --non-interactive install -y glibc.i686=2.34-1.el9 && zypper clean --all"]
        );
        // apt names a multiarch package NAME:ARCH.
        let i = [pkg("libc6", Some("i386"), Some("2.36-9"))];
        let d = package_lines(Manager::Dpkg, "dnf", &i, &[]);
        assert!(
            d[0].contains("--no-install-recommends libc6:i386=2.36-9 "),
            "{d:?}"
        );
    }

    #[test]
    fn the_rpm_tool_is_the_one_the_image_has() {
        let mut tree = crate::snapshot::changes::Tree::new();
        assert_eq!(rpm_tool(&tree), "dnf");
        let file = Meta {
            kind: b'0',
            mode: 0o755,
            owner: (0, 0),
            size: 1,
            mtime: 0,
            link: Vec::new(),
        };
        tree.insert("usr/bin/microdnf".into(), file.clone());
        assert_eq!(rpm_tool(&tree), "microdnf");
        tree.insert("usr/bin/yum".into(), file);
        assert_eq!(rpm_tool(&tree), "yum");
    }

    #[test]
    fn noise_stubs_and_quotes() {
        assert!(noise("var/cache/apk/x") && noise("lib/apk") && !noise("libx"));
        let mounts = [PathBuf::from("/home/u/proj")];
        assert!(mount_stub("home", &mounts) && mount_stub("home/u/proj/x", &mounts));
        assert!(!mount_stub("home/v", &mounts));
        assert_eq!(quote("/usr/bin/x"), "/usr/bin/x");
        assert_eq!(quote("/a b'c"), r"'/a b'\''c'");
    }

    #[test]
    fn an_ignore_file_that_leaves_the_copies_out_gets_an_exception() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("Containerfile");
        let paths = ["etc/made".to_string()];
        assert!(unignored(d.path(), &file, &paths).unwrap().is_none());
        for (text, fixed) in [
            ("target\n", false),
            (".hutch\n", true),
            ("*\n!Containerfile", true),
            (".hutch\n!.hutch/promote/\n", false),
        ] {
            std::fs::write(d.path().join(".dockerignore"), text).unwrap();
            let u = unignored(d.path(), &file, &paths).unwrap();
            assert_eq!(u.is_some(), fixed, "{text}");
            if let Some(u) = u {
                let new = appended(&u.text, &u.lines);
                assert!(new.starts_with(text) && new.ends_with("\n!.hutch/promote\n"));
                let m = ignore::IgnoreMatcher::parse(&new).unwrap();
                assert!(!m.excluded(".hutch/promote/etc/made"), "{new}");
            }
        }
    }

    #[test]
    fn patch_appends() {
        assert_eq!(
            patch("Containerfile", "FROM a\nRUN b\n", &["RUN c".into()]),
            "--- a/Containerfile\n+++ b/Containerfile\n@@ -2,0 +3,1 @@\n+RUN c\n"
        );
    }
}
