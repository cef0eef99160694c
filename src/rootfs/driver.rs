//! Which storage driver makes a container's root filesystem, and why:
//! native overlayfs in the user namespace, hutch's FUSE overlay, or a plain
//! copy of the layers. Asked for with `--storage-driver` (or
//! `HUTCH_STORAGE_DRIVER`), otherwise the first one the cached kernel probes
//! allow, in that order. The reason every other driver was passed over is
//! kept, so `hutch info` and errors can say it: the choice is never silent.
//!
//! This module decides; `Overlay::mount` does the mounting.

use super::kinds::MountApi;
pub use super::kinds::{Driver, DriverKind};
use super::probe::Features;

/// Why no storage driver can be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("the {0} storage driver cannot be used here")]
    NotAllowed(DriverKind),
    #[error("--storage-driver {kind} cannot be used: {why} (run `hutch info`)")]
    Requested { kind: DriverKind, why: Unusable },
    /// Every allowed driver, with why it cannot work here.
    #[error("{}", .0.iter().map(|(k, why)| format!("{k}: {why}")).collect::<Vec<_>>().join("; "))]
    NoneUsable(Vec<(DriverKind, Unusable)>),
}

/// Why a storage driver cannot be used here, from the cached kernel probes;
/// `probe` is what the probe's failed mount said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("user namespaces are not available: {probe}")]
    NoUserns { probe: String },
    #[error("overlayfs cannot be mounted in a user namespace on this kernel ({kernel}): {probe}")]
    Overlay { kernel: String, probe: String },
    #[error("FUSE cannot be mounted in a user namespace: {probe}")]
    Fuse { probe: String },
}

/// The chosen driver and why each one before it was not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub kind: DriverKind,
    /// How native overlay takes its options, when it can be mounted.
    pub mount_api: Option<MountApi>,
    pub rejected: Vec<(DriverKind, Unusable)>,
}

/// Why `kind` cannot be used with these kernel features, or None when it can.
pub fn unusable(kind: DriverKind, f: &Features) -> Option<Unusable> {
    if let Some(e) = &f.userns_error {
        return Some(Unusable::NoUserns { probe: e.clone() });
    }
    match kind {
        DriverKind::Overlay if f.overlay.is_none() => Some(Unusable::Overlay {
            kernel: f.kernel.clone(),
            probe: f
                .overlay_error
                .clone()
                .unwrap_or_else(|| "unknown reason".into()),
        }),
        DriverKind::Fuse => f
            .fuse_error
            .as_ref()
            .map(|e| Unusable::Fuse { probe: e.clone() }),
        _ => None,
    }
}

/// Pick the driver: `requested` if it works here, else an error naming why
/// not; without a request the first usable one of [`DriverKind::ALL`] among
/// `allowed`.
pub fn select(
    requested: Option<DriverKind>,
    allowed: &[DriverKind],
    f: &Features,
) -> Result<Selection, SelectError> {
    let done = |kind, rejected| Selection {
        kind,
        mount_api: f.overlay,
        rejected,
    };
    if let Some(k) = requested {
        if !allowed.contains(&k) {
            return Err(SelectError::NotAllowed(k));
        }
        return match unusable(k, f) {
            None => Ok(done(k, Vec::new())),
            Some(why) => Err(SelectError::Requested { kind: k, why }),
        };
    }
    let mut rejected = Vec::new();
    for k in DriverKind::ALL.into_iter().filter(|k| allowed.contains(k)) {
        match unusable(k, f) {
            None => return Ok(done(k, rejected)),
            Some(why) => rejected.push((k, why)),
        }
    }
    Err(SelectError::NoneUsable(rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(overlay: bool, fuse: bool) -> Features {
        Features {
            kernel: "6.18".into(),
            userns_error: None,
            overlay: overlay.then_some(MountApi::LowerdirPlus),
            overlay_error: (!overlay).then(|| "EPERM".into()),
            fuse_error: (!fuse).then(|| "no /dev/fuse".into()),
            data_layers_error: None,
        }
    }

    #[test]
    fn automatic_choice_falls_back_and_says_why() {
        let all = DriverKind::ALL;
        assert_eq!(
            select(None, &all, &features(true, true)).unwrap().kind,
            DriverKind::Overlay
        );
        let s = select(None, &all, &features(false, true)).unwrap();
        assert_eq!(s.kind, DriverKind::Fuse);
        assert_eq!(s.rejected.len(), 1);
        assert!(s.rejected[0].1.to_string().contains("EPERM"));
        let s = select(None, &all, &features(false, false)).unwrap();
        assert_eq!(s.kind, DriverKind::Copy);
        assert!(s.rejected[1].1.to_string().contains("/dev/fuse"));
        let e = select(None, &all[..2], &features(false, false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlay: ") && e.contains("fuse: "), "{e}");
    }

    #[test]
    fn a_requested_driver_is_used_or_refused_with_the_reason() {
        let all = DriverKind::ALL;
        let s = select(Some(DriverKind::Fuse), &all, &features(true, true)).unwrap();
        assert_eq!(s.kind, DriverKind::Fuse);
        let e = select(Some(DriverKind::Fuse), &all, &features(true, false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/fuse"), "{e}");
        assert!("nope".parse::<DriverKind>().is_err());
        assert_eq!("copy".parse::<DriverKind>().unwrap(), DriverKind::Copy);
    }
}
