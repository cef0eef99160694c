//! Registries: pull, push, login and logout over the OCI distribution API,
//! with Docker/Podman-compatible credentials, mirrors and TLS settings.
//!
//! It owns talking to registries and turning what they send into store
//! writes (through `store::Writer`, which verifies and publishes atomically).
//! It does not unpack layers, run containers, or draw progress bars (it
//! reports through `progress::Progress`).
//!
//! Why a thin client on blocking `ureq` and not the `oci-client` crate
//! (measured on this project's 2-core build machine, release profile with
//! thin LTO, a one-call manifest fetch program for each):
//!
//! * `oci-client` 0.18 pulls 178 crates (tokio, reqwest, hyper, ...) against
//!   29 for `ureq` 3 with rustls; see the report in bench/README.md for the
//!   build times and binary sizes.
//! * hutch forks after a pull (layer unpacking, `hutch run`) and a fork is
//!   only sound single-threaded. Blocking requests on scoped threads that are
//!   joined before `pull` returns make that true by construction; a tokio
//!   runtime's blocking pool keeps threads alive after `block_on` returns.
//! * resuming needs `Range` requests into a partial file and per-chunk
//!   progress; `oci-client` pulls a blob into an `AsyncWrite` from offset 0.
//! * cross-repository mounts (`?mount=&from=`) and per-host CA directories
//!   (`certs.d/HOST:PORT`) are a few lines here.
//!
//! The protocol surface hutch needs is small: GET/HEAD manifests and blobs,
//! the upload session (POST, PATCH, PUT), and the token dance.

pub mod authfile;
pub mod challenge;
pub mod client;
pub mod config;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;

use crate::dirs::Dirs;
use authfile::AuthFiles;
use client::{Client, TlsSources};
use config::Config;
use std::path::{Path, PathBuf};

/// What every registry operation needs: settings, credentials, CAs.
#[derive(Debug, Clone)]
pub struct Net {
    pub config: Config,
    pub auth: AuthFiles,
    pub tls: TlsSources,
    /// `--tls-verify=false`: plain HTTP and unverified TLS for every registry.
    pub force_insecure: bool,
}

impl Net {
    /// From hutch's config dir, the environment and the command line.
    pub fn new(dirs: &Dirs, tls_verify: bool, cert_dir: Option<&Path>) -> anyhow::Result<Net> {
        Ok(Net {
            config: Config::for_config_dir(&dirs.config)?,
            auth: AuthFiles::from_env()?,
            tls: TlsSources {
                system_bundle: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
                cert_dirs: config::cert_dirs(dirs.config.parent()),
                cert_dir: cert_dir.map(Path::to_path_buf),
            },
            force_insecure: !tls_verify,
        })
    }

    /// A client for `registry`, with the stored credentials for `repository`.
    pub fn client(
        &self,
        registry: &str,
        repository: &str,
        insecure: bool,
    ) -> anyhow::Result<Client> {
        let creds = self.auth.lookup(registry, repository)?;
        let insecure = insecure || self.force_insecure || self.config.insecure_host(registry);
        Client::new(registry, insecure, creds, &self.tls)
    }
}
