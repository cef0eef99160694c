//! Flags that several subcommands share, defined and documented once and
//! pulled in with `#[command(flatten)]`.

use crate::dirs::Dirs;
use crate::registry::Net;
use std::path::PathBuf;

/// How to trust a registry: `pull`, `push` and `login`.
#[derive(clap::Args, Debug, Clone)]
pub struct Tls {
    /// Verify TLS certificates and require HTTPS (`--tls-verify=false` allows
    /// plain HTTP and any certificate). localhost and 127.0.0.1 registries
    /// are always allowed plain HTTP, as Docker does.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,

    /// Directory of `*.crt` CA files to trust for this registry (besides
    /// `~/.config/containers/certs.d/HOST:PORT/` and `/etc/containers/certs.d/HOST:PORT/`).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,
}

impl Tls {
    /// The registry client settings these flags ask for.
    pub fn net(&self, dirs: &Dirs) -> anyhow::Result<Net> {
        Ok(Net::new(dirs, self.tls_verify, self.cert_dir.as_deref())?)
    }
}

/// The process a container runs: `run` and `exec`.
#[derive(clap::Args, Debug, Clone)]
pub struct Process {
    /// Set an environment variable: KEY=VALUE, or KEY to pass on hutch's value.
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    pub env: Vec<String>,
    /// Working directory inside the container (run: created if missing;
    /// exec: default the container's).
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Run as USER[:GROUP] (names from the image's /etc/passwd and /etc/group,
    /// or numbers).
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    pub user: Option<String>,
    /// Keep stdin open.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the process a terminal.
    #[arg(short = 't', long)]
    pub tty: bool,
}
