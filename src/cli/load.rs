//! `hutch load`: add the images of an OCI layout, OCI archive or docker-save
//! archive (from `-i PATH` or stdin) to the store and print their names.
//!
//! Every blob is staged and checked before any image becomes visible, so a bad
//! or truncated input changes nothing. Formats are read by `oci::source`.

use super::Ctx;
use crate::oci::config::parse_config;
use crate::oci::reference::Reference;
use crate::oci::source::{Source, SourceImage};
use crate::store::{Store, Writer};
use crate::ui::progress::Meter;
use crate::ui::{LogLevel, Printer};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use anyhow::{bail, Context};
use oci_spec::image::{Descriptor, MediaType};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Read from PATH (a layout directory or an archive) instead of stdin.
    #[arg(short, long, value_name = "PATH")]
    pub input: Option<PathBuf>,

    /// Do not print the names of loaded images.
    #[arg(short, long)]
    pub quiet: bool,

    /// Also unpack the layers for this user's default id mapping, so that the
    /// first `hutch run` of the images starts at once.
    #[arg(long)]
    pub unpack: bool,

    /// Name for images the input does not name fully (upstream layouts often
    /// carry only a tag, such as `1.38.0-musl`, which is then kept).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let fallback = args
        .name
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if fallback.as_ref().is_some_and(|r| r.digest.is_some()) {
        bail!("the NAME for `hutch load` takes a tag, not a digest");
    }
    let store = Store::open(&ctx.dirs)?;
    let mut w = store.writer()?;
    let source = match &args.input {
        Some(p) if p.is_dir() => Source::dir(p),
        Some(p) => {
            let f = fs_err::File::open(p).context("cannot read the image to load")?;
            let dest = w.scratch().join("in");
            fs_err::create_dir(&dest)?;
            Source::extract(f, &dest, &p.display().to_string())?
        }
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("nothing to load: pass -i PATH, or pipe an archive into `hutch load`");
            }
            let dest = w.scratch().join("in");
            fs_err::create_dir(&dest)?;
            Source::extract(stdin.lock(), &dest, "stdin")?
        }
    };
    let images = source.images()?;
    let blobs = images.iter().map(|im| 1 + im.layers.len() as u64).sum();
    // `-q` quiets the progress too, as Docker's does.
    let printer = match args.quiet {
        true => Printer::new(LogLevel::Warn),
        false => ctx.printer,
    };
    let meter = Meter::new(printer, "Loading", blobs, "blobs");
    // Stage and check everything first, then make the images visible.
    let mut staged = Vec::new();
    for im in &images {
        let names = names_for(im, fallback.as_ref())?;
        staged.push((stage(&mut w, im, &meter)?, names));
    }
    meter.finish("Writing the images");
    let mut loaded = Vec::new();
    for (manifest, names) in staged {
        let image = match manifest {
            Staged::Manifest(bytes, mt) => w.add_manifest(&bytes, mt, &names)?,
            Staged::Parts(config, layers) => w.add_image_with_config(config, layers, &names)?,
        };
        if names.is_empty() {
            ctx.printer.warn(&format!(
                "image {} has no name in the input: name it with `hutch tag {} NAME`",
                image.short_id(),
                image.short_id()
            ));
        }
        if !args.quiet {
            for n in &names {
                ctx.printer.out(&format!("Loaded image: {n}"));
            }
            if names.is_empty() {
                ctx.printer.out(&format!("Loaded image: {}", image.id));
            }
        }
        loaded.push(image);
    }
    // Free the scratch space before the slower unpacking.
    drop(w);
    if args.unpack {
        let src = IdSources::default();
        let map = IdMapping::detect(UsernsRequest::Auto, &src).map_err(anyhow::Error::msg)?;
        for image in &loaded {
            store.layer_dirs(image, &map, &src, &ctx.printer)?;
        }
    }
    Ok(0)
}

enum Staged {
    /// The input's own manifest, kept byte for byte.
    Manifest(Vec<u8>, MediaType),
    /// Config and layers of a docker archive, for which the store writes a manifest.
    Parts((oci_spec::image::Digest, u64), Vec<Descriptor>),
}

fn stage(w: &mut Writer<'_>, im: &SourceImage, meter: &Meter) -> anyhow::Result<Staged> {
    let cbytes = fs_err::read(&im.config.path)?;
    let config = parse_config(&cbytes, &im.config.what).map_err(anyhow::Error::msg)?;
    meter.doing("config");
    let cfg = w.write_blob_file(
        &im.config.path,
        im.config.expected.as_ref(),
        &im.config.what,
    )?;
    meter.done(&copied(&cfg.0, cfg.1));
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != im.layers.len() {
        bail!(
            "{} is inconsistent: {} layers but its config lists {} diff ids",
            im.label,
            im.layers.len(),
            diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (n, (l, diff)) in im.layers.iter().zip(diff_ids).enumerate() {
        // An uncompressed layer's digest is its diff id, so legacy archives
        // (`<id>/layer.tar`) are still checked.
        let expected = match (&l.blob.expected, &l.media_type) {
            (Some(d), _) => Some(d.clone()),
            (None, MediaType::ImageLayer) => {
                Some(crate::oci::digest::parse(diff).map_err(anyhow::Error::msg)?)
            }
            (None, _) => None,
        };
        let f = fs_err::File::open(&l.blob.path)?;
        meter.doing(&format!("layer {}", n + 1));
        let (d, size) =
            w.write_blob(std::io::BufReader::new(f), expected.as_ref(), &l.blob.what)?;
        meter.done(&copied(&d, size));
        layers.push(Descriptor::new(l.media_type.clone(), size, d));
    }
    Ok(match &im.manifest {
        Some((bytes, mt)) => Staged::Manifest(bytes.clone(), mt.clone()),
        None => Staged::Parts(cfg, layers),
    })
}

/// The line for a blob stored (podman's wording).
fn copied(d: &oci_spec::image::Digest, size: u64) -> String {
    format!(
        "Copying blob {} ({})",
        &d.digest()[..12.min(d.digest().len())],
        super::units::human_size(size)
    )
}

/// Full names for an image: its own, else `NAME` (with a bare tag from the
/// input when `NAME` has no tag of its own).
fn names_for(im: &SourceImage, fallback: Option<&Reference>) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for n in &im.names {
        let r = Reference::parse_tag(n)
            .map_err(|e| anyhow::anyhow!("{} has a bad name: {e}", im.label))?;
        if !out.contains(&r.tagged_name()) {
            out.push(r.tagged_name());
        }
    }
    if out.is_empty() {
        if let Some(f) = fallback {
            let mut r = f.clone();
            if r.tag.is_none() {
                r.tag = im.bare_tags.first().cloned();
            }
            out.push(r.tagged_name());
        }
    }
    Ok(out)
}
