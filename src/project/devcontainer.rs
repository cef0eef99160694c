//! `.devcontainer/devcontainer.json` (or `.devcontainer.json`) for a
//! project without a hutch.toml, mapped onto the same settings: `image`,
//! `build.{dockerfile,context,args,target,options}`, `containerEnv`,
//! `remoteEnv`, `remoteUser` and `containerUser` (entered as that name with
//! the caller's uid, the reference CLI's `updateRemoteUserUID`),
//! `forwardPorts` and `appPort` (published through pasta), `mounts`,
//! `workspaceFolder`/`workspaceMount`, `capAdd`, `securityOpt`,
//! `privileged`, `runArgs` (the `run` flags hutch has), `overrideCommand`,
//! and the lifecycle commands in the spec's order: `initializeCommand` (on
//! the host), `onCreateCommand`, `updateContentCommand` and
//! `postCreateCommand` (once per container), `postStartCommand` (every
//! start), `postAttachCommand` (every interactive entry), in string, array
//! and object forms. The file is JSONC (comments, trailing commas);
//! `${localWorkspaceFolder}`, `${containerWorkspaceFolder}`,
//! `${localWorkspaceFolderBasename}`, `${localEnv:VAR[:default]}` and
//! `${containerEnv:VAR[:default]}` (from `containerEnv`) are replaced in
//! strings. Other keys, and flags of `runArgs` and `build.options` hutch
//! has no use for, are listed as ignored.
//!
//! Pure: it reads the text handed to it.

use super::config::{Build, Config, Run};
use super::{ConfigError, Error, Shape};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The keys this module maps (hutch-devcontainer(5) lists each).
pub const KNOWN: [&str; 25] = [
    "name",
    "image",
    "build",
    "containerEnv",
    "remoteEnv",
    "remoteUser",
    "containerUser",
    "updateRemoteUserUID",
    "forwardPorts",
    "appPort",
    "mounts",
    "workspaceFolder",
    "workspaceMount",
    "capAdd",
    "securityOpt",
    "privileged",
    "init",
    "runArgs",
    "overrideCommand",
    "initializeCommand",
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "postAttachCommand",
];

/// One lifecycle command: each entry runs (an object's entries one after
/// another, in the file's order; the spec allows them in parallel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle(pub Vec<Vec<String>>);

/// What devcontainer.json adds beyond hutch.toml's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    pub remote_user: Option<String>,
    /// `KEY=VALUE` for every entry (not the container's own environment).
    pub remote_env: Vec<String>,
    /// `--mount` values (`mounts`, `workspaceMount`, `runArgs`).
    pub mounts: Vec<String>,
    /// `--device` values from `runArgs`.
    pub devices: Vec<String>,
    /// `overrideCommand: false`: the image's own command is pid 1's.
    pub image_command: bool,
    /// On the host, in the project directory, before the environment is
    /// built, made or started.
    pub initialize: Option<Lifecycle>,
    /// In a new container, in this order.
    pub on_create: Option<Lifecycle>,
    pub update_content: Option<Lifecycle>,
    pub post_create: Option<Lifecycle>,
    pub post_start: Option<Lifecycle>,
    /// At each interactive entry.
    pub post_attach: Option<Lifecycle>,
    /// Top-level keys hutch does not act on, and flags of `runArgs` and
    /// `build.options` it has no use for.
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
    let bad = |key: &str, why: ConfigError| Error::Config {
        file: file.to_path_buf(),
        line: line_of(text, key),
        key: key.to_string(),
        why: Box::new(why),
    };
    let expected = |key: &str, what: Shape| bad(key, ConfigError::Expected { at: None, what });
    let v: Value = serde_json::from_str(&strip_jsonc(text)).map_err(|e| Error::Config {
        file: file.to_path_buf(),
        line: e.line(),
        key: String::new(),
        why: Box::new(ConfigError::Json(e)),
    })?;
    let Value::Object(mut obj) = v else {
        return Err(bad("", ConfigError::NotObject));
    };
    let mut vars = Vars {
        root,
        workspace: root.to_path_buf(),
        container_env: BTreeMap::new(),
    };
    if let Some(Value::String(w)) = obj.get("workspaceFolder") {
        vars.workspace = PathBuf::from(expand(w, &vars));
    }
    if let Some(Value::Object(e)) = obj.get("containerEnv") {
        for (k, x) in e {
            if let Value::String(x) = x {
                let x = expand(x, &vars);
                vars.container_env.insert(k.clone(), x);
            }
        }
    }
    obj.values_mut().for_each(|x| substitute(x, &vars));
    let mut ignored: Vec<String> = obj
        .keys()
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .cloned()
        .collect();
    let boolean = |key: &str| -> Result<Option<bool>, Error> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(expected(key, Shape::Bool)),
        }
    };
    let list = |key: &str| -> Result<Vec<String>, Error> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| expected(key, Shape::ArrayOfStrings)),
            Some(_) => Err(expected(key, Shape::ArrayOfStrings)),
        }
    };
    let string = |key: &str| -> Result<Option<String>, Error> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(expected(key, Shape::String)),
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
                    Some(_) => Err(bad(
                        k,
                        ConfigError::Expected {
                            at: Some(format!("build.{k}")),
                            what: Shape::String,
                        },
                    )),
                }
            };
            let mut args = strings(b.get("args"), "build.args").map_err(|(k, why)| bad(&k, why))?;
            let mut target = field("target")?;
            let options = match b.get("options") {
                None => Vec::new(),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().map(String::from))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        bad(
                            "options",
                            ConfigError::Expected {
                                at: Some("build.options".into()),
                                what: Shape::Strings,
                            },
                        )
                    })?,
                Some(_) => {
                    return Err(bad(
                        "options",
                        ConfigError::Expected {
                            at: Some("build.options".into()),
                            what: Shape::Array,
                        },
                    ))
                }
            };
            for (flag, value) in flags(&options, &["--build-arg", "--target"]) {
                match (flag.as_str(), value) {
                    ("--build-arg", Some(kv)) => {
                        let (k, v) = kv.split_once('=').unwrap_or((&kv, ""));
                        args.insert(k.to_string(), v.to_string());
                    }
                    ("--target", Some(t)) => target = Some(t),
                    (f, _) => ignored.push(format!("build.options {f}")),
                }
            }
            Some(Build {
                containerfile: field("dockerfile")?.map(|f| rel(&f)),
                context: Some(rel(&field("context")?.unwrap_or_else(|| ".".into()))),
                target,
                args,
            })
        }
        Some(_) => return Err(expected("build", Shape::Object)),
    };
    let image = string("image")?;
    if image.is_none() && !build.as_ref().is_some_and(|b| b.containerfile.is_some()) {
        return Err(bad("image", ConfigError::NoImage));
    }
    let mut env =
        strings(obj.get("containerEnv"), "containerEnv").map_err(|(k, why)| bad(&k, why))?;
    let remote_env = strings(obj.get("remoteEnv"), "remoteEnv")
        .map_err(|(k, why)| bad(&k, why))?
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut ports = Vec::new();
    if let Some(p) = obj.get("forwardPorts") {
        let Value::Array(list) = p else {
            return Err(expected("forwardPorts", Shape::Array));
        };
        for p in list {
            let port = match p {
                Value::Number(n) => n.as_u64(),
                // "host:port": only the environment's own ports can be
                // published (another container's cannot).
                Value::String(s) => match s.rsplit_once(':') {
                    Some(("localhost" | "127.0.0.1" | "0.0.0.0", n)) => n.parse().ok(),
                    _ => None,
                },
                _ => None,
            };
            match port {
                Some(n) if (1..=65535).contains(&n) => ports.push(format!("{n}:{n}")),
                _ => return Err(bad("forwardPorts", ConfigError::ForwardPort(p.clone()))),
            }
        }
    }
    match obj.get("appPort") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let one = |v: &Value| match v {
                Value::Number(n) => Some(format!("{n}:{n}")),
                Value::String(s) => Some(s.clone()),
                _ => None,
            };
            let all = match v {
                Value::Array(a) => a.iter().map(one).collect::<Option<Vec<_>>>(),
                v => one(v).map(|p| vec![p]),
            };
            ports.extend(all.ok_or_else(|| expected("appPort", Shape::AppPort))?);
        }
    }
    let mut mounts = Vec::new();
    if let Some(m) = obj.get("mounts") {
        let Value::Array(list) = m else {
            return Err(expected("mounts", Shape::Array));
        };
        for m in list {
            mounts.push(mount(m).map_err(|e| bad("mounts", e))?);
        }
    }
    match obj.get("workspaceMount") {
        Some(Value::String(m)) if !m.is_empty() => mounts.push(m.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            if vars.workspace != root {
                mounts.push(format!(
                    "type=bind,source={},target={}",
                    root.display(),
                    vars.workspace.display()
                ));
            }
        }
        Some(_) => return Err(expected("workspaceMount", Shape::String)),
    }
    if obj.contains_key("workspaceFolder") && !vars.workspace.is_absolute() {
        return Err(expected("workspaceFolder", Shape::AbsolutePath));
    }
    let mut run = Run {
        cap_add: list("capAdd")?,
        security_opt: list("securityOpt")?,
        privileged: boolean("privileged")?.unwrap_or(false),
        ..Run::default()
    };
    // Accepted as they are: hutch's init is always pid 1, and the caller's
    // uid is always the one inside.
    boolean("init")?;
    boolean("updateRemoteUserUID")?;
    let image_command = boolean("overrideCommand")? == Some(false);
    let mut devices = Vec::new();
    let run_args = list("runArgs")?;
    let valued: Vec<&str> = RUN_FLAGS.iter().chain(OTHER_RUN_FLAGS).copied().collect();
    for (flag, value) in flags(&run_args, &valued) {
        if OTHER_RUN_FLAGS.contains(&flag.as_str()) {
            ignored.push(format!("runArgs {flag}"));
            continue;
        }
        let Some(value) = value else {
            match flag.as_str() {
                "--privileged" => run.privileged = true,
                "--init" => {}
                f => ignored.push(format!("runArgs {f}")),
            }
            continue;
        };
        match flag.as_str() {
            "--cap-add" => run.cap_add.push(value),
            "--cap-drop" => run.cap_drop.push(value),
            "--security-opt" => run.security_opt.push(value),
            "-e" | "--env" => {
                let (k, v) = value.split_once('=').unwrap_or((&value, ""));
                env.insert(k.to_string(), v.to_string());
            }
            "-v" | "--volume" => run.mounts.push(value),
            "--mount" => mounts.push(value),
            "-p" | "--publish" => ports.push(value),
            "--network" | "--net" => run.network = Some(value),
            "--ulimit" => run.ulimits.push(value),
            "--device" => devices.push(value),
            "-m" | "--memory" => run.limits.memory = Some(value),
            "--cpus" => run.limits.cpus = Some(value),
            "--shm-size" => run.limits.shm_size = Some(value),
            "--pids-limit" => {
                run.limits.pids = Some(
                    value
                        .parse()
                        .map_err(|_| bad("runArgs", ConfigError::PidsLimit(value.clone())))?,
                )
            }
            f => ignored.push(format!("runArgs {f}")),
        }
    }
    let lifecycle = |key: &str| -> Result<Option<Lifecycle>, Error> {
        obj.get(key)
            .map(|v| lifecycle(v).map_err(|m| bad(key, m)))
            .transpose()
    };
    let extras = Extras {
        // The spec: remoteUser defaults to containerUser.
        remote_user: string("remoteUser")?.or(string("containerUser")?),
        remote_env,
        mounts,
        devices,
        image_command,
        initialize: lifecycle("initializeCommand")?,
        on_create: lifecycle("onCreateCommand")?,
        update_content: lifecycle("updateContentCommand")?,
        post_create: lifecycle("postCreateCommand")?,
        post_start: lifecycle("postStartCommand")?,
        post_attach: lifecycle("postAttachCommand")?,
        ignored,
    };
    if run.network.is_none() && !ports.is_empty() {
        run.network = Some("pasta".into());
    }
    run.ports = ports;
    run.env = env;
    let config = Config {
        image,
        build: build.filter(|_| obj.get("image").is_none()),
        run,
        ..Config::default()
    };
    Ok((config, extras))
}

/// The `run` flags of `runArgs` that take a value.
const RUN_FLAGS: &[&str] = &[
    "--cap-add",
    "--cap-drop",
    "--security-opt",
    "-e",
    "--env",
    "-v",
    "--volume",
    "--mount",
    "-p",
    "--publish",
    "--network",
    "--net",
    "--ulimit",
    "--device",
    "-m",
    "--memory",
    "--cpus",
    "--shm-size",
    "--pids-limit",
];

/// `run` flags that take a value hutch does not use: skipped with it.
const OTHER_RUN_FLAGS: &[&str] = &[
    "--hostname",
    "-h",
    "--name",
    "-u",
    "--user",
    "-w",
    "--workdir",
    "-l",
    "--label",
    "--entrypoint",
    "--add-host",
    "--dns",
    "--userns",
    "--runtime",
    "--gpus",
    "--log-driver",
    "--log-opt",
    "--restart",
    "--platform",
];

/// Command-line flags as (flag, value): `--flag=value`, or `--flag value`
/// for the flags in `valued`; any other word is a flag without a value.
fn flags(args: &[String], valued: &[&str]) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some((f, v)) = a.split_once('=').filter(|(f, _)| f.starts_with('-')) {
            out.push((f.to_string(), Some(v.to_string())));
        } else if valued.contains(&a.as_str()) {
            out.push((a.clone(), it.next().cloned()));
        } else {
            out.push((a.clone(), None));
        }
    }
    out
}

/// One entry of `mounts`: Docker's `--mount` string as it is, or the
/// object form `{ "type", "source", "target" }` written as one.
fn mount(v: &Value) -> Result<String, ConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Object(m) => {
            let field = |k: &str| m.get(k).and_then(Value::as_str);
            let target = field("target").ok_or(ConfigError::MountTarget)?;
            let kind = field("type").unwrap_or("bind");
            let mut spec = format!("type={kind}");
            if let Some(source) = field("source").filter(|s| !s.is_empty()) {
                spec.push_str(&format!(",source={source}"));
            }
            spec.push_str(&format!(",target={target}"));
            Ok(spec)
        }
        _ => Err(ConfigError::Expected {
            at: None,
            what: Shape::Mount,
        }),
    }
}

/// An object of strings (`build.args`, `containerEnv`); on error the key
/// to point at and what is wrong.
fn strings(
    v: Option<&Value>,
    what: &str,
) -> Result<BTreeMap<String, String>, (String, ConfigError)> {
    let mut out = BTreeMap::new();
    let Some(v) = v else {
        return Ok(out);
    };
    let Value::Object(m) = v else {
        let key = what.rsplit('.').next().unwrap_or(what).to_string();
        let why = ConfigError::Expected {
            at: Some(what.to_string()),
            what: Shape::Object,
        };
        return Err((key, why));
    };
    for (k, v) in m {
        let Value::String(s) = v else {
            let why = ConfigError::Expected {
                at: Some(format!("{what}.{k}")),
                what: Shape::String,
            };
            return Err((k.clone(), why));
        };
        out.insert(k.clone(), s.clone());
    }
    Ok(out)
}

/// A command in the spec's three forms: a string for `sh -c`, an array run
/// as it is, an object of named strings or arrays.
fn lifecycle(v: &Value) -> Result<Lifecycle, ConfigError> {
    let one = |v: &Value| -> Result<Vec<String>, ConfigError> {
        match v {
            Value::String(s) => Ok(vec!["/bin/sh".into(), "-c".into(), s.clone()]),
            Value::Array(a) if !a.is_empty() => a
                .iter()
                .map(|x| x.as_str().map(String::from))
                .collect::<Option<Vec<_>>>()
                .ok_or(ConfigError::CommandNotStrings),
            _ => Err(ConfigError::Expected {
                at: None,
                what: Shape::Command,
            }),
        }
    };
    match v {
        Value::Object(m) => Ok(Lifecycle(m.values().map(one).collect::<Result<_, _>>()?)),
        other => Ok(Lifecycle(vec![one(other)?])),
    }
}

/// What the spec's variables stand for.
struct Vars<'a> {
    root: &'a Path,
    /// `workspaceFolder` (default: the project's own path).
    workspace: PathBuf,
    /// `containerEnv` as the file sets it.
    container_env: BTreeMap<String, String>,
}

/// The spec's variables in every string.
fn substitute(v: &mut Value, vars: &Vars) {
    match v {
        Value::String(s) if s.contains("${") => *s = expand(s, vars),
        Value::Array(a) => a.iter_mut().for_each(|x| substitute(x, vars)),
        Value::Object(m) => m.values_mut().for_each(|x| substitute(x, vars)),
        _ => {}
    }
}

fn expand(s: &str, vars: &Vars) -> String {
    let root = vars.root;
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let var = &rest[start + 2..start + end];
        let base = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let value = match var {
            "localWorkspaceFolder" => root.display().to_string(),
            "containerWorkspaceFolder" => vars.workspace.display().to_string(),
            "localWorkspaceFolderBasename" => base(root),
            "containerWorkspaceFolderBasename" => base(&vars.workspace),
            _ => {
                if let Some(spec) = var.strip_prefix("localEnv:") {
                    let (name, default) = spec.split_once(':').unwrap_or((spec, ""));
                    std::env::var(name).unwrap_or_else(|_| default.to_string())
                } else if let Some(spec) = var.strip_prefix("containerEnv:") {
                    let (name, default) = spec.split_once(':').unwrap_or((spec, ""));
                    vars.container_env
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| default.to_string())
                } else {
                    rest[start..start + end + 1].to_string()
                }
            }
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
    fn maps_run_settings_mounts_and_commands() {
        let root = Path::new("/w/proj");
        let text = r#"{
  "image": "img",
  "workspaceFolder": "/workspaces/${localWorkspaceFolderBasename}",
  "containerEnv": { "A": "a" },
  "remoteEnv": { "R": "${containerEnv:A}-${containerEnv:NONE:dflt}-${containerWorkspaceFolder}" },
  "containerUser": "builder",
  "updateRemoteUserUID": true,
  "init": true,
  "overrideCommand": false,
  "capAdd": ["SYS_PTRACE"],
  "securityOpt": ["seccomp=unconfined"],
  "forwardPorts": [3000, "localhost:4000"],
  "appPort": ["8000:80", 9000],
  "mounts": [
    "source=/data,target=/data,type=bind",
    { "type": "volume", "source": "cache", "target": "/cache" },
    { "type": "volume", "target": "/anon" }
  ],
  "runArgs": ["--cap-add=NET_ADMIN", "-e", "X=1", "--hostname", "h", "--memory", "1g", "--init"],
  "initializeCommand": "echo init",
  "onCreateCommand": ["echo", "on"],
  "postAttachCommand": { "a": "echo attached" }
}"#;
        let (c, x) = parse(text, &root.join(".devcontainer.json"), root).unwrap();
        assert_eq!(c.run.cap_add, ["SYS_PTRACE", "NET_ADMIN"]);
        assert_eq!(c.run.security_opt, ["seccomp=unconfined"]);
        assert_eq!(
            c.run.ports,
            ["3000:3000", "4000:4000", "8000:80", "9000:9000"]
        );
        assert_eq!(c.run.network.as_deref(), Some("pasta"));
        assert_eq!(c.run.env["X"], "1");
        assert_eq!(c.run.limits.memory.as_deref(), Some("1g"));
        assert_eq!(x.remote_env, ["R=a-dflt-/workspaces/proj"]);
        assert_eq!(x.remote_user.as_deref(), Some("builder"));
        assert!(x.image_command);
        assert_eq!(
            x.mounts,
            [
                "source=/data,target=/data,type=bind",
                "type=volume,source=cache,target=/cache",
                "type=volume,target=/anon",
                "type=bind,source=/w/proj,target=/workspaces/proj",
            ]
        );
        assert_eq!(x.ignored, ["runArgs --hostname"]);
        assert_eq!(x.initialize.unwrap().0[0][2], "echo init");
        assert_eq!(x.on_create.unwrap().0, [vec!["echo", "on"]]);
        assert_eq!(x.post_attach.unwrap().0.len(), 1);

        let (c, _) = parse(
            r#"{ "build": { "dockerfile": "D", "options": ["--build-arg", "V=2", "--target=dev", "--pull"] } }"#,
            &root.join(".devcontainer.json"),
            root,
        )
        .unwrap();
        let b = c.build.unwrap();
        assert_eq!(
            (b.args["V"].as_str(), b.target.as_deref()),
            ("2", Some("dev"))
        );
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
