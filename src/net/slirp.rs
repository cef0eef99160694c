//! slirp4netns(1) for one container: its command line, and publishing ports
//! through its API socket (`add_hostfwd`).
//!
//! This module builds arguments and speaks the API; starting, readiness and
//! clean-up are `helper`'s. It must not start slirp4netns itself.

use super::options::{SlirpCidr, SlirpOptions};
use super::ports::{PortMapping, Protocol};
use super::spawned::Target;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// The descriptor numbers slirp4netns finds its pipes at.
pub const READY_FD: i32 = 3;
pub const EXIT_FD: i32 = 4;

/// The interface slirp4netns creates in the namespace.
pub const TAP_NAME: &str = "tap0";

/// Hardening options the installed slirp4netns understands (1.1 and later
/// have both), found the way podman does: by reading its `--help`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// `--enable-sandbox`: its own mount namespace, capabilities dropped.
    pub sandbox: bool,
    /// `--enable-seccomp`: a system call filter.
    pub seccomp: bool,
}

impl Features {
    pub fn from_help(help: &str) -> Features {
        Features {
            sandbox: help.contains("--enable-sandbox"),
            seccomp: help.contains("--enable-seccomp"),
        }
    }

    /// Run `binary --help` (about 2 ms); no features if that fails.
    pub fn probe(binary: &Path) -> Features {
        std::process::Command::new(binary)
            .arg("--help")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map(|o| Features::from_help(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or_default()
    }
}

/// The arguments for slirp4netns (podman's, see containers/common
/// libnetwork/slirp4netns): configure the tap device, say when done on
/// `--ready-fd`, exit when `--exit-fd` is closed (which happens whenever hutch
/// exits, even by SIGKILL), and, when it publishes ports itself, listen on
/// `api_socket` for them.
pub fn args(
    opts: &SlirpOptions,
    features: Features,
    target: &Target,
    api_socket: Option<&Path>,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = vec![
        "--configure".into(),
        format!("--mtu={}", opts.mtu).into(),
        format!("--ready-fd={READY_FD}").into(),
        format!("--exit-fd={EXIT_FD}").into(),
    ];
    if let Some(sock) = api_socket {
        let mut api = OsString::from("--api-socket=");
        api.push(sock);
        a.push(api);
    }
    if !opts.allow_host_loopback {
        a.push("--disable-host-loopback".into());
    }
    if opts.cidr != SlirpCidr::default() {
        a.push(format!("--cidr={}", opts.cidr).into());
    }
    if opts.enable_ipv6 {
        a.push("--enable-ipv6".into());
    }
    if features.sandbox {
        a.push("--enable-sandbox".into());
    }
    if features.seccomp {
        a.push("--enable-seccomp".into());
    }
    if let Some(o) = &opts.outbound_addr {
        a.push(format!("--outbound-addr={o}").into());
    }
    if let Some(o) = &opts.outbound_addr6 {
        a.push(format!("--outbound-addr6={o}").into());
    }
    match target {
        Target::Pid(pid) => a.push(pid.to_string().into()),
        Target::Paths { netns, userns } => {
            let mut u = OsString::from("--userns-path=");
            u.push(userns);
            a.extend(["--netns-type=path".into(), u, netns.into()]);
        }
    }
    a.push(TAP_NAME.into());
    a
}

/// A request slirp4netns refused or could not answer.
#[derive(Debug, thiserror::Error)]
#[error("slirp4netns could not publish {what}: {why}")]
pub struct ApiError {
    pub what: String,
    pub why: String,
}

/// Publish every port of `m` with one `add_hostfwd` request each (the API
/// takes single ports, slirp4netns(1) "API").
pub fn add_hostfwd(api_socket: &Path, m: &PortMapping) -> Result<(), ApiError> {
    for i in 0..m.range {
        let what = format!(
            "{}:{} -> {}/{}",
            m.host_ip,
            m.host_port + i,
            m.container_port + i,
            m.protocol.name()
        );
        let req = serde_json::json!({
            "execute": "add_hostfwd",
            "arguments": {
                "proto": match m.protocol { Protocol::Tcp => "tcp", Protocol::Udp => "udp" },
                "host_addr": m.host_ip.to_string(),
                "host_port": m.host_port + i,
                "guest_port": m.container_port + i,
            }
        });
        let reply = request(api_socket, &req).map_err(|why| ApiError {
            what: what.clone(),
            why,
        })?;
        if let Some(err) = reply.get("error") {
            let why = err
                .get("desc")
                .and_then(|d| d.as_str())
                .map_or_else(|| err.to_string(), String::from);
            return Err(ApiError { what, why });
        }
    }
    Ok(())
}

/// One request per connection: slirp4netns answers and closes.
fn request(api_socket: &Path, req: &serde_json::Value) -> Result<serde_json::Value, String> {
    let mut s = UnixStream::connect(api_socket).map_err(|e| {
        format!(
            "cannot connect to its API socket {}: {e}",
            api_socket.display()
        )
    })?;
    let limit = Some(Duration::from_secs(5));
    let _ = s.set_read_timeout(limit);
    let _ = s.set_write_timeout(limit);
    s.write_all(req.to_string().as_bytes())
        .and_then(|()| s.shutdown(std::net::Shutdown::Write))
        .map_err(|e| format!("sending to its API socket failed: {e}"))?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)
        .map_err(|e| format!("reading its API reply failed: {e}"))?;
    serde_json::from_str(&reply).map_err(|e| format!("its API reply {reply:?} is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::options::HelperRequest;

    fn opts(s: &str) -> SlirpOptions {
        match HelperRequest::parse(s).unwrap() {
            HelperRequest::Slirp4netns(o) => o,
            _ => unreachable!(),
        }
    }

    fn text(a: &[OsString]) -> String {
        a.iter()
            .map(|s| s.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn podman_defaults() {
        let all = Features::from_help("  --enable-sandbox   x\n  --enable-seccomp   y\n");
        let a = args(
            &opts("slirp4netns"),
            all,
            &Target::Pid(42),
            Some(Path::new("/r/slirp.sock")),
        );
        assert_eq!(
            text(&a),
            "--configure --mtu=65520 --ready-fd=3 --exit-fd=4 --api-socket=/r/slirp.sock \
             --disable-host-loopback --enable-ipv6 --enable-sandbox --enable-seccomp 42 tap0"
        );
        let none = args(
            &opts("slirp4netns"),
            Features::default(),
            &Target::Pid(42),
            None,
        );
        assert!(!text(&none).contains("--enable-s"));
        assert!(!text(&none).contains("--api-socket"));
    }

    #[test]
    fn options_and_path_target() {
        let t = Target::Paths {
            netns: "/proc/7/ns/net".into(),
            userns: "/proc/7/ns/user".into(),
        };
        let a = text(&args(
            &opts("slirp4netns:allow_host_loopback=true,enable_ipv6=false,cidr=10.9.0.0/24,mtu=1500,outbound_addr=eth0"),
            Features::default(),
            &t,
            Some(Path::new("/s")),
        ));
        assert!(
            a.contains("--mtu=1500 ")
                && a.contains("--cidr=10.9.0.0/24 ")
                && a.contains("--outbound-addr=eth0"),
            "{a}"
        );
        assert!(
            !a.contains("--disable-host-loopback") && !a.contains("ipv6"),
            "{a}"
        );
        assert!(
            a.ends_with("--netns-type=path --userns-path=/proc/7/ns/user /proc/7/ns/net tap0"),
            "{a}"
        );
    }

    #[test]
    fn api_errors_are_reported() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("api.sock");
        let m = PortMapping {
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: 8080,
            container_port: 80,
            protocol: Protocol::Tcp,
            range: 1,
        };
        let e = add_hostfwd(&sock, &m).unwrap_err().to_string();
        assert!(
            e.contains("127.0.0.1:8080 -> 80/tcp") && e.contains("cannot connect"),
            "{e}"
        );
        // A fake API that refuses, to check the reply is read.
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = String::new();
            c.read_to_string(&mut req).unwrap();
            c.write_all(
                br#"{"error":{"desc":"bad request: add_hostfwd: slirp_add_hostfwd failed"}}"#,
            )
            .unwrap();
            req
        });
        let e = add_hostfwd(&sock, &m).unwrap_err().to_string();
        let req: serde_json::Value = serde_json::from_str(&t.join().unwrap()).unwrap();
        assert_eq!(req["arguments"]["guest_port"], 80);
        assert_eq!(req["arguments"]["host_addr"], "127.0.0.1");
        assert!(e.contains("slirp_add_hostfwd failed"), "{e}");
    }
}
