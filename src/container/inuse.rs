//! Which images containers use, so that pruning, `rmi` and `system check
//! --repair` never take away what a container runs on. The store is given
//! this set by its caller (it sits below containers and never reads their
//! records).
//!
//! Only the records' image ids and names matter here. It reads and never
//! writes.

use super::Containers;
use std::collections::HashMap;
use std::path::Path;

/// Image id (`sha256:...`) → the name of one container that uses it.
pub fn images_in_use(state: &Path) -> HashMap<String, String> {
    let mut out = HashMap::new();
    // A record being rewritten is replaced by rename, so a read sees a whole
    // one; an unreadable record cannot protect anything anyway.
    for r in Containers::new(state).list() {
        out.entry(r.image_id).or_insert(r.name);
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
            r#"{"id":"abc123","name":"web","image":"x","image_id":"sha256:11","command":[],
                "created":"2026-01-01T00:00:00Z","status":"exited","mapping_key":"k"}"#,
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
