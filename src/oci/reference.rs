//! Image references (`busybox`, `quay.io/x/y:t`, `name@sha256:...`): parsing,
//! validation and Docker's normalisation (`busybox` is
//! `docker.io/library/busybox:latest`).
//!
//! The grammar follows the distribution reference grammar used by Docker and
//! Podman. This module only parses; it does not know what is in the store.

use super::ReferenceError;
use std::fmt;

/// The registry assumed when a reference names none.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (and port), e.g. `docker.io`, `localhost:5000`.
    pub domain: String,
    /// Repository path inside the registry, e.g. `library/busybox`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<hex>` when the reference pins a manifest.
    pub digest: Option<String>,
    /// The path exactly as written when no registry was given (`busybox`,
    /// `user/img`); such short names may match images from any registry.
    pub short: Option<String>,
}

impl Reference {
    /// Parse and normalise; the error says what is wrong with the text.
    pub fn parse(s: &str) -> super::Result<Reference> {
        let bad = |why: ReferenceError| super::Error::Reference {
            input: s.to_string(),
            why,
        };
        if s.is_empty() {
            return Err(super::Error::EmptyReference);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                super::digest::parse(d).map_err(|e| bad(ReferenceError::Digest(Box::new(e))))?;
                (r, Some(d.to_string()))
            }
            None => (s, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag {
            check_tag(t).map_err(bad)?;
        }
        if name.is_empty() {
            return Err(bad(ReferenceError::EmptyName));
        }
        if name.len() > 255 {
            return Err(bad(ReferenceError::LongName));
        }
        let (domain, path, short) = split_domain(name);
        if let Some(d) = domain {
            check_domain(d).map_err(bad)?;
        }
        for comp in path.split('/') {
            check_component(comp).map_err(bad)?;
        }
        let domain = match domain {
            None | Some("index.docker.io") => DEFAULT_DOMAIN,
            Some(d) => d,
        };
        let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        Ok(Reference {
            domain: domain.to_string(),
            path,
            tag: tag.map(str::to_string),
            digest,
            short: short.then(|| name.to_string()),
        })
    }

    /// Parse a name meant to be written into the store (tag, load, import):
    /// digests are refused and a missing tag becomes `latest`.
    pub fn parse_tag(s: &str) -> super::Result<Reference> {
        let mut r = Reference::parse(s)?;
        if r.digest.is_some() {
            return Err(super::Error::DigestInName(s.to_string()));
        }
        r.tag.get_or_insert_with(|| DEFAULT_TAG.to_string());
        Ok(r)
    }

    /// `domain/path`, e.g. `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `domain/path:tag` with `latest` when no tag was given.
    pub fn tagged_name(&self) -> String {
        format!(
            "{}:{}",
            self.repository(),
            self.tag.as_deref().unwrap_or(DEFAULT_TAG)
        )
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Split off the registry: the first component is one when it has a dot or a
/// colon, is `localhost`, or has capitals (Docker's rule; paths cannot).
fn split_domain(name: &str) -> (Option<&str>, &str, bool) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first), rest, false)
        }
        _ => (None, name, true),
    }
}

/// `[\w][\w.-]{0,127}`
fn check_tag(t: &str) -> Result<(), ReferenceError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let ok = t.len() <= 128
        && t.chars().next().is_some_and(word)
        && t.chars().all(|c| word(c) || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Tag(t.to_string()))
    }
}

/// Host names separated by dots, optional `:port`.
fn check_domain(d: &str) -> Result<(), ReferenceError> {
    let (host, port) = match d.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (d, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let port_ok = port.map_or(true, |p| {
        !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())
    });
    if host.split('.').all(label_ok) && port_ok {
        Ok(())
    } else {
        Err(ReferenceError::Domain(d.to_string()))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_component(c: &str) -> Result<(), ReferenceError> {
    if c.is_empty() {
        return Err(ReferenceError::EmptyComponent);
    }
    if c.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase(c.to_string()));
    }
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    let bytes: Vec<char> = c.chars().collect();
    let mut i = 0;
    let mut ok = alnum(bytes[0]) && alnum(bytes[bytes.len() - 1]);
    while ok && i < bytes.len() {
        let ch = bytes[i];
        if alnum(ch) {
            i += 1;
            continue;
        }
        // A run of separators: '.', '_', '__' or any number of '-'.
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep: String = bytes[start..i].iter().collect();
        ok = matches!(sep.as_str(), "." | "_" | "__") || sep.chars().all(|x| x == '-');
    }
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Component(c.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(full("busybox"), "docker.io/library/busybox");
        assert_eq!(
            Reference::parse_tag("busybox").unwrap().tagged_name(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            full("busybox:1.38.0-musl"),
            "docker.io/library/busybox:1.38.0-musl"
        );
        assert_eq!(full("user/img"), "docker.io/user/img");
        assert_eq!(full("index.docker.io/user/img"), "docker.io/user/img");
        assert_eq!(full("quay.io/x/y:t"), "quay.io/x/y:t");
        assert_eq!(full("localhost:5000/x"), "localhost:5000/x");
        assert_eq!(full("localhost/x:1"), "localhost/x:1");
        let d = format!("sha256:{}", "0".repeat(64));
        assert_eq!(
            full(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        let r = Reference::parse("user/img").unwrap();
        assert_eq!(r.short.as_deref(), Some("user/img"));
        assert_eq!(Reference::parse("quay.io/x/y").unwrap().short, None);
    }

    #[test]
    fn rejects_malformed() {
        for (input, why) in [
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("busybox:bad/tag:x", "not a valid host"),
            ("busybox:-x", "tag '-x'"),
            ("busybox:a b", "tag 'a b'"),
            ("a//b", "empty path component"),
            ("a..b", "separators"),
            ("busybox@sha256:12", "invalid digest"),
            (":tag", "empty"),
            ("-a", "separators"),
        ] {
            let e = Reference::parse(input).unwrap_err().to_string();
            assert!(e.contains(why), "{input}: {e}");
        }
        let d = format!("busybox@sha256:{}", "0".repeat(64));
        assert!(Reference::parse_tag(&d)
            .unwrap_err()
            .to_string()
            .contains("not a digest"));
    }
}
