#!/usr/bin/env python3
"""Write an rpm database of the older formats from header blobs, for the
tests of hutch's readers.

    rpmdb-write.py bdb OUT [--lorder 1234|4321] [--pagesize N] SOURCE...
    rpmdb-write.py ndb OUT SOURCE...

Each SOURCE is a file holding one header blob, or an rpmdb.sqlite (as
Debian's rpm writes it) whose headers are all taken, in install order.

bdb: Berkeley DB's hash `Packages` as rpm before 4.16 keeps it, made by
Berkeley DB itself (db5.3_load): keys are header numbers (4 bytes, the
database's byte order), plus rpm's record 0 holding the last number used.
Debian's rpm reads such a database (its bdb_ro backend) but cannot write
one.

ndb: rpm's `Packages.db` as lib/backend/ndb/rpmpkg.c lays it out. Debian's
rpm is built without the ndb backend and no other tool on Debian writes
it, so this follows rpm's source: a 32-byte header, 4 KiB slot pages,
blobs in 16-byte blocks with head, padding, Adler-32 and tail.
"""

import argparse
import sqlite3
import struct
import subprocess
import zlib


def blobs(sources):
    out = []
    for src in sources:
        with open(src, "rb") as f:
            data = f.read()
        if data.startswith(b"SQLite format 3\0"):
            con = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
            out += [bytes(b) for (b,) in con.execute("SELECT blob FROM Packages ORDER BY hnum")]
            con.close()
        else:
            out.append(data)
    return out


def bdb(out, headers, lorder, pagesize):
    fmt = "<I" if lorder == "1234" else ">I"
    pairs = [(0, struct.pack(fmt, len(headers)))]
    pairs += [(n, h) for n, h in enumerate(headers, 1)]

    def text(b):
        return "".join(f"\\{x:02x}" for x in b)

    lines = []
    for n, value in pairs:
        lines.append(text(struct.pack(fmt, n)))
        lines.append(text(value))
    cmd = ["db5.3_load", "-T", "-t", "hash", "-c", f"db_lorder={lorder}"]
    if pagesize:
        cmd += ["-c", f"db_pagesize={pagesize}"]
    subprocess.run(cmd + [out], input="\n".join(lines) + "\n", text=True, check=True)


def ndb(out, headers):
    page, slot, block, head, tail = 4096, 16, 16, 16, 12
    slot_pages = (len(headers) + 2 + page // slot - 1) // (page // slot)
    slots = bytearray()
    data = bytearray()
    blkoff = slot_pages * page // block
    for idx, h in enumerate(headers, 1):
        blkcnt = (head + len(h) + tail + block - 1) // block
        body = b"BlbS" + struct.pack("<III", idx, 1700000000, len(h)) + h
        body += b"\0" * (blkcnt * block - len(body) - tail)
        body += struct.pack("<II", zlib.adler32(body), len(h)) + b"BlbE"
        slots += b"Slot" + struct.pack("<III", idx, blkoff, blkcnt)
        data += body
        blkoff += blkcnt
    while len(slots) < slot_pages * page - 32:
        slots += b"Slot" + b"\0" * 12
    header = b"RpmP" + struct.pack("<IIII", 0, 1, slot_pages, len(headers) + 1) + b"\0" * 12
    with open(out, "wb") as f:
        f.write(header + slots + data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("format", choices=["bdb", "ndb"])
    p.add_argument("out")
    p.add_argument("--lorder", default="1234", choices=["1234", "4321"])
    p.add_argument("--pagesize", type=int)
    p.add_argument("sources", nargs="+")
    a = p.parse_args()
    headers = blobs(a.sources)
    if a.format == "bdb":
        bdb(a.out, headers, a.lorder, a.pagesize)
    else:
        ndb(a.out, headers)


if __name__ == "__main__":
    main()
