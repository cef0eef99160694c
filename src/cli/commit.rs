//! `hutch commit [OPTIONS] CONTAINER [NAME[:TAG]]`: make a new image of a
//! container's current files and settings (Docker's rules: the container's
//! command, entrypoint, environment, user and working directory, then
//! `--change`) and print its id. A running container may be
//! committed (Docker allows it); without `--pause` files it writes meanwhile
//! can be captured half-written.

use super::Ctx;
use crate::container::Containers;
use crate::layer::codec::Compression;
use crate::oci::reference::Reference;
use crate::snapshot::commit::{commit, container_config, CommitOptions, Format};
use crate::snapshot::container;
use crate::store::Store;
use crate::ui::progress::Live;
use crate::userns::idmap::IdSources;
use anyhow::Context;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The container, by name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,

    /// Name for the new image (`latest` when no tag is given); untagged without it.
    #[arg(value_name = "NAME[:TAG]")]
    pub name: Option<String>,

    /// Commit message, recorded as the history entry's comment.
    #[arg(short, long)]
    pub message: Option<String>,

    /// Author (`Name <email>`), recorded in the image and its history.
    #[arg(short, long)]
    pub author: Option<String>,

    /// Apply a Dockerfile instruction to the config (CMD, ENTRYPOINT, ENV,
    /// EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR). Repeatable.
    #[arg(short, long = "change", value_name = "INSTRUCTION")]
    pub changes: Vec<String>,

    /// Stop the container's processes while its files are read.
    #[arg(short, long)]
    pub pause: bool,

    /// oci, or docker (Docker schema 2 manifest; gzip only).
    #[arg(long, value_name = "oci|docker", value_parser = parse_format, default_value = "oci")]
    pub format: Format,

    /// Compression of the new layer.
    #[arg(long, value_name = "gzip|zstd", value_parser = parse_compression, default_value = "gzip")]
    pub compress: Compression,

    /// Podman's flag, accepted: commit prints nothing but the image id anyway.
    #[arg(short, long)]
    pub quiet: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "oci" => Ok(Format::Oci),
        "docker" => Ok(Format::Docker),
        other => Err(format!("unknown format '{other}': use oci or docker")),
    }
}

fn parse_compression(s: &str) -> Result<Compression, String> {
    match s {
        "gzip" => Ok(Compression::Gzip),
        "zstd" => Ok(Compression::Zstd),
        other => Err(format!("unknown compression '{other}': use gzip or zstd")),
    }
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let names = match &args.name {
        Some(n) => vec![Reference::parse_tag(n)
            .map_err(anyhow::Error::msg)?
            .tagged_name()],
        None => vec![],
    };
    let Some(c) = container::find(&ctx.dirs.state, &args.container)? else {
        anyhow::bail!(
            "no such container: {} (see the containers under `hutch run --name`)",
            args.container
        );
    };
    let store = Store::open(&ctx.dirs)?;
    let parent = store
        .image(&c.image_id)
        .with_context(|| format!("the image of container {} ({}) is gone", c.name, c.image_id))?;
    let src = IdSources::default();
    let map = container::mapping_for(&c, &src)?;
    // Docker commits the container's config, not the image's.
    let record = Containers::new(&ctx.dirs.state).read(&c.id);
    let image_config = parent.config.config().clone().unwrap_or_default();
    let opts = CommitOptions {
        message: args.message,
        author: args.author,
        config: record.map(|r| container_config(&image_config, &r.config)),
        changes: args.changes,
        created_by: c.command.join(" "),
        compression: args.compress,
        format: args.format,
        names,
    };
    let paused = match (c.running, args.pause) {
        (Some(pid), true) => Some(container::pause(pid)?),
        _ => None,
    };
    let changes = container::changes(
        &c,
        &store,
        &ctx.dirs.state,
        &parent,
        &map,
        &src,
        &ctx.printer,
    );
    // On a terminal, the layer's compressed size grows on one line while
    // it is written.
    let live = Live::new(ctx.printer);
    let done = changes.and_then(|ch| commit(&store, ch.path(), &parent, &map, &src, &opts, &live));
    drop(paused);
    let done = done?;
    if let Some(l) = done.image.manifest.layers().last() {
        ctx.printer.info(&format!(
            "Copying blob {} ({})",
            &l.digest().digest()[..12],
            super::units::human_size(l.size())
        ));
    }
    ctx.printer.info("Writing manifest to image destination");
    for w in &done.warnings {
        ctx.printer.warn(w);
    }
    // Only the image id, as Docker prints it.
    ctx.printer.out(&done.image.id);
    Ok(0)
}
