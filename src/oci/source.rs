//! What `hutch load` reads: an OCI image layout directory, an OCI archive (a
//! tar of a layout, maybe gzip'd or zstd'd), or a `docker save` archive (a
//! `manifest.json` with `RepoTags`, legacy `<id>/layer.tar` or newer
//! `blobs/sha256/...` paths).
//!
//! Archives are unpacked into a directory the caller provides (the store's own
//! temp space) and then read like a directory. This module finds images and
//! their blobs and reports what it expects each blob's digest to be; it never
//! writes to the store, and leaves digest checks to the store's writer.

use super::config::parse_manifest;
use super::digest;
use super::error::SourceError;
use oci_spec::image::{Digest, ImageIndex, MediaType};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

/// Annotation with the image's name (a full reference or, upstream, a bare tag).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's and Docker's annotation with the full image name.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// A directory to read images from, with the links an archive carried.
#[derive(Debug)]
pub struct Source {
    root: PathBuf,
    /// Symlinks and hard links from an archive: path → target, both relative
    /// to the root. Never created on disk, so they cannot point outside.
    links: HashMap<String, String>,
    /// How to name the input in messages.
    label: String,
}

/// One blob an image needs, where it is and what its digest must be.
#[derive(Debug, Clone)]
pub struct BlobRef {
    pub path: PathBuf,
    pub expected: Option<Digest>,
    /// For messages: `layer 2 of image busybox:1.38.0-musl`.
    pub what: String,
}

#[derive(Debug, Clone)]
pub struct SourceLayer {
    pub blob: BlobRef,
    pub media_type: MediaType,
}

/// An image found in the input.
#[derive(Debug, Clone)]
pub struct SourceImage {
    /// Full names found (`busybox:1.38.0-musl`, not yet normalised).
    pub names: Vec<String>,
    /// Bare tags (`1.38.0-musl`) from `ref.name` with no repository beside them.
    pub bare_tags: Vec<String>,
    /// The manifest as stored in the input, with its media type; `None` for
    /// docker archives, whose manifest the store writes.
    pub manifest: Option<(Vec<u8>, MediaType)>,
    pub config: BlobRef,
    pub layers: Vec<SourceLayer>,
    /// For messages: which image of the input this is.
    pub label: String,
}

impl Source {
    /// Read a layout directory in place.
    pub fn dir(dir: &Path) -> Source {
        Source {
            root: dir.to_path_buf(),
            links: HashMap::new(),
            label: dir.display().to_string(),
        }
    }

    /// Unpack a tar stream (plain, gzip or zstd) into `dest` (an empty directory).
    pub fn extract(input: impl Read, dest: &Path, label: &str) -> Result<Source, super::Error> {
        Ok(Self::extract_into(input, dest, label)?)
    }

    fn extract_into(input: impl Read, dest: &Path, label: &str) -> Result<Source, SourceError> {
        let mut input = BufReader::with_capacity(1 << 16, input);
        let head = input
            .fill_buf()
            .map_err(|source| SourceError::Read {
                label: label.to_string(),
                source,
            })?
            .to_vec();
        if head.is_empty() {
            return Err(SourceError::Empty {
                label: label.to_string(),
            });
        }
        let reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(input))
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Box::new(
                zstd::Decoder::with_buffer(input).map_err(|source| SourceError::Zstd {
                    label: label.to_string(),
                    source,
                })?,
            )
        } else {
            Box::new(input)
        };
        let mut links = HashMap::new();
        let mut files = 0usize;
        let mut ar = tar::Archive::new(reader);
        let bad = |source: std::io::Error| SourceError::Truncated {
            label: label.to_string(),
            source,
        };
        for entry in ar.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let raw = entry.path().map_err(bad)?.to_string_lossy().into_owned();
            let Some(rel) = normalise(&raw) else {
                return Err(SourceError::UnsafePath {
                    label: label.to_string(),
                    path: raw,
                });
            };
            let kind = entry.header().entry_type();
            if kind.is_file() {
                if rel.is_empty() {
                    continue;
                }
                let path = dest.join(&rel);
                if let Some(parent) = path.parent() {
                    fs_err::create_dir_all(parent).map_err(SourceError::Unpack)?;
                }
                let mut out = fs_err::File::create(&path).map_err(SourceError::Unpack)?;
                std::io::copy(&mut entry, &mut out).map_err(bad)?;
                files += 1;
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name()
                    .map_err(bad)?
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Symlinks are relative to their directory, hard links to the root.
                let joined = if kind.is_symlink() && !target.starts_with('/') {
                    match rel.rsplit_once('/') {
                        Some((dir, _)) => format!("{dir}/{target}"),
                        None => target.clone(),
                    }
                } else {
                    target.clone()
                };
                let Some(t) = normalise(&joined) else {
                    return Err(SourceError::LinkLeaves {
                        label: label.to_string(),
                        path: raw,
                        target,
                    });
                };
                links.insert(rel, t);
            }
        }
        if files == 0 {
            return Err(SourceError::NoFiles {
                label: label.to_string(),
            });
        }
        Ok(Source {
            root: dest.to_path_buf(),
            links,
            label: label.to_string(),
        })
    }

    /// Every image in the input.
    pub fn images(&self) -> Result<Vec<SourceImage>, super::Error> {
        Ok(self.images_in()?)
    }

    fn images_in(&self) -> Result<Vec<SourceImage>, SourceError> {
        if self.exists("index.json") {
            self.oci_images()
        } else if self.exists("manifest.json") {
            self.docker_images()
        } else {
            Err(SourceError::NotAnImage {
                label: self.label.clone(),
            })
        }
    }

    fn exists(&self, rel: &str) -> bool {
        self.resolve(rel).is_ok_and(|p| p.is_file())
    }

    /// The on-disk path of `rel`, following the archive's links.
    fn resolve(&self, rel: &str) -> Result<PathBuf, SourceError> {
        let mut cur = normalise(rel).ok_or_else(|| SourceError::UnsafeReference {
            label: self.label.clone(),
            path: rel.to_string(),
        })?;
        for _ in 0..16 {
            match self.links.get(&cur) {
                Some(t) => cur = t.clone(),
                None => return Ok(self.root.join(&cur)),
            }
        }
        Err(SourceError::LinkLoop {
            label: self.label.clone(),
            path: rel.to_string(),
        })
    }

    fn read(&self, rel: &str, what: &'static str) -> Result<Vec<u8>, SourceError> {
        let p = self.resolve(rel)?;
        std::fs::read(&p).map_err(|source| SourceError::ReadFile {
            what,
            path: rel.to_string(),
            label: self.label.clone(),
            source,
        })
    }

    fn blob_path(&self, d: &Digest) -> Result<PathBuf, SourceError> {
        let p = self.resolve(&format!("blobs/{}/{}", d.algorithm(), d.digest()))?;
        if p.is_file() {
            Ok(p)
        } else {
            Err(SourceError::MissingBlob {
                digest: d.clone(),
                label: self.label.clone(),
            })
        }
    }

    fn oci_images(&self) -> Result<Vec<SourceImage>, SourceError> {
        let bytes = self.read("index.json", "the index")?;
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|source| SourceError::Index {
                label: self.label.clone(),
                source,
            })?;
        let mut out: Vec<(Digest, SourceImage)> = Vec::new();
        for (i, desc) in index.manifests().iter().enumerate() {
            let ann = desc.annotations().clone().unwrap_or_default();
            let mut names = Vec::new();
            let mut bare = Vec::new();
            if let Some(n) = ann.get(CONTAINERD_NAME) {
                names.push(n.clone());
            }
            if let Some(r) = ann.get(REF_NAME) {
                // The spec lets ref.name be just a tag; a full name has a
                // registry, repository path, tag or digest separator.
                if r.contains([':', '/', '@']) {
                    names.push(r.clone());
                } else if names.is_empty() {
                    bare.push(r.clone());
                }
            }
            let label = format!(
                "image {} ({}) in {}",
                i + 1,
                names
                    .first()
                    .or(bare.first())
                    .map(String::as_str)
                    .unwrap_or("unnamed"),
                self.label
            );
            let (mdigest, mbytes, mtype) =
                self.pick_manifest(desc.digest(), desc.media_type(), &label)?;
            if let Some((_, img)) = out.iter_mut().find(|(d, _)| *d == mdigest) {
                img.names.extend(names);
                img.bare_tags.extend(bare);
                continue;
            }
            let manifest = parse_manifest(&mbytes, &format!("manifest {mdigest} of {label}"))
                .map_err(|e| SourceError::Manifest(Box::new(e)))?;
            let config = BlobRef {
                path: self.blob_path(manifest.config().digest())?,
                expected: Some(manifest.config().digest().clone()),
                what: format!("config of {label}"),
            };
            let layers = manifest
                .layers()
                .iter()
                .enumerate()
                .map(|(n, l)| {
                    Ok(SourceLayer {
                        blob: BlobRef {
                            path: self.blob_path(l.digest())?,
                            expected: Some(l.digest().clone()),
                            what: format!("layer {} of {label}", n + 1),
                        },
                        media_type: l.media_type().clone(),
                    })
                })
                .collect::<Result<Vec<_>, SourceError>>()?;
            out.push((
                mdigest,
                SourceImage {
                    names,
                    bare_tags: bare,
                    manifest: Some((mbytes, mtype)),
                    config,
                    layers,
                    label,
                },
            ));
        }
        if out.is_empty() {
            return Err(SourceError::NoImages {
                file: "index.json",
                label: self.label.clone(),
            });
        }
        Ok(out.into_iter().map(|(_, i)| i).collect())
    }

    /// Read the manifest a descriptor points at, descending through nested
    /// indexes (multi-platform images) to the one for this machine.
    fn pick_manifest(
        &self,
        d: &Digest,
        mt: &MediaType,
        label: &str,
    ) -> Result<(Digest, Vec<u8>, MediaType), SourceError> {
        let mut d = d.clone();
        let mut mt = mt.clone();
        for _ in 0..4 {
            let bytes =
                std::fs::read(self.blob_path(&d)?).map_err(|source| SourceError::ReadBlob {
                    digest: d.clone(),
                    image: label.to_string(),
                    source,
                })?;
            let got = digest::of_bytes(&bytes);
            if got != d {
                return Err(SourceError::Corrupt {
                    digest: d,
                    image: label.to_string(),
                    got,
                });
            }
            let is_index = matches!(mt, MediaType::ImageIndex)
                || mt.to_string() == "application/vnd.docker.distribution.manifest.list.v2+json";
            if !is_index {
                return Ok((d, bytes, mt));
            }
            let idx: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|source| SourceError::NestedIndex {
                    digest: d.clone(),
                    image: label.to_string(),
                    source,
                })?;
            let (arch, os) = host_platform();
            let m = idx
                .manifests()
                .iter()
                .find(|m| {
                    m.platform().as_ref().is_some_and(|p| {
                        p.architecture().to_string() == arch && p.os().to_string() == os
                    })
                })
                .ok_or_else(|| SourceError::NoPlatform {
                    image: label.to_string(),
                    os,
                    arch,
                })?;
            d = m.digest().clone();
            mt = m.media_type().clone();
        }
        Err(SourceError::TooDeep {
            image: label.to_string(),
        })
    }

    fn docker_images(&self) -> Result<Vec<SourceImage>, SourceError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            layers: Vec<String>,
        }
        let bytes = self.read("manifest.json", "the docker manifest")?;
        let entries: Vec<Entry> =
            serde_json::from_slice(&bytes).map_err(|source| SourceError::DockerManifest {
                label: self.label.clone(),
                source,
            })?;
        if entries.is_empty() {
            return Err(SourceError::NoImages {
                file: "manifest.json",
                label: self.label.clone(),
            });
        }
        entries
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let names = e.repo_tags.unwrap_or_default();
                let label = format!(
                    "image {} ({}) in {}",
                    i + 1,
                    names.first().map(String::as_str).unwrap_or("unnamed"),
                    self.label
                );
                let config_path = self.existing(&e.config, &format!("config of {label}"))?;
                let layers = e
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(n, l)| {
                        let what = format!("layer {} of {label}", n + 1);
                        let path = self.existing(l, &what)?;
                        Ok(SourceLayer {
                            media_type: sniff_layer(&path, &what)?,
                            blob: BlobRef {
                                path,
                                expected: digest_in_name(l),
                                what,
                            },
                        })
                    })
                    .collect::<Result<Vec<_>, SourceError>>()?;
                Ok(SourceImage {
                    names,
                    bare_tags: vec![],
                    manifest: None,
                    config: BlobRef {
                        path: config_path,
                        expected: digest_in_name(&e.config),
                        what: format!("config of {label}"),
                    },
                    layers,
                    label,
                })
            })
            .collect()
    }

    fn existing(&self, rel: &str, what: &str) -> Result<PathBuf, SourceError> {
        let p = self.resolve(rel)?;
        if p.is_file() {
            Ok(p)
        } else {
            Err(SourceError::Missing {
                what: what.to_string(),
                path: rel.to_string(),
                label: self.label.clone(),
            })
        }
    }
}

/// Docker names files after their digest (`<hex>.json`, `<hex>.tar`,
/// `blobs/sha256/<hex>`); the legacy `<id>/layer.tar` carries none.
fn digest_in_name(rel: &str) -> Option<Digest> {
    let file = rel.rsplit('/').next()?;
    let hex = file
        .strip_suffix(".json")
        .or_else(|| file.strip_suffix(".tar"))
        .unwrap_or(file);
    if rel.starts_with("blobs/sha256/") || file.len() > hex.len() {
        digest::parse(&format!("sha256:{hex}")).ok()
    } else {
        None
    }
}

/// The media type of a docker-archive layer from its first bytes: `docker save`
/// writes plain tars, other tools sometimes keep the compressed blobs.
fn sniff_layer(path: &Path, what: &str) -> Result<MediaType, SourceError> {
    let mut head = [0u8; 4];
    let unreadable = |source| SourceError::ReadLayer {
        what: what.to_string(),
        source,
    };
    let mut f = File::open(path).map_err(unreadable)?;
    let n = f.read(&mut head).map_err(unreadable)?;
    Ok(if head[..n].starts_with(&[0x1f, 0x8b]) {
        MediaType::ImageLayerGzip
    } else if head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        MediaType::ImageLayerZstd
    } else {
        MediaType::ImageLayer
    })
}

/// Go's names for this machine's architecture and OS, as image configs use them.
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    (arch, "linux")
}

/// A relative, `..`-free form of an archive path; `None` if it would escape.
fn normalise(p: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_keeps_paths_inside() {
        assert_eq!(normalise("./a/b").as_deref(), Some("a/b"));
        assert_eq!(normalise("a/../b").as_deref(), Some("b"));
        assert_eq!(normalise("../x"), None);
        assert_eq!(normalise("/abs/x").as_deref(), Some("abs/x"));
    }

    #[test]
    fn digests_from_docker_file_names() {
        let hex = "ab".repeat(32);
        assert!(digest_in_name(&format!("{hex}.tar")).is_some());
        assert!(digest_in_name(&format!("blobs/sha256/{hex}")).is_some());
        assert!(digest_in_name(&format!("{hex}/layer.tar")).is_none());
    }
}
