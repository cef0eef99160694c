//! Which helper connects a container, and why: pasta when installed (Podman 5's
//! default for rootless containers), else slirp4netns, else a clear error
//! naming the package to install.
//!
//! This module only looks for executables in a search path it is given; it
//! must not run them (running pasta costs tens of milliseconds) or parse
//! `--network` text (that is `options`).

use super::options::{HelperKind, HelperRequest};
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where to look for helper programs: a `PATH`-style list, a field so tests
/// can point it elsewhere.
#[derive(Debug, Clone)]
pub struct SearchPath(pub OsString);

impl SearchPath {
    /// `$PATH`, or the usual system directories when it is unset.
    pub fn from_env() -> SearchPath {
        SearchPath(
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        )
    }

    /// The first executable regular file called `name`.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.0)
            .filter(|d| d.is_absolute())
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The helper to run, its binary, and a sentence for `hutch info`.
#[derive(Debug, Clone)]
pub struct ChosenHelper {
    pub request: HelperRequest,
    pub binary: PathBuf,
    pub reason: String,
}

impl ChosenHelper {
    pub fn kind(&self) -> HelperKind {
        self.request.kind()
    }
}

/// Why no helper could be chosen.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChooseError {
    #[error("--network {name} was asked for but {name} is not installed: install the `{package}` package (sudo apt-get install {package}), or use --network none")]
    Missing {
        name: &'static str,
        package: &'static str,
    },
    #[error("no user-mode network helper found (neither pasta nor slirp4netns is in PATH): install the `passt` package (or `slirp4netns`), or use --network none")]
    NoneInstalled,
}

/// Choose the helper for `requested` (None: the default).
pub fn choose(
    requested: Option<HelperRequest>,
    path: &SearchPath,
) -> Result<ChosenHelper, ChooseError> {
    if let Some(request) = requested {
        let kind = request.kind();
        let binary = path.find(kind.name()).ok_or(ChooseError::Missing {
            name: kind.name(),
            package: kind.package(),
        })?;
        return Ok(ChosenHelper {
            request,
            binary,
            reason: format!("asked for with --network {}", kind.name()),
        });
    }
    if let Some(binary) = path.find("pasta") {
        return Ok(ChosenHelper {
            request: HelperRequest::default_for(HelperKind::Pasta),
            binary,
            reason: "default: pasta is installed (Podman 5's default; faster than slirp4netns)"
                .into(),
        });
    }
    if let Some(binary) = path.find("slirp4netns") {
        return Ok(ChosenHelper {
            request: HelperRequest::default_for(HelperKind::Slirp4netns),
            binary,
            reason: "default: pasta is not installed, so slirp4netns; install `passt` for faster networking".into(),
        });
    }
    Err(ChooseError::NoneInstalled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(names: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for n in names {
            let p = d.path().join(n);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // A non-executable file must not count.
        std::fs::write(d.path().join("not-exec"), "").unwrap();
        d
    }

    fn path_of(d: &tempfile::TempDir) -> SearchPath {
        SearchPath(d.path().as_os_str().to_owned())
    }

    #[test]
    fn pasta_is_the_default_when_present() {
        let d = dir_with(&["pasta", "slirp4netns"]);
        let c = choose(None, &path_of(&d)).unwrap();
        assert_eq!(c.kind(), HelperKind::Pasta);
        assert_eq!(c.binary, d.path().join("pasta"));
        assert!(c.reason.starts_with("default"), "{}", c.reason);
    }

    #[test]
    fn slirp4netns_is_the_fallback_and_says_why() {
        let d = dir_with(&["slirp4netns"]);
        let c = choose(None, &path_of(&d)).unwrap();
        assert_eq!(c.kind(), HelperKind::Slirp4netns);
        assert!(c.reason.contains("pasta is not installed"), "{}", c.reason);
    }

    #[test]
    fn missing_helpers_name_the_package() {
        let d = dir_with(&["not-pasta"]);
        let e = choose(None, &path_of(&d)).unwrap_err();
        assert!(e.to_string().contains("`passt`"), "{e}");
        let e = choose(
            Some(HelperRequest::parse("slirp4netns").unwrap()),
            &path_of(&d),
        )
        .unwrap_err();
        assert!(e.to_string().contains("apt-get install slirp4netns"), "{e}");
        let d = dir_with(&["slirp4netns"]);
        let e = choose(Some(HelperRequest::parse("pasta").unwrap()), &path_of(&d)).unwrap_err();
        assert!(e.to_string().contains("apt-get install passt"), "{e}");
        assert!(path_of(&d).find("not-exec").is_none());
    }
}
