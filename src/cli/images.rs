//! `hutch images`: list images as Podman does (a table, `-q` ids, or
//! `--format json` / a Go template).

use super::filters::{glob, label_matches, Filters};
use super::inspect::facts;
use super::template::{print_rows, Listing};
use super::units::human_size;
use super::Ctx;
use crate::container::state::human_duration;
use crate::oci::inspect::list_row;
use crate::oci::reference::Reference;
use crate::store::{Image, Store};
use anyhow::bail;
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Show only images named REPOSITORY (`busybox`, `quay.io/x/y`), with TAG if given.
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,

    /// Print only image ids, one per image.
    #[arg(short, long)]
    pub quiet: bool,

    /// Show full ids.
    #[arg(long)]
    pub no_trunc: bool,

    /// `json`, or a Go template over Repository, Tag, ID, Digest, CreatedSince,
    /// CreatedAt and Size, e.g. '{{.Repository}}:{{.Tag}}'.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Show all images (hutch keeps no intermediate build images, so this
    /// is the same list; accepted for Docker's scripts).
    #[arg(short, long)]
    pub all: bool,

    /// Show only images that match: dangling=true|false, label=KEY[=VALUE],
    /// reference=PATTERN (a glob: 'busy*', 'busybox:1.*'), before=IMAGE,
    /// since=IMAGE. One key given twice matches either value; different
    /// keys must all match.
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
}

/// The keys `--filter` takes.
const FILTERS: &[&str] = &["dangling", "label", "reference", "before", "since"];

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let format = Listing::parse(args.format.as_deref()).map_err(anyhow::Error::msg)?;
    let filter = args
        .reference
        .as_deref()
        .map(Reference::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let filters = Filters::parse(&args.filter, FILTERS).map_err(anyhow::Error::msg)?;
    for v in filters.values("dangling") {
        if !matches!(v.as_str(), "true" | "false") {
            bail!("invalid filter 'dangling={v}': use true or false");
        }
    }
    for v in filters.values("reference") {
        glob(v, "").map_err(anyhow::Error::msg)?;
    }
    let store = Store::open(&ctx.dirs)?;
    let mut images = store.images()?;
    if let Some(f) = &filter {
        for im in &mut images {
            im.names.retain(|n| matches(f, n));
        }
        images.retain(|im| !im.names.is_empty());
    }
    let time_of = |key: &str| -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
        match filters.values(key).last() {
            Some(v) => Ok(created(&store.image(v)?)),
            None => Ok(None),
        }
    };
    let (before, since) = (time_of("before")?, time_of("since")?);
    images.retain(|im| {
        let labels = im.labels();
        filters.allows("dangling", |v| (v == "true") == im.names.is_empty())
            && filters.allows("label", |v| label_matches(v, labels.iter()))
            && before.map_or(true, |t| created(im).is_some_and(|c| c < t))
            && since.map_or(true, |t| created(im).is_some_and(|c| c > t))
    });
    if filters.has("reference") {
        for im in &mut images {
            im.names
                .retain(|n| filters.allows("reference", |p| reference_matches(p, n)));
        }
        images.retain(|im| !im.names.is_empty());
    }
    // Newest first, like Podman.
    images.sort_by(|a, b| created(b).cmp(&created(a)).then(a.names.cmp(&b.names)));
    let id = |im: &Image| {
        if args.no_trunc {
            im.id.clone()
        } else {
            im.short_id().to_string()
        }
    };
    if args.quiet {
        for im in &images {
            ctx.printer.out(&id(im));
        }
        return Ok(0);
    }
    if matches!(format, Listing::Json) {
        let rows: Vec<_> = images.iter().map(|im| list_row(&facts(im))).collect();
        ctx.printer.out(&serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    let now = chrono::Utc::now();
    let mut rows: Vec<[String; 5]> = Vec::new();
    let mut values = Vec::new();
    for im in &images {
        let since = created(im)
            .map(|t| format!("{} ago", human_duration((now - t).num_seconds())))
            .unwrap_or_else(|| "unknown".into());
        let size = human_size(im.size());
        let mut names: Vec<(String, String)> = im
            .names
            .iter()
            .map(|n| match n.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
                _ => (n.clone(), "<none>".into()),
            })
            .collect();
        if names.is_empty() {
            names.push(("<none>".into(), "<none>".into()));
        }
        for (repo, tag) in names {
            values.push(json!({
                "Repository": repo, "Tag": tag, "ID": id(im), "Digest": im.manifest_digest,
                "CreatedSince": since, "CreatedAt": im.config.created().clone().unwrap_or_default(),
                "Size": size,
            }));
            rows.push([repo, tag, id(im), since.clone(), size.clone()]);
        }
    }
    if let Listing::Template(t) = &format {
        let fields = [
            "Repository",
            "Tag",
            "ID",
            "Digest",
            "CreatedSince",
            "CreatedAt",
            "Size",
        ];
        let titles = [("ID", "IMAGE ID"), ("CreatedSince", "CREATED")];
        print_rows(&ctx.printer, t, &fields, &titles, &values)?;
        return Ok(0);
    }
    ctx.printer.table(
        Some(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]),
        &rows,
        2,
    );
    Ok(0)
}

/// Whether the full name `name` (`repo:tag`) is one `filter` asks for; a short
/// filter (`busybox`) matches the repository's last path components.
fn matches(filter: &Reference, name: &str) -> bool {
    let (repo, tag) = name.rsplit_once(':').unwrap_or((name, ""));
    let repo_ok = repo == filter.repository()
        || filter
            .short
            .as_ref()
            .is_some_and(|s| repo.ends_with(&format!("/{s}")));
    repo_ok && filter.tag.as_deref().map_or(true, |t| t == tag)
}

/// Docker's `reference=` filter: the pattern against the short name
/// (`busybox:1.38.0-musl`, `quay.io/x/tool:1`), or against its repository
/// alone (`busybox`).
fn reference_matches(pattern: &str, name: &str) -> bool {
    let short = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    let repo = match short.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => r,
        _ => short,
    };
    glob(pattern, short).unwrap_or(false) || glob(pattern, repo).unwrap_or(false)
}

fn created(im: &Image) -> Option<chrono::DateTime<chrono::Utc>> {
    let c = im.config.created().as_deref()?;
    chrono::DateTime::parse_from_rfc3339(c)
        .ok()
        .map(|t| t.to_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_by_repository_and_tag() {
        let f = |s: &str| Reference::parse(s).unwrap();
        assert!(matches(&f("busybox"), "docker.io/library/busybox:1"));
        assert!(matches(&f("busybox:1"), "docker.io/library/busybox:1"));
        assert!(!matches(&f("busybox:2"), "docker.io/library/busybox:1"));
        assert!(matches(&f("tool"), "quay.io/x/tool:1"));
        assert!(!matches(&f("quay.io/y/tool"), "quay.io/x/tool:1"));
        assert!(!matches(&f("box"), "docker.io/library/busybox:1"));
    }

    #[test]
    fn reference_filters_are_globs_over_short_names() {
        let n = "docker.io/library/busybox:1.38.0-musl";
        assert!(reference_matches("busybox", n));
        assert!(reference_matches("busy*", n));
        assert!(reference_matches("busybox:1.*", n));
        assert!(!reference_matches("busybox:2*", n));
        assert!(!reference_matches("box", n));
        assert!(reference_matches("quay.io/x/*", "quay.io/x/tool:1"));
        assert!(!reference_matches("*", "quay.io/x/tool:1"));
    }

    #[test]
    fn sizes_and_ages_like_podman() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(194 * 86400), "6 months");
    }
}
