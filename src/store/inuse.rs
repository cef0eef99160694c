//! Which images containers use, so that pruning, `rmi` and `system check
//! --repair` never take away what a container runs on.
//!
//! Containers are recorded by `hutch run` as `<state>/<id>/container.json`;
//! only the `image_id` and `name` fields are read here, so this module needs
//! nothing else from the record. It reads and never writes.

use std::collections::HashMap;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Record {
    #[serde(default)]
    name: String,
    image_id: String,
}

/// Image id (`sha256:...`) → the name of one container that uses it.
pub fn images_in_use(state: &Path) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Ok(rd) = std::fs::read_dir(state) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(bytes) = std::fs::read(e.path().join("container.json")) else {
            continue;
        };
        // A record being rewritten is replaced by rename, so a read sees a
        // whole one; an unreadable record cannot protect anything anyway.
        if let Ok(r) = serde_json::from_slice::<Record>(&bytes) {
            let name = if r.name.is_empty() {
                e.file_name().to_string_lossy().chars().take(12).collect()
            } else {
                r.name
            };
            out.entry(r.image_id).or_insert(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_image_ids_of_container_records() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("abc123");
        std::fs::create_dir(&c).unwrap();
        std::fs::write(
            c.join("container.json"),
            r#"{"id":"abc123","name":"web","image_id":"sha256:11","status":"exited"}"#,
        )
        .unwrap();
        std::fs::create_dir(d.path().join("junk")).unwrap();
        std::fs::write(d.path().join("features.json"), "{}").unwrap();
        let m = images_in_use(d.path());
        assert_eq!(m.len(), 1);
        assert_eq!(m["sha256:11"], "web");
        assert!(images_in_use(&d.path().join("missing")).is_empty());
    }
}
