//! Layer compression: recognising gzip/zstd/plain tar streams by their magic
//! bytes on the way in.
//!
//! It only wraps byte streams; it knows nothing about tar or the filesystem.

use std::io::{BufReader, Cursor, Read};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

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
pub fn decompressed<'a>(
    mut input: impl Read + 'a,
) -> Result<(Compression, Box<dyn Read + 'a>), String> {
    // Read the magic by hand: a pipe may deliver fewer bytes than asked for.
    let mut head = [0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match input.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the layer stream: {e}")),
        }
    }
    let kind = detect(&head[..got]);
    let stream = BufReader::with_capacity(BUF, Cursor::new(head[..got].to_vec()).chain(input));
    let out: Box<dyn Read + 'a> = match kind {
        Compression::None => Box::new(stream),
        // Multi-member: some tools write a layer as several concatenated gzip members.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(stream)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(stream)
                .map_err(|e| format!("cannot start zstd decompression: {e}"))?,
        ),
    };
    Ok((kind, out))
}
