//! `hutch rmi [-f] IMAGE...`: untag names and delete images that have none
//! left, with the blobs and unpacked layers no other image uses.

use super::Ctx;
use crate::store::Store;
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Images to remove, by name or id.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,

    /// Remove an image given by id even when it has several names.
    #[arg(short, long)]
    pub force: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let src = IdSources::default();
    // The mapping used to delete unpacked layers: the default one covers every
    // id any hutch mapping of this user can have written.
    let map = IdMapping::detect(UsernsRequest::Auto, &src).map_err(anyhow::Error::msg)?;
    let store = Store::open(&ctx.dirs)?;
    let in_use = crate::container::images_in_use(&ctx.dirs.state);
    for r in store.remove(&args.images, args.force, &in_use, &map, &src)? {
        for n in &r.untagged {
            ctx.printer.out(&format!("Untagged: {n}"));
        }
        if let Some(id) = &r.deleted {
            ctx.printer.out(&format!("Deleted: {id}"));
        }
    }
    Ok(0)
}
