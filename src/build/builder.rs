//! The builder: runs the planned stages step by step, looks each step up in
//! the cache, executes the misses, stores every step's result as a pinned
//! image and names the final one.
//!
//! Steps flow one way: the parsed Dockerfile and the scope give the
//! expanded instruction and the build args it uses; the context gives the
//! input hash; those and the parent image id give the cache key; a miss
//! runs the executor (`steps`) and the result goes to the store through
//! one `Writer`. A step that misses runs under the store's lock for its
//! key, so a concurrent build of the same step waits and takes the hit.
//! A failing step leaves the results of the steps before it
//! in the cache, stages nothing else and tags nothing.
//!
//! It owns progress lines (`STEP n/m: ...`, `--> CACHED`); it must not
//! parse Dockerfile text nor touch store files directly.

use super::cache::{self, KeyParts};
use super::context::BuildContext;
use super::imagefs::{FsKind, ImageFs};
use super::plan::{plan, stage_ref};
use super::steps::fetch;
use super::steps::files::{FileStep, Resolved};
use super::steps::run::{self, RunEnv, RunStep};
use super::steps::tree::{Item, Node, Tree};
use super::steps::{meta, owner};
use crate::build::error::{FileError, StepError};
use crate::build::{Error, Result};
use crate::chain::{bail, msg, WithContext as _};
use crate::dockerfile::{self, BuildArgs, Dockerfile, Instruction, MountKind, Source, Spanned};
use crate::net::plan::NetFlags;
use crate::oci::imageconfig::{History, ImageConfig, RootFs, RunConfig};
use crate::report::{Counted, Report};
use crate::rootfs::DriverKind;
use crate::store::{Image, Store, Writer};
use oci_spec::image::Descriptor;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// Finds (and, by the caller's `--pull` policy, pulls) the images FROM and
/// `COPY --from` name. The CLI supplies it, so that this module needs no
/// registry.
pub type Images<'a> = &'a dyn Fn(&str) -> Result<Image>;

/// What to build.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Its name in messages (`Dockerfile`, `build/Containerfile`, `-`).
    pub file_name: String,
    /// Its path, for the `<Dockerfile>.dockerignore` lookup.
    pub dockerfile_path: Option<PathBuf>,
    /// The context directory; None when there is none (`hutch build -`).
    pub context: Option<PathBuf>,
    /// Full names for the result.
    pub names: Vec<String>,
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// Labels added to the final image.
    pub labels: Vec<(String, String)>,
    /// The state dir (kernel feature cache, skeleton layer) RUN needs.
    pub state: PathBuf,
    /// The network for RUN steps that do not ask for one.
    pub network: NetFlags,
    /// `--secret id=ID,src=FILE`: secret files by id.
    pub secrets: BTreeMap<String, PathBuf>,
    /// The storage driver for RUN steps; None: the first that works here.
    pub storage_driver: Option<DriverKind>,
}

/// The Linux PATH buildkit gives images built from scratch.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PLATFORM: &str = "linux/amd64";

/// A step's new layer: files to write out, or a tar a RUN produced.
enum Layer {
    Tree(Tree),
    Tar(PathBuf),
}

/// What a step reads besides its parent image, gathered before its cache
/// key is known.
#[derive(Default)]
struct StepInputs<'i> {
    /// The cache key's inputs (content hashes, image ids, download digests).
    inputs: Vec<String>,
    /// COPY or ADD: what to place where.
    file_step: Option<FileStep<'i>>,
    /// `COPY --from`: the stage's or image's result (None: scratch).
    from_image: Option<Option<Image>>,
    /// The context sources a COPY/ADD matched.
    resolved: Option<Resolved>,
    /// `ADD URL` without a checksum, downloaded to learn its digest.
    download: Option<fetch::Fetched>,
    /// RUN `--mount=type=bind,from=`: mount index → image (None: scratch).
    bind_from: BTreeMap<usize, Option<Image>>,
    /// ADD of a URL.
    is_url: bool,
}

/// Where a stage is, step after step.
#[derive(Clone)]
struct State {
    config: ImageConfig,
    /// The stored image of the last step (or the base image); None while a
    /// scratch stage has no step yet.
    image: Option<Image>,
    layers: Vec<Descriptor>,
    cmd_set: bool,
    /// The stage's ARGs at its end, inherited by stages built FROM it.
    args: BTreeMap<String, Option<String>>,
}

impl State {
    fn id(&self) -> &str {
        self.image.as_ref().map_or("scratch", |i| i.id.as_str())
    }

    fn workdir(&self) -> String {
        self.config.working_dir().to_string()
    }
}

struct Builder<'a> {
    store: &'a Store,
    opts: &'a Options,
    images: Images<'a>,
    report: &'a dyn Report,
    df: &'a Dockerfile,
    ctx: BuildContext,
    writer: Writer<'a>,
    /// Image trees already read in this build, by image id (and whether
    /// file contents were kept).
    trees: HashMap<(String, bool), Rc<ImageFs>>,
    step: usize,
    total: usize,
    /// RUN steps executed so far (names their scratch dirs).
    runs: usize,
}

/// `Dockerfile:LINE: INSTRUCTION: why`.
fn at(file: &str, ins: &Spanned<Instruction>, why: Error) -> Error {
    Error::Instruction {
        file: file.to_string(),
        line: ins.span.start,
        instruction: ins.original.clone(),
        why: Box::new(why),
    }
}

/// Take the `OnBuild` triggers out of a base image's config, parsed as a
/// Dockerfile whose errors name the image (`IMAGE ONBUILD:2: ...`, line 1
/// being the implicit FROM before the first trigger).
fn onbuild_triggers(config: &mut ImageConfig, image: &str) -> Result<Option<Dockerfile>> {
    if config.config().is_none() {
        return Ok(None);
    }
    let run = config.config_mut();
    let triggers = run.on_build().cloned().unwrap_or_default();
    run.set_on_build(None);
    if triggers.is_empty() {
        return Ok(None);
    }
    let text = format!("FROM scratch\n{}\n", triggers.join("\n"));
    let parsed = dockerfile::parse(&text, &format!("{image} ONBUILD"))?;
    Ok(Some(parsed))
}

/// Build according to `opts`; returns the named final image.
pub fn build(
    store: &Store,
    opts: &Options,
    images: Images<'_>,
    report: &dyn Report,
) -> Result<Image> {
    build_tracked(store, opts, images, report).map(|(image, _)| image)
}

/// [`build`], also returning every context path the build read (what
/// its cache keys depend on besides the Dockerfile, the build args and
/// the base images).
pub fn build_tracked(
    store: &Store,
    opts: &Options,
    images: Images<'_>,
    report: &dyn Report,
) -> Result<(Image, Vec<super::context::ReadPath>)> {
    let df = dockerfile::parse(&opts.dockerfile, &opts.file_name)?;
    for w in &df.warnings {
        report.warn(&format!("{}: {w:?}", df.file));
    }
    let plan = plan(&df, opts.target.as_deref()).map_err(crate::chain::Context::msg)?;
    let ctx = BuildContext::open(
        opts.context.as_deref(),
        opts.dockerfile_path.as_deref(),
        store.root.join("cache/context-hashes.json"),
    )?;
    let total = plan
        .stages
        .iter()
        .map(|i| df.stages[*i].instructions.len() + 1)
        .sum();
    let mut b = Builder {
        store,
        opts,
        images,
        report,
        df: &df,
        ctx,
        writer: store.writer()?,
        trees: HashMap::new(),
        step: 0,
        total,
        runs: 0,
    };
    let build_args = BuildArgs {
        values: opts.build_args.clone(),
        ..BuildArgs::default()
    };
    let global = df.global_scope(&build_args)?;
    let mut done: HashMap<usize, State> = HashMap::new();
    for &i in &plan.stages {
        let st = b.stage(i, &global, &build_args, &done)?;
        done.insert(i, st);
    }
    b.ctx.save();
    let mut last = done
        .remove(&plan.target)
        .expect("the target stage is always planned");
    let reads = b.ctx.reads();
    Ok((b.finish(&mut last)?, reads))
}

impl<'a> Builder<'a> {
    fn stage(
        &mut self,
        i: usize,
        global: &BTreeMap<String, String>,
        build_args: &BuildArgs,
        done: &HashMap<usize, State>,
    ) -> Result<State> {
        let df = self.df;
        let stage = &df.stages[i];
        let from = df.base(stage, global)?;
        self.step += 1;
        let from_text = stage.from.image.clone();
        self.report.info(&format!(
            "STEP {}/{}: FROM {}{}",
            self.step,
            self.total,
            from.image,
            stage
                .name
                .as_deref()
                .map(|n| format!(" AS {n}"))
                .unwrap_or_default()
        ));
        let where_ = format!("{}:{}: FROM {from_text}", df.file, stage.span.start);
        let mut st = if from.image == "scratch" {
            State {
                config: scratch_config(),
                image: None,
                layers: vec![],
                cmd_set: false,
                args: BTreeMap::new(),
            }
        } else if let Some(j) = stage_named(df, &from.image, i) {
            let mut s = done
                .get(&j)
                .cloned()
                .ok_or_else(|| msg!("{where_}: stage {} was not built", from.image))?;
            s.cmd_set = false;
            s
        } else {
            let image = self
                .base_image(&from.image)
                .with_context(|| where_.clone())?;
            self.state_of(image)?
        };
        if let Some(p) = from.platform.as_deref().filter(|p| *p != PLATFORM) {
            bail!("{where_}: platform {p} cannot be built here (only {PLATFORM})");
        }
        // The base image's ONBUILD triggers run first, as Docker does, and
        // are not passed on to this image.
        let triggers = onbuild_triggers(&mut st.config, &from.image)?;
        self.total += triggers
            .as_ref()
            .map_or(0, |t| t.stages[0].instructions.len());
        let trigger_steps = triggers.iter().flat_map(|t| {
            t.stages[0]
                .instructions
                .iter()
                .map(move |ins| (t.file.as_str(), ins))
        });
        let own_steps = stage.instructions.iter().map(|ins| (df.file.as_str(), ins));
        let mut scope = df.scope(global, build_args, st.config.env_pairs());
        scope.inherit(std::mem::take(&mut st.args));
        for (file, ins) in trigger_steps.chain(own_steps) {
            self.step += 1;
            self.report.info(&format!(
                "STEP {}/{}: {}",
                self.step, self.total, ins.original
            ));
            let used = scope.used_args(&ins.node);
            let expanded = scope.apply(ins)?;
            if let Instruction::Arg(_) = expanded {
                continue;
            }
            let started = Instant::now();
            let cached = self
                .step_one(i, ins, &expanded, &used, &scope.run_env(), &mut st, done)
                .map_err(|e| at(file, ins, e))?;
            if cached {
                self.report.info("--> CACHED");
            } else {
                self.report
                    .info(&format!("--> {:.2}s", started.elapsed().as_secs_f64()));
            }
            st.cmd_set |= matches!(expanded, Instruction::Cmd(_));
        }
        st.args = scope.args().clone();
        Ok(st)
    }

    /// A base image, as the caller's resolver finds it.
    fn base_image(&self, name: &str) -> Result<Image> {
        (self.images)(name)
    }

    fn state_of(&self, image: Image) -> Result<State> {
        let cd = image.manifest.config().digest().clone();
        let bytes = self.store.read_blob(&cd)?;
        let config =
            ImageConfig::parse(&bytes, &format!("the config of image {}", image.short_id()))?;
        Ok(State {
            config,
            layers: image.manifest.layers().clone(),
            image: Some(image),
            cmd_set: false,
            args: BTreeMap::new(),
        })
    }

    /// The image a `--from` names: an earlier stage's result or an image.
    fn image_named(
        &self,
        name: &str,
        stage: usize,
        done: &HashMap<usize, State>,
    ) -> Result<Option<Image>> {
        Ok(match stage_ref(self.df, name, stage) {
            Some(j) => done
                .get(&j)
                .ok_or_else(|| msg!("stage {name} was not built"))?
                .image
                .clone(),
            None => Some(self.base_image(name)?),
        })
    }

    /// The tree of an image (contents kept for all files with `full`).
    fn tree(&mut self, image: Option<&Image>, full: bool) -> Result<Rc<ImageFs>> {
        let id = image.map_or("scratch".to_string(), |i| i.id.clone());
        if let Some(t) = self.trees.get(&(id.clone(), full)) {
            return Ok(t.clone());
        }
        let keep: &dyn Fn(&str) -> bool = if full { &|_| true } else { &owner::wanted };
        let t = Rc::new(ImageFs::load(self.store, image, keep)?);
        self.trees.insert((id, full), t.clone());
        Ok(t)
    }

    /// Run one step (or find it in the cache). Returns whether it was cached.
    #[allow(clippy::too_many_arguments)]
    fn step_one(
        &mut self,
        stage: usize,
        ins: &Spanned<Instruction>,
        expanded: &Instruction,
        used: &BTreeMap<String, String>,
        run_env: &[(String, String)],
        st: &mut State,
        done: &HashMap<usize, State>,
    ) -> Result<bool> {
        let workdir = st.workdir();
        let reads = self.step_inputs(stage, expanded, &workdir, done)?;
        let text = expanded.to_string();
        let key = cache::key(&KeyParts {
            platform: PLATFORM,
            parent: st.id(),
            instruction: &text,
            used_args: used,
            inputs: &reads.inputs,
        });
        // Held until the result is pinned: a concurrent build of the same
        // step waits here and then takes the cache hit.
        let _running = if self.opts.no_cache {
            None
        } else {
            if self.cached(&key, st)? {
                return Ok(true);
            }
            let held = self.store.lock_step(&key, || {
                self.report
                    .info("--> waiting for another build running this step")
            })?;
            if self.cached(&key, st)? {
                return Ok(true);
            }
            Some(held)
        };
        let mut config = st.config.clone();
        let layer = match (reads.file_step, expanded) {
            (None, Instruction::Run(r)) => {
                let layer = self.run_step(r, &config, run_env, st, reads.bind_from)?;
                layer.map(Layer::Tar)
            }
            (Some(f), Instruction::Add(a)) if reads.is_url => {
                Some(self.add_url_step(&f, a, st, reads.download)?)
            }
            (Some(f), _) => Some(self.files_step(&f, reads.resolved, reads.from_image, st)?),
            (None, Instruction::Workdir(dir)) => {
                let abs = meta::resolve_workdir(&config, dir);
                meta::apply(&mut config, &Instruction::Workdir(abs.clone()), st.cmd_set)
                    .map_err(crate::chain::Context::msg)?;
                let lower = self.tree(st.image.as_ref(), false)?;
                Some(Layer::Tree(
                    workdir_tree(&lower, &abs).map_err(FileError::Step)?,
                ))
            }
            (None, other) => {
                meta::apply(&mut config, other, st.cmd_set).map_err(crate::chain::Context::msg)?;
                None
            }
        };
        self.commit(&key, st, config, layer, &ins.original)?;
        Ok(false)
    }

    /// Take the step pinned under `key`, if any, as the stage's state.
    fn cached(&self, key: &str, st: &mut State) -> Result<bool> {
        let Some(hit) = self.store.pinned(key) else {
            return Ok(false);
        };
        let cmd_set = st.cmd_set;
        *st = self.state_of(hit)?;
        st.cmd_set = cmd_set;
        Ok(true)
    }

    /// What a step reads besides its parent image: the inputs of its cache
    /// key, and what executing it needs of them.
    fn step_inputs<'i>(
        &mut self,
        stage: usize,
        expanded: &'i Instruction,
        workdir: &'i str,
        done: &HashMap<usize, State>,
    ) -> Result<StepInputs<'i>> {
        let mut reads = StepInputs {
            is_url: matches!(expanded, Instruction::Add(a) if a.sources.iter().any(|s| matches!(s, Source::Path(p) if fetch::is_url(p)))),
            ..StepInputs::default()
        };
        reads.file_step = match expanded {
            Instruction::Copy(c) => {
                if !c.excludes.is_empty() || c.parents {
                    bail!("COPY --exclude and --parents are not supported yet");
                }
                if let Some(f) = &c.from {
                    let img = self.image_named(f, stage, done)?;
                    reads.inputs.push(format!(
                        "from {}",
                        img.as_ref().map_or("scratch", |i| i.id.as_str())
                    ));
                    reads.from_image = Some(img);
                }
                Some(FileStep {
                    add: false,
                    sources: &c.sources,
                    dest: &c.dest,
                    chown: c.chown.as_deref(),
                    chmod: c.chmod.as_deref(),
                    checksum: None,
                    workdir,
                })
            }
            Instruction::Add(a) if !a.excludes.is_empty() => {
                bail!("ADD --exclude is not supported yet")
            }
            Instruction::Add(a) => {
                if reads.is_url {
                    self.add_url_inputs(a, &mut reads)?;
                }
                Some(FileStep {
                    add: true,
                    sources: &a.sources,
                    dest: &a.dest,
                    chown: a.chown.as_deref(),
                    chmod: a.chmod.as_deref(),
                    checksum: a.checksum.as_deref(),
                    workdir,
                })
            }
            Instruction::Run(r) => {
                self.bind_inputs(r, stage, done, &mut reads)?;
                None
            }
            _ => None,
        };
        if let (Some(f), None, false) = (&reads.file_step, &reads.from_image, reads.is_url) {
            let r = f.resolve(&self.ctx)?;
            reads.inputs.push(format!(
                "context {}",
                self.ctx.hash(&r.matched, self.report)?
            ));
            reads.resolved = Some(r);
        }
        Ok(reads)
    }

    /// `ADD URL`: with a checksum the content is known without downloading,
    /// so a cached step costs no request (buildkit does the same); without
    /// one, the download's digest is the input.
    fn add_url_inputs(&mut self, a: &dockerfile::Add, reads: &mut StepInputs<'_>) -> Result<()> {
        let [Source::Path(url)] = &a.sources[..] else {
            bail!("ADD with a URL takes that one source only");
        };
        match &a.checksum {
            Some(c) => {
                fetch::check_checksum(c)?;
                reads.inputs.push(format!("url {c}"));
            }
            None => {
                let f = fetch::fetch(url, self.writer.scratch(), None)?;
                reads.inputs.push(format!("url {}", f.digest));
                reads.download = Some(f);
            }
        }
        Ok(())
    }

    /// What a RUN's bind mounts show is an input (from the context, or from
    /// a stage or image); cache mount contents and secrets are not, as in
    /// buildkit.
    fn bind_inputs(
        &mut self,
        r: &dockerfile::Run,
        stage: usize,
        done: &HashMap<usize, State>,
        reads: &mut StepInputs<'_>,
    ) -> Result<()> {
        for (i, m) in r.mounts.iter().enumerate() {
            if m.kind != MountKind::Bind {
                continue;
            }
            let src = m.source.as_deref().unwrap_or(".");
            match &m.from {
                None => {
                    let matched = self.ctx.resolve(src)?;
                    reads.inputs.push(format!(
                        "bind {src} {}",
                        self.ctx.hash(&matched, self.report)?
                    ));
                }
                Some(f) => {
                    let img = self.image_named(f, stage, done)?;
                    reads.inputs.push(format!(
                        "bind from {} {src}",
                        img.as_ref().map_or("scratch", |i| i.id.as_str())
                    ));
                    reads.bind_from.insert(i, img);
                }
            }
        }
        Ok(())
    }

    /// Execute a RUN over the stage's image; its changes as a layer tar.
    fn run_step(
        &mut self,
        r: &dockerfile::Run,
        config: &ImageConfig,
        run_env: &[(String, String)],
        st: &State,
        bind_from: BTreeMap<usize, Option<Image>>,
    ) -> Result<run::RunLayer> {
        let lower = self.tree(st.image.as_ref(), false)?;
        let mut bind_trees = BTreeMap::new();
        for (i, img) in &bind_from {
            bind_trees.insert(*i, self.tree(img.as_ref(), true)?);
        }
        self.runs += 1;
        let env = RunEnv {
            store: self.store,
            state: &self.opts.state,
            scratch: self.writer.scratch(),
            report: self.report,
            network: self.opts.network.clone(),
            secrets: &self.opts.secrets,
            context: self.opts.context.as_deref(),
            storage_driver: self.opts.storage_driver,
        };
        let step = RunStep {
            run: r,
            shell: config.shell(),
            env: run_env.to_vec(),
            user: config.config().and_then(RunConfig::user).cloned(),
            workdir: st.workdir(),
            bind_from: bind_trees,
        };
        run::execute(&env, &step, st.image.as_ref(), &lower, self.runs)
    }

    /// `ADD URL`: the download (made while gathering inputs, or now on a
    /// cache miss with a checksum) placed as the layer.
    fn add_url_step(
        &mut self,
        f: &FileStep<'_>,
        a: &dockerfile::Add,
        st: &State,
        download: Option<fetch::Fetched>,
    ) -> Result<Layer> {
        let lower = self.tree(st.image.as_ref(), false)?;
        let fetched = match download {
            Some(d) => d,
            None => {
                let [Source::Path(url)] = &a.sources[..] else {
                    bail!("ADD with a URL takes that one source only");
                };
                fetch::fetch(url, self.writer.scratch(), a.checksum.as_deref())?
            }
        };
        Ok(Layer::Tree(
            f.place_download(&fetched, &lower)
                .map_err(FileError::Step)?,
        ))
    }

    /// COPY and ADD of files from the context, a stage or an image.
    fn files_step(
        &mut self,
        f: &FileStep<'_>,
        resolved: Option<Resolved>,
        from_image: Option<Option<Image>>,
        st: &State,
    ) -> Result<Layer> {
        let lower = self.tree(st.image.as_ref(), false)?;
        let from = match &from_image {
            Some(img) => Some(self.tree(img.as_ref(), true)?),
            None => None,
        };
        Ok(Layer::Tree(f.run(
            resolved.as_ref(),
            from.as_deref(),
            &lower,
        )?))
    }

    /// Store a step's result: its layer (if any), the config with its
    /// history entry, pinned under `key`.
    fn commit(
        &mut self,
        key: &str,
        st: &mut State,
        mut config: ImageConfig,
        layer: Option<Layer>,
        created_by: &str,
    ) -> Result<()> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut layers = st.layers.clone();
        let mut history = History::default();
        history.set_created(Some(now.clone()));
        history.set_created_by(Some(created_by.to_string()));
        history.set_comment(Some("hutch build".into()));
        let tar = match layer {
            Some(Layer::Tree(t)) if !t.is_empty() => {
                let mut tmp = tempfile::tempfile_in(self.writer.scratch())
                    .context("cannot create a temp file for the layer")?;
                t.write(std::io::BufWriter::new(&mut tmp))?;
                use std::io::Seek;
                tmp.rewind()?;
                Some(tmp)
            }
            Some(Layer::Tar(path)) => {
                let f = std::fs::File::open(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                // Unlinked now: the open file is all the writer needs.
                let _ = std::fs::remove_file(&path);
                Some(f)
            }
            _ => None,
        };
        match tar {
            Some(tmp) => {
                let size = tmp.metadata().ok().map(|m| m.len());
                let tar = Counted::new(
                    std::io::BufReader::new(tmp),
                    self.report,
                    "exporting the layer",
                    size,
                );
                let written = self.writer.write_layer(tar, "the new layer");
                self.report.worked();
                let (desc, diff_id) = written?;
                layers.push(desc);
                if config.rootfs().is_none() {
                    config.set_rootfs(Some(layers_rootfs()));
                }
                config.rootfs_mut().diff_ids_mut().push(diff_id.to_string());
            }
            None => history.set_empty_layer(Some(true)),
        }
        config.set_created(Some(now));
        config.history_mut().push(history);
        let bytes = config.to_bytes();
        let image = self.writer.pin(key, &bytes, layers.clone())?;
        st.config = config;
        st.layers = layers;
        st.image = Some(image);
        Ok(())
    }

    /// Name the final image (with `--label`s added).
    fn finish(mut self, st: &mut State) -> Result<Image> {
        if !self.opts.labels.is_empty() {
            let mut config = st.config.clone();
            let labels: Vec<crate::dockerfile::KeyValue> = self
                .opts
                .labels
                .iter()
                .map(|(k, v)| crate::dockerfile::KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect();
            meta::apply(&mut config, &Instruction::Label(labels), true)
                .map_err(crate::chain::Context::msg)?;
            st.config = config;
            st.image = None;
        }
        let config = match &st.image {
            Some(im) => {
                let d = im.manifest.config().digest().clone();
                (d, im.manifest.config().size())
            }
            None => {
                let bytes = st.config.to_bytes();
                self.writer
                    .write_blob(&bytes[..], None, "the image config")?
            }
        };
        let image =
            self.writer
                .add_image_with_config(config, st.layers.clone(), &self.opts.names)?;
        for n in &image.names {
            if self.opts.names.contains(n) {
                self.report.info(&format!("Successfully tagged {n}"));
            }
        }
        Ok(image)
    }
}

/// The config a stage FROM scratch starts with.
fn scratch_config() -> ImageConfig {
    let mut c = ImageConfig::default();
    c.set_architecture(Some("amd64".into()));
    c.set_os(Some("linux".into()));
    c.config_mut().set_env(Some(vec![DEFAULT_PATH.to_string()]));
    c.set_rootfs(Some(layers_rootfs()));
    c.set_history(Some(vec![]));
    c
}

/// `{"type": "layers", "diff_ids": []}`.
fn layers_rootfs() -> RootFs {
    let mut r = RootFs::default();
    r.set_typ(Some("layers".into()));
    r.set_diff_ids(Some(vec![]));
    r
}

/// A stage of this file named like a FROM image (only names count there).
fn stage_named(df: &Dockerfile, image: &str, before: usize) -> Option<usize> {
    let lower = image.to_ascii_lowercase();
    df.stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
}

/// The directories WORKDIR must create: each missing element of `abs`,
/// owned by root with mode 0755 (mtime 0 keeps the layer reproducible).
/// An element the image has as a file (or anything else but a directory)
/// is an error, as Docker's `mkdir ...: not a directory`, not a directory
/// put over it.
fn workdir_tree(lower: &ImageFs, abs: &str) -> std::result::Result<Tree, StepError> {
    let mut tree = Tree::default();
    let mut cur = String::new();
    for part in abs.split('/').filter(|p| !p.is_empty()) {
        cur = if cur.is_empty() {
            part.to_string()
        } else {
            format!("{cur}/{part}")
        };
        let resolved = lower.resolve(&cur, true).unwrap_or_else(|| cur.clone());
        match lower.get(&resolved).map(|n| &n.kind) {
            Some(FsKind::Dir) => {}
            Some(_) => return Err(StepError::WorkdirNotDir(resolved)),
            // A link to `/` resolves to the root, which is no node.
            None if resolved.is_empty() => {}
            None => tree.put(
                &resolved,
                Item {
                    node: Node::Dir,
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                    mtime: 0,
                    inode: None,
                },
            ),
        }
        cur = resolved;
    }
    super::steps::copy::keep_parents(&mut tree, lower);
    Ok(tree)
}
