//! `--filter KEY=VALUE` as Docker takes it on `ps` and `images`: values of
//! one key are alternatives (ORed), different keys must all hold (ANDed).
//! A key the command does not know, or a value without `=`, is refused
//! naming it. What each key means is the command's business.

use std::collections::BTreeMap;

/// The filters of one command line, by key.
#[derive(Debug, Default)]
pub struct Filters(BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parse `given` (`KEY=VALUE` each), allowing only `keys`.
    pub fn parse(given: &[String], keys: &[&str]) -> Result<Filters, String> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in given {
            let Some((k, v)) = f.split_once('=') else {
                return Err(format!("invalid filter '{f}': expected KEY=VALUE"));
            };
            let k = k.trim().to_ascii_lowercase();
            if !keys.contains(&k.as_str()) {
                return Err(format!(
                    "invalid filter '{k}': the filters are {}",
                    keys.join(", ")
                ));
            }
            m.entry(k).or_default().push(v.to_string());
        }
        Ok(Filters(m))
    }

    /// The values given for `key` (none when it was not given).
    pub fn values(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Whether `key` lets an object through: it was not given, or one of
    /// its values matches.
    pub fn allows(&self, key: &str, matches: impl Fn(&str) -> bool) -> bool {
        self.0
            .get(key)
            .map_or(true, |vs| vs.iter().any(|v| matches(v)))
    }
}

/// Docker's `label=KEY` or `label=KEY=VALUE` against an object's labels.
pub fn label_matches<'a>(
    filter: &str,
    mut labels: impl Iterator<Item = (&'a String, &'a String)>,
) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.any(|(lk, lv)| lk == k && lv == v),
        None => labels.any(|(lk, _)| lk == filter),
    }
}

/// Go's `path.Match`, which Docker's `reference=` filter uses: `*` is any
/// run of characters but '/', `?` one such character, `[...]` a class.
pub fn glob(pattern: &str, text: &str) -> Result<bool, String> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    re.push('^');
                }
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == ']' {
                        closed = true;
                        break;
                    }
                    if c == '\\' || c == '[' {
                        re.push('\\');
                    }
                    re.push(c);
                }
                if !closed {
                    return Err(format!("invalid pattern '{pattern}': '[' without ']'"));
                }
                re.push(']');
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    let re = regex::Regex::new(&re).map_err(|e| format!("invalid pattern '{pattern}': {e}"))?;
    Ok(re.is_match(text))
}

/// Docker's `name=` and `id=`: a regular expression found anywhere in the
/// value.
pub fn regex_matches(filter: &str, text: &str) -> Result<bool, String> {
    let re =
        regex::Regex::new(filter).map_err(|e| format!("invalid filter value '{filter}': {e}"))?;
    Ok(re.is_match(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn keys_are_checked_and_values_grouped() {
        let f = Filters::parse(
            &s(&["name=a", "name=b", "status=exited"]),
            &["name", "status"],
        )
        .unwrap();
        assert_eq!(f.values("name"), s(&["a", "b"]));
        assert!(f.allows("name", |v| v == "b"));
        assert!(!f.allows("status", |v| v == "running"));
        assert!(f.allows("id", |_| false));
        let e = Filters::parse(&s(&["nope=1"]), &["name"]).unwrap_err();
        assert!(e.contains("'nope'") && e.contains("name"), "{e}");
        assert!(Filters::parse(&s(&["name"]), &["name"]).is_err());
    }

    #[test]
    fn globs_are_go_path_match() {
        assert!(glob("busy*", "busybox").unwrap());
        assert!(glob("busybox:1.*", "busybox:1.38").unwrap());
        assert!(!glob("*", "quay.io/x").unwrap());
        assert!(glob("b?sybox", "busybox").unwrap());
        assert!(glob("[ab]usybox", "busybox").unwrap());
        assert!(!glob("box", "busybox").unwrap());
        assert!(glob("[a", "a").is_err());
    }

    #[test]
    fn labels_by_key_or_pair() {
        let l: BTreeMap<String, String> = [("a".to_string(), "1".to_string())].into();
        assert!(label_matches("a", l.iter()));
        assert!(label_matches("a=1", l.iter()));
        assert!(!label_matches("a=2", l.iter()));
        assert!(!label_matches("b", l.iter()));
    }
}
