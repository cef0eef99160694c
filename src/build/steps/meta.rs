//! Instructions that only change the image config: ENV, CMD, ENTRYPOINT,
//! WORKDIR (its directory is made by `copy`'s caller), USER, EXPOSE,
//! VOLUME, LABEL, STOPSIGNAL, HEALTHCHECK, ONBUILD, SHELL and MAINTAINER.
//!
//! The config is edited through `oci::imageconfig`, which keeps Docker's
//! `Healthcheck`, `OnBuild` and `Shell` keys and everything it does not
//! know. Shell forms are wrapped in the SHELL in force (`["/bin/sh", "-c"]`
//! by default). It touches no files.

use crate::build::error::StepError;
use crate::dockerfile::{parse_port, Command, Healthcheck, Instruction};
use crate::oci::imageconfig::{HealthConfig, ImageConfig};

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

/// Apply a metadata instruction (already expanded; a WORKDIR already made
/// absolute) to `config`. `cmd_set` says whether this stage has set CMD
/// itself. Returns false for instructions that are not metadata.
pub fn apply(
    config: &mut ImageConfig,
    ins: &Instruction,
    cmd_set: bool,
) -> Result<bool, StepError> {
    let sh = config.shell();
    match ins {
        Instruction::Env(kvs) => {
            let env = config.config_mut().env_mut();
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
        }
        Instruction::Cmd(cmd) => {
            config.config_mut().set_cmd(Some(argv(cmd, &sh)));
        }
        Instruction::Entrypoint(cmd) => {
            let c = config.config_mut();
            c.set_entrypoint(Some(argv(cmd, &sh)));
            // Docker drops a CMD inherited from the base image, but keeps
            // one this stage set before the ENTRYPOINT.
            if !cmd_set {
                c.set_cmd(None);
            }
        }
        Instruction::Workdir(dir) => {
            config.config_mut().set_working_dir(Some(dir.clone()));
        }
        Instruction::User(u) => {
            config.config_mut().set_user(Some(u.clone()));
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
            let set = config.config_mut().exposed_ports_mut();
            for k in keys {
                set.insert(k);
            }
        }
        Instruction::Volume(v) => {
            let set = config.config_mut().volumes_mut();
            for k in v {
                set.insert(k.clone());
            }
        }
        Instruction::Label(kvs) => {
            let labels = config.config_mut().labels_mut();
            for kv in kvs {
                labels.insert(kv.key.clone(), kv.value.clone());
            }
        }
        Instruction::Stopsignal(s) => {
            config.config_mut().set_stop_signal(Some(s.clone()));
        }
        Instruction::Shell(v) => {
            config.config_mut().set_shell(Some(v.clone()));
        }
        Instruction::Onbuild(o) => {
            config
                .config_mut()
                .on_build_mut()
                .push(o.expression.clone());
        }
        Instruction::Healthcheck(h) => {
            let mut hc = HealthConfig::default();
            match h {
                Healthcheck::None => hc.set_test(Some(vec!["NONE".into()])),
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
                    hc.set_test(Some(test));
                    // Docker stores durations as nanoseconds.
                    let nanos = |d: &Option<std::time::Duration>| d.map(|d| d.as_nanos() as u64);
                    hc.set_interval(nanos(interval));
                    hc.set_timeout(nanos(timeout));
                    hc.set_start_period(nanos(start_period));
                    hc.set_start_interval(nanos(start_interval));
                    hc.set_retries(retries.map(u64::from));
                }
            }
            config.config_mut().set_healthcheck(Some(hc));
        }
        Instruction::Maintainer(m) => {
            config.set_author(Some(m.clone()));
        }
        Instruction::Run(_) | Instruction::Add(_) | Instruction::Copy(_) | Instruction::Arg(_) => {
            return Ok(false)
        }
    }
    Ok(true)
}

/// A WORKDIR relative to the current one becomes absolute, as Docker does.
pub fn resolve_workdir(config: &ImageConfig, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", config.working_dir().trim_end_matches('/'))
    };
    crate::build::ignore::clean(&joined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;
    use serde_json::{json, Value};

    fn config(json: &str) -> ImageConfig {
        ImageConfig::parse(json.as_bytes(), "config").unwrap()
    }

    fn run(text: &str) -> Value {
        let df = parse(&format!("FROM scratch\n{text}"), "Dockerfile").unwrap();
        let mut cfg = config(r#"{"config": {"Cmd": ["base"]}}"#);
        let mut cmd_set = false;
        for i in &df.stages[0].instructions {
            apply(&mut cfg, &i.node, cmd_set).unwrap();
            cmd_set |= matches!(i.node, Instruction::Cmd(_));
        }
        serde_json::to_value(&cfg).unwrap()
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
    fn docker_shaped_configs_are_edited_as_earlier_versions_wrote_them() {
        // A Docker-written base (nulls, keys hutch does not know, its key
        // order), and the bytes hutch wrote before the config was typed:
        // the same build must give the same image ids.
        let mut c = config(
            r#"{"config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"Tty":false,"Env":["PATH=/bin"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD","true"],"Retries":3,"Interval":5000000000},"ArgsEscaped":true,"Image":"sha256:abc","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":["LABEL from.onbuild=yes","ENV OB=1"],"Labels":null,"Shell":["/bin/sh","-c"]}}"#,
        );
        // The builder takes the triggers out before running them.
        c.config_mut().set_on_build(None);
        let df = parse(
            "FROM x\nLABEL from.onbuild=yes\nENV OB=1\nEXPOSE 81\nLABEL x=y\nENTRYPOINT [\"/e\"]\nHEALTHCHECK NONE\nONBUILD COPY a.txt /\nVOLUME [\"/v\"]\nCMD echo hi\n",
            "Dockerfile",
        )
        .unwrap();
        for i in &df.stages[0].instructions {
            apply(&mut c, &i.node, false).unwrap();
        }
        let run = serde_json::to_string(c.config().unwrap()).unwrap();
        assert_eq!(
            run,
            r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"Tty":false,"Env":["PATH=/bin","OB=1"],"ExposedPorts":{"81/tcp":{}},"Healthcheck":{"Test":["NONE"]},"ArgsEscaped":true,"Image":"sha256:abc","Volumes":{"/v":{}},"WorkingDir":"","Entrypoint":["/e"],"Shell":["/bin/sh","-c"],"Labels":{"from.onbuild":"yes","x":"y"},"OnBuild":["COPY a.txt /"],"Cmd":["/bin/sh","-c","echo hi"]}"#
        );
    }

    #[test]
    fn relative_workdirs() {
        let c = config(r#"{"config": {"WorkingDir": "/a"}}"#);
        assert_eq!(resolve_workdir(&c, "b/../c"), "/a/c");
        assert_eq!(resolve_workdir(&c, "/x/"), "/x");
        assert_eq!(resolve_workdir(&config("{}"), "y"), "/y");
    }
}
