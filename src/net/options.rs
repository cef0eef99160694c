//! `--network pasta[:ARGS]` and `--network slirp4netns[:OPTS]`: podman's option
//! syntax parsed into typed helper options.
//!
//! This module only parses and validates text. It must not look for binaries
//! or start anything (see `choose` and `helper`), and it does not handle
//! `none`/`host`, which need no helper.

use std::net::Ipv4Addr;

/// Which user-mode network helper connects the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HelperKind {
    Pasta,
    Slirp4netns,
}

impl HelperKind {
    /// The program name, also the `--network` mode name.
    pub fn name(self) -> &'static str {
        match self {
            HelperKind::Pasta => "pasta",
            HelperKind::Slirp4netns => "slirp4netns",
        }
    }

    /// The Debian/Ubuntu package that installs the program.
    pub fn package(self) -> &'static str {
        match self {
            HelperKind::Pasta => "passt",
            HelperKind::Slirp4netns => "slirp4netns",
        }
    }
}

/// Options for pasta(1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PastaOptions {
    /// Arguments handed to pasta unchanged, after hutch's own (so they win
    /// where pasta lets a later option override an earlier one).
    pub args: Vec<String>,
    /// podman's `--map-gw` pseudo-option: let the container reach the host's
    /// loopback through the gateway address. It is not a pasta option, so it is
    /// kept here instead of in `args` (podman does the same, see
    /// containers/common libnetwork/pasta).
    pub map_gw: bool,
}

impl PastaOptions {
    /// `--map-host-loopback ADDR` from the pass-through arguments (newer pasta).
    pub fn map_host_loopback(&self) -> Option<&str> {
        option_value(&self.args, &["--map-host-loopback"])
    }

    /// The gateway set with `-g`/`--gateway`, if the user chose one.
    pub fn gateway(&self) -> Option<&str> {
        option_value(&self.args, &["-g", "--gateway"])
    }

    /// `--dns-forward ADDR` from the pass-through arguments.
    pub fn dns_forward(&self) -> Option<&str> {
        option_value(&self.args, &["--dns-forward"])
    }

    /// Whether one of `names` (as `-x`, `--name` or `--name=...`) was passed.
    pub fn has(&self, names: &[&str]) -> bool {
        self.args.iter().any(|a| {
            names.iter().any(|n| {
                a == n || (n.starts_with("--") && a.starts_with(n) && a[n.len()..].starts_with('='))
            })
        })
    }

    /// Whether the container may reach the host's loopback interface.
    pub fn host_loopback(&self) -> bool {
        self.map_gw || self.map_host_loopback().is_some_and(|a| a != "none")
    }
}

/// `--opt VALUE` or `--opt=VALUE` anywhere in `args`; the last one wins, as
/// in pasta's own parser.
fn option_value<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut found = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        for n in names {
            if a == n {
                found = it.next().map(String::as_str);
            } else if let Some(v) = a.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                found = Some(v);
            }
        }
    }
    found
}

/// How a slirp4netns network publishes ports (podman's `port_handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortHandler {
    /// hutch's own forwarder for TCP (`net::forward`), in the role of
    /// podman's default (`rootlesskit`, which is also accepted): several
    /// times faster; the server sees the container's own address as the
    /// client's. UDP still goes through slirp4netns.
    Hutch,
    /// `add_hostfwd` on slirp4netns's API socket (slirp4netns(1), "API"):
    /// slower, and the server sees the cidr's .2 address as the client's.
    Slirp4netns,
}

/// slirp4netns's network, `cidr=` (default 10.0.2.0/24, slirp4netns(1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlirpCidr {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl SlirpCidr {
    fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }
    /// The address that reaches the host (and its loopback, when allowed): .2
    pub fn host(&self) -> Ipv4Addr {
        self.nth(2)
    }
    /// The built-in DNS forwarder: .3
    pub fn dns(&self) -> Ipv4Addr {
        self.nth(3)
    }
    /// The container's own address: .100
    pub fn guest(&self) -> Ipv4Addr {
        self.nth(100)
    }
}

impl Default for SlirpCidr {
    fn default() -> Self {
        SlirpCidr {
            network: Ipv4Addr::new(10, 0, 2, 0),
            prefix: 24,
        }
    }
}

impl std::fmt::Display for SlirpCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Options for slirp4netns(1), with podman's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlirpOptions {
    /// Reach the host's 127.0.0.1 through the cidr's .2 address. Off by
    /// default: otherwise any container could talk to every service the
    /// user's session listens on at loopback.
    pub allow_host_loopback: bool,
    /// Podman's default 65520 is much faster than slirp4netns' own 1500.
    pub mtu: u32,
    pub cidr: SlirpCidr,
    pub enable_ipv6: bool,
    pub port_handler: PortHandler,
    pub outbound_addr: Option<String>,
    pub outbound_addr6: Option<String>,
}

impl Default for SlirpOptions {
    fn default() -> Self {
        SlirpOptions {
            allow_host_loopback: false,
            mtu: 65520,
            cidr: SlirpCidr::default(),
            enable_ipv6: true,
            port_handler: PortHandler::Hutch,
            outbound_addr: None,
            outbound_addr6: None,
        }
    }
}

/// A `--network` value that needs a helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelperRequest {
    Pasta(PastaOptions),
    Slirp4netns(SlirpOptions),
}

impl HelperRequest {
    pub fn kind(&self) -> HelperKind {
        match self {
            HelperRequest::Pasta(_) => HelperKind::Pasta,
            HelperRequest::Slirp4netns(_) => HelperKind::Slirp4netns,
        }
    }

    /// The defaults for a helper chosen automatically.
    pub fn default_for(kind: HelperKind) -> HelperRequest {
        match kind {
            HelperKind::Pasta => HelperRequest::Pasta(PastaOptions::default()),
            HelperKind::Slirp4netns => HelperRequest::Slirp4netns(SlirpOptions::default()),
        }
    }

    /// Whether the container may reach the host's loopback interface.
    pub fn host_loopback(&self) -> bool {
        match self {
            HelperRequest::Pasta(p) => p.host_loopback(),
            HelperRequest::Slirp4netns(s) => s.allow_host_loopback,
        }
    }

    /// True for `pasta`, `pasta:...`, `slirp4netns`, `slirp4netns:...`.
    pub fn is_helper_mode(value: &str) -> bool {
        let mode = value.split_once(':').map_or(value, |(m, _)| m);
        mode == "pasta" || mode == "slirp4netns"
    }

    /// Parse `pasta[:ARG,ARG...]` or `slirp4netns[:KEY=VALUE,...]`.
    pub fn parse(value: &str) -> Result<HelperRequest, OptionsError> {
        let (mode, opts) = match value.split_once(':') {
            Some((m, o)) => (m, Some(o)),
            None => (value, None),
        };
        match mode {
            "pasta" => Ok(HelperRequest::Pasta(parse_pasta(opts.unwrap_or("")))),
            "slirp4netns" => parse_slirp(opts.unwrap_or("")).map(HelperRequest::Slirp4netns),
            _ => Err(OptionsError::UnknownMode(value.to_string())),
        }
    }
}

/// What was wrong with a `--network` value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptionsError {
    #[error("unknown network mode {0:?}: use none, host, container:NAME, pasta[:ARGS] or slirp4netns[:OPTIONS]")]
    UnknownMode(String),
    #[error("slirp4netns option {0:?} is not KEY=VALUE: write e.g. slirp4netns:allow_host_loopback=true")]
    NotKeyValue(String),
    #[error("unknown slirp4netns option {0:?}: known are allow_host_loopback, mtu, cidr, enable_ipv6, port_handler, outbound_addr, outbound_addr6")]
    UnknownSlirpOption(String),
    #[error("slirp4netns option {key}={value:?} is invalid: {why}")]
    BadValue {
        key: String,
        value: String,
        why: SlirpValueError,
    },
}

/// Why a slirp4netns option's value cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SlirpValueError {
    #[error("use true or false")]
    NotBool,
    #[error("use a number from 68 to 65521")]
    Mtu,
    #[error("use port_handler=hutch (the default) or port_handler=slirp4netns")]
    PortHandler,
    #[error("write an IPv4 network with its prefix, e.g. 10.0.3.0/24")]
    CidrNoPrefix,
    #[error("{0:?} is not an IPv4 address")]
    CidrAddress(String),
    #[error("{0:?} is not a prefix length")]
    CidrPrefix(String),
    #[error("the prefix must be /1 to /25 so that the .100 guest address fits")]
    CidrTooSmall,
    #[error("{network} has host bits set for /{prefix}")]
    CidrHostBits { network: Ipv4Addr, prefix: u8 },
}

/// podman splits pasta options at commas: `pasta:-t,8080,--mtu,1500`.
fn parse_pasta(opts: &str) -> PastaOptions {
    let mut out = PastaOptions::default();
    for a in opts.split(',').filter(|a| !a.is_empty()) {
        if a == "--map-gw" {
            out.map_gw = true;
        } else {
            out.args.push(a.to_string());
        }
    }
    out
}

fn parse_slirp(opts: &str) -> Result<SlirpOptions, OptionsError> {
    let mut out = SlirpOptions::default();
    for kv in opts.split(',').filter(|a| !a.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| OptionsError::NotKeyValue(kv.to_string()))?;
        let bad = |why: SlirpValueError| OptionsError::BadValue {
            key: k.to_string(),
            value: v.to_string(),
            why,
        };
        match k {
            "allow_host_loopback" => {
                out.allow_host_loopback =
                    parse_bool(v).ok_or_else(|| bad(SlirpValueError::NotBool))?
            }
            "enable_ipv6" => {
                out.enable_ipv6 = parse_bool(v).ok_or_else(|| bad(SlirpValueError::NotBool))?
            }
            "mtu" => {
                // slirp4netns(1): the maximum is 65521; below 68 IPv4 breaks (RFC 791).
                out.mtu = v
                    .parse()
                    .ok()
                    .filter(|m| (68..=65521).contains(m))
                    .ok_or_else(|| bad(SlirpValueError::Mtu))?
            }
            "cidr" => out.cidr = parse_cidr(v).map_err(bad)?,
            "port_handler" => match v {
                "slirp4netns" => out.port_handler = PortHandler::Slirp4netns,
                "hutch" | "rootlesskit" => out.port_handler = PortHandler::Hutch,
                _ => return Err(bad(SlirpValueError::PortHandler)),
            },
            "outbound_addr" => out.outbound_addr = Some(v.to_string()),
            "outbound_addr6" => out.outbound_addr6 = Some(v.to_string()),
            _ => return Err(OptionsError::UnknownSlirpOption(k.to_string())),
        }
    }
    Ok(out)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn parse_cidr(v: &str) -> Result<SlirpCidr, SlirpValueError> {
    let (a, p) = v.split_once('/').ok_or(SlirpValueError::CidrNoPrefix)?;
    let network: Ipv4Addr = a
        .parse()
        .map_err(|_| SlirpValueError::CidrAddress(a.to_string()))?;
    let prefix: u8 = p
        .parse()
        .map_err(|_| SlirpValueError::CidrPrefix(p.to_string()))?;
    // The container gets the network's .100 address (slirp4netns(1)), so the
    // network needs at least 128 addresses.
    if !(1..=25).contains(&prefix) {
        return Err(SlirpValueError::CidrTooSmall);
    }
    let mask = u32::MAX << (32 - prefix);
    if u32::from(network) & !mask != 0 {
        return Err(SlirpValueError::CidrHostBits { network, prefix });
    }
    Ok(SlirpCidr { network, prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasta_args_split_at_commas_and_map_gw_is_kept_apart() {
        let r = HelperRequest::parse("pasta:-t,8080,--map-gw,--mtu=1500").unwrap();
        let HelperRequest::Pasta(p) = r else { panic!() };
        assert_eq!(p.args, ["-t", "8080", "--mtu=1500"]);
        assert!(p.map_gw && p.host_loopback());
        assert_eq!(
            HelperRequest::parse("pasta").unwrap(),
            HelperRequest::default_for(HelperKind::Pasta)
        );
    }

    #[test]
    fn pasta_option_values_last_one_wins() {
        let p = parse_pasta("-g,10.0.0.1,--gateway=10.0.0.9,--map-host-loopback,169.254.1.2");
        assert_eq!(p.gateway(), Some("10.0.0.9"));
        assert_eq!(p.map_host_loopback(), Some("169.254.1.2"));
        assert!(p.host_loopback());
        assert!(!parse_pasta("--map-host-loopback,none").host_loopback());
        assert!(!parse_pasta("").host_loopback());
        let p = parse_pasta("--tcp-ports=80,-u,53,--tcp-portsx");
        assert!(p.has(&["-t", "--tcp-ports"]) && p.has(&["-u"]) && !p.has(&["-T", "--tcp-ns"]));
        assert!(!parse_pasta("--tcp-portsx").has(&["--tcp-ports"]));
    }

    #[test]
    fn slirp_options_are_typed() {
        let r = HelperRequest::parse(
            "slirp4netns:allow_host_loopback=true,mtu=1500,cidr=10.0.3.0/24,enable_ipv6=false,port_handler=slirp4netns",
        )
        .unwrap();
        let HelperRequest::Slirp4netns(s) = r else {
            panic!()
        };
        assert!(s.allow_host_loopback && !s.enable_ipv6);
        assert_eq!(s.port_handler, PortHandler::Slirp4netns);
        assert_eq!(s.mtu, 1500);
        assert_eq!(s.cidr.host(), Ipv4Addr::new(10, 0, 3, 2));
        assert_eq!(s.cidr.dns(), Ipv4Addr::new(10, 0, 3, 3));
        assert_eq!(s.cidr.guest(), Ipv4Addr::new(10, 0, 3, 100));
        let d = SlirpOptions::default();
        assert!(!d.allow_host_loopback && d.mtu == 65520 && d.enable_ipv6);
        assert_eq!(d.port_handler, PortHandler::Hutch);
        for name in ["hutch", "rootlesskit"] {
            let Ok(HelperRequest::Slirp4netns(o)) =
                HelperRequest::parse(&format!("slirp4netns:port_handler={name}"))
            else {
                panic!("{name}")
            };
            assert_eq!(o.port_handler, PortHandler::Hutch);
        }
    }

    #[test]
    fn bad_slirp_options_say_what_to_do() {
        let e = |s: &str| HelperRequest::parse(s).unwrap_err().to_string();
        assert!(e("slirp4netns:mtu=99999").contains("68 to 65521"));
        assert!(e("slirp4netns:mtu").contains("KEY=VALUE"));
        assert!(e("slirp4netns:colour=red").contains("unknown slirp4netns option \"colour\""));
        assert!(e("slirp4netns:cidr=10.0.2.0/28").contains("/25"));
        assert!(e("slirp4netns:cidr=10.0.2.1/24").contains("host bits"));
        assert!(e("slirp4netns:allow_host_loopback=yes").contains("true or false"));
        assert!(e("slirp4netns:port_handler=socat").contains("port_handler=hutch"));
        assert!(e("bridge").contains("unknown network mode"));
    }

    #[test]
    fn helper_modes_are_recognised() {
        assert!(HelperRequest::is_helper_mode("pasta"));
        assert!(HelperRequest::is_helper_mode("slirp4netns:mtu=1500"));
        assert!(!HelperRequest::is_helper_mode("none"));
        assert!(!HelperRequest::is_helper_mode("pastafarian"));
    }
}
