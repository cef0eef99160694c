//! Text → syntax tree: parser directives, comments, line continuations and
//! heredoc bodies, producing one [`Node`] per instruction with line spans.
//!
//! Owns the line-level rules of the Dockerfile reference (and buildkit's
//! quirks where the reference is silent). It must not interpret arguments;
//! `parse.rs` turns nodes into typed instructions.

use super::error::{ErrorKind, Located, Pos};
use super::heredoc::{markers_in_line, Heredoc};
use super::words::{parse_json, Json};

/// One parser directive as written (`# escape=\``).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// Lower-cased name: `syntax`, `escape` or `check`.
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// The parser directives at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape and line-continuation character: `\` (default) or `` ` ``.
    pub escape: char,
    /// `# syntax=` (the frontend image; hutch parses every file itself).
    pub syntax: Option<String>,
    /// `# check=` (build check configuration, kept for the executor).
    pub check: Option<String>,
    /// Every directive in order.
    pub all: Vec<Directive>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
            all: Vec::new(),
        }
    }
}

/// Something worth telling the user that does not stop the parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub line: usize,
    pub message: String,
}

/// One instruction's text after continuations are joined, with the source
/// position of every byte so errors can point at a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogicalLine {
    pub text: String,
    pos: Vec<Pos>,
    pub start_line: usize,
    pub end_line: usize,
}

impl LogicalLine {
    fn new(line: usize) -> Self {
        LogicalLine {
            text: String::new(),
            pos: Vec::new(),
            start_line: line,
            end_line: line,
        }
    }

    fn push(&mut self, s: &str, line: usize, first_col: usize) {
        for (n, ch) in s.chars().enumerate() {
            for _ in 0..ch.len_utf8() {
                self.pos.push(Pos::new(line, first_col + n));
            }
        }
        self.text.push_str(s);
    }

    /// The source position of byte `off` of `text`; past the end it is the
    /// column after the last character.
    pub fn pos(&self, off: usize) -> Pos {
        match self.pos.get(off) {
            Some(p) => *p,
            None => match self.pos.last() {
                Some(p) => Pos::new(p.line, p.col + 1),
                None => Pos::new(self.start_line, 1),
            },
        }
    }
}

/// An instruction line split into keyword, flags and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The keyword as written.
    pub keyword: String,
    pub keyword_off: usize,
    /// Flags as written, with quotes removed (`--from=build`).
    pub flags: Vec<(usize, String)>,
    /// The arguments, trimmed.
    pub args: String,
    pub args_off: usize,
}

impl Head {
    /// Split `text[start..]` the way buildkit's `splitCommand` does.
    pub fn split(text: &str, start: usize) -> Head {
        let rest = &text[start..];
        let kw_rel = rest.len() - rest.trim_start().len();
        let kw_off = start + kw_rel;
        let after_kw = &text[kw_off..];
        let kw_len = after_kw
            .find(|c: char| c.is_whitespace())
            .unwrap_or(after_kw.len());
        let keyword = after_kw[..kw_len].to_string();
        let (args_off, flags) = extract_flags(text, kw_off + kw_len);
        let tail = &text[args_off..];
        let lead = tail.len() - tail.trim_start().len();
        Head {
            keyword,
            keyword_off: kw_off,
            flags,
            args: tail.trim().to_string(),
            args_off: args_off + lead,
        }
    }
}

/// Read leading `--flag[=value]` words starting at byte `from`. Returns
/// where the arguments begin and the flags with their offsets. A lone `--`
/// ends the flags; quotes and `\` escapes inside a flag are removed.
fn extract_flags(text: &str, from: usize) -> (usize, Vec<(usize, String)>) {
    let chars: Vec<(usize, char)> = text[from..]
        .char_indices()
        .map(|(i, c)| (from + i, c))
        .collect();
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    let mut blank_ok = false;
    let mut quote: Option<char> = None;
    let mut in_word = false;
    let mut k = 0;
    while k < chars.len() {
        let (off, ch) = chars[k];
        k += 1;
        if !in_word {
            if ch.is_whitespace() {
                continue;
            }
            let next_is_dash = chars.get(k).map(|(_, c)| *c) == Some('-');
            if ch != '-' || !next_is_dash {
                return (off, flags);
            }
            in_word = true;
            start = off;
        }
        if let Some(q) = quote {
            if ch == q {
                quote = None;
                continue;
            }
            if ch == '\\' {
                match chars.get(k) {
                    None => {
                        quote = None;
                        continue;
                    }
                    Some((_, n)) => {
                        word.push(*n);
                        k += 1;
                        continue;
                    }
                }
            }
            word.push(ch);
            continue;
        }
        if ch.is_whitespace() {
            if word == "--" {
                return (off, flags);
            }
            if blank_ok || !word.is_empty() {
                flags.push((start, std::mem::take(&mut word)));
            }
            word.clear();
            blank_ok = false;
            in_word = false;
            continue;
        }
        if ch == '\'' || ch == '"' {
            quote = Some(ch);
            blank_ok = true;
            continue;
        }
        if ch == '\\' {
            match chars.get(k) {
                None => continue,
                Some((_, n)) => {
                    word.push(*n);
                    k += 1;
                    continue;
                }
            }
        }
        word.push(ch);
    }
    if in_word && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push((start, word));
    }
    (text.len(), flags)
}

/// One instruction from the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub line: LogicalLine,
    pub head: Head,
    pub heredocs: Vec<Heredoc>,
}

/// The whole file after lexing.
#[derive(Debug)]
pub(crate) struct Lexed {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<Warning>,
}

/// Looks for parser directives until the first line that is not one.
struct DirectiveScanner {
    done: bool,
}

impl DirectiveScanner {
    /// `line` has its leading whitespace removed. Matches
    /// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`; an unknown name is an
    /// ordinary comment and ends the directives, as does anything else.
    fn offer(&mut self, line: &str, lineno: usize, d: &mut Directives) -> Result<(), Located> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive_parts(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        let at = Pos::new(lineno, 1);
        if d.all.iter().any(|x| x.name == name) {
            return Err(Located::new(at, ErrorKind::DuplicateDirective(name)));
        }
        match name.as_str() {
            "escape" => {
                d.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => return Err(Located::new(at, ErrorKind::InvalidEscape(value.into()))),
                }
            }
            "syntax" => d.syntax = Some(value.to_string()),
            _ => d.check = Some(value.to_string()),
        }
        d.all.push(Directive {
            name,
            value: value.to_string(),
            line: lineno,
        });
        Ok(())
    }
}

fn directive_parts(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = rest[name_len..].trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((name, value))
}

/// If `s` ends with the escape character (plus spaces or tabs) that is not
/// itself escaped, the text before it and the escape's byte offset.
fn continuation(s: &str, escape: char) -> Option<(&str, usize)> {
    let t = s.trim_end_matches([' ', '\t']);
    let before = t.strip_suffix(escape)?;
    if before.ends_with(escape) {
        return None;
    }
    Some((before, before.len()))
}

fn col_of(s: &str, byte: usize) -> usize {
    s[..byte].chars().count() + 1
}

/// Whether buildkit would read heredoc bodies for this instruction: RUN,
/// COPY and ADD (also behind ONBUILD) in shell form.
fn can_contain_heredoc(line: &LogicalLine, head: &Head) -> bool {
    let mut head = head.clone();
    if head.keyword.eq_ignore_ascii_case("onbuild") {
        head = Head::split(&line.text, head.args_off);
    }
    let kw = head.keyword.to_ascii_lowercase();
    matches!(kw.as_str(), "run" | "copy" | "add")
        && matches!(parse_json(&head.args), Json::Invalid(_))
}

/// Lex `text` into directives and instruction nodes.
pub(crate) fn lex(text: &str) -> Result<Lexed, Located> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines: Vec<&str> = text.split_inclusive('\n').collect();
    if lines.is_empty() {
        lines.push("");
    }
    let strip_nl = |s: &'_ str| -> String { s.trim_end_matches(['\r', '\n']).to_string() };
    let mut directives = Directives::default();
    let mut scanner = DirectiveScanner { done: false };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let first = strip_nl(lines[i]);
        i += 1;
        let lineno = i;
        let lead = first.len() - first.trim_start().len();
        let trimmed = &first[lead..];
        scanner.offer(trimmed, lineno, &mut directives)?;
        if trimmed.starts_with('#') {
            continue;
        }
        let esc = directives.escape;
        let mut ll = LogicalLine::new(lineno);
        let first_cont = continuation(trimmed, esc);
        let first_col = col_of(&first, lead);
        match first_cont {
            Some((before, _)) => ll.push(before, lineno, first_col),
            None if trimmed.trim().is_empty() => continue,
            None => ll.push(trimmed, lineno, first_col),
        }
        let mut last_escape = first_cont.map(|(_, at)| Pos::new(lineno, col_of(&first, lead + at)));
        let mut cont = first_cont.is_some();
        let mut saw_empty = false;
        while cont {
            let Some(raw) = lines.get(i) else {
                let at = last_escape.unwrap_or(Pos::new(lineno, 1));
                return Err(Located::new(at, ErrorKind::ContinuationAtEof));
            };
            let s = strip_nl(raw);
            i += 1;
            // Comment lines inside a continuation are dropped entirely.
            if s.trim_start().starts_with('#') {
                continue;
            }
            // Blank lines are allowed but deprecated (buildkit warns).
            if s.trim().is_empty() {
                saw_empty = true;
                continue;
            }
            match continuation(&s, esc) {
                Some((before, at)) => {
                    ll.push(before, i, 1);
                    last_escape = Some(Pos::new(i, col_of(&s, at)));
                }
                None => {
                    ll.push(&s, i, 1);
                    cont = false;
                }
            }
        }
        ll.end_line = i;
        if saw_empty {
            warnings.push(Warning {
                line: ll.start_line,
                message: "empty continuation line found (empty continuation lines will become errors in a future release)".into(),
            });
        }
        let head = Head::split(&ll.text, 0);
        let mut heredocs = Vec::new();
        if can_contain_heredoc(&ll, &head) {
            for marker in markers_in_line(&ll.text) {
                let mut content = String::new();
                let mut terminated = false;
                while let Some(raw) = lines.get(i) {
                    i += 1;
                    let body_line = raw.trim_end_matches(['\r', '\n']);
                    let candidate = if marker.chomp {
                        body_line.trim_start_matches('\t')
                    } else {
                        body_line
                    };
                    if candidate == marker.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    let off = ll
                        .text
                        .find(&format!("<<{}", if marker.chomp { "-" } else { "" }))
                        .unwrap_or(0);
                    return Err(Located::new(
                        ll.pos(off),
                        ErrorKind::UnterminatedHeredoc(marker.name),
                    ));
                }
                heredocs.push(Heredoc {
                    name: marker.name,
                    content,
                    expand: marker.expand,
                    chomp: marker.chomp,
                    fd: marker.fd,
                });
            }
            ll.end_line = i;
        }
        nodes.push(Node {
            line: ll,
            head,
            heredocs,
        });
    }
    Ok(Lexed {
        directives,
        nodes,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_lines() {
        assert_eq!(directive_parts("# escape = `"), Some(("escape", "`")));
        assert_eq!(
            directive_parts("#syntax=docker/dockerfile:1 "),
            Some(("syntax", "docker/dockerfile:1"))
        );
        assert_eq!(directive_parts("# just a comment"), None);
        assert_eq!(directive_parts("# 1x=2"), None);
        assert_eq!(directive_parts("# x="), None);
    }

    #[test]
    fn continuation_rules() {
        assert_eq!(continuation("a \\", '\\'), Some(("a ", 2)));
        assert_eq!(continuation("a\\  \t", '\\'), Some(("a", 1)));
        assert_eq!(continuation("\\", '\\'), Some(("", 0)));
        assert_eq!(continuation("a \\\\", '\\'), None);
        assert_eq!(continuation("a `", '`'), Some(("a ", 2)));
        assert_eq!(continuation("a \\", '`'), None);
    }

    #[test]
    fn flags_are_split_off() {
        let h = Head::split("COPY --from=a --chown=\"1 2\" -- --x y", 0);
        assert_eq!(h.keyword, "COPY");
        let flags: Vec<&str> = h.flags.iter().map(|(_, f)| f.as_str()).collect();
        assert_eq!(flags, ["--from=a", "--chown=1 2"]);
        assert_eq!(h.args, "--x y");
        let h = Head::split("RUN   echo --x", 0);
        assert!(h.flags.is_empty());
        assert_eq!((h.args.as_str(), h.args_off), ("echo --x", 6));
    }

    #[test]
    fn positions_follow_continuations() {
        let lexed = lex("FROM a\n  RUN x \\\n    # c\n\n  y").unwrap();
        let node = &lexed.nodes[1];
        assert_eq!(node.line.text, "RUN x   y");
        assert_eq!((node.line.start_line, node.line.end_line), (2, 5));
        assert_eq!(node.line.pos(0), Pos::new(2, 3));
        assert_eq!(node.line.pos(8), Pos::new(5, 3));
        assert_eq!(lexed.warnings.len(), 1);
    }
}
