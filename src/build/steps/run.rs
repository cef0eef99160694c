//! The RUN executor: runs the command in the sandbox over the parent
//! image's layers with a fresh upper directory, then turns that upper
//! directory into the step's layer tar with `layer::diff`.
//!
//! The process gets the stage's environment (ENV, then ARGs), SHELL, USER
//! and WORKDIR, the network asked for (`--network`, else the build's
//! default) and the `--mount`s: `cache` (a persistent directory under
//! `ROOT/cache/mounts/`, shared, locked or private via flock), `bind` (read
//! only from the context; from a stage or image, a copy of its source that
//! `rw` makes writable and that is thrown away after), `tmpfs` and `secret` (a `--secret` file, bound
//! read-only; never part of the cache key or the layer). Mount points the
//! image did not have are removed from the upper dir before the diff, so
//! they do not end up in the layer.
//!
//! On the copy storage driver there is no upper dir: one is made from the
//! copy (`rootfs::copy::changes`) before the diff.
//!
//! The diff and the clean-up run inside the user namespace because the
//! upper dir holds files owned by subordinate ids. It does not store the
//! layer (the builder does) and must not touch the image store otherwise.

use super::copy;
use super::tree::Data;
use crate::build::ignore::clean;
use crate::build::imagefs::ImageFs;
use crate::build::Result;
use crate::chain::{bail, msg, WithContext};
use crate::container::launch::{sandbox_spec, Drivers, Settings};
use crate::dockerfile::{Mount, MountKind, Network as RunNetwork, Run, RunBody, Security, Sharing};
use crate::layer::diff::{diff, DiffOptions};
use crate::net::plan::{HostEnv, NetFlags};
use crate::net::Network;
use crate::report::Report;
use crate::rootfs::{DriverKind, Overlay};
use crate::sandbox::{self, MountSpec, Plan, ProcessSpec};
use crate::store::{Image, Store};
use crate::sys::flock::{self, Held, Mode};
use crate::sys::stdio::Redirect;
use crate::userns::idmap::{IdMapping, IdSources, MapMode, UsernsRequest};
use crate::userns::run_in_userns;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What every RUN of a build shares.
pub struct RunEnv<'a> {
    pub store: &'a Store,
    /// The state dir (kernel feature cache, the skeleton layer).
    pub state: &'a Path,
    /// Scratch space on the store's filesystem for upper dirs.
    pub scratch: &'a Path,
    /// Also says when RUN output goes nowhere (`-q`: `Report::quiet`).
    pub report: &'a dyn Report,
    /// The build's `--network`, for RUNs that do not say.
    pub network: NetFlags,
    /// `--secret id=...,src=...`.
    pub secrets: &'a BTreeMap<String, PathBuf>,
    pub context: Option<&'a Path>,
    /// The storage driver asked for; None: the first that works here.
    pub storage_driver: Option<DriverKind>,
}

/// One RUN, expanded, with the stage's settings.
pub struct RunStep<'a> {
    pub run: &'a Run,
    pub shell: Vec<String>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub workdir: String,
    /// The trees of the stages or images `--mount=type=bind,from=` names,
    /// by mount index.
    pub bind_from: BTreeMap<usize, Rc<ImageFs>>,
}

impl RunStep<'_> {
    /// The argv: exec form as is, a shell form or heredoc script through
    /// the SHELL, a heredoc script with a `#!` line run directly from
    /// [`SCRIPTS`] so that its interpreter runs it (as buildkit does).
    pub fn argv(&self) -> Vec<String> {
        match self.run.body() {
            RunBody::Exec(args) => args.to_vec(),
            RunBody::Shell(s) => {
                let mut v = self.shell.clone();
                v.push(s);
                v
            }
            RunBody::Script(doc) => match self.shebang_script() {
                Some((name, _)) => vec![format!("{SCRIPTS}/{name}")],
                None => {
                    let mut v = self.shell.clone();
                    v.push(doc.body().into_owned());
                    v
                }
            },
        }
    }

    /// A heredoc script that names its own interpreter: (name, body).
    fn shebang_script(&self) -> Option<(String, String)> {
        match self.run.body() {
            RunBody::Script(doc) if doc.body().starts_with("#!") => {
                Some((doc.name.clone(), doc.body().into_owned()))
            }
            _ => None,
        }
    }
}

/// Where `#!` heredoc scripts are mounted: the sandbox's /dev is a tmpfs,
/// so neither the script nor its mount point can end up in the layer.
const SCRIPTS: &str = "/dev/pipes";

/// Said before each RUN of a user without subordinate ids.
const FAKE_ROOT_NOTE: &str =
    "--> fake root (no subordinate ids): chown, setuid/setgid/setgroups and device nodes succeed without effect";

/// Added to a failed RUN's error in fake-root mode.
const FAKE_ROOT_HINT: &str = " (fake root, as this user has no subordinate ids: files stay \
     owned by root and user switches only pretend to work; if the command failed on chown, \
     setgroups or a user switch, give the user ranges in /etc/subuid and /etc/subgid)";

/// The layer a RUN made: a tar file in scratch space, or None when the
/// command changed nothing.
pub type RunLayer = Option<PathBuf>;

fn cache_dir(root: &Path, id: &str) -> PathBuf {
    let h = hex::encode(Sha256::digest(id.as_bytes()));
    root.join("cache/mounts").join(&h[..32])
}

/// Run `step` on `image` (None: scratch). `lower` is the image's tree, used
/// to tell which mount points the RUN itself created.
pub fn execute(
    env: &RunEnv<'_>,
    step: &RunStep<'_>,
    image: Option<&Image>,
    lower: &ImageFs,
    n: usize,
) -> Result<RunLayer> {
    if step.run.security == Some(Security::Insecure) {
        bail!("--security=insecure is not supported: RUN always runs sandboxed");
    }
    let src = IdSources::default();
    let mapping =
        IdMapping::detect(UsernsRequest::Auto, &src).map_err(crate::chain::Context::msg)?;
    let dir = env.scratch.join(format!("run-{n}"));
    crate::modes::create_public_dir(&dir.join("upper"))?;
    for d in ["work", "rootfs"] {
        fs_err::create_dir_all(dir.join(d))?;
    }
    let mounts = prepare_mounts(env, step, &dir, &mapping, &src)?;
    // Without subordinate ids only root exists in the namespace: package
    // managers that chown files or switch to a service user would fail, so
    // those calls pretend to succeed (Charliecloud's seccomp mode).
    let fake_root = mapping.mode == MapMode::Single;
    if fake_root {
        env.report.info(FAKE_ROOT_NOTE);
    }
    let security = crate::sandbox::security::Flags {
        fake_root,
        ..Default::default()
    }
    .resolve()
    .map_err(crate::chain::Context::msg)?;
    let settings = settings(env, step, &dir, mounts.specs, mounts.process_env, security)?;
    let result = run_sandboxed(env, image, &mapping, &dir, settings, fake_root);
    drop(mounts.locks);
    let tar = dir.join("layer.tar");
    let outcome =
        result.and_then(|()| diff_upper(&dir, &mapping, &src, &mounts.targets, lower, &tar));
    remove_scratch(&dir, &mapping, &src, step.run.mounts.len());
    outcome?;
    // Two zero blocks and nothing else: the command changed nothing.
    let size = fs_err::metadata(&tar)?.len();
    Ok((size > 1024).then_some(tar))
}

/// The `--mount`s and the `#!` script of a RUN, ready for the sandbox.
struct Mounts {
    specs: Vec<MountSpec>,
    /// Where they go inside, as written.
    targets: Vec<String>,
    /// Cache mount locks, held until the command ends.
    locks: Vec<Held>,
    /// The stage's environment plus what secret mounts add.
    process_env: Vec<String>,
}

fn prepare_mounts(
    env: &RunEnv<'_>,
    step: &RunStep<'_>,
    dir: &Path,
    mapping: &IdMapping,
    src: &IdSources,
) -> Result<Mounts> {
    let mut m = Mounts {
        specs: Vec::new(),
        targets: Vec::new(),
        locks: Vec::new(),
        process_env: step.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    };
    for (i, mount) in step.run.mounts.iter().enumerate() {
        if let Some(spec) = mount_spec(
            env,
            mount,
            dir,
            i,
            mapping,
            src,
            &mut m.locks,
            &mut m.process_env,
            step.bind_from.get(&i).map(|t| &**t),
        )? {
            if let Some(t) = &mount.target {
                m.targets.push(t.clone());
            }
            m.specs.push(spec);
        }
    }
    if let Some((name, body)) = step.shebang_script() {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("pipes").join(&name);
        fs_err::create_dir_all(dir.join("pipes"))?;
        fs_err::write(&script, body)?;
        fs_err::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        m.specs.push(MountSpec::Bind {
            source: script,
            target: format!("{SCRIPTS}/{name}"),
            read_only: true,
        });
    }
    Ok(m)
}

/// The sandbox settings of a RUN: buildkit's host name, the network asked
/// for, the stage's SHELL/USER/WORKDIR.
fn settings(
    env: &RunEnv<'_>,
    step: &RunStep<'_>,
    dir: &Path,
    mounts: Vec<MountSpec>,
    process_env: Vec<String>,
    security: crate::sandbox::security::Security,
) -> Result<Settings> {
    let hostname = "buildkitsandbox".to_string();
    let mode = |m: &str| NetFlags {
        network: Some(m.into()),
        ..NetFlags::default()
    };
    let flags = match step.run.network {
        None | Some(RunNetwork::Default) => env.network.clone(),
        Some(RunNetwork::None) => mode("none"),
        Some(RunNetwork::Host) => mode("host"),
    };
    // Planned per step: a helper keeps its pid file and log in the step's dir.
    let network = Network::from_flags(&flags, &[], &hostname, dir, &HostEnv::detect())
        .map_err(crate::chain::Context::msg)?;
    Ok(Settings {
        hostname,
        network,
        mounts,
        read_only: false,
        read_only_tmpfs: false,
        security,
        keeper: None,
        process: ProcessSpec {
            args: step.argv(),
            env: process_env,
            user: step.user.clone().filter(|u| !u.is_empty()),
            cwd: step.workdir.clone(),
            tty: false,
            stdin: false,
            init: false,
            group_add: Vec::new(),
            no_sig_proxy: false,
        },
    })
}

/// Run the command over `image` in the sandbox; Ok only when it exits 0.
fn run_sandboxed(
    env: &RunEnv<'_>,
    image: Option<&Image>,
    mapping: &IdMapping,
    dir: &Path,
    settings: Settings,
    fake_root: bool,
) -> Result<()> {
    let args = settings.process.args.clone();
    // The upper dir is read right after and then thrown away: volatile.
    let spec = sandbox_spec(
        env.state,
        env.store,
        image,
        mapping.clone(),
        Drivers {
            requested: env.storage_driver,
            allowed: &DriverKind::ALL,
        },
        dir,
        true,
        false,
        settings,
        env.report,
    )?;
    let copied = (spec.rootfs_driver.kind() == DriverKind::Copy).then(|| spec.overlay.clone());
    let plan = Plan::build(spec).map_err(|e| msg!("{e}"))?;
    let exit = {
        // stdout carries only the image id: RUN output goes to stderr.
        let _redirect = if env.report.quiet() {
            Redirect::quiet()?
        } else {
            Redirect::stdout_to_stderr()?
        };
        sandbox::run(&plan, &mut ())
    };
    match exit {
        Ok(e) if e.code() == 0 => match copied {
            Some(overlay) => upper_from_copy(&overlay, mapping),
            None => Ok(()),
        },
        Ok(e) => bail!(
            "the command {} exited with code {}{}",
            serde_json::to_string(&args).unwrap_or_default(),
            e.code(),
            if fake_root { FAKE_ROOT_HINT } else { "" }
        ),
        Err(e) => bail!("{e} (exit code {})", e.exit_code()),
    }
}

/// The copy driver wrote into a copy: its changes become the upper dir
/// (empty until now) that `diff_upper` reads.
fn upper_from_copy(overlay: &Overlay, mapping: &IdMapping) -> Result<()> {
    let (copy, upper) = (overlay.copy_dir(), overlay.upper.clone());
    run_in_userns(mapping, &IdSources::default(), || {
        std::fs::remove_dir(&upper).map_err(|e| format!("{}: {e}", upper.display()))?;
        crate::rootfs::copy::changes(&overlay.lowers, &copy, &upper).map_err(|e| e.to_string())
    })
    .map_err(|e| msg!("cannot read the RUN's changes from its copy: {e}"))?;
    Ok(())
}

/// The RUN's changes as a layer tar at `tar`, without the mount points the
/// RUN's own mounts created (inside the user namespace: the upper dir holds
/// files of subordinate ids).
fn diff_upper(
    dir: &Path,
    mapping: &IdMapping,
    src: &IdSources,
    targets: &[String],
    lower: &ImageFs,
    tar: &Path,
) -> Result<()> {
    let upper = dir.join("upper");
    let created: Vec<String> = targets
        .iter()
        .map(|t| clean(t).trim_start_matches('/').to_string())
        .filter(|t| !t.is_empty() && lower.get(t).is_none())
        .collect();
    let lower_dirs: Vec<String> = created
        .iter()
        .flat_map(|t| ancestors(t))
        .filter(|a| lower.get(a).is_none())
        .collect();
    run_in_userns(mapping, src, move || {
        for t in &created {
            let p = upper.join(t);
            // Only what is still an empty mount point goes.
            let _ = std::fs::remove_dir(&p);
            if std::fs::metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0) {
                let _ = std::fs::remove_file(&p);
            }
        }
        for a in &lower_dirs {
            let _ = std::fs::remove_dir(upper.join(a));
        }
        let f = std::fs::File::create(tar)
            .map_err(|e| format!("cannot create {}: {e}", tar.display()))?;
        diff(&upper, f, &DiffOptions { ids: None }).map_err(|e| e.to_string())?;
        Ok(())
    })
    .map_err(|e| msg!("cannot read the RUN's changes: {e}"))
    .map_err(Into::into)
}

/// The upper dir holds files of subordinate ids: remove it from inside.
fn remove_scratch(dir: &Path, mapping: &IdMapping, src: &IdSources, nmounts: usize) {
    let doomed: Vec<PathBuf> = ["upper", "work", "rootfs", "pipes", "copy"]
        .iter()
        .map(|d| dir.join(d))
        .chain((0..nmounts).map(|i| dir.join(format!("bind-{i}"))))
        .collect();
    let _ = run_in_userns(mapping, src, move || {
        for d in &doomed {
            let _ = std::fs::remove_dir_all(d);
        }
        Ok(())
    });
}

/// Write a source taken from an image to `out` (a file or a directory
/// tree), keeping modes and symlinks.
fn materialize(src: &copy::Src, out: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let err = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    for e in &src.entries {
        let p = if e.rel.is_empty() {
            out.to_path_buf()
        } else {
            out.join(&e.rel)
        };
        match &e.kind {
            copy::SrcKind::Dir => std::fs::create_dir_all(&p).map_err(|x| err(&p, x))?,
            copy::SrcKind::Symlink(t) => {
                std::os::unix::fs::symlink(t, &p).map_err(|x| err(&p, x))?;
                continue;
            }
            copy::SrcKind::File(Data::Bytes(b)) => std::fs::write(&p, b).map_err(|x| err(&p, x))?,
            copy::SrcKind::File(Data::Path(f)) => {
                std::fs::copy(f, &p).map_err(|x| err(&p, x))?;
            }
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(e.mode))
            .map_err(|x| err(&p, x))?;
    }
    Ok(())
}

/// `a/b/c` → `a/b/c`, `a/b`, `a` (deepest first).
fn ancestors(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = p.to_string();
    while let Some((parent, _)) = cur.rsplit_once('/') {
        out.push(parent.to_string());
        cur = parent.to_string();
    }
    out
}

/// One `--mount` of a RUN as a sandbox mount (`None`: nothing to mount, as
/// for a secret given only as an environment variable).
#[allow(clippy::too_many_arguments)]
fn mount_spec(
    env: &RunEnv<'_>,
    m: &Mount,
    dir: &Path,
    i: usize,
    mapping: &IdMapping,
    src: &IdSources,
    locks: &mut Vec<Held>,
    process_env: &mut Vec<String>,
    from: Option<&ImageFs>,
) -> Result<Option<MountSpec>> {
    match m.kind {
        MountKind::Tmpfs => Ok(Some(MountSpec::Tmpfs {
            target: mount_target(m)?,
            options: m.size.map(|s| format!("size={s}")).unwrap_or_default(),
        })),
        MountKind::Bind => match from {
            Some(fs) => bind_from_image(m, fs, &dir.join(format!("bind-{i}")), mapping, src),
            None => bind_from_context(env, m),
        }
        .map(Some),
        MountKind::Cache => {
            let target = mount_target(m)?;
            let id = m.id.clone().unwrap_or_else(|| target.clone());
            let source = cache_source(env, m, &id, &dir.join(format!("cache-{i}")), locks)?;
            if !source.is_dir() {
                make_cache_dir(m, &id, &source, mapping, src)?;
            }
            Ok(Some(MountSpec::Bind {
                source,
                target,
                read_only: m.readonly,
            }))
        }
        MountKind::Secret => secret_mount(env, m, process_env),
        MountKind::Ssh => bail!("--mount=type=ssh is not supported yet"),
    }
}

fn mount_target(m: &Mount) -> Result<String> {
    m.target
        .clone()
        .ok_or_else(|| msg!("--mount=type={} needs a target", m.kind.as_str()))
        .map_err(Into::into)
}

/// `--mount=type=bind,from=STAGE|IMAGE`: layers are stored per layer, not
/// merged, so the source is copied out to `out` instead, which also gives
/// `rw` its meaning of writes that the RUN sees and that are then thrown away.
fn bind_from_image(
    m: &Mount,
    fs: &ImageFs,
    out: &Path,
    mapping: &IdMapping,
    src: &IdSources,
) -> Result<MountSpec> {
    let path = m.source.as_deref().unwrap_or("/");
    let tree = copy::from_image(fs, path).ok_or_else(|| {
        msg!(
            "--mount=type=bind,from={}: {path}: not found",
            m.from.as_deref().unwrap_or("")
        )
    })?;
    let dest = out.to_path_buf();
    run_in_userns(mapping, src, move || materialize(&tree, &dest))
        .map_err(|e| msg!("cannot prepare the bind mount of {path}: {e}"))?;
    Ok(MountSpec::Bind {
        source: out.to_path_buf(),
        target: mount_target(m)?,
        read_only: m.readonly,
    })
}

/// `--mount=type=bind` of a path in the build context (read-only).
fn bind_from_context(env: &RunEnv<'_>, m: &Mount) -> Result<MountSpec> {
    if !m.readonly {
        bail!("--mount=type=bind,rw is not supported yet");
    }
    let ctx = env
        .context
        .ok_or_else(|| msg!("--mount=type=bind needs a build context"))?;
    let rel = clean(&format!("/{}", m.source.as_deref().unwrap_or("")));
    Ok(MountSpec::Bind {
        source: ctx.join(rel.trim_start_matches('/')),
        target: mount_target(m)?,
        read_only: true,
    })
}

/// The directory a cache mount `id` uses, held per its `sharing` (the lock
/// goes into `locks`): the shared one, or `private` when another build
/// holds it under `sharing=private`.
fn cache_source(
    env: &RunEnv<'_>,
    m: &Mount,
    id: &str,
    private: &Path,
    locks: &mut Vec<Held>,
) -> Result<PathBuf> {
    let shared = cache_dir(&env.store.root, id);
    let lock = shared.with_extension("lock");
    fs_err::create_dir_all(shared.parent().expect("cache dirs have a parent"))?;
    Ok(match m.sharing {
        Sharing::Shared => {
            locks.push(flock::lock(&lock, Mode::Shared)?);
            shared
        }
        Sharing::Locked => {
            locks.push(flock::lock(&lock, Mode::Exclusive)?);
            shared
        }
        // Busy elsewhere: this RUN gets a throwaway directory.
        Sharing::Private => match flock::try_lock(&lock, Mode::Exclusive)? {
            Some(h) => {
                locks.push(h);
                shared
            }
            None if !lock.exists() => {
                locks.push(flock::lock(&lock, Mode::Exclusive)?);
                shared
            }
            None => private.to_path_buf(),
        },
    })
}

/// Create a cache mount's directory inside the namespace, so that its
/// uid/gid are the ids the RUN sees.
fn make_cache_dir(
    m: &Mount,
    id: &str,
    source: &Path,
    mapping: &IdMapping,
    src: &IdSources,
) -> Result<()> {
    let (p, uid, gid, mode) = (
        source.to_path_buf(),
        m.uid.unwrap_or(0),
        m.gid.unwrap_or(0),
        m.mode.unwrap_or(0o755),
    );
    run_in_userns(mapping, src, move || {
        use std::os::unix::fs::PermissionsExt;
        let tmp = p.with_extension(format!("new{}", std::process::id()));
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(|e| e.to_string())?;
        // Another build may have made it meanwhile: theirs wins.
        if std::fs::rename(&tmp, &p).is_err() {
            let _ = std::fs::remove_dir(&tmp);
        }
        Ok(())
    })
    .map_err(|e| msg!("cannot create the cache directory for {id}: {e}"))?;
    Ok(())
}

/// `--mount=type=secret`: the file bind-mounted read-only, and/or its
/// content in an environment variable (`env=`).
fn secret_mount(
    env: &RunEnv<'_>,
    m: &Mount,
    process_env: &mut Vec<String>,
) -> Result<Option<MountSpec>> {
    let id =
        m.id.clone()
            .or_else(|| {
                m.target
                    .as_deref()
                    .and_then(|t| t.rsplit('/').next())
                    .map(String::from)
            })
            .ok_or_else(|| msg!("--mount=type=secret needs an id"))?;
    let Some(path) = env.secrets.get(&id) else {
        if m.required {
            bail!("secret {id} is required: pass --secret id={id},src=FILE");
        }
        return Ok(None);
    };
    if let Some(var) = &m.env {
        let value = fs_err::read_to_string(path).context("cannot read the secret")?;
        process_env.push(format!("{var}={}", value.trim_end_matches('\n')));
        if m.target.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(MountSpec::Bind {
        source: fs_err::canonicalize(path).context("cannot read the secret")?,
        target: mount_target(m)?,
        read_only: true,
    }))
}
