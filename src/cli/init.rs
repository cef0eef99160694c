//! `hutch init [--template NAME]`: write the commented starter hutch.toml
//! into the current directory, or an example environment's hutch.toml and
//! Containerfile (never over an existing file).

use super::Ctx;
use crate::project::{discover, template};
use anyhow::{bail, Context};
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write an example environment instead: alpine-shell, debian-c, rust,
    /// python or node (the directories of envs/).
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir()?;
    let files: &[(&str, &str)] = match a.template.as_deref() {
        None => &[(discover::FILE, template::STARTER)],
        Some(name) => match template::template(name) {
            Some(files) => files,
            None => bail!(
                "no template '{name}': use one of {}",
                template::names().join(", ")
            ),
        },
    };
    if let Some((name, _)) = files.iter().find(|(n, _)| cwd.join(n).exists()) {
        bail!(
            "{} exists already; edit it instead",
            cwd.join(name).display()
        );
    }
    for (name, text) in files {
        let path = cwd.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        ctx.printer.info(&format!("wrote {}", path.display()));
    }
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
