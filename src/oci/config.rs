//! Reading image configs and manifests written by other tools.
//!
//! Docker and older builders omit fields that oci-spec's types require (an
//! empty `history`, `null` lists); this module fills those gaps before
//! deserialising so that real-world images load. It never changes the bytes
//! that are stored: the config digest is the image id.

use super::{Error, Result};
use oci_spec::image::{ImageConfiguration, ImageManifest};
use serde_json::Value;

/// Parse an image config blob; `what` names it in errors.
pub fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|e| Error::Json {
        what: what.to_string(),
        error: e,
    })?;
    let obj = v.as_object_mut().ok_or_else(|| Error::NotObject {
        what: what.to_string(),
    })?;
    if obj.get("history").map_or(true, Value::is_null) {
        obj.insert("history".into(), Value::Array(vec![]));
    }
    if let Some(Value::Object(cfg)) = obj.get_mut("config") {
        // Docker writes `null` for empty maps and lists; oci-spec wants them absent.
        cfg.retain(|_, val| !val.is_null());
    }
    serde_json::from_value(v).map_err(|e| Error::Invalid {
        what: what.to_string(),
        kind: "image config",
        error: e,
    })
}

/// Parse an image manifest blob (OCI or Docker schema 2, which share a shape).
pub fn parse_manifest(bytes: &[u8], what: &str) -> Result<ImageManifest> {
    serde_json::from_slice(bytes).map_err(|e| Error::Invalid {
        what: what.to_string(),
        kind: "image manifest",
        error: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerates_docker_nulls_and_missing_history() {
        let c = br#"{"architecture":"amd64","os":"linux",
            "config":{"Cmd":["sh"],"Env":null,"ExposedPorts":null,"Labels":null},
            "rootfs":{"type":"layers","diff_ids":[]}}"#;
        let cfg = parse_config(c, "config x").unwrap();
        assert!(cfg.history().is_empty());
        assert_eq!(
            cfg.config().as_ref().unwrap().cmd().as_ref().unwrap()[0],
            "sh"
        );
        assert!(parse_config(b"[]", "config y")
            .unwrap_err()
            .to_string()
            .contains("config y"));
    }
}
