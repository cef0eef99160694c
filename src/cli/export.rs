//! `hutch export [-o FILE] CONTAINER`: the container's whole root filesystem
//! (image layers with its changes on top, deletions applied) as one tar, the
//! owners as the container sees them. Read inside the container's user
//! namespace, where every file is readable.

use super::Ctx;
use crate::layer::diff::{flatten, DiffOptions};
use crate::snapshot::{container, output};
use crate::store::Store;
use crate::userns::idmap::IdSources;
use crate::userns::run_in_userns;
use anyhow::{bail, Context};
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container, by name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let Some(c) = container::find(&ctx.dirs.state, &args.container)? else {
        bail!("no such container: {}", args.container);
    };
    let to_stdout = args.output.as_ref().map_or(true, |p| p.as_os_str() == "-");
    if to_stdout && std::io::stdout().is_terminal() {
        bail!("refusing to write a tar archive to a terminal: use -o FILE or redirect stdout");
    }
    let store = Store::open(&ctx.dirs)?;
    let image = store
        .image(&c.image_id)
        .with_context(|| format!("the image of container {} is gone", c.name))?;
    let src = IdSources::default();
    let map = container::mapping_for(&c, &src)?;
    let lowers = store.layer_dirs(&image, &map, &src, &ctx.printer)?;
    let changes = container::changes(
        &c,
        &store,
        &ctx.dirs.state,
        &image,
        &map,
        &src,
        &ctx.printer,
    )?;
    let mut stack = vec![changes.path().to_path_buf()];
    stack.extend(lowers.into_iter().rev());
    let tmp = match (&args.output, to_stdout) {
        (Some(dest), false) => Some(output::file(dest)?),
        _ => None,
    };
    let out: std::fs::File = match &tmp {
        Some(t) => t.as_file().try_clone()?,
        None => std::fs::File::from(std::io::stdout().as_fd().try_clone_to_owned()?),
    };
    // Held open here: with keep-id the namespace's root may not traverse
    // the store's parents (see `userns::reach`).
    let held = stack
        .iter()
        .map(|p| crate::userns::Reach::new(p))
        .collect::<std::io::Result<Vec<_>>>()?;
    run_in_userns(&map, &src, || {
        let stack: Vec<std::path::PathBuf> = held.iter().map(crate::userns::Reach::path).collect();
        let layers: Vec<&std::path::Path> = stack.iter().map(|p| p.as_path()).collect();
        flatten(&layers, &out, &DiffOptions::default())
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .map_err(anyhow::Error::msg)
    .with_context(|| format!("cannot export container {}", c.name))?;
    if let (Some(t), Some(dest)) = (tmp, &args.output) {
        output::finish_file(t, dest)?;
    }
    Ok(0)
}
