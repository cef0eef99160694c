//! The storage drivers' vocabulary: their names (`DriverKind`), what the
//! sandbox child is told to mount with (`Driver`) and how native overlayfs
//! takes its options (`MountApi`). Choosing one is `driver`'s job, mounting
//! `overlay`'s; this file only names them, so both (and the probes) can.

use super::fuse::IdShift;

/// The drivers by name, as flags and records spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriverKind {
    Overlay,
    Fuse,
    Copy,
}

impl DriverKind {
    /// The order of the automatic choice: fastest first.
    pub const ALL: [DriverKind; 3] = [DriverKind::Overlay, DriverKind::Fuse, DriverKind::Copy];
}

crate::named::named!(DriverKind, "storage driver", {
    Overlay => "overlay",
    Fuse => "fuse",
    Copy => "copy",
});

/// How the sandbox child makes the root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Driver {
    /// Native overlayfs, options passed this way.
    Overlay(MountApi),
    /// hutch's FUSE overlay; lower owners shown through the shift.
    Fuse(IdShift),
    /// A private copy of the layers.
    Copy,
}

impl Driver {
    pub fn kind(&self) -> DriverKind {
        match self {
            Driver::Overlay(_) => DriverKind::Overlay,
            Driver::Fuse(_) => DriverKind::Fuse,
            Driver::Copy => DriverKind::Copy,
        }
    }
}

/// How to pass the options to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MountApi {
    /// fsopen/fsconfig with one `lowerdir+` per layer (no length limit).
    LowerdirPlus,
    /// Classic mount(2) with a `lowerdir=a:b:c` string.
    Legacy,
}
