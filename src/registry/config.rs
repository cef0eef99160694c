//! Registry configuration: which registries short names are searched in,
//! which registries are plain HTTP or unverified TLS, and mirrors.
//!
//! The format is a subset of containers-registries.conf(5) version 2, so the
//! same text works in `$XDG_CONFIG_HOME/hutch/registries.toml` and in
//! `/etc/containers/registries.conf` (read first; hutch's own file wins):
//!
//! ```toml
//! unqualified-search-registries = ["docker.io", "quay.io"]
//!
//! [[registry]]
//! prefix = "docker.io"           # which references this entry is for
//! location = "docker.io"         # where they really live (default: prefix)
//! insecure = false               # plain HTTP / unverified TLS allowed
//! [[registry.mirror]]
//! location = "mirror.example:5000/hub"
//! insecure = true
//! ```
//!
//! `localhost` and `127.0.0.1` / `::1` registries are insecure by default,
//! as Docker treats them (Podman does not: it wants `--tls-verify=false`).
//! This module only reads files and computes where to look; it never talks to
//! a registry.

use crate::chain::WithContext;
use crate::oci::reference::{Reference, DEFAULT_DOMAIN};
use crate::registry::Result;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where hutch reads system-wide settings, shared with Podman and Skopeo.
pub const SYSTEM_CONF: &str = "/etc/containers/registries.conf";

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    unqualified_search_registries: Option<Vec<String>>,
    #[serde(default)]
    registry: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
struct Entry {
    prefix: Option<String>,
    location: Option<String>,
    /// Unset means the default: insecure only for loopback hosts.
    insecure: Option<bool>,
    #[serde(default)]
    mirror: Vec<Mirror>,
}

#[derive(Debug, Clone, Deserialize)]
struct Mirror {
    location: String,
    insecure: Option<bool>,
}

/// The merged configuration.
#[derive(Debug, Default, Clone)]
pub struct Config {
    search: Option<Vec<String>>,
    entries: Vec<Entry>,
}

/// One place to try for an image: a registry host and the repository there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `host[:port]`, as in the reference (`docker.io`, not its API host).
    pub registry: String,
    /// Repository path on that registry.
    pub path: String,
    /// Plain HTTP and unverified TLS are allowed.
    pub insecure: bool,
    pub mirror: bool,
}

impl Config {
    /// Read the system file (when present) and then the user's `file`.
    pub fn load(user_file: &Path, system_file: &Path) -> Result<Config> {
        let mut cfg = Config::default();
        for p in [system_file, user_file] {
            if let Some(f) = read(p)? {
                if f.unqualified_search_registries.is_some() {
                    cfg.search = f.unqualified_search_registries;
                }
                for e in f.registry {
                    let key = e.prefix.clone().or_else(|| e.location.clone());
                    cfg.entries
                        .retain(|o| o.prefix.clone().or_else(|| o.location.clone()) != key);
                    cfg.entries.push(e);
                }
            }
        }
        Ok(cfg)
    }

    /// The user file under hutch's config dir plus the system file.
    pub fn for_config_dir(dir: &Path) -> Result<Config> {
        Config::load(&dir.join("registries.toml"), Path::new(SYSTEM_CONF))
    }

    /// Registries a short name is searched in, in order. Docker's behaviour
    /// (docker.io only) when nothing is configured.
    pub fn search_registries(&self) -> Vec<String> {
        match &self.search {
            Some(s) if !s.is_empty() => s.clone(),
            _ => vec![DEFAULT_DOMAIN.to_string()],
        }
    }

    /// The fully qualified references a reference may mean: itself, or for a
    /// short name one per search registry.
    pub fn candidates(&self, r: &Reference) -> Vec<Reference> {
        let Some(short) = &r.short else {
            return vec![r.clone()];
        };
        self.search_registries()
            .iter()
            .filter_map(|reg| {
                let mut s = format!("{reg}/{short}");
                if let Some(t) = &r.tag {
                    s = format!("{s}:{t}");
                }
                if let Some(d) = &r.digest {
                    s = format!("{s}@{d}");
                }
                Reference::parse(&s).ok()
            })
            .collect()
    }

    /// Where to fetch `r` from: its mirrors first, then its (maybe
    /// relocated) registry. `force_insecure` is `--tls-verify=false`.
    pub fn sources(&self, r: &Reference, force_insecure: bool) -> Vec<Source> {
        let repo = r.repository();
        let entry = self
            .entries
            .iter()
            .filter_map(|e| {
                let p = e.prefix.as_deref().or(e.location.as_deref())?;
                prefix_matches(p, &repo).then_some((p.len(), e, p))
            })
            .max_by_key(|(len, _, _)| *len);
        let mut out = Vec::new();
        match entry {
            Some((_, e, prefix)) => {
                let rest = &repo[prefix.len()..];
                for m in &e.mirror {
                    out.push(self.source(&format!("{}{rest}", m.location), m.insecure, true));
                }
                let loc = e.location.as_deref().unwrap_or(prefix);
                out.push(self.source(&format!("{loc}{rest}"), e.insecure, false));
            }
            None => out.push(self.source(&repo, None, false)),
        }
        for s in &mut out {
            s.insecure |= force_insecure;
        }
        out
    }

    fn source(&self, location: &str, insecure: Option<bool>, mirror: bool) -> Source {
        let (registry, path) = location.split_once('/').unwrap_or((location, ""));
        Source {
            registry: registry.to_string(),
            path: path.to_string(),
            insecure: insecure.unwrap_or_else(|| self.insecure_host(registry)),
            mirror,
        }
    }

    /// Whether a registry host allows plain HTTP / unverified TLS: what an
    /// entry for exactly that host says, else true only for loopback hosts.
    pub fn insecure_host(&self, registry: &str) -> bool {
        let explicit = self.entries.iter().find_map(|e| {
            let p = e.prefix.as_deref().or(e.location.as_deref())?;
            (p == registry).then_some(e.insecure).flatten()
        });
        if let Some(v) = explicit {
            return v;
        }
        let host = registry
            .strip_prefix('[')
            .and_then(|h| h.split_once(']'))
            .map(|(h, _)| h)
            .unwrap_or_else(|| registry.rsplit_once(':').map_or(registry, |(h, _)| h));
        matches!(host, "localhost" | "127.0.0.1" | "::1")
    }
}

/// `docker.io/library` matches `docker.io/library/x` but not `docker.io/libraryx`.
fn prefix_matches(prefix: &str, repo: &str) -> bool {
    repo == prefix || repo.starts_with(&format!("{prefix}/"))
}

fn read(p: &Path) -> Result<Option<File>> {
    let text = match std::fs::read_to_string(p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read {}", p.display()))
                .map_err(Into::into)
        }
    };
    let f: File = toml::from_str(&text).map_err(|e| {
        crate::chain::msg!(
            "{} is not a valid registries file: {}",
            p.display(),
            e.message()
        )
    })?;
    Ok(Some(f))
}

/// Directories holding `HOST:PORT/*.crt` CA files for TLS, in the order
/// Podman reads them: the user's, then the system's (and Docker's).
pub fn cert_dirs(home_config: Option<&Path>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(c) = home_config {
        v.push(c.join("containers/certs.d"));
    }
    v.push(PathBuf::from("/etc/containers/certs.d"));
    v.push(PathBuf::from("/etc/docker/certs.d"));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Config {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(&p, &d.path().join("none")).unwrap()
    }

    #[test]
    fn short_names_mirrors_and_insecure() {
        let c = cfg(r#"
unqualified-search-registries = ["quay.io", "docker.io"]
[[registry]]
prefix = "docker.io"
location = "hub.example"
[[registry.mirror]]
location = "127.0.0.1:5000/hub"
[[registry]]
location = "plain.example:80"
insecure = true
"#);
        let r = Reference::parse("alpine").unwrap();
        let c2: Vec<String> = c.candidates(&r).iter().map(|r| r.to_string()).collect();
        assert_eq!(c2, ["quay.io/alpine", "docker.io/library/alpine"]);
        let s = c.sources(&c.candidates(&r)[1], false);
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].registry.as_str(), s[0].path.as_str(), s[0].insecure),
            ("127.0.0.1:5000", "hub/library/alpine", true)
        );
        assert_eq!(
            (s[1].registry.as_str(), s[1].path.as_str(), s[1].insecure),
            ("hub.example", "library/alpine", false)
        );
        let p = c.sources(&Reference::parse("plain.example:80/x").unwrap(), false);
        assert!(p[0].insecure);
        let q = c.sources(&Reference::parse("quay.io/x").unwrap(), false);
        assert!(!q[0].insecure && q[0].path == "x");
        assert!(c.sources(&Reference::parse("quay.io/x").unwrap(), true)[0].insecure);
        // Loopback is insecure unless an entry says otherwise.
        assert!(c.insecure_host("localhost:5000"));
        let v = cfg("[[registry]]\nlocation = \"127.0.0.1:5000\"\ninsecure = false\n");
        assert!(!v.insecure_host("127.0.0.1:5000") && v.insecure_host("127.0.0.1:5001"));
        // A pinned or qualified reference is not searched.
        assert_eq!(
            c.candidates(&Reference::parse("quay.io/x").unwrap()).len(),
            1
        );
        assert_eq!(cfg("").search_registries(), ["docker.io"]);
    }

    #[test]
    fn bad_file_is_one_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.toml");
        std::fs::write(&p, "unqualified-search-registries = 3").unwrap();
        let e = Config::load(&p, &d.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("r.toml") && e.contains("not a valid registries file"),
            "{e}"
        );
    }
}
