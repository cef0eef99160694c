//! Errors as a chain of causes: `Context` is a message over the error that
//! caused it (what `.context(...)` builds inside the store, registry, build
//! and snapshot modules, each of which wraps it in its own error enum), and
//! [`line`] shows a whole chain on one line, outermost first, as the CLI does.
//! It knows no module's errors and never prints.

use std::fmt::Display;

/// Any error that may cross a thread, as the cause of another.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A message saying what was being done (naming the path, blob, layer or
/// instruction), over the error that stopped it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Context {
    message: String,
    #[source]
    source: Option<Cause>,
}

impl Context {
    /// A failure found by hutch itself, with no error below it.
    pub fn msg(message: impl Display) -> Self {
        Context {
            message: message.to_string(),
            source: None,
        }
    }

    pub fn new(message: impl Display, source: impl Into<Cause>) -> Self {
        Context {
            message: message.to_string(),
            source: Some(source.into()),
        }
    }
}

/// `.context(...)` and `.with_context(|| ...)` for results and options.
pub trait WithContext<T> {
    fn context<C: Display>(self, message: C) -> Result<T, Context>;
    fn with_context<C: Display, F: FnOnce() -> C>(self, message: F) -> Result<T, Context>;
}

impl<T, E: Into<Cause>> WithContext<T> for Result<T, E> {
    fn context<C: Display>(self, message: C) -> Result<T, Context> {
        self.map_err(|e| Context::new(message, e))
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, message: F) -> Result<T, Context> {
        self.map_err(|e| Context::new(message(), e))
    }
}

impl<T> WithContext<T> for Option<T> {
    fn context<C: Display>(self, message: C) -> Result<T, Context> {
        self.ok_or_else(|| Context::msg(message))
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, message: F) -> Result<T, Context> {
        self.ok_or_else(|| Context::msg(message()))
    }
}

/// An error and every cause below it, joined by ": " (a cause whose text the
/// line already shows is not repeated: an error may name its cause in its
/// message and still give it as its `source`).
pub fn line(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        let text = c.to_string();
        if !shows(&out, &text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = c.source();
    }
    out
}

/// Whether `line` already shows `cause` as a cause rather than by chance:
/// it ends the line (after a word boundary), or stands after ": " or "("
/// and before the end, ";", ")", ":" or " (" (a hint after it). A short
/// cause ("exited") that merely occurs inside an outer message is still
/// shown.
fn shows(line: &str, cause: &str) -> bool {
    if cause.is_empty() {
        return true;
    }
    let word_before = |at: usize| !matches!(line[..at].chars().next_back(), Some(c) if c.is_alphanumeric() || c == '_');
    if line.ends_with(cause) && word_before(line.len() - cause.len()) {
        return true;
    }
    line.match_indices(cause).any(|(at, _)| {
        let before = &line[..at];
        let after = &line[at + cause.len()..];
        (before.ends_with(": ") || before.ends_with('('))
            && (after.is_empty() || after.starts_with([';', ')', ':']) || after.starts_with(" ("))
    })
}

/// Return early with a [`Context`] made from a format string, converted into
/// the function's error type.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::chain::Context::msg(format!($($arg)*)).into())
    };
}

/// [`bail!`] unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::chain::bail!($($arg)*);
        }
    };
}

/// A [`Context`] with no cause, from a format string.
macro_rules! msg {
    ($($arg:tt)*) => {
        $crate::chain::Context::msg(format!($($arg)*))
    };
}

pub(crate) use {bail, ensure, msg};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_reads_outermost_first_without_repeats() {
        let io = std::io::Error::other("disk full");
        let e: Result<(), _> = Err(io);
        let e = e.context("cannot write /x").unwrap_err();
        assert_eq!(line(&e), "cannot write /x: disk full");
        let none: Option<u8> = None;
        assert_eq!(line(&none.context("gone").unwrap_err()), "gone");
        let repeated = Context::new("cannot read a: boom", std::io::Error::other("boom"));
        assert_eq!(line(&repeated), "cannot read a: boom");
        let inside = Context::new("cannot read a (boom); retry", std::io::Error::other("boom"));
        assert_eq!(line(&inside), "cannot read a (boom); retry");
        let advised = Context::new(
            "container c is stopped (no overlay): start it, then copy",
            std::io::Error::other("no overlay"),
        );
        assert_eq!(
            line(&advised),
            "container c is stopped (no overlay): start it, then copy"
        );
        let named = Context::new(
            "cannot open b: denied; giving up",
            std::io::Error::other("denied"),
        );
        assert_eq!(line(&named), "cannot open b: denied; giving up");
        let hinted = Context::new(
            "no driver: denied (run `hutch info`)",
            std::io::Error::other("denied"),
        );
        assert_eq!(line(&hinted), "no driver: denied (run `hutch info`)");
    }

    #[test]
    fn a_cause_that_only_occurs_inside_the_message_is_still_shown() {
        let e = Context::new(
            "helper exited before it was ready",
            std::io::Error::other("exited"),
        );
        assert_eq!(line(&e), "helper exited before it was ready: exited");
        let e = Context::new(
            "Permission denied (os error 13) on /a, retried /b",
            std::io::Error::from_raw_os_error(13),
        );
        assert_eq!(
            line(&e),
            "Permission denied (os error 13) on /a, retried /b: Permission denied (os error 13)"
        );
        let e = Context::new("the job was rebooted", std::io::Error::other("booted"));
        assert_eq!(line(&e), "the job was rebooted: booted");
    }
}
