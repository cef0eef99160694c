//! `hutch logout [--all] [REGISTRY]`: remove saved credentials from the file
//! `hutch login` writes; says where else credentials for it remain.

use super::Ctx;
use crate::registry::authfile::AuthFiles;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Registry host[:port] to forget.
    #[arg(value_name = "REGISTRY", required_unless_present = "all")]
    pub registry: Option<String>,

    /// Forget every registry.
    #[arg(short, long, conflicts_with = "registry")]
    pub all: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let files = AuthFiles::from_env()?;
    let key = args
        .registry
        .as_deref()
        .map(super::login::registry_key)
        .transpose()?;
    let (removed, elsewhere) = files.remove(key.as_deref())?;
    for p in &elsewhere {
        ctx.printer.warn(&format!(
            "credentials for {} remain in {} (hutch does not edit that file)",
            key.as_deref().unwrap_or(""),
            p.display()
        ));
    }
    match (removed, key) {
        (true, Some(k)) => ctx
            .printer
            .info(&format!("Removed login credentials for {k}")),
        (true, None) => ctx.printer.info("Removed all login credentials"),
        (false, Some(k)) if elsewhere.is_empty() => bail!("not logged in to {k}"),
        (false, _) => {}
    }
    Ok(0)
}
