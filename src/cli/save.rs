//! `hutch save [-o PATH] [--format F] [--compress C] IMAGE...`: write images
//! as a docker-archive (the default, as with podman), an oci-archive or an
//! oci-dir, with the names they were given (`RepoTags`, `ref.name`). Without
//! `-o` (or with `-o -`) an archive goes to stdout, never to a terminal.

use super::choice::choice;
use super::Ctx;
use crate::layer::codec::Compression;
use crate::oci::reference::Reference;
use crate::snapshot::output;
use crate::snapshot::save::{save, DirSink, Format, Item, Sink, TarSink};
use crate::store::{Image, Store};
use crate::ui::progress::Meter;
use anyhow::bail;
use oci_spec::image::Digest;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::path::PathBuf;

/// What each `--format` name means, in `Format::NAMES` order.
const FORMAT_HELP: &[&str] = &[
    "`docker save`'s format; `docker load` and `podman load` read it",
    "A tar of an OCI image layout",
    "An OCI image layout directory",
];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Write to PATH (a file, or a directory for oci-dir); `-` is stdout.
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// docker-archive, oci-archive or oci-dir.
    #[arg(long, value_parser = choice::<Format>(Format::NAMES, FORMAT_HELP), default_value = "docker-archive")]
    pub format: Format,

    /// Recompress layers stored otherwise (oci-archive and oci-dir only).
    #[arg(long, value_name = "gzip|zstd", value_parser = parse_compression)]
    pub compress: Option<Compression>,

    /// Images to save, by name or id.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    match s {
        "gzip" => Ok(Compression::Gzip),
        "zstd" => Ok(Compression::Zstd),
        other => Err(format!("unknown compression '{other}': use gzip or zstd")),
    }
}

/// The names to record for `arg`: the one it names, or none for an id.
fn names_for(im: &Image, arg: &str) -> Vec<String> {
    let hex = arg.strip_prefix("sha256:").unwrap_or(arg);
    if im.id.trim_start_matches("sha256:").starts_with(hex) {
        return vec![];
    }
    let Ok(r) = Reference::parse_tag(arg) else {
        return vec![];
    };
    let full = r.tagged_name();
    if im.names.contains(&full) {
        return vec![full];
    }
    // A short name (`snap:1`) matched some registry's `.../snap:1`.
    let suffix = format!("/{}", arg.trim_start_matches('/'));
    let suffix = if arg.contains(':') {
        suffix
    } else {
        format!("{suffix}:latest")
    };
    im.names
        .iter()
        .filter(|n| n.ends_with(&suffix))
        .take(1)
        .cloned()
        .collect()
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = Store::open(&ctx.dirs)?;
    let mut items: Vec<Item> = Vec::new();
    for arg in &args.images {
        let im = store.image(arg)?;
        let names = names_for(&im, arg);
        match items.iter_mut().find(|i| i.image.id == im.id) {
            Some(it) => {
                for n in names {
                    if !it.names.contains(&n) {
                        it.names.push(n);
                    }
                }
            }
            None => items.push(Item { image: im, names }),
        }
    }
    let to_stdout = args.output.as_ref().map_or(true, |p| p.as_os_str() == "-");
    if to_stdout && args.format == Format::OciDir {
        bail!("oci-dir writes a directory: name it with -o DIR");
    }
    if to_stdout && std::io::stdout().is_terminal() {
        bail!("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
    }
    // The writer keeps blobs from being collected while they are read, and
    // gives scratch space on the store's filesystem for decompressed layers.
    let w = store.writer()?;
    let scratch = w.scratch().to_path_buf();
    let blobs: std::collections::HashSet<_> = items
        .iter()
        .flat_map(|i| {
            let m = &i.image.manifest;
            std::iter::once(m.config().digest()).chain(m.layers().iter().map(|l| l.digest()))
        })
        .collect();
    let meter = Meter::new(ctx.printer, "Saving", blobs.len() as u64, "blobs");
    match (&args.output, args.format) {
        (Some(dest), Format::OciDir) => {
            let tmp = output::dir(dest)?;
            let mut sink = Metered {
                inner: DirSink {
                    root: tmp.path().to_path_buf(),
                },
                meter: &meter,
            };
            save(
                &store,
                &items,
                args.format,
                args.compress,
                &scratch,
                &mut sink,
            )?;
            output::finish_dir(tmp, dest)?;
        }
        (Some(dest), _) if !to_stdout => {
            let tmp = output::file(dest)?;
            let mut sink = Metered {
                inner: TarSink::new(std::io::BufWriter::with_capacity(1 << 20, tmp)),
                meter: &meter,
            };
            save(
                &store,
                &items,
                args.format,
                args.compress,
                &scratch,
                &mut sink,
            )?;
            let tmp =
                sink.inner.finish()?.into_inner().map_err(|e| {
                    anyhow::anyhow!("cannot write {}: {}", dest.display(), e.error())
                })?;
            output::finish_file(tmp, dest)?;
        }
        _ => {
            let out = std::io::stdout().lock();
            let mut sink = Metered {
                inner: TarSink::new(std::io::BufWriter::with_capacity(1 << 20, out)),
                meter: &meter,
            };
            save(
                &store,
                &items,
                args.format,
                args.compress,
                &scratch,
                &mut sink,
            )?;
            sink.inner.finish()?.flush()?;
        }
    }
    meter.finish("Writing manifest to image destination");
    Ok(0)
}

/// A sink that moves the bar one blob per file it writes.
struct Metered<'a, S> {
    inner: S,
    meter: &'a Meter,
}

impl<S: Sink> Sink for Metered<'_, S> {
    fn bytes(&mut self, path: &str, data: &[u8]) -> crate::snapshot::Result<()> {
        self.inner.bytes(path, data)
    }

    fn file(
        &mut self,
        path: &str,
        src: &Path,
        expect: Option<&Digest>,
    ) -> crate::snapshot::Result<()> {
        let short = path.rsplit('/').next().unwrap_or(path);
        let short = &short[..12.min(short.len())];
        self.meter.doing(&format!("blob {short}"));
        self.inner.file(path, src, expect)?;
        let size = std::fs::metadata(src).map_or(0, |m| m.len());
        self.meter.done(&format!(
            "Copying blob {short} ({})",
            super::units::human_size(size)
        ));
        Ok(())
    }
}
