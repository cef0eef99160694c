//! `hutch pull [--platform OS/ARCH[/VARIANT]] [--tls-verify=false] [-q] REF`:
//! fetch an image from a registry into the store and print its id.

use super::Ctx;
use crate::registry::manifest::Platform;
use crate::registry::{pull, Net};
use crate::report::Silent;
use crate::store::Store;
use crate::ui::progress::Bars;
use std::path::PathBuf;

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

    /// Verify TLS certificates and require HTTPS (`--tls-verify=false` allows
    /// plain HTTP and any certificate). localhost and 127.0.0.1 registries
    /// are always allowed plain HTTP, as Docker does.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub tls_verify: bool,

    /// Directory of `*.crt` CA files to trust for this registry (besides
    /// `~/.config/containers/certs.d/HOST:PORT/` and `/etc/containers/certs.d/HOST:PORT/`).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Print only the image id: no progress.
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let net = Net::new(&ctx.dirs, args.tls_verify, args.cert_dir.as_deref())?;
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
