//! Reading a secret from the terminal with echo turned off (termios).

use super::{Ctx, SysError};
use nix::sys::termios::{self, LocalFlags, SetArg};
use std::io::{BufRead, Write};

/// Prompt on stderr and read one line from stdin without echoing it; echo is
/// restored even when reading fails.
pub fn read_password(prompt: &str) -> Result<String, SysError> {
    let stdin = std::io::stdin();
    let old = termios::tcgetattr(&stdin).ctx(|| "tcgetattr(stdin)".into())?;
    let mut quiet = old.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ctx(|| "tcsetattr(stdin, -ECHO)".into())?;
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &old);
    r.map_err(|e| {
        let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
        SysError::new("read(stdin) of the password", errno)
    })?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
