//! The JSON shown for images: Docker's `docker inspect` object (keys `Id`,
//! `RepoTags`, `RepoDigests`, `Created`, `Config.{Env,Cmd,...}`, `RootFS`,
//! plus Podman's `History`) and the rows of `hutch images --format json`
//! (Podman's field names).
//!
//! It only shapes data it is given; it reads nothing.

use super::imageconfig::ImageConfig;
use oci_spec::image::{ImageConfiguration, ImageManifest};
use serde_json::{json, Map, Value};

/// What the JSON is built from (mirrors `store::Image` without depending on it).
pub struct ImageFacts<'a> {
    pub id: &'a str,
    pub manifest_digest: &'a str,
    pub manifest: &'a ImageManifest,
    pub config: &'a ImageConfiguration,
    pub names: &'a [String],
    pub size: u64,
}

/// `repo@manifest-digest` for each distinct repository the image is named in.
pub fn repo_digests(f: &ImageFacts<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in f.names {
        let repo = n.rsplit_once(':').map_or(n.as_str(), |(r, _)| r);
        let d = format!("{repo}@{}", f.manifest_digest);
        if !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

fn set_of(v: &Option<Vec<String>>) -> Value {
    match v {
        Some(items) => Value::Object(items.iter().map(|k| (k.clone(), json!({}))).collect()),
        None => Value::Null,
    }
}

/// Docker's `inspect` object for one image.
pub fn inspect(f: &ImageFacts<'_>) -> Value {
    let cfg = f.config.config().clone().unwrap_or_default();
    let labels = cfg
        .labels()
        .as_ref()
        .map(|l| {
            let mut m: Vec<_> = l.iter().collect();
            m.sort();
            Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect::<Map<_, _>>(),
            )
        })
        .unwrap_or(Value::Null);
    let comment = f
        .config
        .history()
        .last()
        .and_then(|h| h.comment().clone())
        .unwrap_or_default();
    json!({
        "Id": f.id,
        "Digest": f.manifest_digest,
        "RepoTags": f.names,
        "RepoDigests": repo_digests(f),
        "Parent": "",
        "Comment": comment,
        "Created": f.config.created().clone().unwrap_or_default(),
        "Author": f.config.author().clone().unwrap_or_default(),
        "Architecture": f.config.architecture().to_string(),
        "Os": f.config.os().to_string(),
        "Variant": f.config.variant().clone().unwrap_or_default(),
        "Size": f.size,
        "Config": {
            "User": cfg.user().clone().unwrap_or_default(),
            "ExposedPorts": set_of(cfg.exposed_ports()),
            "Env": cfg.env(),
            "Cmd": cfg.cmd(),
            "Entrypoint": cfg.entrypoint(),
            "WorkingDir": cfg.working_dir().clone().unwrap_or_default(),
            "Labels": labels,
            "Volumes": set_of(cfg.volumes()),
            "StopSignal": cfg.stop_signal().clone().unwrap_or_default(),
        },
        "RootFS": {
            "Type": f.config.rootfs().typ(),
            "Layers": f.config.rootfs().diff_ids(),
        },
        "History": f.config.history(),
        "ManifestMediaType": f.manifest.media_type().as_ref().map(|m| m.to_string()),
    })
}

/// Docker's config keys that the OCI config type has no field for
/// (`Healthcheck`, `OnBuild`, `Shell`), taken from the raw config JSON and
/// added to an `inspect` object's `Config`.
pub fn add_docker_config_keys(inspected: &mut Value, raw_config: &[u8]) {
    let Ok(raw) = ImageConfig::parse(raw_config, "the image config") else {
        return;
    };
    let (Some(run), Some(cfg)) = (
        raw.config(),
        inspected.get_mut("Config").and_then(Value::as_object_mut),
    ) else {
        return;
    };
    if let Some(h) = run.healthcheck() {
        cfg.insert("Healthcheck".into(), json!(h));
    }
    if let Some(o) = run.on_build() {
        cfg.insert("OnBuild".into(), json!(o));
    }
    if let Some(s) = run.shell() {
        cfg.insert("Shell".into(), json!(s));
    }
}

/// One row of `hutch images --format json`, with Podman's field names.
pub fn list_row(f: &ImageFacts<'_>) -> Value {
    let created = f.config.created().clone().unwrap_or_default();
    let unix = chrono::DateTime::parse_from_rfc3339(&created)
        .map(|t| t.timestamp())
        .unwrap_or(0);
    let labels = f
        .config
        .config()
        .as_ref()
        .and_then(|c| c.labels().clone())
        .map(|l| json!(l))
        .unwrap_or(Value::Null);
    json!({
        "Id": f.id.trim_start_matches("sha256:"),
        "ParentId": "",
        "RepoTags": f.names,
        "RepoDigests": repo_digests(f),
        "Size": f.size,
        "Labels": labels,
        "Names": f.names,
        "Digest": f.manifest_digest,
        "Created": unix,
        "CreatedAt": created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_only_config_keys_reach_inspect() {
        let mut v = json!({"Config": {"Cmd": ["sh"]}});
        let raw = br#"{"config":{"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Retries":2},
            "OnBuild":["RUN x"],"Shell":["/bin/bash","-c"],"Labels":null}}"#;
        add_docker_config_keys(&mut v, raw);
        assert_eq!(v["Config"]["Healthcheck"]["Retries"], 2);
        assert_eq!(v["Config"]["OnBuild"], json!(["RUN x"]));
        assert_eq!(v["Config"]["Shell"], json!(["/bin/bash", "-c"]));
        assert_eq!(v["Config"]["Cmd"], json!(["sh"]));
    }

    #[test]
    fn docker_shape() {
        let config: ImageConfiguration = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","created":"2026-05-13T02:21:49Z",
            "config":{"Cmd":["sh"],"ExposedPorts":{"80/tcp":{}},"Labels":{"a":"b"}},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"comment":"hi"}]}"#,
        )
        .unwrap();
        let manifest: ImageManifest = serde_json::from_str(&format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{}","size":1}},"layers":[]}}"#,
            "1".repeat(64)
        ))
        .unwrap();
        let names = vec![
            "docker.io/library/x:1".to_string(),
            "docker.io/library/x:2".into(),
        ];
        let f = ImageFacts {
            id: "sha256:abc",
            manifest_digest: "sha256:def",
            manifest: &manifest,
            config: &config,
            names: &names,
            size: 7,
        };
        let v = inspect(&f);
        assert_eq!(v["Id"], "sha256:abc");
        assert_eq!(v["RepoDigests"], json!(["docker.io/library/x@sha256:def"]));
        assert_eq!(v["Config"]["Cmd"], json!(["sh"]));
        assert_eq!(v["Config"]["ExposedPorts"], json!({"80/tcp": {}}));
        assert_eq!(v["Config"]["Entrypoint"], Value::Null);
        assert_eq!(v["Comment"], "hi");
        assert_eq!(v["RootFS"]["Layers"], json!(["sha256:aa"]));
        let row = list_row(&f);
        assert_eq!(row["Id"], "abc");
        assert_eq!(row["Created"], 1778638909);
    }
}
