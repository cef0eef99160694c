//! What confines a container's processes besides its namespaces: the
//! capability set of its root, no_new_privs, the seccomp filter (Docker's
//! default profile, a Docker-format profile file, or none), fake root for
//! users with a single id, masked and read-only /proc and /sys paths, the
//! size of /dev/shm and resource limits (setrlimit).
//!
//! [`Flags`] is the user's request as recorded with a container (Docker's
//! flag spellings); [`Flags::resolve`] checks it and compiles the filter,
//! before any namespace exists. Applying it is `setup`'s and `exec`'s job.

use super::caps::{self, CapSet};
use super::error::SpecError;
use super::limits::CgroupLimits;
use super::seccomp::{self, Filters, SeccompError};
use serde::{Deserialize, Serialize};

/// Why the confinement flags cannot be used; each message starts with the
/// flag it is about.
#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(
        "unsupported --security-opt '{0}' (hutch knows seccomp=unconfined, \
         seccomp=FILE.json and no-new-privileges[=true|false])"
    )]
    SecurityOpt(String),
    #[error("--security-opt seccomp={0}: the profile was not read")]
    ProfileNotRead(String),
    #[error("--security-opt seccomp={file}: {source}")]
    Profile { file: String, source: SeccompError },
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error("--shm-size: {0}")]
    ShmSize(super::limits::SizeError),
    #[error("--ulimit {spec}: {source}")]
    Ulimit { spec: String, source: UlimitError },
    /// `--memory`, `--cpus` or `--pids-limit` (the message names which).
    #[error(transparent)]
    Limits(#[from] super::limits::LimitError),
}

/// Why a `--ulimit` value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UlimitError {
    #[error("expected NAME=SOFT[:HARD], e.g. nofile=1024:2048")]
    Syntax,
    #[error("unknown limit '{0}' (one of {names})", names = rlimit_names())]
    UnknownName(String),
    #[error("'{0}' is not a number")]
    NotNumber(String),
    #[error("the soft limit is above the hard limit")]
    SoftAboveHard,
}

/// Docker's and Podman's /dev/shm size.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// With fake root, apt's switch to its `_apt` sandbox user would only
/// pretend to happen, and apt checks that it did: this configuration (on
/// the container's /dev tmpfs, never in a layer; named by APT_CONFIG, which
/// apt reads before its own files) keeps it as root, as enroot does.
pub const FAKE_ROOT_APT_CONF: &str = "/dev/.hutch-fake-root-apt.conf";
pub const FAKE_ROOT_APT_TEXT: &str = "APT::Sandbox::User \"root\";\n";

/// The confinement flags of `run` as given (kept in the container's record
/// so that `start` and `exec` apply the same).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Flags {
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    /// `--security-opt` values as given.
    pub security_opt: Vec<String>,
    /// The text of a `seccomp=FILE` profile, read when the container was
    /// created (as Docker does).
    pub seccomp_profile: Option<String>,
    pub fake_root: bool,
    pub shm_size: Option<String>,
    /// `--ulimit NAME=SOFT[:HARD]`.
    pub ulimits: Vec<String>,
    /// `--memory`, `--cpus`, `--pids-limit` as given.
    pub memory: Option<String>,
    pub cpus: Option<String>,
    pub pids_limit: Option<String>,
    /// `--strict-limits`: a limit that cannot be applied is an error.
    pub strict_limits: bool,
}

/// How the seccomp filter was chosen (for messages and `hutch info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeccompMode {
    Default,
    Profile,
    Unconfined,
}

/// One resource limit: setrlimit's resource number, soft and hard values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: i32,
    pub soft: u64,
    pub hard: u64,
}

/// The resolved confinement of a container's processes.
#[derive(Debug, Clone)]
pub struct Security {
    /// Root's capabilities (the bounding set of every process).
    pub caps: CapSet,
    /// The running kernel's highest capability number, read from the
    /// host's /proc here, in the parent: the container's process drops the
    /// bounding set up to it after the user's mounts are in place, when its
    /// /proc may be anything a volume put there.
    pub last_cap: u32,
    pub no_new_privs: bool,
    pub seccomp_mode: SeccompMode,
    pub fake_root: bool,
    /// Compiled programs, installed in order; empty when unconfined.
    pub filters: Filters,
    /// Mask and write-protect /proc and /sys paths as Docker does.
    pub masks: bool,
    pub shm_size: u64,
    pub rlimits: Vec<Rlimit>,
    pub cgroup_limits: CgroupLimits,
}

impl Security {
    /// Docker's defaults: default capabilities, no_new_privs, the default
    /// seccomp profile, masked paths, a 64 MiB /dev/shm.
    pub fn standard() -> Result<Security, SecurityError> {
        Flags::default().resolve()
    }
}

/// Whether and how [`Flags::resolve_with`] compiles the filter.
#[derive(Clone, Copy)]
enum Compile<'a> {
    No,
    Now,
    /// From the cache in this directory, compiling on a miss.
    Cached(&'a std::path::Path),
}

/// `--security-opt` keys other engines accept that have nothing to change
/// here (no SELinux or AppArmor policy is ever applied by hutch).
const ACCEPTED_NOOPS: &[&str] = &["label=disable", "apparmor=unconfined", "label:disable"];

/// What `--security-opt` chose.
struct Options<'a> {
    seccomp: Option<&'a str>,
    no_new_privs: bool,
    /// `systempaths=unconfined` (Docker's): no masked or read-only paths.
    unmasked: bool,
}

impl Flags {
    /// The seccomp choice, no_new_privs and masks of `--security-opt`.
    fn options(&self) -> Result<Options<'_>, SecurityError> {
        let mut o = Options {
            seccomp: None,
            no_new_privs: true,
            unmasked: false,
        };
        for opt in &self.security_opt {
            let (k, v) = opt
                .split_once(['=', ':'])
                .map_or((opt.as_str(), None), |(k, v)| (k, Some(v)));
            match (k, v) {
                ("seccomp", Some(v)) => o.seccomp = Some(v),
                ("no-new-privileges", None | Some("true")) => o.no_new_privs = true,
                ("no-new-privileges", Some("false")) => o.no_new_privs = false,
                ("systempaths", Some("unconfined")) => o.unmasked = true,
                _ if ACCEPTED_NOOPS.contains(&opt.as_str()) => {}
                _ => return Err(SecurityError::SecurityOpt(opt.clone())),
            }
        }
        Ok(o)
    }

    /// The path of a `seccomp=FILE` option, which the caller reads into
    /// `seccomp_profile` when the container is created.
    pub fn seccomp_file(&self) -> Result<Option<&str>, SecurityError> {
        Ok(self.options()?.seccomp.filter(|v| *v != "unconfined"))
    }

    /// Check everything and compile the seccomp filter.
    pub fn resolve(&self) -> Result<Security, SecurityError> {
        self.resolve_with(Compile::Now)
    }

    /// [`Flags::resolve`], taking the compiled filter from the cache in
    /// `dir` (the user's state directory) when it is there.
    pub fn resolve_in(&self, dir: &std::path::Path) -> Result<Security, SecurityError> {
        self.resolve_with(Compile::Cached(dir))
    }

    /// Everything [`Flags::resolve`] checks, without compiling the filter
    /// (for rejecting a bad command line early and cheaply).
    pub fn check(&self) -> Result<(), SecurityError> {
        self.resolve_with(Compile::No).map(drop)
    }

    fn resolve_with(&self, compile: Compile<'_>) -> Result<Security, SecurityError> {
        let last = crate::sys::caps::last_cap();
        let caps = caps::resolve(&self.cap_add, &self.cap_drop, self.privileged, last)?;
        let Options {
            seccomp: seccomp_opt,
            no_new_privs,
            unmasked,
        } = self.options()?;
        // The profile's text, when a file gave it.
        let (mode, text) = match seccomp_opt {
            Some("unconfined") => (SeccompMode::Unconfined, None),
            Some(file) => {
                let text = self
                    .seccomp_profile
                    .as_deref()
                    .ok_or_else(|| SecurityError::ProfileNotRead(file.into()))?;
                (SeccompMode::Profile, Some((file, text)))
            }
            // --privileged turns the default filter off, not a chosen one.
            None if self.privileged => (SeccompMode::Unconfined, None),
            None => (SeccompMode::Default, None),
        };
        let profile = || -> Result<Option<seccomp::Profile>, SecurityError> {
            Ok(match (mode, text) {
                (SeccompMode::Profile, Some((file, text))) => Some(
                    seccomp::docker::parse(text).map_err(|source| SecurityError::Profile {
                        file: file.into(),
                        source,
                    })?,
                ),
                (SeccompMode::Default, _) => Some(seccomp::default::profile()),
                _ => None,
            })
        };
        let host = seccomp::Host::detect(caps);
        let compile_now = || -> Result<Filters, SecurityError> {
            let fake = if self.fake_root {
                seccomp::fake_root_rules()
            } else {
                Vec::new()
            };
            match profile()? {
                Some(p) => Ok(seccomp::compile(&p, &fake, &host)?),
                None if self.fake_root => {
                    let allow_all = seccomp::Profile {
                        default_action: seccomp::Action::Allow,
                        rules: vec![],
                        flags: seccomp::InstallFlags::default(),
                    };
                    Ok(seccomp::compile(&allow_all, &fake, &host)?)
                }
                None => Ok(Filters::default()),
            }
        };
        let filtered = mode != SeccompMode::Unconfined || self.fake_root;
        let filters = match compile {
            // A profile file is still checked, so that `run` refuses it
            // before creating anything.
            Compile::No if mode == SeccompMode::Profile => profile().map(|_| Filters::default())?,
            Compile::No => Filters::default(),
            Compile::Now => compile_now()?,
            Compile::Cached(_) if !filtered => Filters::default(),
            Compile::Cached(dir) => {
                let key = seccomp::cache::Key {
                    profile: text.map(|(_, t)| t),
                    fake_root: self.fake_root,
                    host: &host,
                };
                seccomp::cache::load_or_compile(dir, &key, compile_now)?
            }
        };
        let shm_size = match &self.shm_size {
            None => DEFAULT_SHM_SIZE,
            Some(s) => super::limits::parse_size(s).map_err(SecurityError::ShmSize)?,
        };
        let mut rlimits: Vec<Rlimit> = self
            .ulimits
            .iter()
            .map(|u| {
                parse_ulimit(u).map_err(|source| SecurityError::Ulimit {
                    spec: u.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        for resource in [libc::RLIMIT_NOFILE, libc::RLIMIT_NPROC] {
            if !rlimits.iter().any(|r| r.resource == resource as i32) {
                rlimits.push(default_rlimit(resource));
            }
        }
        let cgroup_limits = super::limits::parse(
            self.memory.as_deref(),
            self.cpus.as_deref(),
            self.pids_limit.as_deref(),
        )?;
        Ok(Security {
            caps,
            last_cap: last,
            no_new_privs,
            seccomp_mode: mode,
            fake_root: self.fake_root,
            filters,
            masks: !self.privileged && !unmasked,
            shm_size,
            rlimits,
            cgroup_limits,
        })
    }
}

const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
    ("as", libc::RLIMIT_AS),
];

/// Podman's default for open files and processes when `--ulimit` does not
/// name them: 1048576 for both the soft and the hard limit, or the caller's
/// hard limit where that is lower (no process without privileges in the
/// first user namespace may raise it). The caller's soft limit (1024 on
/// most machines) starves servers, databases and package managers of file
/// descriptors.
fn default_rlimit(resource: libc::__rlimit_resource_t) -> Rlimit {
    const DEFAULT: u64 = 1 << 20;
    let hard = crate::sys::process::hard_rlimit(resource).unwrap_or(DEFAULT);
    Rlimit {
        resource: resource as i32,
        soft: hard.min(DEFAULT),
        hard: hard.min(DEFAULT),
    }
}

fn rlimit_names() -> String {
    let names: Vec<&str> = RLIMITS.iter().map(|(n, _)| *n).collect();
    names.join(", ")
}

/// `NAME=SOFT[:HARD]` as Docker takes it; `unlimited` or -1 for no limit.
pub fn parse_ulimit(u: &str) -> Result<Rlimit, UlimitError> {
    let (name, vals) = u.split_once('=').ok_or(UlimitError::Syntax)?;
    let resource = RLIMITS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r as i32)
        .ok_or_else(|| UlimitError::UnknownName(name.into()))?;
    let num = |v: &str| -> Result<u64, UlimitError> {
        match v {
            "unlimited" | "-1" => Ok(libc::RLIM_INFINITY),
            _ => v.parse().map_err(|_| UlimitError::NotNumber(v.into())),
        }
    };
    let (soft, hard) = match vals.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => (num(vals)?, num(vals)?),
    };
    if soft > hard {
        return Err(UlimitError::SoftAboveHard);
    }
    Ok(Rlimit {
        resource,
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(opts: &[&str]) -> Flags {
        Flags {
            security_opt: opts.iter().map(|s| s.to_string()).collect(),
            ..Flags::default()
        }
    }

    #[test]
    fn defaults_options_and_privileged() {
        let s = Security::standard().unwrap();
        assert_eq!(s.caps, caps::DEFAULT);
        assert!(s.no_new_privs && s.masks && !s.filters.is_empty());
        assert_eq!(s.seccomp_mode, SeccompMode::Default);
        assert_eq!(s.shm_size, 64 << 20);
        let u = flags(&["seccomp=unconfined", "no-new-privileges=false"])
            .resolve()
            .unwrap();
        assert!(u.filters.is_empty() && !u.no_new_privs && u.masks);
        let m = flags(&["systempaths=unconfined"]).resolve().unwrap();
        assert!(!m.masks && !m.filters.is_empty() && m.caps == caps::DEFAULT);
        assert!(flags(&["systempaths=confined"]).resolve().is_err());
        let p = Flags {
            privileged: true,
            ..Flags::default()
        }
        .resolve()
        .unwrap();
        assert!(p.filters.is_empty() && !p.masks && p.caps.contains(21));
        assert!(flags(&["seccomp=/x.json"])
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("not read"));
        assert!(flags(&["apparmor=foo"])
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("unsupported"));
        let mut f = flags(&["seccomp=/x.json"]);
        f.seccomp_profile = Some(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#.into());
        assert_eq!(f.resolve().unwrap().seccomp_mode, SeccompMode::Profile);
        let fake = Flags {
            fake_root: true,
            ..flags(&["seccomp=unconfined"])
        };
        assert!(!fake.resolve().unwrap().filters.is_empty());
    }

    #[test]
    fn the_last_capability_is_the_hosts_and_bounds_privileged() {
        let host = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .unwrap()
            .trim()
            .parse::<u32>()
            .unwrap();
        let p = Flags {
            privileged: true,
            ..Flags::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(p.last_cap, host);
        assert_eq!(Security::standard().unwrap().last_cap, host);
        assert!(p.caps.contains(host) && !p.caps.contains(host + 1));
    }

    #[test]
    fn sizes_and_ulimits() {
        use super::super::limits::parse_size;
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("lots").is_err() && parse_size("0").is_err());
        let r = parse_ulimit("nofile=100:200").unwrap();
        assert_eq!((r.soft, r.hard), (100, 200));
        assert_eq!(
            parse_ulimit("core=unlimited").unwrap().hard,
            libc::RLIM_INFINITY
        );
        assert!(parse_ulimit("nofile=3:2").is_err());
        assert!(parse_ulimit("files=1")
            .unwrap_err()
            .to_string()
            .contains("nofile"));
    }
}
