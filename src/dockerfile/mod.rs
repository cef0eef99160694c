//! Dockerfile parsing: text → syntax tree with line spans → typed
//! instructions grouped into stages, plus ARG/ENV expansion for the build.
//!
//! Owns the Dockerfile language. It must not touch the filesystem, the
//! store or the sandbox; the build executor consumes [`Dockerfile`] and
//! calls [`Scope::apply`] per instruction.
//!
//! ```
//! use hutch::dockerfile::{parse, BuildArgs, Instruction};
//!
//! let text = "ARG BASE=alpine\nFROM $BASE AS app\nARG V=1\nWORKDIR /srv/$V\nRUN make\n";
//! let df = parse(text, "Dockerfile")?;
//! let build = BuildArgs::default();
//! let global = df.global_scope(&build)?;
//! let stage = &df.stages[0];
//! assert_eq!(df.base(stage, &global)?.image, "alpine");
//! // The base image's config env would go here.
//! let mut scope = df.scope(&global, &build, Vec::new());
//! let mut steps = Vec::new();
//! for ins in &stage.instructions {
//!     let used = scope.used_args(&ins.node); // for the cache key
//!     let expanded = scope.apply(ins)?;      // what to execute
//!     steps.push((expanded, used, scope.run_env()));
//! }
//! assert_eq!(steps[1].0, Instruction::Workdir("/srv/1".into()));
//! assert_eq!(steps[2].1.get("V").map(String::as_str), Some("1"));
//! # Ok::<(), hutch::dockerfile::ParseError>(())
//! ```
//!
//! The rules follow the Dockerfile reference and buildkit's parser. Where
//! buildkit silently accepts something meaningless, hutch is stricter:
//! a file ending inside a line continuation, an instruction without
//! arguments, and flags on `HEALTHCHECK NONE` are errors. The numeric
//! `--mount` fields (uid, gid, mode, size) are not variable-expanded.

mod dump;
mod error;
mod expand;
mod flags;
mod heredoc;
mod instruction;
mod lexer;
mod mount;
mod parse;
pub use parse::parse_go_duration;
mod scope;
mod suggest;
mod words;

pub use error::{
    ErrorKind, FlagValueError, JsonReason, JsonSyntax, MountError, ParseError, PortError, Pos,
    Suggestion,
};
pub use expand::{expand_word, expand_words, referenced_vars, ExpandError, Lookup, NoVars};
pub use heredoc::Heredoc;
pub use instruction::{
    parse_port, Add, Arg, Command, Copy, From, Healthcheck, Instruction, KeyValue, Network,
    Onbuild, PortRange, Protocol, Run, RunBody, Security, Source, Span, Spanned,
};
pub use lexer::{Directive, Directives, Warning};
pub use mount::{Mount, MountKind, Sharing};
pub use scope::{BuildArgs, Platform, Scope, PROXY_ARGS};

use error::Located;
use parse::Parsed;

/// One build stage: a FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    pub from: From,
    /// Lines of the FROM instruction.
    pub span: Span,
    /// Column of the FROM keyword.
    pub col: usize,
    pub instructions: Vec<Spanned<Instruction>>,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The name errors are reported under.
    pub file: String,
    pub directives: Directives,
    /// ARGs before the first FROM: they only apply to FROM lines, and to
    /// stages that redeclare them without a value.
    pub global_args: Vec<Spanned<Arg>>,
    pub stages: Vec<Stage>,
    pub warnings: Vec<Warning>,
}

impl Dockerfile {
    /// A stage by its `AS` name (case-insensitive) or its 0-based index, as
    /// `COPY --from` and `--target` refer to stages.
    pub fn stage_by_name_or_index(&self, key: &str) -> Option<(usize, &Stage)> {
        let lower = key.to_ascii_lowercase();
        if let Some(found) = self
            .stages
            .iter()
            .enumerate()
            .find(|(_, s)| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(found);
        }
        let index: usize = key.parse().ok()?;
        self.stages.get(index).map(|s| (index, s))
    }
}

/// Parse a Dockerfile. `file` is only used in error messages.
pub fn parse(text: &str, file: &str) -> Result<Dockerfile, ParseError> {
    parse_located(text, file).map_err(|e| e.in_file(file))
}

fn parse_located(text: &str, file: &str) -> Result<Dockerfile, Located> {
    let lexed = lexer::lex(text)?;
    let escape = lexed.directives.escape;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &lexed.nodes {
        let parsed = parse::parse(&node.line, &node.head, &node.heredocs, escape)?;
        let span = Span {
            start: node.line.start_line,
            end: node.line.end_line,
        };
        let at = node.line.pos(node.head.keyword_off);
        let spanned = |i: Instruction| Spanned {
            node: i,
            span,
            col: at.col,
            original: node.line.text.trim().to_string(),
        };
        match (parsed, stages.last_mut()) {
            (Parsed::From(from), _) => {
                if let Some(name) = &from.name {
                    if let Some(first) = stages.iter().find(|s| s.name.as_ref() == Some(name)) {
                        return Err(Located::new(
                            at,
                            ErrorKind::DuplicateStageName {
                                name: name.clone(),
                                first_line: first.span.start,
                            },
                        ));
                    }
                }
                stages.push(Stage {
                    name: from.name.clone(),
                    from,
                    span,
                    col: at.col,
                    instructions: Vec::new(),
                });
            }
            (Parsed::Instruction(Instruction::Arg(args)), None) => {
                global_args.extend(args.into_iter().map(|a| Spanned {
                    node: a,
                    span,
                    col: at.col,
                    original: node.line.text.trim().to_string(),
                }));
            }
            (Parsed::Instruction(i), None) => {
                return Err(Located::new(
                    at,
                    ErrorKind::InstructionBeforeFrom(i.keyword().into()),
                ));
            }
            (Parsed::Instruction(i), Some(stage)) => stage.instructions.push(spanned(i)),
        }
    }
    if stages.is_empty() {
        let last = text.lines().count().max(1);
        return Err(Located::new(Pos::new(last, 1), ErrorKind::NoFrom));
    }
    Ok(Dockerfile {
        file: file.to_string(),
        directives: lexed.directives,
        global_args,
        stages,
        warnings: lexed.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_by_name_or_index() {
        let df = parse(
            "FROM a AS Build\nFROM b\nFROM c AS 9lives.ok\n",
            "Dockerfile",
        );
        let err = df.unwrap_err().to_string();
        assert!(
            err.starts_with("Dockerfile:3:11: invalid stage name '9lives.ok'"),
            "{err}"
        );
        let df = parse("FROM a AS Build\nFROM b\n", "Dockerfile").unwrap();
        assert_eq!(df.stage_by_name_or_index("build").map(|(i, _)| i), Some(0));
        assert_eq!(df.stage_by_name_or_index("BUILD").map(|(i, _)| i), Some(0));
        assert_eq!(
            df.stage_by_name_or_index("1")
                .map(|(i, s)| (i, s.from.image.as_str())),
            Some((1, "b"))
        );
        assert!(df.stage_by_name_or_index("2").is_none());
        assert!(df.stage_by_name_or_index("other").is_none());
    }

    #[test]
    fn spans_and_original_text() {
        let df = parse("FROM a\nRUN echo \\\n  hi\n", "Dockerfile").unwrap();
        let run = &df.stages[0].instructions[0];
        assert_eq!(run.span, Span { start: 2, end: 3 });
        assert_eq!(run.original, "RUN echo   hi");
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let samples = [
            "",
            "\u{feff}",
            "\\",
            "FROM",
            "FROM a\nRUN <<",
            "FROM a\nCOPY <<-",
            "FROM a\nRUN --mount=\"",
            "FROM a\nRUN \"'",
            "FROM a\nHEALTHCHECK --interval= CMD",
            "FROM a\nONBUILD",
            "FROM a\nONBUILD ONBUILD",
            "# escape=`\n`",
            "FROM a\nENV ${",
            "FROM a\nEXPOSE ☺",
            "FROM a\nCOPY --chown=\"\\",
            "FROM a AS ☺",
            "FROM a\nARG =x",
            "FROM a\nLABEL =",
            "FROM a\nRUN <<EOF\n",
            "FROM a\nRUN <<'EOF\nx\nEOF",
        ];
        for s in samples {
            let _ = parse(s, "Dockerfile").map(|df| df.dump());
        }
        // Every prefix of a file using most of the syntax.
        let full = "# escape=\\\nARG A=1\nFROM --platform=$P img:${A:-x} AS b\nRUN --mount=type=cache,target=/c <<EOF \\\n  && x\nbody\nEOF\nCOPY <<-\"F\" [\"a\", \"b\"] /d\n\tF\nHEALTHCHECK --interval=1s CMD [\"x\"]\n";
        for (i, _) in full.char_indices() {
            let _ = parse(&full[..i], "Dockerfile").map(|df| df.dump());
        }
    }
}
