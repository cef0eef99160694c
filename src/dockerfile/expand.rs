//! Variable expansion with the Dockerfile's word rules: `$x`, `${x}`,
//! `${x:-w}`, `${x:+w}`, `${x-w}`, `${x+w}`, `${x:?w}`, `${x?w}`, the
//! pattern forms `${x#p}`, `${x##p}`, `${x%p}`, `${x%%p}`, `${x/p/r}`,
//! `${x//p/r}`, quotes and the active escape character, as buildkit's shell
//! lexer does it.
//!
//! Owns the word lexer and the [`Lookup`] trait. It must not decide which
//! instructions are expanded; `instruction.rs` does that.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

use thiserror::Error;

/// Where expansion reads variables from. `None` means unset, which differs
/// from set-but-empty for `${x-w}` and `${x+w}`.
pub trait Lookup {
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Lookup for HashMap<String, String, S> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Lookup for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl<L: Lookup + ?Sized> Lookup for &L {
    fn lookup(&self, name: &str) -> Option<&str> {
        (**self).lookup(name)
    }
}

/// A lookup with nothing set; used to find which variables a word refers to.
pub struct NoVars;

impl Lookup for NoVars {
    fn lookup(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExpandError {
    #[error("unexpected end of statement while looking for matching single-quote in '{0}'")]
    UnterminatedSingleQuote(String),
    #[error("unexpected end of statement while looking for matching double-quote in '{0}'")]
    UnterminatedDoubleQuote(String),
    #[error("syntax error: missing '}}' in '{0}'")]
    MissingBrace(String),
    #[error("syntax error: bad substitution in '{0}'")]
    BadSubstitution(String),
    #[error("unsupported modifier ({modifier}) in substitution in '{word}'")]
    UnsupportedModifier { modifier: String, word: String },
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("substitutions nested more than {MAX_DEPTH} deep in '{0}'")]
    TooDeep(String),
}

/// How deeply `${a:-${b:-...}}` may nest; bounds the recursion on
/// untrusted input.
const MAX_DEPTH: usize = 64;

/// Options of the lexer; the defaults are the ones instructions use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer {
    pub escape: char,
    /// Keep quote characters in the output (heredoc detection needs them).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
    /// Treat quotes as ordinary characters (heredoc bodies).
    pub skip_quotes: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
            skip_quotes: false,
        }
    }
}

/// The result of one pass: the word as one string, the same split into
/// fields on unquoted whitespace, and every variable name looked at.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub word: String,
    pub words: Vec<String>,
    pub used: BTreeSet<String>,
}

/// Expand `word` into one string (quotes removed, spaces kept).
pub fn expand_word(word: &str, escape: char, vars: &dyn Lookup) -> Result<String, ExpandError> {
    Ok(Lexer::new(escape).process(word, vars)?.word)
}

/// Expand `word` and split the result into fields on unquoted whitespace.
pub fn expand_words(
    word: &str,
    escape: char,
    vars: &dyn Lookup,
) -> Result<Vec<String>, ExpandError> {
    Ok(Lexer::new(escape).process(word, vars)?.words)
}

/// The variable names `word` refers to (including those in nested
/// defaults). A word that does not lex refers to nothing.
pub fn referenced_vars(word: &str, escape: char) -> BTreeSet<String> {
    Lexer::new(escape)
        .process(word, &NoVars)
        .map(|o| o.used)
        .unwrap_or_default()
}

/// Accumulates fields the way buildkit's `wordsStruct` does: characters
/// from variables split on whitespace, quoted text never does.
#[derive(Default)]
struct Fields {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Fields {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

/// A processed word, its fields, and the stop character that ended it.
type Word = (String, Vec<String>, Option<char>);

struct State<'a> {
    lx: Lexer,
    chars: Vec<char>,
    i: usize,
    vars: &'a dyn Lookup,
    used: BTreeSet<String>,
    source: &'a str,
    depth: usize,
}

impl Lexer {
    pub fn process(&self, word: &str, vars: &dyn Lookup) -> Result<Outcome, ExpandError> {
        let mut st = State {
            lx: *self,
            chars: word.chars().collect(),
            i: 0,
            vars,
            used: BTreeSet::new(),
            source: word,
            depth: 0,
        };
        let (word, words, _) = st.until(&[])?;
        Ok(Outcome {
            word,
            words,
            used: st.used,
        })
    }
}

impl State<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.i += 1;
        }
        c
    }

    fn get(&mut self, name: &str) -> Option<String> {
        self.used.insert(name.to_string());
        self.vars.lookup(name).map(str::to_string)
    }

    /// Process until one of `stops` (consumed, and returned) or, with no
    /// stops, the end of input.
    fn until(&mut self, stops: &[char]) -> Result<Word, ExpandError> {
        let mut out = String::new();
        let mut fields = Fields::default();
        while let Some(ch) = self.peek() {
            if stops.contains(&ch) {
                self.i += 1;
                return Ok((out, fields.finish(), Some(ch)));
            }
            match ch {
                '\'' if !self.lx.skip_quotes => {
                    let s = self.single_quote()?;
                    out.push_str(&s);
                    fields.add_raw_string(&s);
                }
                '"' if !self.lx.skip_quotes => {
                    let s = self.double_quote()?;
                    out.push_str(&s);
                    fields.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    out.push_str(&s);
                    fields.add_string(&s);
                }
                // `<<` and the blanks after it stay in one field, so that
                // `<< EOF` reads as a single heredoc marker (buildkit's
                // processPossibleHeredoc).
                '<' if self.chars.get(self.i + 1) == Some(&'<') => {
                    let start = self.i;
                    self.i += 2;
                    while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
                        self.i += 1;
                    }
                    let s: String = self.chars[start..self.i].iter().collect();
                    out.push_str(&s);
                    fields.add_raw_string(&s);
                }
                _ => {
                    self.i += 1;
                    if ch == self.lx.escape {
                        if self.lx.raw_escapes {
                            out.push(ch);
                            fields.add_raw_char(ch);
                        }
                        // An escape at the very end escapes nothing and is dropped.
                        let Some(next) = self.next() else { break };
                        out.push(next);
                        fields.add_raw_char(next);
                    } else {
                        out.push(ch);
                        fields.add_char(ch);
                    }
                }
            }
        }
        if !stops.is_empty() {
            return Err(ExpandError::MissingBrace(self.source.to_string()));
        }
        Ok((out, fields.finish(), None))
    }

    /// Everything up to the next `'` is literal; nothing can be escaped.
    fn single_quote(&mut self) -> Result<String, ExpandError> {
        self.i += 1;
        let mut s = String::new();
        if self.lx.raw_quotes {
            s.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(ExpandError::UnterminatedSingleQuote(
                        self.source.to_string(),
                    ))
                }
                Some('\'') => {
                    if self.lx.raw_quotes {
                        s.push('\'');
                    }
                    return Ok(s);
                }
                Some(c) => s.push(c),
            }
        }
    }

    /// Literal except `$` expansions and the escape before `"`, `$` or the
    /// escape itself (sh(1) "Double Quotes").
    fn double_quote(&mut self) -> Result<String, ExpandError> {
        self.i += 1;
        let mut s = String::new();
        if self.lx.raw_quotes {
            s.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(ExpandError::UnterminatedDoubleQuote(
                        self.source.to_string(),
                    ))
                }
                Some('"') => {
                    self.i += 1;
                    if self.lx.raw_quotes {
                        s.push('"');
                    }
                    return Ok(s);
                }
                Some('$') => {
                    let v = self.dollar()?;
                    s.push_str(&v);
                }
                Some(c) => {
                    self.i += 1;
                    if c == self.lx.escape {
                        match self.peek() {
                            // An escape right before the end is dropped.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lx.escape => {
                                self.i += 1;
                                if self.lx.raw_escapes {
                                    s.push(c);
                                }
                                s.push(n);
                                continue;
                            }
                            Some(_) => {}
                        }
                    }
                    s.push(c);
                }
            }
        }
    }

    /// A name: letters, digits and `_`; or a run of digits; or one special
    /// parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.i += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.i += 1;
                return c.to_string();
            }
            if !c.is_alphanumeric() && c != '_' {
                break;
            }
            name.push(c);
            self.i += 1;
        }
        name
    }

    fn dollar(&mut self) -> Result<String, ExpandError> {
        let start = self.i;
        self.i += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(v) => v,
                None if self.lx.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.i += 1;
        match self.peek() {
            None => return Err(ExpandError::MissingBrace(self.source.to_string())),
            Some('{' | '}' | ':') => {
                return Err(ExpandError::BadSubstitution(self.source.to_string()))
            }
            Some(_) => {}
        }
        let name = self.name();
        let (null_is_unset, op) = match self.next() {
            None => return Err(ExpandError::MissingBrace(self.source.to_string())),
            Some('}') => {
                return Ok(match self.get(&name) {
                    Some(v) => v,
                    None if self.lx.skip_unset => format!("${{{name}}}"),
                    None => String::new(),
                })
            }
            Some(':') => (true, self.next()),
            Some(c) => (false, Some(c)),
        };
        let op = match op {
            Some(c @ ('-' | '+' | '?')) => c,
            // Pattern operators have no `:` form.
            Some(c @ ('#' | '%' | '/')) if !null_is_unset => c,
            other => {
                let colon = if null_is_unset { ":" } else { "" };
                return Err(ExpandError::UnsupportedModifier {
                    modifier: format!("{colon}{}", other.map(String::from).unwrap_or_default()),
                    word: self.source.to_string(),
                });
            }
        };
        if self.depth >= MAX_DEPTH {
            return Err(ExpandError::TooDeep(self.source.to_string()));
        }
        self.depth += 1;
        let out = self.modified(&name, op, null_is_unset, start);
        self.depth -= 1;
        out
    }

    /// A pattern word: expanded, but with escapes kept so `\*` stays a
    /// literal star for the glob.
    fn pattern(&mut self, stops: &[char]) -> Result<(String, Option<char>), ExpandError> {
        let raw = self.lx.raw_escapes;
        self.lx.raw_escapes = true;
        let word = self.until(stops);
        self.lx.raw_escapes = raw;
        word.map(|(w, _, stop)| (w, stop))
    }

    /// `${name<op>...}` after the operator; `start` is where the `$` was.
    fn modified(
        &mut self,
        name: &str,
        op: char,
        null_is_unset: bool,
        start: usize,
    ) -> Result<String, ExpandError> {
        let unset_raw = |st: &Self| st.chars[start..st.i].iter().collect::<String>();
        if op == '#' || op == '%' || op == '/' {
            let doubled = self.peek() == Some(op);
            if doubled {
                self.i += 1;
            }
            let (pattern, stop) = if op == '/' {
                self.pattern(&['/', '}'])?
            } else {
                self.pattern(&['}'])?
            };
            let replacement = match stop {
                Some('/') => self.until(&['}'])?.0,
                _ => String::new(),
            };
            let Some(value) = self.get(name) else {
                return Ok(if self.lx.skip_unset {
                    unset_raw(self)
                } else {
                    String::new()
                });
            };
            let glob = Glob::parse(&pattern);
            return Ok(match op {
                '#' => glob.trim_prefix(&value, doubled),
                '%' => glob.trim_suffix(&value, doubled),
                _ => glob.replace(&value, &replacement, doubled),
            });
        }
        let (word, _, _) = self.until(&['}'])?;
        let value = self.get(name);
        if value.is_none() && self.lx.skip_unset {
            return Ok(unset_raw(self));
        }
        let missing = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        match op {
            '-' => Ok(if missing {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if missing { String::new() } else { word }),
            _ => {
                if !missing {
                    return Ok(value.unwrap_or_default());
                }
                let message = if !word.is_empty() {
                    word
                } else if value.is_none() {
                    "is not allowed to be unset".into()
                } else {
                    "is not allowed to be empty".into()
                };
                Err(ExpandError::Required {
                    name: name.to_string(),
                    message,
                })
            }
        }
    }
}

/// One element of a shell pattern in `${x#p}`, `${x%p}` and `${x/p/r}`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum GlobTok {
    Lit(char),
    /// `*`: any run of characters.
    Any,
    /// `?`: one character.
    One,
    /// `[...]`: ranges, negated by a leading `!` or `^`.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A shell pattern (sh(1) "Pattern Matching Notation").
struct Glob(Vec<GlobTok>);

impl Glob {
    fn parse(pattern: &str) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => toks.push(GlobTok::Any),
                '?' => toks.push(GlobTok::One),
                '\\' if i < chars.len() => {
                    toks.push(GlobTok::Lit(chars[i]));
                    i += 1;
                }
                '[' => match Self::class(&chars, i) {
                    Some((tok, next)) => {
                        toks.push(tok);
                        i = next;
                    }
                    // An unclosed bracket is an ordinary character.
                    None => toks.push(GlobTok::Lit('[')),
                },
                c => toks.push(GlobTok::Lit(c)),
            }
        }
        Glob(toks)
    }

    fn class(chars: &[char], mut i: usize) -> Option<(GlobTok, usize)> {
        let negated = matches!(chars.get(i), Some('!' | '^'));
        if negated {
            i += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = *chars.get(i)?;
            if c == ']' && !first {
                return Some((GlobTok::Class { negated, ranges }, i + 1));
            }
            first = false;
            let lo = if c == '\\' {
                i += 1;
                *chars.get(i)?
            } else {
                c
            };
            i += 1;
            if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|n| *n != ']') {
                ranges.push((lo, chars[i + 1]));
                i += 2;
            } else {
                ranges.push((lo, lo));
            }
        }
    }

    /// Every `k` (ascending) for which the pattern matches exactly `s[..k]`:
    /// one forward pass over `s` with the set of pattern positions reached,
    /// so no recursion and no backtracking.
    fn ends(toks: &[GlobTok], s: &[char]) -> Vec<usize> {
        let n = toks.len();
        // `*` may match nothing, so reaching it also reaches what follows.
        let close = |set: &mut Vec<bool>| {
            for t in 0..n {
                if set[t] && toks[t] == GlobTok::Any {
                    set[t + 1] = true;
                }
            }
        };
        let mut cur = vec![false; n + 1];
        cur[0] = true;
        close(&mut cur);
        let mut out = Vec::new();
        if cur[n] {
            out.push(0);
        }
        for (k, ch) in s.iter().enumerate() {
            let mut next = vec![false; n + 1];
            for t in (0..n).filter(|&t| cur[t]) {
                match &toks[t] {
                    GlobTok::Any => next[t] = true,
                    GlobTok::One => next[t + 1] = true,
                    GlobTok::Lit(l) => next[t + 1] |= l == ch,
                    GlobTok::Class { negated, ranges } => {
                        next[t + 1] |=
                            ranges.iter().any(|(lo, hi)| lo <= ch && ch <= hi) != *negated
                    }
                }
            }
            close(&mut next);
            if next[n] {
                out.push(k + 1);
            }
            if !next.contains(&true) {
                break;
            }
            cur = next;
        }
        out
    }

    /// The length of the matching prefix of `v`, shortest or longest.
    fn prefix_len(toks: &[GlobTok], v: &[char], longest: bool) -> Option<usize> {
        let ends = Self::ends(toks, v);
        if longest {
            ends.last().copied()
        } else {
            ends.first().copied()
        }
    }

    /// `${x#p}` (shortest) or `${x##p}` (longest): drop a matching prefix.
    fn trim_prefix(&self, value: &str, longest: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        match Self::prefix_len(&self.0, &v, longest) {
            Some(n) => v[n..].iter().collect(),
            None => value.to_string(),
        }
    }

    /// `${x%p}` (shortest) or `${x%%p}` (longest): drop a matching suffix,
    /// found as a prefix of the reversed value with the reversed pattern.
    fn trim_suffix(&self, value: &str, longest: bool) -> String {
        let mut v: Vec<char> = value.chars().collect();
        v.reverse();
        let toks: Vec<GlobTok> = self.0.iter().rev().cloned().collect();
        match Self::prefix_len(&toks, &v, longest) {
            Some(n) => v[n..].iter().rev().collect(),
            None => value.to_string(),
        }
    }

    /// `${x/p/r}` (first) or `${x//p/r}` (every): replace the leftmost
    /// longest matches. An empty pattern changes nothing.
    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        if self.0.is_empty() {
            return value.to_string();
        }
        let v: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i <= v.len() {
            let found = if replaced && !all {
                None
            } else {
                Self::prefix_len(&self.0, &v[i..], true)
            };
            if let Some(n) = found {
                out.push_str(replacement);
                replaced = true;
                if n > 0 {
                    i += n;
                    continue;
                }
            }
            if let Some(c) = v.get(i) {
                out.push(*c);
            }
            i += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [
            ("PWD", "/home"),
            ("SHELL", "bash"),
            ("EMPTY", ""),
            ("SPACED", "a  b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn w(s: &str) -> String {
        expand_word(s, '\\', &env()).unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn plain_and_quoted_words() {
        assert_eq!(w("hello"), "hello");
        assert_eq!(w("he'll'o"), "hello");
        assert_eq!(w("he\"ll\"o"), "hello");
        assert_eq!(w(r"he\'llo"), "he'llo");
        assert_eq!(w(r"abc\\de"), r"abc\de");
        assert_eq!(w(r#""abc\\de""#), r"abc\de");
        assert_eq!(w(r#""a\bc""#), r"a\bc");
        assert_eq!(w(r#""a\"b""#), "a\"b");
        assert_eq!(w("'a\\b'"), "a\\b");
        assert!(w("he'llo").starts_with("ERR unexpected end"));
        assert!(w(r"he\\'llo").starts_with("ERR unexpected end"));
        assert!(w("\"abc").starts_with("ERR unexpected end"));
    }

    #[test]
    fn variables() {
        assert_eq!(w("$PWD"), "/home");
        assert_eq!(w("${PWD}"), "/home");
        assert_eq!(w("x${PWD}y"), "x/homey");
        assert_eq!(w("$PWD-x"), "/home-x");
        assert_eq!(w("'$PWD'"), "$PWD");
        assert_eq!(w("\"$PWD\""), "/home");
        assert_eq!(w(r"\$PWD"), "$PWD");
        assert_eq!(w(r"\${PWD}"), "${PWD}");
        assert_eq!(w(r#""\$PWD""#), "$PWD");
        assert_eq!(w("$UNSET"), "");
        assert_eq!(w("$"), "$");
        assert_eq!(w("a$"), "a$");
        assert_eq!(w("$/x"), "$/x");
    }

    #[test]
    fn modifiers() {
        assert_eq!(w("${PWD:-x}"), "/home");
        assert_eq!(w("${UNSET:-x}"), "x");
        assert_eq!(w("${EMPTY:-x}"), "x");
        assert_eq!(w("${EMPTY-x}"), "");
        assert_eq!(w("${UNSET-x}"), "x");
        assert_eq!(w("${PWD:+set}"), "set");
        assert_eq!(w("${EMPTY:+set}"), "");
        assert_eq!(w("${EMPTY+set}"), "set");
        assert_eq!(w("${UNSET+set}"), "");
        assert_eq!(w("${UNSET:-${SHELL:-no}}"), "bash");
        assert_eq!(w("${UNSET:-'${SHELL}'}"), "${SHELL}");
        assert_eq!(w("${UNSET:-a b}"), "a b");
        assert_eq!(w("${PWD:?}"), "/home");
        assert_eq!(w("${UNSET:?must be set}"), "ERR UNSET: must be set");
        assert_eq!(w("${EMPTY:?}"), "ERR EMPTY: is not allowed to be empty");
        assert_eq!(w("${EMPTY?}"), "");
        assert!(w("${PWD").starts_with("ERR syntax error: missing '}'"));
        assert!(w("${}").starts_with("ERR syntax error: bad substitution"));
        assert!(w("${:x}").starts_with("ERR syntax error: bad substitution"));
        assert!(w("${PWD!x}").starts_with("ERR unsupported modifier (!)"));
        assert!(w("${PWD:#x}").starts_with("ERR unsupported modifier (:#)"));
        assert!(w("${PWD:=x}").starts_with("ERR unsupported modifier (:=)"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "${a:-".repeat(10_000) + &"}".repeat(10_000);
        assert!(w(&deep).starts_with("ERR substitutions nested more than 64 deep"));
        let ok = "${a:-".repeat(10) + "x" + &"}".repeat(10);
        assert_eq!(w(&ok), "x");
    }

    #[test]
    fn pattern_operators() {
        let e: BTreeMap<String, String> =
            [("F", "dir/sub/file.tar.gz"), ("V", "aXbXc"), ("S", "a*b")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let w = |s: &str| expand_word(s, '\\', &e).unwrap_or_else(|e| format!("ERR {e}"));
        assert_eq!(w("${F#*/}"), "sub/file.tar.gz");
        assert_eq!(w("${F##*/}"), "file.tar.gz");
        assert_eq!(w("${F%.*}"), "dir/sub/file.tar");
        assert_eq!(w("${F%%.*}"), "dir/sub/file");
        assert_eq!(w("${F#nomatch}"), "dir/sub/file.tar.gz");
        assert_eq!(w("${V/X/-}"), "a-bXc");
        assert_eq!(w("${V//X/-}"), "a-b-c");
        assert_eq!(w("${V//X}"), "abc");
        assert_eq!(w("${V/[XY]?/_}"), "a_Xc");
        assert_eq!(w("${V//[!a]/.}"), "a....");
        assert_eq!(w("${S/\\*/+}"), "a+b");
        assert_eq!(w("${S#a?}"), "b");
        assert_eq!(w("${UNSET#x}"), "");
        assert_eq!(w("${F%.${UNSET:-gz}}"), "dir/sub/file.tar");
        assert!(w("${F#x").starts_with("ERR syntax error: missing '}'"));
        let long: BTreeMap<String, String> = [("L".to_string(), "ab".repeat(5000))].into();
        let out = expand_word("${L//a*b/x}", '\\', &long).unwrap();
        assert_eq!(out, "x", "leftmost longest match swallows everything");
        let out = expand_word("${L//b/}", '\\', &long).unwrap();
        assert_eq!(out, "a".repeat(5000));
    }

    #[test]
    fn backtick_escape() {
        let e = env();
        assert_eq!(expand_word("`$PWD", '`', &e).unwrap(), "$PWD");
        assert_eq!(expand_word(r"c:\dir", '`', &e).unwrap(), r"c:\dir");
        assert_eq!(expand_word(r"a\$PWD", '`', &e).unwrap(), r"a\/home");
    }

    #[test]
    fn fields_split_only_unquoted_expansions() {
        let e = env();
        let f = |s: &str| expand_words(s, '\\', &e).unwrap();
        assert_eq!(f("a b  c"), ["a", "b", "c"]);
        assert_eq!(f("\"a b\" c"), ["a b", "c"]);
        assert_eq!(f("$SPACED"), ["a", "b"]);
        assert_eq!(f("\"$SPACED\""), ["a  b"]);
        assert_eq!(f(r"a\ b"), ["a b"]);
        assert!(f("").is_empty());
        assert_eq!(f("cat <<  EOF > x"), ["cat", "<<  EOF", ">", "x"]);
        assert_eq!(f("a < b"), ["a", "<", "b"]);
    }

    #[test]
    fn referenced_names() {
        let names = referenced_vars("${A:-$B} '$C' \"$D\" \\$E ${F}", '\\');
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(names, ["A", "B", "D", "F"]);
    }

    #[test]
    fn skip_quotes_keeps_quotes_but_not_escapes() {
        let mut lx = Lexer::new('\\');
        lx.skip_quotes = true;
        let out = lx.process("'$PWD' \"$SHELL\" \\$PWD it's", &env()).unwrap();
        assert_eq!(out.word, "'/home' \"bash\" $PWD it's");
    }

    #[test]
    fn skip_unset_keeps_references() {
        let mut lx = Lexer::new('\\');
        lx.skip_unset = true;
        assert_eq!(
            lx.process("$X ${Y} ${Z:-w}", &NoVars).unwrap().word,
            "$X ${Y} ${Z:-w}"
        );
    }
}
