//! Docker's detach keys on a terminal: `run -it` that detaches and leaves
//! the container running as if started with `-dit`, and `attach` to a
//! container with a terminal (raw, byte for byte, the window size passed
//! on). The terminal is a real pty, from script(1).

use crate::common::{eventually, for_each_user, hutch_bin, World};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

/// A hutch command line run on a pty of its own, typed into and read from.
struct Term {
    child: Child,
    input: ChildStdin,
    output: ChildStdout,
    /// Everything read so far (carriage returns dropped).
    seen: String,
    /// Where in `seen` the last `expect` found its marker's end: output
    /// after it (read in the same chunk) counts for the next `expect`.
    matched: usize,
}

impl Term {
    /// Run shell command line `cmdline` (`HUTCH` stands for hutch with the
    /// world's root) under script(1), whose pty is its terminal.
    fn start(w: &World, cmdline: &str) -> Term {
        let hutch = format!("{} --root {}", hutch_bin().display(), w.root().display());
        let mut child = w
            .as_user("script")
            .args(["-qec", &cmdline.replace("HUTCH", &hutch), "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        Term {
            input: child.stdin.take().unwrap(),
            output: child.stdout.take().unwrap(),
            child,
            seen: String::new(),
            matched: 0,
        }
    }

    /// Read until the output after the last `expect`'s marker contains
    /// `marker`.
    fn expect(&mut self, marker: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 4096];
        loop {
            if let Some(at) = self.seen[self.matched..].find(marker) {
                self.matched += at + marker.len();
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = PollTimeout::try_from(left.as_millis() as i32).unwrap_or(PollTimeout::ZERO);
            let mut fds = [PollFd::new(self.output.as_fd(), PollFlags::POLLIN)];
            let ready = poll(&mut fds, ms).unwrap();
            assert!(ready > 0, "{marker:?} did not come; saw {:?}", self.seen);
            let n = self.output.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "{marker:?} did not come before the end; saw {:?}",
                self.seen
            );
            let text = String::from_utf8_lossy(&buf[..n]).replace('\r', "");
            self.seen.push_str(&text);
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).unwrap();
        self.input.flush().unwrap();
    }

    /// Wait for the command line's exit code; the rest of its output is
    /// read into `seen`.
    fn wait(mut self) -> (i32, String) {
        let start = Instant::now();
        let code = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "it did not end; saw {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        let _ = self.output.read_to_string(&mut rest);
        self.seen.push_str(&rest.replace('\r', ""));
        (code, std::mem::take(&mut self.seen))
    }
}

/// A test that failed half-way leaves no terminal behind: its hang-up
/// ends what runs on it.
impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pids whose parent is `pid`.
fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|st| {
                // The fields after the command name, which may hold spaces.
                let rest = st.rsplit_once(')').map_or("", |(_, r)| r);
                rest.split_whitespace().nth(1) == Some(pid.to_string().as_str())
            })
        })
        .collect()
}

/// The number `marker=` is followed by in what `t` saw.
fn number_after(t: &Term, marker: &str) -> i32 {
    let after = t.seen.split(marker).nth(1).unwrap();
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap()
}

/// Typed at a shell: prints `modes-2` when the terminal is cooked (icanon
/// and echo on), `modes-0` when raw. Its own echo never matches.
const MODES: &str = "echo modes-$(stty -a | tr ' ;' '\\n\\n' | grep -cx -e icanon -e echo)";

/// `hutch ps -a`'s line for container `name`, if it lists one.
fn ps_line(w: &World, name: &str) -> Option<String> {
    w.ok(&["ps", "-a"])
        .lines()
        .find(|l| l.split_whitespace().last() == Some(name))
        .map(str::to_string)
}

#[test]
fn run_it_detaches_and_attach_comes_back_to_its_terminal() {
    for_each_user(|w| {
        let bb = w.busybox();
        let mut t = Term::start(
            &w,
            &format!("stty rows 33 cols 77; HUTCH run -it --name d1 {bb} sh; {MODES}"),
        );
        t.expect("# ");
        t.send(b"echo one-$((0+1))\r");
        t.expect("one-1\n");
        t.send(b"\x10\x11");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        assert!(seen.contains("read escape sequence"), "{seen:?}");
        assert!(seen.contains("modes-2\n"), "{seen:?}");
        // It runs on, as if started with -dit.
        let line = ps_line(&w, "d1").unwrap();
        assert!(line.contains(" Up "), "{line}");

        // Attached again: raw (our keys reach its shell, echoed by its
        // terminal only), our window size passed on, detached again.
        let mut t = Term::start(
            &w,
            &format!("stty rows 40 cols 100; HUTCH attach d1; {MODES}"),
        );
        std::thread::sleep(Duration::from_millis(300));
        t.send(b"echo two-$((1+1)); stty size\r");
        t.expect("two-2\n40 100\n");
        // Raw: ctrl-c is a byte for the container's terminal, which
        // interrupts its command; attach stays.
        t.send(b"sleep 30\r");
        std::thread::sleep(Duration::from_millis(300));
        t.send(b"\x03");
        t.send(b"echo after-$((2+1))\r");
        t.expect("after-3\n");
        t.send(b"\x10\x11");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        assert!(seen.contains("read escape sequence"), "{seen:?}");
        assert!(seen.contains("modes-2\n"), "{seen:?}");
        assert!(ps_line(&w, "d1").unwrap().contains(" Up "));
        // Its log has what it said while nobody was attached, too.
        let logs = w.ok(&["logs", "d1"]).replace('\r', "");
        assert!(
            logs.contains("one-1\n") && logs.contains("two-2\n"),
            "{logs}"
        );

        // Ending its shell from inside: attach exits with its code.
        let mut t = Term::start(&w, &format!("HUTCH attach d1; echo code=$?; {MODES}"));
        std::thread::sleep(Duration::from_millis(300));
        t.send(b"exit 3\r");
        let (_, seen) = t.wait();
        assert!(seen.contains("code=3\n"), "{seen:?}");
        assert!(seen.contains("modes-2\n"), "{seen:?}");
        let line = ps_line(&w, "d1").unwrap();
        assert!(line.contains("Exited (3)"), "{line}");
        w.ok(&["rm", "d1"]);
    });
}

#[test]
fn a_run_it_with_init_detaches() {
    // --init's pid 1 never execs: it must not hold the logger's pipe, whose
    // end the detach waits for.
    for_each_user(|w| {
        let bb = w.busybox();
        let mut t = Term::start(&w, &format!("HUTCH run -it --init --name d6 {bb} sh"));
        t.expect("# ");
        t.send(b"\x10\x11");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        assert!(seen.contains("read escape sequence"), "{seen:?}");
        assert!(ps_line(&w, "d6").unwrap().contains(" Up "));
        w.ok(&["rm", "-f", "d6"]);
    });
}

#[test]
fn a_detached_rm_container_is_removed_once_stopped() {
    for_each_user(|w| {
        let bb = w.busybox();
        let mut t = Term::start(&w, &format!("HUTCH run -it --rm --name d2 {bb} sh"));
        t.expect("# ");
        t.send(b"\x10\x11");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        assert!(ps_line(&w, "d2").unwrap().contains(" Up "));
        // A detached --rm container keeps a log, as one run with -d does.
        w.ok(&["exec", "d2", "sh", "-c", "echo later > /proc/1/fd/1"]);
        assert!(eventually(10, || w.ok(&["logs", "d2"]).contains("later")));
        w.ok(&["stop", "-t", "1", "d2"]);
        assert!(
            eventually(10, || ps_line(&w, "d2").is_none()),
            "{:?}",
            ps_line(&w, "d2")
        );
        let dirs = std::fs::read_dir(w.root().join("containers")).unwrap();
        let left: Vec<_> = dirs
            .flatten()
            .filter(|e| e.path().join("container.json").exists())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    });
}

#[test]
fn detach_keys_can_be_changed_and_a_run_left_attached_keeps_its_exit_code_and_signals() {
    for_each_user(|w| {
        let bb = w.busybox();
        // Not detached: the command's own exit code, as without the keys.
        let cmd = format!("HUTCH run -it --rm --detach-keys ctrl-a,x {bb} sh");
        let mut t = Term::start(&w, &cmd);
        t.expect("# ");
        t.send(b"exit 5\r");
        let (code, seen) = t.wait();
        assert_eq!(code, 5, "{seen:?}");
        assert!(!seen.contains("read escape sequence"), "{seen:?}");
        // A signal sent to the hutch the shell waits on reaches pid 1.
        let script = "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done";
        let cmd = format!("echo pid=$$; exec HUTCH run -it --rm {bb} sh -c \"{script}\"");
        let mut t = Term::start(&w, &cmd);
        t.expect("ready");
        let pid: i32 = t
            .seen
            .split("pid=")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        kill(Pid::from_raw(pid), Signal::SIGTERM).unwrap();
        let (code, seen) = t.wait();
        assert_eq!(code, 42, "{seen:?}");

        let cmd = format!("HUTCH run -it --name d3 --detach-keys ctrl-a,x {bb} sh");
        let mut t = Term::start(&w, &cmd);
        t.expect("# ");
        // A lone ctrl-a goes on with the key after it: not the keys.
        t.send(b"\x01echo three\r");
        t.expect("three\n");
        t.send(b"\x01x");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        assert!(seen.contains("read escape sequence"), "{seen:?}");
        assert!(ps_line(&w, "d3").unwrap().contains(" Up "));
        // Kept with the container, as Docker keeps them: `attach` without
        // the flag detaches on them too (ctrl-p,ctrl-q now reach its shell).
        let mut t = Term::start(&w, "HUTCH attach d3");
        std::thread::sleep(Duration::from_millis(300));
        t.send(b"\x10\x11echo four\r");
        t.expect("four\n");
        t.send(b"\x01x");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        assert!(seen.contains("read escape sequence"), "{seen:?}");
        w.ok(&["stop", "-t", "1", "d3"]);
        w.ok(&["rm", "d3"]);

        // Given to `create`, they serve its `start -ai`.
        w.ok(&[
            "create",
            "-it",
            "--name",
            "d4",
            "--detach-keys",
            "ctrl-a,y",
            bb,
            "sh",
        ]);
        let mut t = Term::start(&w, "HUTCH start -ai d4");
        t.expect("# ");
        t.send(b"\x01y");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        assert!(seen.contains("read escape sequence"), "{seen:?}");
        assert!(ps_line(&w, "d4").unwrap().contains(" Up "));
        w.ok(&["stop", "-t", "1", "d4"]);
        w.ok(&["rm", "d4"]);
    });
}

#[test]
fn a_backgrounded_run_it_is_stopped_by_job_control_and_leaves_the_terminal_alone() {
    for_each_user(|w| {
        let bb = w.busybox();
        let hutch = format!("{} --root {}", hutch_bin().display(), w.root().display());
        let mut t = Term::start(&w, "PS1='$ ' exec bash --norc --noprofile -i");
        t.expect("$ ");
        t.send(
            format!("{hutch} run -it --rm --name bg1 {bb} sh -c 'sleep 2; echo do''ne' &\r")
                .as_bytes(),
        );
        t.expect("$ ");
        // It wants the terminal: stopped (SIGTTOU), not raw behind the
        // shell's back.
        t.send(b"sleep 3; jobs\r");
        t.expect("Stopped");
        t.send(format!("{MODES}\r").as_bytes());
        t.expect("modes-2\n");
        // Brought to the foreground, it runs to its end on the terminal.
        t.send(b"fg\r");
        t.expect("done\n");
        t.expect("$ ");
        t.send(format!("{MODES}; exit\r").as_bytes());
        t.expect("modes-2\n");
        assert!(eventually(10, || ps_line(&w, "bg1").is_none()));
    });
}

#[test]
fn a_sigkill_of_either_side_of_a_run_it_ends_the_run_and_cooks_the_terminal() {
    for_each_user(|w| {
        let bb = w.busybox();
        // The process the shell waits on: the container ends with it.
        let cmd = format!("echo sh=$$; HUTCH run -it --rm --name k1 {bb} sh; {MODES}");
        let mut t = Term::start(&w, &cmd);
        t.expect("# ");
        let sh = number_after(&t, "sh=");
        let parent = children_of(sh)[0];
        assert_eq!(children_of(parent).len(), 1, "{:?}", children_of(parent));
        kill(Pid::from_raw(parent), Signal::SIGKILL).unwrap();
        let (_, seen) = t.wait();
        assert!(seen.contains("modes-"), "{seen:?}");
        // Its pid 1 died with its supervisor, which had no time to
        // remove it: listed as exited (as any `run --rm` SIGKILLed).
        let gone = || ps_line(&w, "k1").is_none_or(|l| l.contains("Exited"));
        assert!(eventually(10, gone), "{:?}", ps_line(&w, "k1"));
        let _ = w.run(&["rm", "k1"]);

        // The child that runs the container: the parent exits 137 and
        // puts the terminal back.
        let cmd =
            format!("echo sh=$$; HUTCH run -it --rm --name k2 {bb} sh; echo code=$?; {MODES}");
        let mut t = Term::start(&w, &cmd);
        t.expect("# ");
        let sh = number_after(&t, "sh=");
        let parent = children_of(sh)[0];
        let child = children_of(parent)[0];
        kill(Pid::from_raw(child), Signal::SIGKILL).unwrap();
        let (_, seen) = t.wait();
        assert!(seen.contains("code=137\n"), "{seen:?}");
        assert!(seen.contains("modes-2\n"), "{seen:?}");
    });
}

#[test]
fn attach_sizes_the_terminal_of_a_container_started_detached() {
    for_each_user(|w| {
        let bb = w.busybox();
        w.ok(&["run", "-dit", "--name", "z1", bb, "sh"]);
        let mut t = Term::start(&w, "stty rows 25 cols 61; HUTCH attach z1");
        std::thread::sleep(Duration::from_millis(300));
        t.send(b"stty size\r");
        t.expect("25 61\n");
        // Its supervisor took the size it was given.
        let left = w
            .root()
            .join("containers")
            .join(w.ok(&["inspect", "-f", "{{.Id}}", "z1"]).trim());
        assert!(!left.join("winsize").exists());
        t.send(b"\x10\x11");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        w.ok(&["rm", "-f", "z1"]);
    });
}

#[test]
fn a_detached_run_keeps_its_restart_policy() {
    for_each_user(|w| {
        let bb = w.busybox();
        let cmd = format!("HUTCH run -it --restart always --name r1 {bb} sh");
        let mut t = Term::start(&w, &cmd);
        t.expect("# ");
        t.send(b"\x10\x11");
        let (code, seen) = t.wait();
        assert_eq!(code, 0, "{seen:?}");
        // Its shell ends: the child that became its supervisor starts it
        // again, as the supervisor of a `run -dit` would.
        w.ok(&["exec", "r1", "sh", "-c", "echo restarted-once > /restarted"]);
        let mut t = Term::start(&w, "HUTCH attach r1");
        std::thread::sleep(Duration::from_millis(300));
        t.send(b"exit 3\r");
        let _ = t.wait();
        let restarted = || {
            w.ok(&["inspect", "-f", "{{.RestartCount}}", "r1"]).trim() == "1"
                && ps_line(&w, "r1").is_some_and(|l| l.contains(" Up "))
                && w.run(&["exec", "r1", "cat", "/restarted"]).status.success()
        };
        assert!(eventually(10, restarted), "{:?}", ps_line(&w, "r1"));
        w.ok(&["rm", "-f", "r1"]);
    });
}
