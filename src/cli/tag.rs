//! `hutch tag SOURCE TARGET...`: give an image more names.

use super::Ctx;
use crate::oci::reference::Reference;
use crate::store::Store;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image to name, by name or id.
    #[arg(value_name = "SOURCE")]
    pub source: String,

    /// New names (`name[:tag]`; `latest` when no tag is given).
    #[arg(required = true, value_name = "TARGET")]
    pub targets: Vec<String>,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let names = args
        .targets
        .iter()
        .map(|t| Reference::parse_tag(t).map(|r| r.tagged_name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let store = Store::open(&ctx.dirs)?;
    let image = store.image(&args.source)?;
    store.tag(&image, &names)?;
    Ok(0)
}
