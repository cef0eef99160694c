//! The sandbox: user namespace and id maps, the other namespaces, the ordered
//! setup plan, the parent/child protocol, the optional init, terminals, and
//! the confinement of the container's processes (capabilities, seccomp,
//! masked paths, fake root, limits: `security` and the modules it uses).
//!
//! It turns a prepared root filesystem plan plus process options into a
//! running process and its exit status. It never touches the image store.
//!
//! Use: fill a [`Spec`], check it with [`Plan::build`] (nothing is cloned
//! before that succeeds), then [`run`] it.

pub mod caps;
pub mod cgroup;
pub mod error;
pub mod exec;
pub mod host;
pub mod init;
pub mod join;
pub mod launch;
pub mod limits;
pub mod masks;
pub mod plan;
pub mod seccomp;
pub mod security;
pub mod setup;
pub mod spec;
pub mod sync;
pub mod trace;
pub mod tty;
pub mod user;
pub mod volume;

#[cfg(test)]
mod tests;

pub use error::Error;
pub use launch::{run, Exit, Observer};
pub use plan::Plan;
pub use spec::{MountSpec, ProcessSpec, Removal, Spec};
