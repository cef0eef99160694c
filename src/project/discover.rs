//! Finding a project: `hutch.toml` in the current directory or the nearest
//! parent (as cargo finds Cargo.toml), its parsed settings, and what its
//! environment is made from (an image as it is, or a definition built in a
//! context).
//!
//! It reads hutch.toml and stats the definition; it builds and starts nothing.

use super::config::{self, Config};
use super::devcontainer::{self, Extras};
use super::Error;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The project file's name.
pub const FILE: &str = "hutch.toml";

/// A project: its directory, its file and settings.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding hutch.toml (canonical).
    pub root: PathBuf,
    /// `root/hutch.toml`, or the devcontainer.json used instead.
    pub file: PathBuf,
    pub config: Config,
    /// What a devcontainer.json adds (empty for hutch.toml).
    pub extras: Extras,
    /// sha256 of the file's bytes.
    pub digest: String,
}

/// What the environment's image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Definition {
    /// `image = "REF"`: used as it is.
    Image(String),
    /// A Containerfile or Dockerfile built in a context.
    Build {
        file: PathBuf,
        context: PathBuf,
        target: Option<String>,
        args: BTreeMap<String, String>,
    },
}

/// Walk up from `cwd` to the nearest directory with a hutch.toml (or,
/// without one, a `.devcontainer/devcontainer.json` or `.devcontainer.json`).
pub fn discover(cwd: &Path) -> Result<Project, Error> {
    let cwd = fs_err::canonicalize(cwd)?;
    let mut dir = Some(cwd.as_path());
    while let Some(d) = dir {
        let file = d.join(FILE);
        if file.is_file() {
            return load(d, &file);
        }
        if let Some(file) = devcontainer::find(d) {
            let (text, digest) = read(&file)?;
            let (config, extras) = devcontainer::parse(&text, &file, d)?;
            return Ok(Project {
                root: d.to_path_buf(),
                file,
                config,
                extras,
                digest,
            });
        }
        dir = d.parent();
    }
    Err(Error::NoProject(cwd))
}

/// A project file's text and digest.
fn read(file: &Path) -> Result<(String, String), Error> {
    let bytes = fs_err::read(file)?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let text = String::from_utf8(bytes).map_err(|_| Error::Config {
        file: file.to_path_buf(),
        line: 0,
        key: String::new(),
        why: Box::new(super::ConfigError::NotUtf8),
    })?;
    Ok((text, digest))
}

fn load(root: &Path, file: &Path) -> Result<Project, Error> {
    let (text, digest) = read(file)?;
    Ok(Project {
        root: root.to_path_buf(),
        file: file.to_path_buf(),
        config: config::parse(&text, file)?,
        extras: Extras::default(),
        digest,
    })
}

impl Project {
    /// A stable id for this project directory (the environment's state
    /// lives under it).
    pub fn id(&self) -> String {
        let h = Sha256::digest(self.root.as_os_str().as_encoded_bytes());
        hex::encode(&h[..8])
    }

    /// The directory's base name reduced to container-name characters.
    pub fn short_name(&self) -> String {
        let base = self
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut s: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .take(40)
            .collect();
        s = s.trim_matches(['-', '_']).to_string();
        if s.is_empty() {
            "project".into()
        } else {
            s
        }
    }

    /// The environment container's name: `<dir name>-<id prefix>`.
    pub fn env_name(&self) -> String {
        format!("{}-{}", self.short_name(), &self.id()[..8])
    }

    /// What the environment is made from.
    pub fn definition(&self) -> Result<Definition, Error> {
        if let Some(image) = &self.config.image {
            return Ok(Definition::Image(image.clone()));
        }
        let b = self.config.build.clone().unwrap_or_default();
        let context = self.root.join(b.context.as_deref().unwrap_or("."));
        let file = match &b.containerfile {
            Some(f) => self.root.join(f),
            None => ["Containerfile", "Dockerfile"]
                .iter()
                .map(|n| self.root.join(n))
                .find(|p| p.is_file())
                .ok_or_else(|| Error::NoDefinition(self.root.clone()))?,
        };
        if !file.is_file() {
            return Err(Error::Missing {
                what: "the definition named in hutch.toml",
                path: file,
            });
        }
        if !context.is_dir() {
            return Err(Error::Missing {
                what: "the build context named in hutch.toml",
                path: context,
            });
        }
        Ok(Definition::Build {
            file,
            context,
            target: b.target,
            args: b.args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_from_a_subdirectory() {
        let d = tempfile::tempdir().unwrap();
        let root = fs_err::canonicalize(d.path()).unwrap().join("my proj");
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::write(root.join(FILE), "[run]\nshell = \"/bin/sh\"\n").unwrap();
        let p = discover(&root.join("src/deep")).unwrap();
        assert_eq!(p.root, root);
        assert_eq!(p.short_name(), "my-proj");
        assert!(p.env_name().starts_with("my-proj-"));
        assert!(matches!(
            p.definition().unwrap_err(),
            Error::NoDefinition(_)
        ));
        std::fs::write(root.join("Dockerfile"), "FROM x\n").unwrap();
        assert!(
            matches!(p.definition().unwrap(), Definition::Build { file, .. } if file.ends_with("Dockerfile"))
        );
        std::fs::write(root.join("Containerfile"), "FROM x\n").unwrap();
        assert!(
            matches!(p.definition().unwrap(), Definition::Build { file, .. } if file.ends_with("Containerfile"))
        );
    }

    #[test]
    fn none_found_hints_at_init() {
        let d = tempfile::tempdir().unwrap();
        let e = discover(d.path()).unwrap_err().to_string();
        assert!(e.contains("hutch init"), "{e}");
    }
}
