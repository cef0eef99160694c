//! `RUN --mount=...` specifications: parsing the comma-separated
//! key=value list into a typed [`Mount`] with buildkit's defaults.
//!
//! Owns mount syntax and defaults. It must not create mounts; the RUN
//! executor does that.

use super::error::{ErrorKind, MountError, Suggestion};
use super::suggest::closest;

/// What kind of filesystem a RUN mount provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A read-only (by default) view of the context or another stage.
    Bind,
    /// A persistent cache directory shared between builds.
    Cache,
    /// An empty in-memory filesystem.
    Tmpfs,
    /// A build secret as a file (or environment variable with `env=`).
    Secret,
    /// The SSH agent socket.
    Ssh,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Cache => "cache",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Secret => "secret",
            MountKind::Ssh => "ssh",
        }
    }
}

/// How concurrent builds share one cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

impl Sharing {
    pub fn as_str(self) -> &'static str {
        match self {
            Sharing::Shared => "shared",
            Sharing::Private => "private",
            Sharing::Locked => "locked",
        }
    }
}

/// One `--mount` of a RUN instruction, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub kind: MountKind,
    /// Where it appears in the container. Secrets default to
    /// `/run/secrets/<id>`; ssh to `/run/buildkit/ssh_agent.0`. None only
    /// for a secret exposed solely as an environment variable.
    pub target: Option<String>,
    /// Path inside `from` (or the context) for bind and cache mounts.
    pub source: Option<String>,
    /// A stage name, image or index to take the source from.
    pub from: Option<String>,
    /// Cache id (defaults to the target), secret or ssh id.
    pub id: Option<String>,
    pub sharing: Sharing,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Bind mounts are read-only unless `rw`; the others writable unless `ro`.
    pub readonly: bool,
    /// Fail when the secret or ssh agent is missing.
    pub required: bool,
    /// tmpfs size in bytes.
    pub size: Option<u64>,
    /// For secrets: the environment variable to expose the secret as.
    pub env: Option<String>,
}

fn bad(spec: &str, reason: MountError) -> ErrorKind {
    ErrorKind::BadMount {
        spec: spec.to_string(),
        reason,
    }
}

fn parse_bool(spec: &str, key: &str, value: Option<&str>) -> Result<bool, ErrorKind> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(bad(
            spec,
            MountError::NotBool {
                key: key.to_string(),
                value: v.to_string(),
            },
        )),
    }
}

fn parse_u32(spec: &str, key: &'static str, value: &str, radix: u32) -> Result<u32, ErrorKind> {
    u32::from_str_radix(value, radix).map_err(|_| {
        bad(
            spec,
            MountError::BadNumber {
                key,
                value: value.to_string(),
            },
        )
    })
}

/// Bytes from a size like `64m`, `1.5g`, `512k` or `100` (1024-based, as
/// Docker's `RAMInBytes`).
fn parse_size(spec: &str, value: &str) -> Result<u64, ErrorKind> {
    let err = || bad(spec, MountError::BadSize(value.to_string()));
    let lower = value.trim().to_ascii_lowercase();
    let num_len = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_len);
    let n: f64 = num.parse().map_err(|_| err())?;
    let unit = unit.trim();
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mul: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return Err(err()),
    };
    let bytes = n * mul as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as u64)
}

/// Split a CSV record the way Go's `encoding/csv` reads one line: fields
/// separated by commas, a field may be double-quoted with `""` for a quote.
fn csv_fields(spec: &str) -> Result<Vec<String>, ErrorKind> {
    let mut out = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(bad(spec, MountError::UnterminatedQuote)),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => {}
                Some(_) => return Err(bad(spec, MountError::AfterQuote)),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        out.push(field);
    }
}

const MOUNT_TYPES: [&str; 5] = ["bind", "cache", "tmpfs", "secret", "ssh"];

impl Mount {
    /// Parse one `--mount` value.
    pub fn parse(spec: &str) -> Result<Mount, ErrorKind> {
        let mut kind = MountKind::Bind;
        let mut m = Mount {
            kind,
            target: None,
            source: None,
            from: None,
            id: None,
            sharing: Sharing::Shared,
            mode: None,
            uid: None,
            gid: None,
            readonly: false,
            required: false,
            size: None,
            env: None,
        };
        let mut readonly: Option<bool> = None;
        for field in csv_fields(spec)? {
            if field.is_empty() {
                continue;
            }
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
                None => (field.trim().to_ascii_lowercase(), None),
            };
            let need = |v: Option<&str>| -> Result<String, ErrorKind> {
                v.map(str::to_string)
                    .ok_or_else(|| bad(spec, MountError::NotKeyValue(key.clone())))
            };
            match key.as_str() {
                "type" => {
                    let v = need(value)?;
                    kind = match v.as_str() {
                        "bind" => MountKind::Bind,
                        "cache" => MountKind::Cache,
                        "tmpfs" => MountKind::Tmpfs,
                        "secret" => MountKind::Secret,
                        "ssh" => MountKind::Ssh,
                        _ => {
                            return Err(ErrorKind::UnknownMountType {
                                suggestion: Suggestion(closest(&v, MOUNT_TYPES)),
                                ty: v,
                            })
                        }
                    }
                }
                "readonly" | "ro" => readonly = Some(parse_bool(spec, &key, value)?),
                "readwrite" | "rw" => readonly = Some(!parse_bool(spec, &key, value)?),
                "required" => m.required = parse_bool(spec, &key, value)?,
                "id" => m.id = Some(need(value)?),
                "source" | "src" => m.source = Some(need(value)?),
                "target" | "dst" | "destination" => m.target = Some(need(value)?),
                "from" => m.from = Some(need(value)?),
                "env" => m.env = Some(need(value)?),
                "sharing" => {
                    m.sharing = match need(value)?.as_str() {
                        "shared" => Sharing::Shared,
                        "private" => Sharing::Private,
                        "locked" => Sharing::Locked,
                        v => return Err(bad(spec, MountError::Sharing(v.to_string()))),
                    }
                }
                "mode" => m.mode = Some(parse_u32(spec, "mode", &need(value)?, 8)?),
                "uid" => m.uid = Some(parse_u32(spec, "uid", &need(value)?, 10)?),
                "gid" => m.gid = Some(parse_u32(spec, "gid", &need(value)?, 10)?),
                "size" => m.size = Some(parse_size(spec, &need(value)?)?),
                _ => return Err(bad(spec, MountError::UnknownKey(key))),
            }
        }
        m.kind = kind;
        m.readonly = readonly.unwrap_or(kind == MountKind::Bind);
        if m.required && !matches!(kind, MountKind::Secret | MountKind::Ssh) {
            return Err(bad(
                spec,
                MountError::OnlyFor {
                    key: "required",
                    kinds: "secret and ssh",
                },
            ));
        }
        if m.sharing != Sharing::Shared && kind != MountKind::Cache {
            return Err(bad(
                spec,
                MountError::OnlyFor {
                    key: "sharing",
                    kinds: "cache",
                },
            ));
        }
        if m.size.is_some() && kind != MountKind::Tmpfs {
            return Err(bad(
                spec,
                MountError::OnlyFor {
                    key: "size",
                    kinds: "tmpfs",
                },
            ));
        }
        if m.env.is_some() && kind != MountKind::Secret {
            return Err(bad(
                spec,
                MountError::OnlyFor {
                    key: "env",
                    kinds: "secret",
                },
            ));
        }
        if m.from.is_some() && matches!(kind, MountKind::Tmpfs | MountKind::Secret | MountKind::Ssh)
        {
            return Err(bad(spec, MountError::NoFrom(kind.as_str())));
        }
        match kind {
            MountKind::Secret => {
                // The id defaults to the target's file name and the target to
                // /run/secrets/<id>; one of them must be given.
                if m.id.is_none() {
                    m.id = m
                        .target
                        .as_deref()
                        .and_then(|t| t.rsplit('/').next())
                        .filter(|s| !s.is_empty())
                        .map(str::to_string);
                }
                let Some(id) = m.id.clone() else {
                    return Err(bad(spec, MountError::SecretId));
                };
                if m.target.is_none() && m.env.is_none() {
                    m.target = Some(format!("/run/secrets/{id}"));
                }
            }
            MountKind::Ssh => {
                if m.target.is_none() {
                    m.target = Some("/run/buildkit/ssh_agent.0".into());
                }
            }
            _ => {
                if m.target.as_deref().unwrap_or("").is_empty() {
                    return Err(bad(spec, MountError::NoTarget));
                }
                if kind == MountKind::Cache && m.id.is_none() {
                    m.id = m.target.clone();
                }
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_defaults() {
        let m = Mount::parse("type=cache,target=/root/.cache,sharing=locked,mode=0700,uid=1000")
            .unwrap();
        assert_eq!(m.kind, MountKind::Cache);
        assert_eq!(m.id.as_deref(), Some("/root/.cache"));
        assert_eq!(m.sharing, Sharing::Locked);
        assert_eq!(m.mode, Some(0o700));
        assert_eq!(m.uid, Some(1000));
        assert!(!m.readonly);
    }

    #[test]
    fn bind_is_readonly_unless_rw() {
        assert!(Mount::parse("target=/src").unwrap().readonly);
        assert!(!Mount::parse("type=bind,target=/src,rw").unwrap().readonly);
        assert!(
            !Mount::parse("type=bind,dst=/src,readwrite=true")
                .unwrap()
                .readonly
        );
    }

    #[test]
    fn secret_defaults() {
        let m = Mount::parse("type=secret,id=npmrc").unwrap();
        assert_eq!(m.target.as_deref(), Some("/run/secrets/npmrc"));
        let m = Mount::parse("type=secret,target=/root/.aws/credentials,required").unwrap();
        assert_eq!(m.id.as_deref(), Some("credentials"));
        assert!(m.required);
    }

    #[test]
    fn tmpfs_size() {
        assert_eq!(
            Mount::parse("type=tmpfs,target=/t,size=64m").unwrap().size,
            Some(64 << 20)
        );
        assert_eq!(
            Mount::parse("type=tmpfs,target=/t,size=100").unwrap().size,
            Some(100)
        );
        assert!(Mount::parse("type=tmpfs,target=/t,size=lots").is_err());
    }

    #[test]
    fn quoted_csv_field() {
        let m = Mount::parse("type=bind,\"source=a,b\",target=/x").unwrap();
        assert_eq!(m.source.as_deref(), Some("a,b"));
    }

    #[test]
    fn errors() {
        let e = Mount::parse("type=cahce,target=/x").unwrap_err();
        assert_eq!(e.to_string(), "unknown mount type 'cahce' (did you mean cache?): expected bind, cache, tmpfs, secret or ssh");
        assert!(Mount::parse("type=cache").is_err());
        assert!(Mount::parse("type=cache,target=/x,colour=red").is_err());
        assert!(Mount::parse("type=cache,target=/x,sharing=maybe").is_err());
        assert!(Mount::parse("type=bind,target=/x,sharing=locked").is_err());
        assert!(Mount::parse("type=cache,target").is_err());
        assert!(Mount::parse("type=cache,target=/x,uid=-1").is_err());
    }
}
