//! Owner translation for lower layers: a layer unpacked once, for one id
//! mapping, shown with the owners the image gives it inside a container that
//! runs under another mapping (keep-id), without a chown copy.
//!
//! The server sees a lower file's owner through the container's user
//! namespace (`container`); the layer was written through `layers`. The
//! image's own id is therefore `layers⁻¹(container(stored))`. Upper files are
//! written with the ids the container sees, as the native driver writes them,
//! so only lower layers are translated. This module only computes; it never
//! touches files.

use crate::userns::idmap::{IdMapping, IdRange};

/// Id ranges from what the server sees (`inside`) to what the container is
/// shown (`outside`); ids outside every range are shown unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdShift {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

impl IdShift {
    /// The shift that shows layers unpacked for `layers` correctly inside a
    /// container mapped with `container`.
    pub fn between(container: &IdMapping, layers: &IdMapping) -> IdShift {
        IdShift {
            uids: visible(compose(&container.uids, &layers.uids), &container.uids),
            gids: visible(compose(&container.gids, &layers.gids), &container.gids),
        }
    }

    /// Whether every id is shown as stored.
    pub fn is_identity(&self) -> bool {
        self.uids
            .iter()
            .chain(&self.gids)
            .all(|r| r.inside == r.outside)
    }

    pub fn uid(&self, stored: u32) -> u32 {
        shift(&self.uids, stored)
    }

    pub fn gid(&self, stored: u32) -> u32 {
        shift(&self.gids, stored)
    }
}

fn shift(ranges: &[IdRange], id: u32) -> u32 {
    ranges
        .iter()
        .find(|r| id >= r.inside && (id - r.inside) < r.count)
        .map(|r| r.outside + (id - r.inside))
        .unwrap_or(id)
}

/// The parts of `shift` whose result the container can see: an image owner
/// that the container's map lacks (root with keep-id and one id) would show
/// as the overflow id, so such files keep the owner they are stored with,
/// as with the native driver.
fn visible(shift: Vec<IdRange>, container: &[IdRange]) -> Vec<IdRange> {
    let mut out = Vec::new();
    for r in shift {
        let (lo, hi) = (r.outside as u64, r.outside as u64 + r.count as u64);
        for c in container {
            let (c_lo, c_hi) = (c.inside as u64, c.inside as u64 + c.count as u64);
            let (a, b) = (lo.max(c_lo), hi.min(c_hi));
            if a < b {
                out.push(IdRange {
                    inside: (r.inside as u64 + (a - lo)) as u32,
                    outside: a as u32,
                    count: (b - a) as u32,
                });
            }
        }
    }
    out
}

/// For every id `s` the container's map covers: `s` → host `h` →
/// the id the layers' map gives `h`. Ranges that change nothing are dropped.
fn compose(container: &[IdRange], layers: &[IdRange]) -> Vec<IdRange> {
    let mut out = Vec::new();
    for c in container {
        let (c_lo, c_hi) = (c.outside as u64, c.outside as u64 + c.count as u64);
        for l in layers {
            let (l_lo, l_hi) = (l.outside as u64, l.outside as u64 + l.count as u64);
            let lo = c_lo.max(l_lo);
            let hi = c_hi.min(l_hi);
            if lo >= hi {
                continue;
            }
            let r = IdRange {
                inside: (c.inside as u64 + (lo - c_lo)) as u32,
                outside: (l.inside as u64 + (lo - l_lo)) as u32,
                count: (hi - lo) as u32,
            };
            if r.inside != r.outside {
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::userns::idmap::MapMode;

    fn map(uids: Vec<IdRange>) -> IdMapping {
        IdMapping {
            mode: MapMode::SubIds,
            gids: uids.clone(),
            uids,
            host_uid: 1000,
            host_gid: 1000,
            reason: String::new(),
        }
    }

    fn r(inside: u32, outside: u32, count: u32) -> IdRange {
        IdRange {
            inside,
            outside,
            count,
        }
    }

    #[test]
    fn keep_id_with_subids_shows_the_image_owners() {
        // Layers: 0 → 1000 (the caller), 1.. → 100000...
        let layers = map(vec![r(0, 1000, 1), r(1, 100000, 65536)]);
        // keep-id: 0..999 → 100000.., 1000 → 1000, 1001.. → 101000..
        let ctr = map(vec![
            r(0, 100000, 1000),
            r(1000, 1000, 1),
            r(1001, 101000, 64536),
        ]);
        let s = IdShift::between(&ctr, &layers);
        // The server sees the caller's files as 1000: the image said root.
        assert_eq!(s.uid(1000), 0);
        // A layer file of image uid 1 is host 100000, seen as 0 by the server.
        assert_eq!(s.uid(0), 1);
        assert_eq!(s.uid(999), 1000);
        assert_eq!(s.uid(1001), 1001);
        assert!(IdShift::between(&layers, &layers).is_identity());
    }

    #[test]
    fn keep_id_with_one_id_keeps_what_root_cannot_show() {
        let layers = map(vec![r(0, 1000, 1)]);
        let ctr = map(vec![r(1000, 1000, 1)]);
        // Root does not exist inside: the caller's files stay the caller's.
        let s = IdShift::between(&ctr, &layers);
        assert_eq!(s.uid(1000), 1000);
        assert!(s.is_identity());
        assert_eq!(s.uid(65534), 65534);
    }
}
