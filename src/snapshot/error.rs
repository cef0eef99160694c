//! What can go wrong in the snapshot module: each message names the image, blob,
//! file or instruction it is about (the `Context` a step adds says which).

use crate::chain::Context;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Docker-format images cannot have zstd layers: use --format oci, or gzip")]
    ZstdInDocker,
    #[error(transparent)]
    Context(#[from] Context),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Sys(#[from] crate::sys::SysError),
    #[error(transparent)]
    OciSpec(#[from] oci_spec::OciSpecError),
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
    #[error(transparent)]
    Freeze(#[from] crate::container::freeze::FreezeError),
}

crate::store::over_store!(Error);

pub type Result<T, E = Error> = std::result::Result<T, E>;
