//! The printer: one place that decides what reaches the terminal.
//!
//! Library code reports through `crate::report::Report`, which [`Printer`]
//! implements; library code never writes to stdout/stderr itself. Results meant for scripts (ids, tables, JSON)
//! go to stdout; everything for humans goes to stderr.

pub mod colour;
pub mod progress;

use std::io::Write;

/// How chatty stderr is (`--log-level`): each level shows itself and
/// everything more severe. `Warn` is the quiet mode of `-q` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

crate::named::named!(LogLevel, "log level", {
    Debug => "debug",
    Info => "info",
    Warn => "warn",
    Error => "error",
});

/// Routes messages by kind and level.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub level: LogLevel,
}

impl Printer {
    pub fn new(level: LogLevel) -> Self {
        Printer { level }
    }

    /// Whether messages of `level` are shown.
    pub fn shows(&self, level: LogLevel) -> bool {
        level <= self.level
    }

    /// A result line for stdout (printed even in quiet mode).
    pub fn out(&self, line: &str) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{line}");
    }

    /// A table on stdout in podman's layout: columns left-aligned to their
    /// widest cell (in characters) and separated by `gap` spaces, the header
    /// row first when there is one.
    pub fn table<const N: usize>(&self, head: Option<[&str; N]>, rows: &[[String; N]], gap: usize) {
        let head = head.map(|h| h.map(String::from));
        let mut widths = [0usize; N];
        for r in head.iter().chain(rows) {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let sep = " ".repeat(gap);
        for r in head.iter().chain(rows) {
            let cells: Vec<String> = r
                .iter()
                .zip(widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            self.out(cells.join(&sep).trim_end());
        }
    }

    /// Progress for humans, on stderr; silent in quiet mode.
    pub fn info(&self, line: &str) {
        if self.shows(LogLevel::Info) {
            eprintln!("{line}");
        }
    }

    /// Detail only shown with `--log-level debug`.
    pub fn debug(&self, line: &str) {
        if self.shows(LogLevel::Debug) {
            eprintln!("debug: {line}");
        }
    }

    /// Something the user should know even when things went on; hidden
    /// only at `--log-level error`.
    pub fn warn(&self, line: &str) {
        if self.shows(LogLevel::Warn) {
            eprintln!("warning: {line}");
        }
    }
}

impl Default for Printer {
    fn default() -> Self {
        Printer::new(LogLevel::Info)
    }
}

impl crate::report::Report for Printer {
    fn info(&self, line: &str) {
        Printer::info(self, line)
    }

    fn debug(&self, line: &str) {
        Printer::debug(self, line)
    }

    fn warn(&self, line: &str) {
        Printer::warn(self, line)
    }

    fn quiet(&self) -> bool {
        !self.shows(LogLevel::Info)
    }

    fn debugging(&self) -> bool {
        self.shows(LogLevel::Debug)
    }
}
