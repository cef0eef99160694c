//! Step executors. Metadata instructions edit the config (`meta`); COPY
//! and ADD build their layer directly from the context or another image
//! (`files`, `copy`, `owner`, `tree`), with no sandbox involved; RUN runs
//! in the sandbox and diffs its upper dir (`run`).
//!
//! Executors produce a config edit, a layer tree or a layer tar; they never
//! write to the store (the builder does).

pub mod copy;
pub mod fetch;
pub mod files;
pub mod meta;
pub mod owner;
pub mod run;
pub mod tree;
