//! sha256 digests: parsing `sha256:<hex>` strings and hashing while reading.
//!
//! Only sha256 is accepted: it is what every image in the wild uses, and one
//! algorithm keeps blob paths unambiguous. Nothing here touches the filesystem.

use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::str::FromStr;

/// Parse `sha256:<64 hex>`; other algorithms are refused with a clear reason.
pub fn parse(s: &str) -> super::Result<Digest> {
    let d = Digest::from_str(s).map_err(|e| super::Error::Digest {
        input: s.to_string(),
        error: e,
    })?;
    if *d.algorithm() != DigestAlgorithm::Sha256 {
        return Err(super::Error::Algorithm(s.to_string()));
    }
    Ok(d)
}

/// The digest of `hex`; only called with the 64 hex chars a sha256 produces.
fn from_hex(hex: &str) -> Digest {
    parse(&format!("sha256:{hex}")).expect("a sha256 hex string always forms a valid digest")
}

/// sha256 of a byte slice.
pub fn of_bytes(data: &[u8]) -> Digest {
    from_hex(&hex::encode(Sha256::digest(data)))
}

/// A reader that hashes and counts everything read through it.
pub struct Hasher<R> {
    inner: R,
    sha: Sha256,
    size: u64,
}

impl<R: Read> Hasher<R> {
    pub fn new(inner: R) -> Self {
        Hasher {
            inner,
            sha: Sha256::new(),
            size: 0,
        }
    }

    /// Read the rest of the input (so trailing bytes count), then return the
    /// digest and size of everything that passed through.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((from_hex(&hex::encode(self.sha.finalize())), self.size))
    }
}

impl<R: Read> Read for Hasher<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_sha256_only() {
        let hex = "a".repeat(64);
        assert_eq!(parse(&format!("sha256:{hex}")).unwrap().digest(), hex);
        assert!(parse("sha256:abc")
            .unwrap_err()
            .to_string()
            .contains("invalid digest"));
        let other = format!("sha512:{}", "a".repeat(128));
        assert!(parse(&other)
            .unwrap_err()
            .to_string()
            .contains("only sha256"));
    }

    #[test]
    fn hasher_counts_everything() {
        let h = Hasher::new(&b"hello"[..]);
        let (d, n) = h.finish().unwrap();
        assert_eq!(n, 5);
        assert_eq!(
            d.digest(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(of_bytes(b"hello"), d);
    }
}
