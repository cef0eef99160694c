//! Manifest media types hutch speaks (OCI and Docker schema 2, single or
//! multi-platform), telling them apart, and choosing a platform from an index.
//! It parses JSON it is given; it fetches nothing.

use crate::chain::{bail, msg};
use crate::registry::Result;
use serde_json::Value;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// The `Accept` header for manifest requests.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// What a manifest document is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Index,
    Image,
}

/// Classify a manifest by its Content-Type, else its `mediaType` field.
/// Schema 1 and unknown types are errors naming `what`.
pub fn classify(content_type: Option<&str>, bytes: &[u8], what: &str) -> Result<(Kind, String)> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| msg!("the manifest of {what} is not valid JSON: {e}"))?;
    if v.get("schemaVersion").and_then(Value::as_u64) == Some(1) {
        bail!("{what} uses the Docker schema 1 manifest format, which hutch does not support (it was retired in 2019): push it again with a current Docker, Podman or Skopeo");
    }
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
    let field = v.get("mediaType").and_then(Value::as_str);
    let mt = ct.or(field).map(str::to_string).unwrap_or_else(|| {
        // OCI allows omitting mediaType; the shape tells.
        if v.get("manifests").is_some() {
            OCI_INDEX.to_string()
        } else {
            OCI_MANIFEST.to_string()
        }
    });
    match mt.as_str() {
        OCI_INDEX | DOCKER_LIST => Ok((Kind::Index, mt)),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok((Kind::Image, mt)),
        m if m.starts_with("application/vnd.docker.distribution.manifest.v1") => bail!(
            "{what} uses the Docker schema 1 manifest format, which hutch does not support: push it again with a current Docker, Podman or Skopeo"
        ),
        m => bail!("{what} has a manifest of type '{m}', which is not a container image"),
    }
}

/// `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// This machine: linux and the CPU hutch was built for.
    pub fn host() -> Platform {
        let (arch, os) = crate::oci::source::host_platform();
        Platform {
            os: os.into(),
            arch: arch.into(),
            variant: None,
        }
    }

    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            bail!(
                "invalid platform '{s}': use OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8"
            );
        }
        Ok(Platform {
            os: parts[0].into(),
            arch: parts[1].into(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The entry of an index for `want`: `(digest, media type)`.
pub fn select(index: &[u8], want: &Platform, what: &str) -> Result<(String, Option<String>)> {
    let v: Value = serde_json::from_slice(index)
        .map_err(|e| msg!("the index of {what} is not valid JSON: {e}"))?;
    let list = v
        .get("manifests")
        .and_then(Value::as_array)
        .ok_or_else(|| msg!("the index of {what} lists no manifests"))?;
    let mut seen = Vec::new();
    let mut best: Option<(u8, &Value)> = None;
    for m in list {
        let p = m.get("platform");
        let s = |k: &str| p.and_then(|p| p.get(k)).and_then(Value::as_str);
        let (Some(os), Some(arch)) = (s("os"), s("architecture")) else {
            continue;
        };
        // Attestations (buildkit) say unknown/unknown; they are not images.
        if os == "unknown" {
            continue;
        }
        let variant = s("variant");
        seen.push(match variant {
            Some(var) => format!("{os}/{arch}/{var}"),
            None => format!("{os}/{arch}"),
        });
        if os != want.os || arch != want.arch {
            continue;
        }
        // An exact variant beats a missing one; arm64 images often omit v8.
        let score = match (&want.variant, variant) {
            (Some(w), Some(v)) if w == v => 2,
            (Some(w), None) if w == "v8" && arch == "arm64" => 1,
            (Some(_), _) => continue,
            (None, None) => 2,
            (None, Some(_)) => 1,
        };
        if best.map_or(true, |(b, _)| score > b) {
            best = Some((score, m));
        }
    }
    let Some((_, m)) = best else {
        bail!(
            "{what} has no image for {want} (it has: {}); choose one with --platform",
            if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join(", ")
            }
        );
    };
    let digest = m
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| msg!("the index of {what} has an entry without a digest"))?;
    Ok((
        digest.to_string(),
        m.get("mediaType")
            .and_then(Value::as_str)
            .map(str::to_string),
    ))
}

/// Whether hutch can unpack a layer of this media type.
pub fn layer_supported(mt: &str) -> bool {
    matches!(
        mt,
        "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:aa","size":1,"platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:bb","size":1,"platform":{"os":"linux","architecture":"amd64"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cc","size":1,"platform":{"os":"unknown","architecture":"unknown"}}]}"#;

    #[test]
    fn selects_platform_and_explains_misses() {
        let p = |s| Platform::parse(s).unwrap();
        assert_eq!(
            select(INDEX.as_bytes(), &p("linux/amd64"), "x").unwrap().0,
            "sha256:bb"
        );
        assert_eq!(
            select(INDEX.as_bytes(), &p("linux/arm64"), "x").unwrap().0,
            "sha256:aa"
        );
        assert_eq!(
            select(INDEX.as_bytes(), &p("linux/arm64/v8"), "x")
                .unwrap()
                .0,
            "sha256:aa"
        );
        let e = select(INDEX.as_bytes(), &p("linux/s390x"), "img")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("linux/s390x") && e.contains("linux/arm64/v8, linux/amd64"),
            "{e}"
        );
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn classifies_and_refuses_schema1() {
        let (k, _) = classify(Some(OCI_INDEX), INDEX.as_bytes(), "x").unwrap();
        assert_eq!(k, Kind::Index);
        let (k, mt) = classify(Some("application/json"), br#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#, "x").unwrap();
        assert_eq!((k, mt.as_str()), (Kind::Image, DOCKER_MANIFEST));
        let e = classify(None, br#"{"schemaVersion":1,"fsLayers":[]}"#, "old:1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("old:1") && e.contains("schema 1"), "{e}");
    }
}
