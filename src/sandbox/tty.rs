//! Terminals for `-t`: the child opens a pty in the container's own devpts
//! (so `tty` inside names a path that exists inside) and passes the master to
//! the parent over a socket; the parent relays between its stdio and the
//! master, forwards window size changes, and keeps its own terminal in raw
//! mode only while the container runs — restored on every way out. Given
//! detach keys, the relay watches its stdin for them ([`Escape`]); once
//! typed, it restores the terminal and lets its caller move its stdio
//! elsewhere, then relays on between those.
//!
//! It does not start processes; `launch` calls into it from both sides.

use super::sync::ChildError;
use crate::sys::pty::{self, WinSize};
use crate::sys::SysError;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

/// The size of the terminal hutch runs in (stdout first, then stdin).
pub fn host_size() -> Option<WinSize> {
    pty::window_size(std::io::stdout().as_fd())
        .or_else(|| pty::window_size(std::io::stdin().as_fd()))
        .filter(|s| s.rows > 0 && s.cols > 0)
}

/// Child side, after pivot_root: open /dev/ptmx (a link into the container's
/// devpts instance), give it the host terminal's size before the command can
/// ask for it, send the master to the parent, return the slave.
pub fn open_in_child(sock: BorrowedFd<'_>, size: Option<WinSize>) -> Result<OwnedFd, ChildError> {
    let master: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open("/dev/ptmx")
        .map_err(|e| ChildError::setup(format!("cannot open /dev/ptmx: {e}")))?
        .into();
    pty::unlock(master.as_fd())?;
    pty::number(master.as_fd())?;
    if let Some(size) = size {
        pty::set_window_size(master.as_fd(), size)?;
    }
    let slave = pty::open_peer(master.as_fd())?;
    pty::send_fd(sock, master.as_fd())?;
    Ok(slave)
}

/// Puts a terminal in raw mode and restores it when dropped.
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    /// Raw mode on `fd` if it is a terminal; None otherwise.
    pub fn enter(fd: BorrowedFd<'a>) -> Option<RawMode<'a>> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, saved })
    }

    /// The modes the drop puts back, for a thread that ends the process
    /// without returning here (and so without the drop).
    pub fn saved(&self) -> Termios {
        self.saved.clone()
    }
}

/// Put back modes `RawMode::saved` returned.
pub fn restore(fd: BorrowedFd<'_>, saved: &Termios) {
    let _ = termios::tcsetattr(fd, SetArg::TCSADRAIN, saved);
}

/// Finds the detach keys in a stream, holding back what may be their start
/// (Docker does the same: a lone ctrl-p goes on only with the key after it).
pub struct Escape {
    keys: Vec<u8>,
    held: usize,
}

impl Escape {
    /// Watch for `keys` (not empty).
    pub fn new(keys: Vec<u8>) -> Escape {
        Escape { keys, held: 0 }
    }

    /// Pass `b` on: what to write now goes into `out`; true once the keys
    /// are complete.
    pub fn feed(&mut self, b: u8, out: &mut Vec<u8>) -> bool {
        if b == self.keys[self.held] {
            self.held += 1;
            return self.held == self.keys.len();
        }
        // Not the keys after all: what was held back goes on, and `b` may
        // start them again.
        out.extend_from_slice(&self.keys[..self.held]);
        self.held = 0;
        if b == self.keys[0] {
            self.held = 1;
            return self.held == self.keys.len();
        }
        out.push(b);
        false
    }

    /// Pass on `input`: what to write now, and whether the keys ended it
    /// (what followed them is dropped).
    pub fn filter(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.feed(b, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }
}

/// Detach keys for [`relay`] and what to do once they are typed: the
/// terminal is restored by then; `then` points stdin, stdout and stderr
/// elsewhere (the relay goes on between them and the container).
pub struct Detach<'a> {
    pub keys: Vec<u8>,
    pub then: &'a mut dyn FnMut(),
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, SetArg::TCSADRAIN, &self.saved);
    }
}

/// The size in file `path` ("ROWS COLS"), which is removed: each is used
/// once. None when there is none or it does not parse.
fn take_size(path: &std::path::Path) -> Option<WinSize> {
    use std::io::Read;
    let mut text = String::new();
    // O_NOCTTY: a run that detached is a session leader without a terminal,
    // which must not get one by an open.
    let read = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .and_then(|f| f.take(64).read_to_string(&mut text));
    let _ = std::fs::remove_file(path);
    read.ok()?;
    let mut n = text.split_whitespace().map(str::parse::<u16>);
    match (n.next(), n.next(), n.next()) {
        (Some(Ok(rows)), Some(Ok(cols)), None) => Some(WinSize { rows, cols }),
        _ => None,
    }
}

/// Parent side: relay until the container's pid 1 has exited and the master
/// is drained; return pid 1's wait status. `stdin` is relayed only with -i,
/// watched for `detach`'s keys when given.
///
/// On SIGWINCH the container's terminal gets this process's terminal's size
/// when the kernel sent it (the terminal was resized), else the size left
/// in `sizes` (by `hutch attach` elsewhere, which sent the signal: the
/// master is here, so no other process opens the container's terminal),
/// which is taken, else this process's terminal's size.
///
/// The forwarded signals are blocked and read from a signalfd, so SIGTERM or
/// SIGHUP to hutch never skips the terminal restore in `RawMode`'s drop.
pub fn relay(
    master: OwnedFd,
    child: Pid,
    pidfd: BorrowedFd<'_>,
    relay_stdin: bool,
    signals: &SignalFd,
    mut detach: Option<Detach<'_>>,
    sizes: Option<&std::path::Path>,
) -> Result<WaitStatus, SysError> {
    let stdin = std::io::stdin();
    let sin = stdin.as_fd();
    let mut raw = if relay_stdin {
        RawMode::enter(sin)
    } else {
        None
    };
    let mut escape = detach
        .as_ref()
        .filter(|d| !d.keys.is_empty())
        .map(|d| Escape::new(d.keys.clone()));
    let mut stdin_open = relay_stdin;
    // Once detached: the process that waited on this one, whose signals
    // (a hang-up of the terminal just left, passed on before it heard of
    // the detach) are no longer the container's.
    let mut left: Option<u32> = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut fds = vec![
            PollFd::new(pidfd, PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(sin, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                return Err(SysError::new(
                    "poll(<pidfd>, <signalfd>, <pty>, <stdin>)",
                    e,
                ))
            }
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (exited, sig_ready, master_ready, stdin_ready) =
            (ready(0), ready(1), ready(2), ready(3));
        drop(fds);
        if sig_ready {
            if let Ok(Some(info)) = signals.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGWINCH) => {
                        let size = sizes
                            .filter(|_| !crate::sys::signal::sent_by_kernel(&info))
                            .and_then(take_size)
                            .or_else(host_size);
                        if let Some(size) = size {
                            let _ = pty::set_window_size(master.as_fd(), size);
                        }
                    }
                    Ok(_) if left == Some(info.ssi_pid) => {}
                    Ok(sig) => {
                        let _ = nix::sys::signal::kill(child, sig);
                    }
                    Err(_) => {}
                }
            }
        }
        if exited {
            // pid 1 is gone, so is everything in its pid namespace: the
            // master holds the last output. Read it, then reap.
            drain(&master, &mut buf, true);
            return waitpid(child, None).map_err(|e| SysError::new(format!("waitpid({child})"), e));
        }
        if master_ready && drain(&master, &mut buf, false) {
            // Hung up: every process holding the slave has gone.
            return waitpid(child, None).map_err(|e| SysError::new(format!("waitpid({child})"), e));
        }
        if stdin_ready {
            match nix::unistd::read(sin.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let filtered;
                    let (out, detached): (&[u8], bool) = match escape.as_mut() {
                        Some(e) => {
                            filtered = e.filter(&buf[..n]);
                            (&filtered.0, filtered.1)
                        }
                        None => (&buf[..n], false),
                    };
                    if write_all(master.as_fd(), out).is_err() {
                        stdin_open = false;
                    }
                    if detached {
                        // The terminal first, so that whatever `then` makes
                        // the user see comes out right.
                        drop(raw.take());
                        escape = None;
                        left = u32::try_from(nix::unistd::getppid().as_raw()).ok();
                        if let Some(d) = detach.take() {
                            (d.then)();
                        }
                    }
                }
            }
        }
    }
}

/// Copy what the master has to stdout. With `until_eof`, keep reading until
/// the master reports EIO/EOF; otherwise read once. True when the master is
/// finished (EIO or EOF).
fn drain(master: &OwnedFd, buf: &mut [u8], until_eof: bool) -> bool {
    let mut out = std::io::stdout().lock();
    loop {
        if until_eof {
            // Do not block on a master whose slave is still held somewhere.
            let mut p = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
            if !matches!(poll(&mut p, PollTimeout::ZERO), Ok(n) if n > 0) {
                return true;
            }
        }
        match nix::unistd::read(master.as_raw_fd(), buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
            Ok(n) => {
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
                if !until_eof {
                    return false;
                }
            }
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> Result<(), nix::errno::Errno> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escape_holds_back_a_partial_sequence_and_passes_it_on_after() {
        let run = |keys: &[u8], input: &[u8]| {
            let mut e = Escape::new(keys.to_vec());
            let mut out = Vec::new();
            let done = input.iter().position(|&b| e.feed(b, &mut out));
            (out, done)
        };
        assert_eq!(run(&[16, 17], b"ab\x10\x11cd"), (b"ab".to_vec(), Some(3)));
        assert_eq!(
            run(&[16, 17], b"a\x10b\x10\x10\x11"),
            (b"a\x10b\x10".to_vec(), Some(5))
        );
        assert_eq!(run(&[16, 17], b"\x10"), (Vec::new(), None));
        assert_eq!(run(b"q", b"xyq"), (b"xy".to_vec(), Some(2)));
    }

    #[test]
    fn filter_drops_what_follows_the_keys() {
        let mut e = Escape::new(vec![1, b'x']);
        assert_eq!(e.filter(b"ab\x01"), (b"ab".to_vec(), false));
        assert_eq!(e.filter(b"\x01y"), (b"\x01\x01y".to_vec(), false));
        assert_eq!(e.filter(b"z\x01xtail"), (b"z".to_vec(), true));
    }
}
