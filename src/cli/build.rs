//! `hutch build [OPTIONS] CONTEXT`: build an image from a Dockerfile, with
//! a cache that reuses every step whose inputs did not change. Maps flags
//! onto `build::Options`; progress goes to stderr, the image id to stdout.

use super::choice::choice;
use super::Ctx;
use crate::build::{self, Options};
use crate::net::plan::NetFlags;
use crate::oci::reference::Reference;
use crate::registry::pull::{ensure_image, PullPolicy};
use crate::rootfs::DriverKind;
use crate::store::Store;
use crate::ui::progress::{Bars, Live};
use crate::ui::{LogLevel, Printer};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The build context directory, or `-` to read the Dockerfile from
    /// stdin and build without a context.
    #[arg(value_name = "CONTEXT")]
    pub context: String,

    /// Name the image (`name[:tag]`, `latest` when no tag is given). Repeatable.
    #[arg(short, long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,

    /// The Dockerfile (default: CONTEXT/Dockerfile, else CONTEXT/Containerfile);
    /// `-` reads it from stdin. It may live outside the context.
    #[arg(short, long = "file", value_name = "FILE")]
    pub file: Option<String>,

    /// Set a build argument (`NAME=VALUE`, or `NAME` to take it from the environment). Repeatable.
    #[arg(long = "build-arg", value_name = "NAME[=VALUE]")]
    pub build_args: Vec<String>,

    /// Build this stage (by its `AS` name) and the stages it needs, not the last one.
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,

    /// Run every step, ignoring cached results (new results are still cached).
    #[arg(long)]
    pub no_cache: bool,

    /// When to pull FROM and `COPY --from` images: missing (only what the
    /// store lacks), always, or never (only the local store). `--pull` alone
    /// means always.
    #[arg(long, value_name = "POLICY", num_args = 0..=1, default_missing_value = "always", default_value = "missing", value_parser = choice::<PullPolicy>(PullPolicy::NAMES, &[]))]
    pub pull: PullPolicy,

    /// Add a label to the final image (`KEY=VALUE`). Repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,

    /// Write the image id to FILE.
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,

    /// Network for RUN steps that do not set `--network`: none (loopback
    /// only), host, or default (also `bridge`, Docker's name): `hutch run`'s
    /// default (pasta when installed), as without --network.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,

    /// Storage driver for RUN steps: overlay, fuse or copy, as for `hutch
    /// run`. Default: HUTCH_STORAGE_DRIVER, else `storage_driver` in
    /// config.toml, else the first that works here.
    #[arg(long, value_name = "DRIVER",
          value_parser = choice::<DriverKind>(DriverKind::NAMES, &[]))]
    pub storage_driver: Option<DriverKind>,

    /// Make a secret file available to `RUN --mount=type=secret,id=ID`
    /// (`id=ID,src=FILE`). Secrets never enter the image or the cache key. Repeatable.
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,

    /// The platform to build for; only linux/amd64.
    #[arg(long, value_name = "OS/ARCH", default_value = "linux/amd64")]
    pub platform: String,
}

fn pairs(items: &[String], what: &str, env: bool) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for it in items {
        match it.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_string(), v.to_string());
            }
            None if env && !it.is_empty() => {
                // Docker: `--build-arg NAME` takes the value from the environment, if set.
                if let Ok(v) = std::env::var(it) {
                    out.insert(it.clone(), v);
                }
            }
            _ => bail!("{what} '{it}' must be KEY=VALUE"),
        }
    }
    Ok(out)
}

/// `id=ID,src=FILE` (also `source=`, and `type=file`).
fn secret(spec: &str) -> anyhow::Result<(String, PathBuf)> {
    let (mut id, mut src) = (None, None);
    for part in spec.split(',') {
        match part.split_once('=') {
            Some(("id", v)) => id = Some(v.to_string()),
            Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
            Some(("type", "file")) => {}
            _ => bail!("--secret {spec}: expected id=ID,src=FILE"),
        }
    }
    match (id, src) {
        (Some(id), Some(src)) if !id.is_empty() => {
            if !src.is_file() {
                bail!("--secret {spec}: {} is not a readable file", src.display());
            }
            Ok((id, src))
        }
        _ => bail!("--secret {spec}: expected id=ID,src=FILE"),
    }
}

fn read_stdin(what: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!("{what} is read from stdin, but stdin is a terminal");
    }
    let mut s = String::new();
    stdin
        .lock()
        .read_to_string(&mut s)
        .with_context(|| format!("cannot read {what} from stdin"))?;
    Ok(s)
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    if args.platform != "linux/amd64" {
        bail!(
            "--platform {}: only linux/amd64 can be built here",
            args.platform
        );
    }
    let names = args
        .tags
        .iter()
        .map(|t| Reference::parse_tag(t).map(|r| r.tagged_name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let build_args = pairs(&args.build_args, "--build-arg", true)?;
    let labels = pairs(&args.labels, "--label", false)?.into_iter().collect();
    let secrets = args
        .secrets
        .iter()
        .map(|s| secret(s))
        .collect::<anyhow::Result<BTreeMap<_, _>>>()?;
    let context = (args.context != "-").then(|| PathBuf::from(&args.context));
    if let Some(c) = &context {
        if !c.is_dir() {
            bail!("the build context {} is not a directory", c.display());
        }
    }
    let (dockerfile, file_name, dockerfile_path) = match (args.file.as_deref(), &context) {
        (Some("-"), _) | (None, None) => (read_stdin("the Dockerfile")?, "-".to_string(), None),
        (Some(f), _) => {
            let p = Path::new(f);
            let text = fs_err::read_to_string(p).context("cannot read the Dockerfile")?;
            (text, f.to_string(), Some(p.to_path_buf()))
        }
        (None, Some(c)) => {
            let p = [c.join("Dockerfile"), c.join("Containerfile")]
                .into_iter()
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no Dockerfile or Containerfile in {}: pass -f FILE",
                        c.display()
                    )
                })?;
            let text = fs_err::read_to_string(&p).context("cannot read the Dockerfile")?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (text, name, Some(p))
        }
    };
    let network = match args.network.as_deref() {
        // Docker's names for its default network.
        None | Some("default" | "bridge") => NetFlags::default(),
        Some("none" | "host") => NetFlags {
            network: args.network.clone(),
            ..NetFlags::default()
        },
        Some(other) => bail!(
            "--network {other}: a build's RUN steps use none, host or default (the default network, also without --network)"
        ),
    };
    let storage_driver = ctx
        .config
        .value(super::config::STORAGE_DRIVER, args.storage_driver)?;
    let opts = Options {
        storage_driver,
        dockerfile,
        file_name,
        dockerfile_path,
        context,
        names,
        build_args,
        target: args.target,
        no_cache: args.no_cache,
        labels,
        state: ctx.dirs.state.clone(),
        network,
        secrets,
    };
    let printer = if args.quiet {
        Printer::new(LogLevel::Warn)
    } else {
        ctx.printer
    };
    // Step lines; on a terminal also a line for reading the context and
    // exporting each layer (never during a RUN, whose output shares stderr).
    let live = Live::new(printer);
    let store = Store::open(&ctx.dirs)?;
    // One pull per name and build, even when several stages name it.
    let pulled = std::cell::RefCell::new(BTreeMap::new());
    let images = |name: &str| -> crate::build::Result<crate::store::Image> {
        if let Some(im) = pulled.borrow().get(name) {
            return Ok(Clone::clone(im));
        }
        let im = ensure_image(&ctx.dirs, name, args.pull, &Bars::new(ctx.printer))
            .map_err(|e| crate::build::Error::Image(e.into()))?;
        pulled.borrow_mut().insert(name.to_string(), im.clone());
        Ok(im)
    };
    let image = build::build(&store, &opts, &images, &live)?;
    if let Some(f) = &args.iidfile {
        fs_err::write(f, &image.id).context("cannot write --iidfile")?;
    }
    ctx.printer.out(&image.id);
    Ok(0)
}
