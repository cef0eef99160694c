//! `--change` edits to an image config, in Dockerfile syntax: CMD, ENTRYPOINT
//! (JSON or shell form), ENV, WORKDIR, USER, EXPOSE, LABEL, VOLUME and
//! STOPSIGNAL, as `docker import --change` accepts them.
//!
//! It edits an oci-spec `Config` in memory; it does not write anything.

use super::ChangeError;
use oci_spec::image::Config;

/// Apply one `--change` line to `cfg`.
pub fn apply(cfg: &mut Config, change: &str) -> super::Result<()> {
    let change = change.trim();
    let (word, rest) = change
        .split_once(char::is_whitespace)
        .map(|(w, r)| (w, r.trim()))
        .unwrap_or((change, ""));
    let bad = |why: ChangeError| super::Error::Change {
        change: change.to_string(),
        why,
    };
    if rest.is_empty() {
        return Err(bad(ChangeError::NoArgument));
    }
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            cfg.set_cmd(Some(command(rest)));
        }
        "ENTRYPOINT" => {
            cfg.set_entrypoint(Some(command(rest)));
        }
        "ENV" => {
            let mut env = cfg.env().clone().unwrap_or_default();
            for (k, v) in pairs(rest).map_err(bad)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                env.push(format!("{k}={v}"));
            }
            cfg.set_env(Some(env));
        }
        "LABEL" => {
            let mut labels = cfg.labels().clone().unwrap_or_default();
            for (k, v) in pairs(rest).map_err(bad)? {
                labels.insert(k, v);
            }
            cfg.set_labels(Some(labels));
        }
        "WORKDIR" => {
            let dir = words(rest).map_err(bad)?.join(" ");
            // A relative WORKDIR continues from the previous one (Dockerfile rule).
            let dir = if dir.starts_with('/') {
                dir
            } else {
                let base = cfg.working_dir().clone().unwrap_or_else(|| "/".into());
                format!("{}/{dir}", base.trim_end_matches('/'))
            };
            cfg.set_working_dir(Some(dir));
        }
        "USER" => {
            cfg.set_user(Some(rest.to_string()));
        }
        "STOPSIGNAL" => {
            cfg.set_stop_signal(Some(rest.to_string()));
        }
        "EXPOSE" => {
            let mut ports = cfg.exposed_ports().clone().unwrap_or_default();
            for p in words(rest).map_err(bad)? {
                let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                let valid = !num.is_empty()
                    && num.split('-').all(|n| n.parse::<u16>().is_ok())
                    && matches!(proto, "tcp" | "udp" | "sctp");
                if !valid {
                    return Err(bad(ChangeError::Port(p)));
                }
                let key = format!("{num}/{proto}");
                if !ports.contains(&key) {
                    ports.push(key);
                }
            }
            cfg.set_exposed_ports(Some(ports));
        }
        "VOLUME" => {
            let mut vols = cfg.volumes().clone().unwrap_or_default();
            let new = if rest.starts_with('[') {
                json_list(rest).map_err(bad)?
            } else {
                words(rest).map_err(bad)?
            };
            for v in new {
                if !vols.contains(&v) {
                    vols.push(v);
                }
            }
            cfg.set_volumes(Some(vols));
        }
        other => return Err(bad(ChangeError::Instruction(other.to_string()))),
    }
    Ok(())
}

/// JSON form (`["sh","-c","x"]`) as is; shell form runs under `/bin/sh -c`.
fn command(rest: &str) -> Vec<String> {
    if rest.starts_with('[') {
        if let Ok(v) = json_list(rest) {
            return v;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), rest.to_string()]
}

fn json_list(s: &str) -> Result<Vec<String>, ChangeError> {
    serde_json::from_str(s).map_err(|error| ChangeError::NotJsonList {
        text: s.to_string(),
        error,
    })
}

/// `k=v k2="v 2"`, or the old form `k some value`.
fn pairs(rest: &str) -> Result<Vec<(String, String)>, ChangeError> {
    let first = rest.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words(rest)?
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(ChangeError::NotKeyValue(w)),
        })
        .collect()
}

/// Split on blanks outside quotes; quotes are removed, `\` escapes one char.
fn words(s: &str) -> Result<Vec<String>, ChangeError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                cur.extend(chars.next());
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(ChangeError::Quote(s.to_string()));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(changes: &[&str]) -> Config {
        let mut c = Config::default();
        for ch in changes {
            apply(&mut c, ch).unwrap();
        }
        c
    }

    #[test]
    fn dockerfile_forms() {
        let c = cfg(&[
            r#"CMD ["sh"]"#,
            "ENTRYPOINT echo hi",
            r#"ENV A=1 B="two words""#,
            "ENV A 3",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
            "EXPOSE 80 53/udp",
            r#"LABEL org.x="y z""#,
            r#"VOLUME ["/data"]"#,
            "VOLUME /cache",
            "stopsignal SIGINT",
        ]);
        assert_eq!(c.cmd().clone().unwrap(), vec!["sh"]);
        assert_eq!(
            c.entrypoint().clone().unwrap(),
            vec!["/bin/sh", "-c", "echo hi"]
        );
        assert_eq!(c.env().clone().unwrap(), vec!["B=two words", "A=3"]);
        assert_eq!(c.working_dir().as_deref(), Some("/srv/app"));
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        assert_eq!(c.exposed_ports().clone().unwrap(), vec!["80/tcp", "53/udp"]);
        assert_eq!(c.labels().clone().unwrap()["org.x"], "y z");
        assert_eq!(c.volumes().clone().unwrap(), vec!["/data", "/cache"]);
        assert_eq!(c.stop_signal().as_deref(), Some("SIGINT"));
    }

    #[test]
    fn bad_changes_say_why() {
        let mut c = Config::default();
        assert!(apply(&mut c, "RUN x")
            .unwrap_err()
            .to_string()
            .contains("cannot be changed"));
        assert!(apply(&mut c, "EXPOSE http")
            .unwrap_err()
            .to_string()
            .contains("not a port"));
        assert!(apply(&mut c, "CMD")
            .unwrap_err()
            .to_string()
            .contains("needs an argument"));
        assert!(apply(&mut c, "ENV A=\"x")
            .unwrap_err()
            .to_string()
            .contains("unterminated"));
    }
}
