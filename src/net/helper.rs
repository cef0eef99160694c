//! Running a network helper for one container: start it on the container's
//! network namespace ([`Helper::spawn`], returns at once), wait until it has
//! configured the namespace ([`Helper::wait_ready`]), and end it
//! ([`Helper::stop`], or dropping the handle).
//!
//! The helper never outlives its supervisor: it is hutch's child, gets
//! SIGKILL when the spawning thread dies (PR_SET_PDEATHSIG, prctl(2)), and
//! slirp4netns also exits when its `--exit-fd` pipe closes. Neither helper
//! quits reliably when the namespace's last process exits (pasta before 2024
//! keeps running for a namespace given by PID), so the handle ends it.
//!
//! This module runs processes; it does not choose the helper, parse options
//! or decide ports (see `choose`, `options`, `ports`).

use super::choose::ChosenHelper;
use super::forward::{self, Forwarder};
use super::options::{HelperKind, HelperRequest, PortHandler};
use super::ports::PortMapping;
use super::spawned::log_tail;
pub use super::spawned::Target;
use super::{pasta, slirp};
use crate::sys::spawn::helper_child_setup;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// What [`Helper::spawn`] needs.
#[derive(Debug, Clone)]
pub struct SpawnConfig<'a> {
    pub helper: &'a ChosenHelper,
    pub target: Target,
    /// Resolved ports to publish (see `ports::resolve`).
    pub ports: &'a [PortMapping],
    /// An existing directory private to this container; the helper's pid
    /// file, API socket and log go here.
    pub run_dir: &'a Path,
    /// Run the helper as this uid and gid (a privileged caller starting it
    /// for an unprivileged user); None: as hutch's own user.
    pub run_as: Option<(u32, u32)>,
}

/// Why a helper did not come up.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("cannot start {binary}: {err}")]
    Spawn { binary: String, err: std::io::Error },
    #[error("cannot prepare {what} for {helper}: {err}")]
    Prepare {
        helper: &'static str,
        what: String,
        err: std::io::Error,
    },
    #[error("{helper} exited ({status}) before the network was ready{log}")]
    Exited {
        helper: &'static str,
        status: ExitStatus,
        log: String,
    },
    #[error("{helper} did not set up the network within {ms} ms{log}")]
    Timeout {
        helper: &'static str,
        ms: u128,
        log: String,
    },
    #[error(transparent)]
    Api(#[from] slirp::ApiError),
    #[error("{0}")]
    Forwarder(super::forward::ForwardError),
}

/// How readiness shows.
enum Readiness {
    /// Data on a pipe: slirp4netns writes "1" to `--ready-fd`
    /// (slirp4netns(1)); pasta writes its pid to its pid file, which is a FIFO
    /// (see `ready_fifo`), once the namespace is configured.
    Fd(File),
    /// The ready pipe closed without the signal: the helper is exiting.
    Closed,
    Done,
}

/// A running (or starting) helper. Dropping it ends the helper.
pub struct Helper {
    kind: HelperKind,
    child: Option<Child>,
    readiness: Readiness,
    started: Instant,
    /// slirp4netns exits when this, the write end of its `--exit-fd`, closes.
    exit_pipe: Option<OwnedFd>,
    api_socket: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    log: PathBuf,
    /// A short private directory for the API socket when `run_dir` is too deep.
    socket_dir: Option<tempfile::TempDir>,
    ports: Vec<PortMapping>,
    /// The ports slirp4netns publishes itself (`add_hostfwd`).
    api_ports: Vec<PortMapping>,
    /// hutch's TCP forwarder, for slirp4netns's `port_handler=hutch`.
    forwarder: Option<Forwarder>,
    ready_after: Option<Duration>,
}

impl Helper {
    /// Start the helper and return without waiting for it. Call from a
    /// thread that lives as long as the container: the helper is killed when
    /// the thread that started it exits (prctl(2), PR_SET_PDEATHSIG).
    pub fn spawn(cfg: &SpawnConfig) -> Result<Helper, HelperError> {
        let kind = cfg.helper.kind();
        let prep = |what: &str, err| HelperError::Prepare {
            helper: kind.name(),
            what: what.to_string(),
            err,
        };
        let log = cfg.run_dir.join(format!("{}.log", kind.name()));
        let log_file =
            File::create(&log).map_err(|e| prep(&format!("its log {}", log.display()), e))?;
        let program = match kind {
            HelperKind::Pasta => pasta::executable(&cfg.helper.binary),
            HelperKind::Slirp4netns => cfg.helper.binary.clone(),
        };
        let mut cmd = Command::new(program);
        // pasta picks its mode from argv[0]; keep the name that was found.
        cmd.arg0(&cfg.helper.binary)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        if let Some((uid, gid)) = cfg.run_as {
            cmd.uid(uid).gid(gid);
        }
        let mut helper = Helper {
            kind,
            child: None,
            readiness: Readiness::Done,
            started: Instant::now(),
            exit_pipe: None,
            api_socket: None,
            pid_file: None,
            log,
            socket_dir: None,
            ports: cfg.ports.to_vec(),
            api_ports: Vec::new(),
            forwarder: None,
            ready_after: None,
        };
        let mut routes = Vec::new();
        let fds = match &cfg.helper.request {
            HelperRequest::Pasta(opts) => {
                let pid_file = cfg.run_dir.join("pasta.pid");
                remove_stale(&pid_file).map_err(|e| prep("its pid file", e))?;
                let ready = ready_fifo(&pid_file, cfg.run_as)
                    .map_err(|e| prep("its pid file (a FIFO)", e))?;
                let as_root = cfg.run_as.is_none() && nix::unistd::geteuid().is_root();
                cmd.args(pasta::args(
                    opts,
                    &cfg.target,
                    cfg.ports,
                    &pid_file,
                    as_root,
                ));
                helper.readiness = Readiness::Fd(ready);
                helper.pid_file = Some(pid_file);
                Vec::new()
            }
            HelperRequest::Slirp4netns(opts) => {
                match opts.port_handler {
                    PortHandler::Slirp4netns => helper.api_ports = cfg.ports.to_vec(),
                    PortHandler::Hutch => {
                        routes = forward::routes(cfg.ports, opts.cidr.guest().into());
                        helper.api_ports = cfg
                            .ports
                            .iter()
                            .filter(|m| m.protocol == super::ports::Protocol::Udp)
                            .cloned()
                            .collect();
                    }
                }
                // Like podman: an API socket only when slirp4netns publishes.
                if !helper.api_ports.is_empty() {
                    let (sock, dir) = api_socket_path(cfg.run_dir, cfg.run_as)
                        .map_err(|e| prep("a directory for its API socket", e))?;
                    helper.socket_dir = dir;
                    remove_stale(&sock).map_err(|e| prep("its API socket", e))?;
                    helper.api_socket = Some(sock);
                }
                let features = slirp::Features::probe(&cfg.helper.binary);
                cmd.args(slirp::args(
                    opts,
                    features,
                    &cfg.target,
                    helper.api_socket.as_deref(),
                ));
                let (ready_r, ready_w) = pipe().map_err(|e| prep("the ready pipe", e))?;
                let (exit_r, exit_w) = pipe().map_err(|e| prep("the exit pipe", e))?;
                helper.readiness = Readiness::Fd(File::from(ready_r));
                helper.exit_pipe = Some(exit_w);
                vec![(ready_w, slirp::READY_FD), (exit_r, slirp::EXIT_FD)]
            }
        };
        helper_child_setup(&mut cmd, fds).map_err(|e| prep("the child setup", e))?;
        helper.started = Instant::now();
        let child = cmd.spawn().map_err(|err| HelperError::Spawn {
            binary: cfg.helper.binary.display().to_string(),
            err,
        })?;
        // Dropping `cmd` closes our copies of the child's pipe ends, so a
        // helper that dies shows as end-of-file on the ready pipe.
        drop(cmd);
        helper.child = Some(child);
        if !routes.is_empty() {
            let log = cfg.run_dir.join("port-forwarder.log");
            helper.forwarder = Some(
                Forwarder::spawn(&routes, &cfg.target, cfg.run_as, &log)
                    .map_err(|e| prep("the port forwarder", e))?,
            );
        }
        Ok(helper)
    }

    /// Block until the namespace is configured and the ports are published;
    /// return the time since spawn. On failure the helper is ended and the
    /// error carries the end of its log.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, HelperError> {
        if let Some(d) = self.ready_after {
            return Ok(d);
        }
        let deadline = self.started + timeout;
        loop {
            if self.poll_ready(deadline)? {
                break;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(HelperError::Exited {
                    helper: self.kind.name(),
                    status,
                    log: log_tail(&self.log),
                });
            }
            if Instant::now() >= deadline {
                self.end();
                return Err(HelperError::Timeout {
                    helper: self.kind.name(),
                    ms: timeout.as_millis(),
                    log: log_tail(&self.log),
                });
            }
        }
        self.readiness = Readiness::Done;
        // pasta binds its forwards before it writes the pid file; slirp4netns
        // takes them over its API once it is up.
        if let Some(sock) = &self.api_socket {
            for m in &self.api_ports {
                if let Err(e) = slirp::add_hostfwd(sock, m) {
                    self.end();
                    return Err(e.into());
                }
            }
        }
        if let Some(f) = &mut self.forwarder {
            if let Err(e) = f.wait_ready(deadline) {
                self.end();
                return Err(HelperError::Forwarder(e));
            }
        }
        let d = self.started.elapsed();
        self.ready_after = Some(d);
        Ok(d)
    }

    /// One short wait for the readiness signal; true once it came.
    fn poll_ready(&mut self, deadline: Instant) -> Result<bool, HelperError> {
        // Short slices: a helper that dies is noticed within a few ms.
        let slice = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(2));
        match &mut self.readiness {
            Readiness::Done => Ok(true),
            Readiness::Closed => {
                std::thread::sleep(slice);
                Ok(false)
            }
            Readiness::Fd(f) => {
                use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
                let ms = u16::try_from(slice.as_millis()).unwrap_or(u16::MAX);
                let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLIN)];
                if poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) == 0 {
                    return Ok(false);
                }
                let mut b = [0u8; 1];
                use std::io::Read;
                match f.read(&mut b) {
                    // slirp4netns's "1", or the first digit of pasta's pid.
                    Ok(1) => Ok(true),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
                    // End of file: the helper is dying; the exit check reports it.
                    _ => {
                        self.readiness = Readiness::Closed;
                        Ok(false)
                    }
                }
            }
        }
    }

    /// The helper's process id (None once it has ended).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn kind(&self) -> HelperKind {
        self.kind
    }

    /// The ports this helper publishes, for the container record.
    pub fn ports(&self) -> &[PortMapping] {
        &self.ports
    }

    /// Whether the helper has exited on its own; its status if so.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// End the helper (the container has exited). It is reaped here only
    /// when it published ports, so that they are free once this returns.
    pub fn stop(mut self) {
        self.end();
    }

    fn end(&mut self) {
        // Neither helper has state worth a graceful exit, and SIGKILL cannot
        // be ignored.
        self.exit_pipe = None;
        if let Some(mut f) = self.forwarder.take() {
            f.stop();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            // The helper's exit takes the kernel 15-50 ms (it unregisters the
            // tap device), more than the rest of a `run --rm`. Wait for it
            // only when published ports must be free again once hutch
            // returns; otherwise it finishes dying on its own, and whoever
            // inherits it when hutch exits reaps it.
            if !self.ports.is_empty() {
                let _ = c.wait();
            }
        }
        for p in [&self.pid_file, &self.api_socket].into_iter().flatten() {
            let _ = std::fs::remove_file(p);
        }
        self.socket_dir = None;
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.end();
    }
}

/// Make pasta's pid file at `path` a FIFO and open its read end: pasta's
/// one write of "PID\n" after configuring the namespace then wakes the
/// wait at once, and its death shows as end-of-file. (A regular file needs
/// polling, or inotify, whose descriptor takes 10-20 ms to close: the
/// kernel waits for an SRCU grace period.) Opened non-blocking before the
/// spawn: this open does not wait for a writer, and pasta's open for
/// writing then does not wait for a reader.
fn ready_fifo(path: &Path, run_as: Option<(u32, u32)>) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    nix::unistd::mkfifo(
        path,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    }
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// A Unix socket path must fit in `sun_path`: 107 bytes and a NUL (unix(7)).
const SUN_PATH_MAX: usize = 107;

/// `run_dir/slirp4netns.sock`, or, when that path is too long for a Unix
/// socket (deep home directories, 64-character container ids), the same
/// name in a fresh private directory under the temporary directory.
fn api_socket_path(
    run_dir: &Path,
    run_as: Option<(u32, u32)>,
) -> std::io::Result<(PathBuf, Option<tempfile::TempDir>)> {
    let sock = run_dir.join("slirp4netns.sock");
    if sock.as_os_str().len() <= SUN_PATH_MAX {
        return Ok((sock, None));
    }
    let dir = tempfile::Builder::new().prefix("hutch-net-").tempdir()?;
    if let Some((uid, gid)) = run_as {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
    }
    Ok((dir.path().join("slirp4netns.sock"), Some(dir)))
}

fn remove_stale(p: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
