//! Registries: pull, push, login and logout over the OCI distribution API,
//! with Docker/Podman-compatible credentials, mirrors and TLS settings.
//!
//! It owns talking to registries and turning what they send into store
//! writes (through `store::Writer`, which verifies and publishes atomically).
//! It does not unpack layers, run containers, or draw progress bars (it
//! reports through `report::Progress`).
//!
//! Why a thin client on blocking `ureq` and not the `oci-client` crate
//! (measured on this project's 2-core build machine, release profile with
//! thin LTO, a one-call manifest fetch program for each):
//!
//! * a clean release build of a program that fetches one manifest: with
//!   `oci-client` 0.18 (+ tokio) 178 crates, 292 s of CPU, 9.5 MB binary;
//!   with `ureq` 3 (rustls) + serde_json 29 crates, 82 s of CPU, 3.2 MB.
//! * hutch forks after a pull (layer unpacking, `hutch run`) and a fork is
//!   only sound single-threaded. Blocking requests on scoped threads that are
//!   joined before `pull` returns make that true by construction. A tokio
//!   runtime keeps worker and blocking-pool threads after `block_on`
//!   returns; every caller would have to shut it down and drain it first.
//! * `oci-client` does offer what hutch needs (`pull_blob_stream_partial`
//!   for Range resumes, `mount_blob`, chunked pushes, accept-invalid-certs
//!   and extra root certificates), so features did not decide it: the build
//!   cost above and the threads did. Per-host `certs.d` CAs, Podman's auth
//!   files and the token dance are a few hundred lines here.
//!
//! The protocol surface hutch needs is small: GET/HEAD manifests and blobs,
//! the upload session (POST, PATCH, PUT), and the token dance.

pub mod authfile;
pub mod challenge;
pub mod client;
pub mod config;
mod error;
pub mod manifest;
pub mod pull;
pub mod push;

pub use error::{Error, Result};

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
    pub fn new(dirs: &Dirs, tls_verify: bool, cert_dir: Option<&Path>) -> Result<Net> {
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
    pub fn client(&self, registry: &str, repository: &str, insecure: bool) -> Result<Client> {
        let creds = self.auth.lookup(registry, repository)?;
        let insecure = insecure || self.force_insecure || self.config.insecure_host(registry);
        Client::new(registry, insecure, creds, &self.tls)
    }
}
