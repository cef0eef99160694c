//! A project's environment: one persistent container per project, made from
//! the project's definition, kept running (a shell loop under hutch's init)
//! and entered by joining its namespaces, so entries are fast and two
//! terminals share it. What the caller installs stays until `env rm`.
//!
//! [`Environment::ensure`] is the use case behind `hutch shell`: check the
//! recorded inputs (stat only), and when something changed, rebuild with
//! the build cache under the environment's lock, replace the container
//! (the old one is kept, stopped, under another name) and start it through
//! `container::launch`.
//!
//! It never prints: what a person should hear goes to the caller's
//! [`Report`] (`info`), the trace of the change check to `debug`.

use super::config::Home;
use super::devcontainer::Lifecycle;
use super::discover::{Definition, Project};
use super::identity::{self, Caller};
use super::inputs::{self, Input};
use super::passthrough;
use super::state::{EnvDir, EnvState, Unchanged};
use super::watch;
use super::{ConfigError, Error};
use crate::container::launch::{Launch, Outcome, Prepared};
use crate::container::{self, control, state, Containers, Record};
use crate::dirs::Dirs;
use crate::net::plan::NetFlags;
use crate::registry::pull::{ensure_image, PullPolicy};
use crate::report::{Progress, Report};
use crate::sandbox::exec::Target;
use crate::sandbox::{join, ProcessSpec};
use crate::store::{Image, Store};
use crate::sys::process::{child_exit, fork, Forked};
use crate::userns::idmap::{IdMapping, IdSources, UsernsRequest};
use nix::sys::signal::Signal;
use nix::sys::wait::WaitStatus;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The command that keeps an environment running: any POSIX shell does,
/// and it ends on the stop signal. hutch's init as pid 1 reaps what
/// entered processes leave behind.
pub(super) const KEEPALIVE: &str =
    "trap 'exit 0' TERM INT HUP; while :; do sleep 86400 & wait $!; done";

/// How long `env stop` waits before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// One project's environment, as seen by the calling user.
pub struct Environment<'a> {
    pub project: &'a Project,
    pub(super) dirs: &'a Dirs,
    pub(super) report: &'a dyn Report,
    progress: &'a dyn Progress,
    caller: Caller,
    pub(super) envdir: EnvDir,
    pub(super) containers: Containers,
}

/// One entry: what to run and as whom.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The command; empty for the environment's shell.
    pub command: Vec<String>,
    /// As the environment's root instead of the caller.
    pub root: bool,
    /// The caller's current directory (kept when inside the project).
    pub cwd: PathBuf,
    pub tty: bool,
    /// Extra `KEY=VALUE` entries (the terminal's TERM, say).
    pub env: Vec<String>,
}

/// What `env status` shows.
#[derive(Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub project: PathBuf,
    /// None when the environment was never made (or was removed).
    pub container: Option<Record>,
    pub running: bool,
    pub home: Home,
    pub inputs: usize,
    /// Inputs changed since the last build (a rebuild on the next entry).
    pub changed: Vec<PathBuf>,
    /// Where the project was when its environment was made, when it has
    /// moved since (entering refuses; `env rm` removes that environment).
    pub moved_from: Option<PathBuf>,
}

/// The settings a container is launched with besides its image; a
/// container whose settings differ from the project's is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Settings {
    env: Vec<String>,
    user: String,
    workdir: String,
    hostname: String,
    volumes: Vec<String>,
    /// Device nodes (`passthrough = ["gpu"]`, devcontainer.json's runArgs).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    devices: Vec<String>,
    /// `--mount` values (devcontainer.json's mounts).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    mounts: Vec<String>,
    /// The image's own command runs as pid 1 (`overrideCommand: false`).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    image_command: bool,
    network: NetFlags,
    /// Left out of the fingerprint when no key sets it, so environments
    /// made before these keys existed are not replaced for it.
    #[serde(skip_serializing_if = "no_security_keys")]
    security: crate::sandbox::security::Flags,
}

fn no_security_keys(f: &crate::sandbox::security::Flags) -> bool {
    *f == Default::default()
}

impl<'a> Environment<'a> {
    pub fn new(
        project: &'a Project,
        dirs: &'a Dirs,
        report: &'a dyn Report,
        progress: &'a dyn Progress,
    ) -> Environment<'a> {
        let mut caller = Caller::detect();
        // devcontainer.json's remoteUser with the caller's uid, as the
        // reference CLI's updateRemoteUserUID does.
        if let Some(u) = project.extras.remote_user.as_deref() {
            if u != "root" {
                caller.name = u.to_string();
            }
        }
        Environment {
            project,
            dirs,
            report,
            progress,
            caller,
            envdir: EnvDir::new(&dirs.state, &project.id()),
            containers: Containers::new(&dirs.state),
        }
    }

    /// The caller's home directory (a bind mount inside).
    pub(super) fn caller_home(&self) -> PathBuf {
        self.caller.home.clone()
    }

    /// The name the caller has inside.
    pub fn user_name(&self) -> &str {
        &self.caller.name
    }

    /// The environment's directory (launchers and allowances live there).
    pub fn dir(&self) -> &EnvDir {
        &self.envdir
    }

    /// The running environment container, built, (re)created and started
    /// as needed.
    pub fn ensure(&self) -> Result<Record, Error> {
        let unchanged = || watch::unchanged(&self.envdir).or_else(|| self.envdir.unchanged());
        let checked = unchanged().filter(|_| !self.replacing());
        if let Some(u) = &checked {
            let statted = u.statted;
            self.report.debug(&match u.vouched {
                Some(n) => format!(
                    "inputs: {statted} statted (the watcher vouches for {n}), 0 hashed, 0 changed"
                ),
                None => format!("inputs: {statted} statted, 0 hashed, 0 changed"),
            });
            if let Some(rec) = self.containers.read(&u.container) {
                if state::observe(&rec).is_running() {
                    return Ok(rec);
                }
            }
        } else if !self.envdir.exists() {
            if let Some((_, old)) = EnvDir::moved(&self.dirs.state, &self.project.root) {
                return Err(Error::Moved {
                    old,
                    new: self.project.root.clone(),
                });
            }
        }
        let _lock = self.envdir.lock(|| {
            self.report
                .info("waiting for another hutch preparing this environment")
        })?;
        self.ensure_locked(checked)
    }

    /// `checked`: the no-change check made before the lock was taken.
    fn ensure_locked(&self, checked: Option<Unchanged>) -> Result<Record, Error> {
        self.recover()?;
        // Nobody rewrote the record since that check: it stands, and a
        // stopped environment starts without checking (and reading) it all
        // again.
        if let Some(u) = checked {
            if self.envdir.ids() == Some((u.container.clone(), u.inputs_id)) {
                if let Some(rec) = self.containers.read(&u.container) {
                    return self.running(rec);
                }
            }
        }
        // Read again: whoever held the lock may have done the work.
        let st = self.envdir.read();
        let old = st.as_ref().and_then(|s| self.containers.read(&s.container));
        if let (Some(mut st), Some(rec)) = (st.clone(), old.clone()) {
            let check = self.check(&st.inputs);
            if check.changed.is_empty() {
                // New stamps, or a record in an older form: written again
                // so that the next entry's check is stat-only.
                if !check.refreshed.is_empty() || self.envdir.unchanged().is_none() {
                    inputs::refresh(&mut st.inputs, &check.refreshed);
                    self.envdir.write(&st)?;
                }
                return self.running(rec);
            }
            self.report.info(&format!(
                "{} changed: rebuilding the environment",
                list(&check.changed, &self.project.root)
            ));
        }
        self.initialize()?;
        let (image, inputs) = match (self.image(), &old) {
            (Ok(made), _) => made,
            // The inputs stay as recorded, so the next entry tries again.
            (Err(e), Some(rec)) => {
                self.report.info(&format!(
                    "{e}\nthe build failed: entering the unchanged environment (container {}); \
                     fix the definition and the next entry builds again",
                    rec.name
                ));
                return self.running(rec.clone());
            }
            (Err(e), None) => return Err(e),
        };
        let settings = self.settings()?;
        let fingerprint = serde_json::to_string(&settings).map_err(std::io::Error::other)?;
        if let (Some(prev), Some(st)) = (&old, &st) {
            if prev.image_id == image.id && st.settings == fingerprint {
                self.envdir.write(&EnvState {
                    inputs,
                    ..st.clone()
                })?;
                return self.running(prev.clone());
            }
            if !self.project.extras.ignored.is_empty() {
                self.report.info(&format!(
                    "{}: hutch ignores {}",
                    self.project.file.display(),
                    self.project.extras.ignored.join(", ")
                ));
            }
            match self.snapshot_locked(st, prev, "before rebuild".into()) {
                Ok(v) => {
                    self.report.info(&format!(
                        "the previous environment is kept as version {}: \
                         `hutch env rollback {}` brings it back",
                        v.n, v.n
                    ));
                    return self.replace(st, prev, image, inputs, true);
                }
                Err(e) => self.report.info(&format!(
                    "cannot keep the previous environment as a version ({e}): \
                     keeping its container instead"
                )),
            }
            let kept = format!("{}-{}", self.project.env_name(), prev.short_id());
            self.stop_container(prev)?;
            self.containers.rename(&prev.id, &kept)?;
            self.report.info(&format!(
                "the previous environment is kept, stopped, as container {kept}: \
                 `hutch start {kept}` and `hutch exec -it {kept} sh` get you back into it, \
                 `hutch rm {kept}` drops it"
            ));
        }
        self.write_etc(&image)?;
        if old.is_none() && !self.project.extras.ignored.is_empty() {
            self.report.info(&format!(
                "{}: hutch ignores {}",
                self.project.file.display(),
                self.project.extras.ignored.join(", ")
            ));
        }
        let id = self.start_recorded(image, settings, fingerprint, inputs)?;
        let rec = self
            .containers
            .read(&id)
            .ok_or(Error::Container(container::Error::NotFound(id)))?;
        self.created_hooks(&rec)?;
        self.hook(&rec, "postStartCommand", &self.project.extras.post_start)?;
        Ok(rec)
    }

    /// devcontainer.json's commands for a new container, in the spec's order.
    pub(super) fn created_hooks(&self, rec: &Record) -> Result<(), Error> {
        let x = &self.project.extras;
        self.hook(rec, "onCreateCommand", &x.on_create)?;
        self.hook(rec, "updateContentCommand", &x.update_content)?;
        self.hook(rec, "postCreateCommand", &x.post_create)
    }

    /// devcontainer.json's `postAttachCommand`, for an interactive entry.
    pub fn attached(&self, rec: &Record) -> Result<(), Error> {
        self.hook(rec, "postAttachCommand", &self.project.extras.post_attach)
    }

    /// devcontainer.json's `initializeCommand`, on the host in the project
    /// directory, before the environment is built, made or started; its
    /// output goes to stderr (stdout is the entry's).
    fn initialize(&self) -> Result<(), Error> {
        let Some(Lifecycle(commands)) = &self.project.extras.initialize else {
            return Ok(());
        };
        let key = "initializeCommand";
        for argv in commands {
            self.report.debug(&format!("{key}: {argv:?}"));
            let status = std::process::Command::new(&argv[0])
                .args(&argv[1..])
                .current_dir(&self.project.root)
                .stdin(std::process::Stdio::null())
                .stdout(std::io::stderr())
                .status()?;
            if !status.success() {
                let code = status.code().unwrap_or(125);
                return Err(Error::Hook { key, code });
            }
        }
        Ok(())
    }

    /// Create and start the environment's container running `image`, then
    /// record it in env.json (the moment it becomes the environment); its id.
    pub(super) fn start_recorded(
        &self,
        image: Image,
        settings: Settings,
        fingerprint: String,
        inputs: Vec<Input>,
    ) -> Result<String, Error> {
        let image_id = image.id.clone();
        let tag = image.short_id().to_string();
        let id = self
            .launch(image, settings)
            .create(self.report)?
            .leave_created()?;
        if let Err(e) = self.install_etc(&id, &tag) {
            // Not the environment yet: it must not keep the name.
            if let Some(rec) = self.containers.read(&id) {
                let _ = control::force_remove(&self.containers, &rec);
            }
            return Err(e);
        }
        started(Prepared::existing(self.dirs, &id, false, self.report)?.detached()?)?;
        crate::fault::point("env-started");
        self.envdir.write(&EnvState {
            project: self.project.root.clone(),
            container: id.clone(),
            image_id,
            inputs,
            settings: fingerprint,
        })?;
        self.envdir.write_origin(&self.project.root)?;
        Ok(id)
    }

    /// Put the generated passwd and group (see [`Environment::write_etc`])
    /// into the new container `id`'s own /etc, owned by its root: files in
    /// its writable layer rather than bind mounts, so `adduser` and
    /// `addgroup`, which rename a new file over them, work inside.
    fn install_etc(&self, id: &str, tag: &str) -> Result<(), Error> {
        use crate::container::cp::{copy_in, Host, Options};
        // Without subordinate ids the container has no root: the files
        // keep the caller's ids, which is what root is there (`-u root`).
        let options = Options {
            archive: !self.mapping()?.has_root(),
            ..Options::default()
        };
        for name in ["passwd", "group"] {
            let src = self.envdir.dir.join(format!("{name}-{tag}"));
            if !src.exists() {
                continue;
            }
            copy_in(
                self.dirs,
                id,
                &Host::Path(src),
                &format!("/etc/{name}"),
                options,
            )
            .map_err(|e| Error::Backend(e.into()))?;
        }
        Ok(())
    }

    /// Run a devcontainer lifecycle command in the running `rec`, as the
    /// caller, in the project directory; its output goes where hutch's goes.
    pub(super) fn hook(
        &self,
        rec: &Record,
        key: &'static str,
        commands: &Option<Lifecycle>,
    ) -> Result<(), Error> {
        let Some(Lifecycle(commands)) = commands else {
            return Ok(());
        };
        for argv in commands {
            self.report.debug(&format!("{key}: {argv:?}"));
            let entry = Entry {
                command: argv.clone(),
                cwd: self.project.root.clone(),
                ..Entry::default()
            };
            let mut process = self.entry(rec, &entry);
            process.stdin = false;
            // Joining moves the calling process into the container for good:
            // a child does it.
            let code = match fork()? {
                Forked::Child => {
                    child_exit(self.join(rec, &process).unwrap_or_else(|e| e.exit_code()))
                }
                Forked::Parent(pid) => match nix::sys::wait::waitpid(pid, None) {
                    Ok(WaitStatus::Exited(_, c)) => c,
                    Ok(WaitStatus::Signaled(_, sig, _)) => 128 + sig as i32,
                    _ => 125,
                },
            };
            if code != 0 {
                return Err(Error::Hook { key, code });
            }
        }
        Ok(())
    }

    fn running(&self, rec: Record) -> Result<Record, Error> {
        if state::observe(&rec).is_running() {
            return Ok(rec);
        }
        self.initialize()?;
        self.report
            .debug(&format!("starting environment container {}", rec.name));
        started(Prepared::existing(self.dirs, &rec.id, false, self.report)?.detached()?)?;
        let rec = self
            .containers
            .read(&rec.id)
            .ok_or(Error::Container(container::Error::NotFound(rec.id)))?;
        self.hook(&rec, "postStartCommand", &self.project.extras.post_start)?;
        Ok(rec)
    }

    fn check(&self, recorded: &[Input]) -> inputs::Check {
        let check = inputs::check(recorded);
        self.report.debug(&format!(
            "inputs: {} statted, {} hashed, {} changed",
            check.statted,
            check.hashed.len(),
            check.changed.len()
        ));
        for p in &check.hashed {
            self.report
                .debug(&format!("inputs: hashed {}", p.display()));
        }
        check
    }

    /// Build (or look up) the image; with the inputs to record.
    fn image(&self) -> Result<(Image, Vec<Input>), Error> {
        let mut recorded = vec![inputs::record(&self.project.file)?];
        let image = match self.project.definition()? {
            Definition::Image(name) => self.pull(&name)?,
            Definition::Build {
                file,
                context,
                target,
                args,
            } => {
                let text = fs_err::read_to_string(&file)?;
                let opts = crate::build::Options {
                    dockerfile: text,
                    file_name: file
                        .strip_prefix(&self.project.root)
                        .unwrap_or(&file)
                        .display()
                        .to_string(),
                    dockerfile_path: Some(file.clone()),
                    context: Some(context.clone()),
                    names: vec![built_name(self.project)],
                    build_args: args,
                    target,
                    no_cache: false,
                    labels: vec![(
                        "dev.hutch.project".into(),
                        self.project.root.display().to_string(),
                    )],
                    state: self.dirs.state.clone(),
                    network: NetFlags::default(),
                    secrets: BTreeMap::new(),
                    storage_driver: None,
                };
                let store = Store::open(self.dirs).map_err(|e| Error::Backend(e.into()))?;
                let images = |name: &str| {
                    ensure_image(self.dirs, name, PullPolicy::Missing, self.progress)
                        .map_err(|e| crate::build::Error::Image(e.into()))
                };
                let (image, reads) =
                    crate::build::build_tracked(&store, &opts, &images, self.report)
                        .map_err(|e| Error::Backend(e.into()))?;
                recorded.push(inputs::record(&file)?);
                // The ignore files decide what the context holds.
                let mut ignore = file.clone().into_os_string();
                ignore.push(".dockerignore");
                recorded.push(inputs::record(Path::new(&ignore))?);
                recorded.push(inputs::record(&context.join(".dockerignore"))?);
                recorded.extend(inputs::from_build(reads));
                image
            }
        };
        Ok((image, recorded))
    }

    pub(super) fn mapping(&self) -> Result<IdMapping, Error> {
        Ok(IdMapping::detect(
            UsernsRequest::KeepId,
            &IdSources::default(),
        )?)
    }

    /// The image called `name`, pulled when the store lacks it.
    fn pull(&self, name: &str) -> Result<Image, Error> {
        ensure_image(self.dirs, name, PullPolicy::Missing, self.progress)
            .map_err(|e| Error::Backend(e.into()))
    }

    /// How the environment's container runs (besides its image).
    pub(super) fn settings(&self) -> Result<Settings, Error> {
        let run = &self.project.config.run;
        let root = &self.project.root;
        let home = &self.caller.home;
        let mut volumes = Vec::new();
        let home_shared = run.home == Home::Host && root.starts_with(home);
        if !home_shared {
            volumes.push(format!("{}:{}", root.display(), root.display()));
        }
        if home != Path::new("/") && home != root {
            volumes.push(self.home_volume(run.home)?);
        }
        let shared =
            passthrough::at_creation(&run.passthrough, home, run.home, &|k| std::env::var(k).ok());
        for note in &shared.notes {
            self.report.info(&format!("passthrough {note}"));
        }
        volumes.extend(shared.volumes);
        volumes.extend(run.mounts.iter().cloned());
        let mut env: Vec<String> = run.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(shared.env);
        let mut security = run.security();
        let bad = |why| Error::Config {
            file: self.project.file.clone(),
            line: 0,
            key: "run.security_opt".into(),
            why: Box::new(why),
        };
        if let Some(f) = security
            .seccomp_file()
            .map_err(|e| bad(ConfigError::Security(e)))?
        {
            let path = root.join(f);
            let text = std::fs::read_to_string(&path).map_err(|source| {
                bad(ConfigError::SeccompFile {
                    path: path.clone(),
                    source,
                })
            })?;
            security.seccomp_profile = Some(text);
        }
        Ok(Settings {
            env,
            user: format!("{}:{}", self.caller.uid, self.caller.gid),
            workdir: root.display().to_string(),
            hostname: self.project.short_name().to_lowercase(),
            volumes,
            devices: shared
                .devices
                .into_iter()
                .chain(self.project.extras.devices.iter().cloned())
                .collect(),
            mounts: self.project.extras.mounts.clone(),
            image_command: self.project.extras.image_command,
            network: NetFlags {
                network: Some(run.network.clone().unwrap_or_else(|| "host".into())),
                publish: run.ports.clone(),
                ..NetFlags::default()
            },
            security,
        })
    }

    /// A new environment container: the keep-alive loop under hutch's init,
    /// as the caller (keep-id).
    pub(super) fn launch(&self, image: Image, s: Settings) -> Launch<'a> {
        let name = self
            .project
            .config
            .image
            .clone()
            .unwrap_or_else(|| built_name(self.project));
        let mut l = Launch::new(self.dirs, name, image).name(self.project.env_name());
        if !s.image_command {
            l = l.command(["/bin/sh", "-c", KEEPALIVE]);
        }
        l = l
            .envs(s.env)
            .user(s.user)
            .workdir(s.workdir)
            .hostname(s.hostname)
            .network(s.network)
            .keep_id()
            .init(true)
            .security(s.security)
            .devices(s.devices)
            .companion(watch::companion(&self.envdir.dir));
        for v in s.volumes {
            l = l.volume(v);
        }
        for m in s.mounts {
            l = l.mount(m);
        }
        l
    }

    fn home_volume(&self, mode: Home) -> Result<String, Error> {
        let h = self.caller.home.display();
        Ok(match mode {
            Home::Private => {
                let dir = self.envdir.home();
                fs_err::create_dir_all(&dir)?;
                format!("{}:{h}", dir.display())
            }
            Home::Host => format!("{h}:{h}"),
            Home::Overlay => {
                let (upper, work) = (
                    self.envdir.dir.join("home-upper"),
                    self.envdir.dir.join("home-work"),
                );
                fs_err::create_dir_all(&upper)?;
                fs_err::create_dir_all(&work)?;
                format!(
                    "{h}:{h}:O,upperdir={},workdir={}",
                    upper.display(),
                    work.display()
                )
            }
        })
    }

    /// The variables `[run] passthrough` passes at each entry (locale,
    /// terminal), from this process's environment.
    pub fn entry_env(&self) -> Vec<String> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        passthrough::at_entry(&self.project.config.run.passthrough, &vars)
    }

    /// passwd and group for `image`, with the caller's entries, as files
    /// in the environment's directory (readable by all: they are copied
    /// into the container with their mode); none where the image's own
    /// file is that already.
    pub(super) fn write_etc(&self, image: &Image) -> Result<(), Error> {
        let store = Store::open(self.dirs).map_err(|e| Error::Backend(e.into()))?;
        let (passwd, group) = identity::image_files(&store, image)?;
        let shell = self.shell();
        let tag = image.short_id();
        let files = [
            (
                "passwd",
                identity::passwd(&passwd, &self.caller, &shell),
                passwd,
            ),
            ("group", identity::group(&group, &self.caller), group),
        ];
        for (name, text, image_text) in files {
            let name = format!("{name}-{tag}");
            // An image that has them already (a version of this
            // environment) is left as it is.
            if text == image_text {
                match fs_err::remove_file(self.envdir.dir.join(&name)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => continue,
                }
            }
            self.envdir.write_file(&name, text.as_bytes())?;
            fs_err::set_permissions(
                self.envdir.dir.join(name),
                std::os::unix::fs::PermissionsExt::from_mode(0o644),
            )?;
        }
        Ok(())
    }

    pub(super) fn shell(&self) -> String {
        self.project
            .config
            .run
            .shell
            .clone()
            .unwrap_or_else(|| "/bin/sh".into())
    }

    /// Run `process` in the running environment `rec` and wait for it; its
    /// exit code. The calling process joins the container's namespaces and
    /// stays there, so it must be single-threaded and have nothing left to
    /// do on the host but report.
    pub fn join(&self, rec: &Record, process: &ProcessSpec) -> Result<i32, Error> {
        let Some(init) = rec.init else {
            return Err(Error::NotRunning(rec.name.clone()));
        };
        let mapping = self.mapping()?;
        if mapping.key() != rec.mapping_key {
            return Err(Error::MappingChanged {
                name: rec.name.clone(),
                was: rec.mapping_key.clone(),
                now: mapping.key(),
            });
        }
        // The same confinement as pid 1, compiled before joining anything.
        let security = rec.config.security.resolve()?;
        let target = Target {
            process,
            mapping: &mapping,
            hostname: &rec.config.hostname,
            security: &security,
        };
        let private_net = rec.config.network.private_namespace();
        let ns = join::open_namespaces(init.pid, private_net, || init.alive())?;
        Ok(join::exec_in(ns, &target)?.code())
    }

    /// The process of one entry into the running environment `rec`.
    pub fn entry(&self, rec: &Record, e: &Entry) -> ProcessSpec {
        let args = if e.command.is_empty() {
            vec![self.shell()]
        } else {
            e.command.clone()
        };
        let cwd = if e.cwd.starts_with(&self.project.root) {
            e.cwd.clone()
        } else {
            self.project.root.clone()
        };
        let root = e.root || self.project.extras.remote_user.as_deref() == Some("root");
        let (user, name) = if root {
            ("0:0".to_string(), "root".to_string())
        } else {
            (
                format!("{}:{}", self.caller.uid, self.caller.gid),
                self.caller.name.clone(),
            )
        };
        // remoteEnv wins over the container's variables of the same name.
        let remote = &self.project.extras.remote_env;
        let name_of = |kv: &String| kv.split('=').next().unwrap_or("").to_string();
        let mut env: Vec<String> = rec
            .config
            .env
            .iter()
            .filter(|kv| !remote.iter().any(|r| name_of(r) == name_of(kv)))
            .cloned()
            .collect();
        env.extend(remote.iter().cloned());
        env.push(format!("USER={name}"));
        env.push(format!("LOGNAME={name}"));
        env.extend(e.env.iter().cloned());
        ProcessSpec {
            args,
            env,
            user: Some(user),
            cwd: cwd.display().to_string(),
            tty: e.tty,
            stdin: true,
            init: false,
            group_add: Vec::new(),
            no_sig_proxy: false,
        }
    }

    /// The environment's state now.
    pub fn status(&self) -> Summary {
        let st = self.envdir.read();
        let container = st.as_ref().and_then(|s| self.containers.read(&s.container));
        let running = container
            .as_ref()
            .is_some_and(|r| state::observe(r).is_running());
        let (n, changed) = match &st {
            Some(s) => (s.inputs.len(), inputs::check(&s.inputs).changed),
            None => (0, Vec::new()),
        };
        let moved_from = match &st {
            Some(_) => None,
            None => EnvDir::moved(&self.dirs.state, &self.project.root).map(|(_, old)| old),
        };
        Summary {
            name: self.project.env_name(),
            project: self.project.root.clone(),
            container,
            running,
            home: self.project.config.run.home,
            inputs: n,
            changed,
            moved_from,
        }
    }

    /// Stop the environment's container; false when it was not running.
    pub fn stop(&self) -> Result<bool, Error> {
        let Some(st) = self.envdir.read() else {
            return Err(Error::NoEnv(self.project.root.clone()));
        };
        match self.containers.read(&st.container) {
            Some(rec) => self.stop_container(&rec),
            None => Ok(false),
        }
    }

    pub(super) fn stop_container(&self, rec: &Record) -> Result<bool, Error> {
        if !control::signal(rec, Signal::SIGTERM)? {
            return Ok(false);
        }
        if control::wait(&self.containers, &rec.id, Some(STOP_GRACE))?.is_none() {
            control::signal(rec, Signal::SIGKILL)?;
            control::wait(&self.containers, &rec.id, None)?;
        }
        Ok(true)
    }

    /// Stop and remove the environment's container, its anonymous volumes
    /// (the image's VOLUMEs, `mounts` without a host path) and its homes:
    /// the next entry makes a fresh environment. Containers kept from
    /// earlier rebuilds stay (they have their own names). From a project
    /// that moved, this removes the environment it had at its old path.
    pub fn remove(&self) -> Result<(), Error> {
        if self.envdir.read().is_none() {
            if let Some((envdir, old)) = EnvDir::moved(&self.dirs.state, &self.project.root) {
                self.report.info(&format!(
                    "removing the environment this project had at {}",
                    old.display()
                ));
                let _lock = envdir.lock(|| {})?;
                return self.remove_locked(&envdir);
            }
        }
        let _lock = self.lock()?;
        self.remove_locked(&self.envdir)
    }

    /// Remove the environment of `envdir`; the caller holds its lock.
    fn remove_locked(&self, envdir: &EnvDir) -> Result<(), Error> {
        let Some(st) = envdir.read() else {
            return Err(Error::NoEnv(self.project.root.clone()));
        };
        if let Some(rec) = self.containers.read(&st.container) {
            self.stop_container(&rec)?;
            match control::remove(&self.containers, &rec.id) {
                Ok(()) => {
                    let volumes = crate::volume::Volumes::new(&self.dirs.store);
                    container::mounts::remove_anonymous(&self.containers, &volumes, &rec);
                }
                Err(container::Error::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        envdir.clear(true)
    }
}

/// The name the environment's image is built under.
pub(super) fn built_name(project: &Project) -> String {
    format!(
        "localhost/hutch-env/{}:latest",
        project.env_name().to_lowercase()
    )
}

/// Paths relative to the project where they are inside it; at most five.
fn list(paths: &[PathBuf], root: &Path) -> String {
    let mut names: Vec<String> = paths
        .iter()
        .take(5)
        .map(|p| p.strip_prefix(root).unwrap_or(p).display().to_string())
        .map(|p| if p.is_empty() { ".".into() } else { p })
        .collect();
    if paths.len() > 5 {
        names.push(format!("and {} more", paths.len() - 5));
    }
    names.join(", ")
}

/// A detached start's outcome as a result.
fn started(outcome: Outcome) -> Result<(), Error> {
    match outcome {
        Outcome::Failed { code, message } => Err(Error::Start { code, message }),
        _ => Ok(()),
    }
}
