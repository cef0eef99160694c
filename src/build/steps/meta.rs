//! Instructions that only change the image config: ENV, CMD, ENTRYPOINT,
//! WORKDIR (its directory is made by `copy`'s caller), USER, EXPOSE,
//! VOLUME, LABEL, STOPSIGNAL, HEALTHCHECK, ONBUILD, SHELL and MAINTAINER.
//!
//! The config is edited as JSON rather than through oci-spec's types
//! because Docker's `Healthcheck`, `OnBuild` and `Shell` keys are not part
//! of the OCI config and must survive. Shell forms are wrapped in the SHELL
//! in force (`["/bin/sh", "-c"]` by default). It touches no files.

use crate::build::error::StepError;
use crate::dockerfile::{parse_port, Command, Healthcheck, Instruction};
use serde_json::{json, Map, Value};

/// The SHELL in force for a config.
pub fn shell(config: &Value) -> Vec<String> {
    config
        .pointer("/config/Shell")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .filter(|v: &Vec<String>| !v.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// Exec form as is; shell form as `SHELL + [command]`.
pub fn argv(cmd: &Command, shell: &[String]) -> Vec<String> {
    match cmd {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            v
        }
    }
}

/// The inner `config` object, created when missing.
pub fn inner(config: &mut Value) -> &mut Map<String, Value> {
    let obj = config.as_object_mut().expect("image configs are objects");
    let c = obj
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()));
    if !c.is_object() {
        *c = Value::Object(Map::new());
    }
    c.as_object_mut().expect("just made an object")
}

fn set_add(map: &mut Map<String, Value>, key: &str, items: impl IntoIterator<Item = String>) {
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    let set = entry.as_object_mut().expect("just made an object");
    for i in items {
        set.insert(i, json!({}));
    }
}

/// Apply a metadata instruction (already expanded; a WORKDIR already made
/// absolute) to `config`. `cmd_set` says whether this stage has set CMD
/// itself. Returns false for instructions that are not metadata.
pub fn apply(config: &mut Value, ins: &Instruction, cmd_set: bool) -> Result<bool, StepError> {
    let sh = shell(config);
    match ins {
        Instruction::Env(kvs) => {
            let c = inner(config);
            let mut env: Vec<String> = c
                .get("Env")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            for kv in kvs {
                let line = format!("{}={}", kv.key, kv.value);
                match env
                    .iter_mut()
                    .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == kv.key)
                {
                    Some(slot) => *slot = line,
                    None => env.push(line),
                }
            }
            c.insert("Env".into(), json!(env));
        }
        Instruction::Cmd(cmd) => {
            inner(config).insert("Cmd".into(), json!(argv(cmd, &sh)));
        }
        Instruction::Entrypoint(cmd) => {
            let c = inner(config);
            c.insert("Entrypoint".into(), json!(argv(cmd, &sh)));
            // Docker drops a CMD inherited from the base image, but keeps
            // one this stage set before the ENTRYPOINT.
            if !cmd_set {
                c.remove("Cmd");
            }
        }
        Instruction::Workdir(dir) => {
            inner(config).insert("WorkingDir".into(), json!(dir));
        }
        Instruction::User(u) => {
            inner(config).insert("User".into(), json!(u));
        }
        Instruction::Expose(ports) => {
            let mut keys = Vec::new();
            for p in ports {
                let r = parse_port(p).map_err(|source| StepError::Port {
                    port: p.clone(),
                    source,
                })?;
                let proto = format!("{:?}", r.protocol).to_lowercase();
                for n in r.start..=r.end {
                    keys.push(format!("{n}/{proto}"));
                }
            }
            set_add(inner(config), "ExposedPorts", keys);
        }
        Instruction::Volume(v) => {
            set_add(inner(config), "Volumes", v.iter().cloned());
        }
        Instruction::Label(kvs) => {
            let c = inner(config);
            let labels = c
                .entry("Labels")
                .or_insert_with(|| Value::Object(Map::new()));
            if !labels.is_object() {
                *labels = Value::Object(Map::new());
            }
            let labels = labels.as_object_mut().expect("just made an object");
            for kv in kvs {
                labels.insert(kv.key.clone(), json!(kv.value));
            }
        }
        Instruction::Stopsignal(s) => {
            inner(config).insert("StopSignal".into(), json!(s));
        }
        Instruction::Shell(v) => {
            inner(config).insert("Shell".into(), json!(v));
        }
        Instruction::Onbuild(o) => {
            let c = inner(config);
            let list = c.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            list.as_array_mut()
                .expect("just made an array")
                .push(json!(o.expression));
        }
        Instruction::Healthcheck(h) => {
            let v = match h {
                Healthcheck::None => json!({"Test": ["NONE"]}),
                Healthcheck::Check {
                    command,
                    interval,
                    timeout,
                    start_period,
                    start_interval,
                    retries,
                } => {
                    let test = match command {
                        Command::Exec(v) => {
                            let mut t = vec!["CMD".to_string()];
                            t.extend(v.iter().cloned());
                            t
                        }
                        Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                    };
                    let mut m = Map::new();
                    m.insert("Test".into(), json!(test));
                    // Docker stores durations as nanoseconds.
                    for (k, d) in [
                        ("Interval", interval),
                        ("Timeout", timeout),
                        ("StartPeriod", start_period),
                        ("StartInterval", start_interval),
                    ] {
                        if let Some(d) = d {
                            m.insert(k.into(), json!(d.as_nanos() as u64));
                        }
                    }
                    if let Some(r) = retries {
                        m.insert("Retries".into(), json!(r));
                    }
                    Value::Object(m)
                }
            };
            inner(config).insert("Healthcheck".into(), v);
        }
        Instruction::Maintainer(m) => {
            config
                .as_object_mut()
                .expect("image configs are objects")
                .insert("author".into(), json!(m));
        }
        Instruction::Run(_) | Instruction::Add(_) | Instruction::Copy(_) | Instruction::Arg(_) => {
            return Ok(false)
        }
    }
    Ok(true)
}

/// A WORKDIR relative to the current one becomes absolute, as Docker does.
pub fn resolve_workdir(config: &Value, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        let cur = config
            .pointer("/config/WorkingDir")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("/");
        format!("{}/{dir}", cur.trim_end_matches('/'))
    };
    crate::build::ignore::clean(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    fn run(text: &str) -> Value {
        let df = parse(&format!("FROM scratch\n{text}"), "Dockerfile").unwrap();
        let mut cfg = json!({"config": {"Cmd": ["base"]}});
        let mut cmd_set = false;
        for i in &df.stages[0].instructions {
            apply(&mut cfg, &i.node, cmd_set).unwrap();
            cmd_set |= matches!(i.node, Instruction::Cmd(_));
        }
        cfg
    }

    #[test]
    fn shell_forms_and_docker_keys() {
        let c = run("SHELL [\"/bin/bash\", \"-ec\"]\nCMD echo hi\nENTRYPOINT [\"/e\"]\nHEALTHCHECK --interval=2s CMD curl x\nONBUILD RUN make\nEXPOSE 80 53/udp 8000-8001\nMAINTAINER me\n");
        let cfg = &c["config"];
        assert_eq!(
            cfg["Cmd"],
            json!(["/bin/bash", "-ec", "echo hi"]),
            "set in this stage"
        );
        assert_eq!(cfg["Entrypoint"], json!(["/e"]));
        assert_eq!(cfg["Shell"], json!(["/bin/bash", "-ec"]));
        assert_eq!(cfg["Healthcheck"]["Test"], json!(["CMD-SHELL", "curl x"]));
        assert_eq!(cfg["Healthcheck"]["Interval"], json!(2_000_000_000u64));
        assert_eq!(cfg["OnBuild"], json!(["RUN make"]));
        let ports: Vec<&String> = cfg["ExposedPorts"].as_object().unwrap().keys().collect();
        assert_eq!(ports, ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]);
        assert_eq!(c["author"], json!("me"));
        let c = run("ENTRYPOINT [\"/e\"]\n");
        assert!(
            c["config"].get("Cmd").is_none(),
            "the base image's CMD goes"
        );
    }

    #[test]
    fn relative_workdirs() {
        let c = json!({"config": {"WorkingDir": "/a"}});
        assert_eq!(resolve_workdir(&c, "b/../c"), "/a/c");
        assert_eq!(resolve_workdir(&c, "/x/"), "/x");
        assert_eq!(resolve_workdir(&json!({}), "y"), "/y");
    }
}
