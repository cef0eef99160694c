//! Starting containers, for every caller: `hutch run` and `hutch start`,
//! project environments, and (through [`sandbox_spec`]) build's RUN steps.
//!
//! [`Launch`] is the use case "run this image as a new container": a safe
//! rootless default (auto user namespace, the image's own command, user,
//! environment and working directory, the default network, no extra
//! mounts) changed by chained settings, then [`Launch::create`] records
//! the container and checks its sandbox plan (nothing is cloned yet; a
//! missing bind mount source is created, as Docker does), and
//! [`Prepared::foreground`] runs it here (terminal relay, exit recorded;
//! with detach keys on a terminal, in a child that can detach, see
//! `detach`) or [`Prepared::detached`] hands it to a supervisor
//! (`supervisor`).
//! [`Prepared::existing`] does the same for a stored container (`start`).
//!
//! ```no_run
//! # fn demo(dirs: &hutch::dirs::Dirs, image: hutch::store::Image) -> Result<(), hutch::container::launch::Error> {
//! use hutch::container::launch::Launch;
//! use hutch::userns::idmap::UsernsRequest;
//! let outcome = Launch::new(dirs, "alpine", image)
//!     .command(["sh", "-c", "make test"])
//!     .env("CI=1")
//!     .bind("/home/me/src", "/src", false)
//!     .workdir("/src")
//!     .userns(UsernsRequest::KeepId)
//!     .auto_remove(true)
//!     .create(&hutch::report::Silent)?
//!     .foreground(&hutch::report::Silent)?;
//! std::process::exit(outcome.code());
//! # }
//! ```
//!
//! It does not parse command lines, pull images or print: the caller maps
//! its flags onto the settings and reports the [`Outcome`].

use super::companion::Companion;
use super::detach::{self, Split, Tell};
use super::health::{self, Monitor};
use super::logger::{Logger, Relay};
use super::logs::{self, Driver as LogDriver};
use super::mounts::{self, Mount};
use super::restart::{self, Policy};
use super::{removing, supervisor, Config, Containers, ProcId, Record, Status};
use crate::dirs::Dirs;
use crate::net::plan::{HostEnv, NetFlags};
use crate::net::ports::PortMapping;
use crate::net::Network;
use crate::report::Report;
use crate::rootfs::fuse::IdShift;
use crate::rootfs::{driver, Driver, DriverKind, Features, MountApi, Overlay};
use crate::sandbox::cgroup::Placement;
use crate::sandbox::host::HostPaths;
use crate::sandbox::limits::CgroupLimits;
use crate::sandbox::plan::Op;
use crate::sandbox::security::{Flags as SecurityFlags, Security};
use crate::sandbox::{self, MountSpec, Plan, ProcessSpec, Removal, Spec};
use crate::store::{Image, Store};
use crate::userns::idmap::{IdMapping, IdSources, MapMode, UsernsRequest};
use crate::volume::Volumes;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Source = Box<dyn std::error::Error + Send + Sync>;

/// Why a container could not be created or started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("user namespaces are not available to this user: {0} (run `hutch info` for the fix)")]
    NoUserns(String),
    #[error("no storage driver can be used here: {0} (run `hutch info`)")]
    NoDriver(#[source] driver::SelectError),
    /// The driver a container was created with, as its record names it.
    #[error("unknown storage driver '{}' (use {})", .0, crate::named::one_of(DriverKind::NAMES))]
    UnknownDriver(String),
    #[error(transparent)]
    Mapping(#[from] crate::userns::Error),
    #[error("the image {image} of container {name}: {error}")]
    Image {
        image: String,
        name: String,
        error: Source,
    },
    #[error("image store: {0}")]
    Store(Source),
    #[error("cannot unpack the layers of image {image}: {error}")]
    Layers { image: String, error: Source },
    #[error("cannot create the skeleton layer in {path}: {error}")]
    Skeleton {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid volume '{spec}': {why}")]
    Volume {
        spec: String,
        why: mounts::MountError,
    },
    #[error("invalid --mount '{spec}': {why}")]
    Mount {
        spec: String,
        why: mounts::MountError,
    },
    #[error("invalid --tmpfs '{spec}': {why}")]
    Tmpfs {
        spec: String,
        why: mounts::MountError,
    },
    #[error("the image's VOLUME {path} cannot be mounted: {why}")]
    ImageVolume {
        path: String,
        why: mounts::MountError,
    },
    #[error(
        "the overlay volume on {target} (:O) needs native overlayfs, which cannot be \
         used here: {why}; bind-mount the directory instead (-v HOST:{target})"
    )]
    OverlayVolume {
        target: String,
        #[source]
        why: driver::Unusable,
    },
    #[error("cannot create the bind mount source {path}: {error}")]
    BindSource {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Network(#[from] crate::net::Error),
    /// Limits `--strict-limits` requires that cannot be applied here: the
    /// flags, and why the cgroup cannot take them.
    #[error("{flags} cannot be applied: {why}")]
    StrictLimits {
        flags: String,
        #[source]
        why: crate::sandbox::limits::Unusable,
    },
    /// Capabilities, seccomp, --security-opt or limits as given.
    #[error(transparent)]
    Confinement(#[from] crate::sandbox::security::SecurityError),
    #[error("--network container:{name}: {why}")]
    Joined {
        name: String,
        #[source]
        why: JoinError,
    },
    #[error("container {0} is already running (stop it first with `hutch stop {0}`)")]
    AlreadyRunning(String),
    #[error("cannot start the supervisor: {0}")]
    Supervisor(#[source] super::logger::SpawnError),
    /// The fork that lets a foreground `-it` run detach.
    #[error("cannot start a run that can detach: {0}")]
    Detachable(#[source] super::logger::SpawnError),
    /// The FIFO a detached `-i` container reads.
    #[error("cannot start the supervisor: cannot make the container's stdin in {}: {error}", dir.display())]
    Stdin {
        dir: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error(transparent)]
    Sandbox(#[from] sandbox::Error),
    #[error(transparent)]
    Record(#[from] super::Error),
    #[error(
        "conflicting options: --restart {0} and --rm (a container removed when it exits \
         cannot be restarted; drop one of them)"
    )]
    RestartWithRm(Policy),
    #[error(transparent)]
    LogConfig(#[from] logs::LogConfigError),
    #[error("--stop-signal: {0}")]
    StopSignal(#[source] super::signals::BadSignal),
    #[error(transparent)]
    HealthCheck(#[from] health::HealthError),
    #[error("invalid --device '{spec}': {why}")]
    Device {
        spec: String,
        #[source]
        why: DeviceError,
    },
}

/// Why `--network container:NAME` cannot join that container's network.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Lookup(#[from] super::Error),
    #[error("container {0} uses the host's network; use --network host")]
    HostNetwork(String),
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error(
        "container {name} has another user id mapping ({theirs}, this one {ours}); \
         use the same --userns"
    )]
    OtherMapping {
        name: String,
        theirs: String,
        ours: String,
    },
    /// Its /etc/hosts or /etc/resolv.conf, read through its FUSE root.
    #[error("cannot read its {path}: {error}")]
    ReadFuse {
        path: String,
        #[source]
        error: std::io::Error,
    },
    #[error(transparent)]
    Read(#[from] crate::rootfs::read::ReadError),
}

/// Why a `--device HOST[:CONTAINER[:PERMS]]` value cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("expected HOST[:CONTAINER[:PERMS]]")]
    Syntax,
    #[error("permissions '{0}': use a combination of r, w and m")]
    Perms(String),
    #[error("device paths must be absolute")]
    Relative,
    #[error("{}: {error}", host.display())]
    Stat {
        host: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{} is not a device node", .0.display())]
    NotDevice(PathBuf),
    #[error(
        "this user cannot open {} ({error}); hutch passes on only devices you can open",
        host.display()
    )]
    Open {
        host: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error(
        "permissions '{perms}' forbid {what}, but this user may {verb} {}, and without a \
         device cgroup nothing keeps the container from it; give rw (or leave PERMS out)",
        host.display()
    )]
    LeftOut {
        perms: String,
        what: &'static str,
        verb: &'static str,
        host: PathBuf,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// How a launch ended, for the caller to report.
#[derive(Debug)]
pub enum Outcome {
    /// Foreground: the container ran and ended with `code`; `error` says why
    /// when the sandbox itself failed (the code is then 125-127).
    Exited {
        code: i32,
        error: Option<sandbox::Error>,
    },
    /// Detached: pid 1 runs under its supervisor.
    Started,
    /// Foreground: the user typed the detach keys; the container runs on
    /// under the process that ran it, now its detached supervisor.
    Detached,
    /// Detached: the supervisor could not start pid 1.
    Failed { code: i32, message: String },
}

impl Outcome {
    /// The exit code a command line should end with (0 once detached).
    pub fn code(&self) -> i32 {
        match self {
            Outcome::Exited { code, .. } | Outcome::Failed { code, .. } => *code,
            Outcome::Started | Outcome::Detached => 0,
        }
    }

    /// What went wrong inside hutch, when something did.
    pub fn error(&self) -> Option<String> {
        match self {
            Outcome::Exited { error, .. } => error.as_ref().map(|e| e.to_string()),
            Outcome::Failed { message, .. } => Some(message.clone()),
            Outcome::Started | Outcome::Detached => None,
        }
    }
}

/// A new container from an image, set up by chained settings.
#[must_use]
pub struct Launch<'a> {
    dirs: &'a Dirs,
    image_name: String,
    image: Image,
    name: Option<String>,
    command: Option<Vec<String>>,
    entrypoint: Option<String>,
    env: Vec<String>,
    user: Option<String>,
    workdir: Option<String>,
    hostname: Option<String>,
    volumes: Vec<String>,
    mounts: Vec<String>,
    volumes_from: Vec<String>,
    tmpfs: Vec<String>,
    network: NetFlags,
    userns: UsernsRequest,
    read_only: bool,
    read_only_tmpfs: bool,
    init: bool,
    tty: bool,
    interactive: bool,
    auto_remove: bool,
    rm_layer: RmLayer,
    security: SecurityFlags,
    storage_driver: Option<DriverKind>,
    restart: Policy,
    labels: BTreeMap<String, String>,
    stop_timeout: Option<u64>,
    stop_signal: Option<String>,
    detach_keys: Option<Vec<u8>>,
    health: health::Check,
    no_healthcheck: bool,
    log_driver: String,
    log_opts: BTreeMap<String, String>,
    group_add: Vec<String>,
    devices: Vec<String>,
    no_sig_proxy: bool,
    companion: Vec<String>,
}

impl<'a> Launch<'a> {
    /// A container of `image` (which the caller named `image_name`) in the
    /// state dir of `dirs`, with the defaults of `hutch run IMAGE`.
    pub fn new(dirs: &'a Dirs, image_name: impl Into<String>, image: Image) -> Launch<'a> {
        Launch {
            dirs,
            image_name: image_name.into(),
            image,
            name: None,
            command: None,
            entrypoint: None,
            env: Vec::new(),
            user: None,
            workdir: None,
            hostname: None,
            volumes: Vec::new(),
            mounts: Vec::new(),
            volumes_from: Vec::new(),
            tmpfs: Vec::new(),
            network: NetFlags::default(),
            userns: UsernsRequest::Auto,
            read_only: false,
            read_only_tmpfs: false,
            init: false,
            tty: false,
            interactive: false,
            auto_remove: false,
            rm_layer: RmLayer::Disk,
            security: SecurityFlags::default(),
            storage_driver: None,
            restart: Policy::No,
            labels: BTreeMap::new(),
            stop_timeout: None,
            stop_signal: None,
            detach_keys: None,
            health: health::Check::default(),
            no_healthcheck: false,
            log_driver: String::new(),
            log_opts: BTreeMap::new(),
            group_add: Vec::new(),
            devices: Vec::new(),
            no_sig_proxy: false,
            companion: Vec::new(),
        }
    }

    /// The storage driver of the root filesystem (default: the first of
    /// overlay, fuse, copy that works here). Kept in the record, so a
    /// restart uses the same one (the copy driver's root is not an upper
    /// dir the others could mount).
    pub fn storage_driver(mut self, kind: DriverKind) -> Self {
        self.storage_driver = Some(kind);
        self
    }

    /// A unique name (default: none, `ps` shows the id).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The command and its arguments, replacing the image's CMD (an empty
    /// list keeps the image's).
    pub fn command<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        self.command = (!argv.is_empty()).then_some(argv);
        self
    }

    /// Replace the image's entrypoint ("" clears it); as in Docker this
    /// also drops the image's CMD.
    pub fn entrypoint(mut self, entrypoint: impl Into<String>) -> Self {
        self.entrypoint = Some(entrypoint.into());
        self
    }

    /// One `KEY=VALUE`, after the image's environment.
    pub fn env(mut self, entry: impl Into<String>) -> Self {
        self.env.push(entry.into());
        self
    }

    /// Several `KEY=VALUE` entries, in order.
    pub fn envs<S: Into<String>>(mut self, entries: impl IntoIterator<Item = S>) -> Self {
        self.env.extend(entries.into_iter().map(Into::into));
        self
    }

    /// `USER[:GROUP]` (names from the image or numbers); default: the
    /// image's USER, or yourself under keep-id, else root.
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The working directory inside (created if missing); default: the
    /// image's WORKDIR, else /.
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = Some(dir.into());
        self
    }

    /// The host name inside (default: the short container id).
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.hostname = Some(name.into());
        self
    }

    /// Bind mount an absolute host path onto `target`.
    pub fn bind(mut self, host: impl AsRef<Path>, target: &str, read_only: bool) -> Self {
        let mode = if read_only { ":ro" } else { "" };
        self.volumes
            .push(format!("{}:{target}{mode}", host.as_ref().display()));
        self
    }

    /// A volume as Docker's `-v` writes it: `[SOURCE:]CONTAINER[:OPTIONS]`,
    /// SOURCE a host path (relative ones against the working directory)
    /// or a volume name (created when missing); none makes an anonymous
    /// volume.
    pub fn volume(mut self, spec: impl Into<String>) -> Self {
        self.volumes.push(spec.into());
        self
    }

    /// A mount as Docker's `--mount` writes it (`type=bind|volume|tmpfs,...`).
    pub fn mount(mut self, spec: impl Into<String>) -> Self {
        self.mounts.push(spec.into());
        self
    }

    /// The volumes and bind mounts of another container, as
    /// `CONTAINER[:ro|:rw]` (Docker's `--volumes-from`).
    pub fn volumes_from(mut self, spec: impl Into<String>) -> Self {
        self.volumes_from.push(spec.into());
        self
    }

    /// A tmpfs as `PATH[:OPTIONS]` (Docker's `--tmpfs`).
    pub fn tmpfs(mut self, spec: impl Into<String>) -> Self {
        self.tmpfs.push(spec.into());
        self
    }

    /// Network mode, published ports, DNS and hosts settings.
    pub fn network(mut self, flags: NetFlags) -> Self {
        self.network = flags;
        self
    }

    /// Which user namespace mapping to use (default: auto).
    pub fn userns(mut self, request: UsernsRequest) -> Self {
        self.userns = request;
        self
    }

    /// Shorthand for `userns(UsernsRequest::KeepId)`: your own uid and gid
    /// inside, files you create are yours on the host.
    pub fn keep_id(self) -> Self {
        self.userns(UsernsRequest::KeepId)
    }

    /// Mount the root filesystem read-only; `tmpfs` adds fresh /tmp,
    /// /var/tmp and /run.
    pub fn read_only(mut self, read_only: bool, tmpfs: bool) -> Self {
        self.read_only = read_only;
        self.read_only_tmpfs = tmpfs;
        self
    }

    /// A small init as pid 1 that forwards signals and reaps zombies.
    pub fn init(mut self, init: bool) -> Self {
        self.init = init;
        self
    }

    /// A terminal for the container.
    pub fn tty(mut self, tty: bool) -> Self {
        self.tty = tty;
        self
    }

    /// Keep stdin open.
    pub fn interactive(mut self, interactive: bool) -> Self {
        self.interactive = interactive;
        self
    }

    /// Capabilities, seccomp, no_new_privs, fake root, /dev/shm size and
    /// limits, as Docker's flags spell them (the text of a `seccomp=FILE`
    /// profile already read into `seccomp_profile`).
    pub fn security(mut self, flags: SecurityFlags) -> Self {
        self.security = flags;
        self
    }

    /// Remove the container (its directory and writable layer) when it exits.
    pub fn auto_remove(mut self, auto_remove: bool) -> Self {
        self.auto_remove = auto_remove;
        self
    }

    /// Where the writable layer of an auto-removed container lives: on
    /// disk (the default) or in memory where it can be (see
    /// [`RmLayer::Memory`]). Ignored without [`Launch::auto_remove`].
    pub fn rm_layer(mut self, place: RmLayer) -> Self {
        self.rm_layer = place;
        self
    }

    /// Restart pid 1 when it exits, as `policy` says (see `restart`):
    /// only a detached container's supervisor restarts it.
    pub fn restart(mut self, policy: Policy) -> Self {
        self.restart = policy;
        self
    }

    /// Labels, over the image's of the same key.
    pub fn labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }

    /// Seconds `hutch stop` waits before SIGKILL (default 10).
    pub fn stop_timeout(mut self, secs: u64) -> Self {
        self.stop_timeout = Some(secs);
        self
    }

    /// The signal `hutch stop` sends (default: the image's STOPSIGNAL, else TERM).
    /// `--detach-keys` (their bytes), kept in the record for a later
    /// `start -ai` or `attach`.
    pub fn detach_keys(mut self, keys: Vec<u8>) -> Self {
        self.detach_keys = Some(keys);
        self
    }

    pub fn stop_signal(mut self, sig: impl Into<String>) -> Self {
        self.stop_signal = Some(sig.into());
        self
    }

    /// The health check: set fields replace the image's HEALTHCHECK's;
    /// `disable` drops any check (`--no-healthcheck`).
    pub fn healthcheck(mut self, check: health::Check, disable: bool) -> Self {
        self.health = check;
        self.no_healthcheck = disable;
        self
    }

    /// `--log-driver` (empty: k8s-file) and its `--log-opt`s.
    pub fn log(mut self, driver: impl Into<String>, opts: BTreeMap<String, String>) -> Self {
        self.log_driver = driver.into();
        self.log_opts = opts;
        self
    }

    /// More supplementary groups (numbers, or names from the container's /etc/group).
    pub fn group_add(mut self, groups: Vec<String>) -> Self {
        self.group_add = groups;
        self
    }

    /// Host device nodes, `HOST[:CONTAINER[:PERMS]]`.
    pub fn devices(mut self, devices: Vec<String>) -> Self {
        self.devices = devices;
        self
    }

    /// Do not pass the signals an attached hutch gets on to pid 1.
    pub fn no_sig_proxy(mut self, no_proxy: bool) -> Self {
        self.no_sig_proxy = no_proxy;
        self
    }

    /// A hidden hutch subcommand (with its arguments) run beside pid 1
    /// while it runs; see [`super::companion`].
    pub fn companion(mut self, args: Vec<String>) -> Self {
        self.companion = args;
        self
    }

    /// Check everything (name, volumes, the user namespace, overlay support,
    /// the network, the sandbox plan), then record the container as
    /// starting. Nothing is created before the checks pass.
    pub fn create(self, report: &dyn Report) -> Result<Prepared> {
        let mut mounts = Vec::new();
        for v in &self.volumes {
            mounts.push(parse_volume(v)?);
        }
        for m in &self.mounts {
            mounts.push(parse_mount(m)?);
        }
        for t in &self.tmpfs {
            check_tmpfs(t)?;
        }
        for f in &self.volumes_from {
            let (name, mode) = mounts::parse_volumes_from(f).map_err(|why| Error::Volume {
                spec: f.clone(),
                why,
            })?;
            let from = Containers::new(&self.dirs.state).resolve(name)?;
            mounts.extend(mounts::inherited(&from, mode));
        }
        if let Some(n) = &self.name {
            super::check_name(n)?;
        }
        if self.auto_remove && self.restart != Policy::No {
            return Err(Error::RestartWithRm(self.restart));
        }
        logs::Config::new(&self.log_driver, &self.log_opts)?;
        for d in &self.devices {
            parse_device(d)?;
        }
        if let Some(sig) = &self.stop_signal {
            sig.parse::<super::signals::Sig>()
                .map_err(Error::StopSignal)?;
        }
        // Opened once for the whole start: each open makes sure of the
        // store's layout (a mkdir and three stats).
        let store = Store::open(self.dirs).map_err(|e| Error::Store(e.into()))?;
        let healthcheck = match self.no_healthcheck {
            true => None,
            false => health::Check::merge(
                self.health,
                health::Check::of_image(&self.image.config_json),
            ),
        };
        if let Some(h) = &healthcheck {
            h.argv()?;
        }
        let mapping = IdMapping::detect(self.userns, &IdSources::default())?;
        let cfg = self.image.config.config().clone().unwrap_or_default();
        let volumes = Volumes::new(&self.dirs.store);
        let mut anonymous = Vec::new();
        let resolved = resolve_mounts(
            &volumes,
            mounts,
            cfg.volumes().as_deref().unwrap_or_default(),
            &mut anonymous,
        );
        let (volume_flags, mount_flags) = match resolved {
            Ok(r) => r,
            Err(e) => {
                discard(&volumes, &anonymous);
                return Err(e);
            }
        };
        let mut labels = cfg.labels().clone().unwrap_or_default();
        labels.extend(self.labels);
        let (entrypoint, cmd) = command_line(
            cfg.entrypoint().as_deref(),
            cfg.cmd().as_deref(),
            self.entrypoint.as_deref(),
            self.command.as_deref().unwrap_or_default(),
        );
        let env = merge_env(cfg.env().as_deref().unwrap_or_default(), self.env);
        let user = self
            .user
            .or_else(|| cfg.user().clone().filter(|u| !u.is_empty()))
            .or_else(|| {
                // podman's keep-id: run as yourself unless told otherwise.
                (mapping.mode == MapMode::KeepId)
                    .then(|| format!("{}:{}", mapping.host_uid, mapping.host_gid))
            });
        let workdir = self
            .workdir
            .or_else(|| cfg.working_dir().clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".into());
        let containers = Containers::new(&self.dirs.state);
        let id = super::new_id();
        let hostname = self.hostname.unwrap_or_else(|| id[..12].to_string());
        let mut rec = Record {
            id: id.clone(),
            name: self.name.unwrap_or_default(),
            image: self.image_name,
            image_id: self.image.id.clone(),
            command: entrypoint.iter().chain(&cmd).cloned().collect(),
            created: chrono::Utc::now(),
            status: Status::Created,
            pid: None,
            exit_code: None,
            finished: None,
            mapping_key: mapping.key(),
            auto_remove: self.auto_remove,
            config: Config {
                env,
                user,
                workdir,
                hostname,
                network: self.network,
                userns: self.userns.to_string(),
                volumes: volume_flags,
                mounts: mount_flags,
                anonymous_volumes: anonymous.clone(),
                tmpfs: self.tmpfs,
                read_only: self.read_only,
                read_only_tmpfs: self.read_only_tmpfs,
                init: self.init,
                tty: self.tty,
                interactive: self.interactive,
                detach_keys: self.detach_keys,
                stop_signal: self.stop_signal.or_else(|| cfg.stop_signal().clone()),
                entrypoint: Some(entrypoint),
                cmd: Some(cmd),
                security: self.security,
                storage_driver: self
                    .storage_driver
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
                restart: match self.restart {
                    Policy::No => String::new(),
                    p => p.to_string(),
                },
                labels: labels.into_iter().collect(),
                stop_timeout: self.stop_timeout,
                healthcheck,
                log_driver: self.log_driver,
                log_opts: self.log_opts,
                group_add: self.group_add,
                devices: self.devices,
                no_sig_proxy: self.no_sig_proxy,
                companion: self.companion,
            },
            started: None,
            init: None,
            supervisor: None,
            ports: Vec::new(),
            restart_count: 0,
            stopped_by_user: false,
            health: None,
        };
        let dir = containers.dir(&id);
        let planned = plan(
            self.dirs,
            &store,
            &rec,
            &dir,
            &self.image,
            mapping,
            self.rm_layer,
            None,
            report,
        )
        .and_then(|(plan, ports)| {
            rec.ports = ports;
            rec.config.storage_driver = plan.rootfs_driver.kind().to_string();
            // Claimed from the start: `ps` lists it and a second start is
            // refused while pid 1 is being set up.
            starting(&mut rec);
            let in_memory = plan.layer_in_memory;
            containers.create(&mut rec, |d| match in_memory {
                true => Ok(()),
                false => create_dir(d, &plan.rootfs_mountpoint),
            })?;
            Ok(plan)
        });
        let plan = match planned {
            Ok(p) => p,
            Err(e) => {
                discard(&volumes, &anonymous);
                return Err(e);
            }
        };
        Ok(Prepared {
            dirs: self.dirs.clone(),
            containers,
            volumes,
            rec,
            plan,
            dir,
            relay: Relay::default(),
            detach_keys: None,
        })
    }
}

/// A recorded container with a checked plan, claimed by this process and
/// ready to run.
pub struct Prepared {
    dirs: Dirs,
    containers: Containers,
    volumes: Volumes,
    rec: Record,
    plan: Plan,
    dir: PathBuf,
    relay: Relay,
    detach_keys: Option<Vec<u8>>,
}

impl Prepared {
    /// A stored container (`hutch start`): its image and id mapping looked
    /// up again, its plan rebuilt, the record claimed (refused while it
    /// runs). `interactive` keeps stdin open this time.
    pub fn existing(
        dirs: &Dirs,
        name: &str,
        interactive: bool,
        report: &dyn Report,
    ) -> Result<Prepared> {
        let containers = Containers::new(&dirs.state);
        let mut rec = containers.resolve(name)?;
        rec.config.interactive |= interactive;
        let dir = containers.dir(&rec.id);
        let (store, image, mapping) = resolve(dirs, &rec)?;
        // Its writable layer is on disk already: `leave_created` made it.
        let layer = RmLayer::Disk;
        let (plan, ports) = plan(
            dirs, &store, &rec, &dir, &image, mapping, layer, None, report,
        )?;
        let rec = claim(&containers, &rec.id, ports)?;
        Ok(Prepared {
            dirs: dirs.clone(),
            containers,
            volumes: Volumes::new(&dirs.store),
            rec,
            plan,
            dir,
            relay: Relay::default(),
            detach_keys: None,
        })
    }

    /// The container's full id.
    pub fn id(&self) -> &str {
        &self.rec.id
    }

    /// The detach keys its `run` or `create` was given, if any.
    pub fn recorded_detach_keys(&self) -> Option<Vec<u8>> {
        self.rec.config.detach_keys.clone()
    }

    /// Its record as it stands before the start.
    pub fn record(&self) -> &Record {
        &self.rec
    }

    /// Leave the container created, not started (`hutch create`): the
    /// claim taken while it was set up is given back. Its full id.
    pub fn leave_created(self) -> Result<String> {
        // Started later, perhaps after a `cp` into it: its writable layer
        // must be on disk from now on.
        if self.plan.layer_in_memory {
            let overlay_mounts = self
                .plan
                .ops
                .iter()
                .any(|o| matches!(o, Op::Overlay { .. }));
            let root = match over_dir_on_disk(&self.plan.rootfs_driver, overlay_mounts) {
                true => self.dir.clone(),
                false => self.dir.join(ROOTFS_DIR),
            };
            create_dir(&self.dir, &root)?;
        }
        self.containers.update(&self.rec.id, |r| {
            r.status = Status::Created;
            r.supervisor = None;
        })?;
        Ok(self.rec.id)
    }

    /// Run here and wait: the terminal is relayed, the exit recorded (or the
    /// container removed with auto-remove). `report` hears when the
    /// container's log cannot be kept.
    pub fn foreground(self, report: &dyn Report) -> Result<Outcome> {
        let c = &self.rec.config;
        // Only here is there a terminal to detach from: every other run
        // (a `run --rm` without -t above all) takes no extra fork.
        let keys = self
            .detach_keys
            .as_ref()
            .filter(|k| !k.is_empty() && c.tty && c.interactive)
            .filter(|_| std::io::IsTerminal::is_terminal(&std::io::stdin()))
            .cloned();
        let detach = match keys {
            None => None,
            Some(keys) => match detach::split().map_err(Error::Detachable)? {
                Split::Parent(ended) => {
                    // The child owns the container and everything the plan
                    // holds; this process only exits, leaving them alone.
                    std::mem::forget(self);
                    return Ok(match ended {
                        detach::Ended::Detached => Outcome::Detached,
                        detach::Ended::Exited(code) => Outcome::Exited { code, error: None },
                    });
                }
                Split::Child(tell) => Some((keys, tell)),
            },
        };
        Ok(foreground(
            &self.dirs,
            &self.containers,
            &self.volumes,
            &self.rec,
            self.plan,
            &self.dir,
            self.relay,
            detach,
            report,
        ))
    }

    /// On a terminal with `-i -t`, these keys (Docker's bytes, as
    /// ctrl-p,ctrl-q's `[0x10, 0x11]`) detach a foreground run: the
    /// container runs on as if started detached. Default: none.
    pub fn detach_keys(mut self, keys: Vec<u8>) -> Self {
        self.detach_keys = Some(keys);
        self
    }

    /// Show only these of the container's streams here (Docker's `-a`;
    /// the log keeps both).
    pub fn attach(mut self, stdout: bool, stderr: bool) -> Self {
        self.relay = Relay { stdout, stderr };
        self
    }

    /// Run under a detached supervisor; returns once pid 1 runs (or failed
    /// to start).
    pub fn detached(self) -> Result<Outcome> {
        detached(
            &self.dirs,
            &self.containers,
            &self.volumes,
            &self.rec,
            self.plan,
            &self.dir,
        )
    }
}

/// The container's directory (created by `Containers::create`) with its
/// overlay dirs, and `root`, the root filesystem's mount point, when it is
/// not the directory itself (see [`root_over_dir`]).
fn create_dir(dir: &Path, root: &Path) -> super::Result<()> {
    crate::modes::create_public_dir(&dir.join("upper"))?;
    fs_err::create_dir(dir.join("work"))?;
    if root != dir {
        fs_err::create_dir(root)?;
    }
    Ok(())
}

/// The root filesystem's own mount point in a container's directory, for
/// the drivers that cannot mount over the directory itself.
pub const ROOTFS_DIR: &str = "rootfs";

/// Whether the container's root filesystem can be mounted over its
/// directory itself (in the container's mount namespace only), sparing a
/// `rootfs/` directory that every `run --rm` would create and free (a
/// discard each on a filesystem that discards). Native overlay only (the
/// FUSE server mounts from outside the container, the copy driver works
/// on host paths in the directory), and no `-v ...:O` overlay, whose upper
/// and work dirs are in the directory too: the mount would hide them from
/// the steps after it.
fn root_over_dir(spec: &Spec) -> bool {
    !spec.layer_in_memory
        && over_dir_on_disk(
            &spec.rootfs_driver,
            spec.mounts
                .iter()
                .any(|m| matches!(m, MountSpec::Overlay { .. })),
        )
}

/// [`root_over_dir`] for a start whose writable layer is on disk, given
/// whether it has `-v ...:O` overlays: what a created container's later
/// starts do, whose layer is on disk from then on.
fn over_dir_on_disk(driver: &Driver, overlay_mounts: bool) -> bool {
    matches!(driver, Driver::Overlay(_)) && !overlay_mounts
}

/// Docker's rule: `--entrypoint` replaces the image's entrypoint and drops its
/// command; a command on the line replaces the image's command. The
/// container's entrypoint and command.
fn command_line(
    image_entry: Option<&[String]>,
    image_cmd: Option<&[String]>,
    entry_flag: Option<&str>,
    cmd: &[String],
) -> (Vec<String>, Vec<String>) {
    let entry: Vec<String> = match entry_flag {
        Some("") => Vec::new(),
        Some(e) => vec![e.to_string()],
        None => image_entry.unwrap_or_default().to_vec(),
    };
    let cmd: Vec<String> = if !cmd.is_empty() {
        cmd.to_vec()
    } else if entry_flag.is_some() {
        Vec::new()
    } else {
        image_cmd.unwrap_or_default().to_vec()
    };
    (entry, cmd)
}

/// Docker's container environment: the image's, less the names the user
/// sets again, then the user's (`--env-file`, then `-e`).
fn merge_env(image: &[String], user: Vec<String>) -> Vec<String> {
    let name = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let set: std::collections::HashSet<String> = user.iter().map(|e| name(e)).collect();
    let mut env: Vec<String> = image
        .iter()
        .filter(|e| !set.contains(&name(e)))
        .cloned()
        .collect();
    env.extend(user);
    env
}

/// What `hutch start` looks up again for a stored container: its image (and
/// the store it is in) and the id mapping, which must still be the one its
/// files were made with.
pub(super) fn resolve(dirs: &Dirs, rec: &Record) -> Result<(Store, Image, IdMapping)> {
    let store = Store::open(dirs).map_err(|e| Error::Store(e.into()))?;
    let image = store.image(&rec.image_id).map_err(|e| Error::Image {
        image: rec.image.clone(),
        name: rec.name.clone(),
        error: e.into(),
    })?;
    Ok((store, image, rec.mapping()?))
}

/// Everything a sandbox over an image needs besides its root filesystem:
/// shared by containers and build's RUN steps.
pub struct Settings {
    pub process: ProcessSpec,
    pub hostname: String,
    pub network: Network,
    pub mounts: Vec<MountSpec>,
    pub read_only: bool,
    pub read_only_tmpfs: bool,
    pub security: Security,
    /// The user-namespace keeper a restarting supervisor already holds:
    /// kept while it runs with the same mapping, so that a restart stays
    /// in the shared network namespace nested in it (and needs no runtime
    /// dir, which a logout removes).
    pub keeper: Option<std::sync::Arc<crate::userns::keeper::Keeper>>,
}

/// Which storage drivers a sandbox may use.
#[derive(Debug, Clone, Copy)]
pub struct Drivers {
    /// Asked for by name: only this one, or an error saying why not.
    pub requested: Option<DriverKind>,
    /// Tried in order otherwise.
    pub allowed: &'static [DriverKind],
}

/// The sandbox spec for `settings` over `image`'s layers (None: an empty
/// root) unpacked for `mapping`, with its overlay dirs in `dir`: the kernel
/// support checked, the skeleton layer below the image, a keeper when the
/// mapping needs helpers, /etc/hostname, hosts and resolv.conf generated.
/// `volatile` skips the overlay's sync on unmount (for throw-away upper
/// dirs); `remove_after` takes `dir` away when the sandbox ends. The
/// storage driver is `drivers.requested` or the first of `drivers.allowed`
/// that works here.
#[allow(clippy::too_many_arguments)]
pub fn sandbox_spec(
    state: &Path,
    store: &Store,
    image: Option<&Image>,
    mapping: IdMapping,
    drivers: Drivers,
    dir: &Path,
    volatile: bool,
    remove_after: bool,
    settings: Settings,
    report: &dyn Report,
) -> Result<Spec> {
    let src = IdSources::default();
    report.debug(&format!(
        "user namespace: {} ({})",
        mapping.mode, mapping.reason
    ));
    let features = Features::load_or_probe(state);
    if let Some(e) = &features.userns_error {
        return Err(Error::NoUserns(e.clone()));
    }
    let selection =
        driver::select(drivers.requested, drivers.allowed, &features).map_err(Error::NoDriver)?;
    for (kind, why) in &selection.rejected {
        // Falling back is worth a line: it costs speed or disk.
        report.info(&format!("storage driver {kind} not used: {why}"));
    }
    report.debug(&format!("storage driver: {}", selection.kind));
    // `-v ...:O` mounts native overlayfs whatever the root's driver: say so
    // now rather than fail half-way through the container's setup.
    if let Some(why) = driver::unusable(DriverKind::Overlay, &features) {
        if let Some(MountSpec::Overlay { target, .. }) = settings
            .mounts
            .iter()
            .find(|m| matches!(m, MountSpec::Overlay { .. }))
        {
            return Err(Error::OverlayVolume {
                target: target.clone(),
                why,
            });
        }
    }
    // The skeleton goes below the image: mount points without copy-ups.
    let skeleton = crate::rootfs::skeleton::ensure(state).map_err(|e| Error::Skeleton {
        path: state.to_path_buf(),
        error: e,
    })?;
    let mut lowers = vec![skeleton];
    // keep-id on FUSE: the layers as unpacked for the default mapping,
    // owners translated on the fly instead of a chown copy per mapping.
    let (layers_for, rootfs_driver) = match selection.kind {
        DriverKind::Fuse if mapping.mode == MapMode::KeepId => {
            let base = IdMapping::detect(UsernsRequest::Auto, &src)?;
            let shift = IdShift::between(&mapping, &base);
            (base, Driver::Fuse(shift))
        }
        DriverKind::Fuse => (mapping.clone(), Driver::Fuse(IdShift::default())),
        DriverKind::Overlay => (
            mapping.clone(),
            Driver::Overlay(selection.mount_api.unwrap_or(MountApi::Legacy)),
        ),
        DriverKind::Copy => (mapping.clone(), Driver::Copy),
    };
    let mut data = Vec::new();
    if let Some(image) = image {
        let keep_id_overlay =
            matches!(rootfs_driver, Driver::Overlay(_)) && mapping.mode == MapMode::KeepId;
        let meta = match keep_id_overlay {
            true => super::keep_id::metadata(
                store, image, &lowers[0], &mapping, &features, &src, report,
            ),
            false => None,
        };
        match meta {
            // The skeleton is inside it: overlayfs follows a redirect into
            // a data-only layer only from the lowest ordinary layer.
            Some((meta, dir)) => {
                lowers = vec![meta];
                data.push(dir);
            }
            None => lowers.extend(layer_dirs(store, image, &layers_for, &src, report)?),
        }
    }
    let network = settings.network;
    report.debug(&format!("network: {}", network.mode()));
    let held = settings.keeper.filter(|k| k.serves(&mapping));
    let keeper = match &network {
        // The joined container's user namespace is used as it is.
        Network::Container(_) => None,
        _ if held.is_some() => held,
        // Always a keeper: the shared network namespace is owned by its
        // namespace (see `net::bridge`). The one that namespace is in when
        // that is another live keeper (started with another
        // XDG_RUNTIME_DIR): this start's own would split the network.
        Network::Bridge(b) => {
            let mine = crate::userns::keeper::acquire(&mapping, &src)?;
            let keeper = match crate::net::bridge::recorded_keeper(&b.networks, &mapping.key()) {
                Some(nk) => crate::userns::keeper::owning(nk, &mapping, mine),
                None => mine,
            };
            Some(std::sync::Arc::new(keeper))
        }
        _ => crate::userns::keeper::for_spec(&mapping, &src, report),
    };
    let hostname = settings.hostname;
    Ok(Spec {
        mapping,
        id_sources: src,
        keeper,
        overlay: Overlay {
            lowers,
            data,
            upper: dir.join("upper"),
            work: dir.join("work"),
            volatile,
        },
        rootfs_driver,
        rootfs_mountpoint: dir.join(ROOTFS_DIR),
        scratch: dir.to_path_buf(),
        // Generated at each start, so a restart picks up the host's current
        // resolv.conf.
        etc_files: vec![
            ("/etc/hostname".into(), format!("{hostname}\n")),
            (
                "/etc/hosts".into(),
                network.hosts(&hostname, Path::new("/etc/hosts")),
            ),
            (
                "/etc/resolv.conf".into(),
                network.resolv_conf(Path::new("/etc/resolv.conf")),
            ),
        ],
        hostname,
        network,
        mounts: settings.mounts,
        read_only: settings.read_only,
        read_only_tmpfs: settings.read_only_tmpfs,
        process: settings.process,
        security: settings.security,
        remove_after: remove_after.then(|| Removal {
            dir: dir.to_path_buf(),
            renamed: removing(dir),
        }),
        layer_in_memory: false,
        cgroup: None,
    })
}

/// `store.layer_dirs` with the launch error that names the image.
fn layer_dirs(
    store: &Store,
    image: &Image,
    map: &IdMapping,
    src: &IdSources,
    report: &dyn Report,
) -> Result<Vec<PathBuf>> {
    store
        .layer_dirs(image, map, src, report)
        .map_err(|e| Error::Layers {
            image: image.short_id().to_string(),
            // With its causes: the one that says which entry and why.
            error: crate::chain::line(&e).into(),
        })
}

/// The sandbox plan that (re)creates `rec`'s container over its upper dir,
/// and the ports it publishes (recorded for `hutch port`). `rm_layer`:
/// where an auto-removed container's writable layer may live. `keeper`:
/// the one a restart already holds (see `Settings::keeper`).
#[allow(clippy::too_many_arguments)]
fn plan(
    dirs: &Dirs,
    store: &Store,
    rec: &Record,
    dir: &Path,
    image: &Image,
    mapping: IdMapping,
    rm_layer: RmLayer,
    keeper: Option<std::sync::Arc<crate::userns::keeper::Keeper>>,
    report: &dyn Report,
) -> Result<(Plan, Vec<PortMapping>)> {
    let c = &rec.config;
    let volumes = Volumes::new(&dirs.store);
    let mut mounts = Vec::new();
    for (i, flag) in c.volumes.iter().chain(&c.mounts).enumerate() {
        let m = match i < c.volumes.len() {
            true => parse_volume(flag)?,
            false => parse_mount(flag)?,
        };
        if let Some(name) = m.volume() {
            // A volume removed while its container was stopped comes back
            // empty, as `run` would make it.
            volumes.ensure(name).map_err(|e| Error::Store(e.into()))?;
        }
        let spec = mounts::to_spec(&m, &volumes, dir, i).map_err(|why| Error::Volume {
            spec: flag.clone(),
            why,
        })?;
        // Docker's `-v` creates a missing host directory; `--mount` refuses.
        if m.syntax == mounts::Syntax::Volume {
            create_missing_source(&spec)?;
        }
        mounts.push(spec);
    }
    mounts.extend(c.tmpfs.iter().map(|t| parse_tmpfs(t)));
    for d in &c.devices {
        mounts.push(parse_device(d)?);
    }
    let cfg = image.config.config().clone().unwrap_or_default();
    let exposed = cfg.exposed_ports().clone().unwrap_or_default();
    let network = match c.network.joined_container() {
        Some(name) => joined(dirs, rec, name)?,
        None => match Network::user_defined(&c.network, &dirs.store)? {
            nets if !nets.is_empty() => Network::on_bridge(
                nets,
                &c.network,
                &exposed,
                &c.hostname,
                (&rec.id, &rec.name),
                dir,
                &dirs.store,
                &HostEnv::detect(),
            )?,
            _ => Network::from_flags(&c.network, &exposed, &c.hostname, dir, &HostEnv::detect())?,
        },
    };
    let ports = network.ports().to_vec();
    let compiling = std::time::Instant::now();
    let security = c.security.resolve_in(&dirs.state)?;
    report.debug(&format!(
        "seccomp: {} program(s), {} instructions, read or compiled in {:?}",
        security.filters.programs.len(),
        security
            .filters
            .programs
            .iter()
            .map(Vec::len)
            .sum::<usize>(),
        compiling.elapsed()
    ));
    let cgroup = own_cgroup(
        &rec.id,
        &security.cgroup_limits,
        c.security.strict_limits,
        report,
    )?;
    let settings = Settings {
        process: ProcessSpec {
            args: rec.command.clone(),
            env: c.env.clone(),
            user: c.user.clone(),
            cwd: c.workdir.clone(),
            tty: c.tty,
            stdin: c.interactive,
            init: c.init,
            group_add: c.group_add.clone(),
            no_sig_proxy: c.no_sig_proxy,
        },
        hostname: c.hostname.clone(),
        network,
        mounts,
        read_only: c.read_only,
        read_only_tmpfs: c.read_only_tmpfs,
        security,
        keeper,
    };
    let requested = match c.storage_driver.as_str() {
        "" => None,
        s => Some(
            s.parse::<DriverKind>()
                .map_err(|_| Error::UnknownDriver(s.to_string()))?,
        ),
    };
    let drivers = Drivers {
        requested,
        allowed: &DriverKind::ALL,
    };
    let mut spec = sandbox_spec(
        &dirs.state,
        store,
        Some(image),
        mapping,
        drivers,
        dir,
        rec.auto_remove,
        rec.auto_remove,
        settings,
        report,
    )?;
    spec.cgroup = cgroup;
    spec.layer_in_memory =
        rec.auto_remove && rm_layer == RmLayer::Memory && layer_fits_in_memory(&spec, dir);
    if root_over_dir(&spec) {
        spec.rootfs_mountpoint = dir.to_path_buf();
    }
    let plan = Plan::build(spec)?;
    if report.debugging() {
        for line in crate::sandbox::trace::describe(&plan) {
            report.debug(&line);
        }
    }
    Ok((plan, ports))
}

/// Where an auto-removed (`--rm`) container's writable layer lives; users
/// choose it with `rm_layer` in config.toml or `HUTCH_RM_LAYER`.
///
/// Disk by default, as Docker and Podman keep it: in memory, what a
/// container writes outside its volumes is RAM in no process's resident
/// size (up to half of it per container; only a delegated cgroup's
/// `--memory` counts it), which several `--rm` containers
/// writing a lot could use up for the whole host, and `commit` of a
/// running `--rm` container (a Docker habit) would be refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RmLayer {
    /// On a tmpfs inside the container, where it can be
    /// (`Spec::layer_in_memory`): faster starts, but what it writes outside
    /// its volumes takes memory (ENOSPC past the tmpfs's size), and it
    /// cannot be read from outside while it runs (`commit`, `diff`,
    /// `export`). On disk where it cannot be.
    Memory,
    /// In the container's directory on disk, as a kept container's.
    #[default]
    Disk,
}

crate::named::named!(RmLayer, "rm_layer value", {
    Memory => "memory",
    Disk => "disk",
});

/// Whether a `--rm` container's writable layer can live on a tmpfs inside
/// its own mount namespace (`Spec::layer_in_memory`) rather than on disk.
/// It is thrown away anyway, and on disk every directory of it (the
/// container's upper, work and root mount point, and the four the kernel
/// makes in the work dir) is created and removed at every start; where the
/// filesystem discards freed blocks synchronously (ext4 `-o discard`) those
/// removals were most of a start's wall time. Only on native overlay (the
/// FUSE server and the copy driver work on host paths), not with keep-id
/// (its upper dir belongs to the caller's id inside, a tmpfs's to root),
/// on kernels whose tmpfs keeps the `user.` xattrs the overlay writes in
/// a user namespace (6.6), and never over an upper dir already on disk (a
/// `create --rm` container that `cp` may have written into before `start`).
fn layer_fits_in_memory(spec: &Spec, dir: &Path) -> bool {
    matches!(spec.rootfs_driver, Driver::Overlay(_))
        && spec.mapping.mode != MapMode::KeepId
        && spec.overlay.data.is_empty()
        && tmpfs_has_user_xattrs(&crate::rootfs::probe::kernel_release())
        && !dir.join("upper").exists()
}

/// tmpfs keeps `user.*` extended attributes since Linux 6.6.
fn tmpfs_has_user_xattrs(release: &str) -> bool {
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let major = nums.next().unwrap_or(0);
    let minor = nums.next().unwrap_or(0);
    (major, minor) >= (6, 6)
}

/// The container's own cgroup under the user's delegated one (Docker gives
/// every container one), with the limits when the controllers there
/// allow them; otherwise one line says why the limits are not applied
/// (an error with `--strict-limits`).
fn own_cgroup(
    id: &str,
    limits: &CgroupLimits,
    strict: bool,
    report: &dyn Report,
) -> Result<Option<Placement>> {
    let cgroups = crate::sandbox::host::cgroups(&HostPaths::default());
    let base = crate::sandbox::cgroup::base(&cgroups);
    let (kept, why) = match limits.any() {
        true => crate::sandbox::limits::usable(&cgroups, base.as_deref(), limits),
        false => (*limits, None),
    };
    let not = crate::sandbox::cgroup::flags(&limits.without(&kept));
    let limits = match why {
        None => *limits,
        Some(why) if strict => return Err(Error::StrictLimits { flags: not, why }),
        Some(why) => {
            report.warn(&format!(
                "{not} not applied: {why} (--strict-limits makes this an error)"
            ));
            kept
        }
    };
    Ok(base.map(|b| Placement {
        dir: b.join(format!("hutch-{id}")),
        limits,
    }))
}

/// `--network container:NAME`: the running container's namespaces, and its
/// /etc/hosts and /etc/resolv.conf (the names that network resolves).
fn joined(dirs: &Dirs, rec: &Record, name: &str) -> Result<Network> {
    let fail = |why: JoinError| Error::Joined {
        name: name.to_string(),
        why,
    };
    crate::net::check_no_helper_flags(&rec.config.network, "container")?;
    let containers = Containers::new(&dirs.state);
    let target = containers
        .resolve(name)
        .map_err(|e| fail(JoinError::Lookup(e)))?;
    // The host's network namespace belongs to the host's user namespace,
    // which no container can enter.
    if !target.config.network.private_namespace() {
        return Err(fail(JoinError::HostNetwork(target.name.clone())));
    }
    let not_running = || fail(JoinError::NotRunning(target.name.clone()));
    let Some(pid) = target
        .pid
        .filter(|_| super::state::observe(&target).is_running())
    else {
        return Err(not_running());
    };
    if target.mapping_key != rec.mapping_key {
        return Err(fail(JoinError::OtherMapping {
            name: target.name.clone(),
            theirs: target.mapping_key.clone(),
            ours: rec.mapping_key.clone(),
        }));
    }
    let open = |what: &str| -> Result<std::sync::Arc<std::os::fd::OwnedFd>> {
        let f = std::fs::File::open(format!("/proc/{pid}/ns/{what}")).map_err(|_| not_running())?;
        Ok(std::sync::Arc::new(f.into()))
    };
    let user = open("user")?;
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    let fuse_root = target.config.storage_driver == DriverKind::Fuse.to_string();
    let etc = |file: &str| {
        let path = format!("/etc/{file}");
        if fuse_root {
            // A FUSE root answers only its own user namespace.
            crate::rootfs::fuse::read_as_member(&user, &root, &path)
                .map_err(|error| fail(JoinError::ReadFuse { path, error }))
        } else {
            crate::rootfs::read::config_file(&root, &path).map_err(|e| fail(e.into()))
        }
    };
    let joined = crate::net::Joined {
        net: open("net")?,
        hosts: etc("hosts")?,
        resolv_conf: etc("resolv.conf")?,
        user,
    };
    // The descriptors pin the namespaces: once pid 1 is still the target's,
    // they are the target's.
    if !target.init.is_some_and(|p| p.alive()) {
        return Err(not_running());
    }
    Ok(Network::Container(Box::new(joined)))
}

/// Mark `id` as starting, owned by this process, with the ports this start
/// publishes, unless it runs already. Under the container's lock, so two
/// starts cannot both win.
fn claim(containers: &Containers, id: &str, ports: Vec<PortMapping>) -> Result<Record> {
    let _l = containers.lock(id)?;
    let mut rec = containers
        .read(id)
        .ok_or_else(|| super::Error::NotFound(id.to_string()))?;
    if super::state::observe(&rec).is_running() {
        return Err(Error::AlreadyRunning(rec.name));
    }
    starting(&mut rec);
    rec.ports = ports;
    // A start by the user begins a new life: Docker resets these too.
    rec.stopped_by_user = false;
    rec.restart_count = 0;
    // Rewritten (and synced) once pid 1 runs or failed to start.
    containers.save_unsynced(&rec).map_err(super::Error::Io)?;
    Ok(rec)
}

/// The state a record has between its claim and pid 1's exec: running,
/// owned by this process, no pid yet.
fn starting(rec: &mut Record) {
    rec.status = Status::Running;
    rec.supervisor = ProcId::current();
    rec.init = None;
    rec.pid = None;
    rec.exit_code = None;
    rec.finished = None;
}

/// Run the plan here and wait.
///
/// Docker keeps the log of every container not run with `--rm`: its output
/// goes through a logger process that writes the log and relays it on to
/// this process's stdout and stderr. A `--rm` container's log would go with
/// it, so it gets none, and its start-up costs nothing more; neither does
/// one whose log driver is `none`.
///
/// With `detach` (the keys, and the line to the waiting parent), typing
/// the keys turns this process into the container's detached supervisor:
/// it then logs as one and restarts pid 1 as the policy says.
#[allow(clippy::too_many_arguments)]
fn foreground(
    dirs: &Dirs,
    containers: &Containers,
    volumes: &Volumes,
    rec: &Record,
    plan: Plan,
    dir: &Path,
    relay: Relay,
    detach: Option<(Vec<u8>, Tell)>,
    report: &dyn Report,
) -> Outcome {
    let config = log_config(rec);
    let log = containers.dir(&rec.id).join(super::logs::LOG_FILE);
    let log = (!rec.auto_remove && config.driver != LogDriver::None).then_some(log.as_path());
    // Without a log, a logger is needed only to hold back a stream.
    let logger = match log.is_some() || relay != Relay::default() {
        false => None,
        true => match Logger::start(log, &config, Some(relay)) {
            Ok(l) => Some(l),
            Err(e) => {
                report.warn(&format!("container {} runs without a log: {e}", rec.name));
                None
            }
        },
    };
    let mut observer = Started::new(containers, &rec.id, None, Some(report));
    let Some((keys, tell)) = detach else {
        let result = sandbox::run(&plan, &mut observer);
        observer.ended();
        return attached_end(containers, volumes, rec, logger, result);
    };
    observer.detach = Some(Detaching {
        keys,
        tell: Some(tell),
        logger,
        dir,
        log: config,
    });
    let began = Instant::now();
    let result = sandbox::run(&plan, &mut observer);
    observer.ended();
    let d = observer.detach.take();
    let detached = d.as_ref().is_some_and(|d| d.tell.is_none());
    let logger = d.and_then(|d| d.logger);
    if !detached {
        return attached_end(containers, volumes, rec, logger, result);
    }
    // Detached: from here on this is the container's supervisor.
    let last = supervise_runs(
        dirs,
        containers,
        rec,
        plan,
        dir,
        None,
        Some((result, began)),
    );
    if let Some(l) = logger {
        l.finish();
    }
    if rec.auto_remove {
        super::exits::record(containers, &rec.id, last);
    }
    finish(containers, volumes, rec, last);
    // Nobody waits for this process any more (its parent told the shell).
    Outcome::Exited {
        code: last,
        error: None,
    }
}

/// The end of a foreground run nobody detached from: everything the
/// container wrote is in the log before its exit is.
fn attached_end(
    containers: &Containers,
    volumes: &Volumes,
    rec: &Record,
    logger: Option<Logger>,
    result: std::result::Result<sandbox::Exit, sandbox::Error>,
) -> Outcome {
    if let Some(l) = logger {
        l.finish();
    }
    let code = exit_code(&result);
    finish(containers, volumes, rec, code);
    Outcome::Exited {
        code,
        error: result.err(),
    }
}

/// What a foreground run that may detach needs once the keys are typed.
struct Detaching<'a> {
    keys: Vec<u8>,
    /// Taken once told: the run has detached.
    tell: Option<Tell>,
    /// The foreground logger, then the detached one.
    logger: Option<Logger>,
    dir: &'a Path,
    log: logs::Config,
}

/// The log settings recorded for `rec` (checked when it was created).
fn log_config(rec: &Record) -> logs::Config {
    logs::Config::new(&rec.config.log_driver, &rec.config.log_opts).unwrap_or_default()
}

/// Run the plan under a detached supervisor; returns once pid 1 runs. The
/// supervisor restarts pid 1 as the container's restart policy says, each
/// time with a plan made again from the record as it is then (see
/// [`replan`]), which replaces the last one: the namespaces a plan holds
/// open (a joined container's, since restarted) are let go with it.
fn detached(
    dirs: &Dirs,
    containers: &Containers,
    volumes: &Volumes,
    rec: &Record,
    plan: Plan,
    dir: &Path,
) -> Result<Outcome> {
    let log = dir.join(super::logs::LOG_FILE);
    let config = log_config(rec);
    let log = (config.driver != LogDriver::None).then_some((log.as_path(), &config));
    // `-i`: a FIFO that `attach` writes to, pid 1's stdin in every run.
    let stdin = match rec.config.interactive {
        true => Some(
            super::stdin::open_for_container(dir).map_err(|error| Error::Stdin {
                dir: dir.to_path_buf(),
                error,
            })?,
        ),
        false => None,
    };
    use std::os::fd::AsRawFd;
    let mut keep: Vec<_> = plan.held_fds().iter().map(|f| f.as_raw_fd()).collect();
    keep.extend(stdin.as_ref().map(|f| f.as_raw_fd()));
    let outcome = supervisor::detach(log, &keep, move |s| {
        if let Some(fd) = &stdin {
            // In place of the supervisor's /dev/null; pid 1 inherits it.
            if let Err(e) = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(fd), 0) {
                eprintln!("Error: cannot give the container its stdin: {e}");
            }
        }
        let last = supervise_runs(dirs, containers, rec, plan, dir, Some(&mut *s), None);
        // Everything the container wrote is in the log before its exit is.
        s.close_log();
        // Only here: a foreground `--rm` run prints its code itself, and
        // a loop of them should not fill the directory of kept codes.
        if rec.auto_remove {
            super::exits::record(containers, &rec.id, last);
        }
        finish(containers, volumes, rec, last);
    })
    .map_err(Error::Supervisor)?;
    match outcome {
        supervisor::Outcome::Started => Ok(Outcome::Started),
        supervisor::Outcome::Failed(code, message) => {
            // The supervisor records the failure right after reporting it:
            // let `ps` after a failed `run -d` show it exited already.
            let _ = super::control::wait(containers, &rec.id, Some(Duration::from_secs(10)));
            Ok(Outcome::Failed { code, message })
        }
    }
}

/// Run `plan`, and again as the restart policy says, each time with a plan
/// made again from the record as it is then; the last exit code. `ran`:
/// the first run's result and start, when it has run already (a
/// foreground run detached from while it ran). `s`: the detached caller
/// to tell how the first start went.
#[allow(clippy::too_many_arguments)]
fn supervise_runs(
    dirs: &Dirs,
    containers: &Containers,
    rec: &Record,
    plan: Plan,
    dir: &Path,
    mut s: Option<&mut supervisor::Supervision>,
    mut ran: Option<(std::result::Result<sandbox::Exit, sandbox::Error>, Instant)>,
) -> i32 {
    let policy: Policy = rec.config.restart.parse().unwrap_or_default();
    let mut delay_step = 0;
    // A run that has run already got as far as detaching: it started.
    let mut first = ran.is_none();
    // Each restart's plan replaces the last, so the namespaces an earlier
    // run held (a restarted peer's, with `--network container:`) are let go.
    let mut plan = plan;
    loop {
        let (result, began) = match ran.take() {
            Some(r) => r,
            None => {
                let began = Instant::now();
                let mut observer = Started::new(containers, &rec.id, s.as_deref_mut(), None);
                let result = sandbox::run(&plan, &mut observer);
                observer.ended();
                (result, began)
            }
        };
        if let Err(e) = &result {
            // The supervisor's stderr is the container's log: the reason
            // stays beside the output for `hutch logs`.
            eprintln!("Error: {e}");
            if let Some(s) = s.as_deref_mut() {
                s.failed(e.exit_code(), &e.to_string());
            }
        }
        // A container that never started is not restarted (Docker
        // reports the failed start instead).
        let restartable = !(first && result.is_err());
        first = false;
        if began.elapsed() >= restart::RESET_AFTER {
            delay_step = 0;
        }
        let code = exit_code(&result);
        if !restartable || !restart_after(containers, rec, policy, code, delay_step) {
            return code;
        }
        delay_step += 1;
        let held = plan.keeper.clone();
        match replan(dirs, containers, &rec.id, dir, held) {
            Ok(p) => plan = p,
            Err(e) => {
                eprintln!("Error: cannot restart the container: {e}");
                return EXIT_REPLAN_FAILED;
            }
        }
    }
}

/// The exit code recorded when a restart could not be planned (hutch's
/// own failure, as a failed start's).
const EXIT_REPLAN_FAILED: i32 = 125;

/// The plan for restarting container `id`, made from its record as it is
/// now: `network connect`/`disconnect` and `rename` while it ran change
/// what it restarts with, as Docker's restarts keep them. The ports it now
/// publishes are recorded. `held`: the keeper the last run had, kept
/// while it runs (see `Settings::keeper`).
fn replan(
    dirs: &Dirs,
    containers: &Containers,
    id: &str,
    dir: &Path,
    held: Option<std::sync::Arc<crate::userns::keeper::Keeper>>,
) -> Result<Plan> {
    let rec = containers
        .read(id)
        .ok_or_else(|| super::Error::NotFound(id.to_string()))?;
    let (store, image, mapping) = resolve(dirs, &rec)?;
    let (plan, ports) = plan(
        dirs,
        &store,
        &rec,
        dir,
        &image,
        mapping,
        // Only containers that are not auto-removed restart.
        RmLayer::Disk,
        held,
        &crate::report::Silent,
    )?;
    containers.update(id, |r| r.ports = ports)?;
    Ok(plan)
}

fn exit_code(result: &std::result::Result<sandbox::Exit, sandbox::Error>) -> i32 {
    match result {
        Ok(exit) => exit.code(),
        Err(e) => e.exit_code(),
    }
}

/// Record the exit (unless --rm took the directory away, and then its
/// anonymous volumes go too; or another
/// process has claimed the container since: the record names this process,
/// or still the one that claimed `rec` for it, when pid 1 never started).
fn finish(containers: &Containers, volumes: &Volumes, rec: &Record, code: i32) {
    if rec.auto_remove {
        // The sandbox removes the directory itself; only a failed clone
        // (nothing ran in a user namespace) leaves it for us.
        let _ = std::fs::remove_dir_all(containers.dir(&rec.id));
        mounts::remove_anonymous(containers, volumes, rec);
    } else {
        let me = ProcId::current();
        let _ = containers.update(&rec.id, |r| {
            if r.supervisor == me || r.supervisor == rec.supervisor {
                r.status = Status::Exited;
                r.exit_code = Some(code);
                r.finished = Some(chrono::Utc::now());
            }
        });
    }
}

/// pid 1 exited with `code`: when the restart policy starts it again (and
/// nobody stopped, removed or started the container meanwhile), record the
/// exit, wait the back-off (`step` doublings) and claim the record for the
/// next run; whether to run again.
fn restart_after(
    containers: &Containers,
    rec: &Record,
    policy: Policy,
    code: i32,
    step: u32,
) -> bool {
    let me = ProcId::current();
    let mut again = false;
    let _ = containers.update(&rec.id, |r| {
        again = r.supervisor == me && policy.restarts(code, r.restart_count, r.stopped_by_user);
        if again {
            r.status = Status::Exited;
            r.exit_code = Some(code);
            r.finished = Some(chrono::Utc::now());
            r.pid = None;
            r.init = None;
            r.health = None;
        }
    });
    if !again {
        return false;
    }
    std::thread::sleep(restart::backoff(step));
    let mut again = false;
    let _ = containers.update(&rec.id, |r| {
        again = r.supervisor == me && !r.stopped_by_user && r.status == Status::Exited;
        if again {
            starting(r);
            r.restart_count += 1;
        }
    });
    again
}

/// Marks the record running once pid 1 has exec'd, starts its health
/// monitor, and tells the caller of a detached start.
struct Started<'a> {
    containers: &'a Containers,
    id: &'a str,
    supervision: Option<&'a mut supervisor::Supervision>,
    monitor: Option<Monitor>,
    companion: Option<Companion>,
    /// Where the steps of a foreground start go with `--log-level debug`
    /// (a detached one's stderr is the container's log).
    trace: Option<&'a dyn Report>,
    /// A foreground run's detach keys and what detaching needs.
    detach: Option<Detaching<'a>>,
}

impl<'a> Started<'a> {
    fn new(
        containers: &'a Containers,
        id: &'a str,
        supervision: Option<&'a mut supervisor::Supervision>,
        trace: Option<&'a dyn Report>,
    ) -> Started<'a> {
        Started {
            containers,
            id,
            supervision,
            monitor: None,
            companion: None,
            trace,
            detach: None,
        }
    }

    /// pid 1 has exited: no more probes, no companion (nor its thread:
    /// the supervisor may clone a new pid 1 next).
    fn ended(&mut self) {
        if let Some(m) = self.monitor.take() {
            m.stop();
        }
        // Dropped: ended, reaped and its thread joined.
        self.companion = None;
    }
}

impl sandbox::Observer for Started<'_> {
    fn tracing(&self) -> bool {
        self.trace.is_some_and(|r| r.debugging())
    }

    fn step(&mut self, line: &str) {
        if let Some(r) = self.trace {
            r.debug(line);
        }
    }

    fn exited(&mut self) {
        self.ended();
    }

    fn detach_keys(&self) -> Option<Vec<u8>> {
        self.detach.as_ref().map(|d| d.keys.clone())
    }

    fn window_size_file(&self) -> Option<PathBuf> {
        Some(
            self.containers
                .dir(self.id)
                .join(super::control::WINDOW_SIZE_FILE),
        )
    }

    fn detached(&mut self) {
        let Some(d) = self.detach.as_mut() else {
            return;
        };
        if let Some(tell) = d.tell.take() {
            // The new logger is forked, which the companion's thread
            // forbids: it is ended first and started again after.
            let companion = self.companion.take().is_some();
            let log = d.dir.join(super::logs::LOG_FILE);
            let log = (d.log.driver != LogDriver::None).then_some((log.as_path(), &d.log));
            d.logger = tell.become_supervisor(d.logger.take(), d.dir, log);
            if companion {
                let rec = self.containers.read(self.id);
                self.companion = rec.and_then(|r| Companion::start(&r.config.companion));
            }
        }
    }

    fn started(&mut self, pid: i32) {
        let now = chrono::Utc::now();
        // A record that stays "starting" is the only cost of a failed write;
        // its supervisor still records the exit.
        let updated = self.containers.update_unsynced(self.id, |r| {
            r.status = Status::Running;
            r.pid = Some(pid);
            r.init = ProcId::of(pid);
            r.supervisor = ProcId::current();
            r.started = Some(now);
            // Each start begins as Docker's: "starting", no streak.
            r.health = r
                .config
                .healthcheck
                .as_ref()
                .map(|_| health::Health::default());
        });
        // The caller of a detached start needs only the record naming pid 1
        // (to join it, say): it goes on at once, while the record is made
        // durable and the helpers start.
        if let Some(s) = self.supervision.as_mut() {
            s.started();
        }
        // Without a monitor the container runs unprobed; its status stays
        // "starting", which `ps` shows.
        if let Ok(rec) = updated {
            // A `--rm` container's record dies with it: never synced.
            if !rec.auto_remove {
                let _ = self.containers.sync(&rec.id);
            }
            // The monitor forks: before the companion's thread starts.
            self.monitor = Monitor::start(self.containers, &rec).ok().flatten();
            self.companion = Companion::start(&rec.config.companion);
        }
    }
}

/// `--device HOST[:CONTAINER[:PERMS]]`: a bind mount of a host device node
/// this user can open. PERMS is Docker's device cgroup rwm; without a
/// device cgroup only the node's own permissions hold (a read-only bind
/// does not stop writes to a device node), so an access PERMS leaves out
/// must be one they refuse this user anyway, or the value is refused. `m`
/// (mknod) is never possible in a user namespace, with or without it.
pub fn parse_device(spec: &str) -> Result<MountSpec> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let bad = |why: DeviceError| Error::Device {
        spec: spec.to_string(),
        why,
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, target, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if !p.starts_with('/') => (*h, *h, *p),
        [h, t] => (*h, *t, "rwm"),
        [h, t, p] => (*h, *t, *p),
        _ => return Err(bad(DeviceError::Syntax)),
    };
    if perms.is_empty() || !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(bad(DeviceError::Perms(perms.to_string())));
    }
    if !host.starts_with('/') || !target.starts_with('/') {
        return Err(bad(DeviceError::Relative));
    }
    let meta = std::fs::metadata(host).map_err(|error| {
        bad(DeviceError::Stat {
            host: host.into(),
            error,
        })
    })?;
    let ft = meta.file_type();
    if !ft.is_char_device() && !ft.is_block_device() {
        return Err(bad(DeviceError::NotDevice(host.into())));
    }
    let write = perms.contains('w');
    std::fs::OpenOptions::new()
        .read(perms.contains('r') || !write)
        .write(write)
        .custom_flags(libc::O_NONBLOCK)
        .open(host)
        .map_err(|error| {
            bad(DeviceError::Open {
                host: host.into(),
                error,
            })
        })?;
    use nix::unistd::AccessFlags;
    for (left_out, flag, what, verb) in [
        (!perms.contains('r'), AccessFlags::R_OK, "reading", "read"),
        (!write, AccessFlags::W_OK, "writing", "write"),
    ] {
        if left_out && nix::unistd::access(host, flag).is_ok() {
            return Err(bad(DeviceError::LeftOut {
                perms: perms.to_string(),
                what,
                verb,
                host: host.into(),
            }));
        }
    }
    Ok(MountSpec::Bind {
        source: PathBuf::from(host),
        target: target.to_string(),
        read_only: false,
    })
}

/// A `-v` value, or why it is wrong.
pub fn parse_volume(v: &str) -> Result<Mount> {
    mounts::parse_volume(v).map_err(|why| Error::Volume {
        spec: v.to_string(),
        why,
    })
}

/// A `--mount` value, or why it is wrong.
pub fn parse_mount(m: &str) -> Result<Mount> {
    mounts::parse_mount(m).map_err(|why| Error::Mount {
        spec: m.to_string(),
        why,
    })
}

/// Whether a `--tmpfs` value's container path can be mounted on (its
/// options are checked with the sandbox plan).
pub fn check_tmpfs(t: &str) -> Result<()> {
    let (target, _) = parse_tmpfs_parts(t);
    mounts::check_target(target).map_err(|why| Error::Tmpfs {
        spec: t.to_string(),
        why,
    })
}

/// The mounts of a new container resolved for its record: host paths
/// absolute (a `--mount` bind source must exist, as Docker says), named
/// volumes created when missing, anonymous volumes made (their names added
/// to `anonymous`), the image's VOLUMEs that no mount covers added as
/// anonymous volumes. The `-v` and `--mount` values to record.
fn resolve_mounts(
    volumes: &Volumes,
    mounts: Vec<Mount>,
    image_volumes: &[String],
    anonymous: &mut Vec<String>,
) -> Result<(Vec<String>, Vec<String>)> {
    let cwd = std::env::current_dir().map_err(|error| Error::BindSource {
        path: PathBuf::from("."),
        error,
    })?;
    let store = |e: crate::volume::Error| Error::Store(e.into());
    let mut anon = |m: Option<&Mount>| -> Result<String> {
        let mut labels = m.map(|m| m.volume_labels.clone()).unwrap_or_default();
        labels.insert(crate::volume::ANONYMOUS_LABEL.to_string(), String::new());
        let options = m.map(|m| m.volume_opts.clone()).unwrap_or_default();
        let v = volumes
            .create(None, crate::volume::LOCAL, labels, options)
            .map_err(store)?;
        anonymous.push(v.name.clone());
        Ok(v.name)
    };
    let covered: Vec<PathBuf> = mounts
        .iter()
        .map(|m| mounts::absolute(Path::new(&m.target), Path::new("/")))
        .collect();
    let (mut vflags, mut mflags) = (Vec::new(), Vec::new());
    for mut m in mounts {
        match &m.source {
            mounts::Source::Host(p) => {
                let abs = mounts::absolute(p, &cwd);
                if m.syntax == mounts::Syntax::Mount && abs.symlink_metadata().is_err() {
                    return Err(Error::Mount {
                        spec: m.to_flag(),
                        why: mounts::MountError::MissingBindSource(abs),
                    });
                }
                m.source = mounts::Source::Host(abs);
            }
            mounts::Source::Volume(name) => {
                if volumes.read(name).map_err(store)?.is_none() {
                    volumes
                        .create(
                            Some(name),
                            crate::volume::LOCAL,
                            m.volume_labels.clone(),
                            m.volume_opts.clone(),
                        )
                        .map_err(store)?;
                }
            }
            mounts::Source::Anonymous => m.source = mounts::Source::Volume(anon(Some(&m))?),
            mounts::Source::Tmpfs => {}
        }
        match m.syntax {
            mounts::Syntax::Volume => vflags.push(m.to_flag()),
            mounts::Syntax::Mount => mflags.push(m.to_flag()),
        }
    }
    for path in image_volumes {
        let at = mounts::absolute(Path::new(path), Path::new("/"));
        if at == Path::new("/") || covered.contains(&at) {
            continue;
        }
        // Checked here, before a volume is made for it: the `-v` flag it
        // becomes would name that volume, which the user never gave. Only
        // the path as written: one that reaches /proc through a link in
        // the image is refused by the sandbox's set-up, whose message then
        // names the anonymous volume's host path.
        mounts::check_target(&at.to_string_lossy()).map_err(|why| Error::ImageVolume {
            path: path.clone(),
            why,
        })?;
        vflags.push(format!("{}:{}", anon(None)?, at.display()));
    }
    Ok((vflags, mflags))
}

/// Remove the anonymous volumes of a container that was never created.
fn discard(volumes: &Volumes, anonymous: &[String]) {
    for name in anonymous {
        let _ = volumes.remove(name, |_| None);
    }
}

/// Docker's `-v` creates a missing host path as a directory (its
/// `--mount type=bind` refuses one instead); so do these bind mounts,
/// at each start, as the calling user.
fn create_missing_source(m: &MountSpec) -> Result<()> {
    if let MountSpec::Bind { source, .. } | MountSpec::Volume { source, .. } = m {
        if source.symlink_metadata().is_err() {
            std::fs::create_dir_all(source).map_err(|error| Error::BindSource {
                path: source.clone(),
                error,
            })?;
        }
    }
    Ok(())
}

fn parse_tmpfs_parts(t: &str) -> (&str, &str) {
    t.split_once(':').unwrap_or((t, ""))
}

/// `PATH[:OPTIONS]`.
pub fn parse_tmpfs(t: &str) -> MountSpec {
    let (target, options) = parse_tmpfs_parts(t);
    MountSpec::Tmpfs {
        target: target.to_string(),
        options: options.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_command_follow_docker() {
        let e = s(&["/init"]);
        let c = s(&["sh"]);
        assert_eq!(
            command_line(Some(&e), Some(&c), None, &[]),
            (s(&["/init"]), s(&["sh"]))
        );
        assert_eq!(
            command_line(Some(&e), Some(&c), None, &s(&["ls"])),
            (s(&["/init"]), s(&["ls"]))
        );
        assert_eq!(
            command_line(Some(&e), Some(&c), Some("echo"), &[]),
            (s(&["echo"]), s(&[]))
        );
        assert_eq!(
            command_line(Some(&e), Some(&c), Some(""), &s(&["id"])),
            (s(&[]), s(&["id"]))
        );
    }

    #[test]
    fn tmpfs_user_xattrs_from_6_6() {
        assert!(tmpfs_has_user_xattrs("6.18.0-1-amd64"));
        assert!(tmpfs_has_user_xattrs("6.6"));
        assert!(tmpfs_has_user_xattrs("7.0.1"));
        assert!(!tmpfs_has_user_xattrs("6.5.13"));
        assert!(!tmpfs_has_user_xattrs("5.15.0-91-generic"));
        assert!(!tmpfs_has_user_xattrs("unknown"));
    }

    #[test]
    fn user_env_replaces_the_images() {
        assert_eq!(
            merge_env(&s(&["PATH=/bin", "A=1"]), s(&["A=2", "B=3"])),
            s(&["PATH=/bin", "A=2", "B=3"])
        );
    }
}
