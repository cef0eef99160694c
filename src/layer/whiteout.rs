//! The two whiteout vocabularies and how one name maps onto the other.
//!
//! OCI layers (image-spec `layer.md`) mark deletions with files named
//! `.wh.<name>` and opaque directories with `.wh..wh..opq`; overlayfs mounted
//! with `userxattr` marks them with a char device 0/0 and the xattr
//! `user.overlay.opaque=y`. This module only names things; unpack and diff
//! do the filesystem work.

/// Prefix of an OCI whiteout file name.
pub const WH_PREFIX: &[u8] = b".wh.";
/// The OCI opaque-directory marker.
pub const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
/// The xattr overlayfs (with `userxattr`) reads to hide lower directories.
pub const OPAQUE_XATTR: &str = "user.overlay.opaque";
/// The same marker when overlayfs runs with privilege (no `userxattr`).
pub const OPAQUE_XATTR_TRUSTED: &str = "trusted.overlay.opaque";

/// What one base name in a layer tar means.
#[derive(Debug, PartialEq, Eq)]
pub enum OciName<'a> {
    /// An ordinary file name.
    Plain,
    /// `.wh.<name>`: `name` is deleted from the lower layers.
    Whiteout(&'a [u8]),
    /// `.wh..wh..opq`: the containing directory hides the lower layers' contents.
    Opaque,
    /// Another `.wh..wh.` name: aufs bookkeeping (hard-link dirs and the
    /// like) that has no meaning outside aufs and is dropped, as
    /// containers/storage does.
    AufsMeta,
}

/// Classify a base name (one path component) from a layer tar.
pub fn classify(name: &[u8]) -> OciName<'_> {
    if name == OPAQUE_MARKER {
        OciName::Opaque
    } else if name.starts_with(b".wh..wh.") {
        OciName::AufsMeta
    } else if let Some(rest) = name.strip_prefix(WH_PREFIX) {
        OciName::Whiteout(rest)
    } else {
        OciName::Plain
    }
}

/// The OCI whiteout file name for a deleted `name`.
pub fn whiteout_name(name: &[u8]) -> Vec<u8> {
    let mut v = WH_PREFIX.to_vec();
    v.extend_from_slice(name);
    v
}

/// Whether an xattr is overlayfs's own bookkeeping. Such keys are never taken
/// from a tar (a crafted layer could otherwise plant opaque or redirect
/// markers) and never written into one (they are turned into OCI whiteouts).
pub fn is_overlay_xattr(key: &[u8]) -> bool {
    key.starts_with(b"user.overlay.") || key.starts_with(b"trusted.overlay.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names() {
        assert_eq!(classify(b"passwd"), OciName::Plain);
        assert_eq!(classify(b".wh.passwd"), OciName::Whiteout(b"passwd"));
        assert_eq!(classify(b".wh..wh..opq"), OciName::Opaque);
        assert_eq!(classify(b".wh..wh.plnk"), OciName::AufsMeta);
        assert_eq!(classify(b".whx"), OciName::Plain);
        assert_eq!(whiteout_name(b"a"), b".wh.a".to_vec());
        assert!(is_overlay_xattr(b"user.overlay.redirect"));
        assert!(!is_overlay_xattr(b"user.mime_type"));
    }
}
