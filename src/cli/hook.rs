//! `hutch hook bash|zsh|fish`: print the snippet that keeps an allowed
//! project's launchers on PATH while the shell is inside it
//! (`eval "$(hutch hook bash)"` in ~/.bashrc).

use super::Ctx;
use crate::project::exports;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// bash, zsh or fish.
    #[arg(value_name = "SHELL")]
    pub shell: String,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let hutch = std::env::current_exe()?;
    let Some(text) = exports::hook(&a.shell, &hutch) else {
        bail!(
            "no hook for shell '{}': use one of {}",
            a.shell,
            exports::SHELLS.join(", ")
        );
    };
    ctx.printer.out(text.trim_end());
    Ok(0)
}
