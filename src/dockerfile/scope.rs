//! ARG and ENV scope while a stage is built: which variables expansion
//! sees, what RUN gets as environment, and which build arguments each
//! instruction uses (for its cache key).
//!
//! Owns Docker's scoping rules for ARG (global vs stage, inheritance of
//! global defaults, ARGs passed on to stages built `FROM` a stage,
//! `--build-arg` overrides, predefined proxy and platform arguments) and
//! ENV's precedence over ARG. It must not run anything.

use std::collections::{BTreeMap, BTreeSet};

use super::error::{ErrorKind, ParseError, Pos};
use super::expand::{ExpandError, Lexer, Lookup};
use super::instruction::{parse_port, Arg, From, Instruction, Spanned};
use super::{Dockerfile, Stage};

/// Proxy arguments every RUN sees when passed with `--build-arg`, without an
/// ARG instruction. Undeclared, they are not expanded elsewhere, are left
/// out of image history and do not count for the cache ("predefined ARGs
/// are exempt from caching unless there is a matching ARG statement").
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// An OCI platform (`os/arch[/variant]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: String,
}

impl Platform {
    /// linux/amd64, the platform hutch builds for.
    pub fn linux_amd64() -> Self {
        Platform {
            os: "linux".into(),
            arch: "amd64".into(),
            variant: String::new(),
        }
    }

    fn text(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.arch)
        } else {
            format!("{}/{}/{}", self.os, self.arch, self.variant)
        }
    }
}

/// What the user passed to a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildArgs {
    /// `--build-arg NAME=VALUE` pairs.
    pub values: BTreeMap<String, String>,
    pub target: Platform,
    pub build: Platform,
}

impl Default for BuildArgs {
    fn default() -> Self {
        BuildArgs {
            values: BTreeMap::new(),
            target: Platform::linux_amd64(),
            build: Platform::linux_amd64(),
        }
    }
}

impl BuildArgs {
    /// TARGETPLATFORM, TARGETOS, ..., BUILDVARIANT: set in the global scope
    /// automatically and in a stage once it declares them with ARG.
    pub fn platform_args(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        for (prefix, p) in [("TARGET", &self.target), ("BUILD", &self.build)] {
            m.insert(format!("{prefix}PLATFORM"), p.text());
            m.insert(format!("{prefix}OS"), p.os.clone());
            m.insert(format!("{prefix}ARCH"), p.arch.clone());
            m.insert(format!("{prefix}VARIANT"), p.variant.clone());
        }
        m
    }

    fn proxies(&self) -> impl Iterator<Item = (&String, &String)> {
        self.values
            .iter()
            .filter(|(k, _)| PROXY_ARGS.contains(&k.as_str()))
    }
}

fn located(file: &str, pos: Pos, e: ExpandError) -> ParseError {
    ParseError {
        file: file.to_string(),
        pos,
        kind: ErrorKind::Expand(e),
    }
}

/// The value an ARG gets: `--build-arg` wins, then its own default
/// (expanded), then the inherited global value.
fn arg_value(
    arg: &Arg,
    vars: &dyn Lookup,
    escape: char,
    build: &BuildArgs,
    inherited: Option<&String>,
) -> Result<Option<String>, ExpandError> {
    if let Some(v) = build.values.get(&arg.name) {
        return Ok(Some(v.clone()));
    }
    match &arg.default {
        Some(d) => Ok(Some(Lexer::new(escape).process(d, vars)?.word)),
        None => Ok(inherited.cloned()),
    }
}

impl Dockerfile {
    /// The global scope: predefined platform arguments and the ARGs before the first FROM in order (each
    /// default expanded with those before it). FROM lines expand with this.
    pub fn global_scope(&self, build: &BuildArgs) -> Result<BTreeMap<String, String>, ParseError> {
        let mut vars = build.platform_args();
        for arg in &self.global_args {
            let value = arg_value(&arg.node, &vars, self.directives.escape, build, None)
                .map_err(|e| located(&self.file, Pos::new(arg.span.start, arg.col), e))?;
            match value {
                Some(v) => vars.insert(arg.node.name.clone(), v),
                // Declared without a value: it is unset, not empty.
                None => vars.remove(&arg.node.name),
            };
        }
        Ok(vars)
    }

    /// A stage's FROM with its image and platform expanded.
    pub fn base(
        &self,
        stage: &Stage,
        global: &BTreeMap<String, String>,
    ) -> Result<From, ParseError> {
        stage
            .from
            .expand(global, self.directives.escape)
            .map_err(|e| located(&self.file, Pos::new(stage.span.start, stage.col), e))
    }

    /// A fresh scope for building `stage` on a base image whose config has
    /// `base_env`.
    pub fn scope<'a>(
        &'a self,
        global: &'a BTreeMap<String, String>,
        build: &'a BuildArgs,
        base_env: Vec<(String, String)>,
    ) -> Scope<'a> {
        Scope {
            file: &self.file,
            escape: self.directives.escape,
            build,
            global,
            args: BTreeMap::new(),
            env: base_env,
        }
    }
}

/// The variables in effect at one point of a stage.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    file: &'a str,
    escape: char,
    build: &'a BuildArgs,
    global: &'a BTreeMap<String, String>,
    /// ARGs declared in this stage; `None` is declared but unset.
    args: BTreeMap<String, Option<String>>,
    /// The environment in order (image config `Env`).
    env: Vec<(String, String)>,
}

impl Scope<'_> {
    /// Start with the ARGs of the stage this one is built `FROM`: "An ARG
    /// variable declared within a build stage is automatically inherited by
    /// other stages based on that stage" (Dockerfile reference, ARG scope).
    pub fn inherit(&mut self, args: BTreeMap<String, Option<String>>) {
        self.args = args;
    }

    /// The ARGs declared so far, to pass on to stages built from this one.
    pub fn args(&self) -> &BTreeMap<String, Option<String>> {
        &self.args
    }

    /// Expand `instr` with the current scope, then apply its effect on the
    /// scope (ARG declares, ENV sets). Returns the expanded instruction.
    pub fn apply(&mut self, instr: &Spanned<Instruction>) -> Result<Instruction, ParseError> {
        let at = Pos::new(instr.span.start, instr.col);
        if let Instruction::Arg(raw) = &instr.node {
            // Each ARG on a line sees the ones before it, so defaults are
            // expanded one at a time rather than all against the old scope.
            let mut expanded = Vec::with_capacity(raw.len());
            for arg in raw {
                let vars = self.vars();
                let default = match &arg.default {
                    Some(d) => Some(
                        Lexer::new(self.escape)
                            .process(d, &vars)
                            .map_err(|e| located(self.file, at, e))?
                            .word,
                    ),
                    None => None,
                };
                let value = match (self.build.values.get(&arg.name), &default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(d)) => Some(d.clone()),
                    // Redeclared without a value, an ARG keeps the one it
                    // has (buildkit leaves it in the stage's environment).
                    (None, None) => self
                        .global
                        .get(&arg.name)
                        .cloned()
                        .or_else(|| self.args.get(&arg.name).cloned().flatten()),
                };
                self.args.insert(arg.name.clone(), value);
                expanded.push(Arg {
                    name: arg.name.clone(),
                    default,
                });
            }
            return Ok(Instruction::Arg(expanded));
        }
        let expanded = instr
            .node
            .expand(&self.vars(), self.escape)
            .map_err(|e| located(self.file, at, e))?;
        match &expanded {
            Instruction::Env(kvs) => {
                for kv in kvs {
                    match self.env.iter_mut().find(|(k, _)| *k == kv.key) {
                        Some(slot) => slot.1 = kv.value.clone(),
                        None => self.env.push((kv.key.clone(), kv.value.clone())),
                    }
                }
            }
            // Ports naming variables could only be checked now.
            Instruction::Expose(ports) => {
                for port in ports {
                    parse_port(port).map_err(|reason| ParseError {
                        file: self.file.to_string(),
                        pos: at,
                        kind: ErrorKind::InvalidPort {
                            port: port.clone(),
                            reason,
                        },
                    })?;
                }
            }
            _ => {}
        }
        Ok(expanded)
    }

    /// ARGs declared in this stage that have a value.
    fn arg_values(&self) -> BTreeMap<String, String> {
        self.args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect()
    }

    /// What expansion sees: ARGs overlaid by ENV (ENV always wins).
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut m = self.arg_values();
        m.extend(self.env.iter().cloned());
        m
    }

    /// The environment so far, in order (for the image config).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The environment a RUN gets: ENV, then every ARG with a value and
    /// every proxy build argument that ENV does not override.
    pub fn run_env(&self) -> Vec<(String, String)> {
        let mut out = self.env.clone();
        let mut extra = self.arg_values();
        for (k, v) in self.build.proxies() {
            extra.entry(k.clone()).or_insert_with(|| v.clone());
        }
        for (k, v) in extra {
            if !self.env.iter().any(|(e, _)| *e == k) {
                out.push((k, v));
            }
        }
        out
    }

    /// The build arguments `instr` uses, for its cache key: a RUN uses
    /// every ARG in scope (it sees them as environment); other instructions
    /// the ARGs they refer to. ARGs shadowed by ENV are not used.
    pub fn used_args(&self, instr: &Instruction) -> BTreeMap<String, String> {
        let args = self.arg_values();
        let shadowed: BTreeSet<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        let wanted: Option<BTreeSet<String>> = match instr {
            Instruction::Run(_) => None,
            other => Some(other.referenced_vars(self.escape)),
        };
        args.into_iter()
            .filter(|(k, _)| !shadowed.contains(k.as_str()))
            .filter(|(k, _)| match &wanted {
                Some(w) => w.contains(k),
                None => true,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse;

    /// Each instruction's expansion result and the RUN environment after it.
    type Steps = (Vec<Result<Instruction, String>>, Vec<Vec<(String, String)>>);

    fn run(text: &str, build: &BuildArgs) -> Steps {
        let df = parse(text, "Dockerfile").unwrap();
        let global = df.global_scope(build).unwrap();
        let mut scope = df.scope(&global, build, vec![("PATH".into(), "/bin".into())]);
        let mut out = Vec::new();
        let mut envs = Vec::new();
        for ins in &df.stages[0].instructions {
            out.push(scope.apply(ins).map_err(|e| e.to_string()));
            envs.push(scope.run_env());
        }
        (out, envs)
    }

    #[test]
    fn args_on_one_line_see_each_other() {
        let (out, envs) = run("FROM a\nARG A=1 B=${A}2\n", &BuildArgs::default());
        assert_eq!(out[0].as_ref().unwrap().to_string(), "ARG A=\"1\" B=\"12\"");
        assert!(envs[0].contains(&("B".to_string(), "12".to_string())));
    }

    #[test]
    fn build_args_override_defaults_and_globals_are_inherited() {
        let mut build = BuildArgs::default();
        build.values.insert("B".into(), "cli".into());
        build.values.insert("NOT_DECLARED".into(), "x".into());
        build.values.insert("no_proxy".into(), "local".into());
        let (_, envs) = run(
            "ARG G=global\nFROM a\nARG G\nARG B=default\nARG U\n",
            &build,
        );
        let env = &envs[2];
        assert!(env.contains(&("G".into(), "global".into())));
        assert!(env.contains(&("B".into(), "cli".into())));
        assert!(env.contains(&("no_proxy".into(), "local".into())));
        assert!(env.contains(&("PATH".into(), "/bin".into())));
        assert!(!env.iter().any(|(k, _)| k == "U" || k == "NOT_DECLARED"));
    }

    #[test]
    fn undeclared_proxies_reach_run_only() {
        let mut build = BuildArgs::default();
        build.values.insert("HTTPS_PROXY".into(), "http://p".into());
        let text = "FROM a\nRUN true\nLABEL p=$HTTPS_PROXY\nARG HTTPS_PROXY\nRUN true\n";
        let df = parse(text, "Dockerfile").unwrap();
        let global = df.global_scope(&build).unwrap();
        let mut scope = df.scope(&global, &build, Vec::new());
        let ins = &df.stages[0].instructions;
        assert!(scope.used_args(&ins[0].node).is_empty());
        assert_eq!(
            scope.run_env(),
            [("HTTPS_PROXY".to_string(), "http://p".to_string())]
        );
        assert_eq!(
            scope.apply(&ins[1]).unwrap().to_string(),
            "LABEL \"p\"=\"\""
        );
        scope.apply(&ins[2]).unwrap();
        assert_eq!(
            scope.used_args(&ins[3].node).len(),
            1,
            "declared, it counts"
        );
    }

    #[test]
    fn env_overrides_arg_and_hides_it_from_run() {
        let text = "FROM a\nARG X=arg\nENV X=env\nRUN true\nWORKDIR /$X\n";
        let df = parse(text, "Dockerfile").unwrap();
        let build = BuildArgs::default();
        let global = df.global_scope(&build).unwrap();
        let mut scope = df.scope(&global, &build, Vec::new());
        let ins = &df.stages[0].instructions;
        scope.apply(&ins[0]).unwrap();
        scope.apply(&ins[1]).unwrap();
        assert!(scope.used_args(&ins[2].node).is_empty());
        assert_eq!(scope.run_env(), [("X".to_string(), "env".to_string())]);
        assert_eq!(
            scope.apply(&ins[3]).unwrap(),
            Instruction::Workdir("/env".into())
        );
    }

    #[test]
    fn run_uses_every_arg_others_only_what_they_name() {
        let text = "FROM a\nARG A=1 B=2\nRUN true\nLABEL x=$A\n";
        let df = parse(text, "Dockerfile").unwrap();
        let build = BuildArgs::default();
        let global = df.global_scope(&build).unwrap();
        let mut scope = df.scope(&global, &build, Vec::new());
        let ins = &df.stages[0].instructions;
        scope.apply(&ins[0]).unwrap();
        assert_eq!(scope.used_args(&ins[1].node).len(), 2);
        let label: Vec<String> = scope.used_args(&ins[2].node).into_keys().collect();
        assert_eq!(label, ["A"]);
    }

    #[test]
    fn expanded_ports_are_checked() {
        let (out, _) = run("FROM a\nARG P=80x\nEXPOSE $P\n", &BuildArgs::default());
        assert_eq!(
            out[1].as_ref().unwrap_err(),
            "Dockerfile:3:1: invalid port '80x' in EXPOSE: '80x' is not a port number"
        );
    }

    #[test]
    fn expansion_errors_name_the_line() {
        let (out, _) = run(
            "FROM a\n\nENV A=\"${B:?B is required}\"\n",
            &BuildArgs::default(),
        );
        assert_eq!(
            out[0].as_ref().unwrap_err(),
            "Dockerfile:3:1: B: B is required"
        );
    }

    #[test]
    fn global_scope_and_base() {
        let df = parse(
            "ARG V=1\nARG IMG=base:$V\nFROM --platform=$TARGETPLATFORM $IMG\n",
            "Dockerfile",
        )
        .unwrap();
        let global = df.global_scope(&BuildArgs::default()).unwrap();
        let from = df.base(&df.stages[0], &global).unwrap();
        assert_eq!(from.image, "base:1");
        assert_eq!(from.platform.as_deref(), Some("linux/amd64"));
        let referenced: Vec<String> = df.stages[0]
            .from
            .referenced_vars('\\')
            .into_iter()
            .collect();
        assert_eq!(referenced, ["IMG", "TARGETPLATFORM"]);
    }

    #[test]
    fn stage_args_pass_to_stages_built_from_it_only() {
        let text =
            "ARG G=global\nFROM a AS base\nARG X=1\nFROM base\nARG X\nRUN true\nFROM a\nRUN true\n";
        let df = parse(text, "Dockerfile").unwrap();
        let build = BuildArgs::default();
        let global = df.global_scope(&build).unwrap();
        let mut base = df.scope(&global, &build, Vec::new());
        base.apply(&df.stages[0].instructions[0]).unwrap();
        let mut child = df.scope(&global, &build, Vec::new());
        child.inherit(base.args().clone());
        assert_eq!(child.run_env(), [("X".to_string(), "1".to_string())]);
        // Redeclared without a value, it keeps the inherited one.
        child.apply(&df.stages[1].instructions[0]).unwrap();
        assert_eq!(child.run_env(), [("X".to_string(), "1".to_string())]);
        // An unrelated stage sees neither X nor the global G.
        let other = df.scope(&global, &build, Vec::new());
        assert!(other.run_env().is_empty());
    }
}
