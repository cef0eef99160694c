//! Parse errors: one typed enum of what went wrong, wrapped with the file,
//! line and column it happened at.
//!
//! Owns the wording of every message the parser can produce. It must not
//! decide *whether* something is an error; the lexer and parser do that.

use std::fmt;
use std::sync::Arc;

use thiserror::Error;

/// A 1-based line and column in the Dockerfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl Pos {
    pub fn new(line: usize, col: usize) -> Self {
        Pos { line, col }
    }
}

/// An error with the place it happened. Displays as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{}:{}: {kind}", pos.line, pos.col)]
pub struct ParseError {
    /// The Dockerfile's name as the caller gave it.
    pub file: String,
    pub pos: Pos,
    pub kind: ErrorKind,
}

/// Renders ` (did you mean X?)` when there is a suggestion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion(pub Option<String>);

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(s) => write!(f, " (did you mean {s}?)"),
            None => Ok(()),
        }
    }
}

/// What went wrong, without the place.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ErrorKind {
    #[error("invalid escape directive '{0}': the escape character must be '\\' or '`'")]
    InvalidEscape(String),
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    #[error("unknown instruction '{name}'{suggestion}")]
    UnknownInstruction {
        name: String,
        suggestion: Suggestion,
    },
    #[error("the Dockerfile ends inside a line continuation")]
    ContinuationAtEof,
    #[error("unterminated heredoc '{0}': no line holds only its delimiter")]
    UnterminatedHeredoc(String),
    #[error("{instruction} cannot have a heredoc as {what}")]
    HeredocNotAllowed {
        instruction: &'static str,
        what: &'static str,
    },
    #[error("{instruction} requires the arguments to be a JSON array of strings: {reason}")]
    JsonRequired {
        instruction: &'static str,
        reason: JsonReason,
    },
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    JsonNotStrings,
    #[error("'{0}' before the first FROM: only ARG may come before FROM")]
    InstructionBeforeFrom(String),
    #[error("no FROM instruction: a Dockerfile needs at least one build stage")]
    NoFrom,
    #[error("unknown flag '--{flag}' for {instruction}{suggestion}")]
    UnknownFlag {
        instruction: &'static str,
        flag: String,
        suggestion: Suggestion,
    },
    #[error("flag '--{0}' is given more than once")]
    DuplicateFlag(String),
    #[error("flag '--{0}' needs a value (--{0}=VALUE)")]
    FlagNeedsValue(String),
    #[error("flag '--{flag}' expects true or false, not '{value}'")]
    FlagNotBool { flag: String, value: String },
    #[error("invalid value '{value}' for '--{flag}': {reason}")]
    BadFlagValue {
        flag: String,
        value: String,
        reason: FlagValueError,
    },
    #[error("{0} requires at least one argument")]
    AtLeastOneArgument(&'static str),
    #[error("{0} requires exactly one argument")]
    ExactlyOneArgument(&'static str),
    #[error("{0} requires at least two arguments: one or more sources and a destination")]
    NoDestination(&'static str),
    #[error("FROM requires either one argument (the image) or three (image AS name)")]
    FromArguments,
    #[error("FROM ... AS needs a stage name after AS")]
    MissingStageName,
    #[error("invalid stage name '{0}': it must start with a letter and contain only letters, digits, '-', '_' and '.'")]
    InvalidStageName(String),
    #[error("duplicate stage name '{name}' (first used on line {first_line})")]
    DuplicateStageName { name: String, first_line: usize },
    #[error("invalid port '{port}' in EXPOSE: {reason}")]
    InvalidPort { port: String, reason: PortError },
    #[error("invalid --mount '{spec}': {reason}")]
    BadMount { spec: String, reason: MountError },
    #[error("unknown mount type '{ty}'{suggestion}: expected bind, cache, tmpfs, secret or ssh")]
    UnknownMountType { ty: String, suggestion: Suggestion },
    #[error("can't find = in '{0}'; it must be of the form name=value")]
    MissingEquals(String),
    #[error("{0} names must not be empty")]
    EmptyName(&'static str),
    #[error("{0} must have two arguments")]
    TwoArguments(&'static str),
    #[error("chaining ONBUILD via 'ONBUILD ONBUILD' isn't allowed")]
    OnbuildOnbuild,
    #[error("{0} isn't allowed as an ONBUILD trigger")]
    OnbuildTrigger(String),
    #[error("HEALTHCHECK NONE takes no arguments or flags")]
    HealthcheckNoneArgs,
    #[error("unknown HEALTHCHECK type '{0}' (expected CMD or NONE)")]
    HealthcheckType(String),
    #[error("VOLUME paths must not be empty")]
    EmptyVolume,
    #[error("{0}")]
    Expand(#[from] super::expand::ExpandError),
}

/// Shorthand used while parsing: the error without the file name, which
/// the top-level parse function adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Located {
    pub pos: Pos,
    pub kind: ErrorKind,
}

impl Located {
    pub fn new(pos: Pos, kind: ErrorKind) -> Self {
        Located { pos, kind }
    }

    pub fn in_file(self, file: &str) -> ParseError {
        ParseError {
            file: file.to_string(),
            pos: self.pos,
            kind: self.kind,
        }
    }
}

/// Why an EXPOSE port cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("invalid protocol '{0}' (tcp, udp or sctp)")]
    Protocol(String),
    #[error("no port number")]
    Empty,
    #[error("'{0}' is not a port number")]
    NotANumber(String),
    #[error("'{0}' is out of range (0-65535)")]
    OutOfRange(String),
    #[error("the range end {end} is below its start {start}")]
    Reversed { start: u16, end: u16 },
}

/// Why arguments are not a JSON array.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonReason {
    #[error("it does not start with '['")]
    NoBracket,
    #[error("it is not an array")]
    NotArray,
    #[error("the JSON array is not terminated")]
    Unterminated,
    #[error("it is empty")]
    Empty,
    #[error(transparent)]
    Syntax(JsonSyntax),
}

/// The JSON reader's error, shared so that parse errors stay `Clone`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct JsonSyntax(pub(crate) Arc<serde_json::Error>);

/// Two syntax errors are the same when they are of one kind at one place
/// (serde_json's errors have no equality of their own).
impl PartialEq for JsonSyntax {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (&self.0, &other.0);
        a.classify() == b.classify() && a.line() == b.line() && a.column() == b.column()
    }
}

impl Eq for JsonSyntax {}

/// Why a flag's value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagValueError {
    #[error("expected default, none or host")]
    Network,
    #[error("expected sandbox or insecure")]
    Security,
    #[error("expected a duration such as 30s or 1m30s")]
    Duration,
    #[error("it cannot be less than 1ms")]
    BelowMillisecond,
    #[error("it must be a whole number of at least 1")]
    Retries,
}

/// Why a `RUN --mount` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountError {
    #[error("unterminated quote")]
    UnterminatedQuote,
    #[error("extraneous text after a quoted field")]
    AfterQuote,
    #[error("'{0}' must be a key=value pair")]
    NotKeyValue(String),
    #[error("{key} expects true or false, not '{value}'")]
    NotBool { key: String, value: String },
    #[error("invalid {key} '{value}'")]
    BadNumber { key: &'static str, value: String },
    #[error("invalid size '{0}'")]
    BadSize(String),
    #[error("unsupported sharing value '{0}' (shared, private or locked)")]
    Sharing(String),
    #[error("unexpected key '{0}'")]
    UnknownKey(String),
    #[error("'{key}' is only valid for {kinds} mounts")]
    OnlyFor {
        key: &'static str,
        kinds: &'static str,
    },
    #[error("'from' is not valid for {0} mounts")]
    NoFrom(&'static str),
    #[error("a secret mount needs an id or a target")]
    SecretId,
    #[error("target is required")]
    NoTarget,
}
