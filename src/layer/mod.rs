//! Layers as tar streams: unpacking into a directory with OCI whiteouts turned
//! into overlay whiteouts, and never writing outside the target.

pub mod codec;
mod names;
#[cfg(test)]
mod testutil;
mod tree;
pub mod unpack;
pub mod whiteout;
