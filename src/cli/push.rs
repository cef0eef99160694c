//! `hutch push [--format oci|v2s2] [--compression-format gzip|zstd]
//! [--tls-verify=false] IMAGE [DEST]`: send an image from the store to a
//! registry.

use super::choice::choice;
use super::Ctx;
use crate::registry::push::{self, Compression, Format};
use crate::report::Silent;
use crate::store::Store;
use crate::ui::progress::Bars;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image to push, by name or id.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Where to push it (`registry/repo[:tag]`); default: the image's name.
    #[arg(value_name = "DEST")]
    pub dest: Option<String>,

    /// Manifest format; default: keep the stored manifest as it is.
    #[arg(long, value_parser = choice::<Format>(&Format::NAMES, &[]))]
    pub format: Option<Format>,

    /// Recompress layers; v2s2 always gets gzip layers.
    #[arg(long, value_parser = choice::<Compression>(&Compression::NAMES, &[]))]
    pub compression_format: Option<Compression>,

    #[command(flatten)]
    pub tls: super::flags::Tls,

    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let net = args.tls.net(&ctx.dirs)?;
    let store = Store::open(&ctx.dirs)?;
    let bars = Bars::new(ctx.printer);
    let opts = push::Options {
        net: &net,
        progress: if args.quiet { &Silent } else { &bars },
        format: args.format,
        compression: args.compression_format,
    };
    let (dest, digest) = push::push(&store, &args.image, args.dest.as_deref(), &opts)?;
    if !args.quiet {
        ctx.printer.info(&format!("Pushed {dest}@{digest}"));
    }
    Ok(0)
}
