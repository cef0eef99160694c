//! Who the container process runs as: `-u user[:group]` (or the image's
//! `User`) resolved against the container's own /etc/passwd and /etc/group,
//! Docker's way: names must exist, numbers need not, and supplementary groups
//! are the groups that list the user by name.
//!
//! Pure parsing: it reads text handed to it and never touches the filesystem.

use super::error::SpecError;

/// The resolved identity of the container process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, without the primary one.
    pub groups: Vec<u32>,
    /// From passwd, or `/` when the user has no entry (Docker's default).
    pub home: String,
}

struct PwEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PwEntry<'_>> {
    passwd.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some(PwEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// (name, gid, members) per /etc/group line.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// Resolve `spec` (`user`, `uid`, `user:group`, `uid:gid`, ...; None or ""
/// means root) against the container's passwd and group files.
pub fn resolve(spec: Option<&str>, passwd: &str, group: &str) -> Result<Identity, SpecError> {
    let spec = spec.unwrap_or("").trim();
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let (uid, entry) = match user.parse::<u32>() {
        Ok(uid) => (uid, passwd_entries(passwd).find(|e| e.uid == uid)),
        Err(_) => {
            let e = passwd_entries(passwd)
                .find(|e| e.name == user)
                .ok_or_else(|| SpecError::UnknownUser(user.into()))?;
            (e.uid, Some(e))
        }
    };
    let gid = match grp {
        None | Some("") => entry.as_ref().map(|e| e.gid).unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(group)
                .find(|(name, _, _)| *name == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| SpecError::UnknownGroup(g.into()))?,
        },
    };
    let groups = match &entry {
        Some(e) => group_entries(group)
            .filter(|(_, g, members)| *g != gid && members.contains(&e.name))
            .map(|(_, g, _)| g)
            .collect(),
        None => Vec::new(),
    };
    let home = entry
        .as_ref()
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or("/")
        .to_string();
    Ok(Identity {
        uid,
        gid,
        groups,
        home,
    })
}

/// `--group-add` entries as gids: numbers as they are, names looked up in
/// the container's /etc/group (a missing name is an error, as in Docker).
pub fn extra_groups(add: &[String], group: &str) -> Result<Vec<u32>, SpecError> {
    add.iter()
        .map(|g| match g.parse::<u32>() {
            Ok(n) => Ok(n),
            Err(_) => group_entries(group)
                .find(|(name, _, _)| name == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| SpecError::UnknownExtraGroup(g.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          daemon:x:1:1:daemon:/usr/sbin:/bin/false\n\
                          nobody:x:65534:65534:nobody:/home:/bin/false\n";
    const GROUP: &str = "root:x:0:\nbin:x:1:root,daemon\nwheel:x:10:root\nnogroup:x:65534:\n";

    #[test]
    fn added_groups_by_number_or_name() {
        assert_eq!(
            extra_groups(&["wheel".into(), "77".into()], GROUP).unwrap(),
            vec![10, 77]
        );
        assert!(extra_groups(&["nope".into()], GROUP)
            .unwrap_err()
            .to_string()
            .contains("nope"));
    }

    #[test]
    fn default_is_root_with_its_groups() {
        let id = resolve(None, PASSWD, GROUP).unwrap();
        assert_eq!((id.uid, id.gid, id.home.as_str()), (0, 0, "/root"));
        assert_eq!(id.groups, vec![1, 10]);
    }

    #[test]
    fn names_and_numbers() {
        let id = resolve(Some("nobody"), PASSWD, GROUP).unwrap();
        assert_eq!((id.uid, id.gid), (65534, 65534));
        let id = resolve(Some("1000:1000"), PASSWD, GROUP).unwrap();
        assert_eq!((id.uid, id.gid, id.home.as_str()), (1000, 1000, "/"));
        assert!(id.groups.is_empty());
        let id = resolve(Some("daemon:wheel"), PASSWD, GROUP).unwrap();
        assert_eq!((id.uid, id.gid, id.groups), (1, 10, vec![1]));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(resolve(Some("alice"), PASSWD, GROUP)
            .unwrap_err()
            .to_string()
            .contains("unable to find user alice"));
        assert!(resolve(Some("root:staff"), PASSWD, GROUP)
            .unwrap_err()
            .to_string()
            .contains("unable to find group staff"));
    }
}
