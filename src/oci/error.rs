//! What is wrong with a reference, a digest, or a config or manifest read
//! from elsewhere: each message names the text or the blob it is about.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid image reference: it is empty")]
    EmptyReference,
    #[error("invalid image reference '{input}': {why}")]
    Reference {
        input: String,
        #[source]
        why: ReferenceError,
    },
    #[error("cannot use '{0}' as an image name: a name takes a tag, not a digest")]
    DigestInName(String),
    #[error("invalid digest '{input}': {error}")]
    Digest {
        input: String,
        error: oci_spec::OciSpecError,
    },
    #[error("unsupported digest algorithm in '{0}': only sha256 is supported")]
    Algorithm(String),
    #[error("--change '{change}': {why}")]
    Change {
        change: String,
        #[source]
        why: ChangeError,
    },
    #[error("{what} is not valid JSON: {error}")]
    Json {
        what: String,
        error: serde_json::Error,
    },
    /// An image archive or layout that cannot be read; `why` names it (its
    /// label: the file, directory or stdin) and the part that is wrong.
    #[error("{why}")]
    Source { label: String, why: String },
    #[error("{what} is not a JSON object")]
    NotObject { what: String },
    #[error("{what} is not a valid {kind}: {error}")]
    Invalid {
        what: String,
        kind: &'static str,
        error: serde_json::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// What is wrong with a `--change` instruction; each names the word at fault.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("the instruction needs an argument")]
    NoArgument,
    #[error("'{0}' is not a port: use PORT[/tcp|udp|sctp]")]
    Port(String),
    #[error(
        "'{0}' cannot be changed: use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, \
         VOLUME or WORKDIR"
    )]
    Instruction(String),
    #[error("'{text}' is not a JSON list of strings: {error}")]
    NotJsonList {
        text: String,
        #[source]
        error: serde_json::Error,
    },
    #[error("'{0}' is not KEY=VALUE")]
    NotKeyValue(String),
    #[error("unterminated quote in '{0}'")]
    Quote(String),
}

/// What is wrong with an image reference; each names the part at fault.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error(transparent)]
    Digest(Box<Error>),
    #[error(
        "tag '{0}' is not valid: use up to 128 letters, digits, '_', '.' and '-', not \
         starting with '.' or '-'"
    )]
    Tag(String),
    #[error("the repository name is empty")]
    EmptyName,
    #[error("the repository name is longer than 255 characters")]
    LongName,
    #[error("registry '{0}' is not a valid host[:port]")]
    Domain(String),
    #[error("the repository name has an empty path component")]
    EmptyComponent,
    #[error("repository name '{0}' must be lowercase")]
    Uppercase(String),
    #[error(
        "repository name component '{0}' may only hold lowercase letters, digits and \
         single '.', '_', '__' or '-' separators"
    )]
    Component(String),
}
