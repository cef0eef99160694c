//! The network helpers (pasta, slirp4netns) on network namespaces these tests
//! create as the unprivileged test users, driven through hutch's library API.
//!
//! Traffic goes only to loopback and to the test's own namespaces: servers
//! listen on 127.0.0.1 (host side) or inside the namespace, and the negative
//! pasta case binds its outbound sockets to 127.0.0.1 (`-o`), so a connection
//! that is not mapped to the host's loopback fails in the local kernel
//! (connect => EINVAL) instead of leaving the machine.

use crate::common::{eventually, for_each_user, live, one_error, skip, stdout, Kind, World};
use hutch::net::choose::{choose, ChosenHelper, SearchPath};
use hutch::net::helper::{Helper, HelperError, SpawnConfig, Target};
use hutch::net::options::HelperRequest;
use hutch::net::ports::{self, PortMapping, PortPolicy};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const READY: Duration = Duration::from_secs(10);

/// A network namespace owned by the test user: `unshare -Urn sleep`.
struct Netns {
    child: Child,
}

impl Netns {
    fn new(w: &World) -> Netns {
        let child = w
            .as_user("unshare")
            .args(["-Urn", "sleep", "300"])
            .spawn()
            .expect("spawn unshare");
        let pid = child.id();
        // unshare execs sleep only after the namespaces and the id map exist.
        let until = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n"
        {
            assert!(Instant::now() < until, "unshare -Urn did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        Netns { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Run a command inside the namespace as the test user (root there).
    fn run(&self, w: &World, args: &[&str]) -> Output {
        self.cmd(w, args).output().expect("nsenter")
    }

    fn cmd(&self, w: &World, args: &[&str]) -> Command {
        let mut c = w.as_user("nsenter");
        c.args([
            "--preserve-credentials",
            "-U",
            "-n",
            "-t",
            &self.pid().to_string(),
        ])
        .args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(name: &str) -> bool {
    SearchPath::from_env().find(name).is_some()
}

/// The helper for `mode`, or None (skipped) when it is not installed.
fn helper(mode: &str) -> Option<ChosenHelper> {
    let req = HelperRequest::parse(mode).unwrap();
    if !have(req.kind().name()) {
        skip(&format!("{} is not installed", req.kind().name()));
        return None;
    }
    let mut c = choose(Some(req), &SearchPath::from_env()).unwrap();
    // As `net::plan` does: newer pasta maps a link-local address instead of
    // the gateway.
    if let HelperRequest::Pasta(p) = &mut c.request {
        hutch::net::pasta::prefer_map_host_loopback(p, &c.binary);
    }
    Some(c)
}

/// A directory the test user owns, for pid files, sockets and logs.
fn run_dir(w: &World) -> PathBuf {
    let d = w.path("run");
    std::fs::create_dir_all(&d).unwrap();
    if w.user.switch {
        std::os::unix::fs::chown(&d, Some(w.user.uid), Some(w.user.gid)).unwrap();
    }
    d
}

fn run_as(w: &World) -> Option<(u32, u32)> {
    w.user.switch.then_some((w.user.uid, w.user.gid))
}

fn start(
    w: &World,
    ns: &Netns,
    chosen: &ChosenHelper,
    ports: &[PortMapping],
) -> Result<(Helper, Duration), HelperError> {
    start_in(w, ns, chosen, ports, &run_dir(w))
}

fn start_in(
    w: &World,
    ns: &Netns,
    chosen: &ChosenHelper,
    ports: &[PortMapping],
    dir: &Path,
) -> Result<(Helper, Duration), HelperError> {
    let cfg = SpawnConfig {
        helper: chosen,
        target: Target::Pid(ns.pid()),
        ports,
        run_dir: dir,
        run_as: run_as(w),
    };
    let mut h = Helper::spawn(&cfg)?;
    let took = h.wait_ready(READY)?;
    Ok((h, took))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn wait_dead(pid: u32, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if !live(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    !live(pid)
}

/// Stop `h` and wait until it has exited: `stop` returns before a helper
/// without published ports is gone, and its tap device stays in the
/// namespace until then, so a second helper could not create its own.
fn stop_and_wait(h: Helper) {
    let pid = h.pid().unwrap();
    h.stop();
    assert!(
        wait_dead(pid, Duration::from_secs(2)),
        "helper {pid} survived stop()"
    );
}

#[test]
fn pasta_configures_the_namespace() {
    let Some(chosen) = helper("pasta") else {
        return;
    };
    for_each_user(|w| {
        let ns = Netns::new(&w);
        let (h, took) = start(&w, &ns, &chosen, &[]).unwrap();
        eprintln!("pasta spawn -> ready: {took:?} ({:?})", w.user.kind);
        let addr = text(&ns.run(&w, &["ip", "-o", "-4", "addr", "show", "scope", "global"]));
        // pasta copies the host's address onto an interface named like the host's.
        assert!(addr.contains(" inet ") && !addr.contains(": lo "), "{addr}");
        let route = text(&ns.run(&w, &["ip", "route", "show", "default"]));
        assert!(route.starts_with("default via "), "{route}");
        let link = text(&ns.run(&w, &["ip", "-o", "link", "show", "up"]));
        assert!(link.contains("mtu 65520"), "pasta's default MTU: {link}");
        stop_and_wait(h);
    });
}

#[test]
fn slirp4netns_configures_the_namespace() {
    let Some(chosen) = helper("slirp4netns") else {
        return;
    };
    for_each_user(|w| {
        let ns = Netns::new(&w);
        let (h, took) = start(&w, &ns, &chosen, &[]).unwrap();
        eprintln!("slirp4netns spawn -> ready: {took:?} ({:?})", w.user.kind);
        let addr = text(&ns.run(&w, &["ip", "-o", "-4", "addr", "show", "dev", "tap0"]));
        assert!(addr.contains("inet 10.0.2.100/24"), "{addr}");
        let route = text(&ns.run(&w, &["ip", "route", "show", "default"]));
        assert!(
            route.starts_with("default via 10.0.2.2 dev tap0"),
            "{route}"
        );
        let link = text(&ns.run(&w, &["ip", "-o", "link", "show", "tap0"]));
        assert!(link.contains("mtu 65520"), "{link}");
        let pid = h.pid().unwrap();
        drop(h);
        assert!(
            wait_dead(pid, Duration::from_secs(2)),
            "slirp4netns {pid} survived drop"
        );
    });
}

/// Try to reach a server on the host's 127.0.0.1 from inside the namespace
/// through `addr`; true when the server saw the message.
fn reaches_host_loopback(w: &World, ns: &Netns, addr: &str) -> bool {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let port = server.local_addr().unwrap().port();
    let mut client = ns
        .cmd(w, &["busybox", "nc", "-w", "2", addr, &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _ = client
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from the namespace\n");
    let until = Instant::now() + Duration::from_secs(3);
    let mut seen = String::new();
    while Instant::now() < until {
        if let Ok((mut c, _)) = server.accept() {
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = c.read_to_string(&mut seen);
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = client.kill();
    let _ = client.wait();
    seen.contains("hello from the namespace")
}

fn default_gateway(w: &World, ns: &Netns) -> String {
    let route = text(&ns.run(w, &["ip", "-4", "route", "show", "default"]));
    route
        .split_whitespace()
        .nth(2)
        .expect("a default route")
        .to_string()
}

#[test]
fn pasta_reaches_host_loopback_only_with_map_gw() {
    // -o 127.0.0.1: see the module comment.
    let Some(off) = helper("pasta:-o,127.0.0.1") else {
        return;
    };
    let on = helper("pasta:--map-gw,-o,127.0.0.1").unwrap();
    // The address /etc/hosts names host.containers.internal: the gateway
    // (older pasta) or 169.254.1.2 (pasta with --map-host-loopback).
    let addr = hutch::net::addrs::addresses(&on.request, Path::new("/proc"))
        .host_loopback
        .expect("--map-gw gives an address for the host")
        .to_string();
    for_each_user(|w| {
        let ns = Netns::new(&w);
        let (h, _) = start(&w, &ns, &off, &[]).unwrap();
        assert!(
            !reaches_host_loopback(&w, &ns, &addr),
            "reached the host through {addr} without --map-gw"
        );
        assert!(
            !reaches_host_loopback(&w, &ns, "127.0.0.1"),
            "the namespace's loopback is the host's"
        );
        stop_and_wait(h);
        let (_h, _) = start(&w, &ns, &on, &[]).unwrap();
        if !hutch::net::pasta::supports(&on.binary, "--map-host-loopback") {
            assert_eq!(
                default_gateway(&w, &ns),
                addr,
                "older pasta maps the gateway"
            );
        }
        assert!(
            reaches_host_loopback(&w, &ns, &addr),
            "--map-gw did not map {addr} to the host's loopback"
        );
    });
}

#[test]
fn slirp4netns_reaches_host_loopback_only_when_allowed() {
    let Some(off) = helper("slirp4netns") else {
        return;
    };
    let on = helper("slirp4netns:allow_host_loopback=true").unwrap();
    for_each_user(|w| {
        let ns = Netns::new(&w);
        let (h, _) = start(&w, &ns, &off, &[]).unwrap();
        assert!(
            !reaches_host_loopback(&w, &ns, "10.0.2.2"),
            "reached the host without allow_host_loopback"
        );
        stop_and_wait(h);
        let (_h, _) = start(&w, &ns, &on, &[]).unwrap();
        assert!(
            reaches_host_loopback(&w, &ns, "10.0.2.2"),
            "allow_host_loopback=true did not reach the host"
        );
    });
}

/// A child that is killed when the test ends, even by a failed assertion.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// busybox httpd inside the namespace on port 80, with a CGI that answers
/// the client address it sees.
fn httpd(w: &World, ns: &Netns) -> Killed {
    let dir = w.path("www");
    std::fs::create_dir_all(dir.join("cgi-bin")).unwrap();
    std::fs::write(dir.join("index.html"), "hello from the namespace\n").unwrap();
    let cgi = dir.join("cgi-bin/addr");
    std::fs::write(
        &cgi,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$REMOTE_ADDR\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(w.dir.path())
        .status()
        .unwrap();
    Killed(
        ns.cmd(
            w,
            &[
                "busybox",
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                dir.to_str().unwrap(),
            ],
        )
        .spawn()
        .unwrap(),
    )
}

/// GET `path` from 127.0.0.1:`port`, retrying while the server starts.
fn get(port: u16, path: &str) -> String {
    get_from("127.0.0.1".parse().unwrap(), port, path)
}

fn get_from(ip: std::net::IpAddr, port: u16, path: &str) -> String {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect((ip, port))?;
            s.set_read_timeout(Some(Duration::from_secs(3)))?;
            write!(s, "GET {path} HTTP/1.0\r\n\r\n")?;
            let mut r = String::new();
            s.read_to_string(&mut r)?;
            Ok(r)
        })();
        match attempt {
            Ok(r) if r.starts_with("HTTP/1.") => return r,
            _ if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("no HTTP answer on {ip}:{port}: {other:?}"),
        }
    }
}

fn publish(spec: &str) -> Vec<PortMapping> {
    let policy = PortPolicy::from_host(Path::new("/proc"));
    ports::resolve(&[ports::parse_publish(spec).unwrap()], &[], policy).unwrap()
}

/// Forward a random host port on 127.0.0.1 to port 80 in the namespace;
/// return the client address the server saw for a loopback client.
fn forward_and_fetch(mode: &str) -> Option<String> {
    let chosen = helper(mode)?;
    let mut seen = None;
    for_each_user(|w| {
        let ns = Netns::new(&w);
        let ports = publish("80");
        assert_eq!(
            ports[0].host_ip.to_string(),
            "127.0.0.1",
            "the default host address"
        );
        let (_h, _) = start(&w, &ns, &chosen, &ports).unwrap();
        let _server = httpd(&w, &ns);
        let page = get(ports[0].host_port, "/index.html");
        assert!(page.contains("hello from the namespace"), "{page}");
        let addr = get(ports[0].host_port, "/cgi-bin/addr");
        // httpd listens on an IPv6 socket: IPv4 clients show as [::ffff:a.b.c.d].
        let client = addr.lines().last().unwrap_or("").trim();
        let client = client.trim_start_matches('[').trim_end_matches(']');
        let client = client.trim_start_matches("::ffff:").to_string();
        eprintln!("{mode}: a loopback client appears as {client}");
        seen = Some(client);
    });
    seen
}

#[test]
fn pasta_forwards_a_loopback_port() {
    // Spliced: the connection arrives on the namespace's own loopback.
    if let Some(client) = forward_and_fetch("pasta") {
        assert_eq!(client, "127.0.0.1");
    }
}

#[test]
fn pasta_forwards_an_ipv6_loopback_port() {
    let Some(chosen) = helper("pasta") else {
        return;
    };
    if TcpListener::bind("[::1]:0").is_err() {
        skip("the host has no IPv6 loopback");
        return;
    }
    for_each_user(|w| {
        let ns = Netns::new(&w);
        let ports = publish("[::1]::80");
        let (_h, _) = start(&w, &ns, &chosen, &ports).unwrap();
        let _server = httpd(&w, &ns);
        let page = get_from(ports[0].host_ip, ports[0].host_port, "/cgi-bin/addr");
        assert!(page.trim_end().ends_with("[::1]"), "{page}");
    });
}

#[test]
fn slirp4netns_forwards_a_loopback_port() {
    // slirp4netns NATs the connection: it comes from its host address.
    // (`hutch run`'s default handler, hutch's own forwarder, is covered by
    // `run_forwards_ports_with_either_slirp4netns_handler`.)
    if let Some(client) = forward_and_fetch("slirp4netns:port_handler=slirp4netns") {
        assert_eq!(client, "10.0.2.2");
    }
}

#[test]
fn slirp4netns_reports_a_refused_forward() {
    let Some(chosen) = helper("slirp4netns:port_handler=slirp4netns") else {
        return;
    };
    for_each_user(|w| {
        let ns = Netns::new(&w);
        // Taken after resolve() checked it: slirp4netns itself must refuse.
        let ports = publish("80");
        let _busy = TcpListener::bind(("127.0.0.1", ports[0].host_port)).unwrap();
        let e = start(&w, &ns, &chosen, &ports)
            .err()
            .expect("publishing a busy port must fail");
        assert!(
            live_helpers("slirp4netns", ns.pid()).is_empty(),
            "slirp4netns kept running after its start failed"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("slirp4netns could not publish 127.0.0.1:"),
            "{msg}"
        );
    });
}

#[test]
fn a_failing_helper_is_reported_with_its_log() {
    let Some(chosen) = helper("pasta") else {
        return;
    };
    for_each_user(|w| {
        let ns = Netns::new(&w);
        let dir = run_dir(&w);
        // A process that is gone: pasta cannot join its namespace.
        let mut gone = w.as_user("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        let cfg = SpawnConfig {
            helper: &chosen,
            target: Target::Pid(gone_pid),
            ports: &[],
            run_dir: &dir,
            run_as: run_as(&w),
        };
        let e = Helper::spawn(&cfg).unwrap().wait_ready(READY).unwrap_err();
        assert!(matches!(e, HelperError::Exited { .. }), "{e}");
        assert!(e.to_string().starts_with("pasta exited"), "{e}");
        drop(ns);
    });
}

/// Not a test on its own: the body of the process that
/// `helpers_die_with_their_owner` starts and SIGKILLs. It starts a helper on
/// the namespace named in HUTCH_NET_OWNER, prints the helper's pid, and waits.
#[test]
fn owner_process_for_kill_test() {
    let Ok(spec) = std::env::var("HUTCH_NET_OWNER") else {
        return;
    };
    let f: Vec<&str> = spec.split(' ').collect();
    let chosen = choose(
        Some(HelperRequest::parse(f[0]).unwrap()),
        &SearchPath::from_env(),
    )
    .unwrap();
    let uid: u32 = f[2].parse().unwrap();
    let cfg = SpawnConfig {
        helper: &chosen,
        target: Target::Pid(f[1].parse().unwrap()),
        ports: &[],
        run_dir: Path::new(f[4]),
        run_as: (uid != 0).then(|| (uid, f[3].parse().unwrap())),
    };
    let mut h = Helper::spawn(&cfg).unwrap();
    h.wait_ready(READY).unwrap();
    println!("HELPER_PID={}", h.pid().unwrap());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn helpers_die_with_their_owner() {
    for mode in ["pasta", "slirp4netns"] {
        if !have(mode) {
            skip(&format!("{mode} is not installed"));
            continue;
        }
        for_each_user(|w| {
            let ns = Netns::new(&w);
            let dir = run_dir(&w);
            let (uid, gid) = run_as(&w).unwrap_or((0, 0));
            let mut owner = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "net::owner_process_for_kill_test",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(
                    "HUTCH_NET_OWNER",
                    format!("{mode} {} {uid} {gid} {}", ns.pid(), dir.display()),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut out = owner.stdout.take().unwrap();
            let mut text = String::new();
            let mut b = [0u8; 1];
            while !text.contains("HELPER_PID=") || !text.ends_with('\n') {
                match out.read(&mut b) {
                    Ok(1) => text.push(b[0] as char),
                    _ => panic!("the owner exited before its helper was ready: {text}"),
                }
            }
            // libtest may print "test ... " on the same line first.
            let at = text.find("HELPER_PID=").unwrap() + "HELPER_PID=".len();
            let pid: u32 = text[at..].trim().parse().unwrap();
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
            assert!(
                comm.starts_with("passt") || comm.starts_with("slirp4netns"),
                "{comm}"
            );
            assert!(live(pid));
            owner.kill().unwrap(); // SIGKILL: no clean-up code runs in the owner
            owner.wait().unwrap();
            assert!(
                wait_dead(pid, Duration::from_secs(3)),
                "{mode} {pid} outlived its SIGKILLed owner"
            );
            // And nothing else of this kind is left on our namespace.
            let left = live_helpers(mode, ns.pid());
            assert!(
                left.is_empty(),
                "{mode} still runs for namespace {}: {left:?}",
                ns.pid()
            );
        });
    }
}

/// Live (not zombie) `mode` processes whose arguments name namespace `pid`.
fn live_helpers(mode: &str, pid: u32) -> Vec<u32> {
    let target = pid.to_string();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|c| *c == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().is_some_and(|a| a.ends_with(mode)) && args.contains(&target) && live(p) {
            found.push(p);
        }
    }
    found
}

#[test]
fn slirp4netns_socket_in_a_deep_run_dir() {
    // The API socket carries the port only with slirp4netns's own handler.
    let Some(chosen) = helper("slirp4netns:port_handler=slirp4netns") else {
        return;
    };
    for_each_user(|w| {
        let ns = Netns::new(&w);
        // Deeper than a Unix socket path may be (unix(7): 108 bytes).
        let deep = run_dir(&w).join("c".repeat(64)).join("d".repeat(40));
        std::fs::create_dir_all(&deep).unwrap();
        Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", w.user.uid, w.user.gid))
            .arg(w.path("run"))
            .status()
            .unwrap();
        let ports = publish("80");
        let (h, _) = start_in(&w, &ns, &chosen, &ports, &deep).unwrap();
        let _server = httpd(&w, &ns);
        assert!(get(ports[0].host_port, "/index.html").contains("hello from the namespace"));
        drop(h);
        assert!(live_helpers("slirp4netns", ns.pid()).is_empty());
    });
}

#[test]
fn helper_start_latency() {
    for mode in ["pasta", "slirp4netns"] {
        let Some(chosen) = helper(mode) else { continue };
        let Some(user) = crate::common::any_user() else {
            skip("no test user");
            return;
        };
        let w = World::new(user);
        let mut times = Vec::new();
        for _ in 0..5 {
            let ns = Netns::new(&w);
            let (h, took) = start(&w, &ns, &chosen, &[]).unwrap();
            times.push(took);
            h.stop();
        }
        times.sort();
        eprintln!(
            "{mode} spawn -> ready over 5 runs: min {:?}, median {:?}, max {:?}",
            times[0], times[2], times[4]
        );
        assert!(
            times[2] < Duration::from_secs(2),
            "{mode} is slow to start: {times:?}"
        );
    }
}

/// Live pasta, slirp4netns and `hutch port-forwarder` children of process
/// `parent`.
fn helper_children(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse::<u32>().ok());
        let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let forwarder = cmdline
            .split(|c| *c == 0)
            .nth(1)
            .is_some_and(|a| a == b"port-forwarder");
        if ppid == Some(parent)
            && (comm.starts_with("passt") || comm.starts_with("slirp4netns") || forwarder)
            && live(p)
        {
            found.push(p);
        }
    }
    found
}

/// `hutch run -p 127.0.0.1:PORT:80` with busybox httpd answers the host,
/// and the helper ends with the container, whether it exits or hutch is
/// SIGKILLed.
#[test]
fn run_publishes_busybox_httpd() {
    for mode in ["pasta", "slirp4netns"] {
        if !have(mode) {
            skip(&format!("{mode} is not installed"));
            continue;
        }
        for_each_user(|w| {
            let bb = w.busybox();
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let publish = format!("127.0.0.1:{port}:80");
            // httpd daemonizes; pid 1 exits after the sleep, ending the container.
            let script = format!(
                "mkdir /www && echo hello from {mode} > /www/index.html && httpd -p 80 -h /www && sleep 4"
            );
            let start = || {
                w.hutch()
                    .args([
                        "run",
                        "--rm",
                        "--network",
                        mode,
                        "-p",
                        &publish,
                        bb,
                        "sh",
                        "-c",
                        &script,
                    ])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            };
            let mut hutch = start();
            let page = get(port, "/index.html");
            assert!(page.contains(&format!("hello from {mode}")), "{page}");
            // slirp4netns's TCP ports go through hutch's port forwarder.
            let want = if mode == "pasta" { 1 } else { 2 };
            let helpers = helper_children(hutch.id());
            assert_eq!(
                helpers.len(),
                want,
                "{mode} (and the forwarder) for the container: {helpers:?}"
            );
            // Its TCP port is the forwarder's: slirp4netns needs no API
            // socket. The forwarder lives in the container's user namespace
            // but the host's mount namespace, so it must be non-dumpable:
            // its /proc/PID/fd then belongs to root, not to the user.
            for h in &helpers {
                let cmdline = std::fs::read(format!("/proc/{h}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                assert!(!cmdline.contains("--api-socket"), "{cmdline}");
                if cmdline.contains("port-forwarder") {
                    use std::os::unix::fs::MetadataExt;
                    let owner = std::fs::metadata(format!("/proc/{h}/fd")).unwrap().uid();
                    assert_eq!(owner, 0, "the forwarder {h} is dumpable");
                }
            }
            let status = hutch.wait().unwrap();
            assert!(status.success(), "{status:?}");
            for h in &helpers {
                assert!(
                    wait_dead(*h, Duration::from_secs(2)),
                    "{mode}: helper {h} outlived its container"
                );
            }

            // SIGKILL: the container and its helper must not survive hutch.
            let mut hutch = start();
            get(port, "/index.html");
            let helpers = helper_children(hutch.id());
            assert_eq!(helpers.len(), want, "{helpers:?}");
            hutch.kill().unwrap();
            hutch.wait().unwrap();
            for h in &helpers {
                assert!(
                    wait_dead(*h, Duration::from_secs(3)),
                    "{mode}: helper {h} outlived SIGKILLed hutch"
                );
            }
            assert!(
                TcpStream::connect(("127.0.0.1", port)).is_err(),
                "port {port} still served"
            );
        });
    }
}

/// An HTTP/1.0 exchange with 127.0.0.1:`port`: `head` then `body`; the
/// answer's body.
fn http(port: u16, head: &str, body: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let sender = {
        let mut s = s.try_clone().unwrap();
        let mut all = head.as_bytes().to_vec();
        all.extend_from_slice(body);
        std::thread::spawn(move || s.write_all(&all))
    };
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    sender.join().unwrap().unwrap();
    let at = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&answer)));
    answer.split_off(at + 4)
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// slirp4netns's two port handlers under `hutch run`: hutch's forwarder
/// (the default, also named `rootlesskit`) and slirp4netns's own. Each
/// carries 16 MiB each way intact (a download compared with the file, an
/// upload summed in the container), and the
/// server sees the client address the docs promise.
#[test]
fn run_forwards_ports_with_either_slirp4netns_handler() {
    if !have("slirp4netns") {
        skip("slirp4netns is not installed");
        return;
    }
    let cases = [
        ("slirp4netns", "10.0.2.100"),
        ("slirp4netns:port_handler=rootlesskit", "10.0.2.100"),
        ("slirp4netns:port_handler=slirp4netns", "10.0.2.2"),
    ];
    for_each_user(|w| {
        let bb = w.busybox();
        let www = w.path("fwd-www");
        std::fs::create_dir_all(www.join("cgi-bin")).unwrap();
        let cgi = |name: &str, body: &str| {
            let path = www.join("cgi-bin").join(name);
            let text =
                format!("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n{body}\n");
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        cgi("addr", "echo \"$REMOTE_ADDR\"");
        cgi("sum", "head -c \"$CONTENT_LENGTH\" | sha256sum");
        let big: Vec<u8> = (0..16u32 << 20)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(www.join("big"), &big).unwrap();
        Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(w.dir.path())
            .status()
            .unwrap();
        let volume = format!("{}:/www", www.display());
        for (network, client) in cases {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let _rm = RemoveOnDrop {
                w: &w,
                names: &["fwd"],
            };
            let publish = format!("127.0.0.1:{port}:80");
            w.ok(&[
                "run",
                "-d",
                "--name",
                "fwd",
                "--network",
                network,
                "-p",
                &publish,
                "-v",
                &volume,
                bb,
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                "/www",
            ]);
            let seen = get(port, "/cgi-bin/addr");
            let seen = seen.lines().last().unwrap_or("").trim();
            let seen = seen.trim_start_matches('[').trim_end_matches(']');
            assert_eq!(seen.trim_start_matches("::ffff:"), client, "{network}");

            let got = http(port, "GET /big HTTP/1.0\r\n\r\n", b"");
            assert_eq!(got.len(), big.len(), "{network}: download size");
            assert!(got == big, "{network}: the download differs from the file");

            let upload: Vec<u8> = (0..16u32 << 20).map(|i| (i ^ (i >> 11)) as u8).collect();
            let head = format!(
                "POST /cgi-bin/sum HTTP/1.0\r\nContent-Length: {}\r\n\r\n",
                upload.len()
            );
            let got = String::from_utf8(http(port, &head, &upload)).unwrap();
            assert!(
                got.starts_with(&sha256_hex(&upload)),
                "{network}: the container summed the upload as {got}"
            );
            w.ok(&["rm", "-f", "fwd"]);
        }
    });
}

/// What the container's /etc/hosts and /etc/resolv.conf say, and that
/// host-gateway reaches a server on the host's loopback only when allowed.
#[test]
fn run_writes_hosts_and_resolv_conf() {
    if !have("slirp4netns") {
        skip("slirp4netns is not installed");
        return;
    }
    for_each_user(|w| {
        let bb = w.busybox();
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "slirp4netns",
            "--add-host",
            "db:192.0.2.10",
            "--dns",
            "192.0.2.53",
            "--dns-search",
            "example.org",
            "--hostname",
            "box",
            bb,
            "cat",
            "/etc/hosts",
            "/etc/resolv.conf",
        ]);
        assert!(out.contains("192.0.2.10\tdb\n10.0.2.100\tbox\n"), "{out}");
        assert!(
            out.contains("search example.org\nnameserver 192.0.2.53\n"),
            "{out}"
        );
        assert!(!out.contains("host.containers.internal"), "{out}");
        let (code, err) = w.fails(&["run", "--rm", "--add-host", "gw:host-gateway", bb, "true"]);
        assert_eq!(code, 125);
        assert!(err.contains("host-gateway needs"), "{err}");

        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut c, _) = server.accept().unwrap();
            let mut b = [0u8; 512];
            let _ = c.read(&mut b);
            c.write_all(b"HTTP/1.0 200 OK\r\n\r\nhost loopback reached\n")
                .unwrap();
        });
        let url = format!("http://gw:{port}/");
        let out = w.ok(&[
            "run",
            "--rm",
            "--network",
            "slirp4netns:allow_host_loopback=true",
            "--add-host",
            "gw:host-gateway",
            bb,
            "sh",
            "-c",
            &format!("grep host.containers.internal /etc/hosts; wget -q -O - {url}"),
        ]);
        t.join().unwrap();
        assert!(out.contains("10.0.2.2\thost.containers.internal"), "{out}");
        assert!(out.contains("host loopback reached"), "{out}");
    });
}

/// `hutch port` lists what `-p` published, from the container record.
#[test]
fn port_lists_published_ports() {
    if !have("pasta") {
        skip("pasta is not installed");
        return;
    }
    for_each_user(|w| {
        let bb = w.busybox();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let udp_spec = format!("{udp}:53/udp");
        w.ok(&[
            "run", "--name", "web", "-p", "80", "-p", &udp_spec, bb, "true",
        ]);
        let out = w.ok(&["port", "web"]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert!(lines[0].starts_with("80/tcp -> 127.0.0.1:"), "{out}");
        assert_eq!(lines[1], format!("53/udp -> 127.0.0.1:{udp}"));
        let host = w.ok(&["port", "web", "53/udp"]);
        assert_eq!(host.trim(), format!("127.0.0.1:{udp}"));
        let (code, err) = w.fails(&["port", "nosuch"]);
        assert_eq!(code, 125);
        assert!(err.contains("no container named"), "{err}");
    });
}

/// Removes the named containers, running or not, when dropped: a failed
/// assertion must not leave a container (and its helper) running.
struct RemoveOnDrop<'a> {
    w: &'a World,
    names: &'a [&'a str],
}

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let mut args = vec!["rm", "-f"];
        args.extend(self.names);
        let _ = self.w.run(&args);
    }
}

/// Poll `f` until it gives Some, for up to `secs` seconds.
fn poll<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `hutch port NAME` as (container port, host address) pairs.
fn port_lines(w: &World, name: &str) -> Vec<(String, std::net::SocketAddr)> {
    w.ok(&["port", name])
        .lines()
        .map(|l| {
            let (ctr, host) = l.split_once(" -> ").unwrap_or_else(|| panic!("{l}"));
            (
                ctr.to_string(),
                host.parse().unwrap_or_else(|_| panic!("{l}")),
            )
        })
        .collect()
}

/// The local addresses (kernel hex, `0100007F` is 127.0.0.1) of the host's
/// sockets on `port` in /proc/net/{proto,proto6}: whatever hutch printed,
/// this is where the helper really listens.
fn bound_addresses(proto: &str, port: u16) -> Vec<String> {
    let want = format!("{port:04X}");
    [proto.to_string(), format!("{proto}6")]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(format!("/proc/net/{f}"))
                .unwrap_or_default()
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let local = l.split_whitespace().nth(1)?;
                    let (addr, p) = local.split_once(':')?;
                    (p == want).then(|| addr.to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `run -d -P` on an image built with EXPOSE: `hutch port` lists every
/// exposed port on a free port of 127.0.0.1 (README: without an address,
/// ports listen on 127.0.0.1 only), the helper listens there and nowhere
/// else, TCP and UDP from the host's loopback reach the container, and the
/// ports close with the container.
#[test]
fn publish_all_serves_exposed_ports_on_loopback() {
    for mode in ["pasta", "slirp4netns"] {
        if !have(mode) {
            skip(&format!("{mode} is not installed"));
            continue;
        }
        for_each_user(|w| {
            w.busybox();
            w.write("ctx/index.html", format!("served through -P by {mode}\n"));
            w.write(
                "ctx/Dockerfile",
                "FROM busybox:1.38.0-musl\n\
                 COPY index.html /www/index.html\n\
                 EXPOSE 8080 5353/udp\n\
                 CMD [\"sh\", \"-c\", \"nc -u -l -p 5353 > /udp & exec httpd -f -p 8080 -h /www\"]\n",
            );
            w.ok(&["build", "-t", "exposed:1", w.path("ctx").to_str().unwrap()]);
            let _rm = RemoveOnDrop {
                w: &w,
                names: &["web"],
            };
            w.ok(&[
                "run",
                "-d",
                "--name",
                "web",
                "--network",
                mode,
                "-P",
                "exposed:1",
            ]);

            let ports = port_lines(&w, "web");
            let names: Vec<&str> = ports.iter().map(|(c, _)| c.as_str()).collect();
            assert_eq!(names, ["5353/udp", "8080/tcp"], "in port order: {ports:?}");
            for (ctr, host) in &ports {
                assert_eq!(host.ip().to_string(), "127.0.0.1", "{ctr}: {ports:?}");
                assert_ne!(host.port(), 0, "{ctr}: {ports:?}");
            }
            let (udp, tcp) = (ports[0].1, ports[1].1);
            let ps = w.ok(&["ps"]);
            assert!(
                ps.contains(&format!("{udp}->5353/udp, {tcp}->8080/tcp")),
                "ps shows the published ports: {ps}"
            );
            let json: serde_json::Value =
                serde_json::from_str(&w.ok(&["ps", "--format", "json"])).unwrap();
            let published = &json[0]["Ports"];
            assert_eq!(published[1]["host_port"], tcp.port(), "{json}");
            assert_eq!(published[1]["container_port"], 8080, "{json}");
            assert_eq!(published[0]["protocol"], "udp", "{json}");
            assert_eq!(
                w.ok(&["port", "web", "8080"]).trim(),
                tcp.to_string(),
                "`port NAME PORT` prints the host side"
            );
            for (proto, port) in [("tcp", tcp.port()), ("udp", udp.port())] {
                let addrs = bound_addresses(proto, port);
                assert!(
                    !addrs.is_empty() && addrs.iter().all(|a| a == "0100007F"),
                    "{mode} {proto} port {port} must listen on 127.0.0.1 only: {addrs:?}"
                );
            }

            let page = get(tcp.port(), "/index.html");
            assert!(
                page.contains(&format!("served through -P by {mode}")),
                "{page}"
            );
            // UDP has no handshake: resend until the listener in the
            // container has written what it got.
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let got = poll(10, || {
                sock.send_to(b"datagram through -P\n", udp).unwrap();
                let out = w.run(&["exec", "web", "cat", "/udp"]);
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.contains("datagram through -P").then_some(text)
            });
            assert!(got.is_some(), "{mode}: the UDP datagram did not arrive");

            w.ok(&["rm", "-f", "web"]);
            assert!(
                poll(5, || TcpStream::connect(tcp).is_err().then_some(())).is_some(),
                "{mode}: {tcp} still accepts connections after rm -f"
            );
        });
    }
}

/// `hutch run -d --network container:A` and `hutch exec` into that
/// container: the process shares A's network namespace (A's server on its
/// own loopback answers, the same addresses) but keeps its own hostname and
/// files; `hutch start` joins again after a stop.
#[test]
fn exec_into_a_container_on_another_containers_network() {
    if !have("pasta") && !have("slirp4netns") {
        skip("neither pasta nor slirp4netns is installed");
        return;
    }
    for_each_user(|w| {
        let bb = w.busybox();
        let _rm = RemoveOnDrop {
            w: &w,
            names: &["b", "a"],
        };
        // 127.0.0.1 only: nothing outside A's network namespace reaches it.
        let serve = "mkdir /www && echo served-by-a > /www/index.html && \
                     exec httpd -f -p 127.0.0.1:8080 -h /www";
        w.ok(&[
            "run",
            "-d",
            "--name",
            "a",
            "--hostname",
            "host-a",
            bb,
            "sh",
            "-c",
            serve,
        ]);
        w.ok(&[
            "run",
            "-d",
            "--name",
            "b",
            "--hostname",
            "host-b",
            "--network",
            "container:a",
            bb,
            "sleep",
            "300",
        ]);
        let fetch = || {
            poll(10, || {
                let out = w.run(&[
                    "exec",
                    "b",
                    "wget",
                    "-q",
                    "-O",
                    "-",
                    "http://127.0.0.1:8080/",
                ]);
                out.status.success().then(|| stdout(&out))
            })
        };
        assert_eq!(
            fetch().as_deref(),
            Some("served-by-a\n"),
            "A's server from exec b"
        );

        let net_of = |name: &str, path: &str| w.ok(&["exec", name, "readlink", path]);
        let a_net = net_of("a", "/proc/self/ns/net");
        assert!(a_net.starts_with("net:["), "{a_net}");
        assert_eq!(
            net_of("b", "/proc/self/ns/net"),
            a_net,
            "exec b joins A's network"
        );
        assert_eq!(
            net_of("b", "/proc/1/ns/net"),
            a_net,
            "b's pid 1 is in A's network"
        );
        let addrs = |name: &str| w.ok(&["exec", name, "ip", "-o", "-4", "addr"]);
        let a_addrs = addrs("a");
        assert!(
            a_addrs.lines().any(|l| !l.contains(" lo ")),
            "the helper configured A: {a_addrs}"
        );
        assert_eq!(addrs("b"), a_addrs);

        // Everything else is b's own.
        assert_eq!(w.ok(&["exec", "b", "hostname"]), "host-b\n");
        let (_, err) = w.fails(&["exec", "b", "ls", "/www"]);
        assert!(err.contains("/www"), "{err}");

        // `start` takes the same detached path as `run -d`.
        w.ok(&["stop", "-t", "1", "b"]);
        w.ok(&["start", "b"]);
        assert_eq!(fetch().as_deref(), Some("served-by-a\n"), "after start b");
        assert_eq!(net_of("b", "/proc/1/ns/net"), a_net);
    });
}

/// Every container record and container directory: what a refused start
/// must leave as it was.
fn containers_state(w: &World) -> (Vec<String>, Vec<String>) {
    let ps: serde_json::Value =
        serde_json::from_str(&w.ok(&["ps", "-a", "--format", "json"])).unwrap();
    let mut ids: Vec<String> = ps
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {} {}", c["Id"], c["Names"], c["State"]))
        .collect();
    ids.sort();
    let mut dirs: Vec<String> = std::fs::read_dir(w.root().join("containers"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    (ids, dirs)
}

/// `--network container:NAME` that cannot work is refused before anything
/// is created: one line, exit 125, `ps -a` and the state directory as they
/// were, the name still free. NAME with another user-namespace mode (its
/// namespace's ids would not be this container's), with the host's network,
/// stopped or missing, and `-p` (there is no helper to publish through).
#[test]
fn joining_an_unusable_container_network_leaves_nothing_behind() {
    for_each_user(|w| {
        let bb = w.busybox();
        // Another mapping than the default one: single ids for the user with
        // subordinate ids, keep-id (own uid inside, not root) for the other.
        let other_userns = match w.user.kind {
            Kind::SubIds => "single",
            Kind::Single => "keep-id",
        };
        let _rm = RemoveOnDrop {
            w: &w,
            names: &["b", "other", "hostnet", "done"],
        };
        let detached = |name: &str, extra: &[&str]| {
            let mut args = vec!["run", "-d", "--name", name];
            args.extend(extra);
            args.extend([bb, "sleep", "300"]);
            w.ok(&args);
        };
        detached("other", &["--network", "none", "--userns", other_userns]);
        detached("hostnet", &["--network", "host"]);
        w.ok(&["run", "--name", "done", "--network", "none", bb, "true"]);
        let before = containers_state(&w);

        let cases: [(&[&str], &str); 5] = [
            (
                &["--network", "container:other"],
                "container other has another user id mapping",
            ),
            (
                &["--network", "container:hostnet"],
                "container hostnet uses the host's network; use --network host",
            ),
            (
                &["--network", "container:done"],
                "--network container:done: container done is not running",
            ),
            (
                &["--network", "container:nosuch"],
                "--network container:nosuch: no such container: nosuch",
            ),
            (
                &[
                    "--network",
                    "container:other",
                    "--userns",
                    other_userns,
                    "-p",
                    "80",
                ],
                "-p/-P needs a connected network",
            ),
        ];
        for (flags, why) in cases {
            for detach in [true, false] {
                let mut args = vec!["run", "--name", "b"];
                if detach {
                    args.push("-d");
                }
                args.extend(flags);
                args.extend([bb, "true"]);
                let (code, err) = w.fails(&args);
                assert_eq!(code, 125, "{args:?}: {err}");
                assert!(one_error(&err), "{args:?}: one line: {err}");
                assert!(err.contains(why), "{args:?}: {err}");
                assert_eq!(containers_state(&w), before, "{args:?} left state behind");
            }
        }

        // The same user-namespace mode joins, under the name nothing kept.
        let out = w.ok(&[
            "run",
            "--name",
            "b",
            "--network",
            "container:other",
            "--userns",
            other_userns,
            bb,
            "readlink",
            "/proc/self/ns/net",
        ]);
        assert_eq!(
            out,
            w.ok(&["exec", "other", "readlink", "/proc/self/ns/net"])
        );
    });
}

#[test]
fn a_restart_joins_the_peer_container_as_it_is_then() {
    // `--network container:peer` with `--restart`: each run is cloned
    // inside the peer's namespaces by a go-between, so the supervisor stays
    // in the host's and plans each restart from there; after the peer
    // itself restarted, the next run joins its new network namespace, and
    // the supervisor lets go of the old one (a plan's descriptors go with
    // it) and gains none per restart.
    for_each_user(|w| {
        let img = w.busybox();
        let sleeper = [
            "run",
            "-d",
            "--name",
            "peer",
            "--network",
            "none",
            img,
            "sleep",
            "600",
        ];
        w.ok(&sleeper);
        let exit_on_go = "while [ ! -e /tmp/go ]; do sleep 0.1; done; rm /tmp/go; exit 3";
        w.ok(&[
            "run",
            "-d",
            "--name",
            "c",
            "--restart",
            "always",
            "--network",
            "container:peer",
            img,
            "sh",
            "-c",
            exit_on_go,
        ]);
        let id = w.ok(&["inspect", "-f", "{{.Id}}", "c"]).trim().to_string();
        let rec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(w.root().join("containers").join(&id).join("container.json")).unwrap(),
        )
        .unwrap();
        let sup = rec["supervisor"]["pid"].as_i64().unwrap() as i32;
        let links = |pid: i32, dir: &str| -> Vec<String> {
            std::fs::read_dir(format!("/proc/{pid}/{dir}"))
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| std::fs::read_link(e.path()).ok())
                        .map(|l| l.display().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let net_of = |name: &str| {
            let pid = w.ok(&["inspect", "-f", "{{.State.Pid}}", name]);
            std::fs::read_link(format!("/proc/{}/ns/net", pid.trim()))
                .unwrap()
                .display()
                .to_string()
        };
        // Run k of `c` has started (its pid recorded, so its plan is made).
        let run = |k: u32| {
            let fmt = "{{.RestartCount}} {{.State.Status}} {{.State.Pid}}";
            let mut got = String::new();
            let ran = eventually(30, || {
                got = w.ok(&["inspect", "-f", fmt, "c"]);
                got.starts_with(&format!("{k} running ")) && !got.trim().ends_with(" 0")
            });
            let log = stdout(&w.run(&["logs", "c"]));
            assert!(ran, "run {k}: {got:?}; log: {log}");
        };
        let mut fds = Vec::new();
        for k in 0..5 {
            run(k);
            assert_eq!(net_of("c"), net_of("peer"), "run {k}");
            // The supervisor is not in the peer's user namespace.
            assert_eq!(
                std::fs::read_link(format!("/proc/{sup}/ns/user")).unwrap(),
                std::fs::read_link("/proc/self/ns/user").unwrap(),
                "run {k}"
            );
            fds.push(links(sup, "fd").len());
            if k == 1 {
                let old = net_of("peer");
                w.ok(&["restart", "-t", "0", "peer"]);
                assert_ne!(net_of("peer"), old);
                w.ok(&["exec", "c", "touch", "/tmp/go"]);
                run(2);
                // Its old namespace is held by nobody once `c` ran again.
                assert!(
                    !links(sup, "fd").contains(&old),
                    "the supervisor holds the peer's old network namespace"
                );
            } else if k < 4 {
                w.ok(&["exec", "c", "touch", "/tmp/go"]);
            }
        }
        assert!(
            fds.iter().all(|&n| n == fds[0]),
            "descriptors per run: {fds:?}"
        );
        w.ok(&["rm", "-f", "c", "peer"]);
    });
}
