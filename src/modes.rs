//! The modes of what hutch makes for containers to see (a writable layer's
//! upper dir, which is the container's `/`, a volume's data, a layer's
//! root, the skeleton layer): Docker's and Podman's 0755, whatever the
//! caller's umask. hutch keeps the caller's umask for what it writes for
//! the caller (`save -o`, `--cidfile`), so these are set explicitly; under
//! a umask of 077 they were 0700, which no user but root in a container
//! could enter.
//!
//! It only makes directories at the paths it is given.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Make `path` (and its missing parents, with the umask's modes) a
/// directory of mode 0755. Errors name the path.
pub fn create_public_dir(path: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(path)?;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}
