//! Pulling an image: resolve the name (search registries, mirrors), fetch the
//! manifest (choosing a platform from an index), download the blobs the store
//! lacks on a few threads, resuming partial downloads, and add the image.
//!
//! Every blob is checked (digest and size) before the store's writer adopts
//! it, and the image becomes visible only once all its blobs are in. All
//! download threads are joined before a pull returns, so the process is
//! single-threaded again for the forks that follow. It does not unpack layers.

use super::client::{error_code, error_text, read_small, Body, Client};
use super::manifest::{self, Kind, Platform};
use super::Net;
use crate::chain::{bail, msg, WithContext};
use crate::dirs::Dirs;
use crate::oci::digest;
use crate::oci::reference::Reference;
use crate::registry::{Error, Result};
use crate::report::{Done, Progress};
use crate::store::{Image, Store, Verified};
use oci_spec::image::{Digest, MediaType};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use ureq::http::Method;

/// Blobs downloaded at once. A few streams fill a link; more only add seeks.
const THREADS: usize = 3;
/// Partial downloads older than this belong to pulls that were given up.
const PARTIAL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// When `hutch run` pulls (Podman's `--pull`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    Missing,
    Never,
}

crate::named::named!(PullPolicy, "pull policy", {
    Always => "always",
    Missing => "missing",
    Never => "never",
});

/// Options of one pull.
pub struct Options<'a> {
    pub platform: Platform,
    pub net: &'a Net,
    pub progress: &'a dyn Progress,
}

/// The image `name` names, pulling it according to `policy` (for `hutch run`
/// and friends). Uses the default platform and TLS settings.
pub fn ensure_image(
    dirs: &Dirs,
    name: &str,
    policy: PullPolicy,
    progress: &dyn Progress,
) -> Result<Image> {
    let store = Store::open(dirs)?;
    if policy != PullPolicy::Always {
        match local(&store, name) {
            Ok(Some(im)) => return Ok(im),
            Ok(None) if policy == PullPolicy::Never => {
                bail!("no such image: {name} (and --pull=never forbids pulling it)")
            }
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    let net = Net::new(dirs, true, None)?;
    let opts = Options {
        platform: Platform::host(),
        net: &net,
        progress,
    };
    pull(&store, name, &opts).map_err(|e| {
        if policy == PullPolicy::Missing {
            Error::from(msg!(
                "no such image: {name}, and pulling it failed: {}",
                crate::chain::line(&e)
            ))
        } else {
            e
        }
    })
}

/// An image the store already has for `name`, `None` when it has none.
fn local(store: &Store, name: &str) -> Result<Option<Image>> {
    let r = Reference::parse(name).map_err(crate::chain::Context::msg)?;
    if let Some(d) = &r.digest {
        // Pulled by digest: the image may carry no name at all.
        return Ok(store
            .images()?
            .into_iter()
            .find(|im| im.manifest_digest == *d));
    }
    match store.image(name) {
        Ok(im) => Ok(Some(im)),
        // The store's wording for "absent"; anything else (ambiguous, damaged)
        // is the user's to see, not a reason to pull.
        Err(e) if e.is_no_such_image() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Pull `name` into the store and return the image, named by its full
/// reference (`docker.io/library/alpine:latest`; untagged when pinned by
/// digest only).
pub fn pull(store: &Store, name: &str, o: &Options<'_>) -> Result<Image> {
    let r = Reference::parse(name).map_err(crate::chain::Context::msg)?;
    store.sweep_partials(PARTIAL_MAX_AGE)?;
    let cands = o.net.config.candidates(&r);
    let mut misses = Vec::new();
    for (i, cand) in cands.iter().enumerate() {
        let last_cand = i + 1 == cands.len();
        let sources = o.net.config.sources(cand, o.net.force_insecure);
        for (j, src) in sources.iter().enumerate() {
            let last = last_cand && j + 1 == sources.len();
            let repo = format!("{}/{}", src.registry, src.path);
            if cands.len() > 1 || src.mirror {
                o.progress.note(&format!("Trying to pull {repo}"));
            }
            let client = o.net.client(&src.registry, &repo, src.insecure)?;
            match fetch_manifest(&client, &src.path, cand, o) {
                Ok(Some(m)) => return store_image(store, &client, &src.path, cand, m, o),
                Ok(None) => misses.push(repo),
                // With more places to try, a mirror that is down is skipped.
                Err(e) if !last && (src.mirror || cands.len() > 1) => {
                    o.progress
                        .note(&format!("{repo}: {}", crate::chain::line(&e)));
                    misses.push(repo);
                }
                Err(e) => return Err(e),
            }
        }
    }
    let what = match &r.digest {
        Some(d) => format!("manifest {d}"),
        None => format!("tag {}", r.tag.as_deref().unwrap_or("latest")),
    };
    bail!(
        "image {name} not found: no {what} in {} (check the name, or `hutch login` if the repository is private)",
        misses.join(", ")
    )
}

/// A manifest as fetched: bytes, media type, digest.
struct Fetched {
    bytes: Vec<u8>,
    media_type: String,
    digest: Digest,
}

/// The image manifest for `r` at `path`, via the index for our platform if
/// there is one; `None` when the registry does not have it.
fn fetch_manifest(
    c: &Client,
    path: &str,
    r: &Reference,
    o: &Options<'_>,
) -> Result<Option<Fetched>> {
    let reference = r
        .digest
        .clone()
        .unwrap_or_else(|| r.tag.clone().unwrap_or_else(|| "latest".into()));
    let what = r.to_string();
    let Some(first) = get_manifest(c, path, &reference, &what)? else {
        return Ok(None);
    };
    if let Some(d) = &r.digest {
        if first.digest.to_string() != *d {
            bail!(
                "registry {} sent a manifest for {what} whose digest is {}: refusing it",
                c.registry,
                first.digest
            );
        }
    }
    let (kind, _) = manifest::classify(Some(&first.media_type), &first.bytes, &what)?;
    if kind == Kind::Image {
        return Ok(Some(first));
    }
    let (d, _) = manifest::select(&first.bytes, &o.platform, &what)?;
    o.progress
        .note(&format!("Selected {} image {d} from the index", o.platform));
    let m = get_manifest(c, path, &d, &what)?.ok_or_else(|| {
        msg!("{what}: the index names manifest {d}, which the registry does not have")
    })?;
    if m.digest.to_string() != d {
        bail!(
            "registry {} sent manifest {} when asked for {d}: refusing it",
            c.registry,
            m.digest
        );
    }
    let (kind, _) = manifest::classify(Some(&m.media_type), &m.bytes, &what)?;
    if kind != Kind::Image {
        bail!("{what}: the index entry {d} is itself an index, which hutch does not follow");
    }
    Ok(Some(m))
}

fn get_manifest(c: &Client, path: &str, reference: &str, what: &str) -> Result<Option<Fetched>> {
    let url = c.url(&format!("{path}/manifests/{reference}"))?;
    let scope = vec![format!("repository:{path}:pull")];
    let mut resp = c.send(
        Method::GET,
        &url,
        &[("Accept", manifest::ACCEPT)],
        Body::Empty,
        &scope,
    )?;
    match resp.status().as_u16() {
        200 => {}
        404 => return Ok(None),
        401 => {
            let text = error_text(&mut resp);
            // Docker Hub answers 401 for repositories that do not exist.
            if c.registry == "docker.io" && error_code(&text) == Some("UNAUTHORIZED") {
                return Ok(None);
            }
            return Err(c.unauthorized());
        }
        403 => bail!(
            "registry {} denied access to {what}: {}",
            c.registry,
            error_text(&mut resp)
        ),
        _ => {
            let text = error_text(&mut resp);
            if matches!(error_code(&text), Some("NAME_UNKNOWN" | "MANIFEST_UNKNOWN")) {
                return Ok(None);
            }
            bail!(
                "registry {} failed to send the manifest of {what}: {text}",
                c.registry
            )
        }
    }
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let claimed = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = read_small(&mut resp)?;
    let digest = digest::of_bytes(&bytes);
    if let Some(claim) = claimed.filter(|x| x.starts_with("sha256:") && *x != digest.to_string()) {
        bail!(
            "registry {} sent a manifest for {what} that hashes to {digest}, not to the {claim} it announced: refusing it",
            c.registry
        );
    }
    let (_, media_type) = manifest::classify(ct.as_deref(), &bytes, what)?;
    Ok(Some(Fetched {
        bytes,
        media_type,
        digest,
    }))
}

/// A blob the image needs.
struct Job {
    digest: Digest,
    size: u64,
    what: String,
}

fn store_image(
    store: &Store,
    c: &Client,
    path: &str,
    r: &Reference,
    m: Fetched,
    o: &Options<'_>,
) -> Result<Image> {
    let what = r.to_string();
    let parsed = crate::oci::config::parse_manifest(&m.bytes, &format!("the manifest of {what}"))
        .map_err(crate::chain::Context::msg)?;
    let mut jobs = vec![Job {
        digest: parsed.config().digest().clone(),
        size: parsed.config().size(),
        what: format!("the config of {what}"),
    }];
    for (i, l) in parsed.layers().iter().enumerate() {
        let mt = l.media_type().to_string();
        if !manifest::layer_supported(&mt) {
            bail!(
                "layer {} of {what} has media type '{mt}', which hutch cannot unpack",
                i + 1
            );
        }
        jobs.push(Job {
            digest: l.digest().clone(),
            size: l.size(),
            what: format!("layer {} ({}) of {what}", i + 1, l.digest()),
        });
    }
    let mut w = store.writer()?;
    let mut todo = Vec::new();
    for j in jobs {
        match store.blob_size(&j.digest) {
            Some(s) if s == j.size => o.progress.done(&j.digest, &j.what, &Done::Exists),
            _ if todo.iter().any(|t: &Job| t.digest == j.digest) => {}
            _ => todo.push(j),
        }
    }
    let done = download_all(store, c, path, todo, o)?;
    for v in done {
        w.add_verified(v)?;
    }
    let names = match (&r.tag, &r.digest) {
        (None, Some(_)) => vec![],
        _ => vec![r.tagged_name()],
    };
    let mt = MediaType::from(m.media_type.as_str());
    let image = w.add_manifest(&m.bytes, mt, &names)?;
    Ok(image)
}

/// Download `jobs` on up to `THREADS` scoped threads; all are joined before
/// this returns. The first failure stops the others (their partial files stay
/// for the next attempt) and is returned.
fn download_all(
    store: &Store,
    c: &Client,
    path: &str,
    jobs: Vec<Job>,
    o: &Options<'_>,
) -> Result<Vec<Verified>> {
    let n = jobs.len().min(THREADS);
    let queue = Mutex::new(jobs.into_iter());
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<Result<Verified>>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let job = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some(job) = job else { break };
                let r = fetch_blob(store, c, path, &job, o, &stop);
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                results.lock().unwrap_or_else(|e| e.into_inner()).push(r);
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut ok = Vec::new();
    let mut first_err = None;
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) if first_err.is_none() && !is_stopped(&e) => first_err = Some(e),
            Err(_) => {}
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(ok),
    }
}

fn is_stopped(e: &Error) -> bool {
    matches!(e, Error::Stopped)
}

/// Download one blob into its partial file, continuing where a killed pull
/// stopped; retry a dropped connection twice. Returns it verified.
fn fetch_blob(
    store: &Store,
    c: &Client,
    path: &str,
    job: &Job,
    o: &Options<'_>,
    stop: &AtomicBool,
) -> Result<Verified> {
    let mut p = store.partial(&job.digest)?;
    if p.offset() > job.size {
        p.restart()?;
    }
    if p.offset() > 0 && p.offset() < job.size {
        o.progress.note(&format!(
            "Resuming {} at {} of {} bytes",
            job.digest,
            p.offset(),
            job.size
        ));
    }
    o.progress
        .start(&job.digest, &job.what, job.size, p.offset());
    let url = c.url(&format!("{path}/blobs/{}", job.digest))?;
    let scope = vec![format!("repository:{path}:pull")];
    let mut attempts = 0;
    while p.offset() < job.size {
        attempts += 1;
        let range = format!("bytes={}-", p.offset());
        let mut headers = vec![];
        if p.offset() > 0 {
            headers.push(("Range", range.as_str()));
        }
        let mut resp = c.send(Method::GET, &url, &headers, Body::Empty, &scope)?;
        match resp.status().as_u16() {
            206 => {}
            200 => {
                if p.offset() > 0 {
                    p.restart()?;
                    o.progress.reset(&job.digest);
                }
            }
            401 => return Err(c.unauthorized()),
            st => bail!(
                "registry {} failed to send {}: {} (HTTP {st})",
                c.registry,
                job.what,
                error_text(&mut resp)
            ),
        }
        let mut body = resp.into_body().into_reader();
        let mut buf = vec![0u8; 256 << 10];
        let res: Result<()> = (|| loop {
            if stop.load(Ordering::Relaxed) {
                return Err(Error::Stopped);
            }
            let n = body.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            // A server sending more than promised is wrong; stop early.
            if p.offset() + n as u64 > job.size {
                p.write_all(&buf[..n])?;
                return Ok(());
            }
            p.write_all(&buf[..n])
                .context("cannot write the partial download")?;
            o.progress.advance(&job.digest, n as u64);
        })();
        match res {
            Ok(()) if p.offset() < job.size && attempts < 3 => continue,
            Ok(()) => break,
            Err(e) if is_stopped(&e) => return Err(e),
            Err(e) if attempts < 3 && matches!(e, Error::Io(_)) => {
                o.progress.note(&format!("{}: {e}; resuming", job.what));
            }
            Err(e) => {
                let what = format!("cannot download {} from {}", job.what, c.registry);
                return Err(crate::chain::Context::new(what, e).into());
            }
        }
    }
    let v = p.finish(job.size, &job.what)?;
    o.progress.done(&job.digest, &job.what, &Done::Copied);
    Ok(v)
}
