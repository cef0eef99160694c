//! `[run] passthrough`: which host facilities an environment shares, each
//! opted into by name. What the container is made with (bind mounts at the
//! host's own paths, device nodes, variables naming them) is fixed when the
//! container is made; the locale and terminal variables are read again at
//! every entry. What cannot be shared (nothing set, no such device) is a
//! note for the caller, never an error: the environment works without it.
//!
//! It reads the host's variables through the function it is given and
//! stats the paths they name; it mounts and starts nothing.

use super::config::{Home, Passthrough};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where X11 servers keep their sockets.
const X11_DIR: &str = "/tmp/.X11-unix";

/// What the environment's container is made with.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shared {
    /// `HOST:CONTAINER[:ro]` bind mounts.
    pub volumes: Vec<String>,
    /// Device nodes, as `--device` takes them.
    pub devices: Vec<String>,
    /// `KEY=VALUE` for the container's environment.
    pub env: Vec<String>,
    /// What could not be shared, one line each, for the caller to hear.
    pub notes: Vec<String>,
}

impl Shared {
    /// Bind `path` at the same path; false (and a note) when it cannot be
    /// written as a volume.
    fn bind(&mut self, what: Passthrough, path: &Path, read_only: bool) -> bool {
        let p = path.display().to_string();
        if p.contains(':') || p.contains(',') {
            self.notes.push(format!(
                "{what}: {p} has ':' or ',' in its path; not shared"
            ));
            return false;
        }
        self.volumes
            .push(format!("{p}:{p}{}", if read_only { ":ro" } else { "" }));
        true
    }
}

fn is_socket(p: &Path) -> bool {
    p.metadata().is_ok_and(|m| m.file_type().is_socket())
}

/// What `list` shares when the container is made: `var` reads the host's
/// environment, `home` is the caller's home, seen as `home_mode` says.
pub fn at_creation(
    list: &[Passthrough],
    home: &Path,
    home_mode: Home,
    var: &dyn Fn(&str) -> Option<String>,
) -> Shared {
    let mut s = Shared::default();
    let absolute = |k: &str| var(k).map(PathBuf::from).filter(|p| p.is_absolute());
    for &what in list {
        match what {
            Passthrough::SshAgent => match absolute("SSH_AUTH_SOCK") {
                Some(sock) if is_socket(&sock) => {
                    if s.bind(what, &sock, false) {
                        s.env.push(format!("SSH_AUTH_SOCK={}", sock.display()));
                    }
                }
                Some(sock) => s.notes.push(format!(
                    "ssh-agent: SSH_AUTH_SOCK names {}, which is not a socket; not shared",
                    sock.display()
                )),
                None => s
                    .notes
                    .push("ssh-agent: SSH_AUTH_SOCK is not set (no agent to share)".into()),
            },
            Passthrough::Display => display(&mut s, var),
            Passthrough::Gpu => gpu(&mut s, Path::new("/dev")),
            Passthrough::Git => {
                if home_mode != Home::Private {
                    // The host home (or an overlay of it) shows them already.
                    continue;
                }
                let config = absolute("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
                let found: Vec<PathBuf> = [home.join(".gitconfig"), config.join("git")]
                    .into_iter()
                    .filter(|p| p.exists())
                    .collect();
                if found.is_empty() {
                    s.notes.push(format!(
                        "git: no {} or {} to share",
                        home.join(".gitconfig").display(),
                        config.join("git").display()
                    ));
                }
                for p in found {
                    s.bind(what, &p, true);
                }
            }
            Passthrough::Locale | Passthrough::Terminal => {}
        }
    }
    s
}

/// The Wayland socket, the X11 socket directory and the X authority file.
fn display(s: &mut Shared, var: &dyn Fn(&str) -> Option<String>) {
    let what = Passthrough::Display;
    let wayland = var("WAYLAND_DISPLAY").filter(|w| !w.is_empty());
    let x11 = var("DISPLAY").filter(|d| !d.is_empty());
    if wayland.is_none() && x11.is_none() {
        s.notes.push(
            "display: neither WAYLAND_DISPLAY nor DISPLAY is set (no display to share)".into(),
        );
        return;
    }
    if let Some(name) = wayland {
        let runtime = var("XDG_RUNTIME_DIR").map(PathBuf::from);
        let sock = match (Path::new(&name).is_absolute(), &runtime) {
            (true, _) => Some(PathBuf::from(&name)),
            (false, Some(r)) if r.is_absolute() => Some(r.join(&name)),
            (false, _) => None,
        };
        match sock {
            Some(sock) if is_socket(&sock) => {
                if s.bind(what, &sock, false) {
                    s.env.push(format!("WAYLAND_DISPLAY={name}"));
                    if let (false, Some(r)) = (Path::new(&name).is_absolute(), runtime) {
                        s.env.push(format!("XDG_RUNTIME_DIR={}", r.display()));
                    }
                }
            }
            Some(sock) => s.notes.push(format!(
                "display: the Wayland socket {} does not exist; not shared",
                sock.display()
            )),
            None => s.notes.push(format!(
                "display: WAYLAND_DISPLAY={name} needs XDG_RUNTIME_DIR, which is not set"
            )),
        }
    }
    if let Some(display) = x11 {
        s.env.push(format!("DISPLAY={display}"));
        // A local display's socket; a remote one (host:0) needs none.
        if Path::new(X11_DIR).is_dir() {
            s.bind(what, Path::new(X11_DIR), true);
        } else if display.starts_with(':') {
            s.notes.push(format!(
                "display: DISPLAY={display} but there is no {X11_DIR}"
            ));
        }
        if let Some(auth) = var("XAUTHORITY").map(PathBuf::from) {
            if auth.is_absolute() && auth.is_file() && s.bind(what, &auth, true) {
                s.env.push(format!("XAUTHORITY={}", auth.display()));
            }
        }
    }
}

/// The GPU device nodes under `dev` this user can open.
fn gpu(s: &mut Shared, dev: &Path) {
    let mut nodes: Vec<PathBuf> = Vec::new();
    let char_devs = |dir: &Path, prefix: &str| -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_char_device()))
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    nodes.extend(char_devs(&dev.join("dri"), ""));
    nodes.extend(char_devs(dev, "nvidia"));
    if nodes.is_empty() {
        s.notes.push(format!(
            "gpu: this host has no {} or {}/nvidia* device nodes; no GPU is shared",
            dev.join("dri").display(),
            dev.display()
        ));
        return;
    }
    for n in nodes {
        let opens = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            // A device must not block the open.
            .custom_flags(libc::O_NONBLOCK)
            .open(&n);
        match opens {
            Ok(_) => s.devices.push(n.display().to_string()),
            Err(e) => s.notes.push(format!(
                "gpu: this user cannot open {} ({e}; a member of its group can); not shared",
                n.display()
            )),
        }
    }
}

/// The variables `list` passes at each entry, found in `vars` (the
/// caller's environment now).
pub fn at_entry(list: &[Passthrough], vars: &[(String, String)]) -> Vec<String> {
    let wanted = |k: &str| {
        list.iter().any(|p| match p {
            Passthrough::Locale => k == "LANG" || k == "LANGUAGE" || k.starts_with("LC_"),
            Passthrough::Terminal => k == "TERM" || k == "COLORTERM",
            _ => false,
        })
    };
    vars.iter()
        .filter(|(k, _)| wanted(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn sockets_and_files_are_bound_at_their_own_paths() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("agent.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let _w = std::os::unix::net::UnixListener::bind(d.path().join("wl-0")).unwrap();
        let home = d.path().join("home");
        std::fs::create_dir_all(home.join(".config/git")).unwrap();
        let rt = d.path().display().to_string();
        let all = [
            Passthrough::SshAgent,
            Passthrough::Display,
            Passthrough::Git,
        ];
        let v = vars(&[
            ("SSH_AUTH_SOCK", sock.to_str().unwrap()),
            ("WAYLAND_DISPLAY", "wl-0"),
            ("XDG_RUNTIME_DIR", &rt),
        ]);
        let s = at_creation(&all, &home, Home::Private, &v);
        let p = sock.display();
        assert!(s.volumes.contains(&format!("{p}:{p}")), "{s:?}");
        assert!(s.env.contains(&format!("SSH_AUTH_SOCK={p}")));
        assert!(s.env.contains(&"WAYLAND_DISPLAY=wl-0".to_string()));
        assert!(s.env.contains(&format!("XDG_RUNTIME_DIR={rt}")));
        let git = home.join(".config/git").display().to_string();
        assert!(s.volumes.contains(&format!("{git}:{git}:ro")), "{s:?}");
        assert!(s.notes.is_empty(), "{s:?}");

        // With the host home, git's files are there already.
        assert!(at_creation(&[Passthrough::Git], &home, Home::Host, &v)
            .volumes
            .is_empty());
        let none = at_creation(&all, &d.path().join("nohome"), Home::Private, &vars(&[]));
        assert!(none.volumes.is_empty() && none.env.is_empty());
        assert_eq!(none.notes.len(), 3, "{none:?}");
        assert!(none.notes[0].contains("SSH_AUTH_SOCK is not set"));
    }

    #[test]
    fn no_gpu_is_said() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Shared::default();
        gpu(&mut s, d.path());
        assert!(s.devices.is_empty());
        assert!(s.notes[0].contains("no GPU is shared"), "{s:?}");
    }

    #[test]
    fn locale_and_terminal_at_each_entry() {
        let env: Vec<(String, String)> = [("LANG", "C.UTF-8"), ("LC_TIME", "de_DE"), ("TERM", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            at_entry(&[Passthrough::Locale], &env),
            ["LANG=C.UTF-8", "LC_TIME=de_DE"]
        );
        assert_eq!(at_entry(&[Passthrough::Terminal], &env), ["TERM=x"]);
        assert!(at_entry(&[Passthrough::Git], &env).is_empty());
    }
}
