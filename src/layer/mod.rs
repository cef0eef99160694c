//! Layers as tar streams: unpacking into a directory with OCI whiteouts turned
//! into overlay whiteouts, and never writing outside the target.

pub mod unpack;
