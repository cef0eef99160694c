//! rpm's database of installed packages: the sqlite file rpm 4.16 and later
//! keep (`rpmdb.sqlite`, table `Packages(hnum, blob)`, one rpm header a
//! row) and the header format itself. Berkeley DB (`Packages`, rpm before
//! 4.16) and ndb (`Packages.db`, openSUSE) are not read; callers say so.
//!
//! Both come from images and environments, so they are hostile: the
//! header parser checks every offset and count against the blob and keeps
//! only bounded, printable strings; the database is opened read-only and
//! immutable from a private copy, its `Packages` must be a plain table,
//! and the number of rows read is bounded. Nothing here panics on input.

use std::io::Write;

/// The sqlite database's name inside an rpm database directory.
pub const SQLITE: &str = "rpmdb.sqlite";

/// Most index entries one header may have (rpm's own limit is 0xffff).
const INDEX_LIMIT: usize = 0xffff;
/// Most data bytes one header may have (rpm's own limit: 256 MiB; the
/// caller's content limit is lower anyway).
const DATA_LIMIT: usize = 64 << 20;
/// Most packages read from one database.
const ROW_LIMIT: usize = 200_000;
/// Most files kept from one header.
const FILE_LIMIT: usize = 1 << 20;
/// Longest string kept (name, version, path).
const STRING_LIMIT: usize = 4096;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;
const TAG_ARCH: u32 = 1022;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// Why an rpm database was not read.
#[derive(Debug, thiserror::Error)]
pub enum RpmDbError {
    #[error("cannot make a private copy of the rpm database: {0}")]
    Copy(#[source] std::io::Error),
    #[error("the rpm database is not sqlite hutch can read: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the rpm database has no Packages table")]
    NoTable,
    #[error("the rpm database lists more than {ROW_LIMIT} packages")]
    TooMany,
}

/// What hutch reads of one installed package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub name: String,
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// The paths of its files, absolute.
    pub files: Vec<String>,
}

impl Header {
    /// `[EPOCH:]VERSION-RELEASE`, as rpm and dnf write a version.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) => format!("{e}:{}-{}", self.version, self.release),
            None => format!("{}-{}", self.version, self.release),
        }
    }
}

/// One index entry: tag, type, offset into the data, count.
struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: usize,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parse a header blob as rpm's database stores it (no lead, no magic):
/// index count and data length (big-endian u32 each), the index entries
/// (16 bytes: tag, type, offset, count), then the data. None when it is
/// not a header or lacks a name, version or release.
pub fn header(blob: &[u8]) -> Option<Header> {
    let il = be32(blob, 0)? as usize;
    let dl = be32(blob, 4)? as usize;
    if il == 0 || il > INDEX_LIMIT || dl > DATA_LIMIT {
        return None;
    }
    let data_start = 8 + il * 16;
    let data = blob.get(data_start..data_start.checked_add(dl)?)?;
    let mut h = Header::default();
    let mut dirindexes = Vec::new();
    let mut basenames = Vec::new();
    let mut dirnames = Vec::new();
    for i in 0..il {
        let at = 8 + i * 16;
        let e = Entry {
            tag: be32(blob, at)?,
            kind: be32(blob, at + 4)?,
            offset: be32(blob, at + 8)? as usize,
            count: be32(blob, at + 12)? as usize,
        };
        match e.tag {
            TAG_NAME => h.name = string(data, &e)?,
            TAG_VERSION => h.version = string(data, &e)?,
            TAG_RELEASE => h.release = string(data, &e)?,
            TAG_ARCH => h.arch = string(data, &e).unwrap_or_default(),
            TAG_EPOCH => h.epoch = int32s(data, &e).and_then(|v| v.first().copied()),
            TAG_DIRINDEXES => dirindexes = int32s(data, &e).unwrap_or_default(),
            TAG_BASENAMES => basenames = strings(data, &e).unwrap_or_default(),
            TAG_DIRNAMES => dirnames = strings(data, &e).unwrap_or_default(),
            _ => {}
        }
    }
    if h.name.is_empty() || h.version.is_empty() || h.release.is_empty() {
        return None;
    }
    if dirindexes.len() == basenames.len() {
        h.files = basenames
            .iter()
            .zip(&dirindexes)
            .filter_map(|(base, &d)| Some(format!("{}{base}", dirnames.get(d as usize)?)))
            .collect();
    }
    Some(h)
}

/// A STRING (or the first of an I18NSTRING) entry.
fn string(data: &[u8], e: &Entry) -> Option<String> {
    if e.kind != TYPE_STRING && e.kind != TYPE_I18NSTRING {
        return None;
    }
    let (s, _) = cstr(data, e.offset)?;
    Some(s)
}

/// A STRING_ARRAY entry's strings.
fn strings(data: &[u8], e: &Entry) -> Option<Vec<String>> {
    if e.kind != TYPE_STRING_ARRAY || e.count > FILE_LIMIT {
        return None;
    }
    let mut out = Vec::with_capacity(e.count.min(1024));
    let mut at = e.offset;
    for _ in 0..e.count {
        let (s, next) = cstr(data, at)?;
        out.push(s);
        at = next;
    }
    Some(out)
}

/// An INT32 entry's values (rpm aligns them to 4 bytes; the offset says
/// where they are, so no alignment is assumed here).
fn int32s(data: &[u8], e: &Entry) -> Option<Vec<u32>> {
    if e.kind != TYPE_INT32 || e.count > FILE_LIMIT {
        return None;
    }
    let len = e.count.checked_mul(4)?;
    let bytes = data.get(e.offset..e.offset.checked_add(len)?)?;
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// The NUL-terminated printable string at `at`, and where the next one
/// starts.
fn cstr(data: &[u8], at: usize) -> Option<(String, usize)> {
    let rest = data.get(at..)?;
    let end = rest.iter().take(STRING_LIMIT + 1).position(|&b| b == 0)?;
    let s = std::str::from_utf8(&rest[..end]).ok()?;
    if s.chars().any(char::is_control) {
        return None;
    }
    Some((s.to_string(), at + end + 1))
}

/// The headers of an `rpmdb.sqlite` given as bytes, in row order. The
/// bytes go to a private temporary file, opened read-only and immutable
/// (no journal, no locks, nothing written back).
pub fn read_sqlite(db: &[u8]) -> Result<Vec<Header>, RpmDbError> {
    let mut tmp = tempfile::Builder::new()
        .prefix("hutch-rpmdb")
        .tempfile()
        .map_err(RpmDbError::Copy)?;
    tmp.write_all(db)
        .and_then(|()| tmp.flush())
        .map_err(RpmDbError::Copy)?;
    let uri = format!("file:{}?immutable=1", tmp.path().display());
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(&uri, flags)?;
    // A hostile schema may not run its own functions or views on us.
    conn.execute_batch("PRAGMA trusted_schema = OFF; PRAGMA cell_size_check = ON;")?;
    let table: Option<String> = conn
        .query_row(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'",
            [],
            |r| r.get(0),
        )
        .ok();
    if table.as_deref() != Some("table") {
        return Err(RpmDbError::NoTable);
    }
    // hnum is rpm's rowid: a scan returns rows in install order, with
    // no sort a hostile table could make large.
    let mut stmt = conn.prepare("SELECT blob FROM Packages")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        if out.len() >= ROW_LIMIT {
            return Err(RpmDbError::TooMany);
        }
        if let Ok(rusqlite::types::ValueRef::Blob(b)) = row.get_ref(0) {
            if let Some(h) = header(b) {
                out.push(h);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header blob of `entries` (tag, type, count, data), laid out as
    /// rpm does: the index, then each entry's data in turn.
    pub fn blob(entries: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, count, bytes) in entries {
            if *kind == TYPE_INT32 {
                while data.len() % 4 != 0 {
                    data.push(0);
                }
            }
            for v in [*tag, *kind, data.len() as u32, *count] {
                index.extend(v.to_be_bytes());
            }
            data.extend(bytes);
        }
        let mut out = Vec::new();
        out.extend((entries.len() as u32).to_be_bytes());
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn s(v: &str) -> Vec<u8> {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        b
    }

    fn hello() -> Vec<u8> {
        blob(&[
            (TAG_NAME, TYPE_STRING, 1, s("hello")),
            (TAG_VERSION, TYPE_STRING, 1, s("2.12")),
            (TAG_RELEASE, TYPE_STRING, 1, s("1.fc40")),
            (TAG_EPOCH, TYPE_INT32, 1, 2u32.to_be_bytes().to_vec()),
            (TAG_ARCH, TYPE_STRING, 1, s("x86_64")),
            (
                TAG_DIRNAMES,
                TYPE_STRING_ARRAY,
                2,
                [s("/usr/bin/"), s("/etc/")].concat(),
            ),
            (
                TAG_BASENAMES,
                TYPE_STRING_ARRAY,
                2,
                [s("hello"), s("hello.conf")].concat(),
            ),
            (
                TAG_DIRINDEXES,
                TYPE_INT32,
                2,
                [0u32.to_be_bytes(), 1u32.to_be_bytes()].concat(),
            ),
        ])
    }

    #[test]
    fn a_header_built_by_hand() {
        let h = header(&hello()).unwrap();
        assert_eq!(h.name, "hello");
        assert_eq!(h.evr(), "2:2.12-1.fc40");
        assert_eq!(h.arch, "x86_64");
        assert_eq!(h.files, ["/usr/bin/hello", "/etc/hello.conf"]);
        let plain = blob(&[
            (TAG_NAME, TYPE_STRING, 1, s("a")),
            (TAG_VERSION, TYPE_STRING, 1, s("1")),
            (TAG_RELEASE, TYPE_STRING, 1, s("2")),
        ]);
        assert_eq!(header(&plain).unwrap().evr(), "1-2");
    }

    #[test]
    fn every_truncation_is_refused_without_panic() {
        let full = hello();
        for n in 0..full.len() {
            assert_eq!(header(&full[..n]), None, "truncated at {n}");
        }
    }

    #[test]
    fn hostile_headers() {
        // Counts and offsets far outside the blob.
        let mut huge = Vec::new();
        huge.extend(u32::MAX.to_be_bytes());
        huge.extend(u32::MAX.to_be_bytes());
        assert_eq!(header(&huge), None);
        let mut b = hello();
        // The name's offset points past the data.
        b[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(header(&b), None);
        // A string with no NUL before the end of the data.
        let b = blob(&[(TAG_NAME, TYPE_STRING, 1, b"x".to_vec())]);
        assert_eq!(header(&b), None);
        // The name as the wrong type, control characters in a version.
        let b = blob(&[
            (TAG_NAME, TYPE_INT32, 1, 1u32.to_be_bytes().to_vec()),
            (TAG_VERSION, TYPE_STRING, 1, s("1")),
            (TAG_RELEASE, TYPE_STRING, 1, s("1")),
        ]);
        assert_eq!(header(&b), None);
        let b = blob(&[
            (TAG_NAME, TYPE_STRING, 1, s("a")),
            (TAG_VERSION, TYPE_STRING, 1, s("1\n2")),
            (TAG_RELEASE, TYPE_STRING, 1, s("1")),
        ]);
        assert_eq!(header(&b), None);
        // A huge string-array count, a dir index out of range: the package
        // is kept, its files are not invented.
        let b = blob(&[
            (TAG_NAME, TYPE_STRING, 1, s("a")),
            (TAG_VERSION, TYPE_STRING, 1, s("1")),
            (TAG_RELEASE, TYPE_STRING, 1, s("1")),
            (TAG_BASENAMES, TYPE_STRING_ARRAY, u32::MAX, s("f")),
            (TAG_DIRNAMES, TYPE_STRING_ARRAY, 1, s("/d/")),
            (TAG_DIRINDEXES, TYPE_INT32, 1, 7u32.to_be_bytes().to_vec()),
        ]);
        assert_eq!(header(&b).unwrap().files, Vec::<String>::new());
    }

    #[test]
    fn an_sqlite_database_as_rpm_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SQLITE);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL);",
        )
        .unwrap();
        for b in [hello(), b"junk".to_vec()] {
            conn.execute("INSERT INTO Packages (blob) VALUES (?1)", [b])
                .unwrap();
        }
        drop(conn);
        let got = read_sqlite(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].name, "hello");
    }

    #[test]
    fn sqlite_that_is_not_an_rpm_database() {
        assert!(read_sqlite(b"not a database").is_err());
        assert!(read_sqlite(b"").is_err());
    }
}
