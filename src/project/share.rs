//! Sharing an environment: `env push REF` pushes its current version (a
//! new snapshot unless nothing changed since the newest one) with the
//! definition digest as a config label (set by every snapshot) and a
//! manifest annotation; `pushed.json` in the environment's directory
//! remembers where it went and the manifest digest. The exports
//! use that image by digest: a devcontainer.json (for any tool that speaks
//! the spec) and Kubernetes Pod or batch/v1 Job manifests.
//!
//! The Kubernetes project directory is a PersistentVolumeClaim (a
//! `hostPath` names a directory of the node, which does not hold the
//! project), mounted at the project's own path; the container runs as the
//! caller's uid, with the environment's env and ports.
//!
//! It never prints; the CLI writes what these functions return.

use super::environment::Environment;
use super::state::EnvDir;
use super::versions::{Version, DEFINITION_LABEL};
use super::Error;
use crate::registry::push::{self, Layers};
use crate::registry::Net;
use crate::report::Progress;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// PATH for images that set none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where the environment was last pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushed {
    /// The full reference pushed to.
    pub reference: String,
    /// The manifest digest the registry holds.
    pub digest: String,
    pub version: u32,
}

impl Pushed {
    /// `repository@digest`: the pushed image, pinned.
    pub fn pinned(&self) -> String {
        let repo = match self.reference.rsplit_once(':') {
            Some((r, tag)) if !tag.contains('/') => r,
            _ => &self.reference,
        };
        format!("{repo}@{}", self.digest)
    }
}

impl EnvDir {
    pub fn pushed(&self) -> Option<Pushed> {
        self.read_json("pushed.json")
    }
}

/// What a Kubernetes export is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeKind {
    /// An interactive Pod (a shell with stdin and a terminal), or one
    /// running the command.
    Pod,
    /// A batch/v1 Job running the command once.
    Job,
}

impl Environment<'_> {
    /// Push the environment's current version to `dest`: the newest one
    /// when nothing changed since it was taken, else a new snapshot.
    pub fn push(
        &self,
        dest: &str,
        net: &Net,
        progress: &dyn Progress,
    ) -> Result<(Version, Pushed), Error> {
        let v = {
            let _lock = self.lock()?;
            let (st, rec) = self.current()?;
            match self.unchanged_version(&rec)? {
                Some(v) => v,
                None => self.snapshot_locked(&st, &rec, format!("pushed to {dest}"))?,
            }
        };
        let store = self.store()?;
        let opts = push::Options {
            net,
            progress,
            format: None,
            // gzip: what every registry and runtime reads.
            layers: Layers::All(push::Compression::Gzip),
            annotations: [(DEFINITION_LABEL.to_string(), v.definition.clone())].into(),
        };
        let (reference, digest) = push::push(&store, &self.version_tag(v.n), Some(dest), &opts)
            .map_err(|e| Error::Backend(e.into()))?;
        let p = Pushed {
            reference,
            digest: digest.to_string(),
            version: v.n,
        };
        self.envdir.write_file(
            "pushed.json",
            &serde_json::to_vec(&p).map_err(std::io::Error::other)?,
        )?;
        Ok((v, p))
    }

    fn pushed(&self) -> Result<Pushed, Error> {
        self.envdir.pushed().ok_or(Error::NotPushed)
    }

    /// A devcontainer.json running the pushed image, the project mounted
    /// at its own path.
    pub fn export_devcontainer(&self) -> Result<String, Error> {
        let p = self.pushed()?;
        let run = &self.project.config.run;
        let root = self.project.root.display().to_string();
        let mut d = json!({
            "name": self.project.env_name(),
            "image": p.pinned(),
            "workspaceFolder": root,
            "workspaceMount": format!("source=${{localWorkspaceFolder}},target={root},type=bind"),
        });
        if !run.env.is_empty() {
            d["containerEnv"] = json!(run.env);
        }
        let ports: Vec<u16> = run
            .ports
            .iter()
            .filter_map(|p| container_port(p).map(|(n, _)| n))
            .collect();
        if !ports.is_empty() {
            d["forwardPorts"] = json!(ports);
        }
        Ok(serde_json::to_string_pretty(&d).map_err(std::io::Error::other)? + "\n")
    }

    /// Kubernetes YAML: a PersistentVolumeClaim for the project and a Pod
    /// or Job running the pushed image as the caller.
    pub fn export_kube(&self, kind: KubeKind, command: &[String]) -> Result<String, Error> {
        if kind == KubeKind::Job && command.is_empty() {
            return Err(Error::JobWithoutCommand);
        }
        let p = self.pushed()?;
        let run = &self.project.config.run;
        let name = self.project.env_name().to_lowercase();
        let claim = format!("{name}-project");
        let root = self.project.root.display().to_string();
        let (uid, gid) = (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        );
        let mut container = json!({
            "name": "env",
            "image": p.pinned(),
            "workingDir": root,
            "volumeMounts": [{"name": "project", "mountPath": root}],
        });
        if command.is_empty() {
            container["command"] = json!([self.shell()]);
            container["stdin"] = json!(true);
            container["tty"] = json!(true);
        } else {
            container["command"] = json!(command);
        }
        // The definition's digest as a variable, not a pod annotation:
        // podman's kube play holds annotations to label rules (63 bytes).
        let mut env =
            vec![json!({"name": "HUTCH_ENV_DEFINITION", "value": self.pushed_definition(&p)})];
        // An image without PATH (an imported rootfs) gets the one hutch and
        // Docker give it at run time; a pod's runtime would not.
        if !self.pushed_has_path(&p) {
            env.push(json!({"name": "PATH", "value": DEFAULT_PATH}));
        }
        env.extend(run.env.iter().map(|(k, v)| json!({"name": k, "value": v})));
        container["env"] = Value::Array(env);
        let ports: Vec<Value> = run
            .ports
            .iter()
            .filter_map(|s| container_port(s))
            .map(|(n, proto)| json!({"containerPort": n, "protocol": proto}))
            .collect();
        if !ports.is_empty() {
            container["ports"] = Value::Array(ports);
        }
        if let Some(r) = resources(&run.limits) {
            container["resources"] = r;
        }
        let pod_spec = json!({
            "restartPolicy": if command.is_empty() { "Always" } else { "Never" },
            "securityContext": {"runAsUser": uid, "runAsGroup": gid, "fsGroup": gid},
            "containers": [container],
            "volumes": [{"name": "project", "persistentVolumeClaim": {"claimName": claim}}],
        });
        let pvc = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        });
        let labels =
            json!({"app.kubernetes.io/name": name, "app.kubernetes.io/managed-by": "hutch"});
        let workload = match kind {
            KubeKind::Pod => json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "labels": labels},
                "spec": pod_spec,
            }),
            KubeKind::Job => json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "backoffLimit": 0,
                    "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                },
            }),
        };
        Ok(format!("{}---\n{}", yaml(&pvc), yaml(&workload)))
    }

    fn pushed_has_path(&self, p: &Pushed) -> bool {
        let Ok(store) = self.store() else { return true };
        let Ok(image) = store.image(&self.version_tag(p.version)) else {
            return true;
        };
        image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.env().as_ref())
            .is_some_and(|e| e.iter().any(|v| v.starts_with("PATH=")))
    }

    fn pushed_definition(&self, p: &Pushed) -> String {
        self.log()
            .ok()
            .and_then(|all| all.into_iter().find(|v| v.n == p.version))
            .map(|v| v.definition)
            .unwrap_or_default()
    }
}

/// The container port and protocol of a `[IP:][HOSTPORT:]PORT[/PROTO]`.
/// hutch.toml's `[run.limits]` as a container's Kubernetes resources: the
/// same amount requested and limited, so the scheduler places the pod where
/// the environment gets what it has on the laptop. Kubernetes has no
/// per-container pids or /dev/shm limit, so those stay behind.
fn resources(limits: &crate::project::config::Limits) -> Option<Value> {
    let mut amounts = serde_json::Map::new();
    // Both were checked when hutch.toml was read.
    if let Some(bytes) = limits
        .memory
        .as_deref()
        .and_then(|m| crate::sandbox::limits::parse_size(m).ok())
    {
        amounts.insert("memory".into(), json!(bytes.to_string()));
    }
    if let Some(cpus) = &limits.cpus {
        amounts.insert("cpu".into(), json!(cpus));
    }
    (!amounts.is_empty()).then(|| json!({"requests": amounts, "limits": amounts}))
}

fn container_port(spec: &str) -> Option<(u16, &'static str)> {
    let (ports, proto) = match spec.rsplit_once('/') {
        Some((p, "udp")) => (p, "UDP"),
        Some((p, _)) => (p, "TCP"),
        None => (spec, "TCP"),
    };
    let n = ports.rsplit(':').next()?.parse().ok()?;
    Some((n, proto))
}

/// `v` as block-style YAML; strings are JSON-quoted, which YAML reads as
/// double-quoted scalars, so no value can turn into another type.
fn yaml(v: &Value) -> String {
    let mut out = String::new();
    block(v, 0, &mut out);
    out
}

fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                out.push_str(&format!("{pad}{}:", scalar(&Value::String(k.clone()))));
                inline_or_block(x, indent, out);
            }
        }
        Value::Array(a) => {
            for x in a {
                out.push_str(&format!("{pad}-"));
                match x {
                    Value::Object(m) if !m.is_empty() => {
                        // The first key on the dash's line, the rest below it.
                        let mut first = true;
                        for (k, y) in m {
                            let lead = if first {
                                " ".to_string()
                            } else {
                                format!("{pad}  ")
                            };
                            first = false;
                            out.push_str(&format!("{lead}{}:", scalar(&Value::String(k.clone()))));
                            inline_or_block(y, indent + 2, out);
                        }
                    }
                    _ => inline_or_block(x, indent, out),
                }
            }
        }
        _ => {
            out.push_str(&pad);
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

fn inline_or_block(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            block(v, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(container_port("8080:80"), Some((80, "TCP")));
        assert_eq!(container_port("127.0.0.1:53:53/udp"), Some((53, "UDP")));
        assert_eq!(container_port("3000"), Some((3000, "TCP")));
        assert_eq!(container_port("x"), None);
    }

    #[test]
    fn limits_become_requests_and_limits() {
        let none = crate::project::config::Limits::default();
        assert_eq!(resources(&none), None);
        let set = crate::project::config::Limits {
            memory: Some("1g".into()),
            cpus: Some("1.5".into()),
            pids: Some(100),
            ..none
        };
        let amounts = json!({"memory": "1073741824", "cpu": "1.5"});
        assert_eq!(
            resources(&set),
            Some(json!({"requests": amounts, "limits": amounts}))
        );
    }

    #[test]
    fn yaml_blocks() {
        let v = json!({"a": 1, "b": ["x", {"c": true, "d": {"e": "y: z"}}], "f": {}, "g": []});
        assert_eq!(
            yaml(&v),
            "\"a\": 1\n\"b\":\n  - \"x\"\n  - \"c\": true\n    \"d\":\n      \"e\": \"y: z\"\n\"f\": {}\n\"g\": []\n"
        );
    }

    #[test]
    fn pinned_reference() {
        let p = Pushed {
            reference: "127.0.0.1:5000/team/env:v1".into(),
            digest: "sha256:ab".into(),
            version: 1,
        };
        assert_eq!(p.pinned(), "127.0.0.1:5000/team/env@sha256:ab");
    }
}
