//! The last stretch in the child, after pivot_root: resolve the user against
//! the container's /etc/passwd, build the environment, wire up stdio (or the
//! terminal), optionally fork the init, drop to the user and exec.
//!
//! `join` takes the same path for `hutch exec` in a running container, with a
//! [`Target`] instead of a plan.
//!
//! It returns only on failure, with a typed error for the parent; everything
//! before the final execve(2) may fail, nothing after it runs.

use super::error::EXIT_SETUP;
use super::plan::Plan;
use super::security::Security;
use super::spec::ProcessSpec;
use super::sync::{ChildError, ChildErrorKind};
use super::user::{self, Identity};
use super::{init, tty};
use crate::sys::process::{child_exit, fork, Forked};
use crate::sys::signal;
use crate::userns::idmap::{IdMapping, MapMode};
use nix::errno::Errno;
use nix::sys::signal::SigSet;
use nix::unistd::{Gid, Uid};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// PATH when the image sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Descriptors the child holds towards the parent.
pub struct ChildFds {
    /// Close-on-exec pipe for a `ChildError`.
    pub err: OwnedFd,
    /// Socket to pass the pty master over, with `-t`.
    pub tty_sock: Option<OwnedFd>,
    /// The host terminal's size when the container started.
    pub tty_size: Option<crate::sys::pty::WinSize>,
}

/// What this last stretch needs: the process and the ids and host name it
/// runs with. A new container takes them from its plan; `join` (hutch exec)
/// from the running container's record.
pub struct Target<'a> {
    pub process: &'a ProcessSpec,
    pub mapping: &'a IdMapping,
    pub hostname: &'a str,
    pub security: &'a Security,
}

/// Become the container's process: exec the command, or report why not to
/// the parent and exit.
pub fn start(plan: &Plan, fds: ChildFds, saved_mask: &SigSet) -> ! {
    let target = Target {
        process: &plan.process,
        mapping: &plan.mapping,
        hostname: &plan.hostname,
        security: &plan.security,
    };
    start_target(&target, fds, saved_mask)
}

/// [`start`] for a process described by a [`Target`].
pub fn start_target(plan: &Target<'_>, fds: ChildFds, saved_mask: &SigSet) -> ! {
    let ChildFds {
        err,
        tty_sock,
        tty_size,
    } = fds;
    let mut err = Some(err);
    let e = match prepare_and_exec(plan, &mut err, tty_sock, tty_size, saved_mask) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    if let Some(fd) = &err {
        super::sync::send_error(fd, &e);
    }
    child_exit(EXIT_SETUP)
}

enum Never {}

fn prepare_and_exec(
    plan: &Target<'_>,
    err: &mut Option<OwnedFd>,
    tty_sock: Option<OwnedFd>,
    tty_size: Option<crate::sys::pty::WinSize>,
    saved_mask: &SigSet,
) -> Result<Never, ChildError> {
    let p = &plan.process;
    let sec = plan.security;
    // Without no_new_privs the kernel takes a filter only from a holder of
    // CAP_SYS_ADMIN, which goes next: install it first (runc's order).
    if !sec.no_new_privs {
        install_filters(sec)?;
    }
    // Nothing is read from the container while holding more than the
    // process will get: the bounding set now, and of the current sets only
    // those plus what switching to the user needs. The highest capability
    // number comes from the parent: this process must never read the
    // container's /proc before exec, where a volume may stand over any file.
    // When it read the value itself, a cap_last_cap of 5 mounted there
    // kept CAP_SYS_ADMIN in the bounding set; later a per-process cache
    // filled in the parent hid that, by chance rather than by design.
    crate::sys::caps::bound_to(sec.caps.0, sec.last_cap)?;
    crate::sys::caps::hold_only(sec.caps.with(CAP_SETUID).with(CAP_SETGID).0)?;
    for r in &sec.rlimits {
        crate::sys::process::set_rlimit(r.resource, r.soft, r.hard)?;
    }
    let id = identity(plan)?;
    let env = final_env(plan, &id);
    if std::fs::metadata(&p.cwd).is_err() {
        std::fs::create_dir_all(&p.cwd).map_err(|e| {
            ChildError::setup(format!("cannot create working directory {}: {e}", p.cwd))
        })?;
    }
    let pty = match &tty_sock {
        Some(sock) => Some(tty::open_in_child(sock.as_fd(), tty_size)?),
        None => None,
    };
    drop(tty_sock);
    if p.init {
        signal::block(&init::signals())?;
        // Named before the fork: the command may look at /proc/1/comm before
        // the init side gets to run; its own exec renames it.
        init::name_self();
        match fork()? {
            Forked::Parent(main) => {
                // A session of its own, as the command's: the terminal's
                // signals (its hang-up after a run detached from it above
                // all) reach only hutch, which forwards what is meant for
                // the container.
                if crate::sys::process::new_session().is_err() {
                    child_exit(EXIT_SETUP);
                }
                // Nothing of hutch's stdio stays with the init, which never
                // execs: a run detached from its terminal waits for its
                // logger to read end-of-file on the pipe the init would hold
                // for the container's whole life, and a `--rm` run's
                // terminal would stay open in it. The command keeps its own.
                if crate::sys::stdio::all_to_dev_null().is_err() {
                    child_exit(EXIT_SETUP);
                }
                // The init keeps nothing that would hold the terminal or the
                // error pipe open: the parent reads end-of-file from both.
                drop(pty);
                drop(err.take());
                // The init stays in hutch's code, in the container: it is
                // held to the same filter as the command.
                if sec.no_new_privs && install_filters(sec).is_err() {
                    child_exit(EXIT_SETUP);
                }
                init::reap(main)
            }
            Forked::Child => {}
        }
    }
    // A session of its own: no controlling terminal unless -t gives one, and
    // the host terminal's Ctrl-C reaches only hutch, which forwards it once.
    crate::sys::process::new_session()?;
    match &pty {
        Some(slave) => {
            crate::sys::pty::set_controlling(slave.as_fd())?;
            // Like login(1) and runc: the terminal belongs to the user.
            let _ = nix::unistd::fchown(
                slave.as_raw_fd(),
                Some(Uid::from_raw(id.uid)),
                Some(Gid::from_raw(id.gid)),
            );
            for n in 0..3 {
                dup2(slave, n)?;
            }
        }
        None if !p.stdin => {
            let null = std::fs::File::open("/dev/null")
                .map_err(|e| ChildError::setup(format!("cannot open /dev/null: {e}")))?;
            dup2(&OwnedFd::from(null), 0)?;
        }
        None => {}
    }
    drop(pty);
    become_user(plan, &id)?;
    // Credential changes clear the parent-death signal (prctl(2)): set again.
    signal::kill_with_parent()?;
    nix::unistd::chdir(p.cwd.as_str()).map_err(|e| {
        ChildError::setup(format!("cannot change to working directory {}: {e}", p.cwd))
    })?;
    signal::reset_dispositions()?;
    signal::set_mask(saved_mask)?;
    crate::sys::process::cloexec_from_3()?;
    // Last before exec, as bubblewrap does: everything above may use any
    // syscall, and the fake-root rules must not touch the real user switch.
    if sec.no_new_privs {
        install_filters(sec)?;
    }
    Err(exec(&p.args, &env))
}

/// Take Docker's and Podman's umask (022), whoever starts the container:
/// with the caller's (077 on many a hardened machine) a RUN's `mkdir /app`
/// made an image only root could enter, so the same Dockerfile built by two
/// users gave two worlds, and /etc/hosts was root's alone. Called first by
/// a new container's process (its set-up included) and by `hutch exec`'s.
pub(super) fn container_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
}

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;

fn install_filters(sec: &Security) -> Result<(), ChildError> {
    let flags = sec.filters.flags;
    for prog in &sec.filters.programs {
        crate::sys::seccomp::install(prog, flags.required, flags.if_known)?;
    }
    Ok(())
}

fn dup2(fd: &OwnedFd, to: i32) -> Result<(), ChildError> {
    nix::unistd::dup2(fd.as_raw_fd(), to)
        .map(drop)
        .map_err(|e| ChildError::setup(format!("dup2(<fd>, {to}) => {e}")))
}

/// The user the process runs as, checked against the id mapping.
fn identity(plan: &Target<'_>) -> Result<Identity, ChildError> {
    // After pivot_root (or setns for `hutch exec`) "/" is the container's
    // root; its files are read like any other hostile input.
    let read = |p| {
        crate::rootfs::read::config_file(std::path::Path::new("/"), p)
            .map_err(|e| ChildError::setup(e.to_string()))
    };
    let passwd = read("/etc/passwd")?;
    let group = read("/etc/group")?;
    let mut id = user::resolve(plan.process.user.as_deref(), &passwd, &group)
        .map_err(|e| ChildError::setup(e.to_string()))?;
    let m = &plan.mapping;
    if nested_root(m, &id) {
        if !plan.process.group_add.is_empty() {
            return Err(ChildError::setup(
                "--group-add needs subordinate ids: root of this keep-id container is you, with your own groups only",
            ));
        }
        id.groups.clear();
        return Ok(id);
    }
    let hint = match m.mode {
        MapMode::Single => {
            " (single-id mode maps only one id; give the user a range in /etc/subuid and /etc/subgid)"
        }
        _ => " (outside the subordinate id range)",
    };
    if m.host_uid_of(id.uid).is_none() {
        return Err(ChildError::setup(format!(
            "uid {} is not mapped in the user namespace{hint}",
            id.uid
        )));
    }
    if m.host_gid_of(id.gid).is_none() {
        return Err(ChildError::setup(format!(
            "gid {} is not mapped in the user namespace{hint}",
            id.gid
        )));
    }
    id.groups.retain(|g| m.host_gid_of(*g).is_some());
    let added = user::extra_groups(&plan.process.group_add, &group)
        .map_err(|e| ChildError::setup(e.to_string()))?;
    if !added.is_empty() && !m.setgroups_allowed() {
        return Err(ChildError::setup(format!(
            "--group-add needs setgroups(2), which this user namespace denies{hint}"
        )));
    }
    for g in added {
        if m.host_gid_of(g).is_none() {
            return Err(ChildError::setup(format!(
                "--group-add: gid {g} is not mapped in the user namespace{hint}"
            )));
        }
        if g != id.gid && !id.groups.contains(&g) {
            id.groups.push(g);
        }
    }
    Ok(id)
}

/// Whether `id` is root in a keep-id namespace that has no root (no
/// subordinate ids: only the caller's own id is mapped). That root is the
/// caller again, in a user namespace nested in the container's that maps
/// 0 onto them: it owns what the caller owns, as `--userns=single` would.
fn nested_root(m: &IdMapping, id: &Identity) -> bool {
    m.mode == MapMode::KeepId && !m.has_root() && id.uid == 0
}

/// Become root of a new user namespace that maps 0 onto the current ids
/// (what `unshare -r` does; user_namespaces(7) allows a process to map its
/// own ids once setgroups is denied).
fn enter_nested_root(uid: u32, gid: u32) -> Result<(), ChildError> {
    crate::sys::cred::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|e| ChildError::setup(format!("unshare(CLONE_NEWUSER) => {e}")))?;
    // `hutch exec`'s helper is non-dumpable, which makes its /proc/self files
    // the host root's. By now it is the caller's own id with no capability in
    // the container and only those of its fresh namespace, which the command
    // it is about to exec gets anyway, so it has nothing left to hide.
    crate::sys::process::dumpable_again().map_err(|e| ChildError::setup(e.to_string()))?;
    for (file, data) in [
        ("setgroups", "deny".to_string()),
        ("uid_map", format!("0 {uid} 1\n")),
        ("gid_map", format!("0 {gid} 1\n")),
    ] {
        std::fs::write(format!("/proc/self/{file}"), data)
            .map_err(|e| ChildError::setup(format!("cannot write /proc/self/{file}: {e}")))?;
    }
    Ok(())
}

fn become_user(plan: &Target<'_>, id: &Identity) -> Result<(), ChildError> {
    use crate::sys::cred::{setgroups, setresgid, setresuid};
    if nested_root(plan.mapping, id) {
        let (uid, gid) = (plan.mapping.host_uid, plan.mapping.host_gid);
        let g = Gid::from_raw(gid);
        setresgid(g, g, g).map_err(|e| ChildError::setup(format!("setresgid({gid}) => {e}")))?;
        let u = Uid::from_raw(uid);
        setresuid(u, u, u).map_err(|e| ChildError::setup(format!("setresuid({uid}) => {e}")))?;
        return enter_nested_root(uid, gid);
    }
    // setgroups(2) is denied for good in namespaces whose gid map was written
    // without newgidmap (user_namespaces(7)); there the list stays empty.
    if plan.mapping.setgroups_allowed() {
        // Docker lists the primary group among the supplementary ones too.
        let gs: Vec<Gid> = std::iter::once(id.gid)
            .chain(id.groups.iter().copied())
            .map(Gid::from_raw)
            .collect();
        setgroups(&gs)
            .map_err(|e| ChildError::setup(format!("setgroups({:?}) => {e}", id.groups)))?;
    }
    let g = Gid::from_raw(id.gid);
    setresgid(g, g, g).map_err(|e| ChildError::setup(format!("setresgid({}) => {e}", id.gid)))?;
    let u = Uid::from_raw(id.uid);
    setresuid(u, u, u).map_err(|e| ChildError::setup(format!("setresuid({}) => {e}", id.uid)))
}

/// Docker's environment: PATH, HOSTNAME (and TERM with -t) as defaults, then
/// the image's and the user's entries, then HOME from passwd if still unset.
fn final_env(plan: &Target<'_>, id: &Identity) -> Vec<String> {
    let mut env: Vec<String> = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", plan.hostname),
    ];
    if plan.process.tty {
        env.push("TERM=xterm".into());
    }
    for e in &plan.process.env {
        let key = e.split('=').next().unwrap_or("");
        match env.iter_mut().find(|x| x.split('=').next() == Some(key)) {
            Some(slot) => *slot = e.clone(),
            None => env.push(e.clone()),
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", id.home));
    }
    if plan.security.fake_root && !env.iter().any(|e| e.starts_with("APT_CONFIG=")) {
        env.push(format!(
            "APT_CONFIG={}",
            super::security::FAKE_ROOT_APT_CONF
        ));
    }
    env
}

/// execve the command, searching PATH like execvp(3) but in the container's
/// environment (glibc's execvpe would search hutch's own PATH).
fn exec(args: &[String], env: &[String]) -> ChildError {
    let cstr = |s: &str| CString::new(s).unwrap_or_default();
    let argv: Vec<CString> = args.iter().map(|a| cstr(a)).collect();
    let envp: Vec<CString> = env.iter().map(|e| cstr(e)).collect();
    let cmd = &args[0];
    let fail = |kind, what: String| ChildError {
        kind,
        message: what,
    };
    let kind_of = |e: Errno| match e {
        Errno::ENOENT | Errno::ENOTDIR => ChildErrorKind::NotFound,
        _ => ChildErrorKind::NotExecutable,
    };
    if cmd.contains('/') {
        let e = crate::sys::cred::execve(&cstr(cmd), &argv, &envp).unwrap_err();
        return fail(
            kind_of(e),
            format!("exec {cmd}: {}", e.desc().to_lowercase()),
        );
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut denied = None;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let full = format!("{dir}/{cmd}");
        match crate::sys::cred::execve(&cstr(&full), &argv, &envp).unwrap_err() {
            Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP | Errno::ENAMETOOLONG => {}
            Errno::EACCES => denied = Some(full),
            e => {
                return fail(
                    kind_of(e),
                    format!("exec {full}: {}", e.desc().to_lowercase()),
                )
            }
        }
    }
    match denied {
        Some(full) => fail(
            ChildErrorKind::NotExecutable,
            format!("exec {full}: permission denied"),
        ),
        None => fail(
            ChildErrorKind::NotFound,
            format!("exec: \"{cmd}\": executable file not found in $PATH"),
        ),
    }
}
