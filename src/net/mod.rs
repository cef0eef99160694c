//! Container networking: `none` and `host`, and the user-mode helpers (pasta,
//! slirp4netns) with their port forwards, resolv.conf and hosts files.

pub mod addrs;
pub mod choose;
pub mod dns;
pub mod helper;
pub mod hosts;
pub mod options;
pub mod pasta;
pub mod plan;
pub mod ports;
pub mod slirp;
