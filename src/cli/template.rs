//! Go templates for every `--format`, applied to JSON values, as Docker and
//! Podman take them: `{{.Field.Sub}}`, pipelines (`{{.Names | upper}}`),
//! `{{if}}`/`{{else if}}`/`{{else}}`, `{{range}}` (with `{{else}}`), `{{with}}`,
//! trim markers (`{{-`, `-}}`), the functions `json`, `join`, `lower`,
//! `upper`, `title`, `printf`, `index`, `len`, `split`, `eq`, `ne`, `lt`,
//! `le`, `gt`, `ge`, `not`, `and`, `or`, Docker's `.Label "KEY"` (one label of
//! the row, whose `Labels` are a map or `k=v,...` text), fields of a
//! parenthesised pipeline (`{{(index .Mounts 0).Source}}`), and the `table`
//! prefix (a header row, columns aligned on `\t`). `\t` and `\n` in the text
//! are a tab and a newline.
//!
//! A field that the value does not have is an error naming the fields it
//! has, never `<no value>`. Anything else this engine does not know is
//! refused at parse time with the action it could not read.

use serde_json::Value;

/// A parsed `--format` string.
pub struct Template {
    nodes: Vec<Node>,
    table: bool,
}

#[derive(Debug)]
enum Node {
    Text(String),
    Print(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

type Pipeline = Vec<Cmd>;

#[derive(Debug)]
struct Cmd {
    func: Option<String>,
    args: Vec<Operand>,
}

#[derive(Debug)]
enum Operand {
    /// `.A.B` (empty path: `.`), on the current value.
    Field(Vec<String>),
    /// `$.A.B`, on the top value.
    Root(Vec<String>),
    Lit(Value),
    /// `(pipeline)`, or `(pipeline).A.B`: fields of its value.
    Sub(Pipeline, Vec<String>),
}

/// The method `.Label "KEY"`, a function of the dot.
const LABEL: &str = ".Label";

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let (table, body) = match s.trim_start().strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, s),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let tokens = lex(&body).map_err(|e| format!("--format '{s}': {e}"))?;
        let mut it = tokens.into_iter().peekable();
        let (nodes, end) = parse_nodes(&mut it).map_err(|e| format!("--format '{s}': {e}"))?;
        if let Some(end) = end {
            return Err(format!("--format '{s}': {{{{{end}}}}} without a matching {{{{if}}}}, {{{{range}}}} or {{{{with}}}}"));
        }
        Ok(Template { nodes, table })
    }

    /// Whether the format started with `table`: print a header row first.
    pub fn is_table(&self) -> bool {
        self.table
    }

    /// The text for one value.
    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        exec(&self.nodes, v, v, &mut out)?;
        Ok(out)
    }

    /// Refuse a field of the row that is not one of `fields`, before any row
    /// is rendered (so an empty listing says so too). Inside `range` and
    /// `with` the dot is something else, so only their pipelines count.
    pub fn check_fields(&self, fields: &[&str]) -> Result<(), String> {
        fn pipe(p: &Pipeline, fields: &[&str]) -> Result<(), String> {
            for c in p {
                if c.func.as_deref() == Some(LABEL) && !fields.contains(&"Labels") {
                    return Err("no field 'Labels', which .Label reads".into());
                }
                for a in &c.args {
                    match a {
                        Operand::Field(path) | Operand::Root(path) => {
                            if let Some(f) = path.first().filter(|f| !fields.contains(&f.as_str()))
                            {
                                let mut known = fields.to_vec();
                                known.sort();
                                return Err(format!(
                                    "no field '{f}'; the fields are: {}",
                                    known.join(", ")
                                ));
                            }
                        }
                        Operand::Sub(p, _) => pipe(p, fields)?,
                        Operand::Lit(_) => {}
                    }
                }
            }
            Ok(())
        }
        fn nodes(ns: &[Node], fields: &[&str]) -> Result<(), String> {
            for n in ns {
                match n {
                    Node::Text(_) => {}
                    Node::Print(p) => pipe(p, fields)?,
                    Node::If(arms, other) => {
                        for (c, body) in arms {
                            pipe(c, fields)?;
                            nodes(body, fields)?;
                        }
                        nodes(other, fields)?;
                    }
                    Node::Range(p, _, other) | Node::With(p, _, other) => {
                        pipe(p, fields)?;
                        nodes(other, fields)?;
                    }
                }
            }
            Ok(())
        }
        nodes(&self.nodes, fields)
    }

    /// Render one line per value (with a header row first for `table`, made
    /// by rendering the template over `header`, whose fields hold the column
    /// titles), then align tab-separated columns as Docker's tabwriter does.
    pub fn render_rows(&self, header: &Value, rows: &[Value]) -> Result<String, String> {
        let mut lines = Vec::new();
        if self.table {
            lines.push(self.render(header)?);
        }
        for r in rows {
            lines.push(self.render(r)?);
        }
        Ok(align(&lines))
    }
}

/// Docker's `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`: each tab-ended
/// cell padded to its column's widest cell plus 3, at least 10.
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines
        .iter()
        .flat_map(|l| l.split('\n'))
        .map(|l| l.split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate().take(r.len().saturating_sub(1)) {
            if widths.len() <= i {
                widths.push(0);
            }
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            out.push_str(c);
            if i + 1 < r.len() {
                let w = (widths[i] + 3).max(10);
                out.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push('\n');
    }
    // One line per value: the caller adds the newline.
    out.pop();
    out
}

/// The column title for a field name: Docker's `CreatedAt` → `CREATED AT`.
pub fn title_of(field: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = field.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        if i > 0 && c.is_uppercase() && (chars[i - 1].is_lowercase() || next_lower) {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// A header value for `render_rows`: each field titled by `titles` where
/// given, else by `title_of`.
pub fn header(fields: &[&str], titles: &[(&str, &str)]) -> Value {
    let h = fields
        .iter()
        .map(|k| {
            let t = titles
                .iter()
                .find(|(f, _)| f == k)
                .map(|(_, t)| t.to_string())
                .unwrap_or_else(|| title_of(k));
            (k.to_string(), Value::String(t))
        })
        .collect();
    Value::Object(h)
}

/// What a listing's `--format` asks for: its own table, a JSON array, or a
/// template per row.
pub enum Listing {
    Table,
    Json,
    Template(Template),
}

impl Listing {
    pub fn parse(format: Option<&str>) -> Result<Listing, String> {
        match format {
            None | Some("table") => Ok(Listing::Table),
            Some("json") => Ok(Listing::Json),
            Some(f) => Template::parse(f).map(Listing::Template),
        }
    }
}

/// Print templated rows (header from `fields` and `titles` for `table`);
/// nothing at all for no rows without a header.
pub fn print_rows(
    printer: &crate::ui::Printer,
    t: &Template,
    fields: &[&str],
    titles: &[(&str, &str)],
    rows: &[Value],
) -> anyhow::Result<()> {
    t.check_fields(fields).map_err(anyhow::Error::msg)?;
    let text = t
        .render_rows(&header(fields, titles), rows)
        .map_err(anyhow::Error::msg)?;
    if !rows.is_empty() || t.is_table() {
        printer.out(&text);
    }
    Ok(())
}

// ---- lexing: text and the actions between {{ and }}.

#[derive(Debug, PartialEq)]
enum Tok {
    Text(String),
    Action(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = &rest[..start];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("'{{' without '}}'")?;
        let mut inner = &after[..end];
        if let Some(i) = inner.strip_prefix("- ") {
            text = text.trim_end();
            inner = i;
        }
        trim_next = false;
        if let Some(i) = inner.strip_suffix(" -") {
            trim_next = true;
            inner = i;
        }
        if !text.is_empty() {
            out.push(Tok::Text(text.to_string()));
        }
        out.push(Tok::Action(inner.trim().to_string()));
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        out.push(Tok::Text(text.to_string()));
    }
    Ok(out)
}

// ---- parsing: a tree of nodes; pipelines of commands.

type Toks = std::iter::Peekable<std::vec::IntoIter<Tok>>;

/// Nodes up to an `end` or `else...` (returned) or the end of input (None).
fn parse_nodes(it: &mut Toks) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while let Some(t) = it.next() {
        let a = match t {
            Tok::Text(s) => {
                nodes.push(Node::Text(s));
                continue;
            }
            Tok::Action(a) => a,
        };
        let (word, rest) = match a.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (a.as_str(), ""),
        };
        match word {
            "end" | "else" => return Ok((nodes, Some(a))),
            "if" => {
                let mut arms = vec![];
                let mut cond = pipeline(rest)?;
                loop {
                    let (body, end) = parse_nodes(it)?;
                    arms.push((cond, body));
                    match end.as_deref() {
                        Some("end") => {
                            nodes.push(Node::If(arms, vec![]));
                            break;
                        }
                        Some("else") => {
                            let (other, end) = parse_nodes(it)?;
                            expect_end(end, "if")?;
                            nodes.push(Node::If(arms, other));
                            break;
                        }
                        Some(e) if e.starts_with("else if ") => cond = pipeline(&e[8..])?,
                        _ => return Err("{{if}} without {{end}}".into()),
                    }
                }
            }
            "range" | "with" => {
                let p = pipeline(rest)?;
                let (body, end) = parse_nodes(it)?;
                let other = match end.as_deref() {
                    Some("end") => vec![],
                    Some("else") => {
                        let (other, end) = parse_nodes(it)?;
                        expect_end(end, word)?;
                        other
                    }
                    _ => return Err(format!("{{{{{word}}}}} without {{{{end}}}}")),
                };
                nodes.push(if word == "range" {
                    Node::Range(p, body, other)
                } else {
                    Node::With(p, body, other)
                });
            }
            _ if a.starts_with("/*") => {}
            _ => nodes.push(Node::Print(pipeline(&a)?)),
        }
    }
    Ok((nodes, None))
}

fn expect_end(end: Option<String>, what: &str) -> Result<(), String> {
    match end.as_deref() {
        Some("end") => Ok(()),
        _ => Err(format!(
            "{{{{{what}}}}} ... {{{{else}}}} without {{{{end}}}}"
        )),
    }
}

/// `cmd | cmd | ...`
fn pipeline(s: &str) -> Result<Pipeline, String> {
    let words = words(s)?;
    if words.is_empty() {
        return Err("an empty action {{}}".into());
    }
    let mut cmds = Vec::new();
    for group in words.split(|w| w == "|") {
        cmds.push(command(group, s)?);
    }
    Ok(cmds)
}

fn command(words: &[String], whole: &str) -> Result<Cmd, String> {
    let (first, rest) = words
        .split_first()
        .ok_or_else(|| format!("an empty command in '{{{{{whole}}}}}'"))?;
    if FUNCS.contains(&first.as_str()) || first == LABEL {
        let args = rest
            .iter()
            .map(|w| operand(w, whole))
            .collect::<Result<_, _>>()?;
        return Ok(Cmd {
            func: Some(first.clone()),
            args,
        });
    }
    if !rest.is_empty() {
        return Err(format!(
            "'{{{{{whole}}}}}': '{first}' is not a function (known: {})",
            FUNCS.join(", ")
        ));
    }
    Ok(Cmd {
        func: None,
        args: vec![operand(first, whole)?],
    })
}

const FUNCS: &[&str] = &[
    "json", "join", "lower", "upper", "title", "printf", "index", "len", "split", "eq", "ne", "lt",
    "le", "gt", "ge", "not", "and", "or", "print", "println",
];

fn operand(w: &str, whole: &str) -> Result<Operand, String> {
    let path = |p: &str| -> Vec<String> {
        p.split('.')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    if let Some(inner) = w.strip_prefix('(') {
        // `words` kept the group whole, with any `.A.B` right after it.
        let close = inner
            .rfind(')')
            .ok_or_else(|| format!("unbalanced parentheses in '{{{{{whole}}}}}'"))?;
        let (sub, tail) = (&inner[..close], &inner[close + 1..]);
        if !tail.is_empty() && !tail.starts_with('.') {
            return Err(format!("'{{{{{whole}}}}}': cannot read '{w}'"));
        }
        return Ok(Operand::Sub(pipeline(sub)?, path(tail)));
    }
    if w.starts_with('.') {
        return Ok(Operand::Field(path(w)));
    }
    if let Some(p) = w.strip_prefix('$') {
        return Ok(Operand::Root(path(p)));
    }
    if w.starts_with('"') {
        return serde_json::from_str::<String>(w)
            .map(|s| Operand::Lit(Value::String(s)))
            .map_err(|_| format!("'{{{{{whole}}}}}': bad string {w}"));
    }
    if let Some(raw) = w.strip_prefix('`').and_then(|w| w.strip_suffix('`')) {
        return Ok(Operand::Lit(Value::String(raw.to_string())));
    }
    match w {
        "true" => return Ok(Operand::Lit(Value::Bool(true))),
        "false" => return Ok(Operand::Lit(Value::Bool(false))),
        _ => {}
    }
    if let Ok(n) = serde_json::from_str::<serde_json::Number>(w) {
        return Ok(Operand::Lit(Value::Number(n)));
    }
    Err(format!(
        "'{{{{{whole}}}}}': cannot read '{w}' (a field is written .Name; functions: {})",
        FUNCS.join(", ")
    ))
}

/// Split an action into words: strings and parentheses stay whole, `|`
/// stands alone.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            '|' => i += 1,
            '"' => {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                if i >= chars.len() {
                    return Err(format!("an unterminated string in '{{{{{s}}}}}'"));
                }
                i += 1;
            }
            '`' => {
                i += 1;
                while i < chars.len() && chars[i] != '`' {
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(format!("an unterminated string in '{{{{{s}}}}}'"));
                }
                i += 1;
            }
            '(' => {
                let mut depth = 0;
                while i < chars.len() {
                    match chars[i] {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
                if depth != 0 {
                    return Err(format!("unbalanced parentheses in '{{{{{s}}}}}'"));
                }
                // `(pipeline).Field`: the fields belong to the group.
                while i < chars.len() && !chars[i].is_whitespace() && !"|()".contains(chars[i]) {
                    i += 1;
                }
            }
            _ => {
                while i < chars.len() && !chars[i].is_whitespace() && chars[i] != '|' {
                    i += 1;
                }
            }
        }
        out.push(chars[start..i].iter().collect());
    }
    Ok(out)
}

// ---- execution.

fn exec(nodes: &[Node], dot: &Value, top: &Value, out: &mut String) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Print(p) => out.push_str(&go_text(&eval(p, dot, top)?)),
            Node::If(arms, other) => {
                let mut done = false;
                for (cond, body) in arms {
                    if truthy(&eval(cond, dot, top)?) {
                        exec(body, dot, top, out)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    exec(other, dot, top, out)?;
                }
            }
            Node::With(p, body, other) => {
                let v = eval(p, dot, top)?;
                if truthy(&v) {
                    exec(body, &v, top, out)?;
                } else {
                    exec(other, dot, top, out)?;
                }
            }
            Node::Range(p, body, other) => {
                let items: Vec<Value> = match eval(p, dot, top)? {
                    Value::Array(a) => a,
                    // Go ranges over a map's values in key order.
                    Value::Object(m) => {
                        let mut kv: Vec<_> = m.into_iter().collect();
                        kv.sort_by(|a, b| a.0.cmp(&b.0));
                        kv.into_iter().map(|(_, v)| v).collect()
                    }
                    Value::Null => vec![],
                    other => return Err(format!("range over {}", kind(&other))),
                };
                if items.is_empty() {
                    exec(other, dot, top, out)?;
                }
                for item in &items {
                    exec(body, item, top, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval(p: &Pipeline, dot: &Value, top: &Value) -> Result<Value, String> {
    let mut prev: Option<Value> = None;
    for cmd in p {
        let mut args = cmd
            .args
            .iter()
            .map(|a| operand_value(a, dot, top))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(v) = prev.take() {
            args.push(v);
        }
        prev = Some(match &cmd.func {
            Some(f) if f == LABEL => label(dot, &args)?,
            Some(f) => call(f, args)?,
            None if args.len() == 1 => args.pop().unwrap(),
            None => return Err("a value cannot take arguments".into()),
        });
    }
    Ok(prev.unwrap_or(Value::Null))
}

fn operand_value(o: &Operand, dot: &Value, top: &Value) -> Result<Value, String> {
    match o {
        Operand::Field(path) => field(dot, path),
        Operand::Root(path) => field(top, path),
        Operand::Lit(v) => Ok(v.clone()),
        Operand::Sub(p, path) => field(&eval(p, dot, top)?, path),
    }
}

/// Docker's `.Label "KEY"`: the label's value, empty when it has none.
fn label(dot: &Value, args: &[Value]) -> Result<Value, String> {
    arity(LABEL, args, 1)?;
    let key = go_text(&args[0]);
    let found = match field(dot, &["Labels".to_string()])? {
        Value::Object(m) => m.get(&key).map(go_text),
        Value::String(t) => t
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string()),
        _ => None,
    };
    Ok(Value::String(found.unwrap_or_default()))
}

fn field(v: &Value, path: &[String]) -> Result<Value, String> {
    let mut cur = v;
    for (i, seg) in path.iter().enumerate() {
        cur = match cur {
            Value::Object(m) => match m.get(seg) {
                Some(x) => x,
                None => {
                    let mut keys: Vec<&str> = m.keys().map(String::as_str).collect();
                    keys.sort();
                    let at = if i == 0 {
                        String::new()
                    } else {
                        format!(" in .{}", path[..i].join("."))
                    };
                    return Err(format!(
                        "no field '{seg}'{at}; the fields are: {}",
                        keys.join(", ")
                    ));
                }
            },
            // Go prints <no value> for a field of a missing map entry.
            Value::Null => return Ok(Value::Null),
            other => {
                return Err(format!(
                    "cannot take field '{seg}' of {} {}",
                    kind(other),
                    go_text(other)
                ))
            }
        };
    }
    Ok(cur.clone())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

fn arity(f: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!("{f} takes {n} argument(s), got {}", args.len()))
    }
}

fn call(f: &str, mut args: Vec<Value>) -> Result<Value, String> {
    let s = |v: &Value| go_text(v);
    Ok(match f {
        "json" => {
            arity(f, &args, 1)?;
            Value::String(args[0].to_string())
        }
        "lower" | "upper" | "title" => {
            arity(f, &args, 1)?;
            let t = s(&args[0]);
            Value::String(match f {
                "lower" => t.to_lowercase(),
                "upper" => t.to_uppercase(),
                _ => t
                    .split(' ')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_uppercase().chain(c).collect())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<String>>()
                    .join(" "),
            })
        }
        "join" => {
            arity(f, &args, 2)?;
            let Value::Array(items) = &args[0] else {
                return Err(format!("join needs a list, not {}", kind(&args[0])));
            };
            Value::String(items.iter().map(s).collect::<Vec<_>>().join(&s(&args[1])))
        }
        "split" => {
            arity(f, &args, 2)?;
            let parts = s(&args[0])
                .split(&s(&args[1]))
                .map(|p| Value::String(p.into()))
                .collect();
            Value::Array(parts)
        }
        "len" => {
            arity(f, &args, 1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(t) => t.len(),
                other => return Err(format!("len of {}", kind(other))),
            })
        }
        "index" => {
            let (first, keys) = args.split_first().ok_or("index takes a value and keys")?;
            let mut cur = first.clone();
            for k in keys {
                cur = match (&cur, k) {
                    (Value::Array(a), Value::Number(n)) => {
                        let i = n.as_u64().ok_or("index: a negative index")? as usize;
                        a.get(i)
                            .cloned()
                            .ok_or_else(|| format!("index {i} out of range (length {})", a.len()))?
                    }
                    (Value::Object(m), Value::String(key)) => {
                        m.get(key).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Null, _) => Value::Null,
                    (c, k) => return Err(format!("cannot index {} with {}", kind(c), go_text(k))),
                };
            }
            cur
        }
        "printf" => {
            if args.is_empty() {
                return Err("printf takes a format".into());
            }
            let fmt = s(&args.remove(0));
            Value::String(sprintf(&fmt, &args)?)
        }
        "print" | "println" => {
            let mut t = args.iter().map(s).collect::<Vec<_>>().join(" ");
            if f == "println" {
                t.push('\n');
            }
            Value::String(t)
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(f, &args, 2)?;
            let ord = compare(&args[0], &args[1]);
            Value::Bool(match f {
                "eq" => args[0] == args[1] || ord == Some(std::cmp::Ordering::Equal),
                "ne" => !(args[0] == args[1] || ord == Some(std::cmp::Ordering::Equal)),
                _ => {
                    let o = ord.ok_or_else(|| {
                        format!(
                            "{f}: cannot compare {} and {}",
                            kind(&args[0]),
                            kind(&args[1])
                        )
                    })?;
                    match f {
                        "lt" => o.is_lt(),
                        "le" => o.is_le(),
                        "gt" => o.is_gt(),
                        _ => o.is_ge(),
                    }
                }
            })
        }
        "not" => {
            arity(f, &args, 1)?;
            Value::Bool(!truthy(&args[0]))
        }
        // Go returns the first falsy (and) or truthy (or) argument, else the last.
        "and" => args
            .iter()
            .find(|v| !truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|v| truthy(v))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        _ => return Err(format!("unknown function {f}")),
    })
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Go's Sprintf for the verbs people use in formats: %s %v %d %q %f %x %%,
/// with flags `-` and `0` and a width (and a precision for %f and %s).
fn sprintf(fmt: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut left = false;
        let mut zero = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let verb = chars.next().ok_or("printf: a format ends in %")?;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let v = next
            .next()
            .ok_or_else(|| format!("printf: %{verb} has no argument"))?;
        let mut text = match verb {
            's' | 'v' => go_text(v),
            'q' => Value::String(go_text(v)).to_string(),
            'd' => match v.as_f64() {
                Some(n) => format!("{}", n.trunc() as i64),
                None => format!("%!d({})", go_text(v)),
            },
            'f' => match v.as_f64() {
                Some(n) => format!("{n:.*}", prec.take().unwrap_or(6)),
                None => format!("%!f({})", go_text(v)),
            },
            'x' => match v {
                Value::Number(n) if n.is_u64() => format!("{:x}", n.as_u64().unwrap_or(0)),
                other => hex::encode(go_text(other)),
            },
            other => return Err(format!("printf: the verb %{other} is not supported")),
        };
        if let (Some(p), 's' | 'v') = (prec, verb) {
            text = text.chars().take(p).collect();
        }
        let w: usize = width.parse().unwrap_or(0);
        let len = text.chars().count();
        if len < w {
            let pad = w - len;
            if left {
                text.push_str(&" ".repeat(pad));
            } else {
                let fill = if zero && verb != 's' { '0' } else { ' ' };
                text = fill.to_string().repeat(pad) + &text;
            }
        }
        out.push_str(&text);
    }
    Ok(out)
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

    fn v() -> Value {
        json!({"Id":"sha256:x","Names":["web","db"],"Size":42,"Running":true,"Name":"Box",
               "Config":{"Cmd":["sh","-c"],"Labels":{"b":"2","a":"1"},"Empty":[]}})
    }

    fn t(s: &str) -> String {
        Template::parse(s).unwrap().render(&v()).unwrap()
    }

    #[test]
    fn fields_and_values_print_like_go() {
        assert_eq!(t("{{.Id}}"), "sha256:x");
        assert_eq!(
            t("id={{ .Id }} cmd={{.Config.Cmd}}"),
            "id=sha256:x cmd=[sh -c]"
        );
        assert_eq!(t("{{.Config.Labels}}"), "map[a:1 b:2]");
        assert_eq!(t("{{.Size}} {{.Running}}"), "42 true");
        assert_eq!(t("{{.Id}}\\t{{.Size}}\\n"), "sha256:x\t42\n");
        assert_eq!(t("{{$.Id}}"), "sha256:x");
    }

    #[test]
    fn label_method_and_fields_of_a_parenthesised_pipeline() {
        let row = json!({"Labels": "tier=db,a=b=c", "Mounts": [{"Source": "/s"}]});
        let r = |f: &str, v: &Value| Template::parse(f).unwrap().render(v).unwrap();
        assert_eq!(r(r#"{{.Label "tier"}}|{{.Label "a"}}"#, &row), "db|b=c");
        assert_eq!(r(r#"[{{.Label "none"}}]"#, &row), "[]");
        assert_eq!(r(r#"{{"tier" | .Label | upper}}"#, &row), "DB");
        let map = json!({"Labels": {"tier": "web"}});
        assert_eq!(r(r#"{{.Label "tier"}}"#, &map), "web");
        assert_eq!(r("{{(index .Mounts 0).Source}}", &row), "/s");
        assert_eq!(r("{{(index .Mounts 0).Source | upper}}", &row), "/S");
        assert_eq!(t("{{(.Config).Cmd}} {{len (.Config.Cmd)}}"), "[sh -c] 2");
        let ps = Template::parse(r#"{{.Label "x"}}"#).unwrap();
        assert!(ps.check_fields(&["Names"]).is_err());
        assert!(ps.check_fields(&["Labels"]).is_ok());
        assert!(Template::parse("{{(index .Mounts 0)x}}").is_err());
    }

    #[test]
    fn functions_and_pipelines() {
        assert_eq!(t("{{json .Config.Cmd}}"), r#"["sh","-c"]"#);
        assert_eq!(t("{{json .}}").len(), v().to_string().len());
        assert_eq!(t(r#"{{index .Config.Labels "b"}}"#), "2");
        assert_eq!(t("{{index .Names 1}}"), "db");
        assert_eq!(t(r#"{{join .Names ", "}}"#), "web, db");
        assert_eq!(t("{{.Name | lower}} {{upper .Name}}"), "box BOX");
        assert_eq!(t(r#"{{join .Names "+" | upper}}"#), "WEB+DB");
        assert_eq!(
            t(r#"{{printf "%-5s|%3d|%05d|%q" .Name .Size .Size .Name}}"#),
            "Box  | 42|00042|\"Box\""
        );
        assert_eq!(t(r#"{{printf "%.2f%%" 1.5}}"#), "1.50%");
        assert_eq!(t("{{len .Names}} {{len .Config.Empty}}"), "2 0");
        assert_eq!(t(r#"{{(index .Names 0) | upper}}"#), "WEB");
        assert_eq!(t(r#"{{split "a:b" ":"}}"#), "[a b]");
    }

    #[test]
    fn control_flow() {
        assert_eq!(t("{{range .Names}}<{{.}}>{{end}}"), "<web><db>");
        assert_eq!(t("{{range .Config.Empty}}x{{else}}none{{end}}"), "none");
        assert_eq!(t("{{range .Config.Labels}}{{.}}{{end}}"), "12");
        assert_eq!(t("{{range .Names}}{{$.Name}}{{end}}"), "BoxBox");
        assert_eq!(t("{{if .Running}}up{{else}}down{{end}}"), "up");
        assert_eq!(
            t("{{if .Config.Empty}}a{{else if eq .Size 42}}b{{else}}c{{end}}"),
            "b"
        );
        assert_eq!(t(r#"{{if and .Running (ne .Name "x")}}y{{end}}"#), "y");
        assert_eq!(t("{{if not .Running}}y{{else}}n{{end}}"), "n");
        assert_eq!(t("{{if gt .Size 40}}big{{end}}"), "big");
        assert_eq!(t("{{with .Config}}{{.Cmd}}{{end}}"), "[sh -c]");
        assert_eq!(t("a {{- .Name -}} b"), "aBoxb");
    }

    #[test]
    fn unknown_fields_name_the_valid_ones() {
        let e = Template::parse("{{.Nope}}")
            .unwrap()
            .render(&v())
            .unwrap_err();
        assert_eq!(
            e,
            "no field 'Nope'; the fields are: Config, Id, Name, Names, Running, Size"
        );
        let e = Template::parse("{{.Config.X}}")
            .unwrap()
            .render(&v())
            .unwrap_err();
        assert!(
            e.contains("'X' in .Config") && e.contains("Cmd, Empty, Labels"),
            "{e}"
        );
        let e = Template::parse("{{.Id.X}}")
            .unwrap()
            .render(&v())
            .unwrap_err();
        assert!(e.contains("of a string"), "{e}");
        let listing = ["ID", "Name"];
        let ok = Template::parse("{{.ID}}{{range .Name}}{{.X}}{{end}}{{if .Name}}{{end}}").unwrap();
        assert_eq!(ok.check_fields(&listing), Ok(()));
        let bad = Template::parse("{{if .Nope}}{{end}}").unwrap();
        assert_eq!(
            bad.check_fields(&listing).unwrap_err(),
            "no field 'Nope'; the fields are: ID, Name"
        );
    }

    #[test]
    fn bad_templates_fail_at_parse() {
        for bad in [
            "{{.Id",
            "{{range .Names}}",
            "{{if .Id}}{{else}}",
            "{{end}}",
            "{{nosuch .Id}}",
            "{{.Id .Name}}",
            r#"{{printf "x}}"#,
            "{{}}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tables_have_a_header_and_aligned_columns() {
        let tpl = Template::parse("table {{.ID}}\\t{{.Name}}\\t{{.CreatedAt}}").unwrap();
        assert!(tpl.is_table());
        let rows = [
            json!({"ID":"abc","Name":"a-long-name","CreatedAt":"now"}),
            json!({"ID":"d","Name":"b","CreatedAt":"then"}),
        ];
        let h = header(&["ID", "Name", "CreatedAt"], &[("ID", "CONTAINER ID")]);
        assert_eq!(
            tpl.render_rows(&h, &rows).unwrap(),
            "CONTAINER ID   NAME          CREATED AT\n\
             abc            a-long-name   now\n\
             d              b             then"
        );
        // Without `table`: no header, tabs still align.
        let plain = Template::parse("{{.ID}}\\t{{.Name}}").unwrap();
        assert_eq!(
            plain.render_rows(&h, &rows).unwrap(),
            "abc       a-long-name\nd         b"
        );
        assert_eq!(title_of("CreatedAt"), "CREATED AT");
        assert_eq!(title_of("ID"), "ID");
        assert_eq!(title_of("RepoTags"), "REPO TAGS");
    }
}
