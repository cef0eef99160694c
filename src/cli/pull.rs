//! `hutch pull [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] [-q] REF`:
//! fetch an image from a registry into the store and print its id.

use super::Ctx;
use crate::registry::manifest::Platform;
use crate::registry::pull;
use crate::report::Silent;
use crate::store::Store;
use crate::ui::progress::Bars;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Image reference: `alpine`, `quay.io/x/y:tag`, `name@sha256:...`.
    /// Short names are searched in `unqualified-search-registries` of
    /// registries.toml (docker.io when unset).
    #[arg(value_name = "REF")]
    pub reference: String,

    /// Platform to choose from a multi-platform image (default: this machine's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,

    #[command(flatten)]
    pub tls: super::flags::Tls,

    /// Print only the image id: no progress.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let net = args.tls.net(&ctx.dirs)?;
    let store = Store::open(&ctx.dirs)?;
    let bars = Bars::new(ctx.printer);
    let opts = pull::Options {
        platform,
        net: &net,
        progress: if args.quiet { &Silent } else { &bars },
    };
    let image = pull::pull(&store, &args.reference, &opts)?;
    ctx.printer.out(&image.id);
    Ok(0)
}
