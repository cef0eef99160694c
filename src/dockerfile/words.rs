//! Splitting an instruction's argument text the ways the Dockerfile
//! grammar needs: JSON arrays, whitespace lists, and quote-aware words for
//! ENV, LABEL and ARG.
//!
//! Owns only splitting; quotes stay in the words (expansion removes them
//! later) and nothing here knows which instruction is being parsed.

use std::sync::Arc;

use super::error::{JsonReason, JsonSyntax};

/// The outcome of trying to read the arguments as a JSON array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Json {
    /// A JSON array of strings (exec form).
    Array(Vec<String>),
    /// Not JSON; the reason is kept for instructions where JSON is mandatory.
    Invalid(JsonReason),
    /// A JSON array with an element that is not a string: always an error.
    NotStrings,
}

/// Read `rest` as a JSON array the way Docker does: it must start with `[`,
/// and only the first JSON value is read (text after it is ignored, as Go's
/// `json.Decoder` does).
pub(crate) fn parse_json(rest: &str) -> Json {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Json::Invalid(JsonReason::NoBracket);
    }
    let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    match stream.next() {
        Some(Ok(serde_json::Value::Array(items))) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Json::NotStrings,
                }
            }
            Json::Array(out)
        }
        Some(Ok(_)) => Json::Invalid(JsonReason::NotArray),
        Some(Err(e)) if e.is_eof() => Json::Invalid(JsonReason::Unterminated),
        Some(Err(e)) => Json::Invalid(JsonReason::Syntax(JsonSyntax(Arc::new(e)))),
        None => Json::Invalid(JsonReason::Empty),
    }
}

/// The whitespace Docker splits lists on (`[\t\v\f\r ]+`).
fn is_list_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Split on runs of whitespace, ignoring quotes (FROM, EXPOSE, and the
/// shell form of COPY, ADD and VOLUME). Each word comes with its byte
/// offset in `rest`.
pub(crate) fn split_whitespace(rest: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in rest.char_indices() {
        match (is_list_space(c), start) {
            (true, Some(s)) => {
                out.push((s, rest[s..i].to_string()));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, rest[s..].to_string()));
    }
    out
}

/// Split into words on unquoted whitespace, keeping quotes and escapes in
/// the words (buildkit's `parseWords`, used by ENV, LABEL and ARG). Inside
/// single quotes the escape character is literal.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut start = 0;
    let mut in_word = false;
    let mut quote: Option<char> = None;
    // A word that held quotes counts even when empty (`a=""`).
    let mut blank_ok = false;
    let mut it = rest.char_indices().peekable();
    while let Some((i, ch)) = it.next() {
        if !in_word {
            if ch.is_whitespace() {
                continue;
            }
            in_word = true;
            start = i;
        }
        match quote {
            None => {
                if ch.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        out.push((start, std::mem::take(&mut word)));
                    }
                    in_word = false;
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    quote = Some(ch);
                    blank_ok = true;
                }
                if ch == escape {
                    match it.next() {
                        // An escape at the very end is dropped.
                        None => continue,
                        Some((_, n)) => {
                            word.push(ch);
                            word.push(n);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
            Some(q) => {
                if ch == q {
                    quote = None;
                }
                if ch == escape && q != '\'' {
                    match it.next() {
                        None => {
                            quote = None;
                            continue;
                        }
                        Some((_, n)) => {
                            word.push(ch);
                            word.push(n);
                            continue;
                        }
                    }
                }
                word.push(ch);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        out.push((start, word));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        parse_words(s, '\\').into_iter().map(|(_, w)| w).collect()
    }

    #[test]
    fn json_forms() {
        assert_eq!(
            parse_json(r#"["a", "b c"]"#),
            Json::Array(vec!["a".into(), "b c".into()])
        );
        assert_eq!(parse_json(r#"  []"#), Json::Array(vec![]));
        assert_eq!(
            parse_json(r#"["a"] trailing"#),
            Json::Array(vec!["a".into()])
        );
        assert_eq!(parse_json("[1]"), Json::NotStrings);
        assert!(matches!(parse_json("[foo]"), Json::Invalid(_)));
        assert!(matches!(parse_json(r#"["a""#), Json::Invalid(_)));
        assert!(matches!(parse_json("echo [a]"), Json::Invalid(_)));
    }

    #[test]
    fn whitespace_lists_keep_offsets() {
        assert_eq!(
            split_whitespace("a  b\tc"),
            vec![(0, "a".into()), (3, "b".into()), (5, "c".into())]
        );
        assert_eq!(
            split_whitespace("\"a b\""),
            vec![(0, "\"a".into()), (3, "b\"".into())]
        );
    }

    #[test]
    fn quote_aware_words() {
        assert_eq!(
            words(r#"a=1 b="x y" c='p q'"#),
            ["a=1", "b=\"x y\"", "c='p q'"]
        );
        assert_eq!(words(r#"a="" b"#), ["a=\"\"", "b"]);
        assert_eq!(words(r"a=x\ y"), [r"a=x\ y"]);
        assert_eq!(words(r#"a="x\" y""#), [r#"a="x\" y""#]);
        assert_eq!(words(r"a='x\' b"), [r"a='x\'", "b"]);
        assert_eq!(words("  "), Vec::<String>::new());
    }
}
