//! `hutch rmi [-f] IMAGE...`: untag names and delete images that have none
//! left, with the blobs and unpacked layers no other image uses.

use super::Ctx;
use crate::store::{NoSuchImage, Store};
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
    // Docker removes every image it finds and reports the missing ones
    // (exit 1); every other refusal still stops the whole call.
    let (missing, found): (Vec<_>, Vec<_>) = args
        .images
        .iter()
        .cloned()
        .partition(|name| store.image(name).is_err_and(|e| e.is_no_such_image()));
    for name in &missing {
        let e = anyhow::Error::new(NoSuchImage(name.clone()));
        eprintln!("{}", super::errors::render(&e, crate::ui::colour::stderr()));
    }
    if found.is_empty() {
        return Ok(1);
    }
    for r in store.remove(&found, args.force, &in_use, &map, &src)? {
        for n in &r.untagged {
            ctx.printer.out(&format!("Untagged: {n}"));
        }
        if let Some(id) = &r.deleted {
            ctx.printer.out(&format!("Deleted: {id}"));
        }
    }
    Ok(if missing.is_empty() { 0 } else { 1 })
}
