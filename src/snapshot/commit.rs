//! `commit`: an overlay upper directory on top of a parent image becomes a new
//! image: one more layer (the upper dir as an OCI layer tar, overlay
//! whiteouts and opaque markers turned into `.wh.` entries), a config that is
//! the parent's plus `--change` edits and a history entry, and a manifest.
//!
//! The upper dir holds files owned by subordinate ids that the caller cannot
//! read, so the diff runs as root of a user namespace with the container's
//! mapping; ids are then seen as the container saw them and written into the
//! tar unchanged. The child compresses on a second thread (and zstd's own
//! workers) while it diffs, in one pass that hashes the tar and the blob as
//! they stream by, into a spool file in the writer's scratch space; the
//! parent stages it under the digest the child computed, without reading it
//! again. Committing a running container is allowed, as Docker allows it,
//! but files written meanwhile may be captured half-written; a file that
//! changes size during the diff fails the commit.
//!
//! It does not find containers or pause them (the CLI does), and writes to the
//! store only through `store::Writer`.

use super::media;
use crate::chain::{bail, WithContext};
use crate::layer::codec::{Compressed, Compression, Compressor};
use crate::layer::diff::{diff, DiffOptions};
use crate::oci::change;
use crate::oci::digest;
use crate::oci::imageconfig::{History, ImageConfig};
use crate::report::Report;
use crate::snapshot::Result;
use crate::store::{Image, Spool, Store};
use crate::userns::idmap::{IdMapping, IdSources};
use crate::userns::run::run_in_userns_watching;
use crate::userns::Reach;
use oci_spec::image::{Config, Descriptor, ImageManifestBuilder, MediaType, SCHEMA_VERSION};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};

/// Which manifest and media types the new image gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Oci,
    /// Docker schema 2, for registries and tools that want it (gzip only).
    Docker,
}

/// What to record in the new image.
#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// The history entry's comment (`-m`).
    pub message: Option<String>,
    /// The image's and the history entry's author (`-a`).
    pub author: Option<String>,
    /// Where the new image's runtime config starts: the container's own
    /// (see [`container_config`]); the parent image's when None.
    pub config: Option<Config>,
    /// Dockerfile instructions applied to the config (`-c 'CMD ["sh"]'`).
    pub changes: Vec<String>,
    /// The history entry's `created_by`: the container's command, as Docker records it.
    pub created_by: String,
    /// Gzip or zstd for the new layer.
    pub compression: Compression,
    pub format: Format,
    /// Full names for the new image (none: untagged, reachable by id).
    pub names: Vec<String>,
}

/// The new image and what went into its layer.
#[derive(Debug, Clone)]
pub struct Committed {
    pub image: Image,
    /// The new layer's manifest descriptor.
    pub layer: Descriptor,
    /// sha256 of the new layer's uncompressed tar.
    pub diff_id: String,
    /// Things the layer could not keep exactly (unmapped owners, sockets).
    pub warnings: Vec<String>,
}

/// What the diff helper reports back across the fork.
#[derive(serde::Serialize, serde::Deserialize)]
struct LayerReport {
    diff_id: String,
    digest: String,
    size: u64,
    warnings: Vec<String>,
}

/// What `docker commit` starts the new image's config from: not the image's
/// config but the container's, in which the image's has been merged with
/// what `run` was told. Its command (or `--entrypoint`) becomes `Cmd` (and
/// `Entrypoint`), its environment (`-e`, `--env-file` included) `Env`, and
/// `-u` and `-w` `User` and `WorkingDir`; everything else stays the image's.
pub fn container_config(image: &Config, c: &crate::container::Config) -> Config {
    let mut out = image.clone();
    let list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    // Records written before hutch kept them: the image's.
    if let (Some(entrypoint), Some(cmd)) = (&c.entrypoint, &c.cmd) {
        out.set_entrypoint(list(entrypoint));
        out.set_cmd(list(cmd));
    }
    out.set_env(list(&c.env));
    // keep-id's default user is the caller's uid, which is no setting of
    // the container's to carry into an image.
    if c.userns != "keep-id" {
        out.set_user(c.user.clone().or_else(|| image.user().clone()));
    }
    // `run` defaults the working directory to `/`; an image without one
    // stays without one.
    let image_dir = image.working_dir().clone().filter(|d| !d.is_empty());
    if image_dir.is_some() || c.workdir != "/" {
        out.set_working_dir(Some(c.workdir.clone()));
    }
    out
}

/// Commit `upper` (written against `parent`'s layers with `map`) as a new
/// image; `report` sees the compressed layer grow while it is written.
pub fn commit(
    store: &Store,
    upper: &Path,
    parent: &Image,
    map: &IdMapping,
    src: &IdSources,
    opts: &CommitOptions,
    report: &dyn Report,
) -> Result<Committed> {
    if opts.compression == Compression::None {
        bail!("a committed layer is compressed: choose gzip or zstd");
    }
    // Everything that can be refused is checked before the (slow) diff.
    let mut runtime = match &opts.config {
        Some(c) => c.clone(),
        None => parent.config.config().clone().unwrap_or_default(),
    };
    for c in &opts.changes {
        change::apply(&mut runtime, c).map_err(crate::chain::Context::msg)?;
    }
    // Docker's rule for ENTRYPOINT: it drops the command unless a CMD is
    // given in the same set of instructions.
    let given = |word: &str| {
        opts.changes.iter().any(|c| {
            c.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
        })
    };
    if given("ENTRYPOINT") && !given("CMD") {
        runtime.set_cmd(None);
    }
    // The parent's config as stored: Docker's keys (HEALTHCHECK, ONBUILD,
    // SHELL) and any other it has stay in the new image.
    let mut config = ImageConfig::parse(
        &store.read_blob(parent.manifest.config().digest())?,
        &format!("the config of image {}", parent.short_id()),
    )?;
    let layer_type = match opts.format {
        Format::Oci => media::oci_layer(opts.compression),
        Format::Docker => media::docker_layer(opts.compression)?,
    };
    if !upper.is_dir() {
        bail!("cannot commit {}: it is not a directory", upper.display());
    }

    let mut w = store.writer()?;
    let (blob_path, blob) = w.spool("layer")?;
    let report_path = w.scratch().join("layer.json");
    let layer_report = File::create(&report_path)
        .with_context(|| format!("cannot create {}", report_path.display()))?;
    let compression = opts.compression;
    let written = || {
        let size = blob_path.metadata().map_or(0, |m| m.len());
        report.working("writing the layer", size, None);
    };
    // Held open here: with keep-id the namespace's root may not traverse
    // the state dir's parents (see `userns::reach`).
    let upper_at =
        Reach::new(upper).with_context(|| format!("cannot commit {}", upper.display()))?;
    let diffed = run_in_userns_watching(
        map,
        src,
        move || {
            let r = diff_compressed(&upper_at.path(), blob, compression)?;
            serde_json::to_writer(&layer_report, &r)
                .map_err(|e| format!("cannot write the report: {e}"))
        },
        &written,
    );
    report.worked();
    diffed
        .map_err(crate::chain::Context::msg)
        .with_context(|| format!("cannot commit {}", upper.display()))?;
    let r: LayerReport = serde_json::from_slice(&fs_err::read(&report_path)?)
        .context("the diff helper's report is unreadable")?;
    // The helper hashed the blob as it wrote it: its digest is taken, not
    // recomputed.
    let digest = digest::parse(&r.digest).map_err(crate::chain::Context::msg)?;
    let (d, size) = w.add_spooled(&blob_path, &digest, r.size, "the committed layer")?;
    let layer = Descriptor::new(layer_type, size, d);

    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    config.config_mut().take_oci(&runtime);
    config.set_created(Some(now.clone()));
    if opts.author.is_some() {
        config.set_author(opts.author.clone());
    }
    config.rootfs_mut().diff_ids_mut().push(r.diff_id.clone());
    let mut h = History::default();
    h.set_created(Some(now));
    h.set_author(opts.author.clone());
    h.set_created_by(Some(opts.created_by.clone()));
    h.set_comment(opts.message.clone());
    config.history_mut().push(h);
    let cbytes = config.to_bytes();

    let mut layers = Vec::with_capacity(parent.manifest.layers().len() + 1);
    for l in parent.manifest.layers() {
        layers.push(renamed(l, opts.format)?);
    }
    layers.push(layer.clone());
    let image = match opts.format {
        Format::Oci => {
            let c = w.write_blob(&cbytes[..], None, "the image config")?;
            w.add_image_with_config(c, layers, &opts.names)?
        }
        Format::Docker => {
            let (cd, csize) = w.write_blob(&cbytes[..], None, "the image config")?;
            let manifest = ImageManifestBuilder::default()
                .schema_version(SCHEMA_VERSION)
                .media_type(MediaType::Other(media::DOCKER_MANIFEST.into()))
                .config(Descriptor::new(
                    MediaType::Other(media::DOCKER_CONFIG.into()),
                    csize,
                    cd,
                ))
                .layers(layers)
                .build()
                .context("cannot build the image manifest")?;
            let mbytes = serde_json::to_vec(&manifest).context("cannot encode the manifest")?;
            w.add_manifest(
                &mbytes,
                MediaType::Other(media::DOCKER_MANIFEST.into()),
                &opts.names,
            )?
        }
    };
    Ok(Committed {
        image,
        layer,
        diff_id: r.diff_id,
        warnings: r.warnings,
    })
}

/// A parent layer's descriptor in the vocabulary of the new manifest (the
/// blob is the same; only its media type's spelling changes).
fn renamed(l: &Descriptor, format: Format) -> Result<Descriptor> {
    let Some(c) = media::layer_compression(l.media_type()) else {
        // Foreign or unusual layers keep their own type.
        return Ok(l.clone());
    };
    let mt = match format {
        Format::Oci => media::oci_layer(c),
        Format::Docker => media::docker_layer(c).map_err(|e| {
            crate::chain::msg!("the parent image has a zstd layer ({}): {e}", l.digest())
        })?,
    };
    let mut d = l.clone();
    d.set_media_type(mt);
    Ok(d)
}

/// Diff `upper` into `out` compressed, in one pass: the diff reads the
/// files and hashes the tar (diff id) on this thread, a second one feeds the
/// compressor and hashes and writes its output (blob digest), and zstd
/// compresses on workers of its own (see `Compressor::fastest`). Runs inside
/// the user-namespace helper, a fresh single-threaded process.
fn diff_compressed(
    upper: &Path,
    out: Spool,
    compression: Compression,
) -> Result<LayerReport, String> {
    let (tx, rx) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    // Emptied chunks go back to the diff, which refills them: no allocation
    // (and no fresh pages to fault in) per chunk.
    let (back_tx, back_rx) = channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let packer = s.spawn(move || -> Result<Compressed, String> {
            // Fast levels (see `Compressor::fastest`): several times the
            // speed of the defaults for some more bytes, which suits a
            // snapshot taken while someone waits (containers/storage keeps
            // commits uncompressed altogether).
            let mut c = Compressor::fastest(BufWriter::with_capacity(OUT_BUF, out), compression)
                .map_err(|e| e.to_string())?;
            for chunk in rx {
                c.write_all(&chunk)
                    .map_err(|e| format!("cannot write the layer: {e}"))?;
                let _ = back_tx.send(chunk);
            }
            let (buf, info) = c.finish().map_err(|e| e.to_string())?;
            buf.into_inner()
                .map_err(|e| format!("cannot write the layer: {}", e.error()))?;
            Ok(info)
        });
        let chunks = Chunks {
            to: tx,
            back: back_rx,
        };
        let diffed = diff(upper, chunks, &DiffOptions::default());
        let packed = packer
            .join()
            .unwrap_or_else(|_| Err("the compression thread panicked".into()));
        // A failed compressor closes the channel, which the diff then reports
        // as a write error: the compressor's own error says more.
        let packed = packed?;
        let d = diffed.map_err(|e| e.to_string())?;
        Ok(LayerReport {
            diff_id: d.diff_id,
            digest: packed.digest,
            size: packed.size,
            warnings: d.warnings,
        })
    })
}

/// Chunks of tar queued for the compression thread: enough to ride out a
/// directory of small files on the diff's side or a slow write on the other.
const CHUNKS_IN_FLIGHT: usize = 8;

/// The compressed output's buffer: zstd hands over about 128 KiB at a
/// time, which goes straight through; gzip's smaller pieces are gathered.
const OUT_BUF: usize = 128 << 10;

/// A writer that hands each write to the compression thread, in a chunk
/// that thread gave back when it could.
struct Chunks {
    to: SyncSender<Vec<u8>>,
    back: Receiver<Vec<u8>>,
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut chunk = self.back.try_recv().unwrap_or_default();
        chunk.clear();
        chunk.extend_from_slice(buf);
        self.to
            .send(chunk)
            .map_err(|_| std::io::Error::other("the compression thread stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dirs::Dirs;
    use crate::layer::testutil::{Scratch, TarBuf};
    use crate::layer::unpack::Owners;
    use oci_spec::image::{
        ConfigBuilder, HistoryBuilder, ImageConfigurationBuilder, RootFsBuilder,
    };
    use std::io::Read;

    fn store(dir: &Path) -> Store {
        Store::open(&Dirs {
            store: dir.join("root"),
            state: dir.join("state"),
            config: dir.join("config"),
        })
        .unwrap()
    }

    fn parent(s: &Store) -> Image {
        let tar = TarBuf::new()
            .dir("etc/", 0o755, 1_000)
            .file("etc/passwd", b"root:x:0:0")
            .dir("opt/", 0o755, 1_000)
            .file("opt/old", b"old")
            .bytes();
        let mut w = s.writer().unwrap();
        let (desc, diff_id) = w.write_layer(&tar[..], "base layer").unwrap();
        let cfg = ImageConfigurationBuilder::default()
            .config(
                ConfigBuilder::default()
                    .cmd(vec!["sh".to_string()])
                    .build()
                    .unwrap(),
            )
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers")
                    .diff_ids(vec![diff_id.to_string()])
                    .build()
                    .unwrap(),
            )
            .history(vec![HistoryBuilder::default()
                .created_by("base")
                .build()
                .unwrap()])
            .build()
            .unwrap();
        w.add_image(&cfg, vec![desc], &["localhost/base:1".into()])
            .unwrap()
    }

    fn layer_names(s: &Store, d: &Descriptor) -> Vec<String> {
        let f = std::fs::File::open(s.blob_path(d.digest())).unwrap();
        let (_, r) = crate::layer::codec::decompressed(f).unwrap();
        let mut a = tar::Archive::new(r);
        let mut names = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut sink = Vec::new();
            e.read_to_end(&mut sink).unwrap();
            names.push(String::from_utf8_lossy(&e.path_bytes()).into_owned());
        }
        names
    }

    #[test]
    fn upper_dir_becomes_a_reproducible_layer_on_the_parent() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let base = parent(&s);
        // A synthetic upper dir: unpacking OCI whiteouts yields exactly what
        // overlayfs leaves (char 0/0 devices, the opaque xattr).
        let scratch = Scratch::new();
        let upper_tar = TarBuf::new()
            .dir("etc/", 0o755, 2_000)
            .file(".wh.opt-gone", b"")
            .file("etc/.wh.passwd", b"")
            .file("etc/motd", b"hello")
            .dir("opt/", 0o755, 2_000)
            .file("opt/.wh..wh..opq", b"")
            .file("opt/new", b"new")
            .bytes();
        scratch.unpack(&upper_tar, Owners::FromTar).unwrap();
        let src = IdSources::default();
        let opts = CommitOptions {
            message: Some("first snapshot".into()),
            author: Some("Ann <ann@example.com>".into()),
            config: None,
            changes: vec![r#"CMD ["cat", "/etc/motd"]"#.into(), "ENV A=1".into()],
            created_by: "sh -c edit".into(),
            compression: Compression::Gzip,
            format: Format::Oci,
            names: vec!["localhost/snap:1".into()],
        };
        let a = commit(
            &s,
            &scratch.dest(),
            &base,
            &scratch.map,
            &src,
            &opts,
            &crate::report::Silent,
        )
        .unwrap();
        let cfg = &a.image.config;
        assert_eq!(cfg.rootfs().diff_ids().len(), 2);
        assert_eq!(cfg.rootfs().diff_ids()[1], a.diff_id);
        assert_eq!(a.image.manifest.layers().len(), 2);
        assert_eq!(a.image.manifest.layers()[1], a.layer);
        assert_eq!(*a.layer.media_type(), MediaType::ImageLayerGzip);
        let h = cfg.history().last().unwrap();
        assert_eq!(h.comment().as_deref(), Some("first snapshot"));
        assert_eq!(h.created_by().as_deref(), Some("sh -c edit"));
        assert_eq!(h.author().as_deref(), Some("Ann <ann@example.com>"));
        let rc = cfg.config().clone().unwrap();
        assert_eq!(rc.cmd().clone().unwrap(), vec!["cat", "/etc/motd"]);
        assert_eq!(rc.env().clone().unwrap(), vec!["A=1"]);
        assert_eq!(a.image.names, vec!["localhost/snap:1"]);
        let names = layer_names(&s, &a.layer);
        assert_eq!(
            names,
            [
                ".wh.opt-gone",
                "etc/",
                "etc/.wh.passwd",
                "etc/motd",
                "opt/",
                "opt/.wh..wh..opq",
                "opt/new"
            ]
        );
        // The same change again: the same layer, byte for byte.
        let b = commit(
            &s,
            &scratch.dest(),
            &base,
            &scratch.map,
            &src,
            &opts,
            &crate::report::Silent,
        )
        .unwrap();
        assert_eq!(b.layer.digest(), a.layer.digest());
        assert_eq!(b.diff_id, a.diff_id);
        // The parent is untouched and both snapshots stay addressable.
        assert_eq!(s.image("localhost/base:1").unwrap().id, base.id);
        assert!(s.image(&a.image.id).is_ok());

        // zstd and the Docker vocabulary.
        let z = commit(
            &s,
            &scratch.dest(),
            &base,
            &scratch.map,
            &src,
            &CommitOptions {
                compression: Compression::Zstd,
                names: vec![],
                ..opts.clone()
            },
            &crate::report::Silent,
        )
        .unwrap();
        assert_eq!(*z.layer.media_type(), MediaType::ImageLayerZstd);
        assert_eq!(z.diff_id, a.diff_id, "same tar, other compression");
        let d = commit(
            &s,
            &scratch.dest(),
            &base,
            &scratch.map,
            &src,
            &CommitOptions {
                format: Format::Docker,
                names: vec![],
                // Another config: an image id already stored keeps its manifest.
                message: Some("docker flavour".into()),
                ..opts.clone()
            },
            &crate::report::Silent,
        )
        .unwrap();
        let m =
            std::fs::read(s.blob_path(&digest::parse(&d.image.manifest_digest).unwrap())).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(v["mediaType"], media::DOCKER_MANIFEST);
        assert_eq!(
            v["layers"][0]["mediaType"],
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        );
    }

    #[test]
    fn docker_keys_and_unknown_keys_of_the_parent_stay() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let tar = TarBuf::new().file("a", b"a").bytes();
        let mut w = s.writer().unwrap();
        let (desc, diff_id) = w.write_layer(&tar[..], "base layer").unwrap();
        let raw = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["sh"],"Image":"x","Volumes":null,"Labels":{{"b":"1","a":"2"}},"Healthcheck":{{"Test":["CMD","true"],"Retries":2}},"OnBuild":["RUN x"],"Shell":["/bin/bash","-c"]}},"container":"c1","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"history":[{{"created_by":"base","extra":1}}]}}"#
        );
        let c = w.write_blob(raw.as_bytes(), None, "config").unwrap();
        let base = w.add_image_with_config(c, vec![desc], &[]).unwrap();
        let scratch = Scratch::new();
        scratch
            .unpack(&TarBuf::new().file("b", b"b").bytes(), Owners::FromTar)
            .unwrap();
        let opts = CommitOptions {
            message: None,
            author: None,
            config: None,
            changes: vec!["LABEL c=3 a=4".into()],
            created_by: "sh".into(),
            compression: Compression::Gzip,
            format: Format::Oci,
            names: vec![],
        };
        let src = IdSources::default();
        let map = &scratch.map;
        let done = commit(
            &s,
            &scratch.dest(),
            &base,
            map,
            &src,
            &opts,
            &crate::report::Silent,
        );
        let cfg = s.read_blob(done.unwrap().image.manifest.config().digest());
        let v: serde_json::Value = serde_json::from_slice(&cfg.unwrap()).unwrap();
        let c = &v["config"];
        assert_eq!(c["Healthcheck"]["Retries"], 2);
        assert_eq!(c["OnBuild"][0], "RUN x");
        assert_eq!(c["Shell"][1], "-c");
        assert_eq!(
            (&c["Image"], &c["Volumes"]),
            (&"x".into(), &serde_json::Value::Null)
        );
        assert_eq!(v["container"], "c1");
        assert_eq!(v["history"][0]["extra"], 1);
        let labels: Vec<_> = c["Labels"].as_object().unwrap().iter().collect();
        assert_eq!(
            format!("{labels:?}"),
            r#"[("b", String("1")), ("a", String("4")), ("c", String("3"))]"#
        );
    }

    #[test]
    fn the_containers_command_env_user_and_workdir_are_committed() {
        let image = ConfigBuilder::default()
            .entrypoint(vec!["/init".to_string()])
            .cmd(vec!["sh".to_string()])
            .env(vec!["PATH=/bin".to_string()])
            .user("app")
            .build()
            .unwrap();
        let ran = crate::container::Config {
            env: vec!["PATH=/bin".into(), "A=1".into()],
            workdir: "/".into(),
            entrypoint: Some(vec!["/init".into()]),
            cmd: Some(vec!["echo".into(), "hi".into()]),
            ..Default::default()
        };
        let c = container_config(&image, &ran);
        assert_eq!(c.entrypoint().as_deref(), Some(&["/init".to_string()][..]));
        assert_eq!(c.cmd().clone().unwrap(), ["echo", "hi"]);
        assert_eq!(c.env().clone().unwrap(), ["PATH=/bin", "A=1"]);
        assert_eq!(c.user().as_deref(), Some("app"), "the image's user stays");
        assert_eq!(c.working_dir(), &None, "run's default / is not recorded");
        // --entrypoint "" with -u and -w.
        let ran = crate::container::Config {
            user: Some("1:2".into()),
            workdir: "/srv".into(),
            entrypoint: Some(vec![]),
            cmd: Some(vec!["id".into()]),
            ..ran
        };
        let c = container_config(&image, &ran);
        assert_eq!(c.entrypoint(), &None);
        assert_eq!(c.cmd().clone().unwrap(), ["id"]);
        assert_eq!(c.user().as_deref(), Some("1:2"));
        assert_eq!(c.working_dir().as_deref(), Some("/srv"));
        // A record from before hutch kept the command: the image's.
        let old = crate::container::Config {
            entrypoint: None,
            cmd: None,
            ..ran
        };
        assert_eq!(
            container_config(&image, &old).cmd().clone().unwrap(),
            ["sh"]
        );
    }

    #[test]
    fn bad_input_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let base = parent(&s);
        let before = s.images().unwrap().len();
        let src = IdSources::default();
        let map = IdMapping::detect(Default::default(), &src).unwrap();
        let opts = CommitOptions {
            message: None,
            author: None,
            config: None,
            changes: vec!["RUN rm -rf /".into()],
            created_by: String::new(),
            compression: Compression::Gzip,
            format: Format::Oci,
            names: vec![],
        };
        let e = commit(
            &s,
            dir.path(),
            &base,
            &map,
            &src,
            &opts,
            &crate::report::Silent,
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot be changed"), "{e}");
        let e = commit(
            &s,
            &dir.path().join("missing"),
            &base,
            &map,
            &src,
            &CommitOptions {
                changes: vec![],
                ..opts.clone()
            },
            &crate::report::Silent,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
        let e = commit(
            &s,
            dir.path(),
            &base,
            &map,
            &src,
            &CommitOptions {
                changes: vec![],
                compression: Compression::Zstd,
                format: Format::Docker,
                ..opts
            },
            &crate::report::Silent,
        )
        .unwrap_err();
        assert!(e.to_string().contains("zstd"), "{e}");
        assert_eq!(s.images().unwrap().len(), before);
    }
}
