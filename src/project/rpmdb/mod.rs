//! rpm's databases of installed packages and the header format they all
//! store, one header blob a package: the sqlite file rpm 4.16 and later
//! keep (`rpmdb.sqlite`, table `Packages(hnum, blob)`: Fedora 33+, RHEL 9),
//! Berkeley DB's hash `Packages` (rpm before 4.16: CentOS/RHEL 7 and 8,
//! Amazon Linux 2, older Fedora and openSUSE; read by `bdb`) and rpm's own
//! ndb `Packages.db` (openSUSE and SLES 15; read by `ndb`).
//!
//! They come from images and environments, so they are hostile: the file
//! and every header have a size limit, the header parser checks every
//! offset and count against the blob and keeps only bounded, printable
//! strings; the sqlite database is opened read-only and immutable from a
//! private copy, its `Packages` must be a plain table, and the number of
//! packages read is bounded. A damaged file is an [`Unreadable`] naming
//! it; nothing here panics on input.

mod bdb;
mod ndb;

use std::io::Write;

/// The sqlite database's name inside an rpm database directory.
pub const SQLITE: &str = "rpmdb.sqlite";

/// Largest database file read (the same as the largest file whose content
/// a diff keeps).
pub const DB_LIMIT: u64 = crate::snapshot::changes::CONTENT_LIMIT;

/// The formats of an rpm database, each with its file name, in the order
/// rpm prefers them when a directory has several.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Sqlite,
    Ndb,
    Bdb,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Sqlite, Format::Ndb, Format::Bdb];

    /// The database's file name.
    pub fn file(self) -> &'static str {
        match self {
            Format::Sqlite => SQLITE,
            Format::Ndb => "Packages.db",
            Format::Bdb => "Packages",
        }
    }

    /// The format of a database file named `name`.
    pub fn of(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.file() == name)
    }
}

/// Most index entries one header may have (rpm's own limit is 0xffff).
const INDEX_LIMIT: usize = 0xffff;
/// Most data bytes one header may have (rpm's own limit: 256 MiB; the
/// caller's content limit is lower anyway).
const DATA_LIMIT: usize = 64 << 20;
/// Most packages read from one database.
const ROW_LIMIT: usize = 200_000;
/// Longest header blob read: the most index entries and data a header
/// may have.
const BLOB_LIMIT: usize = 8 + 16 * INDEX_LIMIT + DATA_LIMIT;
/// Most files kept from one header.
const FILE_LIMIT: usize = 1 << 20;
/// Most bytes of file paths kept per byte of header.
const PATHS_PER_BYTE: usize = 4;
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
    #[error("the rpm database is larger than {DB_LIMIT} bytes")]
    TooLarge,
    #[error("not a Berkeley DB hash database as rpm writes it: {0}")]
    Bdb(String),
    #[error("a damaged ndb database: {0}")]
    Ndb(String),
}

/// An rpm database hutch could not read, by its path in the image.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the rpm database /{path}")]
pub struct Unreadable {
    pub path: String,
    #[source]
    pub error: RpmDbError,
}

/// The headers of the database `db` in `format`, in the order the
/// database keeps them; headers that do not parse are skipped (rpm's own
/// bookkeeping records among them).
pub fn read(format: Format, db: &[u8]) -> Result<Vec<Header>, RpmDbError> {
    if db.len() as u64 > DB_LIMIT {
        return Err(RpmDbError::TooLarge);
    }
    match format {
        Format::Sqlite => read_sqlite(db),
        Format::Bdb => Ok(headers(bdb::blobs(db)?)),
        Format::Ndb => Ok(headers(ndb::blobs(db)?)),
    }
}

fn headers<B: AsRef<[u8]>>(blobs: Vec<B>) -> Vec<Header> {
    blobs.iter().filter_map(|b| header(b.as_ref())).collect()
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
    // rpm writes each tag once; a hostile header repeating the file lists
    // would have each copy parsed in full (a million strings at a time).
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..il {
        let at = 8 + i * 16;
        let e = Entry {
            tag: be32(blob, at)?,
            kind: be32(blob, at + 4)?,
            offset: be32(blob, at + 8)? as usize,
            count: be32(blob, at + 12)? as usize,
        };
        if !seen.insert(e.tag) {
            continue;
        }
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
        h.files = paths(&dirnames, &basenames, &dirindexes, blob.len());
    }
    Some(h)
}

/// Each file's directory joined to its base name. Directories are shared,
/// so the paths can be far longer than the header: past
/// [`PATHS_PER_BYTE`] times its size (which real headers never come
/// near) the package keeps no file list rather than memory without bound.
fn paths(dirnames: &[String], basenames: &[String], indexes: &[u32], size: usize) -> Vec<String> {
    let mut budget = size.saturating_mul(PATHS_PER_BYTE);
    let mut out = Vec::with_capacity(basenames.len());
    for (base, &d) in basenames.iter().zip(indexes) {
        let Some(dir) = dirnames.get(d as usize) else {
            continue;
        };
        let Some(left) = budget.checked_sub(dir.len() + base.len()) else {
            return Vec::new();
        };
        budget = left;
        out.push(format!("{dir}{base}"));
    }
    out
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
    fn shared_directories_do_not_multiply_memory() {
        // One long directory for 100,000 one-letter files: 400 MB of
        // paths from a header of 1 MB.
        let n = 100_000;
        let b = blob(&[
            (TAG_NAME, TYPE_STRING, 1, s("a")),
            (TAG_VERSION, TYPE_STRING, 1, s("1")),
            (TAG_RELEASE, TYPE_STRING, 1, s("1")),
            (
                TAG_DIRNAMES,
                TYPE_STRING_ARRAY,
                1,
                s(&"d".repeat(STRING_LIMIT)),
            ),
            (
                TAG_BASENAMES,
                TYPE_STRING_ARRAY,
                n,
                s("f").repeat(n as usize),
            ),
            (TAG_DIRINDEXES, TYPE_INT32, n, vec![0; 4 * n as usize]),
        ]);
        assert!(b.len() < 1 << 20);
        assert_eq!(header(&b).unwrap().files, Vec::<String>::new());
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

    /// A package `name` with `files` files, so that its header is as
    /// large as wanted (Berkeley DB puts a large one on overflow pages).
    fn package(name: &str, files: usize) -> Vec<u8> {
        let names: Vec<u8> = (0..files).flat_map(|i| s(&format!("f{i}"))).collect();
        let indexes: Vec<u8> = (0..files).flat_map(|_| 0u32.to_be_bytes()).collect();
        blob(&[
            (TAG_NAME, TYPE_STRING, 1, s(name)),
            (TAG_VERSION, TYPE_STRING, 1, s("1.0")),
            (TAG_RELEASE, TYPE_STRING, 1, s("1")),
            (TAG_ARCH, TYPE_STRING, 1, s("noarch")),
            (TAG_DIRNAMES, TYPE_STRING_ARRAY, 1, s("/usr/share/")),
            (TAG_BASENAMES, TYPE_STRING_ARRAY, files as u32, names),
            (TAG_DIRINDEXES, TYPE_INT32, files as u32, indexes),
        ])
    }

    /// The database tests/it/data/rpmdb-write.py makes of `blobs` (bdb
    /// through Berkeley DB's own db5.3_load), None when the machine
    /// cannot make it and skipping is allowed.
    pub(crate) fn written(format: &str, args: &[&str], blobs: &[Vec<u8>]) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/data/rpmdb-write.py"
        ))
        .arg(format)
        .arg(dir.path().join("db"))
        .args(args);
        for (i, b) in blobs.iter().enumerate() {
            let p = dir.path().join(format!("h{i}"));
            std::fs::write(&p, b).unwrap();
            cmd.arg(p);
        }
        match cmd.output() {
            Ok(o) if o.status.success() => Some(std::fs::read(dir.path().join("db")).unwrap()),
            Ok(o) => {
                crate::testing::skip(&format!(
                    "rpmdb-write.py {format}: {} (db5.3-util and python3 installed?)",
                    String::from_utf8_lossy(&o.stderr)
                ));
                None
            }
            Err(e) => {
                crate::testing::skip(&format!("python3: {e}"));
                None
            }
        }
    }

    fn names(hs: &[Header]) -> Vec<String> {
        let mut n: Vec<String> = hs.iter().map(|h| h.name.clone()).collect();
        n.sort();
        n
    }

    /// Three packages: one small, one a few KiB, one over several pages.
    fn three() -> Vec<Vec<u8>> {
        vec![package("small", 1), package("medium", 300), hello()]
    }

    #[test]
    fn berkeley_db_in_both_byte_orders_and_page_sizes() {
        let big = package("big", 3000);
        assert!(big.len() > 20_000);
        for args in [&[][..], &["--lorder", "4321", "--pagesize", "512"]] {
            let mut blobs = three();
            blobs.push(big.clone());
            let Some(db) = written("bdb", args, &blobs) else {
                return;
            };
            let got = read(Format::Bdb, &db).unwrap();
            assert_eq!(names(&got), ["big", "hello", "medium", "small"], "{args:?}");
            let big = got.iter().find(|h| h.name == "big").unwrap();
            assert_eq!(big.files.len(), 3000);
            assert_eq!(big.files[2999], "/usr/share/f2999");
        }
    }

    #[test]
    fn ndb_as_rpm_lays_it_out() {
        // More packages than one slot page holds.
        let blobs: Vec<Vec<u8>> = (0..300).map(|i| package(&format!("p{i:03}"), 2)).collect();
        let Some(db) = written("ndb", &[], &blobs) else {
            return;
        };
        let got = read(Format::Ndb, &db).unwrap();
        assert_eq!(got.len(), 300);
        assert_eq!(got[0].name, "p000");
        assert_eq!(got[299].name, "p299");
    }

    /// Every prefix and many single-byte changes of `db` read without a
    /// panic.
    fn survives_damage(format: Format, db: &[u8]) {
        for n in 0..db.len() {
            let _ = read(format, &db[..n]);
        }
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..4000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let mut d = db.to_vec();
            let at = (rng % d.len() as u64) as usize;
            d[at] = (rng >> 32) as u8;
            let _ = read(format, &d);
        }
    }

    fn why(r: Result<Vec<Header>, RpmDbError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn damaged_berkeley_db() {
        let Some(db) = written("bdb", &["--pagesize", "512"], &three()) else {
            return;
        };
        survives_damage(Format::Bdb, &db);
        // An overflow page that links back to itself.
        let ps = 512;
        let mut cyclic = db.clone();
        let n = (1..db.len() / ps)
            .find(|&n| db[n * ps + 25] == 7 && db[n * ps + 16..n * ps + 20] != [0; 4])
            .expect("a chain of overflow pages");
        cyclic[n * ps + 16..n * ps + 20].copy_from_slice(&(n as u32).to_le_bytes());
        assert!(why(read(Format::Bdb, &cyclic)).contains("used twice"));
        // A chain leaving the file.
        let mut out = db.clone();
        out[n * ps + 16..n * ps + 20].copy_from_slice(&999u32.to_le_bytes());
        assert!(why(read(Format::Bdb, &out)).contains("outside the file"));
        assert!(why(read(Format::Bdb, &db[..db.len() - 1])).contains("whole number"));
        assert!(why(read(Format::Bdb, b"junk")).contains("no hash magic"));
    }

    #[test]
    fn damaged_ndb() {
        let Some(db) = written("ndb", &[], &three()) else {
            return;
        };
        survives_damage(Format::Ndb, &db);
        let last = db.len() - 20;
        let mut sum = db.clone();
        sum[last] ^= 1;
        assert!(why(read(Format::Ndb, &sum)).contains("checksum"));
        // The second slot made to start inside the first's blob.
        let mut overlap = db.clone();
        let first = u32::from_le_bytes(db[40..44].try_into().unwrap());
        overlap[56..60].copy_from_slice(&(first + 1).to_le_bytes());
        assert!(why(read(Format::Ndb, &overlap)).contains("overlaps"));
        assert!(why(read(Format::Ndb, &db[..db.len() - 16])).contains("past the end"));
    }

    #[test]
    fn a_database_larger_than_the_limit_is_refused() {
        let huge = vec![0u8; DB_LIMIT as usize + 1];
        assert!(matches!(
            read(Format::Bdb, &huge),
            Err(RpmDbError::TooLarge)
        ));
    }
}
