//! `hutch import TARBALL|- [NAME[:TAG]]`: make a one-layer image from a root
//! filesystem tarball (plain, gzip or zstd), with `--change` config edits and
//! a `--message` for its history. Prints the new image id.
//!
//! The tarball is stored as given; its diff id (sha256 of the uncompressed
//! tar) is computed while checking that it is a readable tar.

use super::Ctx;
use crate::oci::change;
use crate::oci::digest::Hasher;
use crate::oci::reference::Reference;
use crate::oci::source::host_platform;
use crate::store::Store;
use anyhow::{bail, Context};
use oci_spec::image::{
    Config, ConfigBuilder, Descriptor, HistoryBuilder, ImageConfigurationBuilder, MediaType,
    RootFsBuilder,
};
use std::io::{BufRead, BufReader, IsTerminal, Read};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The root filesystem tarball, or `-` for stdin.
    #[arg(value_name = "TARBALL")]
    pub source: String,

    /// Name for the image (`latest` when no tag is given); untagged without it.
    #[arg(value_name = "NAME[:TAG]")]
    pub name: Option<String>,

    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV,
    /// EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR). Repeatable.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,

    /// A comment recorded in the image history.
    #[arg(short, long)]
    pub message: Option<String>,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let names = match &args.name {
        Some(n) => vec![Reference::parse_tag(n)
            .map_err(anyhow::Error::msg)?
            .tagged_name()],
        None => vec![],
    };
    let mut cfg: Config = ConfigBuilder::default().build()?;
    for c in &args.changes {
        change::apply(&mut cfg, c).map_err(anyhow::Error::msg)?;
    }
    let store = Store::open(&ctx.dirs)?;
    let mut w = store.writer()?;
    let what = if args.source == "-" {
        "the tarball on stdin".to_string()
    } else {
        format!("tarball {}", args.source)
    };
    let (digest, size) = if args.source == "-" {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            bail!("`hutch import -` reads a tarball from stdin, but stdin is a terminal");
        }
        w.write_blob(stdin.lock(), None, &what)?
    } else {
        let f = fs_err::File::open(&args.source).context("cannot read the tarball to import")?;
        w.write_blob(BufReader::new(f), None, &what)?
    };
    let mut blob = BufReader::new(w.open_blob(&digest)?);
    let head = blob.fill_buf()?.to_vec();
    let (media_type, tar): (MediaType, Box<dyn Read>) = if head.starts_with(&[0x1f, 0x8b]) {
        (
            MediaType::ImageLayerGzip,
            Box::new(flate2::read::MultiGzDecoder::new(blob)),
        )
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        (
            MediaType::ImageLayerZstd,
            Box::new(zstd::Decoder::with_buffer(blob)?),
        )
    } else {
        (MediaType::ImageLayer, Box::new(blob))
    };
    let diff_id = diff_id(tar, &what)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (arch, os) = host_platform();
    let mut history = HistoryBuilder::default()
        .created(now.clone())
        .created_by("hutch import");
    if let Some(m) = &args.message {
        history = history.comment(m.clone());
    }
    let config = ImageConfigurationBuilder::default()
        .created(now)
        .architecture(arch)
        .os(os)
        .config(cfg)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![diff_id.to_string()])
                .build()?,
        )
        .history(vec![history.build()?])
        .build()?;
    let image = w.add_image(
        &config,
        vec![Descriptor::new(media_type, size, digest)],
        &names,
    )?;
    ctx.printer.out(&image.id);
    Ok(0)
}

/// sha256 of the uncompressed tar, after checking that every entry reads.
fn diff_id(tar: impl Read, what: &str) -> anyhow::Result<oci_spec::image::Digest> {
    let mut h = Hasher::new(tar);
    let mut entries = 0usize;
    {
        let mut ar = tar::Archive::new(&mut h);
        let bad = |e: std::io::Error| anyhow::anyhow!("{what} is not a valid tar archive: {e}");
        for e in ar.entries().map_err(bad)? {
            let mut e = e.map_err(bad)?;
            std::io::copy(&mut e, &mut std::io::sink()).map_err(bad)?;
            entries += 1;
        }
    }
    if entries == 0 {
        bail!("{what} holds no files: expected a root filesystem tarball");
    }
    let (d, _) = h.finish().with_context(|| format!("cannot read {what}"))?;
    Ok(d)
}
