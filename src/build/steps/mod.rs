//! Step executors. Metadata instructions edit the config (`meta`); COPY
//! and ADD build their layer directly from the context or another image
//! (`files`, `copy`, `owner`, `tree`), with no sandbox involved.
//!
//! Executors produce a config edit or a layer tree; they never write to
//! the store (the builder does).

pub mod copy;
pub mod files;
pub mod meta;
pub mod owner;
pub mod tree;
