//! Syntax node → typed instruction: argument forms, flags and the checks
//! the Dockerfile reference makes per instruction.
//!
//! Owns per-instruction rules. It must not expand variables (arguments
//! keep their quotes; `instruction.rs` expands) nor assemble stages
//! (`mod.rs`).

use std::time::Duration;

use super::error::{ErrorKind, FlagValueError, Located, Pos, Suggestion};
use super::flags::{Flags, Kind};
use super::heredoc::{parse_marker, Heredoc};
use super::instruction::{
    parse_port, Add, Arg, Command, Copy, From, Healthcheck, Instruction, KeyValue, Network,
    Onbuild, Run, Security, Source,
};
use super::lexer::{Head, LogicalLine};
use super::mount::Mount;
use super::suggest::closest;
use super::words::{parse_json, parse_words, split_whitespace, Json};

/// The instruction a keyword names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
}

/// Every instruction keyword; also the candidates for suggestions.
const KEYWORDS: [(&str, Kw); 18] = [
    ("ADD", Kw::Add),
    ("ARG", Kw::Arg),
    ("CMD", Kw::Cmd),
    ("COPY", Kw::Copy),
    ("ENTRYPOINT", Kw::Entrypoint),
    ("ENV", Kw::Env),
    ("EXPOSE", Kw::Expose),
    ("FROM", Kw::From),
    ("HEALTHCHECK", Kw::Healthcheck),
    ("LABEL", Kw::Label),
    ("MAINTAINER", Kw::Maintainer),
    ("ONBUILD", Kw::Onbuild),
    ("RUN", Kw::Run),
    ("SHELL", Kw::Shell),
    ("STOPSIGNAL", Kw::Stopsignal),
    ("USER", Kw::User),
    ("VOLUME", Kw::Volume),
    ("WORKDIR", Kw::Workdir),
];

/// A parsed line: either the start of a stage or an instruction in one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Parsed {
    From(From),
    Instruction(Instruction),
}

/// What the parser of one instruction needs.
struct Ctx<'a> {
    line: &'a LogicalLine,
    head: &'a Head,
    heredocs: &'a [Heredoc],
    escape: char,
    kw: &'static str,
}

impl Ctx<'_> {
    fn at(&self, off: usize) -> Pos {
        self.line.pos(off)
    }

    fn here(&self) -> Pos {
        self.at(self.head.keyword_off)
    }

    fn args_at(&self, rel: usize) -> Pos {
        self.at(self.head.args_off + rel)
    }

    fn err(&self, kind: ErrorKind) -> Located {
        Located::new(self.here(), kind)
    }

    fn flags(&self, spec: &[(&'static str, Kind)]) -> Result<Flags, Located> {
        Flags::parse(self.kw, &self.head.flags, spec, |off| self.line.pos(off))
    }

    fn no_flags(&self) -> Result<(), Located> {
        self.flags(&[]).map(|_| ())
    }

    fn args(&self) -> &str {
        &self.head.args
    }

    fn require_args(&self) -> Result<(), Located> {
        if self.args().is_empty() {
            return Err(self.err(ErrorKind::AtLeastOneArgument(self.kw)));
        }
        Ok(())
    }

    /// Exec form if the arguments are a JSON array of strings, else shell.
    fn command(&self) -> Result<Command, Located> {
        match parse_json(self.args()) {
            Json::Array(v) => Ok(Command::Exec(v)),
            Json::NotStrings => Err(Located::new(self.args_at(0), ErrorKind::JsonNotStrings)),
            Json::Invalid(_) => Ok(Command::Shell(self.args().to_string())),
        }
    }

    /// A JSON array or a whitespace-separated list, with offsets for errors.
    fn list(&self) -> Result<(Vec<(Pos, String)>, bool), Located> {
        match parse_json(self.args()) {
            Json::Array(v) => Ok((v.into_iter().map(|s| (self.args_at(0), s)).collect(), true)),
            Json::NotStrings => Err(Located::new(self.args_at(0), ErrorKind::JsonNotStrings)),
            Json::Invalid(_) => Ok((
                split_whitespace(self.args())
                    .into_iter()
                    .map(|(o, s)| (self.args_at(o), s))
                    .collect(),
                false,
            )),
        }
    }

    fn single(&self) -> Result<String, Located> {
        self.no_flags()?;
        if self.args().is_empty() {
            return Err(self.err(ErrorKind::ExactlyOneArgument(self.kw)));
        }
        Ok(self.args().to_string())
    }
}

fn keyword(name: &str) -> Option<(&'static str, Kw)> {
    KEYWORDS
        .iter()
        .copied()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// Parse the instruction starting at `head`.
pub(crate) fn parse(
    line: &LogicalLine,
    head: &Head,
    heredocs: &[Heredoc],
    escape: char,
) -> Result<Parsed, Located> {
    let Some((kw, kind)) = keyword(&head.keyword) else {
        return Err(Located::new(
            line.pos(head.keyword_off),
            ErrorKind::UnknownInstruction {
                name: head.keyword.clone(),
                suggestion: Suggestion(closest(&head.keyword, KEYWORDS.iter().map(|(n, _)| *n))),
            },
        ));
    };
    let cx = Ctx {
        line,
        head,
        heredocs,
        escape,
        kw,
    };
    let instruction = match kind {
        Kw::From => return from(&cx).map(Parsed::From),
        Kw::Run => Instruction::Run(run(&cx)?),
        Kw::Cmd | Kw::Entrypoint => {
            cx.no_flags()?;
            cx.require_args()?;
            let c = cx.command()?;
            if kind == Kw::Cmd {
                Instruction::Cmd(c)
            } else {
                Instruction::Entrypoint(c)
            }
        }
        Kw::Shell => {
            cx.no_flags()?;
            cx.require_args()?;
            match parse_json(cx.args()) {
                Json::Array(v) if v.is_empty() => {
                    return Err(cx.err(ErrorKind::AtLeastOneArgument("SHELL")))
                }
                Json::Array(v) => Instruction::Shell(v),
                Json::NotStrings => {
                    return Err(Located::new(cx.args_at(0), ErrorKind::JsonNotStrings))
                }
                Json::Invalid(reason) => {
                    return Err(Located::new(
                        cx.args_at(0),
                        ErrorKind::JsonRequired {
                            instruction: "SHELL",
                            reason,
                        },
                    ))
                }
            }
        }
        Kw::Env | Kw::Label => {
            cx.no_flags()?;
            let kvs = name_values(&cx)?;
            if kind == Kw::Env {
                Instruction::Env(kvs)
            } else {
                Instruction::Label(kvs)
            }
        }
        Kw::Arg => {
            cx.no_flags()?;
            Instruction::Arg(args(&cx)?)
        }
        Kw::Expose => {
            cx.no_flags()?;
            cx.require_args()?;
            let mut ports = Vec::new();
            for (off, p) in split_whitespace(cx.args()) {
                // Ports naming variables are checked after expansion.
                if !p.contains('$') {
                    if let Err(reason) = parse_port(&p) {
                        return Err(Located::new(
                            cx.args_at(off),
                            ErrorKind::InvalidPort { port: p, reason },
                        ));
                    }
                }
                ports.push(p);
            }
            Instruction::Expose(ports)
        }
        Kw::Copy => Instruction::Copy(copy(&cx)?),
        Kw::Add => Instruction::Add(add(&cx)?),
        Kw::Volume => {
            cx.no_flags()?;
            cx.require_args()?;
            let (items, _) = cx.list()?;
            let mut out = Vec::new();
            for (at, v) in items {
                if v.trim().is_empty() {
                    return Err(Located::new(at, ErrorKind::EmptyVolume));
                }
                out.push(v);
            }
            Instruction::Volume(out)
        }
        Kw::User => Instruction::User(cx.single()?),
        Kw::Workdir => Instruction::Workdir(cx.single()?),
        Kw::Stopsignal => Instruction::Stopsignal(cx.single()?),
        Kw::Maintainer => Instruction::Maintainer(cx.single()?),
        Kw::Healthcheck => Instruction::Healthcheck(healthcheck(&cx)?),
        Kw::Onbuild => Instruction::Onbuild(onbuild(&cx)?),
    };
    Ok(Parsed::Instruction(instruction))
}

fn from(cx: &Ctx) -> Result<From, Located> {
    let flags = cx.flags(&[("platform", Kind::Str)])?;
    let words = split_whitespace(cx.args());
    let name = match words.as_slice() {
        [_] => None,
        [_, (_, as_kw), (off, name)] if as_kw.eq_ignore_ascii_case("as") => {
            let lower = name.to_ascii_lowercase();
            let valid = lower.starts_with(|c: char| c.is_ascii_lowercase())
                && lower.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                });
            if !valid {
                return Err(Located::new(
                    cx.args_at(*off),
                    ErrorKind::InvalidStageName(name.clone()),
                ));
            }
            Some(lower)
        }
        [_, (off, as_kw)] if as_kw.eq_ignore_ascii_case("as") => {
            return Err(Located::new(cx.args_at(*off), ErrorKind::MissingStageName))
        }
        _ => return Err(cx.err(ErrorKind::FromArguments)),
    };
    Ok(From {
        image: words[0].1.clone(),
        platform: flags.string("platform"),
        name,
    })
}

fn run(cx: &Ctx) -> Result<Run, Located> {
    let flags = cx.flags(&[
        ("mount", Kind::List),
        ("network", Kind::Str),
        ("security", Kind::Str),
    ])?;
    cx.require_args()?;
    let mut mounts = Vec::new();
    for (at, spec) in flags.list("mount") {
        mounts.push(Mount::parse(&spec).map_err(|k| Located::new(at, k))?);
    }
    let bad = |flag: &str, (at, value): (Pos, String), reason: FlagValueError| {
        Located::new(
            at,
            ErrorKind::BadFlagValue {
                flag: flag.into(),
                value,
                reason,
            },
        )
    };
    let network = match flags.get("network") {
        None => None,
        Some((_, v)) if v == "default" => Some(Network::Default),
        Some((_, v)) if v == "none" => Some(Network::None),
        Some((_, v)) if v == "host" => Some(Network::Host),
        Some(other) => return Err(bad("network", other, FlagValueError::Network)),
    };
    let security = match flags.get("security") {
        None => None,
        Some((_, v)) if v == "sandbox" => Some(Security::Sandbox),
        Some((_, v)) if v == "insecure" => Some(Security::Insecure),
        Some(other) => return Err(bad("security", other, FlagValueError::Security)),
    };
    Ok(Run {
        mounts,
        network,
        security,
        command: cx.command()?,
        heredocs: cx.heredocs.to_vec(),
    })
}

/// ENV and LABEL: `k=v ...` or the legacy `k v` (the rest of the line is
/// the value).
fn name_values(cx: &Ctx) -> Result<Vec<KeyValue>, Located> {
    let words = parse_words(cx.args(), cx.escape);
    let Some((_, first)) = words.first() else {
        return Err(cx.err(ErrorKind::AtLeastOneArgument(cx.kw)));
    };
    if !first.contains('=') {
        let rest = cx.args();
        let Some(split) = rest.find(['\t', '\u{b}', '\u{c}', '\r', ' ']) else {
            return Err(cx.err(ErrorKind::TwoArguments(cx.kw)));
        };
        let value = rest[split..].trim_start_matches(['\t', '\u{b}', '\u{c}', '\r', ' ']);
        return Ok(vec![KeyValue {
            key: rest[..split].to_string(),
            value: value.to_string(),
        }]);
    }
    let mut out = Vec::new();
    for (off, word) in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(Located::new(
                cx.args_at(off),
                ErrorKind::MissingEquals(word),
            ));
        };
        if key.is_empty() {
            return Err(Located::new(cx.args_at(off), ErrorKind::EmptyName(cx.kw)));
        }
        out.push(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(out)
}

fn args(cx: &Ctx) -> Result<Vec<Arg>, Located> {
    let words = parse_words(cx.args(), cx.escape);
    if words.is_empty() {
        return Err(cx.err(ErrorKind::AtLeastOneArgument("ARG")));
    }
    let mut out = Vec::new();
    for (off, word) in words {
        let (name, default) = match word.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (word, None),
        };
        if name.is_empty() {
            return Err(Located::new(cx.args_at(off), ErrorKind::EmptyName("ARG")));
        }
        out.push(Arg { name, default });
    }
    Ok(out)
}

/// Sources and destination of COPY/ADD; heredoc markers among the sources
/// become inline files.
fn sources_and_dest(cx: &Ctx) -> Result<(Vec<Source>, String), Located> {
    let (items, json) = cx.list()?;
    if items.len() < 2 {
        return Err(cx.err(ErrorKind::NoDestination(cx.kw)));
    }
    let (dest_at, dest) = items[items.len() - 1].clone();
    if !json && parse_marker(&dest).is_some() {
        return Err(Located::new(
            dest_at,
            ErrorKind::HeredocNotAllowed {
                instruction: cx.kw,
                what: "a destination",
            },
        ));
    }
    let mut sources = Vec::new();
    for (_, src) in &items[..items.len() - 1] {
        let marker = if json { None } else { parse_marker(src) };
        match marker.and_then(|m| cx.heredocs.iter().find(|h| h.name == m.name)) {
            Some(doc) => sources.push(Source::Inline(doc.clone())),
            None => sources.push(Source::Path(src.clone())),
        }
    }
    Ok((sources, dest))
}

fn excludes(flags: &Flags) -> Vec<String> {
    flags.list("exclude").into_iter().map(|(_, v)| v).collect()
}

fn copy(cx: &Ctx) -> Result<Copy, Located> {
    let flags = cx.flags(&[
        ("from", Kind::Str),
        ("chown", Kind::Str),
        ("chmod", Kind::Str),
        ("link", Kind::Bool),
        ("parents", Kind::Bool),
        ("exclude", Kind::List),
    ])?;
    let (sources, dest) = sources_and_dest(cx)?;
    Ok(Copy {
        from: flags.string("from"),
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        link: flags.bool("link"),
        parents: flags.bool("parents"),
        excludes: excludes(&flags),
        sources,
        dest,
    })
}

fn add(cx: &Ctx) -> Result<Add, Located> {
    let flags = cx.flags(&[
        ("chown", Kind::Str),
        ("chmod", Kind::Str),
        ("checksum", Kind::Str),
        ("keep-git-dir", Kind::Bool),
        ("link", Kind::Bool),
        ("exclude", Kind::List),
    ])?;
    let (sources, dest) = sources_and_dest(cx)?;
    Ok(Add {
        chown: flags.string("chown"),
        chmod: flags.string("chmod"),
        checksum: flags.string("checksum"),
        keep_git_dir: flags.bool("keep-git-dir"),
        link: flags.bool("link"),
        excludes: excludes(&flags),
        sources,
        dest,
    })
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units
/// ns, us (µs), ms, s, m, h, e.g. `1m30s` or `1.5h`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * nanos;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total as u64))
}

fn healthcheck(cx: &Ctx) -> Result<Healthcheck, Located> {
    cx.require_args()?;
    let args = cx.args();
    let split = args.find(char::is_whitespace).unwrap_or(args.len());
    let typ = args[..split].to_ascii_uppercase();
    let rest = args[split..].trim_start();
    if typ == "NONE" {
        if !rest.is_empty() || !cx.head.flags.is_empty() {
            return Err(cx.err(ErrorKind::HealthcheckNoneArgs));
        }
        return Ok(Healthcheck::None);
    }
    let flags = cx.flags(&[
        ("interval", Kind::Str),
        ("timeout", Kind::Str),
        ("start-period", Kind::Str),
        ("start-interval", Kind::Str),
        ("retries", Kind::Str),
    ])?;
    if typ != "CMD" {
        return Err(Located::new(
            cx.args_at(0),
            ErrorKind::HealthcheckType(args[..split].to_string()),
        ));
    }
    let command = match parse_json(rest) {
        Json::Array(v) if !v.is_empty() => Command::Exec(v),
        Json::NotStrings => return Err(Located::new(cx.args_at(split), ErrorKind::JsonNotStrings)),
        Json::Invalid(_) if !rest.is_empty() => Command::Shell(rest.to_string()),
        _ => return Err(cx.err(ErrorKind::AtLeastOneArgument("HEALTHCHECK CMD"))),
    };
    let duration = |name: &str| -> Result<Option<Duration>, Located> {
        let Some((at, v)) = flags.get(name) else {
            return Ok(None);
        };
        let bad = |reason: FlagValueError| {
            Located::new(
                at,
                ErrorKind::BadFlagValue {
                    flag: name.into(),
                    value: v.clone(),
                    reason,
                },
            )
        };
        match parse_go_duration(&v) {
            None => Err(bad(FlagValueError::Duration)),
            Some(d) if d.is_zero() => Ok(None),
            Some(d) if d < Duration::from_millis(1) => Err(bad(FlagValueError::BelowMillisecond)),
            Some(d) => Ok(Some(d)),
        }
    };
    let retries = match flags.get("retries") {
        None => None,
        Some((at, v)) => match v.parse::<i64>() {
            Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => Some(n as u32),
            _ => {
                return Err(Located::new(
                    at,
                    ErrorKind::BadFlagValue {
                        flag: "retries".into(),
                        value: v,
                        reason: FlagValueError::Retries,
                    },
                ))
            }
        },
    };
    Ok(Healthcheck::Check {
        command,
        interval: duration("interval")?,
        timeout: duration("timeout")?,
        start_period: duration("start-period")?,
        start_interval: duration("start-interval")?,
        retries,
    })
}

fn onbuild(cx: &Ctx) -> Result<Onbuild, Located> {
    cx.no_flags()?;
    cx.require_args()?;
    let sub = Head::split(&cx.line.text, cx.head.args_off);
    let at = cx.line.pos(sub.keyword_off);
    match keyword(&sub.keyword) {
        Some((_, Kw::Onbuild)) => return Err(Located::new(at, ErrorKind::OnbuildOnbuild)),
        Some((k, Kw::Maintainer)) => {
            return Err(Located::new(at, ErrorKind::OnbuildTrigger(k.into())))
        }
        _ => {}
    }
    // FROM is the only keyword that parses to a stage start.
    let Parsed::Instruction(instruction) = parse(cx.line, &sub, cx.heredocs, cx.escape)? else {
        return Err(Located::new(at, ErrorKind::OnbuildTrigger("FROM".into())));
    };
    let mut expression = cx.line.text[cx.head.args_off..].to_string();
    for doc in cx.heredocs {
        expression.push('\n');
        expression.push_str(&doc.content);
        expression.push_str(&doc.name);
    }
    Ok(Onbuild {
        instruction: Box::new(instruction),
        expression,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("30"), None);
        assert_eq!(parse_go_duration("s"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("5x"), None);
    }
}
