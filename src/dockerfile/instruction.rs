//! The typed instructions the build executor consumes, and which of their
//! words are expanded (ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER VOLUME
//! WORKDIR, ARG defaults and the path/id fields of RUN `--mount`, as
//! buildkit does; never a RUN, CMD, ENTRYPOINT, SHELL or HEALTHCHECK
//! command, whose text the shell sees, nor ONBUILD, which a later build
//! expands).
//!
//! Owns the types and the list of expandable fields. It must not read
//! Dockerfile text (`parse.rs`) or track scope (`scope.rs`).

use std::collections::BTreeSet;
use std::time::Duration;

use super::error::PortError;
use super::expand::{ExpandError, Lexer, Lookup, NoVars};
use super::heredoc::{parse_marker, Heredoc};
use super::mount::Mount;

/// A 1-based, inclusive range of source lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// A value with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
    /// Column of the instruction keyword on the first line.
    pub col: usize,
    /// The instruction as one line (continuations joined), for history's
    /// `created_by`.
    pub original: String,
}

/// Exec form (a JSON array, run without a shell) or shell form (a string
/// handed to the SHELL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// `FROM [--platform=P] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image reference, `scratch`, or another stage's name.
    pub image: String,
    pub platform: Option<String>,
    /// The stage name, lower-cased.
    pub name: Option<String>,
}

impl From {
    /// Expand image and platform with the global scope (ARGs before the
    /// first FROM plus build arguments).
    pub fn expand(&self, vars: &dyn Lookup, escape: char) -> Result<From, ExpandError> {
        let lx = Lexer::new(escape);
        Ok(From {
            image: lx.process(&self.image, vars)?.word,
            platform: match &self.platform {
                Some(p) => Some(lx.process(p, vars)?.word),
                None => None,
            },
            name: self.name.clone(),
        })
    }

    /// The variables the image and platform refer to.
    pub fn referenced_vars(&self, escape: char) -> BTreeSet<String> {
        let mut out = super::expand::referenced_vars(&self.image, escape);
        if let Some(p) = &self.platform {
            out.extend(super::expand::referenced_vars(p, escape));
        }
        out
    }
}

/// `RUN --network=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Default,
    None,
    Host,
}

/// `RUN --security=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Sandbox,
    Insecure,
}

/// `RUN [flags] command`, with heredoc bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub mounts: Vec<Mount>,
    pub network: Option<Network>,
    pub security: Option<Security>,
    pub command: Command,
    pub heredocs: Vec<Heredoc>,
}

/// What a RUN executes once heredocs are taken into account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunBody<'a> {
    /// Exec form: run these arguments directly.
    Exec(&'a [String]),
    /// Run `SHELL + [script]`.
    Shell(String),
    /// The command was only a heredoc (`RUN <<EOF`): its body is the
    /// script. A body starting with `#!` is written to a file and executed
    /// directly; otherwise it runs as `SHELL + [body]`.
    Script(&'a Heredoc),
}

impl Run {
    /// Decide what to execute the way buildkit does: a lone heredoc is the
    /// script; otherwise heredoc bodies are appended after the command so
    /// the shell reads them itself.
    pub fn body(&self) -> RunBody<'_> {
        match &self.command {
            Command::Exec(args) => RunBody::Exec(args),
            Command::Shell(cmd) => {
                if let (Some(doc), Some(_)) = (self.heredocs.first(), parse_marker(cmd)) {
                    if self.heredocs.len() == 1 {
                        return RunBody::Script(doc);
                    }
                }
                let mut full = cmd.clone();
                for doc in &self.heredocs {
                    full.push('\n');
                    full.push_str(&doc.content);
                    full.push_str(&doc.name);
                }
                RunBody::Shell(full)
            }
        }
    }
}

/// `key=value` in ENV and LABEL. Before expansion both keep their quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of an ARG instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    /// The default as written (quotes kept until expansion).
    pub default: Option<String>,
}

/// A source of COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A path (or URL or git address for ADD) as written.
    Path(String),
    /// A heredoc written to a file of this name (`COPY <<EOF /dst`).
    Inline(Heredoc),
}

/// `COPY [flags] src... dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub excludes: Vec<String>,
    pub sources: Vec<Source>,
    pub dest: String,
}

/// `ADD [flags] src... dest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub link: bool,
    pub excludes: Vec<String>,
    pub sources: Vec<Source>,
    pub dest: String,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [flags] CMD ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// Disable any healthcheck inherited from the base image.
    None,
    Check {
        command: Command,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

/// `ONBUILD instruction`: stored in the image, run by a later build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    pub instruction: Box<Instruction>,
    /// The trigger text for the image config's `OnBuild` list.
    pub expression: String,
}

/// A protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

/// One EXPOSE entry: a port or an inclusive range, with its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
    pub protocol: Protocol,
}

/// Parse `port[-port][/tcp|udp|sctp]` as Docker's `nat.ParsePortSpec` does
/// for EXPOSE; protocol defaults to tcp.
pub fn parse_port(spec: &str) -> Result<PortRange, PortError> {
    let (port, proto) = match spec.split_once('/') {
        Some((p, "")) => (p, "tcp"),
        Some((p, proto)) => (p, proto),
        None => (spec, "tcp"),
    };
    let protocol = match proto.to_ascii_lowercase().as_str() {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        _ => return Err(PortError::Protocol(proto.to_string())),
    };
    if port.is_empty() {
        return Err(PortError::Empty);
    }
    let num = |s: &str| -> Result<u16, PortError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PortError::NotANumber(s.to_string()));
        }
        s.parse::<u16>()
            .map_err(|_| PortError::OutOfRange(s.to_string()))
    };
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let p = num(port)?;
            (p, p)
        }
    };
    if end < start {
        return Err(PortError::Reversed { start, end });
    }
    Ok(PortRange {
        start,
        end,
        protocol,
    })
}

/// Every instruction that can appear in a stage (FROM starts a stage and
/// lives in [`super::Stage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    Run(Run),
    Cmd(Command),
    Entrypoint(Command),
    Label(Vec<KeyValue>),
    /// Ports as written; see [`parse_port`] after expansion.
    Expose(Vec<String>),
    Env(Vec<KeyValue>),
    Add(Add),
    Copy(Copy),
    Volume(Vec<String>),
    /// `user[:group]` as written; see [`Instruction::user_group`].
    User(String),
    Workdir(String),
    Arg(Vec<Arg>),
    Onbuild(Onbuild),
    Stopsignal(String),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    Maintainer(String),
}

/// Heredoc bodies expand like buildkit's raw expansion: quotes are plain
/// text, and `\` (always backslash, whatever the escape directive) escapes.
fn body_lexer() -> Lexer {
    let mut lx = Lexer::new('\\');
    lx.skip_quotes = true;
    lx
}

/// How one expandable field is rewritten: a single word, or a word that
/// may split into several fields (EXPOSE).
trait Words {
    fn word(&mut self, s: &str) -> Result<String, ExpandError>;
    fn fields(&mut self, s: &str) -> Result<Vec<String>, ExpandError>;
    /// Heredoc bodies: `$` expands, quotes stay.
    fn body(&mut self, s: &str) -> Result<String, ExpandError>;
}

struct Expander<'a> {
    vars: &'a dyn Lookup,
    escape: char,
}

impl Words for Expander<'_> {
    fn word(&mut self, s: &str) -> Result<String, ExpandError> {
        Ok(Lexer::new(self.escape).process(s, self.vars)?.word)
    }
    fn fields(&mut self, s: &str) -> Result<Vec<String>, ExpandError> {
        Ok(Lexer::new(self.escape).process(s, self.vars)?.words)
    }
    fn body(&mut self, s: &str) -> Result<String, ExpandError> {
        Ok(body_lexer().process(s, self.vars)?.word)
    }
}

/// Collects referenced names and leaves every word as it is.
struct Collector {
    escape: char,
    names: BTreeSet<String>,
}

impl Collector {
    fn note(&mut self, s: &str, body: bool) {
        let lx = if body {
            body_lexer()
        } else {
            Lexer::new(self.escape)
        };
        if let Ok(out) = lx.process(s, &NoVars) {
            self.names.extend(out.used);
        }
    }
}

impl Words for Collector {
    fn word(&mut self, s: &str) -> Result<String, ExpandError> {
        self.note(s, false);
        Ok(s.to_string())
    }
    fn fields(&mut self, s: &str) -> Result<Vec<String>, ExpandError> {
        self.note(s, false);
        Ok(vec![s.to_string()])
    }
    fn body(&mut self, s: &str) -> Result<String, ExpandError> {
        self.note(s, true);
        Ok(s.to_string())
    }
}

fn opt(w: &mut dyn Words, s: &Option<String>) -> Result<Option<String>, ExpandError> {
    s.as_deref().map(|s| w.word(s)).transpose()
}

fn sources(w: &mut dyn Words, srcs: &[Source]) -> Result<Vec<Source>, ExpandError> {
    srcs.iter()
        .map(|s| match s {
            Source::Path(p) => Ok(Source::Path(w.word(p)?)),
            Source::Inline(doc) if doc.expand => Ok(Source::Inline(Heredoc {
                content: w.body(&doc.content)?,
                ..doc.clone()
            })),
            Source::Inline(doc) => Ok(Source::Inline(doc.clone())),
        })
        .collect()
}

fn pairs(w: &mut dyn Words, kvs: &[KeyValue]) -> Result<Vec<KeyValue>, ExpandError> {
    kvs.iter()
        .map(|kv| {
            Ok(KeyValue {
                key: w.word(&kv.key)?,
                value: w.word(&kv.value)?,
            })
        })
        .collect()
}

impl Instruction {
    /// The instruction's keyword in upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Env(_) => "ENV",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Arg(_) => "ARG",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Stopsignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }

    /// For USER: the user and the optional group.
    pub fn user_group(spec: &str) -> (&str, Option<&str>) {
        match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        }
    }

    /// The same instruction with variables expanded where Docker expands
    /// them. `vars` should be the stage's ENV overlaid on its ARGs (ENV
    /// wins); `escape` is the file's escape character.
    pub fn expand(&self, vars: &dyn Lookup, escape: char) -> Result<Instruction, ExpandError> {
        self.map_words(&mut Expander { vars, escape })
    }

    /// The variable names the expanded fields refer to. RUN refers to none
    /// here: it sees every ARG in scope as an environment variable, which
    /// [`super::Scope::used_args`] accounts for.
    pub fn referenced_vars(&self, escape: char) -> BTreeSet<String> {
        let mut c = Collector {
            escape,
            names: BTreeSet::new(),
        };
        // The collector never fails and returns every word unchanged.
        let _ = self.map_words(&mut c);
        c.names
    }

    fn map_words(&self, w: &mut dyn Words) -> Result<Instruction, ExpandError> {
        Ok(match self {
            Instruction::Run(run) => {
                let mut run = run.clone();
                for m in &mut run.mounts {
                    m.target = opt(w, &m.target)?;
                    m.source = opt(w, &m.source)?;
                    m.from = opt(w, &m.from)?;
                    m.id = opt(w, &m.id)?;
                    m.env = opt(w, &m.env)?;
                }
                Instruction::Run(run)
            }
            Instruction::Label(kvs) => Instruction::Label(pairs(w, kvs)?),
            Instruction::Env(kvs) => Instruction::Env(pairs(w, kvs)?),
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(w.fields(p)?);
                }
                Instruction::Expose(out)
            }
            Instruction::Add(a) => Instruction::Add(Add {
                chown: opt(w, &a.chown)?,
                chmod: opt(w, &a.chmod)?,
                checksum: opt(w, &a.checksum)?,
                excludes: a
                    .excludes
                    .iter()
                    .map(|e| w.word(e))
                    .collect::<Result<_, _>>()?,
                sources: sources(w, &a.sources)?,
                dest: w.word(&a.dest)?,
                ..a.clone()
            }),
            Instruction::Copy(c) => Instruction::Copy(Copy {
                from: opt(w, &c.from)?,
                chown: opt(w, &c.chown)?,
                chmod: opt(w, &c.chmod)?,
                excludes: c
                    .excludes
                    .iter()
                    .map(|e| w.word(e))
                    .collect::<Result<_, _>>()?,
                sources: sources(w, &c.sources)?,
                dest: w.word(&c.dest)?,
                ..c.clone()
            }),
            Instruction::Volume(v) => {
                Instruction::Volume(v.iter().map(|p| w.word(p)).collect::<Result<_, _>>()?)
            }
            Instruction::User(u) => Instruction::User(w.word(u)?),
            Instruction::Workdir(d) => Instruction::Workdir(w.word(d)?),
            Instruction::Stopsignal(s) => Instruction::Stopsignal(w.word(s)?),
            Instruction::Arg(args) => Instruction::Arg(
                args.iter()
                    .map(|a| {
                        Ok(Arg {
                            name: a.name.clone(),
                            default: opt(w, &a.default)?,
                        })
                    })
                    .collect::<Result<_, ExpandError>>()?,
            ),
            Instruction::Cmd(_)
            | Instruction::Entrypoint(_)
            | Instruction::Onbuild(_)
            | Instruction::Healthcheck(_)
            | Instruction::Shell(_)
            | Instruction::Maintainer(_) => self.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn vars() -> BTreeMap<String, String> {
        [("V", "1.2"), ("DIR", "/app"), ("U", "me")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ports() {
        assert_eq!(
            parse_port("80"),
            Ok(PortRange {
                start: 80,
                end: 80,
                protocol: Protocol::Tcp
            })
        );
        assert_eq!(parse_port("53/UDP").map(|p| p.protocol), Ok(Protocol::Udp));
        assert_eq!(
            parse_port("8000-8010/tcp").map(|p| (p.start, p.end)),
            Ok((8000, 8010))
        );
        assert_eq!(parse_port("80/").map(|p| p.protocol), Ok(Protocol::Tcp));
        assert!(parse_port("80x").is_err());
        assert!(parse_port("70000").is_err());
        assert!(parse_port("90-80").is_err());
        assert!(parse_port("80/icmp").is_err());
        assert!(parse_port("/tcp").is_err());
    }

    #[test]
    fn copy_expands_paths_not_literal_heredocs() {
        let doc = |expand| Heredoc {
            name: "f".into(),
            content: "v=$V \"q\" \\$V '$V'\n".into(),
            expand,
            chomp: false,
            fd: None,
        };
        let c = Instruction::Copy(Copy {
            from: Some("$U".into()),
            chown: None,
            chmod: None,
            link: false,
            parents: false,
            excludes: vec!["*.$V".into()],
            sources: vec![
                Source::Path("'$DIR'/x".into()),
                Source::Inline(doc(true)),
                Source::Inline(doc(false)),
            ],
            dest: "${DIR}/".into(),
        });
        let Instruction::Copy(e) = c.expand(&vars(), '\\').unwrap() else {
            panic!("not a COPY")
        };
        assert_eq!(e.from.as_deref(), Some("me"));
        assert_eq!(e.excludes, ["*.1.2"]);
        assert_eq!(e.dest, "/app/");
        assert_eq!(e.sources[0], Source::Path("$DIR/x".into()));
        assert_eq!(
            e.sources[1],
            Source::Inline(Heredoc {
                content: "v=1.2 \"q\" $V '1.2'\n".into(),
                ..doc(true)
            })
        );
        assert_eq!(e.sources[2], Source::Inline(doc(false)));
        let names: Vec<String> = c.referenced_vars('\\').into_iter().collect();
        assert_eq!(names, ["DIR", "U", "V"]);
    }

    #[test]
    fn run_and_cmd_are_not_expanded() {
        let cmd = Instruction::Cmd(Command::Shell("echo $V".into()));
        assert_eq!(cmd.expand(&vars(), '\\').unwrap(), cmd);
        assert!(cmd.referenced_vars('\\').is_empty());
    }

    #[test]
    fn run_body_kinds() {
        let doc = Heredoc {
            name: "EOF".into(),
            content: "echo hi\n".into(),
            expand: true,
            chomp: false,
            fd: None,
        };
        let mut run = Run {
            mounts: vec![],
            network: None,
            security: None,
            command: Command::Shell("<<EOF".into()),
            heredocs: vec![doc.clone()],
        };
        assert_eq!(run.body(), RunBody::Script(&doc));
        run.command = Command::Shell("cat <<EOF > /x".into());
        assert_eq!(
            run.body(),
            RunBody::Shell("cat <<EOF > /x\necho hi\nEOF".into())
        );
    }
}
