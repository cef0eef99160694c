//! `.dockerignore` files: finding the one that applies to a build, parsing
//! its patterns and deciding whether a context path is excluded, with the
//! semantics of Docker's pattern matcher (moby/patternmatcher) as buildkit
//! uses it.
//!
//! Owns pattern syntax and matching. It must not walk or copy the build
//! context; the context sender asks [`IgnoreMatcher::excluded`] per path and
//! [`IgnoreMatcher::descend`] per excluded directory.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// A pattern line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: invalid pattern '{pattern}': {reason}")]
pub struct PatternError {
    pub line: usize,
    pub pattern: String,
    pub reason: String,
}

/// Reading an ignore file failed.
#[derive(Debug, Error)]
pub enum IgnoreFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Pattern { path: PathBuf, source: PatternError },
}

/// The ignore file for a build, in Docker's order of preference: the
/// Dockerfile-specific `<Dockerfile>.dockerignore` next to the Dockerfile,
/// then `.dockerignore`, then `.containerignore` in the context root.
pub fn find_ignore_file(context: &Path, dockerfile: &Path) -> Option<PathBuf> {
    let specific = dockerfile.file_name().map(|name| {
        let mut n = name.to_os_string();
        n.push(".dockerignore");
        dockerfile.with_file_name(n)
    });
    specific
        .into_iter()
        .chain([
            context.join(".dockerignore"),
            context.join(".containerignore"),
        ])
        .find(|p| p.is_file())
}

/// Load the matcher for a build; no ignore file means nothing is excluded.
pub fn load(context: &Path, dockerfile: &Path) -> Result<IgnoreMatcher, IgnoreFileError> {
    let Some(path) = find_ignore_file(context, dockerfile) else {
        return Ok(IgnoreMatcher::default());
    };
    let text = std::fs::read_to_string(&path).map_err(|source| IgnoreFileError::Read {
        path: path.clone(),
        source,
    })?;
    IgnoreMatcher::parse(&text).map_err(|source| IgnoreFileError::Pattern { path, source })
}

/// Go's `filepath.Clean` for slash-separated paths: drop empty and `.`
/// elements, resolve `..`, no trailing slash; `.` for nothing.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `*`: any run of characters except `/`.
    Star,
    /// `?`: one character except `/`.
    One,
    /// `[...]`: ranges (single characters are `(c, c)`), maybe negated.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// `**/` or `**` inside a pattern: empty, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end after other wildcards: anything.
    Any,
}

/// How a pattern is matched; mirrors patternmatcher's match types, which
/// are not all equivalent to its regular expression (e.g. `**foo`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Tokens(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// `!pattern`: re-include what earlier patterns excluded.
    exception: bool,
    cleaned: String,
    matcher: Matcher,
}

/// Parse a character class after its `[`, with Go `filepath.Match`'s
/// syntax rules: optional `^`, at least one item, `\` escapes, `-` and `]`
/// must be escaped where they would be ambiguous.
fn parse_class(chars: &[char], mut i: usize) -> Result<(Tok, usize), String> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let esc = |i: &mut usize| -> Result<char, String> {
        match chars.get(*i) {
            None => Err("unterminated character class".into()),
            Some('-') | Some(']') => Err("'-' or ']' must be escaped in a character class".into()),
            Some('\\') => {
                let c = *chars
                    .get(*i + 1)
                    .ok_or("trailing backslash in a character class")?;
                *i += 2;
                Ok(c)
            }
            Some(c) => {
                *i += 1;
                Ok(*c)
            }
        }
    };
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok((Tok::Class { negated, ranges }, i + 1));
        }
        let lo = esc(&mut i)?;
        let hi = if chars.get(i) == Some(&'-') {
            i += 1;
            esc(&mut i)?
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
}

impl Pattern {
    fn compile(text: &str) -> Result<Pattern, String> {
        let (exception, body) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if exception && body.is_empty() {
            return Err("illegal exclusion pattern: \"!\"".into());
        }
        let chars: Vec<char> = body.chars().collect();
        let mut toks = Vec::new();
        let mut kind = 0u8; // 0 exact, 1 prefix, 2 suffix, 3 tokens
        let mut i = 0;
        let mut n = 0;
        while i < chars.len() {
            let ch = chars[i];
            i += 1;
            match ch {
                '*' if chars.get(i) == Some(&'*') => {
                    i += 1;
                    if chars.get(i) == Some(&'/') {
                        i += 1;
                    }
                    if i >= chars.len() {
                        if kind == 0 {
                            kind = 1;
                        } else {
                            toks.push(Tok::Any);
                            kind = 3;
                        }
                    } else {
                        toks.push(Tok::AnyDirs);
                        kind = 3;
                    }
                    if n == 0 {
                        kind = 2;
                    }
                }
                '*' => {
                    toks.push(Tok::Star);
                    kind = 3;
                }
                '?' => {
                    toks.push(Tok::One);
                    kind = 3;
                }
                '\\' => match chars.get(i) {
                    Some(c) => {
                        toks.push(Tok::Lit(*c));
                        i += 1;
                        kind = 3;
                    }
                    None => return Err("trailing backslash".into()),
                },
                '[' => {
                    let (tok, next) = parse_class(&chars, i)?;
                    toks.push(tok);
                    i = next;
                    kind = 3;
                }
                c => toks.push(Tok::Lit(c)),
            }
            n += 1;
        }
        let matcher = match kind {
            0 => Matcher::Exact(body.to_string()),
            1 => Matcher::Prefix(body.strip_suffix("**").unwrap_or(body).to_string()),
            2 => Matcher::Suffix(body.strip_prefix("**").unwrap_or(body).to_string()),
            _ => Matcher::Tokens(toks),
        };
        Ok(Pattern {
            exception,
            cleaned: body.to_string(),
            matcher,
        })
    }

    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(p) => path == p,
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
            // `**/foo` also matches `foo` itself.
            Matcher::Suffix(s) => path.ends_with(s.as_str()) || s.strip_prefix('/') == Some(path),
            Matcher::Tokens(toks) => match_tokens(toks, &path.chars().collect::<Vec<_>>()),
        }
    }
}

/// Anchored match of `toks` against all of `s`, as a table from the end:
/// `m[t][c]` says whether `toks[t..]` matches `s[c..]`. Iterative, so long
/// paths cannot exhaust the stack, and at most cubic in the worst case.
fn match_tokens(toks: &[Tok], s: &[char]) -> bool {
    let w = s.len() + 1;
    let mut m = vec![false; (toks.len() + 1) * w];
    m[toks.len() * w + s.len()] = true;
    for t in (0..toks.len()).rev() {
        // For `**/`: whether some `/` at or after c is followed by a match.
        let mut after_slash = false;
        for c in (0..=s.len()).rev() {
            let next = |k: usize| m[(t + 1) * w + k];
            let here = s.get(c);
            m[t * w + c] = match &toks[t] {
                Tok::Lit(l) => here == Some(l) && next(c + 1),
                Tok::One => here.is_some_and(|ch| *ch != '/') && next(c + 1),
                Tok::Class { negated, ranges } => {
                    here.is_some_and(|ch| {
                        ranges.iter().any(|(lo, hi)| lo <= ch && ch <= hi) != *negated
                    }) && next(c + 1)
                }
                // Zero characters, or one non-slash and the star again.
                Tok::Star => next(c) || (here.is_some_and(|ch| *ch != '/') && m[t * w + c + 1]),
                Tok::Any => next(c) || (here.is_some() && m[t * w + c + 1]),
                Tok::AnyDirs => {
                    after_slash = after_slash || (here == Some(&'/') && next(c + 1));
                    next(c) || after_slash
                }
            };
        }
    }
    m[0]
}

/// The parsed patterns of one ignore file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnoreMatcher {
    patterns: Vec<Pattern>,
}

impl IgnoreMatcher {
    /// Parse ignore-file text: `#` at the start of a line begins a comment,
    /// blank lines are skipped, surrounding whitespace is trimmed, `!`
    /// marks an exception, patterns are cleaned and a leading `/` dropped.
    pub fn parse(text: &str) -> Result<IgnoreMatcher, PatternError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            if raw.starts_with('#') {
                continue;
            }
            let line = raw.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, body) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut body = body.to_string();
            if !body.is_empty() {
                body = clean(&body);
                if body.len() > 1 {
                    if let Some(rest) = body.strip_prefix('/') {
                        body = rest.to_string();
                    }
                }
            }
            let text = if exception { format!("!{body}") } else { body };
            let pattern = Pattern::compile(&text).map_err(|reason| PatternError {
                line: n + 1,
                pattern: raw.trim().to_string(),
                reason,
            })?;
            patterns.push(pattern);
        }
        Ok(IgnoreMatcher { patterns })
    }

    /// Whether any pattern is an exception (`!`).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `rel_path` (relative to the context root, `/`-separated) is
    /// left out of the build context: the last pattern matching the path
    /// or one of its parent directories decides, as buildkit's
    /// `MatchesOrParentMatches`. The context root itself is never excluded.
    pub fn excluded(&self, rel_path: &str) -> bool {
        let path = clean(rel_path.trim_start_matches('/'));
        if path == "." || path.is_empty() {
            return false;
        }
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => {
                let parent = &path[..i];
                parent
                    .match_indices('/')
                    .map(|(j, _)| &parent[..j])
                    .chain([parent])
                    .collect()
            }
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            // An include can only change an unmatched path, an exception
            // only a matched one.
            if p.exception != matched {
                continue;
            }
            if p.matches(&path) || parents.iter().any(|d| p.matches(d)) {
                matched = !p.exception;
            }
        }
        matched
    }

    /// Whether a walk must look inside the directory `rel_dir`: always for a
    /// directory that is not excluded, and for an excluded one only if an
    /// exception could re-include something below it.
    pub fn descend(&self, rel_dir: &str) -> bool {
        if !self.excluded(rel_dir) {
            return true;
        }
        let dir = clean(rel_dir.trim_start_matches('/'));
        let dir_slash = format!("{dir}/");
        self.patterns.iter().filter(|p| p.exception).any(|p| {
            // The part before the first wildcard must agree with the
            // directory for the exception to reach inside it.
            let literal: String = p
                .cleaned
                .chars()
                .take_while(|c| !matches!(c, '*' | '?' | '[' | '\\'))
                .collect();
            let whole = literal.len() == p.cleaned.len();
            let literal_slash = format!("{literal}/");
            if whole {
                literal_slash.starts_with(&dir_slash)
            } else {
                literal.starts_with(&dir_slash) || dir_slash.starts_with(&literal)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str]) -> IgnoreMatcher {
        IgnoreMatcher::parse(&patterns.join("\n")).unwrap()
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("a//b/./c/"), "a/b/c");
        assert_eq!(clean("a/../../b"), "../b");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("./"), ".");
    }

    /// Cases from patternmatcher's TestMatches (MatchesOrParentMatches).
    #[test]
    fn single_patterns() {
        let cases: &[(&str, &str, bool)] = &[
            ("**", "file", true),
            ("**/", "file", true),
            ("**", "dir/file", true),
            ("**/**", "dir/file", true),
            ("dir/**", "dir/file", true),
            ("dir/**", "dir/dir2/file", true),
            ("**/dir", "dir", true),
            ("**/dir", "dir/file", true),
            ("**/dir2/*", "dir/dir2/file", true),
            ("**/dir2/**", "dir/dir2/dir3/file", true),
            ("**file", "file", true),
            ("**file", "dir/file", true),
            ("**/file", "dir/file", true),
            ("**file", "dir/dir/file", true),
            ("**/file*", "dir/dir/file.txt", true),
            ("**/file*txt", "dir/dir/file.txt", true),
            ("**/file*.txt*", "dir/dir/file.txt", true),
            ("**/**/*.txt", "dir/dir/file.txt", true),
            ("**/**/*.txt2", "dir/dir/file.txt", false),
            ("**/*.txt", "file.txt", true),
            ("**/**/*.txt", "file.txt", true),
            ("a**/*.txt", "a/file.txt", true),
            ("a**/*.txt", "a/dir/dir/file.txt", true),
            ("a/*.txt", "a/dir/file.txt", false),
            ("a/*.txt", "a/file.txt", true),
            ("a/*.txt**", "a/file.txt", true),
            ("a[b-d]e", "ae", false),
            ("a[b-d]e", "ace", true),
            ("a[b-d]e", "aae", false),
            ("a[^b-d]e", "aze", true),
            (".*", ".foo", true),
            (".*", "foo", false),
            ("abc.def", "abcdef", false),
            ("abc.def", "abc.def", true),
            ("abc?def", "abcZdef", true),
            ("abc?def", "abcdef", false),
            ("**/foo/bar", "foo/bar", true),
            ("**/foo/bar", "dir/dir2/foo/bar", true),
            ("abc/**", "abc", false),
            ("abc/**", "abc/def/ghi", true),
            ("**/.foo", ".foo", true),
            ("**/.foo", "bar.foo", false),
            ("a(b)c/def", "a(b)c/def", true),
            ("a(b)c/def", "a(b)c/xyz", false),
            ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
            (
                "dist/*.whl",
                "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                true,
            ),
            ("a\\\\", "a\\", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            // From Go's filepath.Match tests.
            ("*c", "abc", true),
            ("a*", "ab/c", true),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[^c]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a?b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("*x", "xxx", true),
        ];
        for (pattern, path, want) in cases {
            assert_eq!(
                m(&[pattern]).excluded(path),
                *want,
                "pattern {pattern:?} path {path:?}"
            );
        }
    }

    #[test]
    fn bad_patterns() {
        for p in [
            "[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "\\", "!",
        ] {
            assert!(IgnoreMatcher::parse(p).is_err(), "{p:?} should be rejected");
        }
        let e = IgnoreMatcher::parse("ok\n# c\n\na[").unwrap_err();
        assert_eq!(e.line, 4);
        assert_eq!(
            e.to_string(),
            "line 4: invalid pattern 'a[': unterminated character class"
        );
    }

    #[test]
    fn exceptions_in_order() {
        assert!(m(&["!fileutils.go", "*.go"]).excluded("fileutils.go"));
        assert!(!m(&["*.go", "!fileutils.go"]).excluded("fileutils.go"));
        assert!(!m(&["docs", "!docs/README.md"]).excluded("docs/README.md"));
        assert!(!m(&["docs/", "!docs/README.md"]).excluded("docs/README.md"));
        assert!(!m(&["docs/*", "!docs/README.md"]).excluded("docs/README.md"));
        assert!(m(&["docs", "!docs/README.md"]).excluded("docs/other.md"));
        assert!(!m(&["**", "!util/docker/web"]).excluded("util/docker/web/foo"));
        assert!(
            m(&["**", "!util/docker/web", "util/docker/web/foo"]).excluded("util/docker/web/foo")
        );
        assert!(!m(&["**", "!dist/*.whl"])
            .excluded("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"));
    }

    #[test]
    fn file_syntax() {
        let text = "\u{feff}# comment\n  /test2  \n/a/file/here\n\n ! /inverted/abs/path\n #not a comment\n";
        let im = IgnoreMatcher::parse(text).unwrap();
        let cleaned: Vec<&str> = im.patterns.iter().map(|p| p.cleaned.as_str()).collect();
        assert_eq!(
            cleaned,
            [
                "test2",
                "a/file/here",
                "inverted/abs/path",
                "#not a comment"
            ]
        );
        assert!(im.patterns[2].exception);
        assert!(im.excluded("test2/sub"));
        assert!(!im.excluded("."));
        assert!(!im.excluded(""));
        assert!(!IgnoreMatcher::default().excluded("anything"));
        assert!(m(&["*"]).excluded("./x/"));
    }

    #[test]
    fn long_paths_and_many_stars() {
        let long = "a/".repeat(500) + "file.txt";
        assert!(m(&["**/*.txt"]).excluded(&long));
        assert!(!m(&["**/*.rs"]).excluded(&long));
        let stars = "*a".repeat(30);
        assert!(!m(&[&stars]).excluded(&"a".repeat(29)));
        assert!(m(&[&stars]).excluded(&"a".repeat(30)));
    }

    #[test]
    fn descending() {
        let im = m(&[
            "docs",
            "!docs/README.md",
            "build",
            "node_modules",
            "!**/keep",
        ]);
        assert!(im.descend("src"));
        assert!(im.descend("docs"));
        assert!(
            im.descend("build"),
            "a wildcard exception may reach anywhere"
        );
        let im = m(&["docs", "!docs/README.md", "target"]);
        assert!(!im.descend("target"));
        assert!(im.descend("docs"));
        assert!(im.descend("docs2"), "not excluded at all");
        let im = m(&["docs*", "!docs/README.md"]);
        assert!(
            !im.descend("docsx"),
            "the exception only reaches inside docs/"
        );
        assert!(im.descend("docs"));
    }

    #[test]
    fn finds_the_right_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        let df = ctx.join("sub").join("app.Dockerfile");
        std::fs::create_dir_all(df.parent().unwrap()).unwrap();
        assert_eq!(find_ignore_file(ctx, &df), None);
        std::fs::write(ctx.join(".containerignore"), "c").unwrap();
        assert_eq!(
            find_ignore_file(ctx, &df),
            Some(ctx.join(".containerignore"))
        );
        std::fs::write(ctx.join(".dockerignore"), "d").unwrap();
        assert_eq!(find_ignore_file(ctx, &df), Some(ctx.join(".dockerignore")));
        std::fs::write(ctx.join("sub/app.Dockerfile.dockerignore"), "s\n!s/keep").unwrap();
        assert_eq!(
            find_ignore_file(ctx, &df),
            Some(ctx.join("sub/app.Dockerfile.dockerignore"))
        );
        let im = load(ctx, &df).unwrap();
        assert!(im.excluded("s/x") && !im.excluded("s/keep") && im.has_exceptions());
        std::fs::write(ctx.join("sub/app.Dockerfile.dockerignore"), "[").unwrap();
        let err = load(ctx, &df).unwrap_err().to_string();
        assert!(err.ends_with("app.Dockerfile.dockerignore: line 1: invalid pattern '[': unterminated character class"), "{err}");
    }
}
