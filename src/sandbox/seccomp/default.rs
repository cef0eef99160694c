//! hutch's default seccomp profile, with the semantics of Docker's default
//! (moby's `profiles/seccomp/default.json`): everything not listed fails with
//! EPERM. Among what it denies: new user namespaces and other namespace
//! changes (clone/unshare/setns with namespace flags), the kernel keyring
//! (keyctl, add_key, request_key), bpf, perf_event_open, kexec, module
//! loading, setting clocks, mount, ptrace of other processes, userfaultfd,
//! io_uring and personality changes; several come back with the capability
//! that guards them anyway (`--cap-add SYS_ADMIN` allows mount and unshare,
//! `SYS_PTRACE` ptrace, `SYS_TIME` clock_settime, ...), as in Docker.

use super::{Action, Cmp, Cond, InstallFlags, Profile, Rule};

/// Allowed for everyone: ordinary process, file, memory, time, signal,
/// IPC and socket calls.
const ALLOWED: &[&str] = &[
    // files and directories
    "access",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "getxattr",
    "getxattrat",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "name_to_handle_at",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "sendfile64",
    "setxattr",
    "setxattrat",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vmsplice",
    "write",
    "writev",
    "listmount",
    "statmount",
    "cachestat",
    // async and polled I/O
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "ioctl",
    "ioprio_get",
    "ioprio_set",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "select",
    "_newselect",
    "signalfd",
    "signalfd4",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "pipe",
    "pipe2",
    "memfd_create",
    "memfd_secret",
    // processes, ids and scheduling
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "vfork",
    "getcpu",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "get_thread_area",
    "gettid",
    "getuid",
    "getuid32",
    "prctl",
    "prlimit64",
    "restart_syscall",
    "rseq",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "ugetrlimit",
    "uname",
    "wait4",
    "waitid",
    "waitpid",
    "pidfd_open",
    "pidfd_send_signal",
    "process_mrelease",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "sysinfo",
    "times",
    "getrandom",
    "uretprobe",
    "map_shadow_stack",
    "riscv_hwprobe",
    // memory
    "brk",
    "madvise",
    "membarrier",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "mseal",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
    // futexes, signals and timers
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "alarm",
    "getitimer",
    "setitimer",
    "kill",
    "tgkill",
    "tkill",
    "pause",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "sigprocmask",
    "sigreturn",
    "clock_adjtime",
    "clock_adjtime64",
    "adjtimex",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "gettimeofday",
    "nanosleep",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    // System V and POSIX IPC
    "ipc",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    // sockets (socket(2) itself is limited by family below)
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketcall",
    "socketpair",
];

/// Address families socket(2) may create: all below AF_DECnet (12) and the
/// common ones above it; AF_VSOCK (40) and the rarely audited rest are not.
const SOCKET_FAMILIES: &[u64] = &[
    13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28, 29, 30, 31, 32, 33, 35, 36, 39, 41, 42, 43, 44,
    45,
];

/// personality(2) values that do not weaken address-space randomisation:
/// PER_LINUX, UNAME26, PER_LINUX32, UNAME26|PER_LINUX32, and the query.
const PERSONALITIES: &[u64] = &[0, 8, 0x20000, 0x20008, 0xffff_ffff];

/// The namespace flags of clone(2) (CLONE_NEWNS ... CLONE_NEWCGROUP).
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x7e02_0000;

/// Syscalls each capability brings back, as in Docker's profile.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "open_tree_attr",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

fn rule(names: &[&str], action: Action) -> Rule {
    Rule {
        names: names.iter().map(|s| s.to_string()).collect(),
        action,
        args: vec![],
        includes: Cond::default(),
        excludes: Cond::default(),
    }
}

fn arches(v: &[&str]) -> Cond {
    Cond {
        arches: v.iter().map(|s| s.to_string()).collect(),
        ..Cond::default()
    }
}

fn caps(v: &[&str]) -> Cond {
    Cond {
        caps: v.iter().map(|s| s.to_string()).collect(),
        ..Cond::default()
    }
}

/// The default profile.
pub fn profile() -> Profile {
    let allow = Action::Allow;
    let mut rules = vec![rule(ALLOWED, allow)];
    let mut r = rule(&["process_vm_readv", "process_vm_writev", "ptrace"], allow);
    // Before 4.8 ptrace could bypass seccomp.
    r.includes.min_kernel = Some((4, 8));
    rules.push(r);
    let mut r = rule(&["socket"], allow);
    r.args = vec![(0, Cmp::Lt(12))];
    rules.push(r);
    for f in SOCKET_FAMILIES {
        let mut r = rule(&["socket"], allow);
        r.args = vec![(0, Cmp::Eq(*f))];
        rules.push(r);
    }
    for p in PERSONALITIES {
        let mut r = rule(&["personality"], allow);
        r.args = vec![(0, Cmp::Eq(*p))];
        rules.push(r);
    }
    let mut r = rule(&["arch_prctl"], allow);
    r.includes = arches(&["amd64", "x32"]);
    rules.push(r);
    let mut r = rule(&["modify_ldt"], allow);
    r.includes = arches(&["amd64", "x32", "x86"]);
    rules.push(r);
    let mut r = rule(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        allow,
    );
    r.includes = arches(&["arm", "arm64"]);
    rules.push(r);
    let mut r = rule(&["riscv_flush_icache"], allow);
    r.includes = arches(&["riscv64"]);
    rules.push(r);
    for (cap, names) in BY_CAPABILITY {
        let mut r = rule(names, allow);
        r.includes = caps(&[cap]);
        rules.push(r);
    }
    // Without CAP_SYS_ADMIN: clone only without namespace flags, and
    // clone3 (whose flags live in memory a filter cannot read) reports
    // ENOSYS so that libc falls back to clone.
    let mut r = rule(&["clone"], allow);
    r.args = vec![(
        0,
        Cmp::MaskedEq {
            mask: CLONE_NAMESPACE_FLAGS,
            value: 0,
        },
    )];
    r.excludes = caps(&["CAP_SYS_ADMIN"]);
    rules.push(r);
    let mut r = rule(&["clone3"], Action::Errno(libc::ENOSYS as u32));
    r.excludes = caps(&["CAP_SYS_ADMIN"]);
    rules.push(r);
    Profile {
        default_action: Action::Errno(libc::EPERM as u32),
        rules,
        flags: InstallFlags::default(),
    }
}
