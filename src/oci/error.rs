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
    /// An image archive or layout that cannot be read.
    #[error(transparent)]
    Source(#[from] SourceError),
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

/// What is wrong with an image archive or layout; each names the input by
/// its label (the file, directory or stdin) and the part that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {label}: {source}")]
    Read {
        label: String,
        source: std::io::Error,
    },
    #[error("{label} is empty: expected an image archive")]
    Empty { label: String },
    #[error("cannot read {label} as zstd: {source}")]
    Zstd {
        label: String,
        source: std::io::Error,
    },
    #[error("{label} is not a complete tar archive ({source}): was it truncated?")]
    Truncated {
        label: String,
        source: std::io::Error,
    },
    #[error("{label} holds an unsafe path '{path}'")]
    UnsafePath { label: String, path: String },
    /// Writing an archive's file out (the error names the path).
    #[error(transparent)]
    Unpack(std::io::Error),
    #[error("{label} holds a link '{path}' -> '{target}' that leaves the archive")]
    LinkLeaves {
        label: String,
        path: String,
        target: String,
    },
    #[error("{label} holds no files: expected an image archive")]
    NoFiles { label: String },
    #[error("{label} is not an image: it has neither index.json (OCI layout) nor manifest.json (docker save)")]
    NotAnImage { label: String },
    #[error("{label} refers to an unsafe path '{path}'")]
    UnsafeReference { label: String, path: String },
    #[error("{label} has a link loop at '{path}'")]
    LinkLoop { label: String, path: String },
    #[error("cannot read {what} ({path}) in {label}: {source}")]
    ReadFile {
        what: &'static str,
        path: String,
        label: String,
        source: std::io::Error,
    },
    #[error("blob {digest} is missing from {label}")]
    MissingBlob {
        digest: oci_spec::image::Digest,
        label: String,
    },
    #[error("index.json in {label} is not a valid OCI index: {source}")]
    Index {
        label: String,
        source: serde_json::Error,
    },
    /// A manifest that is not one (the error names it).
    #[error(transparent)]
    Manifest(Box<Error>),
    #[error("{file} in {label} lists no images")]
    NoImages { file: &'static str, label: String },
    #[error("cannot read blob {digest} of {image}: {source}")]
    ReadBlob {
        digest: oci_spec::image::Digest,
        image: String,
        source: std::io::Error,
    },
    #[error("blob {digest} of {image} does not match its digest (its content hashes to {got}): the input is corrupt")]
    Corrupt {
        digest: oci_spec::image::Digest,
        image: String,
        got: oci_spec::image::Digest,
    },
    #[error("index {digest} of {image} is not valid: {source}")]
    NestedIndex {
        digest: oci_spec::image::Digest,
        image: String,
        source: serde_json::Error,
    },
    #[error("{image} has no {os}/{arch} image")]
    NoPlatform {
        image: String,
        os: &'static str,
        arch: &'static str,
    },
    #[error("{image} nests indexes too deeply")]
    TooDeep { image: String },
    #[error("manifest.json in {label} is not a docker-save manifest: {source}")]
    DockerManifest {
        label: String,
        source: serde_json::Error,
    },
    #[error("{what} ({path}) is missing from {label}")]
    Missing {
        what: String,
        path: String,
        label: String,
    },
    #[error("cannot read {what}: {source}")]
    ReadLayer {
        what: String,
        source: std::io::Error,
    },
}

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
