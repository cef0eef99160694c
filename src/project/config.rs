//! `hutch.toml`: the schema of a project's environment file and its
//! parsing. Unknown keys and values of the wrong type are errors that name
//! the file, the line and the key (from toml's spans), so a typo never
//! silently changes an environment.
//!
//! Pure: it reads the text handed to it and touches no file.

use super::Error;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Use this image as it is instead of building a definition.
    pub image: Option<String>,
    pub build: Option<Build>,
    #[serde(default)]
    pub run: Run,
    #[serde(default)]
    pub export: Export,
}

/// `[export]`: what the host gets from the environment.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// Commands with a launcher in `hutch env path`'s directory.
    #[serde(default)]
    pub commands: Vec<String>,
}

/// `[build]`: how the environment's image is built.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// The definition, relative to hutch.toml's directory (default:
    /// `Containerfile`, then `Dockerfile`).
    pub containerfile: Option<String>,
    /// The build context, relative to hutch.toml's directory (default `.`).
    pub context: Option<String>,
    /// The stage to build (default: the last).
    pub target: Option<String>,
    #[serde(default)]
    pub args: BTreeMap<String, String>,
}

/// `[run]`: how the environment runs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Run {
    #[serde(default)]
    pub home: Home,
    /// The shell `hutch shell` starts (default `/bin/sh`).
    pub shell: Option<String>,
    /// `host` (default, as toolbox), `pasta[:...]`, `slirp4netns[:...]` or `none`.
    pub network: Option<String>,
    /// Published ports, `[IP:][HOSTPORT:]PORT[/PROTO]` as `hutch run -p`.
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Extra bind mounts, `HOST:CONTAINER[:ro]` as `hutch run -v`.
    #[serde(default)]
    pub mounts: Vec<String>,
    /// Capabilities added and dropped (`CAP_` optional, `ALL`), as
    /// `hutch run --cap-add/--cap-drop`.
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// Everything the user namespace allows, as `hutch run --privileged`.
    #[serde(default)]
    pub privileged: bool,
    /// `seccomp=unconfined`, `seccomp=FILE` (relative to hutch.toml's
    /// directory), `no-new-privileges[=false]`, as `--security-opt`.
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// `NAME=SOFT[:HARD]`, as `--ulimit`.
    #[serde(default)]
    pub ulimits: Vec<String>,
    #[serde(default)]
    pub limits: Limits,
    /// Host facilities the environment shares, each named.
    #[serde(default)]
    pub passthrough: Vec<Passthrough>,
}

/// One host facility `[run] passthrough` shares with the environment.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Passthrough {
    /// The ssh-agent socket (`SSH_AUTH_SOCK`).
    SshAgent,
    /// The Wayland socket, the X11 sockets and `XAUTHORITY`.
    Display,
    /// `/dev/dri` and `/dev/nvidia*` device nodes.
    Gpu,
    /// `~/.gitconfig` and `$XDG_CONFIG_HOME/git`, read-only.
    Git,
    /// `LANG`, `LANGUAGE` and `LC_*`.
    Locale,
    /// `TERM` and `COLORTERM` (passed on a terminal anyway).
    Terminal,
}

impl std::fmt::Display for Passthrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Passthrough::SshAgent => "ssh-agent",
            Passthrough::Display => "display",
            Passthrough::Gpu => "gpu",
            Passthrough::Git => "git",
            Passthrough::Locale => "locale",
            Passthrough::Terminal => "terminal",
        })
    }
}

/// `[run.limits]`: what `--memory`, `--cpus`, `--pids-limit`, `--shm-size`
/// and `--strict-limits` say (Docker's spellings: `memory = "2g"`,
/// `cpus = "1.5"`).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids: Option<i64>,
    pub shm_size: Option<String>,
    #[serde(default)]
    pub strict: bool,
}

impl Run {
    /// The confinement flags these keys give; a `seccomp=FILE` profile is
    /// left for the caller to read (see [`Flags::seccomp_file`]).
    ///
    /// [`Flags::seccomp_file`]: crate::sandbox::security::Flags::seccomp_file
    pub fn security(&self) -> crate::sandbox::security::Flags {
        crate::sandbox::security::Flags {
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            privileged: self.privileged,
            security_opt: self.security_opt.clone(),
            ulimits: self.ulimits.clone(),
            memory: self.limits.memory.clone(),
            cpus: self.limits.cpus.clone(),
            pids_limit: self.limits.pids.map(|p| p.to_string()),
            shm_size: self.limits.shm_size.clone(),
            strict_limits: self.limits.strict,
            ..Default::default()
        }
    }
}

/// Which home directory the environment sees at the caller's home path.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Home {
    /// A persistent home of the environment's own.
    #[default]
    Private,
    /// The caller's real home, read-write (toolbox's way).
    Host,
    /// The real home read-only with the environment's writable layer on top.
    Overlay,
}

impl std::fmt::Display for Home {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Home::Private => "private",
            Home::Host => "host",
            Home::Overlay => "overlay",
        })
    }
}

/// Parse `text`, the contents of `file`.
pub fn parse(text: &str, file: &Path) -> Result<Config, Error> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let (line, key) = match e.span() {
            Some(span) => locate(text, span.start),
            None => (0, String::new()),
        };
        Error::Config {
            file: file.to_path_buf(),
            line,
            key,
            why: Box::new(super::ConfigError::Toml(e)),
        }
    })?;
    if config.image.is_some() && config.build.is_some() {
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with("image"))
            .map_or(0, |n| n + 1);
        return Err(Error::Config {
            file: file.to_path_buf(),
            line,
            key: "image".into(),
            why: Box::new(super::ConfigError::ImageAndBuild),
        });
    }
    // Checked here, with the line of the first confinement key, except a
    // seccomp profile file, which is read when the container is made.
    let mut sec = config.run.security();
    sec.security_opt
        .retain(|o| !o.starts_with("seccomp=") || o == "seccomp=unconfined");
    if let Err(e) = sec.check() {
        let key = [
            "cap_add",
            "cap_drop",
            "privileged",
            "security_opt",
            "ulimits",
            "limits",
        ]
        .into_iter()
        .find(|k| text.contains(k))
        .unwrap_or("run");
        return Err(Error::Config {
            file: file.to_path_buf(),
            line: line_of_key(text, key),
            key: format!("run.{key}"),
            why: Box::new(super::ConfigError::Security(e)),
        });
    }
    for (key, value) in &config.run.env {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return Err(Error::Config {
                file: file.to_path_buf(),
                line: line_of_key(text, key),
                key: format!("run.env.{key}"),
                why: Box::new(super::ConfigError::EnvName),
            });
        }
    }
    if let Some(c) = config
        .export
        .commands
        .iter()
        .find(|c| c.is_empty() || c.contains(['/', '\0']) || c.starts_with('.'))
    {
        return Err(Error::Config {
            file: file.to_path_buf(),
            line: line_of_key(text, "commands"),
            key: "export.commands".into(),
            why: Box::new(super::ConfigError::CommandName(c.clone())),
        });
    }
    Ok(config)
}

/// The 1-based line of byte `offset` and the dotted key written there
/// (`run.home`), or the table header's name when the error is on one.
fn locate(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line = text[..offset].matches('\n').count() + 1;
    let mut table = String::new();
    for l in text.lines().take(line - 1) {
        if let Some(t) = header(l) {
            table = t;
        }
    }
    let here = text.lines().nth(line - 1).unwrap_or("");
    if let Some(t) = header(here) {
        return (line, t);
    }
    let key = here
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    let full = match (table.is_empty(), key.is_empty()) {
        (_, true) => table,
        (true, false) => key,
        (false, false) => format!("{table}.{key}"),
    };
    (line, full)
}

/// `[name]` or `[[name]]` → `name`.
fn header(line: &str) -> Option<String> {
    let l = line.trim();
    let inner = l.strip_prefix('[')?.split(']').next()?;
    Some(inner.trim_start_matches('[').trim().to_string())
}

fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| l.trim_start().trim_start_matches('"').starts_with(key))
        .map_or(0, |n| n + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("/p/hutch.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn security_keys_become_run_flags_and_bad_values_name_their_line() {
        let c = parse(
            "[run]\ncap_add = [\"SYS_ADMIN\"]\ncap_drop = [\"NET_RAW\"]\n\
             security_opt = [\"seccomp=prof.json\", \"no-new-privileges=false\"]\n\
             ulimits = [\"nofile=100:200\"]\n[run.limits]\nmemory = \"1g\"\ncpus = \"1.5\"\n\
             pids = 100\nshm_size = \"1m\"\nstrict = true\n",
            Path::new("hutch.toml"),
        )
        .unwrap();
        let f = c.run.security();
        assert_eq!(f.cap_add, ["SYS_ADMIN"]);
        assert_eq!(f.cap_drop, ["NET_RAW"]);
        assert_eq!(f.seccomp_file().unwrap(), Some("prof.json"));
        assert_eq!(f.ulimits, ["nofile=100:200"]);
        assert_eq!(f.memory.as_deref(), Some("1g"));
        assert_eq!(f.pids_limit.as_deref(), Some("100"));
        assert!(f.strict_limits && !f.privileged);
        let e = err("[run]\nshell = \"/bin/sh\"\ncap_add = [\"FLY\"]\n");
        assert!(
            e.starts_with("/p/hutch.toml:3: run.cap_add: ")
                && e.contains("unknown capability 'FLY'"),
            "{e}"
        );
        assert!(err("[run]\nulimits = [\"nofile=2:1\"]\n").contains(":2: run.ulimits:"));
        assert!(err("[run.limits]\nmemory = \"lots\"\n").contains("invalid size"));
        assert!(err("[run.limits]\nswap = \"1g\"\n").contains("swap"));
    }

    #[test]
    fn passthroughs_are_named_and_unknown_names_are_errors() {
        let c = parse(
            "[run]\npassthrough = [\"ssh-agent\", \"display\", \"gpu\", \"git\", \"locale\", \"terminal\"]\n",
            Path::new("hutch.toml"),
        )
        .unwrap();
        assert_eq!(c.run.passthrough.len(), 6);
        assert_eq!(c.run.passthrough[0], Passthrough::SshAgent);
        let e = err("[run]\nhome = \"host\"\npassthrough = [\"git\", \"x11\"]\n");
        assert!(
            e.starts_with("/p/hutch.toml:3: run.passthrough: unknown variant `x11`")
                && e.contains("ssh-agent"),
            "{e}"
        );
    }

    #[test]
    fn full_file() {
        let c = parse(
            "[build]\ncontainerfile = \"dev/Containerfile\"\ntarget = \"dev\"\n\
             args = { BASE = \"alpine\" }\n[run]\nhome = \"overlay\"\nshell = \"/bin/bash\"\n\
             ports = [\"8080:80\"]\nenv = { A = \"1\" }\nmounts = [\"/data:/data:ro\"]\n",
            Path::new("hutch.toml"),
        )
        .unwrap();
        let b = c.build.unwrap();
        assert_eq!(b.containerfile.as_deref(), Some("dev/Containerfile"));
        assert_eq!(b.args["BASE"], "alpine");
        assert_eq!(c.run.home, Home::Overlay);
        assert_eq!(c.run.ports, vec!["8080:80"]);
        assert_eq!(parse("", Path::new("h")).unwrap(), Config::default());
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = err("[run]\nshell = \"/bin/sh\"\nhomee = \"host\"\n");
        assert!(e.starts_with("/p/hutch.toml:3: run.homee:"), "{e}");
        assert!(e.contains("unknown field"), "{e}");
        let e = err("[run]\nports = 8080\n");
        assert!(e.starts_with("/p/hutch.toml:2: run.ports:"), "{e}");
        let e = err("[run]\nhome = \"attic\"\n");
        assert!(
            e.starts_with("/p/hutch.toml:2: run.home:") && e.contains("private"),
            "{e}"
        );
        let e = err("[bulid]\n");
        assert!(e.starts_with("/p/hutch.toml:1: bulid:"), "{e}");
        let e = err("image = \"alpine\"\n[build]\ntarget = \"x\"\n");
        assert!(e.starts_with("/p/hutch.toml:1: image:"), "{e}");
    }
}
