//! Go's `filepath.Match` wildcards, as Docker matches COPY/ADD sources in
//! the build context and in an image's tree (`context`, `imagefs`).

/// A wildcard pattern Go would refuse (an unclosed class, a trailing `\`).
#[derive(Debug, thiserror::Error)]
#[error("invalid wildcard pattern '{0}'")]
pub struct BadPattern(pub String);

/// Whether a path has Go `filepath.Match` wildcards.
pub fn has_wildcards(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Go's `filepath.Match` for one path element: `*`, `?`, `[a-z]`, `[^x]`,
/// and `\` escaping the next character.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let bad = || BadPattern(pattern.to_string());
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    let (ok, next) = class(&p, pi, n[ni]).ok_or_else(bad)?;
                    if ok {
                        pi = next;
                        ni += 1;
                        continue;
                    }
                }
                '\\' => {
                    let c = *p.get(pi + 1).ok_or_else(bad)?;
                    if c == n[ni] {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c => {
                    if c == n[ni] {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return Ok(false),
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    Ok(pi == p.len())
}

/// Match `c` against the class starting at `p[start] == '['`; returns
/// whether it matched and the index after `]`, or None for a bad class.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negated = matches!(p.get(i), Some('^') | Some('!'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|c| *c != ']') {
            hi = *p.get(i + 1)?;
            i += 2;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_like_go() {
        for (p, n, want) in [
            ("*.txt", "a.txt", true),
            ("*.txt", "a.txt.bak", false),
            ("a?c", "abc", true),
            ("[a-c]x", "bx", true),
            ("[^a-c]x", "bx", false),
            ("\\*", "*", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(glob_match(p, n).unwrap(), want, "{p} {n}");
        }
        assert!(glob_match("[a-", "a").is_err());
    }
}
