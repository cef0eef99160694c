//! Pushing an image from the store: blobs the registry has are skipped
//! (HEAD), blobs in another repository of the same registry are mounted
//! (`?mount=&from=`), the rest are uploaded on a few threads (one PUT for
//! small blobs, PATCH chunks for big ones), then the manifest is put.
//!
//! The stored manifest is pushed byte for byte unless a format or
//! compression change asks for a new one (by default uncompressed layers,
//! as `import` stores them, go up gzipped); recompressed layers are written to
//! the writer's scratch space and never added to the store. This module does
//! not change the store.

use super::client::{error_text, Body, Client};
use super::manifest::{DOCKER_CONFIG, DOCKER_MANIFEST, OCI_CONFIG, OCI_MANIFEST};
use super::Net;
use crate::chain::{bail, msg, WithContext};
use crate::layer::codec;
use crate::oci::digest;
use crate::oci::reference::Reference;
use crate::registry::{Error, Result};
use crate::report::{Done, Progress};
use crate::store::{Store, Writer};
use oci_spec::image::Digest;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use ureq::http::Method;

/// Blobs uploaded at once.
const THREADS: usize = 3;
/// Blobs above this go up in chunks of this size (PATCH), smaller ones in one PUT.
pub const CHUNK: u64 = 32 << 20;

/// Manifest format to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Oci,
    V2s2,
}

crate::named::named!(Format, "manifest format", {
    Oci => "oci",
    V2s2 => "v2s2",
});

/// Layer compression to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
}

crate::named::named!(Compression, "compression", {
    Gzip => "gzip",
    Zstd => "zstd",
});

/// What push does to the compression of layers (Podman's
/// `--compression-format`, `--force-compression`, `--disable-compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layers {
    /// Every layer as stored. Docker schema 2 still gets gzip: it has no
    /// media type registries accept for a plain tar.
    AsStored,
    /// Uncompressed layers (imports) get this; compressed ones stay as they
    /// are. The default, with gzip, as Docker and Podman push.
    CompressPlain(Compression),
    /// Every layer in this compression, recompressing as needed.
    All(Compression),
}

pub struct Options<'a> {
    pub net: &'a Net,
    pub progress: &'a dyn Progress,
    pub format: Option<Format>,
    pub layers: Layers,
    /// Added to the pushed manifest's annotations (OCI manifests only).
    pub annotations: BTreeMap<String, String>,
}

/// One blob to send: where its bytes are.
struct Blob {
    digest: Digest,
    size: u64,
    path: PathBuf,
    what: String,
}

/// Push image `name` to `dest` (default: its own name). Returns the full
/// destination reference and the manifest digest.
pub fn push(
    store: &Store,
    name: &str,
    dest: Option<&str>,
    o: &Options<'_>,
) -> Result<(String, Digest)> {
    let image = store.image(name)?;
    let target = dest.unwrap_or(name);
    let r = Reference::parse(target).map_err(crate::chain::Context::msg)?;
    if r.digest.is_some() {
        bail!("cannot push to '{target}': a destination takes a tag, not a digest");
    }
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    // Mirrors are for pulling; push goes to the registry itself.
    let src = o
        .net
        .config
        .sources(&r, o.net.force_insecure)
        .pop()
        .ok_or_else(|| msg!("no registry for {target}"))?;
    let repo = format!("{}/{}", src.registry, src.path);
    let client = o.net.client(&src.registry, &repo, src.insecure)?;

    let mdigest = digest::parse(&image.manifest_digest).map_err(crate::chain::Context::msg)?;
    let mbytes = fs_err::read(store.blob_path(&mdigest))?;
    let stored: Value =
        serde_json::from_slice(&mbytes).context("the stored manifest is not JSON")?;
    let mut w = store.writer()?;
    let (mbytes, mtype, blobs) = plan(store, &mut w, &stored, mbytes, o, image.short_id())?;

    // Other repositories of the same registry that hold this image: mount sources.
    let froms: Vec<String> = image
        .names
        .iter()
        .filter_map(|n| Reference::parse(n).ok())
        .filter(|n| n.domain == src.registry && n.path != src.path)
        .map(|n| n.path)
        .fold(Vec::new(), |mut v, p| {
            if !v.contains(&p) {
                v.push(p);
            }
            v
        });
    let mut scopes = vec![format!("repository:{}:pull,push", src.path)];
    scopes.extend(froms.iter().map(|f| format!("repository:{f}:pull")));

    let stop = AtomicBool::new(false);
    let queue = Mutex::new(blobs.iter());
    let errors: Mutex<Vec<Error>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..THREADS.min(blobs.len()) {
            s.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some(b) = next else { break };
                if let Err(e) = send_blob(&client, &src.path, b, &froms, &scopes, o) {
                    stop.store(true, Ordering::Relaxed);
                    errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                }
            });
        }
    });
    if let Some(e) = errors
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .next()
    {
        return Err(e);
    }
    drop(w);

    let url = client.url(&format!("{}/manifests/{tag}", src.path))?;
    let mut resp = client.send(
        Method::PUT,
        &url,
        &[("Content-Type", mtype.as_str())],
        Body::Bytes(&mbytes),
        &scopes,
    )?;
    match resp.status().as_u16() {
        200..=202 => {}
        401 => return Err(client.unauthorized()),
        st => bail!(
            "registry {} refused the manifest for {repo}:{tag}: {} (HTTP {st})",
            client.registry,
            error_text(&mut resp)
        ),
    }
    Ok((format!("{repo}:{tag}"), digest::of_bytes(&mbytes)))
}

/// The manifest to push (bytes, media type) and the blobs it needs,
/// recompressing layers when the format or `o.layers` asks.
fn plan(
    store: &Store,
    w: &mut Writer<'_>,
    stored: &Value,
    stored_bytes: Vec<u8>,
    o: &Options<'_>,
    label: &str,
) -> Result<(Vec<u8>, String, Vec<Blob>)> {
    let cur_type = stored
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or(OCI_MANIFEST)
        .to_string();
    let cur_format = if cur_type == DOCKER_MANIFEST {
        Format::V2s2
    } else {
        Format::Oci
    };
    let format = o.format.unwrap_or(cur_format);
    let asked = match o.layers {
        Layers::AsStored => None,
        Layers::CompressPlain(c) | Layers::All(c) => Some(c),
    };
    if format == Format::V2s2 && asked == Some(Compression::Zstd) {
        bail!("Docker schema 2 manifests cannot carry zstd layers: use --format oci with --compression-format zstd");
    }
    let desc = |v: &Value, what: &str| -> Result<(Digest, u64, String)> {
        let d = v
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| msg!("image {label}: {what} has no digest"))?;
        let d = digest::parse(d).map_err(crate::chain::Context::msg)?;
        let size = v.get("size").and_then(Value::as_u64).unwrap_or(0);
        let mt = v
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok((d, size, mt))
    };
    let config = stored
        .get("config")
        .ok_or_else(|| msg!("image {label} has a manifest without a config"))?;
    let (cd, csize, _) = desc(config, "the config")?;
    let mut blobs = vec![Blob {
        path: store.blob_path(&cd),
        digest: cd.clone(),
        size: csize,
        what: format!("the config of {label}"),
    }];
    let mut changed = format != cur_format || (format == Format::Oci && !o.annotations.is_empty());
    let mut layers = Vec::new();
    let empty = Vec::new();
    let stored_layers = stored
        .get("layers")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for (i, l) in stored_layers.iter().enumerate() {
        let what = format!("layer {} of {label}", i + 1);
        let (d, size, mt) = desc(l, &what)?;
        let have = compression_of(&mt);
        // Docker schema 2 has no media type for plain or zstd layers.
        let want = match (o.layers, format, have) {
            (Layers::All(c), _, _) => Some(c),
            (_, Format::V2s2, _) => Some(Compression::Gzip),
            (Layers::CompressPlain(c), Format::Oci, None) => Some(c),
            (_, Format::Oci, h) => h,
        };
        let (d, size) = if want != have {
            changed = true;
            recompress(store, w, &d, want, &what)?
        } else {
            (d, size)
        };
        let path = if want != have {
            PathBuf::new()
        } else {
            store.blob_path(&d)
        };
        layers.push(json!({
            "mediaType": layer_type(format, want),
            "digest": d.to_string(),
            "size": size,
        }));
        blobs.push(Blob {
            path,
            digest: d,
            size,
            what,
        });
    }
    // Recompressed layers live in the writer's scratch; find their paths.
    for b in &mut blobs {
        if b.path.as_os_str().is_empty() {
            b.path = w.blob_file(&b.digest)?;
        }
    }
    if !changed {
        return Ok((stored_bytes, cur_type, blobs));
    }
    let (mt, ct) = match format {
        Format::Oci => (OCI_MANIFEST, OCI_CONFIG),
        Format::V2s2 => (DOCKER_MANIFEST, DOCKER_CONFIG),
    };
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": ct, "digest": cd.to_string(), "size": csize},
        "layers": layers,
    });
    if let (Format::Oci, Some(a)) = (format, stored.get("annotations")) {
        m["annotations"] = a.clone();
    }
    if format == Format::Oci && !o.annotations.is_empty() {
        let mut all = m
            .get("annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in &o.annotations {
            all.insert(k.clone(), Value::String(v.clone()));
        }
        m["annotations"] = Value::Object(all);
    }
    Ok((serde_json::to_vec(&m)?, mt.to_string(), blobs))
}

fn compression_of(mt: &str) -> Option<Compression> {
    if mt.ends_with("gzip") {
        Some(Compression::Gzip)
    } else if mt.ends_with("zstd") {
        Some(Compression::Zstd)
    } else {
        None
    }
}

fn layer_type(f: Format, c: Option<Compression>) -> &'static str {
    match (f, c) {
        (Format::Oci, None) => "application/vnd.oci.image.layer.v1.tar",
        (Format::Oci, Some(Compression::Gzip)) => "application/vnd.oci.image.layer.v1.tar+gzip",
        (Format::Oci, Some(Compression::Zstd)) => "application/vnd.oci.image.layer.v1.tar+zstd",
        (Format::V2s2, Some(Compression::Zstd)) => {
            "application/vnd.docker.image.rootfs.diff.tar.zstd"
        }
        (Format::V2s2, _) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
    }
}

/// Decompress a stored layer and compress it as `want` into scratch space.
fn recompress(
    store: &Store,
    w: &mut Writer<'_>,
    d: &Digest,
    want: Option<Compression>,
    what: &str,
) -> Result<(Digest, u64)> {
    let f = fs_err::File::open(store.blob_path(d))?;
    let (_, tar) =
        codec::decompressed(std::io::BufReader::new(f)).map_err(crate::chain::Context::msg)?;
    match want {
        None => Ok(w.write_blob(tar, None, what)?),
        Some(Compression::Gzip) => {
            let gz = flate2::read::GzEncoder::new(tar, flate2::Compression::fast());
            Ok(w.write_blob(gz, None, what)?)
        }
        Some(Compression::Zstd) => {
            let z = zstd::stream::read::Encoder::new(tar, 3).context("cannot start zstd")?;
            Ok(w.write_blob(z, None, what)?)
        }
    }
}

/// Make sure the registry has blob `b` in `path`: skip, mount or upload.
fn send_blob(
    c: &Client,
    path: &str,
    b: &Blob,
    froms: &[String],
    scopes: &[String],
    o: &Options<'_>,
) -> Result<()> {
    let head = c.url(&format!("{path}/blobs/{}", b.digest))?;
    let resp = c.send(Method::HEAD, &head, &[], Body::Empty, scopes)?;
    match resp.status().as_u16() {
        200 => {
            o.progress.done(&b.digest, &b.what, &Done::Exists);
            return Ok(());
        }
        401 => return Err(c.unauthorized()),
        _ => {}
    }
    let mut location = None;
    for from in froms {
        let url = c.url(&format!(
            "{path}/blobs/uploads/?mount={}&from={from}",
            b.digest
        ))?;
        let mut resp = c.send(Method::POST, &url, &[], Body::Empty, scopes)?;
        match resp.status().as_u16() {
            201 => {
                o.progress
                    .done(&b.digest, &b.what, &Done::Mounted(from.clone()));
                return Ok(());
            }
            202 => {
                location = Some(header(&resp, "location")?);
                break;
            }
            st => o.progress.note(&format!(
                "cannot mount {} from {from}: {} (HTTP {st}); uploading it",
                b.digest,
                error_text(&mut resp)
            )),
        }
    }
    let mut loc = match location {
        Some(l) => l,
        None => {
            let url = c.url(&format!("{path}/blobs/uploads/"))?;
            let mut resp = c.send(Method::POST, &url, &[], Body::Empty, scopes)?;
            match resp.status().as_u16() {
                202 => header(&resp, "location")?,
                401 => return Err(c.unauthorized()),
                st => bail!(
                    "registry {} refused to start an upload of {}: {} (HTTP {st})",
                    c.registry,
                    b.what,
                    error_text(&mut resp)
                ),
            }
        }
    };
    o.progress.start(&b.digest, &b.what, b.size, 0);
    let mut file = fs_err::File::open(&b.path)?;
    let ok = |st: u16| matches!(st, 200..=204);
    if b.size > CHUNK {
        let mut off = 0u64;
        while off < b.size {
            let len = CHUNK.min(b.size - off);
            let range = format!("{}-{}", off, off + len - 1);
            let mut chunk = Counted {
                inner: (&mut file).take(len),
                digest: &b.digest,
                progress: o.progress,
            };
            let url = c.resolve(&loc)?;
            let mut resp = c.send(
                Method::PATCH,
                &url,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Range", &range),
                ],
                Body::Stream(&mut chunk, len),
                scopes,
            )?;
            let st = resp.status().as_u16();
            if !ok(st) {
                bail!(
                    "registry {} refused a chunk of {}: {} (HTTP {st})",
                    c.registry,
                    b.what,
                    error_text(&mut resp)
                );
            }
            loc = header(&resp, "location")?;
            off += len;
        }
        let url = with_digest(&c.resolve(&loc)?, &b.digest);
        let mut resp = c.send(Method::PUT, &url, &[], Body::Empty, scopes)?;
        let st = resp.status().as_u16();
        if !ok(st) {
            bail!(
                "registry {} refused {}: {} (HTTP {st})",
                c.registry,
                b.what,
                error_text(&mut resp)
            );
        }
    } else {
        let mut body = Counted {
            inner: &mut file,
            digest: &b.digest,
            progress: o.progress,
        };
        let url = with_digest(&c.resolve(&loc)?, &b.digest);
        let mut resp = c.send(
            Method::PUT,
            &url,
            &[("Content-Type", "application/octet-stream")],
            Body::Stream(&mut body, b.size),
            scopes,
        )?;
        let st = resp.status().as_u16();
        if !ok(st) {
            bail!(
                "registry {} refused {}: {} (HTTP {st})",
                c.registry,
                b.what,
                error_text(&mut resp)
            );
        }
    }
    o.progress.done(&b.digest, &b.what, &Done::Copied);
    Ok(())
}

fn with_digest(url: &str, d: &Digest) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}digest={}", d.to_string().replace(':', "%3A"))
}

fn header(r: &super::client::Resp, name: &str) -> Result<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| msg!("the registry's answer lacks a {name} header"))
        .map_err(Into::into)
}

/// A reader that reports the bytes read through it.
struct Counted<'a, R> {
    inner: R,
    digest: &'a Digest,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(self.digest, n as u64);
        Ok(n)
    }
}
