//! rpm's Berkeley DB `Packages`: a hash database (Berkeley DB 4 and 5
//! on-disk format) whose keys are header numbers and whose values are
//! header blobs. Only what rpm writes is read: the hash access method,
//! unencrypted, either byte order, from bytes in memory; nothing is
//! written and no Berkeley DB library is involved.
//!
//! The layout: page 0 is the metadata page (the hash magic at byte 12
//! tells the byte order, the page size is at byte 20). Every page starts
//! with a 26-byte header (next page number at 16, entry count at 20, the
//! `hf_offset` at 22, page type at 25). A hash page's entries are 2-byte
//! offsets of its items, key and value in turn; an item's first byte is
//! its kind: the bytes themselves (`H_KEYDATA`, running to the previous
//! item's start) or a reference to a chain of overflow pages (`H_OFFPAGE`:
//! first page, total length), each carrying `hf_offset` bytes after its
//! header. Every hash page is read in file order, so no bucket arithmetic
//! is trusted.
//!
//! Hostile input: page numbers are checked against the file, offsets
//! against their page; an overflow page may be used once in the whole file
//! (a cyclic or shared chain is an error, so the values never add up to
//! more than the file), and a chain must add up to the length its item
//! claims, at most [`super::BLOB_LIMIT`].

use super::{RpmDbError, BLOB_LIMIT, ROW_LIMIT};

/// The hash access method's magic number.
const MAGIC: u32 = 0x0006_1561;
/// Bytes of every page's header.
const PAGE_HEADER: usize = 26;
/// Page types: hash pages (before 4.6, unsorted, and after), overflow
/// pages, the hash metadata page.
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASHMETA: u8 = 8;
const P_HASH: u8 = 13;
/// Item kinds on a hash page.
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;
/// The metadata flag of a database with page checksums; the checksum
/// sits between the page header and the entries.
const DBMETA_CHKSUM: u8 = 0x01;
/// Bytes of a page's checksum area when checksums are on.
const CHKSUM_AREA: usize = 20;

fn err(why: impl Into<String>) -> RpmDbError {
    RpmDbError::Bdb(why.into())
}

/// The database's byte order.
#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(s)
        } else {
            u32::from_le_bytes(s)
        })
    }

    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(s)
        } else {
            u16::from_le_bytes(s)
        })
    }
}

/// An open database: its bytes cut into pages.
struct Db<'a> {
    bytes: &'a [u8],
    order: Order,
    page_size: usize,
    pages: usize,
    /// Where a page's entries start (after the checksum area if any).
    entries_at: usize,
    /// Overflow pages already used by a value.
    used: Vec<bool>,
}

impl<'a> Db<'a> {
    fn open(bytes: &'a [u8]) -> Result<Db<'a>, RpmDbError> {
        let order = [Order { big: false }, Order { big: true }]
            .into_iter()
            .find(|o| o.u32(bytes, 12) == Some(MAGIC))
            .ok_or_else(|| err("no hash magic number on the first page"))?;
        if bytes.get(25) != Some(&P_HASHMETA) {
            return Err(err("the first page is not a hash metadata page"));
        }
        if bytes.get(24) != Some(&0) {
            return Err(err("the database is encrypted"));
        }
        let page_size = order.u32(bytes, 20).unwrap_or(0) as usize;
        if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
            return Err(err(format!(
                "page size {page_size} is not a power of two from 512 to 65536"
            )));
        }
        if bytes.len() % page_size != 0 {
            return Err(err(format!(
                "{} bytes are not a whole number of {page_size}-byte pages",
                bytes.len()
            )));
        }
        let pages = bytes.len() / page_size;
        let checksums = bytes.get(26).is_some_and(|f| f & DBMETA_CHKSUM != 0);
        Ok(Db {
            bytes,
            order,
            page_size,
            pages,
            entries_at: PAGE_HEADER + if checksums { CHKSUM_AREA } else { 0 },
            used: vec![false; pages],
        })
    }

    fn page(&self, n: usize) -> &'a [u8] {
        &self.bytes[n * self.page_size..(n + 1) * self.page_size]
    }

    /// The value of item `i` of hash page `n`.
    fn value(&mut self, n: usize, i: usize) -> Result<Option<Vec<u8>>, RpmDbError> {
        let page = self.page(n);
        let o = self.order;
        let bad = || err(format!("item {i} of page {n} lies outside its page"));
        let offset = |k: usize| {
            o.u16(page, self.entries_at + 2 * k)
                .map(usize::from)
                .ok_or_else(bad)
        };
        let start = offset(i)?;
        // Items are stacked down from the page's end in entry order.
        let end = if i == 0 {
            self.page_size
        } else {
            offset(i - 1)?
        };
        if start < self.entries_at || start >= end || end > self.page_size {
            return Err(bad());
        }
        match page[start] {
            H_KEYDATA => Ok(Some(page[start + 1..end].to_vec())),
            H_OFFPAGE => {
                let first = o.u32(page, start + 4).ok_or_else(bad)?;
                let len = o.u32(page, start + 8).ok_or_else(bad)? as usize;
                if start + 12 > end {
                    return Err(bad());
                }
                self.overflow(first as usize, len).map(Some)
            }
            // Duplicates: rpm's Packages has none.
            _ => Ok(None),
        }
    }

    /// `len` bytes from the overflow chain starting at page `first`.
    fn overflow(&mut self, first: usize, len: usize) -> Result<Vec<u8>, RpmDbError> {
        if len > BLOB_LIMIT {
            return Err(err(format!(
                "a value of {len} bytes (at page {first}) is larger than a header may be"
            )));
        }
        let mut out = Vec::with_capacity(len.min(self.bytes.len()));
        let mut n = first;
        while out.len() < len {
            if n == 0 || n >= self.pages {
                return Err(err(format!(
                    "an overflow chain reaches page {n}, outside the file's {} pages",
                    self.pages
                )));
            }
            if std::mem::replace(&mut self.used[n], true) {
                return Err(err(format!(
                    "overflow page {n} is used twice (a cycle or a shared chain)"
                )));
            }
            let page = self.page(n);
            if page[25] != P_OVERFLOW {
                return Err(err(format!(
                    "page {n} in an overflow chain is not an overflow page"
                )));
            }
            let here = usize::from(self.order.u16(page, 22).unwrap_or(0));
            let data = page
                .get(self.entries_at..self.entries_at + here)
                .ok_or_else(|| err(format!("overflow page {n} claims more than a page")))?;
            if out.len() + data.len() > len {
                return Err(err(format!(
                    "the overflow chain from page {first} is longer than its {len} bytes"
                )));
            }
            out.extend_from_slice(data);
            n = self.order.u32(page, 16).unwrap_or(0) as usize;
        }
        Ok(out)
    }
}

/// Every value of the hash database `bytes`, in page order.
pub fn blobs(bytes: &[u8]) -> Result<Vec<Vec<u8>>, RpmDbError> {
    let mut db = Db::open(bytes)?;
    let mut out = Vec::new();
    for n in 1..db.pages {
        let page = db.page(n);
        if page[25] != P_HASH && page[25] != P_HASH_UNSORTED {
            continue;
        }
        let entries = usize::from(db.order.u16(page, 20).unwrap_or(0));
        if db.entries_at + 2 * entries > db.page_size {
            return Err(err(format!(
                "page {n} claims {entries} entries, more than fit"
            )));
        }
        // Keys at even entries, their values after them.
        for i in (1..entries).step_by(2) {
            if let Some(v) = db.value(n, i)? {
                if out.len() >= ROW_LIMIT {
                    return Err(RpmDbError::TooMany);
                }
                out.push(v);
            }
        }
    }
    Ok(out)
}
