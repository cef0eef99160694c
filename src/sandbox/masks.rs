//! The /proc and /sys paths Docker and Podman hide from a container or make
//! read-only (moby's `oci/defaults.go`): kernel memory, the kernel keyring
//! list, timer and scheduler internals, firmware tables, and the writable
//! kernel tunables. Inside a user namespace most of them are harmless
//! already, but they show the host (its keyrings, its interrupts) and are
//! the first places escapes look.
//!
//! Only the lists live here; `plan` turns them into operations and `setup`
//! mounts them.

/// Hidden: files get /dev/null bound over them, directories an empty
/// read-only tmpfs.
pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Bound over themselves read-only.
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
