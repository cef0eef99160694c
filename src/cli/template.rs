//! A small subset of Go templates for `--format`: literal text with actions
//! `{{.Field.Sub}}`, `{{json .Field}}` and `{{index .Map "key"}}`, applied to
//! JSON values. Values print as Go would (`[a b]`, `map[k:v]`).
//!
//! Anything else in `{{ }}` is refused with a message, never ignored.

use serde_json::Value;

enum Part {
    Text(String),
    Field {
        json: bool,
        path: Vec<String>,
        key: Option<String>,
    },
}

/// A parsed `--format` string.
pub struct Template(Vec<Part>);

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            parts.push(Part::Text(rest[..start].to_string()));
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("--format '{s}': '{{{{' without '}}}}'"))?;
            parts.push(action(after[..end].trim(), s)?);
            rest = &after[end + 2..];
        }
        parts.push(Part::Text(rest.replace("\\n", "\n").replace("\\t", "\t")));
        Ok(Template(parts))
    }

    pub fn render(&self, v: &Value) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field { json, path, key } => {
                    let mut cur = v;
                    for seg in path {
                        cur = cur.get(seg).unwrap_or(&Value::Null);
                    }
                    if let Some(k) = key {
                        cur = cur.get(k).unwrap_or(&Value::Null);
                    }
                    if *json {
                        out.push_str(&cur.to_string());
                    } else {
                        out.push_str(&go_text(cur));
                    }
                }
            }
        }
        out
    }
}

fn action(a: &str, whole: &str) -> Result<Part, String> {
    let bad = || {
        format!("--format '{whole}': unsupported action '{{{{{a}}}}}': use {{{{.Field}}}}, {{{{json .Field}}}} or {{{{index .Field \"key\"}}}}")
    };
    let words: Vec<&str> = a.split_whitespace().collect();
    let (json, path, key) = match words.as_slice() {
        [p] => (false, *p, None),
        ["json", p] => (true, *p, None),
        ["index", p, k] if k.len() >= 2 && k.starts_with('"') && k.ends_with('"') => {
            (false, *p, Some(k[1..k.len() - 1].to_string()))
        }
        _ => return Err(bad()),
    };
    let path = path.strip_prefix('.').ok_or_else(bad)?;
    let path = if path.is_empty() {
        vec![]
    } else {
        path.split('.').map(str::to_string).collect()
    };
    Ok(Part::Field { json, path, key })
}

/// Go's default formatting of a value.
fn go_text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_text(&m[*k])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_like_go() {
        let v = json!({"Id":"sha256:x","Config":{"Cmd":["sh","-c"],"Labels":{"b":"2","a":"1"}}});
        let t = |s: &str| Template::parse(s).unwrap().render(&v);
        assert_eq!(t("{{.Id}}"), "sha256:x");
        assert_eq!(
            t("id={{ .Id }} cmd={{.Config.Cmd}}"),
            "id=sha256:x cmd=[sh -c]"
        );
        assert_eq!(t("{{json .Config.Cmd}}"), r#"["sh","-c"]"#);
        assert_eq!(t("{{.Config.Labels}}"), "map[a:1 b:2]");
        assert_eq!(t(r#"{{index .Config.Labels "b"}}"#), "2");
        assert_eq!(t("{{.Nope}}"), "<no value>");
        assert!(Template::parse("{{range .X}}").is_err());
        assert!(Template::parse("{{.Id").is_err());
    }
}
