//! hutch's own TCP port forwarder, the `port_handler` slirp4netns networks
//! use by default (the role of Podman's rootlessport): it listens on the
//! host, and for each connection opens one from inside the container's
//! network namespace to the container's address, then moves the bytes with
//! splice(2). slirp4netns's own forwarding copies every byte through its
//! user-mode TCP stack and the tap device: 3 to 12 times slower on the test
//! machine (bench/README.md).
//!
//! One process per container, `hutch port-forwarder` (hidden): it binds the
//! host ports first, while still in the host's network namespace, then
//! enters the container's user and network namespaces, so every socket it
//! creates afterwards is the container's. UDP ports stay with slirp4netns.
//!
//! This module owns that process and its relay loop; which ports are
//! published and when the process ends are `ports`' and `helper`'s.

use super::ports::{PortMapping, Protocol};
use super::spawned::Target;
use crate::sys::splice::{at_urgent_mark, copy_one_byte, pipe, raise_fd_limit, splice_some};
use crate::sys::SysError;
use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant};

/// The hidden subcommand the forwarder process runs.
pub const SUBCOMMAND: &str = "port-forwarder";

/// Bytes per direction of a connection held in its pipe. Pipe memory counts
/// against the user's allowance (pipe(7), pipe-user-pages-soft: 64 MiB by
/// default), past which every new pipe of the user's, in any program, gets
/// only 8 KiB; at 256 KiB that takes 128 open connections. Through a
/// slirp4netns container, 64 KiB, 256 KiB and 1 MiB pipes all carried 15-20
/// Gbit/s, 256 KiB a little more than the others.
const PIPE_BYTES: usize = 256 << 10;

/// Why a route is malformed, or the forwarder could not start or relay.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("route {0:?} is not LISTEN=TARGET")]
    RouteSyntax(String),
    #[error("route {route:?}: {addr:?} is not an address and port: {err}")]
    RouteAddr {
        route: String,
        addr: String,
        err: std::net::AddrParseError,
    },
    #[error("cannot listen on {addr}: {err}")]
    Listen {
        addr: SocketAddr,
        err: std::io::Error,
    },
    #[error(transparent)]
    Enter(#[from] SysError),
    #[error("cannot report to hutch: {0}")]
    Report(std::io::Error),
    #[error("cannot start the port forwarder: {0}")]
    Spawn(std::io::Error),
    /// An epoll call of the relay loop.
    #[error("{call}: {err}")]
    Epoll { call: &'static str, err: Errno },
    #[error("the port forwarder did not start within {0} ms")]
    NotReady(u128),
    #[error("the port forwarder exited without saying why")]
    ExitedSilently,
    /// Its log's tail (empty or starting with ": ").
    #[error("the port forwarder failed{0}")]
    Failed(String),
}

/// One forwarded port: where to listen on the host, and where to connect
/// inside the container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub listen: SocketAddr,
    pub target: SocketAddr,
}

impl Route {
    /// The command-line form, `LISTEN=TARGET` (`127.0.0.1:8080=10.0.2.100:80`).
    pub fn arg(&self) -> String {
        format!("{}={}", self.listen, self.target)
    }

    pub fn parse(s: &str) -> Result<Route, ForwardError> {
        let (l, t) = s
            .split_once('=')
            .ok_or_else(|| ForwardError::RouteSyntax(s.into()))?;
        let addr = |a: &str| {
            a.parse::<SocketAddr>()
                .map_err(|err| ForwardError::RouteAddr {
                    route: s.into(),
                    addr: a.into(),
                    err,
                })
        };
        Ok(Route {
            listen: addr(l)?,
            target: addr(t)?,
        })
    }
}

/// A route for every TCP port of `ports`, to port the same in the container
/// at `guest`.
pub fn routes(ports: &[PortMapping], guest: IpAddr) -> Vec<Route> {
    ports
        .iter()
        .filter(|m| m.protocol == Protocol::Tcp)
        .flat_map(|m| {
            (0..m.range).map(move |i| Route {
                listen: SocketAddr::new(m.host_ip, m.host_port + i),
                target: SocketAddr::new(guest, m.container_port + i),
            })
        })
        .collect()
}

/// A started forwarder process.
pub struct Forwarder {
    child: Child,
    report: Option<BufReader<ChildStdout>>,
    log: PathBuf,
}

impl Forwarder {
    /// Start the forwarder for `routes` on `target`'s namespaces; its
    /// errors go to `log`. Call from the thread that supervises the
    /// container: the forwarder gets SIGKILL when that thread dies.
    pub fn spawn(
        routes: &[Route],
        target: &Target,
        run_as: Option<(u32, u32)>,
        log: &Path,
    ) -> std::io::Result<Forwarder> {
        let (netns, userns) = target.paths();
        let log_file = std::fs::File::create(log)?;
        let mut cmd = crate::sys::spawn::this_binary(SUBCOMMAND);
        cmd.arg("--userns")
            .arg(&userns)
            .arg("--netns")
            .arg(&netns)
            .args(routes.iter().map(Route::arg))
            .stdout(Stdio::piped())
            .stderr(log_file);
        if let Some((uid, gid)) = run_as {
            cmd.uid(uid).gid(gid);
        }
        crate::sys::spawn::helper_child_setup(&mut cmd, Vec::new())?;
        let mut child = cmd.spawn()?;
        let report = child.stdout.take().map(BufReader::new);
        Ok(Forwarder {
            child,
            report,
            log: log.to_path_buf(),
        })
    }

    /// Wait until the forwarder listens on every port and has entered the
    /// namespaces; its one-line error otherwise.
    pub fn wait_ready(&mut self, deadline: Instant) -> Result<(), ForwardError> {
        let Some(mut report) = self.report.take() else {
            return Ok(());
        };
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(report.get_ref().as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) == 0 {
            return Err(ForwardError::NotReady(left.as_millis()));
        }
        let mut line = String::new();
        let _ = report.read_line(&mut line);
        if line.trim_end() == READY {
            return Ok(());
        }
        let _ = self.child.wait();
        match super::spawned::log_tail(&self.log) {
            tail if tail.is_empty() => Err(ForwardError::ExitedSilently),
            tail => Err(ForwardError::Failed(tail)),
        }
    }

    /// End it and wait, so that its host ports are free when this returns.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the forwarder prints once it is ready.
const READY: &str = "ready";

/// The forwarder's life (`hutch port-forwarder`): listen, enter the
/// container's namespaces, say so, relay until killed.
pub fn serve(userns: &Path, netns: &Path, routes: &[String]) -> Result<(), ForwardError> {
    let routes = routes
        .iter()
        .map(|r| Route::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut listeners = Vec::new();
    for r in routes {
        let listen = |err| ForwardError::Listen {
            addr: r.listen,
            err,
        };
        let l = TcpListener::bind(r.listen).map_err(listen)?;
        l.set_nonblocking(true).map_err(listen)?;
        listeners.push((l, r.target));
    }
    crate::sys::process::enter_network(userns, netns)?;
    raise_fd_limit();
    let mut out = std::io::stdout();
    writeln!(out, "{READY}")
        .and_then(|()| out.flush())
        .map_err(ForwardError::Report)?;
    relay(listeners, PIPE_BYTES)
}

/// Relay connections for `listeners` until an unrecoverable error, with a
/// pipe of about `pipe_bytes` per direction of each. Connections opened
/// here belong to this process's network namespace.
pub fn relay(
    listeners: Vec<(TcpListener, SocketAddr)>,
    pipe_bytes: usize,
) -> Result<(), ForwardError> {
    let epoll_err = |call| move |err| ForwardError::Epoll { call, err };
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(epoll_err("epoll_create1"))?;
    for (i, (l, _)) in listeners.iter().enumerate() {
        epoll
            .add(l, EpollEvent::new(EpollFlags::EPOLLIN, token(i, LISTENER)))
            .map_err(epoll_err("epoll_ctl(ADD, listener)"))?;
    }
    let mut relay = Relay {
        epoll,
        conns: Vec::new(),
        free: Vec::new(),
        freed: Vec::new(),
        pipe_bytes,
    };
    let mut paused: Option<Instant> = None;
    let mut events = vec![EpollEvent::empty(); 64];
    loop {
        let timeout = match paused {
            Some(_) => EpollTimeout::from(100u16),
            None => EpollTimeout::NONE,
        };
        let n = match relay.epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(epoll_err("epoll_wait")(e)),
        };
        if paused.is_some_and(|t| t.elapsed() >= Duration::from_millis(100)) {
            paused = None;
            for (i, (l, _)) in listeners.iter().enumerate() {
                let mut ev = EpollEvent::new(EpollFlags::EPOLLIN, token(i, LISTENER));
                let _ = relay.epoll.modify(l, &mut ev);
            }
        }
        for ev in &events[..n] {
            let (slot, kind) = untoken(ev.data());
            if kind == LISTENER {
                let (l, target) = &listeners[slot];
                if relay.accept_all(l, *target).is_err() && paused.is_none() {
                    // Out of descriptors or memory: stop accepting for a
                    // moment rather than spin on a listener that stays
                    // readable.
                    paused = Some(Instant::now());
                    for (l, _) in &listeners {
                        let mut ev = EpollEvent::new(EpollFlags::empty(), 0);
                        let _ = relay.epoll.modify(l, &mut ev);
                    }
                }
            } else {
                relay.handle(slot, kind == SERVER, ev.events());
            }
        }
        // Only now may a new connection take a slot freed in this batch: a
        // later event of the same batch may still name the old one.
        relay.free.append(&mut relay.freed);
    }
}

const LISTENER: u64 = 0;
const CLIENT: u64 = 1;
const SERVER: u64 = 2;

fn token(slot: usize, kind: u64) -> u64 {
    ((slot as u64) << 2) | kind
}

fn untoken(t: u64) -> (usize, u64) {
    ((t >> 2) as usize, t & 3)
}

/// Which side of a pump failed.
enum Fault {
    Read,
    Write,
}

/// One direction of a connection: bytes read from one socket and not yet
/// written to the other wait in the pipe.
struct Half {
    r: OwnedFd,
    w: OwnedFd,
    capacity: usize,
    buffered: usize,
    /// The source said end of file (or can no longer be read).
    eof: bool,
    /// The last read found the pipe full (a pipe counts page slots, not
    /// bytes, so `buffered < capacity` does not promise room).
    full: bool,
    /// Finished: end of file passed on (the destination's write side is
    /// shut), or given up because the destination is gone.
    shut: bool,
}

impl Half {
    fn new(pipe_bytes: usize) -> Result<Half, Errno> {
        let (r, w, capacity) = pipe(pipe_bytes).map_err(|e| e.errno)?;
        Ok(Half {
            r,
            w,
            capacity,
            buffered: 0,
            eof: false,
            full: false,
            shut: false,
        })
    }

    fn wants_read(&self) -> bool {
        !self.eof && !self.full
    }

    /// The destination is gone: nothing more goes this way.
    fn abandon(&mut self) {
        self.eof = true;
        self.full = false;
        self.buffered = 0;
        self.shut = true;
    }

    /// Move what can move now from `from` to `to`. `bounded`: stop after a
    /// few rounds, so one busy connection cannot starve the others; a source
    /// that hung up is no longer polled and so is read until it is empty or
    /// the pipe is full (no more can arrive, so this ends).
    fn pump(&mut self, from: &TcpStream, to: &TcpStream, bounded: bool) -> Result<(), Fault> {
        let mut rounds = 0;
        while !bounded || rounds < 16 {
            rounds += 1;
            let mut moved = false;
            if self.wants_read() {
                match splice_some(from, &self.w, self.capacity) {
                    Ok(0) => self.eof = true,
                    Ok(n) => {
                        self.buffered += n;
                        moved = true;
                    }
                    Err(Errno::EAGAIN) if self.buffered > 0 => self.full = true,
                    // splice stops in front of urgent data; the pipe is
                    // empty, so copy that one byte by hand.
                    Err(Errno::EAGAIN) if at_urgent_mark(from) => {
                        match copy_one_byte(from, &self.w) {
                            Ok(0) => self.eof = true,
                            Ok(n) => {
                                self.buffered += n;
                                moved = true;
                            }
                            Err(Errno::EAGAIN) => {}
                            Err(_) => return Err(Fault::Read),
                        }
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(_) => return Err(Fault::Read),
                }
            }
            if self.buffered > 0 {
                match splice_some(&self.r, to, self.buffered) {
                    Ok(n) => {
                        self.buffered -= n;
                        self.full = false;
                        moved = moved || n > 0;
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(_) => return Err(Fault::Write),
                }
            }
            if !moved {
                break;
            }
        }
        if self.eof && self.buffered == 0 && !self.shut {
            match to.shutdown(Shutdown::Write) {
                Err(e) if e.kind() != std::io::ErrorKind::NotConnected => return Err(Fault::Write),
                _ => self.shut = true,
            }
        }
        Ok(())
    }
}

/// A client connection from the host and its counterpart in the container.
struct Conn {
    client: TcpStream,
    server: TcpStream,
    /// Pipes exist once the connection inside is established.
    up: Option<Half>,
    down: Option<Half>,
    /// Events each socket is registered for; None once it hung up and left
    /// the epoll set (level-triggered EPOLLHUP would fire forever).
    interest: [Option<EpollFlags>; 2],
}

/// How a connection ends other than cleanly.
enum End {
    /// The connection inside could not be made: reset the client, as a
    /// closed port would.
    Refused,
    /// The client reset or stopped reading: reset the server too.
    ClientGone,
}

struct Relay {
    epoll: Epoll,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Slots freed during the current batch of events.
    freed: Vec<usize>,
    pipe_bytes: usize,
}

/// Close `sock` with a reset (SO_LINGER 0) rather than an end of file.
fn reset(sock: &TcpStream) {
    let _ = nix::sys::socket::setsockopt(
        sock,
        nix::sys::socket::sockopt::Linger,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
}

/// Settings for both sockets of a connection.
fn tune(sock: &TcpStream) {
    // Like Go's net package (rootlessport): a relay must not add Nagle's
    // delay to interactive traffic.
    let _ = sock.set_nodelay(true);
    // Urgent data stays in the stream, where `copy_one_byte` passes it on,
    // instead of being dropped.
    let _ = nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::OobInline, &true);
}

impl Relay {
    /// Accept every pending connection; Err when accepting fails for want
    /// of descriptors or memory.
    fn accept_all(&mut self, l: &TcpListener, target: SocketAddr) -> Result<(), ()> {
        loop {
            let client = match l.accept() {
                Ok((c, _)) => c,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                // accept(2): these concern one client only.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO)
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    eprintln!("port forwarder: accept on {target}: {e}");
                    return Err(());
                }
            };
            if let Err(e) = self.open(client, target) {
                eprintln!("port forwarder: connecting to {target}: {e}");
                if matches!(e, Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM) {
                    return Err(());
                }
            }
        }
    }

    /// Start connecting to `target` on behalf of `client`.
    fn open(&mut self, client: TcpStream, target: SocketAddr) -> Result<(), Errno> {
        let server =
            crate::sys::net::connect_nonblocking(target).inspect_err(|_| reset(&client))?;
        let _ = client.set_nonblocking(true);
        tune(&client);
        tune(&server);
        let slot = self.free.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let out = EpollFlags::EPOLLOUT;
        self.epoll
            .add(
                &client,
                EpollEvent::new(EpollFlags::empty(), token(slot, CLIENT)),
            )
            .and_then(|()| {
                self.epoll
                    .add(&server, EpollEvent::new(out, token(slot, SERVER)))
            })
            .inspect_err(|_| {
                reset(&client);
                self.free.push(slot);
            })?;
        self.conns[slot] = Some(Conn {
            client,
            server,
            up: None,
            down: None,
            interest: [Some(EpollFlags::empty()), Some(out)],
        });
        Ok(())
    }

    fn handle(&mut self, slot: usize, on_server: bool, events: EpollFlags) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        let hung_up = events.intersects(EpollFlags::EPOLLHUP | EpollFlags::EPOLLERR);
        let alive = match progress(c, on_server, hung_up, self.pipe_bytes) {
            Ok(open) => open,
            Err(End::Refused) => {
                reset(&c.client);
                false
            }
            Err(End::ClientGone) => {
                reset(&c.server);
                false
            }
        };
        if !alive {
            self.conns[slot] = None;
            self.freed.push(slot);
            return;
        }
        let wants = c.wants();
        for (i, sock) in [&c.client, &c.server].into_iter().enumerate() {
            let drop_it = hung_up && (i == 1) == on_server;
            match (c.interest[i], drop_it) {
                (None, _) => {}
                (Some(_), true) => {
                    let _ = self.epoll.delete(sock);
                    c.interest[i] = None;
                }
                (Some(old), false) if old != wants[i] => {
                    let mut ev = EpollEvent::new(wants[i], token(slot, i as u64 + 1));
                    let _ = self.epoll.modify(sock, &mut ev);
                    c.interest[i] = Some(wants[i]);
                }
                _ => {}
            }
        }
    }
}

/// Advance `c` after an event; Ok(false) once both directions finished.
fn progress(c: &mut Conn, on_server: bool, hung_up: bool, pipe_bytes: usize) -> Result<bool, End> {
    if c.up.is_none() {
        if !on_server {
            return Ok(true);
        }
        if !matches!(c.server.take_error(), Ok(None)) || c.server.peer_addr().is_err() {
            return Err(End::Refused);
        }
        c.up = Some(Half::new(pipe_bytes).map_err(|_| End::Refused)?);
        c.down = Some(Half::new(pipe_bytes).map_err(|_| End::Refused)?);
    }
    let (Some(up), Some(down)) = (&mut c.up, &mut c.down) else {
        return Err(End::Refused);
    };
    // A socket whose event says it hung up leaves the epoll set after this
    // call, so this pump must read it to the end.
    let client_hung_up = hung_up && !on_server;
    let server_hung_up = hung_up && on_server;
    let client_polled = c.interest[0].is_some() && !client_hung_up;
    let server_polled = c.interest[1].is_some() && !server_hung_up;
    if client_hung_up && !matches!(c.client.take_error(), Ok(None)) {
        return Err(End::ClientGone);
    }
    let mut server_failed = server_hung_up && !matches!(c.server.take_error(), Ok(None));
    match up.pump(&c.client, &c.server, client_polled) {
        Ok(()) => {}
        Err(Fault::Read) => return Err(End::ClientGone),
        Err(Fault::Write) => server_failed = true,
    }
    if server_failed {
        // The server takes no more; what it sent before still reaches the
        // client, then an end of file (as Go's io.Copy proxies do).
        up.abandon();
    }
    match down.pump(&c.server, &c.client, server_polled) {
        Ok(()) => {}
        Err(Fault::Write) => return Err(End::ClientGone),
        Err(Fault::Read) => {
            up.abandon();
            down.eof = true;
            down.full = false;
            if down.pump(&c.server, &c.client, false).is_err() {
                return Err(End::ClientGone);
            }
        }
    }
    Ok(!(up.shut && down.shut))
}

impl Conn {
    /// What each socket should be polled for now: [client, server].
    fn wants(&self) -> [EpollFlags; 2] {
        let (Some(up), Some(down)) = (&self.up, &self.down) else {
            return [EpollFlags::empty(), EpollFlags::EPOLLOUT];
        };
        let side = |reads: &Half, writes: &Half| {
            let mut f = EpollFlags::empty();
            if reads.wants_read() {
                f |= EpollFlags::EPOLLIN;
            }
            if writes.buffered > 0 {
                f |= EpollFlags::EPOLLOUT;
            }
            f
        };
        [side(up, down), side(down, up)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    fn start(target: SocketAddr) -> SocketAddr {
        start_with(target, PIPE_BYTES)
    }

    fn start_with(target: SocketAddr, pipe_bytes: usize) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || relay(vec![(l, target)], pipe_bytes));
        addr
    }

    #[test]
    fn routes_cover_tcp_ranges_only() {
        let m = |proto, range| PortMapping {
            host_ip: "127.0.0.1".parse().unwrap(),
            host_port: 8080,
            container_port: 80,
            protocol: proto,
            range,
        };
        let r = routes(
            &[m(Protocol::Tcp, 2), m(Protocol::Udp, 1)],
            "10.0.2.100".parse().unwrap(),
        );
        let args: Vec<String> = r.iter().map(Route::arg).collect();
        assert_eq!(
            args,
            [
                "127.0.0.1:8080=10.0.2.100:80",
                "127.0.0.1:8081=10.0.2.100:81"
            ]
        );
        assert_eq!(Route::parse(&args[1]).unwrap(), r[1]);
        let v6 = Route::parse("[::1]:8080=10.0.2.100:80").unwrap();
        assert_eq!(v6.listen, "[::1]:8080".parse().unwrap());
        assert!(Route::parse("127.0.0.1:8080")
            .unwrap_err()
            .to_string()
            .contains("LISTEN=TARGET"));
        assert!(Route::parse("x=10.0.2.100:80")
            .unwrap_err()
            .to_string()
            .contains("\"x\""));
    }

    #[test]
    fn serve_reports_a_busy_port_and_a_missing_namespace() {
        let none = Path::new("/nonexistent/ns/user");
        let busy = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = busy.local_addr().unwrap();
        let e = serve(none, none, &[format!("{addr}=10.0.2.100:80")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("cannot listen on {addr}: ")), "{e}");
        drop(busy);
        let e = serve(none, none, &[format!("{addr}=10.0.2.100:80")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/ns/user"), "{e}");
        let e = serve(none, none, &["80".to_string()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("LISTEN=TARGET"), "{e}");
    }

    #[test]
    fn bytes_pass_both_ways_intact_with_half_close() {
        // The server reads everything, then answers with a digest-like
        // transformation of it, so loss, reordering or an early close shows.
        let server = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server.local_addr().unwrap();
        let answer = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            let back: Vec<u8> = got.iter().rev().map(|b| b.wrapping_add(1)).collect();
            s.write_all(&back).unwrap();
            got.len()
        });
        let data: Vec<u8> = (0..24u32 << 20).map(|i| (i * 7 + i / 4093) as u8).collect();
        let mut c = TcpStream::connect(start(target)).unwrap();
        let writer = {
            let mut c = c.try_clone().unwrap();
            let data = data.clone();
            std::thread::spawn(move || {
                c.write_all(&data).unwrap();
                c.shutdown(Shutdown::Write).unwrap();
            })
        };
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        writer.join().unwrap();
        assert_eq!(answer.join().unwrap(), data.len());
        let want: Vec<u8> = data.iter().rev().map(|b| b.wrapping_add(1)).collect();
        assert!(
            back == want,
            "{} bytes back, want {}",
            back.len(),
            want.len()
        );
    }

    /// A connected pair on loopback: (the relay's end, non-blocking; the
    /// peer's end). The relay's end can hold 200 KiB unread.
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let _ = nix::sys::socket::setsockopt(&l, nix::sys::socket::sockopt::RcvBuf, &(1 << 20));
        let peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mine, _) = l.accept().unwrap();
        mine.set_nonblocking(true).unwrap();
        (mine, peer)
    }

    fn wait_for(sock: &TcpStream, what: nix::poll::PollFlags) {
        use nix::poll::{poll, PollFd, PollTimeout};
        let mut fds = [PollFd::new(sock.as_fd(), what)];
        assert_eq!(poll(&mut fds, PollTimeout::from(5000u16)).unwrap(), 1);
    }

    fn conn(client: TcpStream, server: TcpStream, pipe_bytes: usize) -> Conn {
        Conn {
            client,
            server,
            up: Some(Half::new(pipe_bytes).unwrap()),
            down: Some(Half::new(pipe_bytes).unwrap()),
            interest: [Some(EpollFlags::EPOLLIN), Some(EpollFlags::EPOLLIN)],
        }
    }

    #[test]
    fn a_hung_up_server_is_read_to_the_end_before_it_leaves_the_poll_set() {
        // The client's end of file was passed on, and the server answered
        // 160 KiB and closed: its hang-up event is the last it will get,
        // so that one call must relay all of it through a one-page pipe.
        let (cl, cp) = pair();
        let (sv, mut sp) = pair();
        let _ = nix::sys::socket::setsockopt(&cl, nix::sys::socket::sockopt::SndBuf, &(1 << 20));
        let reader = std::thread::spawn(move || {
            let mut cp = cp;
            let mut got = Vec::new();
            cp.read_to_end(&mut got).map(|_| got)
        });
        let answer: Vec<u8> = (0..160u32 << 10).map(|i| (i % 251) as u8).collect();
        sp.write_all(&answer).unwrap();
        drop(sp);
        sv.shutdown(Shutdown::Write).unwrap();
        wait_for(&sv, nix::poll::PollFlags::from_bits_retain(libc::POLLRDHUP));
        let mut c = conn(cl, sv, 4096);
        c.up.as_mut().unwrap().abandon();
        assert!(matches!(progress(&mut c, true, true, 4096), Ok(false)));
        drop(c);
        assert!(reader.join().unwrap().unwrap() == answer);
    }

    #[test]
    fn a_servers_answer_before_its_reset_reaches_the_client() {
        // Like an HTTP server answering 413 to an upload it will not read:
        // it answers, then closes with data unread, which resets.
        let (cl, mut cp) = pair();
        let (sv, mut sp) = pair();
        (&sv).write_all(b"upload").unwrap();
        wait_for(&sp, nix::poll::PollFlags::POLLIN);
        sp.write_all(b"HTTP/1.0 413 Too Large\r\n\r\n").unwrap();
        drop(sp);
        wait_for(&sv, nix::poll::PollFlags::POLLHUP);
        // More of the upload arrives from the client; writing it fails.
        cp.write_all(b" continues").unwrap();
        wait_for(&cl, nix::poll::PollFlags::POLLIN);
        let mut c = conn(cl, sv, PIPE_BYTES);
        assert!(matches!(
            progress(&mut c, false, false, PIPE_BYTES),
            Ok(false)
        ));
        drop(c);
        let mut answer = Vec::new();
        cp.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"HTTP/1.0 413 Too Large\r\n\r\n");
    }

    #[test]
    fn urgent_data_passes_inline_without_stalling() {
        use nix::sys::socket::{send, MsgFlags};
        let server_side = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = server_side.local_addr().unwrap();
        let got = std::thread::spawn(move || {
            let (mut s, _) = server_side.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut got = Vec::new();
            let r = s.read_to_end(&mut got);
            (r.is_ok(), got)
        });
        let mut c = TcpStream::connect(start(target)).unwrap();
        c.write_all(b"abc").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        send(c.as_raw_fd(), b"X", MsgFlags::MSG_OOB).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.write_all(b"def").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let (ok, got) = got.join().unwrap();
        assert!(ok, "the relay stalled at the urgent byte: {got:?}");
        assert_eq!(got, b"abcXdef");
    }

    #[test]
    fn many_connections_at_once_and_a_refused_target() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in echo.incoming() {
                let mut s = s.unwrap();
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    std::io::copy(&mut r, &mut s).unwrap();
                });
            }
        });
        let front = start(target);
        let clients: Vec<_> = (0..40u8)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut c = TcpStream::connect(front).unwrap();
                    let msg = vec![i; 100_000];
                    c.write_all(&msg).unwrap();
                    c.shutdown(Shutdown::Write).unwrap();
                    let mut got = Vec::new();
                    c.read_to_end(&mut got).unwrap();
                    got == msg
                })
            })
            .collect();
        assert!(clients.into_iter().all(|t| t.join().unwrap()));

        // Nothing listens at the target: the client is reset, as by a
        // closed port, not left hanging or given a clean end of file.
        let gone = TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = gone.local_addr().unwrap();
        drop(gone);
        let mut c = TcpStream::connect(start(dead)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        let r = c.read(&mut b);
        assert!(
            matches!(&r, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{r:?}"
        );
    }
}
