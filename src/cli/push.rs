//! `hutch push [--format oci|v2s2] [--compression-format gzip|zstd]
//! [--force-compression[=BOOL]] [-D] [--tls-verify=false] IMAGE [DEST]`: send
//! an image from the store to a registry. Uncompressed layers go up gzipped
//! unless `-D` says to keep them, as Docker and Podman push.

use super::choice::choice;
use super::Ctx;
use crate::registry::push::{self, Compression, Format, Layers};
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
    #[arg(long, value_parser = choice::<Format>(Format::NAMES, &[]))]
    pub format: Option<Format>,

    /// Compression for layers stored uncompressed (default: gzip); with
    /// `--force-compression` (the default when this is given), for every
    /// layer. v2s2 always gets gzip layers.
    #[arg(long, value_parser = choice::<Compression>(Compression::NAMES, &[]))]
    pub compression_format: Option<Compression>,

    /// Recompress layers already compressed otherwise too (default: true
    /// when --compression-format is given, else false).
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub force_compression: Option<bool>,

    /// Push layers as they are stored, uncompressed ones too (oci only).
    #[arg(short = 'D', long, conflicts_with_all = ["compression_format", "force_compression"])]
    pub disable_compression: bool,

    #[command(flatten)]
    pub tls: super::flags::Tls,

    /// No progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Podman's rules: `--compression-format` forces unless told not to.
fn layers(a: &Args) -> Layers {
    if a.disable_compression {
        return Layers::AsStored;
    }
    let c = a.compression_format.unwrap_or(Compression::Gzip);
    let force = a
        .force_compression
        .unwrap_or(a.compression_format.is_some());
    if force {
        Layers::All(c)
    } else {
        Layers::CompressPlain(c)
    }
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let net = args.tls.net(&ctx.dirs)?;
    let store = Store::open(&ctx.dirs)?;
    let bars = Bars::new(ctx.printer);
    let opts = push::Options {
        net: &net,
        progress: if args.quiet { &Silent } else { &bars },
        format: args.format,
        layers: layers(&args),
        annotations: Default::default(),
    };
    let (dest, digest) = push::push(&store, &args.image, args.dest.as_deref(), &opts)?;
    if !args.quiet {
        ctx.printer.info(&format!("Pushed {dest}@{digest}"));
    }
    Ok(0)
}
