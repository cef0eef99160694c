//! The /proc and /sys paths Docker and Podman hide from a container or make
//! read-only (moby's `oci/defaults.go`): kernel memory, the kernel keyring
//! list, timer and scheduler internals, firmware tables, and the writable
//! kernel tunables. Inside a user namespace most of them are harmless
//! already, but they show the host (its keyrings, its interrupts) and are
//! the first places escapes look.
//!
//! Only the lists live here (and what can be read off them); `plan` turns
//! them into operations and `setup` mounts them.

use std::ffi::OsStr;
use std::path::Path;

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

/// The names of the masked and read-only paths that lie directly in
/// container directory `dir` (relative, as `plan` gives them: `proc`).
pub fn names_in(dir: &Path) -> impl Iterator<Item = &'static OsStr> + '_ {
    MASKED.iter().chain(READ_ONLY).filter_map(move |p| {
        let p = Path::new(p).strip_prefix("/").ok()?;
        (p.parent() == Some(dir)).then_some(p.file_name()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_the_directory_holding_them() {
        let names = |d: &str| names_in(Path::new(d)).collect::<Vec<_>>();
        assert_eq!(names("proc").len(), 15);
        assert_eq!(names("sys"), ["firmware"]);
        assert_eq!(names("sys/devices/virtual"), ["powercap"]);
        assert!(names("").is_empty());
    }
}
