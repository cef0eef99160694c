//! Per-machine defaults: `$XDG_CONFIG_HOME/hutch/config.toml` (else
//! `~/.config/hutch/config.toml`), and the layering of every such setting:
//! built-in default < config.toml < hutch.toml (project commands) <
//! `HUTCH_*` environment variable < flag. Each effective value remembers
//! where it came from, so `hutch info` can say it.
//!
//! Start-up cost: one open of a file that usually does not exist; nothing
//! else runs until a command asks for a value. The library never sees this
//! module: commands pass the resolved values into library calls.

use crate::container::launch::RmLayer;
use crate::project::Project;
use crate::rootfs::DriverKind;
use crate::ui::LogLevel;
use crate::userns::idmap::UsernsRequest;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// One setting users may set per machine.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The key in config.toml.
    pub name: &'static str,
    /// The environment variable.
    pub env: &'static str,
    /// The flag, for `hutch info` and errors (none for a setting kept
    /// per machine only).
    pub flag: Option<&'static str>,
    /// What is used when nothing sets it.
    pub default: &'static str,
    check: fn(&str) -> Result<(), String>,
}

pub const STORAGE_DRIVER: Key = Key {
    name: "storage_driver",
    env: "HUTCH_STORAGE_DRIVER",
    flag: Some("--storage-driver"),
    default: "auto",
    check: |s| s.parse::<DriverKind>().map(drop),
};

pub const NETWORK: Key = Key {
    name: "network",
    env: "HUTCH_NETWORK",
    flag: Some("--network"),
    default: "auto",
    check: check_network,
};

pub const USERNS: Key = Key {
    name: "userns",
    env: "HUTCH_USERNS",
    flag: Some("--userns"),
    default: "auto",
    check: |s| {
        s.parse::<UsernsRequest>()
            .map(drop)
            .map_err(|e| e.to_string())
    },
};

pub const LOG_LEVEL: Key = Key {
    name: "log_level",
    env: "HUTCH_LOG_LEVEL",
    flag: Some("--log-level"),
    default: "info",
    check: |s| s.parse::<LogLevel>().map(drop),
};

pub const ROOT: Key = Key {
    name: "root",
    env: "HUTCH_ROOT",
    flag: Some("--root"),
    default: "the XDG data and state directories",
    check: |s| {
        if s.is_empty() {
            Err("empty path".into())
        } else {
            Ok(())
        }
    },
};

/// Where a `--rm` container's writable layer lives: no flag, since it is
/// a trade-off of the machine (its memory and disk) rather than of a run.
pub const RM_LAYER: Key = Key {
    name: "rm_layer",
    env: "HUTCH_RM_LAYER",
    flag: None,
    default: "disk",
    check: |s| s.parse::<RmLayer>().map(drop),
};

/// Every key, in the order `hutch info` shows them.
pub const KEYS: [Key; 6] = [STORAGE_DRIVER, NETWORK, USERNS, LOG_LEVEL, ROOT, RM_LAYER];

/// Helper modes must parse; anything else (none, host, container:NAME, a
/// network's name) is checked by `run` when it is used.
fn check_network(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty network".into());
    }
    if crate::net::options::HelperRequest::is_helper_mode(s) {
        crate::net::options::HelperRequest::parse(s).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    /// config.toml, and the line of the key.
    File(PathBuf, usize),
    /// A project's hutch.toml.
    Project(PathBuf),
    Env(&'static str),
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(p, line) => write!(f, "{}:{line}", p.display()),
            Origin::Project(p) => write!(f, "{}", p.display()),
            Origin::Env(v) => write!(f, "environment variable {v}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// An effective value and its origin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Setting {
    pub key: &'static str,
    pub value: String,
    #[serde(serialize_with = "as_text")]
    pub origin: Origin,
}

fn as_text<S: serde::Serializer>(o: &Origin, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(o)
}

/// A bad config file or environment variable: one line naming the file,
/// the line and the key (or the variable).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}:{line}: {key}: {message}", file.display())]
    File {
        file: PathBuf,
        line: usize,
        key: String,
        message: String,
    },
    #[error("cannot read {}: {error}", file.display())]
    Read {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{var}: {message}")]
    Env { var: &'static str, message: String },
}

/// config.toml as written: every key optional, nothing else allowed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    storage_driver: Option<toml::Spanned<String>>,
    network: Option<toml::Spanned<String>>,
    userns: Option<toml::Spanned<String>>,
    log_level: Option<toml::Spanned<String>>,
    root: Option<toml::Spanned<String>>,
    rm_layer: Option<toml::Spanned<String>>,
}

/// The config file's values (none when it does not exist).
#[derive(Debug, Clone, Default)]
pub struct Config {
    path: PathBuf,
    present: bool,
    /// (key, value, line)
    values: Vec<(&'static str, String, usize)>,
}

impl Config {
    /// The path hutch reads: `DIR/config.toml` in hutch's config directory.
    pub fn path_in(config_dir: &Path) -> PathBuf {
        config_dir.join("config.toml")
    }

    /// Read and check `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config {
                    path: path.to_path_buf(),
                    ..Config::default()
                })
            }
            Err(error) => {
                return Err(Error::Read {
                    file: path.to_path_buf(),
                    error,
                })
            }
        };
        Config::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Config, Error> {
        let bad = |offset: usize, key: &str, message: String| {
            let (line, found) = locate(text, offset);
            Error::File {
                file: path.to_path_buf(),
                line,
                key: if key.is_empty() { found } else { key.into() },
                message,
            }
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            bad(at, "", e.message().trim().to_string())
        })?;
        let raw = [
            (STORAGE_DRIVER, file.storage_driver),
            (NETWORK, file.network),
            (USERNS, file.userns),
            (LOG_LEVEL, file.log_level),
            (ROOT, file.root),
            (RM_LAYER, file.rm_layer),
        ];
        let mut values = Vec::new();
        for (key, v) in raw {
            let Some(v) = v else { continue };
            let at = v.span().start;
            (key.check)(v.get_ref()).map_err(|m| bad(at, key.name, m))?;
            // A relative root would depend on where hutch is started from.
            if key.name == ROOT.name && !Path::new(v.get_ref()).is_absolute() {
                let m = format!("'{}' is not an absolute path", v.get_ref());
                return Err(bad(at, key.name, m));
            }
            values.push((key.name, v.into_inner(), locate(text, at).0));
        }
        Ok(Config {
            path: path.to_path_buf(),
            present: true,
            values,
        })
    }

    /// The file's path, and whether it exists.
    pub fn file(&self) -> (&Path, bool) {
        (&self.path, self.present)
    }

    /// The effective value of `key`: `flag` when given, else the
    /// environment variable, else `project` (hutch.toml's value and path),
    /// else config.toml; None when only the built-in default applies.
    pub fn layered(
        &self,
        key: Key,
        flag: Option<String>,
        project: Option<(String, &Path)>,
    ) -> Result<Option<Setting>, Error> {
        let set = |value: String, origin: Origin| {
            Some(Setting {
                key: key.name,
                value,
                origin,
            })
        };
        // Only keys that have a flag are given one.
        if let Some((v, name)) = flag.zip(key.flag) {
            return Ok(set(v, Origin::Flag(name)));
        }
        if let Some(v) = std::env::var_os(key.env).filter(|v| !v.is_empty()) {
            let v = v.into_string().map_err(|_| Error::Env {
                var: key.env,
                message: "not valid UTF-8".into(),
            })?;
            (key.check)(&v).map_err(|message| Error::Env {
                var: key.env,
                message,
            })?;
            return Ok(set(v, Origin::Env(key.env)));
        }
        if let Some((v, path)) = project {
            return Ok(set(v, Origin::Project(path.to_path_buf())));
        }
        Ok(self
            .values
            .iter()
            .find(|(k, _, _)| *k == key.name)
            .and_then(|(_, v, line)| set(v.clone(), Origin::File(self.path.clone(), *line))))
    }

    /// Like [`Config::layered`], the built-in default when nothing sets it.
    pub fn effective(&self, key: Key, flag: Option<String>) -> Result<Setting, Error> {
        Ok(self.layered(key, flag, None)?.unwrap_or(Setting {
            key: key.name,
            value: key.default.to_string(),
            origin: Origin::Default,
        }))
    }

    /// The typed value of `key` (flag, env, file), None for the default.
    pub fn value<T>(&self, key: Key, flag: Option<T>) -> Result<Option<T>, Error>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        if flag.is_some() {
            return Ok(flag);
        }
        match self.layered(key, None, None)? {
            None => Ok(None),
            Some(s) => s.value.parse().map(Some).map_err(|e: T::Err| Error::Env {
                var: key.env,
                message: e.to_string(),
            }),
        }
    }
}

/// `project` with the layered settings applied: its network from
/// HUTCH_NETWORK, else hutch.toml, else config.toml (else the project's
/// built-in `host`).
pub fn project(config: &Config, mut p: Project) -> Result<Project, Error> {
    let written = p.config.run.network.clone().map(|n| (n, p.file.as_path()));
    if let Some(s) = config.layered(NETWORK, None, written)? {
        p.config.run.network = Some(s.value);
    }
    Ok(p)
}

/// The 1-based line of byte `offset` and the key written on it.
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line = text[..offset].matches('\n').count() + 1;
    let key = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    (line, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Error> {
        Config::parse(text, Path::new("/c/config.toml"))
    }

    #[test]
    fn values_keep_their_line() {
        let c = parse("# defaults\nnetwork = \"slirp4netns\"\n\nuserns = \"keep-id\"\n").unwrap();
        let n = c.layered(NETWORK, None, None).unwrap().unwrap();
        assert_eq!(n.value, "slirp4netns");
        assert_eq!(n.origin.to_string(), "/c/config.toml:2");
        let u = c.effective(USERNS, None).unwrap();
        assert_eq!(
            (u.value.as_str(), u.origin.to_string()),
            ("keep-id", "/c/config.toml:4".into())
        );
        let l = c.effective(LOG_LEVEL, None).unwrap();
        assert_eq!((l.value.as_str(), l.origin), ("info", Origin::Default));
    }

    #[test]
    fn flags_beat_the_project_which_beats_the_file() {
        let c = parse("network = \"none\"\n").unwrap();
        let p = Path::new("/p/hutch.toml");
        let s = c
            .layered(NETWORK, None, Some(("host".into(), p)))
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.value.as_str(), s.origin),
            ("host", Origin::Project(p.into()))
        );
        let s = c
            .layered(NETWORK, Some("pasta".into()), Some(("host".into(), p)))
            .unwrap()
            .unwrap();
        assert_eq!(s.origin.to_string(), "flag --network");
    }

    #[test]
    fn bad_files_name_the_line_and_the_key() {
        let e = parse("userns = \"auto\"\nstorage_driver = \"zfs\"\n").unwrap_err();
        let m = e.to_string();
        assert!(
            m.starts_with("/c/config.toml:2: storage_driver: unknown storage driver 'zfs'"),
            "{m}"
        );
        let m = parse("netwrok = \"none\"\n").unwrap_err().to_string();
        assert!(
            m.starts_with("/c/config.toml:1: netwrok: unknown field `netwrok`"),
            "{m}"
        );
        let m = parse("log_level = 3\n").unwrap_err().to_string();
        assert!(
            m.starts_with("/c/config.toml:1: log_level: invalid type"),
            "{m}"
        );
        let m = parse("root = \"rel\"\n").unwrap_err().to_string();
        assert!(m.contains(":1: root: 'rel' is not an absolute path"), "{m}");
        let m = parse("network = \"slirp4netns:mtu=x\"\n")
            .unwrap_err()
            .to_string();
        assert!(m.starts_with("/c/config.toml:1: network: "), "{m}");
        assert!(!m.contains('\n'), "{m}");
        let m = parse("rm_layer = \"ram\"\n").unwrap_err().to_string();
        assert_eq!(
            m,
            "/c/config.toml:1: rm_layer: unknown rm_layer value 'ram' (use memory or disk)"
        );
    }

    #[test]
    fn rm_layer_is_disk_unless_set() {
        let c = parse("").unwrap();
        let s = c.effective(RM_LAYER, None).unwrap();
        assert_eq!((s.value.as_str(), s.origin), ("disk", Origin::Default));
        assert_eq!(RmLayer::default(), RmLayer::Disk);
        let c = parse("rm_layer = \"memory\"\n").unwrap();
        assert_eq!(
            c.value::<RmLayer>(RM_LAYER, None).unwrap(),
            Some(RmLayer::Memory)
        );
        // It has no flag: one handed in by mistake is not taken for one.
        let s = c.effective(RM_LAYER, Some("disk".into())).unwrap();
        assert_eq!(s.value, "memory");
    }

    #[test]
    fn a_missing_file_is_empty() {
        let c = Config::load(Path::new("/nonexistent/hutch/config.toml")).unwrap();
        assert!(!c.file().1);
        assert_eq!(c.layered(ROOT, None, None).unwrap(), None);
    }
}
