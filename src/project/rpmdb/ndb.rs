//! rpm's own ndb `Packages.db` (rpm's lib/backend/ndb/rpmpkg.c), read from
//! bytes in memory: a 32-byte header (magic `RpmP`, version 0, generation,
//! the number of 4 KiB slot pages), the slot pages (16-byte slots: magic
//! `Slot`, package index, block offset, block count; offset 0 is a free
//! slot), then the blobs in 16-byte blocks, each a head (magic `BlbS`,
//! package index, time, length), the header blob, padding and a tail
//! (Adler-32 of head, blob and padding; length; magic `BlbE`). All
//! little-endian.
//!
//! Hostile input: every slot is checked as rpm checks it (its blocks after
//! the slot pages and inside the file, head and tail agreeing with the
//! slot and each other, the checksum right), and slots may not overlap, so
//! the blobs never add up to more than the file.

use super::{RpmDbError, ROW_LIMIT};

const MAGIC: &[u8; 4] = b"RpmP";
const SLOT_MAGIC: &[u8; 4] = b"Slot";
const HEAD_MAGIC: &[u8; 4] = b"BlbS";
const TAIL_MAGIC: &[u8; 4] = b"BlbE";
const HEADER_SIZE: usize = 32;
const SLOT_SIZE: usize = 16;
const BLOCK: usize = 16;
const PAGE: usize = 4096;
const HEAD: usize = 16;
const TAIL: usize = 12;

fn err(why: impl Into<String>) -> RpmDbError {
    RpmDbError::Ndb(why.into())
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut s = [0u8; 4];
    s.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(s)
}

/// Adler-32 (RFC 1950) of `data`, as rpm sums a blob.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    // 5552 bytes is the most that cannot overflow b before the modulo.
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// One used slot: package index, first block, block count.
struct Slot {
    pkgidx: u32,
    blkoff: usize,
    blkcnt: usize,
}

/// Every header blob of the database `bytes`, in block order (rpm's own
/// listing order).
pub fn blobs(bytes: &[u8]) -> Result<Vec<&[u8]>, RpmDbError> {
    if bytes.len() < HEADER_SIZE || &bytes[..4] != MAGIC {
        return Err(err("no RpmP magic at the start"));
    }
    if le32(bytes, 4) != 0 {
        return Err(err(format!("version {} (hutch reads 0)", le32(bytes, 4))));
    }
    let slot_pages = le32(bytes, 12) as usize;
    let slot_end = slot_pages
        .checked_mul(PAGE)
        .filter(|&e| slot_pages > 0 && e <= bytes.len())
        .ok_or_else(|| err(format!("{slot_pages} slot pages do not fit in the file")))?;
    if bytes.len() % BLOCK != 0 {
        return Err(err("the file is not a whole number of 16-byte blocks"));
    }
    let blocks = bytes.len() / BLOCK;
    let mut slots = Vec::new();
    for (k, s) in bytes[HEADER_SIZE..slot_end]
        .chunks_exact(SLOT_SIZE)
        .enumerate()
    {
        let no = k + HEADER_SIZE / SLOT_SIZE;
        if &s[..4] != SLOT_MAGIC {
            return Err(err(format!("slot {no} has no Slot magic")));
        }
        let blkoff = le32(s, 8) as usize;
        if blkoff == 0 {
            continue;
        }
        let slot = Slot {
            pkgidx: le32(s, 4),
            blkoff,
            blkcnt: le32(s, 12) as usize,
        };
        if slot.pkgidx == 0 || slot.blkcnt == 0 || slot.blkoff < slot_end / BLOCK {
            return Err(err(format!("slot {no} is not a valid entry")));
        }
        if slot.blkoff + slot.blkcnt > blocks {
            return Err(err(format!(
                "slot {no} points past the end of the file (truncated?)"
            )));
        }
        slots.push(slot);
        if slots.len() > ROW_LIMIT {
            return Err(RpmDbError::TooMany);
        }
    }
    slots.sort_by_key(|s| s.blkoff);
    let mut end = 0;
    let mut out = Vec::with_capacity(slots.len());
    for s in &slots {
        if s.blkoff < end {
            return Err(err(format!(
                "the blob of package {} overlaps another",
                s.pkgidx
            )));
        }
        end = s.blkoff + s.blkcnt;
        out.push(blob(bytes, s)?);
    }
    Ok(out)
}

/// The header blob a slot points to, checked as rpm reads it.
fn blob<'a>(bytes: &'a [u8], s: &Slot) -> Result<&'a [u8], RpmDbError> {
    let bad = |why: &str| err(format!("the blob of package {}: {why}", s.pkgidx));
    let all = &bytes[s.blkoff * BLOCK..(s.blkoff + s.blkcnt) * BLOCK];
    if all.len() < HEAD + TAIL {
        return Err(bad("too small"));
    }
    if &all[..4] != HEAD_MAGIC || le32(all, 4) != s.pkgidx {
        return Err(bad("its head does not match its slot"));
    }
    let len = le32(all, 12) as usize;
    if (HEAD + len + TAIL).div_ceil(BLOCK) != s.blkcnt {
        return Err(bad("its length does not match its slot"));
    }
    let tail = &all[all.len() - TAIL..];
    if le32(tail, 4) as usize != len || &tail[8..] != TAIL_MAGIC {
        return Err(bad("its tail does not match its head"));
    }
    if adler32(&all[..all.len() - TAIL]) != le32(tail, 0) {
        return Err(bad("its checksum is wrong"));
    }
    Ok(&all[HEAD..HEAD + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_as_rfc1950_computes_it() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        // Past one 5552-byte round of the modulo.
        let big = vec![0xffu8; 20_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &big {
            a = (a + u64::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(&big), ((b << 16) | a) as u32);
    }
}
