//! `hutch init`: write the commented starter hutch.toml into the current
//! directory (never over an existing one).

use super::Ctx;
use crate::project::{discover, template};
use anyhow::{bail, Context};
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn exec(ctx: &Ctx, _a: Args) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir()?;
    let path = cwd.join(discover::FILE);
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists already; edit it instead", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    f.write_all(template::STARTER.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    ctx.printer.info(&format!("wrote {}", path.display()));
    if !["Containerfile", "Dockerfile"]
        .iter()
        .any(|n| cwd.join(n).is_file())
    {
        ctx.printer.info(
            "add a Containerfile (or set image = \"REF\" in hutch.toml), then run `hutch shell`",
        );
    }
    Ok(0)
}
