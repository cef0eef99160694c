//! keep-id's metadata layers in the store (`ROOT/o-meta/`, see
//! `rootfs::metacopy`): what each entry is, for gc, `system check` and
//! `system df`. A layer is named `<image id hex>-<mapping hash>` and goes
//! with its image. It is built in a scratch dir (`tmp`) and renamed into
//! place; hutch before that built it in `o-meta/.<name>.<pid>`, which a
//! killed build left behind.
//!
//! It only lists; removal is gc's.

use std::path::{Path, PathBuf};

/// `ROOT/o-meta/`.
pub const META_DIR: &str = "o-meta";

/// One entry of `ROOT/o-meta/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaEntry {
    pub path: PathBuf,
    pub kind: MetaKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaKind {
    /// A finished layer of the image with this id (hex).
    Layer { image: String },
    /// The build directory of a process that is gone.
    Leftover,
}

/// Every metadata layer and leftover build; a build whose process still
/// runs is neither.
pub fn entries(root: &Path) -> Vec<MetaEntry> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root.join(META_DIR))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let kind = match name.strip_prefix('.') {
            Some(building) => {
                let pid = building.rsplit('.').next().and_then(|p| p.parse().ok());
                if pid.is_some_and(running) {
                    continue;
                }
                MetaKind::Leftover
            }
            None => MetaKind::Layer {
                image: name.split('-').next().unwrap_or_default().to_string(),
            },
        };
        out.push(MetaEntry {
            path: e.path(),
            kind,
        });
    }
    out
}

impl super::Store {
    /// Every finished metadata layer.
    pub fn meta_layers(&self) -> Vec<PathBuf> {
        entries(&self.root)
            .into_iter()
            .filter(|e| matches!(e.kind, MetaKind::Layer { .. }))
            .map(|e| e.path)
            .collect()
    }
}

fn running(pid: i32) -> bool {
    pid > 0 && Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_name_their_image_and_dead_builds_are_leftovers() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join(META_DIR);
        assert!(entries(root.path()).is_empty(), "no directory: nothing");
        let me = std::process::id();
        for d in [
            "abc-12345678".to_string(),
            ".abc-99999999.2147483646".to_string(),
            format!(".abc-87654321.{me}"),
        ] {
            std::fs::create_dir_all(base.join(d)).unwrap();
        }
        let mut got = entries(root.path());
        got.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(
            got,
            vec![
                MetaEntry {
                    path: base.join(".abc-99999999.2147483646"),
                    kind: MetaKind::Leftover
                },
                MetaEntry {
                    path: base.join("abc-12345678"),
                    kind: MetaKind::Layer {
                        image: "abc".into()
                    }
                },
            ],
            "a build whose process runs is left alone"
        );
    }
}
