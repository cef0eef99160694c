//! `hutch inspect NAME...`: Docker-compatible JSON (an array) for containers
//! and images, or one line per object with `--format '{{.Id}}'`. A name is
//! looked up as a container first, then as an image, as Docker does;
//! `--type` restricts the lookup to one kind.

use super::template::Template;
use super::Ctx;
use crate::container::inspect::Facts;
use crate::container::{state, Containers, Record};
use crate::oci::digest;
use crate::oci::inspect::{add_docker_config_keys, inspect, ImageFacts};
use crate::store::{Image, Store};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Containers or images to show, by name or id.
    #[arg(required = true, value_name = "CONTAINER|IMAGE")]
    pub names: Vec<String>,

    /// Print each object through a Go template, e.g. '{{.Id}}',
    /// '{{.State.Status}}' or '{{json .Config}}'.
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,

    /// Only look for objects of this type.
    #[arg(long = "type", value_name = "TYPE", value_parser = ["container", "image"])]
    pub kind: Option<String>,

    /// Add containers' sizes: SizeRw (the writable layer) and SizeRootFs
    /// (with the image).
    #[arg(short, long)]
    pub size: bool,
}

/// Which kinds of object `inspect` looks names up as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Any,
    Container,
    Image,
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
    let kind = match args.kind.as_deref() {
        Some("container") => Kind::Container,
        Some("image") => Kind::Image,
        _ => Kind::Any,
    };
    show(ctx, &args.names, args.format.as_deref(), kind, args.size)
}

/// Print the inspect objects of `names`, each looked up as `kind`: all
/// are found before anything is printed, so a bad name prints nothing.
pub fn show(
    ctx: &Ctx,
    names: &[String],
    format: Option<&str>,
    kind: Kind,
    size: bool,
) -> anyhow::Result<u8> {
    let tpl = format
        .filter(|f| *f != "json")
        .map(Template::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let containers = Containers::new(&ctx.dirs.state);
    let mut store = None;
    let mut values = Vec::new();
    for name in names {
        if kind != Kind::Image {
            match containers.resolve(name) {
                Ok(rec) => {
                    values.push(container(ctx, &containers, rec, &mut store, size));
                    continue;
                }
                Err(crate::container::Error::NotFound(_)) if kind == Kind::Any => {}
                Err(e) => return Err(e.into()),
            }
        }
        let store = match &mut store {
            Some(s) => s,
            None => store.insert(Store::open(&ctx.dirs)?),
        };
        values.push(image(store, name)?);
    }
    print_inspected(ctx, tpl.as_ref(), &values)?;
    Ok(0)
}

/// What every `inspect` prints: each object through `-f TEMPLATE`, or all
/// of them as one JSON array (Docker's shape).
pub(super) fn print_inspected(
    ctx: &Ctx,
    template: Option<&Template>,
    values: &[Value],
) -> anyhow::Result<()> {
    match template {
        Some(t) => {
            for v in values {
                ctx.printer.out(&t.render(v).map_err(anyhow::Error::msg)?);
            }
        }
        None => ctx.printer.out(&serde_json::to_string_pretty(values)?),
    }
    Ok(())
}

fn image(store: &Store, name: &str) -> anyhow::Result<Value> {
    let im = store.image(name)?;
    let mut v = inspect(&facts(&im));
    let config =
        digest::parse(im.manifest.config().digest().as_ref()).map_err(anyhow::Error::msg)?;
    add_docker_config_keys(&mut v, &store.read_blob(&config)?);
    Ok(v)
}

fn container(
    ctx: &Ctx,
    containers: &Containers,
    rec: Record,
    store: &mut Option<Store>,
    size: bool,
) -> Value {
    let rec = state::settle(containers, rec);
    let s = state::observe(&rec);
    // The image's labels and exposed ports; none when it is gone.
    if store.is_none() {
        *store = Store::open(&ctx.dirs).ok();
    }
    let image = store.as_ref().and_then(|st| st.image(&rec.image_id).ok());
    let facts = Facts {
        labels: image.as_ref().map(|im| im.labels()).unwrap_or_default(),
        exposed: image
            .as_ref()
            .and_then(|im| im.config.config().clone())
            .and_then(|c| c.exposed_ports().clone())
            .unwrap_or_default(),
        networks: network_places(ctx, &rec),
        log_path: containers
            .dir(&rec.id)
            .join(crate::container::logs::LOG_FILE)
            .display()
            .to_string(),
        volumes: crate::volume::Volumes::new(&ctx.dirs.store),
    };
    let mut v = crate::container::inspect::inspect(&rec, s, &facts);
    if size {
        let rw = super::ps::writable_size(containers, &rec);
        v["SizeRw"] = rw.into();
        v["SizeRootFs"] = (rw + image.map_or(0, |im| im.size())).into();
    }
    v
}

/// The user-defined networks `rec` names and its endpoints there, the
/// first first.
fn network_places(
    ctx: &Ctx,
    rec: &Record,
) -> Vec<(crate::net::netdef::NetworkDef, crate::net::netdef::Endpoint)> {
    let networks = crate::net::netdef::Networks::new(&ctx.dirs.store);
    rec.config
        .network
        .attachments()
        .iter()
        .filter_map(|a| {
            let def = networks.find(&a.network).ok()?;
            let ep = networks
                .endpoints(&def)
                .into_iter()
                .find(|e| e.container == rec.id)?;
            Some((def, ep))
        })
        .collect()
}

/// `hutch container inspect`: containers only.
#[derive(clap::Args, Debug)]
pub struct ContainerArgs {
    /// Containers to show, by name or id.
    #[arg(required = true, value_name = "CONTAINER")]
    pub names: Vec<String>,

    /// Print each container through a Go template, e.g. '{{.State.Status}}'.
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,

    /// Add SizeRw (the writable layer) and SizeRootFs (with the image).
    #[arg(short, long)]
    pub size: bool,
}

/// `hutch image inspect`: images only.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// Images to show, by name or id.
    #[arg(required = true, value_name = "IMAGE")]
    pub names: Vec<String>,

    /// Print each image through a Go template, e.g. '{{.Id}}'.
    #[arg(short, long, value_name = "TEMPLATE")]
    pub format: Option<String>,
}
