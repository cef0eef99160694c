//! The sandbox: user namespace and id maps, the other namespaces, the ordered
//! setup plan, the parent/child protocol, the optional init, and terminals.
//!
//! It turns a prepared root filesystem plan plus process options into a
//! running process and its exit status. It never touches the image store.

pub mod idmap;
pub mod userns;
