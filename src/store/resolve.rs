//! Which image a name or id means, following Podman's local lookup rules:
//!
//! * a full id (`sha256:<hex>` or 64 hex chars) is looked up as an id first;
//! * a name is normalised (`busybox` → `docker.io/library/busybox:latest`)
//!   and matched exactly; a short name (no registry) also matches
//!   `<any registry>/.../NAME:TAG` when exactly one image has such a name;
//! * `name@sha256:...` matches the manifest digest of an image with that name;
//! * failing that, an id prefix of at least 3 hex chars, if unique.
//!
//! This module only decides; it reads nothing itself.

use super::Result;
use crate::chain::bail;
use crate::oci::reference::Reference;

/// What resolution needs to know about one image.
pub struct Candidate<'a> {
    /// Image id, `sha256:<hex>`.
    pub id: &'a str,
    /// Manifest digest.
    pub manifest: &'a str,
    pub names: &'a [String],
}

/// No image has this name or id: its own type so that commands can exit
/// as Docker does for a missing image (1, not 125).
#[derive(Debug, thiserror::Error)]
#[error("no such image: {0} (see `hutch images`, or `hutch load` it first)")]
pub struct NoSuchImage(pub String);

/// The index into `images` of the image `input` refers to.
pub fn resolve(images: &[Candidate<'_>], input: &str) -> Result<usize> {
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    let is_hex = !hex.is_empty()
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    if is_hex && hex.len() == 64 {
        if let Some(i) = images.iter().position(|c| c.id.ends_with(hex)) {
            return Ok(i);
        }
    }
    let by_name = match Reference::parse(input) {
        Ok(r) => by_name(images, &r)?,
        Err(e) if !is_hex => return Err(e.into()),
        Err(_) => None,
    };
    if let Some(i) = by_name {
        return Ok(i);
    }
    if is_hex && hex.len() >= 3 {
        let hits: Vec<usize> = (0..images.len())
            .filter(|&i| images[i].id["sha256:".len()..].starts_with(hex))
            .collect();
        match hits.len() {
            0 => {}
            1 => return Ok(hits[0]),
            _ => bail!(
                "'{input}' is ambiguous: it is the start of {} image ids; give more of the id",
                hits.len()
            ),
        }
    }
    Err(NoSuchImage(input.to_string()).into())
}

fn by_name(images: &[Candidate<'_>], r: &Reference) -> Result<Option<usize>> {
    if let Some(d) = &r.digest {
        let repo_matches = |n: &String| {
            let repo = n.rsplit_once(':').map_or(n.as_str(), |(repo, _)| repo);
            repo == r.repository()
                || r.short
                    .as_ref()
                    .is_some_and(|s| repo.ends_with(&format!("/{s}")))
        };
        return Ok(images
            .iter()
            .position(|c| c.manifest == d && c.names.iter().any(repo_matches)));
    }
    let full = r.tagged_name();
    if let Some(i) = images.iter().position(|c| c.names.contains(&full)) {
        return Ok(Some(i));
    }
    let Some(short) = &r.short else {
        return Ok(None);
    };
    let suffix = format!(
        "/{short}:{}",
        r.tag
            .as_deref()
            .unwrap_or(crate::oci::reference::DEFAULT_TAG)
    );
    let mut hits: Vec<(usize, &String)> = Vec::new();
    for (i, c) in images.iter().enumerate() {
        for n in c.names.iter().filter(|n| n.ends_with(&suffix)) {
            hits.push((i, n));
        }
    }
    let first = hits.first().map(|h| h.0);
    if hits.iter().any(|h| Some(h.0) != first) {
        let names: Vec<&str> = hits.iter().map(|h| h.1.as_str()).collect();
        bail!(
            "short name '{short}' is ambiguous: it matches {}; use the full name",
            names.join(", ")
        );
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cands(v: &[(String, String, Vec<String>)]) -> Vec<Candidate<'_>> {
        v.iter()
            .map(|(id, m, n)| Candidate {
                id,
                manifest: m,
                names: n,
            })
            .collect()
    }

    #[test]
    fn podman_like_matching() {
        let id = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let data = vec![
            (
                id('a'),
                id('1'),
                vec!["docker.io/library/busybox:latest".to_string()],
            ),
            (id('b'), id('2'), vec!["quay.io/x/tool:1".to_string()]),
            (
                id('c'),
                id('3'),
                vec![
                    "quay.io/y/tool:1".to_string(),
                    "localhost/only:latest".into(),
                ],
            ),
            (id('d'), id('4'), vec![]),
        ];
        let c = cands(&data);
        assert_eq!(resolve(&c, "busybox").unwrap(), 0);
        assert_eq!(resolve(&c, "docker.io/library/busybox:latest").unwrap(), 0);
        assert_eq!(resolve(&c, "x/tool:1").unwrap(), 1);
        assert_eq!(resolve(&c, "only").unwrap(), 2);
        let e = resolve(&c, "tool:1").unwrap_err().to_string();
        assert!(
            e.contains("ambiguous") && e.contains("quay.io/x/tool:1"),
            "{e}"
        );
        assert_eq!(resolve(&c, "ddd").unwrap(), 3);
        assert_eq!(resolve(&c, &id('b')).unwrap(), 1);
        assert_eq!(resolve(&c, &format!("busybox@{}", id('1'))).unwrap(), 0);
        assert!(resolve(&c, &format!("busybox@{}", id('2'))).is_err());
        assert!(resolve(&c, "quay.io/z/tool:1")
            .unwrap_err()
            .to_string()
            .contains("no such image"));
        assert!(resolve(&c, "Bad")
            .unwrap_err()
            .to_string()
            .contains("lowercase"));
    }
}
