//! "Did you mean" suggestions by edit distance.
//!
//! Owns only the distance metric and the cut-off; callers decide which
//! names are candidates.

/// Levenshtein distance over chars, case-insensitive.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate, if it is close enough to be a plausible typo:
/// at most a third of the longer word's length, and at least one edit
/// allowed so short names still get suggestions.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("RUNN", "RUN"), 1);
        assert_eq!(distance("copy", "COPY"), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }

    #[test]
    fn suggests_only_close_names() {
        let names = ["RUN", "COPY", "ENTRYPOINT"];
        assert_eq!(closest("RUNN", names).as_deref(), Some("RUN"));
        assert_eq!(closest("ENTRYPONT", names).as_deref(), Some("ENTRYPOINT"));
        assert_eq!(closest("XYZZYQ", names), None);
    }
}
