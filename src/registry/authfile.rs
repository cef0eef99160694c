//! Registry credentials in the files Podman, Skopeo and Docker share
//! (containers-auth.json(5)):
//!
//! * read and written: `$REGISTRY_AUTH_FILE`, else
//!   `$XDG_RUNTIME_DIR/containers/auth.json`, else (no runtime dir, as for
//!   users without a login session, or one that is not an absolute path of
//!   a directory of this user, `dirs::runtime_dir`: a logout removed it and
//!   the shell kept the variable, or `su` carried another user's) `$XDG_CONFIG_HOME/containers/auth.json`,
//!   which Podman and Skopeo read next anyway and which survives reboots;
//! * then only read: `$XDG_CONFIG_HOME/containers/auth.json`,
//!   `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
//!
//! An entry is `"auths": {"host[/namespace]": {"auth": base64("user:pass")}}`;
//! `credHelpers` (per registry) and `credsStore` (default) name
//! `docker-credential-<helper>` programs that hold the secret instead.
//! Writes are atomic (temp file + rename) with mode 0600. Secrets never enter
//! an error message. This module does not talk to registries.

use crate::chain::{bail, WithContext};
use crate::registry::Result;
use base64::Engine as _;
use serde_json::{Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A user name and its password or token. `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.username)
    }
}

impl Credentials {
    /// The value of an HTTP `Authorization: Basic` header.
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Which files hold credentials, in lookup order; the first is written.
#[derive(Debug, Clone)]
pub struct AuthFiles {
    pub primary: PathBuf,
    pub others: Vec<PathBuf>,
}

impl AuthFiles {
    /// Podman's order, from the environment.
    pub fn from_env() -> Result<AuthFiles> {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME");
        let config = var("XDG_CONFIG_HOME").or_else(|| home.as_ref().map(|h| h.join(".config")));
        let user_file = config.map(|c| c.join("containers/auth.json"));
        let primary = var("REGISTRY_AUTH_FILE")
            .or_else(|| crate::dirs::runtime_dir().map(|r| r.join("containers/auth.json")))
            .or_else(|| user_file.clone())
            .context(
                "cannot find where to keep registry credentials: set HOME or REGISTRY_AUTH_FILE",
            )?;
        let docker = var("DOCKER_CONFIG")
            .map(|d| d.join("config.json"))
            .or_else(|| home.map(|h| h.join(".docker/config.json")));
        let others = [user_file, docker]
            .into_iter()
            .flatten()
            .filter(|p| *p != primary)
            .collect();
        Ok(AuthFiles { primary, others })
    }

    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        std::iter::once(&self.primary).chain(&self.others)
    }

    /// Credentials for `repository` (`host/path`) on `registry`: the
    /// longest matching namespace key wins within a file, files in order.
    pub fn lookup(&self, registry: &str, repository: &str) -> Result<Option<Credentials>> {
        for p in self.all() {
            let Some(doc) = read(p)? else { continue };
            if let Some(helper) = helper_for(&doc, registry) {
                if let Some(c) = run_helper(&helper, registry)? {
                    return Ok(Some(c));
                }
                continue;
            }
            let Some(auths) = doc.get("auths").and_then(Value::as_object) else {
                continue;
            };
            let best = auths
                .iter()
                .filter_map(|(k, v)| {
                    let key = normalise_key(k);
                    let hit = key == registry
                        || repository == key
                        || repository.starts_with(&format!("{key}/"));
                    hit.then_some((key.len(), v))
                })
                .max_by_key(|(len, _)| *len);
            if let Some((_, v)) = best {
                return decode(v, p, registry).map(Some);
            }
        }
        Ok(None)
    }

    /// Save credentials for `key` (a registry, or `registry/namespace`) in
    /// the primary file, keeping everything else in it.
    pub fn store(&self, key: &str, c: &Credentials) -> Result<()> {
        let mut doc = read(&self.primary)?.unwrap_or_else(|| Value::Object(Map::new()));
        let auths = auths_mut(&mut doc, &self.primary)?;
        let raw = format!("{}:{}", c.username, c.password);
        let mut entry = Map::new();
        entry.insert(
            "auth".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(raw)),
        );
        auths.insert(key.to_string(), Value::Object(entry));
        write_atomic(&self.primary, &doc)
    }

    /// Remove `key` (or, with `key = None`, every entry) from the primary
    /// file. Returns whether anything was removed, and the other files that
    /// still hold credentials for `key`.
    pub fn remove(&self, key: Option<&str>) -> Result<(bool, Vec<PathBuf>)> {
        let mut removed = false;
        if let Some(mut doc) = read(&self.primary)? {
            let auths = auths_mut(&mut doc, &self.primary)?;
            match key {
                Some(k) => {
                    let keys: Vec<String> = auths
                        .keys()
                        .filter(|x| normalise_key(x) == k)
                        .cloned()
                        .collect();
                    for x in keys {
                        auths.remove(&x);
                        removed = true;
                    }
                }
                None => {
                    removed = !auths.is_empty();
                    auths.clear();
                }
            }
            if removed {
                write_atomic(&self.primary, &doc)?;
            }
        }
        let mut elsewhere = Vec::new();
        if let Some(k) = key {
            for p in &self.others {
                let has = read(p)?
                    .as_ref()
                    .and_then(|d| d.get("auths"))
                    .and_then(Value::as_object)
                    .is_some_and(|a| a.keys().any(|x| normalise_key(x) == k));
                if has {
                    elsewhere.push(p.clone());
                }
            }
        }
        Ok((removed, elsewhere))
    }
}

/// Docker writes `https://index.docker.io/v1/` for Docker Hub and some tools
/// write URLs; keys are compared as `host[/path]`.
pub fn normalise_key(k: &str) -> String {
    let k = k
        .strip_prefix("https://")
        .or_else(|| k.strip_prefix("http://"))
        .unwrap_or(k);
    let k = k.trim_end_matches('/');
    let k = k
        .strip_suffix("/v1")
        .or_else(|| k.strip_suffix("/v2"))
        .unwrap_or(k);
    match k {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        _ => k.to_string(),
    }
}

fn helper_for(doc: &Value, registry: &str) -> Option<String> {
    let per = doc
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| normalise_key(k) == registry)
                .and_then(|(_, v)| v.as_str())
        });
    per.or_else(|| doc.get("credsStore").and_then(Value::as_str))
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// `docker-credential-<helper> get`: the server on stdin, JSON out. A helper
/// that is not installed, or knows nothing of the registry, yields `None`.
fn run_helper(helper: &str, registry: &str) -> Result<Option<Credentials>> {
    let prog = format!("docker-credential-{helper}");
    let server = if registry == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    };
    let child = std::process::Command::new(&prog)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot run {prog}"))
                .map_err(Into::into)
        }
    };
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("cannot run {prog}"))?;
    if !out.status.success() {
        return Ok(None);
    }
    let v: Value = serde_json::from_slice(&out.stdout)
        .map_err(|_| crate::chain::msg!("{prog} printed something that is not JSON"))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Ok(Some(Credentials {
        username: s("Username"),
        password: s("Secret"),
    }))
}

fn decode(v: &Value, file: &Path, registry: &str) -> Result<Credentials> {
    let bad = || {
        crate::chain::msg!(
            "the credentials for {registry} in {} are malformed: run `hutch login {registry}` again",
            file.display()
        )
    };
    let auth = v.get("auth").and_then(Value::as_str).ok_or_else(bad)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (u, p) = raw.split_once(':').ok_or_else(bad)?;
    Ok(Credentials {
        username: u.to_string(),
        password: p.to_string(),
    })
}

fn read(p: &Path) -> Result<Option<Value>> {
    let text = match std::fs::read(p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot read {}", p.display()))
                .map_err(Into::into)
        }
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // serde's message would quote the text around the error: a secret.
    let v: Value = serde_json::from_slice(&text).map_err(|e| {
        crate::chain::msg!(
            "{} is not valid JSON (line {}): fix or remove it",
            p.display(),
            e.line()
        )
    })?;
    if !v.is_object() {
        bail!("{} is not a JSON object: fix or remove it", p.display());
    }
    Ok(Some(v))
}

fn auths_mut<'a>(doc: &'a mut Value, p: &Path) -> Result<&'a mut Map<String, Value>> {
    let obj = doc
        .as_object_mut()
        .with_context(|| format!("{} is not a JSON object", p.display()))?;
    let a = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    a.as_object_mut()
        .with_context(|| format!("\"auths\" in {} is not a JSON object", p.display()))
        .map_err(Into::into)
}

/// Temp file in the same directory (mode 0600 from the start), fsync, rename.
fn write_atomic(p: &Path, doc: &Value) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = p.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".auth.json.")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .with_context(|| format!("cannot write credentials in {}", dir.display()))?;
    let bytes = serde_json::to_vec_pretty(doc).context("cannot encode credentials")?;
    tmp.write_all(&bytes)
        .and_then(|_| tmp.write_all(b"\n"))
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", p.display()))?;
    tmp.persist(p)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", p.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn store_lookup_remove_keeps_other_entries() {
        let d = tempfile::tempdir().unwrap();
        let docker = d.path().join("docker.json");
        std::fs::write(
            &docker,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"aHViOmh1YnBhc3M="}},"other":1}"#,
        )
        .unwrap();
        let f = AuthFiles {
            primary: d.path().join("c/auth.json"),
            others: vec![docker.clone()],
        };
        let c = Credentials {
            username: "me".into(),
            password: "pw:with:colons".into(),
        };
        f.store("reg.example:5000", &c).unwrap();
        f.store("quay.io/team", &c).unwrap();
        let mode = std::fs::metadata(&f.primary).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            f.lookup("reg.example:5000", "reg.example:5000/x").unwrap(),
            Some(c.clone())
        );
        assert_eq!(
            f.lookup("quay.io", "quay.io/team/app").unwrap(),
            Some(c.clone())
        );
        assert_eq!(f.lookup("quay.io", "quay.io/other/app").unwrap(), None);
        let hub = f
            .lookup("docker.io", "docker.io/library/a")
            .unwrap()
            .unwrap();
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("hub", "hubpass")
        );
        assert!(!format!("{hub:?}").contains("hubpass"));
        let (removed, elsewhere) = f.remove(Some("docker.io")).unwrap();
        assert!(!removed);
        assert_eq!(elsewhere, vec![docker]);
        assert!(f.remove(Some("reg.example:5000")).unwrap().0);
        assert_eq!(
            f.lookup("reg.example:5000", "reg.example:5000/x").unwrap(),
            None
        );
        assert!(f.remove(None).unwrap().0);
        assert_eq!(f.lookup("quay.io", "quay.io/team/app").unwrap(), None);
    }

    #[test]
    fn malformed_files_do_not_leak_secrets() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("auth.json");
        std::fs::write(&p, r#"{"auths":{"r":{"auth":"c2VjcmV0"}} trailing-SECRET"#).unwrap();
        let f = AuthFiles {
            primary: p,
            others: vec![],
        };
        let e = crate::chain::line(&f.lookup("r", "r/x").unwrap_err());
        assert!(e.contains("not valid JSON") && !e.contains("SECRET"), "{e}");
    }
}
