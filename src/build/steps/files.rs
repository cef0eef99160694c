//! The COPY and ADD executor: gathers the sources (from the context, a
//! heredoc, or another stage or image), computes their input hash for the
//! cache key, and fills the layer tree with `copy`'s rules.
//!
//! It does not store anything; the builder turns the tree into a layer.

use super::copy::{keep_parents, sniff, Archive, Placement, Src, SrcEntry, SrcKind};
use super::fetch::Fetched;
use super::owner::{parse_chmod, resolve_chown};
use super::tree::{Data, Tree};
use crate::build::context::{BuildContext, Kind, Matched};
use crate::build::error::{FileError, StepError};
use crate::build::glob;
use crate::build::imagefs::ImageFs;
use crate::dockerfile::Source;
use std::io::{BufRead, BufReader, Read};

/// COPY and ADD, once expanded.
pub struct FileStep<'a> {
    pub add: bool,
    pub sources: &'a [Source],
    pub dest: &'a str,
    pub chown: Option<&'a str>,
    pub chmod: Option<&'a str>,
    pub checksum: Option<&'a str>,
    /// The WORKDIR a relative destination is taken from.
    pub workdir: &'a str,
}

/// Sources of a step read from the context, resolved once per step.
pub struct Resolved {
    pub matched: Vec<Matched>,
    /// A wildcard or several sources: the destination must be a directory.
    pub many: bool,
}

fn is_git(s: &str) -> bool {
    s.starts_with("git@") || s.starts_with("git://") || s.ends_with(".git")
}

impl FileStep<'_> {
    fn verb(&self) -> &'static str {
        if self.add {
            "ADD"
        } else {
            "COPY"
        }
    }

    /// Resolve the context sources (not for `--from`), refusing what hutch
    /// cannot do instead of doing something else.
    pub fn resolve(&self, ctx: &BuildContext) -> Result<Resolved, FileError> {
        if self.add {
            if let Some(url) = self.sources.iter().find_map(|s| match s {
                Source::Path(p) if is_git(p) => Some(p),
                _ => None,
            }) {
                return Err(FileError::Git(url.clone()));
            }
            if self.checksum.is_some() {
                return Err(FileError::ChecksumNotUrl);
            }
        }
        let mut matched = Vec::new();
        let mut many = self.sources.len() > 1;
        for s in self.sources {
            if let Source::Path(p) = s {
                many |= glob::has_wildcards(p);
                matched.extend(ctx.resolve(p)?);
            }
        }
        many |= matched.len() > 1;
        Ok(Resolved { matched, many })
    }

    /// The absolute destination.
    pub fn dest(&self) -> String {
        if self.dest.starts_with('/') {
            self.dest.to_string()
        } else {
            format!("{}/{}", self.workdir.trim_end_matches('/'), self.dest)
        }
    }

    /// Fill the layer. `lower` is the image the step builds on; `from` the
    /// stage or image of `COPY --from`.
    pub fn run(
        &self,
        resolved: Option<&Resolved>,
        from: Option<&ImageFs>,
        lower: &ImageFs,
    ) -> Result<Tree, FileError> {
        let (owner, chmod) = self.owner_and_mode(lower)?;
        let mut sources: Vec<Src> = Vec::new();
        let mut archives: Vec<(String, std::path::PathBuf)> = Vec::new();
        let mut many = self.sources.len() > 1;
        if let Some(fs) = from {
            for s in self.sources {
                let Source::Path(p) = s else { continue };
                if glob::has_wildcards(p) {
                    many = true;
                    let found = fs.glob(p)?;
                    if found.is_empty() {
                        return Err(FileError::NoMatchFrom(p.clone()));
                    }
                    sources.extend(found.iter().filter_map(|m| super::copy::from_image(fs, m)));
                    continue;
                }
                let src = super::copy::from_image(fs, p)
                    .ok_or_else(|| FileError::NotInFrom(p.clone()))?;
                sources.push(src);
            }
        } else if let Some(r) = resolved {
            many |= r.many;
            for m in &r.matched {
                let is_file =
                    !m.is_dir() && m.entries.first().is_some_and(|e| e.kind == Kind::File);
                if self.add && is_file {
                    let abs = &m.entries[0].abs;
                    match archive_kind(abs)? {
                        Archive::Tar => {
                            archives.push((m.path.clone(), abs.clone()));
                            continue;
                        }
                        Archive::Unsupported(kind) => {
                            return Err(FileError::Compressed {
                                path: m.path.clone(),
                                kind,
                            })
                        }
                        Archive::NotArchive => {}
                    }
                }
                sources.push(src_of(m));
            }
        }
        for s in self.sources {
            if let Source::Inline(doc) = s {
                sources.push(Src {
                    name: doc.name.clone(),
                    entries: vec![SrcEntry {
                        rel: String::new(),
                        kind: SrcKind::File(Data::Bytes(doc.body().into_owned().into_bytes())),
                        mode: 0o644,
                        mtime: 0,
                        inode: None,
                    }],
                });
            }
        }
        let dest = self.dest();
        if many && !self.dest.ends_with('/') {
            return Err(FileError::DestNotDir(self.verb()));
        }
        let place = Placement {
            dest_is_dir: self.dest.ends_with('/') || many || !archives.is_empty(),
            dest,
            owner,
            chmod,
            lower,
        };
        let mut tree = Tree::default();
        place.place(&mut tree, &sources);
        for (name, abs) in archives {
            let f = std::fs::File::open(&abs).map_err(|e| FileError::Read {
                path: abs.clone(),
                error: e,
            })?;
            let (_, tar) = crate::layer::codec::decompressed(BufReader::new(f))?;
            place.extract(&mut tree, tar, &name)?;
        }
        keep_parents(&mut tree, lower);
        Ok(tree)
    }
}

/// A uid and gid.
type Owner = (u32, u32);

impl FileStep<'_> {
    /// `--chown` resolved against `lower` and `--chmod`, when given.
    fn owner_and_mode(&self, lower: &ImageFs) -> Result<(Option<Owner>, Option<u32>), StepError> {
        let owner = self.chown.map(|c| resolve_chown(c, lower)).transpose()?;
        Ok((owner, self.chmod.map(parse_chmod).transpose()?))
    }

    /// Place a file ADD downloaded (mode 0600, never unpacked).
    pub fn place_download(&self, f: &Fetched, lower: &ImageFs) -> Result<Tree, StepError> {
        let (owner, chmod) = self.owner_and_mode(lower)?;
        let place = Placement {
            dest_is_dir: self.dest.ends_with('/'),
            dest: self.dest(),
            owner,
            chmod,
            lower,
        };
        let mut tree = Tree::default();
        place.place(
            &mut tree,
            &[Src {
                name: f.name.clone(),
                entries: vec![SrcEntry {
                    rel: String::new(),
                    kind: SrcKind::File(Data::Path(f.path.clone())),
                    mode: 0o600,
                    mtime: f.mtime,
                    inode: None,
                }],
            }],
        );
        keep_parents(&mut tree, lower);
        Ok(tree)
    }
}

/// Whether a local ADD source is an archive to unpack.
fn archive_kind(path: &std::path::Path) -> Result<Archive, FileError> {
    let unreadable = |error| FileError::Read {
        path: path.to_path_buf(),
        error,
    };
    let f = std::fs::File::open(path).map_err(unreadable)?;
    let mut r = BufReader::new(f);
    let head = r.fill_buf().map_err(unreadable)?.to_vec();
    if crate::layer::codec::detect(&head) == crate::layer::codec::Compression::None {
        return Ok(sniff(&head, None));
    }
    let (_, mut inner) = crate::layer::codec::decompressed(r)?;
    let mut buf = vec![0u8; 512];
    let mut got = 0;
    while got < buf.len() {
        match inner.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            // A corrupt compressed file is not an archive: ADD copies it.
            Err(_) => break,
        }
    }
    Ok(sniff(&head, Some(&buf[..got])))
}

fn src_of(m: &Matched) -> Src {
    let name = m.path.rsplit('/').next().unwrap_or("").to_string();
    let entries = m
        .entries
        .iter()
        .map(|e| SrcEntry {
            rel: e.rel.clone(),
            kind: match &e.kind {
                Kind::Dir => SrcKind::Dir,
                Kind::File => SrcKind::File(Data::Path(e.abs.clone())),
                Kind::Symlink(t) => SrcKind::Symlink(t.clone()),
            },
            mode: e.mode,
            mtime: e.mtime,
            inode: e.inode.clone(),
        })
        .collect();
    Src { name, entries }
}
