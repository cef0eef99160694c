//! Reading a secret from the terminal with echo turned off (termios).

use anyhow::Context;
use nix::sys::termios::{self, LocalFlags, SetArg};
use std::io::{BufRead, Write};

/// Prompt on stderr and read one line from stdin without echoing it; echo is
/// restored even when reading fails.
pub fn read_password(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let old = termios::tcgetattr(&stdin).context("tcgetattr(stdin)")?;
    let mut quiet = old.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("tcsetattr(stdin, -ECHO)")?;
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &old);
    r.context("cannot read the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
