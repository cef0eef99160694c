//! Bounded reads of files that come from an image or a running container
//! (`/etc/passwd`, `/etc/group`, `/etc/hosts`, ...). Their content is hostile:
//! the path is resolved inside the container's root (no symlink leads out),
//! only regular files are read (a FIFO or `/dev/zero` behind the name would
//! hang hutch or fill its memory), and never more than a size limit.
//!
//! It only reads; it decides nothing about what the content means.

use crate::sys::fsat;
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// Larger than any real passwd, group or hosts file, small enough that
/// reading it costs nothing noticeable.
pub const MAX_CONFIG_FILE: u64 = 4 << 20;

/// Why a container file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the container's {path} is {kind}, not a regular file; refusing to read it")]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("the container's {path} is larger than {limit} bytes; refusing to read it")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("cannot read the container's {path}: {source}")]
    Sys {
        path: PathBuf,
        source: crate::sys::SysError,
    },
    #[error("cannot read the container's {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The contents of container path `path` (absolute, as the container sees
/// it) under the directory `root`, or None when it does not exist. At most
/// `limit` bytes.
pub fn read_in_root(root: &Path, path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ReadError> {
    let shown = path.to_path_buf();
    let sys = |source| ReadError::Sys {
        path: shown.clone(),
        source,
    };
    let dir = fsat::open_dir(root).map_err(sys)?;
    let rel = path.strip_prefix("/").unwrap_or(path);
    let file = match fsat::open_in_root(dir.as_fd(), rel) {
        Ok(f) => f,
        Err(e)
            if matches!(
                e.errno,
                nix::errno::Errno::ENOENT | nix::errno::Errno::ENOTDIR
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(sys(e)),
    };
    let io = |source| ReadError::Io {
        path: shown.clone(),
        source,
    };
    let meta = file.metadata().map_err(io)?;
    let t = meta.file_type();
    if !t.is_file() {
        let kind = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() {
            "a character device"
        } else if t.is_block_device() {
            "a block device"
        } else {
            "a socket"
        };
        return Err(ReadError::NotRegular { path: shown, kind });
    }
    let too_large = || ReadError::TooLarge {
        path: shown.clone(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    // The file may grow between fstat and read: the limit holds regardless.
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut buf).map_err(io)?;
    if buf.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(Some(buf))
}

/// [`read_in_root`] for a text file with [`MAX_CONFIG_FILE`] as the limit;
/// a missing file reads as empty, invalid UTF-8 is replaced.
pub fn config_file(root: &Path, path: &str) -> Result<String, ReadError> {
    Ok(read_in_root(root, Path::new(path), MAX_CONFIG_FILE)?
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_and_only_small_regular_files_are_read() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        std::fs::create_dir(root.join("etc")).unwrap();
        std::fs::write(root.join("secret"), "inside").unwrap();
        // An absolute link resolves against the container's root.
        std::os::unix::fs::symlink("/secret", root.join("etc/passwd")).unwrap();
        assert_eq!(config_file(root, "/etc/passwd").unwrap(), "inside");
        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("../../../../../etc/hostname", root.join("etc/passwd")).unwrap();
        assert_eq!(config_file(root, "/etc/passwd").unwrap(), "");

        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        nix::unistd::mkfifo(&root.join("etc/passwd"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = config_file(root, "/etc/passwd").unwrap_err().to_string();
        assert!(e.contains("FIFO"), "{e}");

        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("etc/passwd")).unwrap();
        std::fs::create_dir(root.join("dev")).unwrap();
        // Inside the root /dev/zero does not exist; through /proc's magic
        // links it would be the host's.
        assert_eq!(config_file(root, "/etc/passwd").unwrap(), "");
        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink("/proc/self/root/dev/zero", root.join("etc/passwd")).unwrap();
        assert_eq!(config_file(root, "/etc/passwd").unwrap(), "");

        std::fs::remove_file(root.join("etc/passwd")).unwrap();
        let f = std::fs::File::create(root.join("etc/passwd")).unwrap();
        f.set_len(1 << 30).unwrap();
        let e = config_file(root, "/etc/passwd").unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        assert!(read_in_root(root, Path::new("/etc/missing/x"), 10)
            .unwrap()
            .is_none());
    }
}
