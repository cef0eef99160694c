//! User-defined networks as data: their definitions (`network create`) and
//! the endpoints containers hold on them, kept under the data dir in
//! `networks/`. Every write is atomic (temp, fsync, rename) and made under
//! `networks/.lock`, so two hutch processes never pick the same name, subnet
//! or address.
//!
//! This module stores and chooses; it never touches a namespace or an
//! interface (`bridge` does) and knows nothing of containers beyond the ids
//! and names it is given.

use crate::sys::flock;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// An IPv4 subnet, `10.89.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(&self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }

    pub fn overlaps(&self, o: &Subnet) -> bool {
        self.contains(o.addr) || o.contains(self.addr)
    }

    /// The `n`th address of the subnet (0 is the network address).
    pub fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + n)
    }

    /// How many addresses it holds, network and broadcast included.
    pub fn size(&self) -> u32 {
        (!self.mask()).saturating_add(1)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Subnet {
    type Err = NetError;
    fn from_str(s: &str) -> Result<Subnet, NetError> {
        let bad = |why| NetError::BadSubnet(s.to_string(), why);
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| bad(SubnetError::NoPrefix))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad(SubnetError::NotIpv4))?;
        let prefix: u8 = p.parse().map_err(|_| bad(SubnetError::PrefixNotNumber))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad(SubnetError::PrefixRange));
        }
        let net = Subnet { addr, prefix };
        if u32::from(addr) & net.mask() != u32::from(addr) {
            return Err(bad(SubnetError::HostBits(Subnet {
                addr: Ipv4Addr::from(u32::from(addr) & net.mask()),
                prefix,
            })));
        }
        Ok(net)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One user-defined network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkDef {
    pub name: String,
    pub id: String,
    pub created: chrono::DateTime<chrono::Utc>,
    pub driver: String,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    /// No route out of the shared namespace (Docker's `--internal`).
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

impl NetworkDef {
    /// The bridge's interface name in the shared namespace (at most 15 bytes).
    pub fn bridge(&self) -> String {
        format!("hb-{}", &self.id[..12])
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// What `network create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewNetwork {
    pub name: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// A container's place on a network, written when it is attached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoint {
    pub container: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    /// The host end of its veth pair in the shared namespace: the endpoint
    /// is live while that interface exists and `init` runs.
    pub veth: String,
    /// The container's pid 1. Its address is free once that process has
    /// ended, even while the kernel, which tears network namespaces down
    /// asynchronously, still has the veth: a container started right after
    /// another stopped may take its address, as with Docker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<crate::procid::ProcId>,
}

impl Endpoint {
    /// Docker's `EndpointID`: 64 hex digits, one per container and network,
    /// the same at every start (both `inspect`s show it).
    pub fn id(container: &str, network_id: &str) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(
            format!("endpoint {container} {network_id}").as_bytes(),
        ))
    }

    /// Whether the endpoint holds its address: its container runs and
    /// `veth_exists` says its interface is there.
    pub fn live(&self, veth_exists: impl Fn(&str) -> bool) -> bool {
        self.init.map_or(true, |p| p.alive()) && veth_exists(&self.veth)
    }

    /// Whether `name` (lower case) names this endpoint: its container's
    /// name, an alias or the short id, as Docker's resolver answers.
    pub fn answers(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
            || (name.len() == 12 && self.container.starts_with(name))
    }
}

/// What went wrong with a network definition.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network {0} already exists")]
    Exists(String),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("invalid network name {0:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit")]
    BadName(String),
    #[error("network name {0} is reserved for a built-in network mode; choose another name")]
    Reserved(String),
    #[error("invalid --subnet {0:?}: {1}")]
    BadSubnet(String, SubnetError),
    #[error("invalid --gateway {0:?}: {1}")]
    BadGateway(String, GatewayError),
    #[error("--gateway needs --subnet (hutch picks the gateway of a subnet it chooses)")]
    GatewayWithoutSubnet,
    #[error("subnet {0} overlaps network {1} ({2}); choose another --subnet")]
    Overlap(Subnet, String, Subnet),
    #[error("no free subnet left in 10.89.0.0/16; remove unused networks or pass --subnet")]
    NoSubnet,
    #[error("--ip {0:?} is not an IPv4 address")]
    BadIp(String),
    #[error("--ip {0} is not in network {1}'s subnet {2}")]
    IpOutside(Ipv4Addr, String, Subnet),
    #[error("address {0} is already used on network {1}")]
    IpTaken(Ipv4Addr, String),
    #[error("network {0} has no free address left in {1}")]
    Full(String, Subnet),
    #[error("cannot {op} {path}: {err}")]
    Io {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    #[error("network definition {path} is damaged: {err}")]
    Damaged {
        path: PathBuf,
        err: serde_json::Error,
    },
    #[error(transparent)]
    Lock(#[from] crate::sys::SysError),
}

/// What is wrong with a `--subnet` value.
#[derive(Debug, thiserror::Error)]
pub enum SubnetError {
    #[error("no /PREFIX")]
    NoPrefix,
    #[error("not an IPv4 address (IPv6 networks are not supported)")]
    NotIpv4,
    #[error("the prefix is not a number")]
    PrefixNotNumber,
    #[error("the prefix must be between 8 and 30")]
    PrefixRange,
    /// The network the address is in.
    #[error("host bits are set; did you mean {0}?")]
    HostBits(Subnet),
}

/// What is wrong with a `--gateway` value.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("not an IPv4 address")]
    NotIpv4,
    #[error("not a host address of {0}")]
    NotAHost(Subnet),
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> NetError + 'a {
    move |err| NetError::Io {
        op,
        path: path.to_path_buf(),
        err,
    }
}

/// Names `--network` gives another meaning.
const RESERVED: [&str; 5] = ["none", "host", "bridge", "pasta", "slirp4netns"];

/// Docker's rule for network names.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.starts_with(|c: char| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The networks of one data dir.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
}

impl Networks {
    /// The networks under the data dir `data` (nothing is created yet).
    pub fn new(data: &Path) -> Networks {
        Networks {
            dir: data.join("networks"),
        }
    }

    /// Where the shared namespaces' pid files and locks live.
    pub fn run_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// The data dir these networks belong to.
    pub fn data_dir(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    fn def_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    fn endpoints_dir(&self, id: &str) -> PathBuf {
        self.dir.join("endpoints").join(id)
    }

    /// Take the lock every change is made under.
    pub fn lock(&self) -> Result<flock::Held, NetError> {
        std::fs::create_dir_all(&self.dir).map_err(io("create", &self.dir))?;
        Ok(flock::lock(
            &self.dir.join(".lock"),
            flock::Mode::Exclusive,
        )?)
    }

    /// Every network, by name.
    pub fn list(&self) -> Result<Vec<NetworkDef>, NetError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &self.dir)(e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                out.push(read_def(&p)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The network named `key`, or whose id is or starts with `key`.
    pub fn find(&self, key: &str) -> Result<NetworkDef, NetError> {
        let all = self.list()?;
        if let Some(n) = all.iter().find(|n| n.name == key || n.id == key) {
            return Ok(n.clone());
        }
        let by_prefix: Vec<_> = all.iter().filter(|n| n.id.starts_with(key)).collect();
        match by_prefix.as_slice() {
            [one] if !key.is_empty() => Ok((*one).clone()),
            _ => Err(NetError::NotFound(key.to_string())),
        }
    }

    /// Create a network: the name checked, a subnet chosen (10.89.N.0/24,
    /// the lowest free, as Podman does) unless given, the gateway its first
    /// address unless given.
    pub fn create(&self, req: &NewNetwork) -> Result<NetworkDef, NetError> {
        if RESERVED.contains(&req.name.as_str()) {
            return Err(NetError::Reserved(req.name.clone()));
        }
        if !valid_name(&req.name) {
            return Err(NetError::BadName(req.name.clone()));
        }
        let _held = self.lock()?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name == req.name) {
            return Err(NetError::Exists(req.name.clone()));
        }
        let subnet = match &req.subnet {
            Some(s) => {
                let s: Subnet = s.parse()?;
                if let Some(o) = existing.iter().find(|n| n.subnet.overlaps(&s)) {
                    return Err(NetError::Overlap(s, o.name.clone(), o.subnet));
                }
                s
            }
            None => (1..=255u8)
                .map(|n| Subnet {
                    addr: Ipv4Addr::new(10, 89, n, 0),
                    prefix: 24,
                })
                .find(|s| !existing.iter().any(|n| n.subnet.overlaps(s)))
                .ok_or(NetError::NoSubnet)?,
        };
        let gateway = match (&req.gateway, &req.subnet) {
            (None, _) => subnet.host(1),
            (Some(_), None) => return Err(NetError::GatewayWithoutSubnet),
            (Some(g), Some(_)) => {
                let bad = |why| NetError::BadGateway(g.clone(), why);
                let ip: Ipv4Addr = g.parse().map_err(|_| bad(GatewayError::NotIpv4))?;
                let last = subnet.host(subnet.size() - 1);
                if !subnet.contains(ip) || ip == subnet.addr || ip == last {
                    return Err(bad(GatewayError::NotAHost(subnet)));
                }
                ip
            }
        };
        let def = NetworkDef {
            name: req.name.clone(),
            id: new_id(),
            created: chrono::Utc::now(),
            driver: "bridge".into(),
            subnet,
            gateway,
            internal: req.internal,
            labels: req.labels.clone(),
            options: req.options.clone(),
        };
        let text = serde_json::to_vec_pretty(&def).expect("a network definition serialises");
        write_atomic(&self.def_path(&def.name), &text)?;
        Ok(def)
    }

    /// Remove the definition of `def` and its endpoint records.
    pub fn remove(&self, def: &NetworkDef) -> Result<(), NetError> {
        let _held = self.lock()?;
        let path = self.def_path(&def.name);
        std::fs::remove_file(&path).map_err(io("remove", &path))?;
        let eps = self.endpoints_dir(&def.id);
        match std::fs::remove_dir_all(&eps) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove", &eps)(e)),
        }
    }

    /// The endpoints recorded on `def`, live or not (see `Endpoint::veth`).
    pub fn endpoints(&self, def: &NetworkDef) -> Vec<Endpoint> {
        let Ok(entries) = std::fs::read_dir(self.endpoints_dir(&def.id)) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| {
                let text = read_bounded(&e.path(), 64 << 10).ok()?;
                serde_json::from_slice(&text).ok()
            })
            .collect()
    }

    /// Choose an address for `container` on `def` (`wanted` from `--ip`),
    /// avoiding the gateway and every address of an endpoint for which
    /// `live` is true. The caller holds the lock.
    pub fn allocate(
        &self,
        def: &NetworkDef,
        container: &str,
        wanted: Option<Ipv4Addr>,
        live: &dyn Fn(&Endpoint) -> bool,
    ) -> Result<Ipv4Addr, NetError> {
        let used: Vec<Ipv4Addr> = self
            .endpoints(def)
            .into_iter()
            .filter(|e| e.container != container && live(e))
            .map(|e| e.ip)
            .collect();
        if let Some(ip) = wanted {
            if !def.subnet.contains(ip) {
                return Err(NetError::IpOutside(ip, def.name.clone(), def.subnet));
            }
            if used.contains(&ip) || ip == def.gateway {
                return Err(NetError::IpTaken(ip, def.name.clone()));
            }
            return Ok(ip);
        }
        (2..def.subnet.size() - 1)
            .map(|n| def.subnet.host(n))
            .find(|ip| *ip != def.gateway && !used.contains(ip))
            .ok_or_else(|| NetError::Full(def.name.clone(), def.subnet))
    }

    /// Remove the records of endpoints on `def` that are no longer live
    /// (containers stopped or removed since). The caller holds the lock.
    pub fn forget_stale(&self, def: &NetworkDef, live: &dyn Fn(&Endpoint) -> bool) {
        let dir = self.endpoints_dir(&def.id);
        for e in self.endpoints(def).iter().filter(|e| !live(e)) {
            let _ = std::fs::remove_file(dir.join(format!("{}.json", e.container)));
        }
    }

    /// Forget `container`'s endpoint on `def`. The caller holds the lock.
    pub fn forget(&self, def: &NetworkDef, container: &str) -> Result<(), NetError> {
        let path = self
            .endpoints_dir(&def.id)
            .join(format!("{container}.json"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// The address that answers `name` for the member at `from`, as
    /// Docker's resolver does: a member of the network `from` is on, else
    /// of any other network the asking container shares with it (first by
    /// name). Only endpoints for which `live` is true count.
    pub fn answer(
        &self,
        from: Ipv4Addr,
        name: &str,
        live: &dyn Fn(&Endpoint) -> bool,
    ) -> Option<Ipv4Addr> {
        let defs = self.list().ok()?;
        let home = defs.iter().find(|d| d.subnet.contains(from))?;
        let on_home = self.endpoints(home);
        let asker = on_home
            .iter()
            .find(|e| e.ip == from && live(e))
            .map(|e| e.container.clone());
        let found = |eps: &[Endpoint]| {
            eps.iter()
                .find(|e| e.answers(name) && live(e))
                .map(|e| e.ip)
        };
        if let Some(ip) = found(&on_home) {
            return Some(ip);
        }
        let asker = asker?;
        defs.iter().filter(|d| d.id != home.id).find_map(|d| {
            let eps = self.endpoints(d);
            let shared = eps.iter().any(|e| e.container == asker && live(e));
            shared.then(|| found(&eps)).flatten()
        })
    }

    /// Record `ep` on `def`, replacing the container's earlier endpoint.
    pub fn save_endpoint(&self, def: &NetworkDef, ep: &Endpoint) -> Result<(), NetError> {
        let dir = self.endpoints_dir(&def.id);
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let text = serde_json::to_vec(ep).expect("an endpoint serialises");
        write_atomic(&dir.join(format!("{}.json", ep.container)), &text)
    }
}

fn read_def(p: &Path) -> Result<NetworkDef, NetError> {
    let text = read_bounded(p, 1 << 20).map_err(io("read", p))?;
    serde_json::from_slice(&text).map_err(|err| NetError::Damaged {
        path: p.to_path_buf(),
        err,
    })
}

/// At most `limit` bytes of `path`: the files here are small, and a huge one
/// is damage, not a reason to use unbounded memory.
fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Write `data` to `path` through a temporary file beside it, synced, then renamed.
fn write_atomic(path: &Path, data: &[u8]) -> Result<(), NetError> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(data)?;
        f.sync_all()
    });
    let done = written.and_then(|()| std::fs::rename(&tmp, path));
    if done.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    done.map_err(io("write", path))
}

/// A new random network id (64 hex digits, like Docker's).
fn new_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_and_refuse_nonsense() {
        let s: Subnet = "10.89.3.0/24".parse().unwrap();
        assert!(s.contains("10.89.3.7".parse().unwrap()));
        assert!(!s.contains("10.89.4.1".parse().unwrap()));
        assert_eq!(s.host(1), Ipv4Addr::new(10, 89, 3, 1));
        assert_eq!(s.size(), 256);
        let e = |t: &str| t.parse::<Subnet>().unwrap_err().to_string();
        assert!(e("10.89.3.1/24").contains("did you mean 10.89.3.0/24"));
        assert!(e("fd00::/64").contains("IPv6"));
        assert!(e("10.0.0.0").contains("/PREFIX"));
        assert!(e("10.0.0.0/31").contains("between 8 and 30"));
    }

    #[test]
    fn endpoint_ids_are_per_container_and_network() {
        let (c, d) = ("c".repeat(64), "d".repeat(64));
        let (n1, n2) = ("1".repeat(64), "2".repeat(64));
        let id = Endpoint::id(&c, &n1);
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id, Endpoint::id(&c, &n1));
        assert_ne!(id, Endpoint::id(&c, &n2));
        assert_ne!(id, Endpoint::id(&d, &n1));
        assert_ne!(id, c);
    }

    #[test]
    fn create_picks_free_subnets_and_refuses_clashes() {
        let d = tempfile::tempdir().unwrap();
        let n = Networks::new(d.path());
        let req = |name: &str| NewNetwork {
            name: name.into(),
            ..NewNetwork::default()
        };
        let a = n.create(&req("a")).unwrap();
        assert_eq!(a.subnet.to_string(), "10.89.1.0/24");
        assert_eq!(a.gateway, Ipv4Addr::new(10, 89, 1, 1));
        let b = n.create(&req("b")).unwrap();
        assert_eq!(b.subnet.to_string(), "10.89.2.0/24");
        assert!(matches!(n.create(&req("a")), Err(NetError::Exists(_))));
        assert!(matches!(n.create(&req("host")), Err(NetError::Reserved(_))));
        assert!(matches!(n.create(&req("-x")), Err(NetError::BadName(_))));
        let clash = NewNetwork {
            subnet: Some("10.89.0.0/16".into()),
            ..req("c")
        };
        assert!(n
            .create(&clash)
            .unwrap_err()
            .to_string()
            .contains("overlaps network a"));
        let gw = NewNetwork {
            subnet: Some("192.168.50.0/24".into()),
            gateway: Some("192.168.50.254".into()),
            ..req("d")
        };
        assert_eq!(
            n.create(&gw).unwrap().gateway,
            Ipv4Addr::new(192, 168, 50, 254)
        );
        assert_eq!(n.find(&a.id[..6]).unwrap().name, "a");
        n.remove(&a).unwrap();
        // By its whole id: "a" alone may be a prefix of another network's id.
        assert!(matches!(n.find(&a.id), Err(NetError::NotFound(_))));
        assert_eq!(
            n.create(&req("e")).unwrap().subnet.to_string(),
            "10.89.1.0/24"
        );
    }

    #[test]
    fn allocation_skips_live_addresses_only() {
        let d = tempfile::tempdir().unwrap();
        let n = Networks::new(d.path());
        let def = n
            .create(&NewNetwork {
                name: "a".into(),
                ..NewNetwork::default()
            })
            .unwrap();
        let ep = |c: &str, ip: Ipv4Addr| Endpoint {
            container: c.into(),
            name: c.into(),
            aliases: vec![],
            ip,
            veth: format!("hv{c}"),
            init: None,
        };
        n.save_endpoint(&def, &ep("c1", def.subnet.host(2)))
            .unwrap();
        n.save_endpoint(&def, &ep("c2", def.subnet.host(3)))
            .unwrap();
        let live = |e: &Endpoint| e.container == "c1";
        assert_eq!(
            n.allocate(&def, "c3", None, &live).unwrap(),
            def.subnet.host(3)
        );
        assert_eq!(
            n.allocate(&def, "c1", None, &|_| true).unwrap(),
            def.subnet.host(2)
        );
        assert!(matches!(
            n.allocate(&def, "c3", Some(def.subnet.host(2)), &live),
            Err(NetError::IpTaken(..))
        ));
        assert!(matches!(
            n.allocate(&def, "c3", Some(Ipv4Addr::new(10, 0, 0, 1)), &live),
            Err(NetError::IpOutside(..))
        ));
    }

    #[test]
    fn names_resolve_on_every_network_the_asker_shares() {
        let d = tempfile::tempdir().unwrap();
        let n = Networks::new(d.path());
        let net = |name: &str| {
            n.create(&NewNetwork {
                name: name.into(),
                ..NewNetwork::default()
            })
            .unwrap()
        };
        let (a, b, c) = (net("a"), net("b"), net("c"));
        let ep = |def: &NetworkDef, ctr: &str, host: u32| {
            let e = Endpoint {
                container: format!("{ctr}-id"),
                name: ctr.into(),
                aliases: vec![format!("{ctr}-alias")],
                ip: def.subnet.host(host),
                veth: format!("hv{ctr}{}", def.name),
                init: None,
            };
            n.save_endpoint(def, &e).unwrap();
        };
        // x on a and b; y on a; z on b; w on c only.
        ep(&a, "x", 2);
        ep(&b, "x", 2);
        ep(&a, "y", 3);
        ep(&b, "z", 3);
        ep(&c, "w", 2);
        let all = |_: &Endpoint| true;
        // y asks (from a) for x: its address on a.
        assert_eq!(
            n.answer(a.subnet.host(3), "x", &all),
            Some(a.subnet.host(2))
        );
        // z asks (from b) for x by alias: its address on b.
        assert_eq!(
            n.answer(b.subnet.host(3), "x-alias", &all),
            Some(b.subnet.host(2))
        );
        // x asks (from a) for z, on b only: found through b, which x shares.
        assert_eq!(
            n.answer(a.subnet.host(2), "z", &all),
            Some(b.subnet.host(3))
        );
        // y shares nothing with z or w.
        assert_eq!(n.answer(a.subnet.host(3), "z", &all), None);
        assert_eq!(n.answer(a.subnet.host(2), "w", &all), None);
        // x off b: z no longer resolves for x, nor x for z.
        let off_b = |e: &Endpoint| !(e.container == "x-id" && e.veth.ends_with('b'));
        assert_eq!(n.answer(a.subnet.host(2), "z", &off_b), None);
        assert_eq!(n.answer(b.subnet.host(3), "x", &off_b), None);
        n.forget(&b, "x-id").unwrap();
        n.forget(&b, "x-id").unwrap();
        assert_eq!(n.answer(b.subnet.host(3), "x", &all), None);
    }

    #[test]
    fn an_endpoint_whose_container_ended_is_not_live_while_its_veth_lingers() {
        let me = crate::procid::ProcId::current().unwrap();
        let ended = crate::procid::ProcId {
            start: me.start + 1,
            ..me
        };
        let ep = |init| Endpoint {
            container: "c".into(),
            name: "c".into(),
            aliases: vec![],
            ip: Ipv4Addr::new(10, 89, 1, 2),
            veth: "hvc".into(),
            init,
        };
        let veth_there = |_: &str| true;
        assert!(ep(Some(me)).live(veth_there));
        assert!(ep(None).live(veth_there), "records of older hutch versions");
        assert!(!ep(Some(ended)).live(veth_there));
        assert!(!ep(Some(me)).live(|_| false));
    }
}
