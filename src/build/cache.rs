//! Cache keys of build steps.
//!
//! A step's key is sha256 over: a format version, the platform, the id of
//! the image the step starts from (config digest, or `scratch`), the
//! instruction after variable expansion, the build arguments it uses
//! (`Scope::used_args`: every ARG in scope for RUN, the referenced ones
//! otherwise) and a hash of its inputs (the context files a COPY/ADD
//! reads, the result of a `--from` stage). Everything else that could
//! change the result is inside one of those, so a hit may reuse the
//! stored step exactly (same layer digest, same config).
//!
//! Results are stored as store pins (see `store::pins`: `cache/steps/<key>`
//! → manifest digest), which garbage collection keeps. This module only
//! computes keys.

use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// Bump when what a step produces changes for the same inputs, so old
/// entries stop matching.
const FORMAT: &str = "hutch-build-cache-v1";

/// Everything a step's result depends on.
pub struct KeyParts<'a> {
    pub platform: &'a str,
    /// Config digest of the parent image, or `scratch`.
    pub parent: &'a str,
    /// The expanded instruction (its canonical dump).
    pub instruction: &'a str,
    pub used_args: &'a BTreeMap<String, String>,
    /// Hashes of inputs outside the parent image, in a fixed order.
    pub inputs: &'a [String],
}

/// The key, 64 lowercase hex digits.
pub fn key(p: &KeyParts<'_>) -> String {
    let mut h = Sha256::new();
    // Length-prefixed fields: no two different part lists hash alike.
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    field(FORMAT);
    field(p.platform);
    field(p.parent);
    field(p.instruction);
    for (k, v) in p.used_args {
        field(k);
        field(v);
    }
    field("inputs");
    for i in p.inputs {
        field(i);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_counts() {
        let args = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let none = BTreeMap::new();
        let base = KeyParts {
            platform: "linux/amd64",
            parent: "sha256:aa",
            instruction: "RUN x",
            used_args: &args,
            inputs: &[],
        };
        let k = key(&base);
        assert_eq!(k.len(), 64);
        assert_eq!(k, key(&base));
        let inputs = ["h".to_string()];
        for other in [
            KeyParts {
                parent: "scratch",
                ..base
            },
            KeyParts {
                instruction: "RUN y",
                ..base
            },
            KeyParts {
                used_args: &none,
                ..base
            },
            KeyParts {
                inputs: &inputs,
                ..base
            },
            KeyParts {
                platform: "linux/arm64",
                ..base
            },
        ] {
            assert_ne!(key(&other), k);
        }
    }
}
