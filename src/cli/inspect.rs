//! `hutch inspect IMAGE...`: Docker-compatible JSON (an array) for images, or
//! one line per image with `--format '{{.Id}}'`.

use super::template::Template;
use super::Ctx;
use crate::oci::digest;
use crate::oci::inspect::{add_docker_config_keys, inspect, ImageFacts};
use crate::store::{Image, Store};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Images to show, by name or id.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,

    /// Print each image through a Go template, e.g. '{{.Id}}' or '{{json .Config}}'.
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
}

pub fn facts(im: &Image) -> ImageFacts<'_> {
    ImageFacts {
        id: &im.id,
        manifest_digest: &im.manifest_digest,
        manifest: &im.manifest,
        config: &im.config,
        names: &im.names,
        size: im.size(),
    }
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let tpl = args
        .format
        .as_deref()
        .filter(|f| *f != "json")
        .map(Template::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let store = Store::open(&ctx.dirs)?;
    // Resolve all first so a bad name prints nothing half-way.
    let images = args
        .images
        .iter()
        .map(|n| store.image(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut values = Vec::new();
    for im in &images {
        let mut v = inspect(&facts(im));
        let config =
            digest::parse(im.manifest.config().digest().as_ref()).map_err(anyhow::Error::msg)?;
        add_docker_config_keys(&mut v, &store.read_blob(&config)?);
        values.push(v);
    }
    match tpl {
        Some(t) => {
            for v in &values {
                ctx.printer.out(&t.render(v).map_err(anyhow::Error::msg)?);
            }
        }
        None => ctx.printer.out(&serde_json::to_string_pretty(&values)?),
    }
    Ok(0)
}
