//! A stable, readable text form of the typed output: `Display` for
//! instructions and [`Dockerfile::dump`] for whole files. Golden tests
//! compare against it, so changing it changes every expected file.
//!
//! Owns presentation only; it must not change or validate anything.

use std::fmt::{self, Display, Formatter, Write as _};

use super::heredoc::Heredoc;
use super::instruction::{Command, From, Healthcheck, Instruction, KeyValue, Source};
use super::mount::Mount;
use super::Dockerfile;

impl Display for Command {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Command::Exec(args) => write!(f, "exec {args:?}"),
            Command::Shell(s) => write!(f, "shell {s:?}"),
        }
    }
}

impl Display for Heredoc {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let fd = self.fd.map(|n| n.to_string()).unwrap_or_default();
        let dash = if self.chomp { "-" } else { "" };
        write!(f, "{fd}<<{dash}{}", self.name)?;
        if !self.expand {
            f.write_str(" literal")?;
        }
        write!(f, " {:?}", self.body())
    }
}

impl Display for Mount {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "[type={}", self.kind.as_str())?;
        let strings = [
            ("target", &self.target),
            ("source", &self.source),
            ("from", &self.from),
            ("id", &self.id),
            ("env", &self.env),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                write!(f, " {k}={v:?}")?;
            }
        }
        if self.kind == super::mount::MountKind::Cache {
            write!(f, " sharing={}", self.sharing.as_str())?;
        }
        if let Some(m) = self.mode {
            write!(f, " mode={m:#o}")?;
        }
        for (k, v) in [("uid", self.uid), ("gid", self.gid)] {
            if let Some(v) = v {
                write!(f, " {k}={v}")?;
            }
        }
        if let Some(s) = self.size {
            write!(f, " size={s}")?;
        }
        f.write_str(if self.readonly { " ro" } else { " rw" })?;
        if self.required {
            f.write_str(" required")?;
        }
        f.write_str("]")
    }
}

impl Display for From {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "FROM image={:?}", self.image)?;
        if let Some(p) = &self.platform {
            write!(f, " platform={p:?}")?;
        }
        if let Some(n) = &self.name {
            write!(f, " name={n:?}")?;
        }
        Ok(())
    }
}

fn pairs(f: &mut Formatter<'_>, kvs: &[KeyValue]) -> fmt::Result {
    for kv in kvs {
        write!(f, " {:?}={:?}", kv.key, kv.value)?;
    }
    Ok(())
}

fn sources(f: &mut Formatter<'_>, srcs: &[Source], dest: &str) -> fmt::Result {
    for s in srcs {
        match s {
            Source::Path(p) => write!(f, " src={p:?}")?,
            Source::Inline(doc) => write!(f, " inline=({doc})")?,
        }
    }
    write!(f, " dest={dest:?}")
}

fn opt(f: &mut Formatter<'_>, name: &str, v: &Option<String>) -> fmt::Result {
    match v {
        Some(v) => write!(f, " {name}={v:?}"),
        None => Ok(()),
    }
}

fn flag(f: &mut Formatter<'_>, name: &str, on: bool) -> fmt::Result {
    if on {
        write!(f, " {name}")?;
    }
    Ok(())
}

impl Display for Instruction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Instruction::Run(r) => {
                for m in &r.mounts {
                    write!(f, " mount={m}")?;
                }
                if let Some(n) = r.network {
                    write!(f, " network={}", format!("{n:?}").to_lowercase())?;
                }
                if let Some(s) = r.security {
                    write!(f, " security={}", format!("{s:?}").to_lowercase())?;
                }
                write!(f, " {}", r.command)?;
                for doc in &r.heredocs {
                    write!(f, " heredoc=({doc})")?;
                }
                Ok(())
            }
            Instruction::Cmd(c) | Instruction::Entrypoint(c) => write!(f, " {c}"),
            Instruction::Label(kvs) | Instruction::Env(kvs) => pairs(f, kvs),
            Instruction::Expose(v) | Instruction::Volume(v) | Instruction::Shell(v) => {
                write!(f, " {v:?}")
            }
            Instruction::Add(a) => {
                opt(f, "chown", &a.chown)?;
                opt(f, "chmod", &a.chmod)?;
                opt(f, "checksum", &a.checksum)?;
                flag(f, "keep-git-dir", a.keep_git_dir)?;
                flag(f, "link", a.link)?;
                for e in &a.excludes {
                    write!(f, " exclude={e:?}")?;
                }
                sources(f, &a.sources, &a.dest)
            }
            Instruction::Copy(c) => {
                opt(f, "from", &c.from)?;
                opt(f, "chown", &c.chown)?;
                opt(f, "chmod", &c.chmod)?;
                flag(f, "link", c.link)?;
                flag(f, "parents", c.parents)?;
                for e in &c.excludes {
                    write!(f, " exclude={e:?}")?;
                }
                sources(f, &c.sources, &c.dest)
            }
            Instruction::User(s)
            | Instruction::Workdir(s)
            | Instruction::Stopsignal(s)
            | Instruction::Maintainer(s) => write!(f, " {s:?}"),
            Instruction::Arg(args) => {
                for a in args {
                    match &a.default {
                        Some(d) => write!(f, " {}={d:?}", a.name)?,
                        None => write!(f, " {}", a.name)?,
                    }
                }
                Ok(())
            }
            Instruction::Onbuild(o) => {
                write!(f, " ({}) expression={:?}", o.instruction, o.expression)
            }
            Instruction::Healthcheck(Healthcheck::None) => f.write_str(" NONE"),
            Instruction::Healthcheck(Healthcheck::Check {
                command,
                interval,
                timeout,
                start_period,
                start_interval,
                retries,
            }) => {
                let durations = [
                    ("interval", interval),
                    ("timeout", timeout),
                    ("start-period", start_period),
                    ("start-interval", start_interval),
                ];
                for (k, v) in durations {
                    if let Some(d) = v {
                        write!(f, " {k}={d:?}")?;
                    }
                }
                if let Some(r) = retries {
                    write!(f, " retries={r}")?;
                }
                write!(f, " CMD {command}")
            }
        }
    }
}

impl Dockerfile {
    /// Every directive, warning, global ARG, stage and instruction, one per
    /// line with its line span.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        let d = &self.directives;
        // Writing to a String cannot fail.
        let _ = writeln!(out, "escape {:?}", d.escape);
        for dir in &d.all {
            let _ = writeln!(
                out,
                "directive {}={:?} (line {})",
                dir.name, dir.value, dir.line
            );
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning line {}: {}", w.line, w.message);
        }
        for a in &self.global_args {
            let default = a
                .node
                .default
                .as_ref()
                .map(|d| format!("={d:?}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "global ARG {}{default} (line {})",
                a.node.name, a.span.start
            );
        }
        for (i, s) in self.stages.iter().enumerate() {
            let _ = writeln!(
                out,
                "stage {i} lines {}-{}: {}",
                s.span.start, s.span.end, s.from
            );
            for ins in &s.instructions {
                let _ = writeln!(
                    out,
                    "  {}-{}:{} {}",
                    ins.span.start, ins.span.end, ins.col, ins.node
                );
            }
        }
        out
    }
}
