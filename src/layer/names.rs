//! Tar entry names turned into safe paths below the layer root.
//!
//! A name is split into components and cleaned lexically, as containers/storage
//! does with `filepath.Clean`: empty and `.` components vanish, `..` removes the
//! previous component, and a `..` with nothing left to remove is an escape and
//! rejected. A leading `/` is dropped, so absolute names land inside the layer
//! root (what Docker and containers/storage do; images built by old tools carry
//! such names). Symlinks are not looked at here at all: the resulting
//! components are opened one by one, never following any, by `tree`.

use std::ffi::{CStr, CString};

/// A cleaned entry name: zero or more plain components below the layer root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPath {
    parts: Vec<CString>,
}

impl EntryPath {
    /// Clean a raw tar name; the error names the entry.
    pub fn parse(raw: &[u8]) -> Result<EntryPath, super::Error> {
        let mut parts: Vec<CString> = Vec::new();
        for comp in raw.split(|b| *b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() {
                        return Err(super::Error::Escapes(show(raw)));
                    }
                }
                c => parts.push(CString::new(c).map_err(|_| super::Error::Nul(show(raw)))?),
            }
        }
        Ok(EntryPath { parts })
    }

    /// The directories leading to the entry (empty for top-level entries).
    pub fn parent(&self) -> &[CString] {
        match self.parts.split_last() {
            Some((_, dirs)) => dirs,
            None => &[],
        }
    }

    /// The last component, or None for the layer root itself.
    pub fn name(&self) -> Option<&CStr> {
        self.parts.last().map(|c| c.as_c_str())
    }

    /// All components.
    pub fn parts(&self) -> &[CString] {
        &self.parts
    }

    /// `a/b/c` (no leading slash; empty for the root), as a map key whose byte
    /// order puts every directory before its contents.
    pub fn key(&self) -> Vec<u8> {
        let mut k = Vec::new();
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                k.push(b'/');
            }
            k.extend_from_slice(p.to_bytes());
        }
        k
    }

    /// `/a/b/c`, for messages.
    pub fn display(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.key()))
    }
}

/// A raw name for an error message (quoted, lossy).
pub fn show(raw: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Result<String, String> {
        EntryPath::parse(s.as_bytes())
            .map(|p| String::from_utf8(p.key()).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn cleans_names_lexically() {
        assert_eq!(key("./usr/bin/").unwrap(), "usr/bin");
        assert_eq!(key("/etc/passwd").unwrap(), "etc/passwd");
        assert_eq!(key("a//b/./c").unwrap(), "a/b/c");
        assert_eq!(key("a/b/../c").unwrap(), "a/c");
        assert_eq!(key("./").unwrap(), "");
        let p = EntryPath::parse(b"a/b/c").unwrap();
        assert_eq!(p.parent().len(), 2);
        assert_eq!(p.name().unwrap().to_bytes(), b"c");
        assert_eq!(p.display(), "/a/b/c");
    }

    #[test]
    fn rejects_escapes() {
        let e = key("../x").unwrap_err();
        assert!(e.contains("\"../x\"") && e.contains("escapes"), "{e}");
        assert!(key("a/../../x").is_err());
        assert!(key("/../etc/passwd").is_err());
    }
}
