//! What can go wrong in the registry module: each message names the image, blob,
//! file or instruction it is about (the `Context` a step adds says which).

use crate::chain::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Context(#[from] Context),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(
        "cannot talk to registry {registry} over HTTPS ({why}): if it uses a private CA, put the CA in \
         ~/.config/containers/certs.d/{registry}/ca.crt or /etc/containers/certs.d/{registry}/ca.crt; \
         if it is a plain HTTP registry, pass --tls-verify=false or mark it `insecure = true` in registries.toml"
    )]
    Tls {
        registry: String,
        #[source]
        why: Box<ureq::Error>,
    },
    #[error("cannot connect to registry {0}: connection refused (is it running, and is the port right?)")]
    Refused(String),
    #[error("cannot find registry {0}: its host name does not resolve")]
    NoHost(String),
    #[error("cannot reach registry {registry} over {scheme}: {why}")]
    Transport {
        registry: String,
        scheme: String,
        #[source]
        why: Box<ureq::Error>,
    },
    #[error("registry {registry} refused the credentials of user '{user}': check them with `hutch login {registry}`")]
    BadCredentials { registry: String, user: String },
    #[error("registry {0} requires authentication: run `hutch login {0}` first")]
    NeedsLogin(String),
    /// A parallel download gave up because another one failed.
    #[error("stopped because another download failed")]
    Stopped,
}

crate::store::over_store!(Error);

pub type Result<T, E = Error> = std::result::Result<T, E>;
