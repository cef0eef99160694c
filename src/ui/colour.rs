//! Colour: only on a terminal, never with `NO_COLOR` set to anything but the
//! empty string (no-color.org) nor with `TERM=dumb`. The decision only; what
//! is coloured is up to the caller.

use std::ffi::OsStr;
use std::io::IsTerminal;

/// Whether text for a stream may be coloured, given whether the stream is a
/// terminal and the `NO_COLOR` and `TERM` variables.
pub fn enabled(terminal: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> bool {
    terminal && no_color.map_or(true, |v| v.is_empty()) && term != Some(OsStr::new("dumb"))
}

/// Whether stderr may be coloured now.
pub fn stderr() -> bool {
    enabled(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
        std::env::var_os("TERM").as_deref(),
    )
}

/// `text` in the SGR style `sgr` (e.g. `1;31`, bold red) when `on`.
pub fn paint(on: bool, sgr: &str, text: &str) -> String {
    if on {
        format!("\x1b[{sgr}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_on_a_terminal_and_never_with_no_color() {
        let s = |v: &'static str| Some(OsStr::new(v));
        assert!(enabled(true, None, s("xterm")));
        assert!(!enabled(false, None, s("xterm")));
        assert!(!enabled(true, s("1"), s("xterm")));
        assert!(
            enabled(true, s(""), None),
            "an empty NO_COLOR does not count"
        );
        assert!(!enabled(true, None, s("dumb")));
        assert_eq!(paint(false, "1;31", "x"), "x");
        assert_eq!(paint(true, "1;31", "x"), "\x1b[1;31mx\x1b[0m");
    }
}
