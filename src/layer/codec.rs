//! Layer compression: recognising gzip/zstd/plain tar streams by their magic
//! bytes on the way in, compressing with a digest of the blob on the way out.
//!
//! It only wraps byte streams; it knows nothing about tar or the filesystem.

use super::digest::HashingWriter;
use super::{Error, Result};
use std::io::{BufReader, Cursor, Read, Write};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// zstd's worker threads in [`Compressor::fastest`]. Fixed rather than the
/// machine's core count: zstd's streaming output does not depend on the
/// number of workers, but a fixed number keeps that from being a question.
const ZSTD_WORKERS: u32 = 2;

/// Large enough that reading a layer costs few syscalls, small enough to be
/// irrelevant next to the layer itself.
const BUF: usize = 256 * 1024;

/// Which compression the first bytes of a stream announce.
pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Wrap `input` so that reading it yields the uncompressed tar, whichever of
/// plain, gzip or zstd it is.
pub fn decompressed<'a>(mut input: impl Read + 'a) -> Result<(Compression, Box<dyn Read + 'a>)> {
    // Read the magic by hand: a pipe may deliver fewer bytes than asked for.
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Stream(e)),
        }
    }
    let kind = detect(&head[..got]);
    let stream = BufReader::with_capacity(BUF, Cursor::new(head[..got].to_vec()).chain(input));
    let out: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(stream),
        // Multi-member: some tools write a layer as several concatenated gzip members.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(stream)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(stream).map_err(
            |error| Error::Codec {
                action: "start zstd decompression",
                error,
            },
        )?),
    };
    Ok((kind, out))
}

/// A writer that compresses into `out` and reports the digest and size of the
/// compressed bytes (a layer blob's descriptor).
pub struct Compressor<W: Write> {
    enc: Encoder<W>,
}

enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<HashingWriter<W>>),
    Zstd(zstd::stream::write::Encoder<'static, HashingWriter<W>>),
}

/// The compressed blob that came out of a `Compressor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    /// `sha256:<hex>` of the compressed bytes.
    pub digest: String,
    pub size: u64,
}

impl<W: Write> Compressor<W> {
    /// Start compressing into `out`; `kind` must be Gzip or Zstd.
    pub fn new(out: W, kind: Compression) -> Result<Self> {
        // Level 6 is gzip's default and what other image tools write; 3
        // is zstd's.
        Self::with_levels(out, kind, 6, 3)
    }

    /// Like [`Compressor::new`] at fast levels, for writers that favour
    /// speed: gzip 1, zstd -1. zstd's negative levels keep its match search
    /// but store literals as they are instead of Huffman-coding them, which
    /// is most of level 1's time. Measured on a 200 MB change of text that
    /// does not repeat (bench/gen-tree.sh): 0.13 s of CPU instead of 0.58 s
    /// for 204 MB instead of 154; on 460 MB of /usr (programs, Python,
    /// Perl) 1.5 s instead of 1.9 s for 202 MB instead of 177. Any fixed
    /// level keeps the output reproducible.
    ///
    /// zstd also compresses on `ZSTD_WORKERS` threads of its own: the
    /// caller's thread then only feeds it and takes its output, and the
    /// compression spreads over both cores instead of being the one thread
    /// a snapshot waits for.
    pub fn fastest(out: W, kind: Compression) -> Result<Self> {
        let mut c = Self::with_levels(out, kind, 1, -1)?;
        if let Encoder::Zstd(e) = &mut c.enc {
            e.multithread(ZSTD_WORKERS).map_err(|error| Error::Codec {
                action: "start zstd's worker threads",
                error,
            })?;
        }
        Ok(c)
    }

    fn with_levels(out: W, kind: Compression, gzip: u32, zstd: i32) -> Result<Self> {
        let out = HashingWriter::new(out);
        let enc = match kind {
            // No file name or time in the header, so output is reproducible.
            Compression::Gzip => {
                Encoder::Gzip(flate2::GzBuilder::new().write(out, flate2::Compression::new(gzip)))
            }
            Compression::Zstd => Encoder::Zstd(
                zstd::stream::write::Encoder::new(out, zstd).map_err(|error| Error::Codec {
                    action: "start zstd compression",
                    error,
                })?,
            ),
            Compression::None => return Err(Error::NoCompression),
        };
        Ok(Compressor { enc })
    }

    /// End the stream; returns the inner writer and the blob's digest and size.
    pub fn finish(self) -> Result<(W, Compressed)> {
        let hashing = match self.enc {
            Encoder::Gzip(e) => e.finish().map_err(|error| Error::Codec {
                action: "finish gzip stream",
                error,
            })?,
            Encoder::Zstd(e) => e.finish().map_err(|error| Error::Codec {
                action: "finish zstd stream",
                error,
            })?,
        };
        let (out, digest, size) = hashing.finish();
        Ok((out, Compressed { digest, size }))
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.enc {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.enc {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressor_round_trips_and_digests_its_output() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for kind in [Compression::Gzip, Compression::Zstd] {
            let mut c = Compressor::new(Vec::new(), kind).unwrap();
            c.write_all(&data).unwrap();
            let (blob, info) = c.finish().unwrap();
            assert_eq!(info.size, blob.len() as u64);
            let mut h = HashingWriter::new(std::io::sink());
            h.write_all(&blob).unwrap();
            assert_eq!(h.finish().1, info.digest);
            assert!(blob.len() < data.len() / 4, "{kind:?} did not compress");
            let (seen, mut r) = decompressed(&blob[..]).unwrap();
            assert_eq!(seen, kind);
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
        }
        assert!(Compressor::new(Vec::new(), Compression::None).is_err());
    }

    #[test]
    fn fastest_zstd_on_workers_is_reproducible_whatever_the_writes() {
        // More than one of zstd's jobs, so the workers really split it.
        let data: Vec<u8> = (0..3_000_000u32)
            .flat_map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes())
            .collect();
        let pack = |piece: usize| {
            let mut c = Compressor::fastest(Vec::new(), Compression::Zstd).unwrap();
            for p in data.chunks(piece) {
                c.write_all(p).unwrap();
            }
            c.finish().unwrap()
        };
        let (a, ia) = pack(4096);
        let (b, ib) = pack(1 << 20);
        assert_eq!(ia, ib, "the same bytes in other pieces");
        assert_eq!(a, b);
        let (_, mut r) = decompressed(&a[..]).unwrap();
        let mut back = Vec::new();
        r.read_to_end(&mut back).unwrap();
        assert!(back == data);
    }
}
