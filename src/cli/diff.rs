//! `hutch diff IMAGE [IMAGE]`: what changed, as `docker diff` prints it.
//! With one image, what its top layer changed; with two, how the second's
//! files differ from the first's.

use super::Ctx;
use crate::snapshot::changes::{between, image_tree};
use crate::store::Store;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image to compare from (or whose top layer to show).
    #[arg(value_name = "IMAGE")]
    pub from: String,

    /// The image to compare with.
    #[arg(value_name = "IMAGE")]
    pub to: Option<String>,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = Store::open(&ctx.dirs)?;
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
