//! `.devcontainer/devcontainer.json` (or `.devcontainer.json`) for a
//! project without a hutch.toml, mapped onto the same settings: `image`,
//! `build.{dockerfile,context,args,target}`, `containerEnv`, `remoteUser`
//! (entered as that name with the caller's uid, the reference CLI's
//! `updateRemoteUserUID`), `forwardPorts` (published on 127.0.0.1 through
//! pasta), `postCreateCommand` (once per container) and `postStartCommand`
//! (on every start), in string, array and object forms. The file is JSONC
//! (comments, trailing commas); `${localWorkspaceFolder}`,
//! `${containerWorkspaceFolder}`, `${localWorkspaceFolderBasename}` and
//! `${localEnv:VAR[:default]}` are replaced in strings. Other keys are
//! listed as ignored.
//!
//! Pure: it reads the text handed to it.

use super::config::{Build, Config, Run};
use super::Error;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The keys this module maps (hutch-devcontainer(5) lists each).
pub const KNOWN: [&str; 8] = [
    "name",
    "image",
    "build",
    "containerEnv",
    "remoteUser",
    "forwardPorts",
    "postCreateCommand",
    "postStartCommand",
];

/// One lifecycle command: each entry runs (an object's entries one after
/// another, in the file's order; the spec allows them in parallel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle(pub Vec<Vec<String>>);

/// What devcontainer.json adds beyond hutch.toml's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    pub remote_user: Option<String>,
    pub post_create: Option<Lifecycle>,
    pub post_start: Option<Lifecycle>,
    /// Top-level keys hutch does not act on.
    pub ignored: Vec<String>,
}

/// Where a devcontainer file is in `dir`, if any.
pub fn find(dir: &Path) -> Option<PathBuf> {
    [".devcontainer/devcontainer.json", ".devcontainer.json"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Parse `text` (the file `file` of the project in `root`).
pub fn parse(text: &str, file: &Path, root: &Path) -> Result<(Config, Extras), Error> {
    let bad = |key: &str, message: String| Error::Config {
        file: file.to_path_buf(),
        line: line_of(text, key),
        key: key.to_string(),
        message,
    };
    let mut v: Value = serde_json::from_str(&strip_jsonc(text)).map_err(|e| Error::Config {
        file: file.to_path_buf(),
        line: e.line(),
        key: String::new(),
        message: e.to_string(),
    })?;
    substitute(&mut v, root);
    let Value::Object(obj) = v else {
        return Err(bad("", "the file must hold one JSON object".into()));
    };
    let string = |key: &str| -> Result<Option<String>, Error> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(key, "expected a string".into())),
        }
    };
    let dir = file.parent().unwrap_or(root);
    let rel = |p: &str| -> String {
        let abs = dir.join(p);
        abs.strip_prefix(root)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| abs.display().to_string())
    };
    let build = match obj.get("build") {
        None => None,
        Some(Value::Object(b)) => {
            let field = |k: &str| -> Result<Option<String>, Error> {
                match b.get(k) {
                    None => Ok(None),
                    Some(Value::String(s)) => Ok(Some(s.clone())),
                    Some(_) => Err(bad(k, format!("build.{k}: expected a string"))),
                }
            };
            let args = strings(b.get("args"), "build.args").map_err(|(k, m)| bad(&k, m))?;
            Some(Build {
                containerfile: field("dockerfile")?.map(|f| rel(&f)),
                context: Some(rel(&field("context")?.unwrap_or_else(|| ".".into()))),
                target: field("target")?,
                args,
            })
        }
        Some(_) => return Err(bad("build", "expected an object".into())),
    };
    let image = string("image")?;
    if image.is_none() && !build.as_ref().is_some_and(|b| b.containerfile.is_some()) {
        return Err(bad(
            "image",
            "set `image` or `build.dockerfile`: hutch needs one of them".into(),
        ));
    }
    let env = strings(obj.get("containerEnv"), "containerEnv").map_err(|(k, m)| bad(&k, m))?;
    let mut ports = Vec::new();
    if let Some(p) = obj.get("forwardPorts") {
        let Value::Array(list) = p else {
            return Err(bad("forwardPorts", "expected an array".into()));
        };
        for p in list {
            match p {
                Value::Number(n) if n.as_u64().is_some_and(|n| (1..=65535).contains(&n)) => {
                    ports.push(format!("{n}:{n}"))
                }
                _ => {
                    return Err(bad(
                        "forwardPorts",
                        format!("{p}: only port numbers are supported (not host:port)"),
                    ))
                }
            }
        }
    }
    let lifecycle = |key: &str| -> Result<Option<Lifecycle>, Error> {
        obj.get(key)
            .map(|v| lifecycle(v).map_err(|m| bad(key, m)))
            .transpose()
    };
    let extras = Extras {
        remote_user: string("remoteUser")?,
        post_create: lifecycle("postCreateCommand")?,
        post_start: lifecycle("postStartCommand")?,
        ignored: obj
            .keys()
            .filter(|k| !KNOWN.contains(&k.as_str()))
            .cloned()
            .collect(),
    };
    let config = Config {
        image,
        build: build.filter(|_| obj.get("image").is_none()),
        run: Run {
            network: (!ports.is_empty()).then(|| "pasta".to_string()),
            ports,
            env,
            ..Run::default()
        },
        ..Config::default()
    };
    Ok((config, extras))
}

/// An object of strings (`build.args`, `containerEnv`); on error the key
/// to point at and the message.
fn strings(v: Option<&Value>, what: &str) -> Result<BTreeMap<String, String>, (String, String)> {
    let mut out = BTreeMap::new();
    let Some(v) = v else {
        return Ok(out);
    };
    let Value::Object(m) = v else {
        let key = what.rsplit('.').next().unwrap_or(what).to_string();
        return Err((key, format!("{what}: expected an object")));
    };
    for (k, v) in m {
        let Value::String(s) = v else {
            return Err((k.clone(), format!("{what}.{k}: expected a string")));
        };
        out.insert(k.clone(), s.clone());
    }
    Ok(out)
}

/// A command in the spec's three forms: a string for `sh -c`, an array run
/// as it is, an object of named strings or arrays.
fn lifecycle(v: &Value) -> Result<Lifecycle, String> {
    let one = |v: &Value| -> Result<Vec<String>, String> {
        match v {
            Value::String(s) => Ok(vec!["/bin/sh".into(), "-c".into(), s.clone()]),
            Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|x| x.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| "an array command holds only strings".to_string()),
            _ => Err("expected a string, an array of strings or an object".into()),
        }
    };
    match v {
        Value::Object(m) => Ok(Lifecycle(m.values().map(one).collect::<Result<_, _>>()?)),
        other => Ok(Lifecycle(vec![one(other)?])),
    }
}

/// The spec's variables in every string.
fn substitute(v: &mut Value, root: &Path) {
    match v {
        Value::String(s) if s.contains("${") => *s = expand(s, root),
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, root)),
        Value::Object(m) => m.values_mut().for_each(|x| substitute(x, root)),
        _ => {}
    }
}

fn expand(s: &str, root: &Path) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let var = &rest[start + 2..start + end];
        let value = match var {
            "localWorkspaceFolder" | "containerWorkspaceFolder" => root.display().to_string(),
            "localWorkspaceFolderBasename" | "containerWorkspaceFolderBasename" => root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            _ => match var.strip_prefix("localEnv:") {
                Some(spec) => {
                    let (name, default) = spec.split_once(':').unwrap_or((spec, ""));
                    std::env::var(name).unwrap_or_else(|_| default.to_string())
                }
                None => rest[start..start + end + 1].to_string(),
            },
        };
        out.push_str(&value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// JSONC → JSON: comments become spaces (so line numbers stay), and commas
/// before a closing bracket go.
fn strip_jsonc(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut pending_comma: Option<usize> = None;
    while i < b.len() {
        let c = b[i];
        if c == b'"' {
            pending_comma = None;
            let start = i;
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            out.extend_from_slice(&b[start..i]);
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            out.extend_from_slice(b"  ");
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                out.push(if b[i] == b'\n' { b'\n' } else { b' ' });
                i += 1;
            }
            out.extend_from_slice(b"  ");
            i += 2;
            continue;
        }
        match c {
            b',' => pending_comma = Some(out.len()),
            b']' | b'}' => {
                if let Some(at) = pending_comma.take() {
                    out[at] = b' ';
                }
            }
            c if c.is_ascii_whitespace() => {}
            _ => pending_comma = None,
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_default()
}

fn line_of(text: &str, key: &str) -> usize {
    let quoted = format!("\"{key}\"");
    text.lines()
        .position(|l| l.contains(&quoted))
        .map_or(0, |n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{
  // a comment, with "quotes"
  "name": "dev",
  "build": { "dockerfile": "Dockerfile", "context": "..", "args": { "BASE": "alpine" }, },
  "containerEnv": { "WHERE": "${localWorkspaceFolderBasename}", "X": "${localEnv:HUTCH_SURELY_UNSET:dflt}" },
  "remoteUser": "dev", /* block
  comment */
  "forwardPorts": [3000],
  "postCreateCommand": "echo created",
  "postStartCommand": { "a": ["echo", "one"], "b": "echo two" },
  "customizations": { "vscode": {} },
}"#;

    #[test]
    fn maps_the_supported_keys() {
        let root = Path::new("/w/proj");
        let (c, x) = parse(FILE, &root.join(".devcontainer/devcontainer.json"), root).unwrap();
        let b = c.build.unwrap();
        assert_eq!(b.containerfile.as_deref(), Some(".devcontainer/Dockerfile"));
        assert_eq!(b.context.as_deref(), Some(".devcontainer/.."));
        assert_eq!(b.args["BASE"], "alpine");
        assert_eq!(c.run.env["WHERE"], "proj");
        assert_eq!(c.run.env["X"], "dflt");
        assert_eq!(c.run.ports, vec!["3000:3000"]);
        assert_eq!(x.remote_user.as_deref(), Some("dev"));
        assert_eq!(
            x.post_create,
            Some(Lifecycle(vec![vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo created".into()
            ]]))
        );
        assert_eq!(x.post_start.unwrap().0.len(), 2);
        assert_eq!(x.ignored, vec!["customizations"]);
    }

    #[test]
    fn errors_name_the_key() {
        let root = Path::new("/w");
        let f = root.join(".devcontainer.json");
        let e = parse(
            "{\n\"image\": \"x\",\n\"forwardPorts\": [\"db:5432\"]\n}",
            &f,
            root,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("/w/.devcontainer.json:3: forwardPorts:"),
            "{e}"
        );
        let e = parse("{ \"name\": 1 }", &f, root).unwrap_err().to_string();
        assert!(e.contains(": image:"), "{e}");
        let e = parse("{ \"image\": \"x\" \n \"y\": 1 }", &f, root)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/w/.devcontainer.json:2:"), "{e}");
    }
}
