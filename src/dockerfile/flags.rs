//! Instruction flags (`--name=value`, `--bool`, repeatable `--mount`):
//! checking them against what each instruction accepts.
//!
//! Owns flag syntax and the unknown/duplicate/value errors. It must not
//! interpret flag values beyond booleans; `parse.rs` does.

use std::collections::BTreeMap;

use super::error::{ErrorKind, Located, Pos, Suggestion};
use super::suggest::closest;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--name=value`, at most once.
    Str,
    /// `--name` or `--name=true|false`, at most once.
    Bool,
    /// `--name=value`, any number of times.
    List,
}

/// The flags an instruction was given, checked.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: BTreeMap<&'static str, Vec<(Pos, String)>>,
}

impl Flags {
    /// Check `raw` (`--name[=value]` with offsets) against `spec`; `pos`
    /// maps an offset to a source position.
    pub fn parse(
        instruction: &'static str,
        raw: &[(usize, String)],
        spec: &[(&'static str, Kind)],
        pos: impl Fn(usize) -> Pos,
    ) -> Result<Flags, Located> {
        let mut flags = Flags::default();
        for (off, text) in raw {
            let at = pos(*off);
            let body = text.strip_prefix("--").unwrap_or(text);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(canonical, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                return Err(Located::new(
                    at,
                    ErrorKind::UnknownFlag {
                        instruction,
                        flag: name.to_string(),
                        suggestion: Suggestion(
                            closest(name, spec.iter().map(|(n, _)| *n)).map(|s| format!("--{s}")),
                        ),
                    },
                ));
            };
            let entry = flags.values.entry(canonical).or_default();
            if kind != Kind::List && !entry.is_empty() {
                return Err(Located::new(at, ErrorKind::DuplicateFlag(canonical.into())));
            }
            let value = match (kind, value) {
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" => "true".into(),
                    "false" => "false".into(),
                    _ => {
                        return Err(Located::new(
                            at,
                            ErrorKind::FlagNotBool {
                                flag: canonical.into(),
                                value: v.into(),
                            },
                        ))
                    }
                },
                (_, None) => {
                    return Err(Located::new(
                        at,
                        ErrorKind::FlagNeedsValue(canonical.into()),
                    ))
                }
                (_, Some(v)) => v.to_string(),
            };
            entry.push((at, value));
        }
        Ok(flags)
    }

    /// A string flag's value and position.
    pub fn get(&self, name: &str) -> Option<(Pos, String)> {
        self.values.get(name).and_then(|v| v.first().cloned())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(|(_, v)| v)
    }

    pub fn bool(&self, name: &str) -> bool {
        self.string(name).as_deref() == Some("true")
    }

    pub fn list(&self, name: &str) -> Vec<(Pos, String)> {
        self.values.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[(&str, Kind)] = &[
        ("from", Kind::Str),
        ("link", Kind::Bool),
        ("exclude", Kind::List),
    ];

    fn parse(raw: &[&str]) -> Result<Flags, String> {
        let raw: Vec<(usize, String)> = raw.iter().map(|s| (0, s.to_string())).collect();
        Flags::parse("COPY", &raw, SPEC, |_| Pos::new(1, 1)).map_err(|e| e.kind.to_string())
    }

    #[test]
    fn values() {
        let f = parse(&["--from=a", "--link", "--exclude=x", "--exclude=y"]).unwrap();
        assert_eq!(f.string("from").as_deref(), Some("a"));
        assert!(f.bool("link"));
        assert_eq!(f.list("exclude").len(), 2);
        assert!(!parse(&["--link=FALSE"]).unwrap().bool("link"));
        assert_eq!(
            parse(&["--from="]).unwrap().string("from").as_deref(),
            Some("")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse(&["--frm=a"]).unwrap_err(),
            "unknown flag '--frm' for COPY (did you mean --from?)"
        );
        assert_eq!(
            parse(&["--from=a", "--from=b"]).unwrap_err(),
            "flag '--from' is given more than once"
        );
        assert_eq!(
            parse(&["--from"]).unwrap_err(),
            "flag '--from' needs a value (--from=VALUE)"
        );
        assert_eq!(
            parse(&["--link=yes"]).unwrap_err(),
            "flag '--link' expects true or false, not 'yes'"
        );
    }
}
