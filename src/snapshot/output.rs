//! Output files and directories that appear complete or not at all: they are
//! built under a temporary name beside the destination (same filesystem) and
//! renamed into place only when everything was written and synced.
//!
//! It knows nothing about what is written.

use crate::chain::WithContext;
use crate::snapshot::Result;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn parent_of(dest: &Path) -> PathBuf {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn hint(dest: &Path, e: std::io::Error) -> String {
    // tempfile's errors name the temporary path; the user only knows `dest`.
    let e = match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => e,
    };
    format!(
        "cannot write {}: {e}; choose a writable path with -o",
        dest.display()
    )
}

/// A temporary file beside `dest`; removed on drop unless `finish`ed.
/// Created 0666 less the umask, as `docker save -o` and `cp` make files:
/// the result is not a secret, and tempfile's own 0600 would hide it.
pub fn file(dest: &Path) -> Result<tempfile::NamedTempFile> {
    if dest.is_dir() {
        crate::chain::bail!("{} is a directory: name a file with -o", dest.display());
    }
    tempfile::Builder::new()
        .prefix(".hutch-save.")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(parent_of(dest))
        .map_err(|e| crate::chain::Context::msg(hint(dest, e)))
        .map_err(Into::into)
}

/// Sync `tmp` and rename it to `dest`.
pub fn finish_file(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<()> {
    tmp.as_file()
        .sync_all()
        .map_err(|e| crate::chain::Context::msg(hint(dest, e)))?;
    tmp.persist(dest)
        .map_err(|e| crate::chain::Context::msg(hint(dest, e.error)))?;
    Ok(())
}

/// A temporary directory beside `dest`, which must not exist or be empty;
/// created 0777 less the umask, like `mkdir`.
pub fn dir(dest: &Path) -> Result<tempfile::TempDir> {
    if let Ok(mut rd) = std::fs::read_dir(dest) {
        if rd.next().is_some() {
            crate::chain::bail!(
                "{} already exists and is not empty: remove it or choose another path",
                dest.display()
            );
        }
    } else if dest.exists() {
        crate::chain::bail!("{} exists and is not a directory", dest.display());
    }
    tempfile::Builder::new()
        .prefix(".hutch-save.")
        .permissions(std::fs::Permissions::from_mode(0o777))
        .tempdir_in(parent_of(dest))
        .map_err(|e| crate::chain::Context::msg(hint(dest, e)))
        .map_err(Into::into)
}

/// Rename the filled `tmp` directory to `dest` (replacing an empty one).
pub fn finish_dir(tmp: tempfile::TempDir, dest: &Path) -> Result<()> {
    let path = tmp.keep();
    if dest.is_dir() {
        // Only an empty directory gets here (see `dir`).
        let _ = std::fs::remove_dir(dest);
    }
    std::fs::rename(&path, dest)
        .map_err(|e| {
            let _ = std::fs::remove_dir_all(&path);
            crate::chain::Context::msg(hint(dest, e))
        })
        .context("the output was not written")
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn nothing_appears_until_finished() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out.tar");
        let mut t = file(&dest).unwrap();
        t.write_all(b"data").unwrap();
        assert!(!dest.exists());
        finish_file(t, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
        // Dropped without finishing: no trace.
        let other = d.path().join("other.tar");
        drop(file(&other).unwrap());
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);

        let ddest = d.path().join("layout");
        let t = dir(&ddest).unwrap();
        std::fs::write(t.path().join("index.json"), "{}").unwrap();
        assert!(!ddest.exists());
        finish_dir(t, &ddest).unwrap();
        assert!(ddest.join("index.json").is_file());
        assert!(dir(&ddest).unwrap_err().to_string().contains("not empty"));
        let e = file(&d.path().join("no/such/dir/x.tar")).unwrap_err();
        assert!(e.to_string().contains("choose a writable path"), "{e}");
    }
}
