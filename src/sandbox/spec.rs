//! What a caller asks the sandbox for: root filesystem, ids, network, extra
//! mounts and the process to run. Plain data with public fields, so callers
//! (the CLI, the builder, tests) fill it directly.
//!
//! Nothing here is checked; `plan::Plan::build` validates a `Spec` before any
//! namespace exists.

use crate::net::Network;
use crate::rootfs::{Driver, Overlay};
use crate::userns::idmap::{IdMapping, IdSources};
use crate::userns::keeper::Keeper;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything needed to start one container.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Ids inside the user namespace.
    pub mapping: IdMapping,
    /// Where newuidmap/newgidmap live (and the subid files, for messages).
    pub id_sources: IdSources,
    /// A user-namespace keeper holding `mapping`, when one could be had: the
    /// container's namespace is then nested in it and mapped directly.
    pub keeper: Option<Arc<Keeper>>,
    /// The root filesystem: image layers plus this container's upper dir.
    pub overlay: Overlay,
    /// How the root filesystem is made (from `rootfs::driver::select`).
    pub rootfs_driver: Driver,
    /// The directory the root filesystem is mounted on before pivot_root.
    /// Whatever it holds is hidden from the operations after that mount
    /// (they see the new root there), so it may be `scratch` itself when
    /// none of them uses a path inside it (`Plan::build` refuses a user
    /// mount that would).
    pub rootfs_mountpoint: PathBuf,
    /// A directory the sandbox may write short overlay links into.
    pub scratch: PathBuf,
    pub hostname: String,
    pub network: Network,
    /// Small generated files (hostname, hosts, resolv.conf): absolute
    /// container path and contents. They live in memory, on the container's
    /// /dev tmpfs, and are bind-mounted into place; nothing touches the disk.
    pub etc_files: Vec<(String, String)>,
    /// `-v` and `--tmpfs` mounts, in the order given.
    pub mounts: Vec<MountSpec>,
    /// Mount the root filesystem read-only.
    pub read_only: bool,
    /// With `read_only`: fresh tmpfs on /tmp, /var/tmp and /run (podman's
    /// `--read-only-tmpfs`, on by default).
    pub read_only_tmpfs: bool,
    pub process: ProcessSpec,
    /// Capabilities, seccomp, masked paths, /dev/shm size, rlimits.
    pub security: super::security::Security,
    /// Remove this directory (the container's state) once the container is
    /// gone, from inside its user namespace so that files owned by
    /// subordinate ids can be deleted too.
    pub remove_after: Option<Removal>,
    /// Make the overlay's upper and work dirs and the root mount point on a
    /// tmpfs mounted over `scratch` inside the container's own mount
    /// namespace, instead of using directories on disk: for a container
    /// whose writable layer is thrown away with it (`--rm`), nothing is
    /// created or removed on disk for it, and it vanishes with the
    /// namespace. `overlay.upper`, `overlay.work` and `rootfs_mountpoint`
    /// must lie directly in `scratch`; native overlay only.
    pub layer_in_memory: bool,
    /// The container's own cgroup (with its limits), when the user has a
    /// delegated one to put it under.
    pub cgroup: Option<super::cgroup::Placement>,
}

/// A directory to delete once the container is gone, as `rm` deletes one:
/// under the directory's flock (the lock its owner's other commands take)
/// it is first renamed to `renamed`, so that a removal killed halfway
/// leaves a name that says so (and that whoever lists such names can
/// finish), never a directory that looks whole but is not.
#[derive(Debug, Clone)]
pub struct Removal {
    pub dir: PathBuf,
    pub renamed: PathBuf,
}

/// An extra mount requested by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// `-v SOURCE:TARGET[:ro]`.
    Bind {
        source: PathBuf,
        target: String,
        read_only: bool,
    },
    /// A volume's data dir, or a bind with `:U`: bind-mounted like `Bind`.
    /// `fill`: while the directory is empty it is first given to the
    /// container user and filled with the image's content at `target`
    /// (Docker's copy-up of a fresh volume). `chown`: every file in it is
    /// given to the container user at each start (Podman's `:U`).
    Volume {
        source: PathBuf,
        target: String,
        read_only: bool,
        fill: bool,
        chown: bool,
    },
    /// `--tmpfs TARGET[:OPTIONS]`, OPTIONS as mount(8) writes them.
    Tmpfs { target: String, options: String },
    /// `-v SOURCE:TARGET:O,upperdir=U,workdir=W` (podman's overlay volume):
    /// SOURCE read-only below, writes land in U, which persists. `fresh`
    /// (`:O` alone): U and W are made empty at each start, inside the
    /// sandbox (the writes are thrown away).
    Overlay {
        lower: PathBuf,
        upper: PathBuf,
        work: PathBuf,
        target: String,
        fresh: bool,
    },
}

/// The process started in the container.
#[derive(Debug, Clone, Default)]
pub struct ProcessSpec {
    /// argv; `args[0]` is looked up in the container's PATH when it has no `/`.
    pub args: Vec<String>,
    /// `KEY=VALUE`, image env then user env; later entries win.
    pub env: Vec<String>,
    /// `user[:group]` (names or numbers); None means root.
    pub user: Option<String>,
    /// Working directory (created when missing, as Docker does).
    pub cwd: String,
    /// Give the process a new pseudo-terminal on stdin/stdout/stderr.
    pub tty: bool,
    /// Keep stdin open (`-i`); otherwise the process reads /dev/null.
    pub stdin: bool,
    /// Run a minimal init as pid 1 that forwards signals and reaps zombies.
    pub init: bool,
    /// `--group-add`: more supplementary groups (numbers or names from the
    /// container's /etc/group).
    pub group_add: Vec<String>,
    /// `--sig-proxy=false`: without a terminal, signals hutch gets are not
    /// passed on to the process (they are ignored).
    pub no_sig_proxy: bool,
}
