//! ADD from an http(s) URL: download the file into scratch space, hashing
//! it on the way, and check `--checksum` when given.
//!
//! Docker's rules: the file keeps the name of the URL's last path element,
//! gets mode 0600 and the `Last-Modified` time (else 0), and is never
//! unpacked even when it is an archive. It does not place the file (see
//! `copy`) nor decide cache keys (the builder uses the content hash, or the
//! checksum without downloading when one is given).

use crate::build::Result;
use crate::chain::{bail, msg, WithContext};
use sha2::{Digest as _, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A downloaded ADD source.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    /// The file name the URL gives.
    pub name: String,
    pub mtime: i64,
    /// `sha256:<hex>` of the content.
    pub digest: String,
}

/// Whether an ADD source is a URL.
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name an URL gives: its last path element.
pub fn url_name(url: &str) -> Result<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let name = path
        .split_once('/')
        .map(|(_, p)| p.rsplit('/').next().unwrap_or(""))
        .unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        bail!("{url}: cannot tell a file name from the URL; name the destination file instead");
    }
    Ok(name.to_string())
}

/// Download `url` into `dir`.
pub fn fetch(url: &str, dir: &Path, checksum: Option<&str>) -> Result<Fetched> {
    let name = url_name(url)?;
    let resp = ureq::get(url)
        .call()
        .map_err(|e| msg!("cannot download {url}: {e}"))?;
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map_or(0, |t| t.timestamp());
    let mut body = resp.into_body().into_reader();
    let mut tmp = tempfile::NamedTempFile::new_in(dir).context("cannot create a temp file")?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = body
            .read(&mut buf)
            .with_context(|| format!("cannot download {url}"))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        tmp.write_all(&buf[..n])
            .context("cannot write the download")?;
    }
    let digest = format!("sha256:{}", hex::encode(h.finalize()));
    if let Some(want) = checksum {
        if want != digest {
            bail!("{url}: the download hashes to {digest}, not the --checksum {want}");
        }
    }
    let (_, path) = tmp.keep().context("cannot keep the download")?;
    Ok(Fetched {
        path,
        name,
        mtime,
        digest,
    })
}

/// Check the form of a `--checksum` value (`sha256:` and 64 hex digits).
pub fn check_checksum(c: &str) -> Result<()> {
    match c.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(()),
        _ => bail!("--checksum={c}: expected sha256:<64 hex digits>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_urls() {
        assert_eq!(url_name("https://h/a/b.tar.gz?x=1").unwrap(), "b.tar.gz");
        assert!(url_name("https://h/").is_err());
        assert!(url_name("https://h").is_err());
        assert!(check_checksum("sha256:abc").is_err());
        assert!(check_checksum(&format!("sha256:{}", "a".repeat(64))).is_ok());
    }
}
