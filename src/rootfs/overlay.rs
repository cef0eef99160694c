//! Mounting an overlayfs from inside a user namespace.
//!
//! Unprivileged overlay mounts need the `userxattr` option (overlayfs docs,
//! "Permission model"; refused without it). Many layers are a problem for the
//! classic mount(2) call, whose options must fit in one page: the new mount API
//! adds lower dirs one `lowerdir+` key at a time (Linux 6.8), and the fallback
//! switches to short relative symlinks (`l/0`, `l/1`, ...) the way
//! containers/storage does.
//!
//! It must only be called inside the mount namespace of the sandbox child.

use super::kinds::Driver;
pub use super::kinds::MountApi;
use crate::sys::mount::{mount, Flags, FsContext};
use crate::sys::SysError;
use std::path::{Path, PathBuf};

/// One overlay: lower dirs (lowest layer first, as the store hands them out),
/// an upper dir and a work dir on the same filesystem as the upper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub lowers: Vec<PathBuf>,
    /// Data-only lower layers (Linux 6.16+ in a user namespace): reachable
    /// only through the `user.overlay.redirect` of metacopy files in
    /// `lowers` (see `metacopy`), never merged into the view.
    pub data: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Skip every sync to the upper filesystem (overlayfs `volatile`). Only
    /// for throwaway containers: unmounting a writable overlay otherwise
    /// syncs the whole upper filesystem, which costs tens of milliseconds per
    /// container exit, and after a crash a volatile upper dir is unusable.
    pub volatile: bool,
}

/// The classic option string must fit in one page (mount(2) copies at most
/// PAGE_SIZE bytes of `data`); keep a margin for the other options.
const LEGACY_LIMIT: usize = 3500;

impl Overlay {
    /// Mount at `target` with `driver`. `links` is a directory hutch may
    /// write into, used for short symlinks when the classic option string
    /// would be too long.
    pub fn mount(&self, target: &Path, driver: &Driver, links: &Path) -> Result<(), SysError> {
        match driver {
            Driver::Overlay(MountApi::LowerdirPlus) => self.mount_new_api(target),
            Driver::Overlay(MountApi::Legacy) => self.mount_legacy(target, links),
            // Mounted before the child was released, by the server the
            // sandbox's parent started (`fuse::start`).
            Driver::Fuse(_) => Ok(()),
            Driver::Copy => super::copy::mount(&self.lowers, &self.copy_dir(), target),
        }
    }

    /// Where the copy driver keeps the container's own root: beside the
    /// upper dir, which it fills only with the changes (see `copy`).
    pub fn copy_dir(&self) -> PathBuf {
        self.upper.with_file_name("copy")
    }

    fn mount_new_api(&self, target: &Path) -> Result<(), SysError> {
        use std::os::unix::ffi::OsStrExt;
        let fs = FsContext::open("overlay")?;
        // `lowerdir+` appends below the ones given so far: topmost first.
        for l in self.lowers.iter().rev() {
            fs.set_string("lowerdir+", l.as_os_str().as_bytes())?;
        }
        for d in &self.data {
            fs.set_string("datadir+", d.as_os_str().as_bytes())?;
        }
        fs.set_string("upperdir", self.upper.as_os_str().as_bytes())?;
        fs.set_string("workdir", self.work.as_os_str().as_bytes())?;
        fs.set_flag("userxattr")?;
        if self.volatile {
            fs.set_flag("volatile")?;
        }
        // What /proc/self/mountinfo shows as the source.
        fs.set_string("source", b"overlay")?;
        fs.mount_at(target)
    }

    fn mount_legacy(&self, target: &Path, links: &Path) -> Result<(), SysError> {
        let full = self.legacy_options(
            self.lowers
                .iter()
                .rev()
                .map(|p| escape(&p.to_string_lossy())),
            self.data.iter().map(|p| escape(&p.to_string_lossy())),
        );
        if full.len() <= LEGACY_LIMIT {
            return mount(
                Some("overlay"),
                target,
                Some("overlay"),
                Flags::empty(),
                Some(&full),
            );
        }
        // Too long: relative symlinks resolved against our cwd at mount time.
        let l = links.join("l");
        std::fs::create_dir_all(&l).map_err(|e| io_err("mkdir", &l, e))?;
        let n = self.lowers.len();
        for (i, lower) in self.lowers.iter().chain(&self.data).enumerate() {
            let link = l.join(i.to_string());
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(lower, &link).map_err(|e| io_err("symlink", &link, e))?;
        }
        let short = self.legacy_options(
            (0..n).rev().map(|i| format!("l/{i}")),
            (n..n + self.data.len()).map(|i| format!("l/{i}")),
        );
        let old = std::env::current_dir().ok();
        nix::unistd::chdir(links)
            .map_err(|e| SysError::new(format!("chdir({})", links.display()), e))?;
        let r = mount(
            Some("overlay"),
            target,
            Some("overlay"),
            Flags::empty(),
            Some(&short),
        );
        if let Some(old) = old {
            let _ = nix::unistd::chdir(&old);
        }
        r
    }

    fn legacy_options(
        &self,
        lowers_top_first: impl Iterator<Item = String>,
        data: impl Iterator<Item = String>,
    ) -> String {
        let mut lowers = lowers_top_first.collect::<Vec<String>>().join(":");
        // Data-only layers follow the others, each after "::".
        for d in data {
            lowers.push_str("::");
            lowers.push_str(&d);
        }
        format!(
            "userxattr{},lowerdir={},upperdir={},workdir={}",
            if self.volatile { ",volatile" } else { "" },
            lowers,
            escape(&self.upper.to_string_lossy()),
            escape(&self.work.to_string_lossy())
        )
    }
}

/// overlayfs splits options at ',' and lower dirs at ':'; a backslash escapes both.
fn escape(p: &str) -> String {
    let mut s = String::with_capacity(p.len());
    for c in p.chars() {
        if matches!(c, ',' | ':' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

fn io_err(call: &str, p: &Path, e: std::io::Error) -> SysError {
    SysError::new(
        format!("{call}({})", p.display()),
        nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_options_put_the_top_layer_first_and_escape() {
        let o = Overlay {
            lowers: vec!["/s/a".into(), "/s/b:c".into()],
            data: vec!["/d".into()],
            upper: "/c/up,per".into(),
            work: "/c/work".into(),
            volatile: false,
        };
        let esc = |p: &PathBuf| escape(&p.to_string_lossy());
        let s = o.legacy_options(o.lowers.iter().rev().map(esc), o.data.iter().map(esc));
        assert_eq!(
            s,
            "userxattr,lowerdir=/s/b\\:c:/s/a::/d,upperdir=/c/up\\,per,workdir=/c/work"
        );
    }
}
