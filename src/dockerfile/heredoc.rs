//! Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`) and the bodies
//! attached to RUN, COPY and ADD.
//!
//! Owns recognising a marker word and what a body means once read. It must
//! not read lines; the lexer collects bodies.

use std::borrow::Cow;

use super::expand::{Lexer, NoVars};

/// A heredoc attached to an instruction, in the order its marker appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word with quotes removed (`EOF`).
    pub name: String,
    /// The lines between the marker line and the delimiter, each ending in
    /// a newline, exactly as written (see [`Heredoc::body`]).
    pub content: String,
    /// False when any part of the delimiter was quoted: then the body is
    /// used literally, without variable expansion.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from every body line and from the
    /// delimiter line.
    pub chomp: bool,
    /// A file descriptor written before the marker (`3<<EOF`).
    pub fd: Option<u32>,
}

impl Heredoc {
    /// The body as the program sees it: leading tabs stripped for `<<-`.
    pub fn body(&self) -> Cow<'_, str> {
        if !self.chomp {
            return Cow::Borrowed(&self.content);
        }
        let mut out = String::with_capacity(self.content.len());
        for line in self.content.split_inclusive('\n') {
            out.push_str(line.trim_start_matches('\t'));
        }
        Cow::Owned(out)
    }
}

/// What a marker word says, before the body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
    pub fd: Option<u32>,
}

/// Recognise `^(\d*)<<(-?)\s*([^<]*)$` where the last part lexes to exactly
/// one word. Quotes anywhere in the word turn expansion off.
pub(crate) fn parse_marker(word: &str) -> Option<Marker> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (fd, rest) = word.split_at(digits);
    let rest = rest.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // Blanks may separate the operator from the word (`<< EOF`).
    let rest = rest.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let mut lx = Lexer::new('\\');
    lx.skip_unset = true;
    let cooked = lx.process(rest, &NoVars).ok()?.words;
    lx.raw_quotes = true;
    let raw = lx.process(rest, &NoVars).ok()?.words;
    if cooked.len() != 1 || raw.len() != 1 {
        return None;
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Some(Marker {
        expand: quotes(&cooked[0]) == quotes(&raw[0]),
        name: cooked.into_iter().next()?,
        chomp,
        fd: if fd.is_empty() { None } else { fd.parse().ok() },
    })
}

/// Every marker on an instruction line, in order. The line is split into
/// words by the shell rules first, so a quoted `"<<EOF"` is not a marker; a
/// line that does not lex has none, as in buildkit.
pub(crate) fn markers_in_line(line: &str) -> Vec<Marker> {
    let mut lx = Lexer::new('\\');
    lx.raw_quotes = true;
    lx.raw_escapes = true;
    lx.skip_unset = true;
    match lx.process(line, &NoVars) {
        Ok(out) => out.words.iter().filter_map(|w| parse_marker(w)).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let m = parse_marker("<<EOF").unwrap();
        assert_eq!(
            (m.name.as_str(), m.expand, m.chomp, m.fd),
            ("EOF", true, false, None)
        );
        let m = parse_marker("<<-\"END\"").unwrap();
        assert_eq!((m.name.as_str(), m.expand, m.chomp), ("END", false, true));
        let m = parse_marker("<<'E'OF").unwrap();
        assert_eq!((m.name.as_str(), m.expand), ("EOF", false));
        let m = parse_marker("3<<FILE").unwrap();
        assert_eq!(m.fd, Some(3));
        assert_eq!(
            parse_marker("<< EOF").map(|m| m.name).as_deref(),
            Some("EOF")
        );
        assert_eq!(parse_marker("<<- EOF").map(|m| m.chomp), Some(true));
        assert_eq!(
            parse_marker("<< -EOF").map(|m| m.name).as_deref(),
            Some("-EOF")
        );
        assert_eq!(
            parse_marker("<<EO\"F\"").map(|m| (m.name, m.expand)),
            Some(("EOF".into(), false))
        );
        assert_eq!(parse_marker("<<EOF sh"), None);
        assert_eq!(parse_marker("<<-"), None);
        assert_eq!(parse_marker("<EOF"), None);
        assert_eq!(parse_marker("<<"), None);
        assert_eq!(parse_marker("<<<EOF"), None);
        assert_eq!(parse_marker("a<<EOF"), None);
        assert_eq!(parse_marker("<<'EOF"), None);
    }

    #[test]
    fn markers_on_a_line() {
        let names: Vec<String> = markers_in_line("COPY <<one \"<<two\" <<-three /dst")
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["one", "three"]);
        assert!(markers_in_line("RUN echo 'x <<EOF").is_empty());
    }

    #[test]
    fn chomped_body() {
        let h = Heredoc {
            name: "EOF".into(),
            content: "\t\techo a\n\tb\t\n".into(),
            expand: true,
            chomp: true,
            fd: None,
        };
        assert_eq!(h.body(), "echo a\nb\t\n");
    }
}
