//! `hutch diff CONTAINER|IMAGE [IMAGE]`: what changed, as `docker diff`
//! prints it. For a container, its changes to its image; with one image,
//! what its top layer changed; with two, how the second's files differ from
//! the first's. A name is looked up as a container first, as podman does.

use super::Ctx;
use crate::snapshot::changes::{between, image_tree, of_upper, read_upper};
use crate::snapshot::container;
use crate::store::Store;
use crate::userns::idmap::IdSources;
use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container or image to compare from (or whose top layer to show).
    #[arg(value_name = "IMAGE")]
    pub from: String,

    /// The image to compare with.
    #[arg(value_name = "IMAGE")]
    pub to: Option<String>,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = Store::open(&ctx.dirs)?;
    if args.to.is_none() {
        if let Some(c) = container::find(&ctx.dirs.state, &args.from)? {
            let image = store
                .image(&c.image_id)
                .with_context(|| format!("the image of container {} is gone", c.name))?;
            let lower = image_tree(&store, &image, image.manifest.layers().len())?;
            let src = IdSources::default();
            let map = container::mapping_for(&c, &src)?;
            let w = store.writer()?;
            let changes = container::changes(
                &c,
                &store,
                &ctx.dirs.state,
                &image,
                &map,
                &src,
                &ctx.printer,
            )?;
            let entries = read_upper(changes.path(), w.scratch(), &map, &src)?;
            for ch in of_upper(&entries, &lower) {
                ctx.printer.out(&ch.to_string());
            }
            return Ok(0);
        }
    }
    let a = store.image(&args.from)?;
    let (old, new) = match &args.to {
        Some(b) => {
            let b = store.image(b)?;
            (
                image_tree(&store, &a, a.manifest.layers().len())?,
                image_tree(&store, &b, b.manifest.layers().len())?,
            )
        }
        None => {
            let n = a.manifest.layers().len();
            (
                image_tree(&store, &a, n.saturating_sub(1))?,
                image_tree(&store, &a, n)?,
            )
        }
    };
    for c in between(&old, &new) {
        ctx.printer.out(&c.to_string());
    }
    Ok(0)
}
