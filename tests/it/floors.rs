//! The floors of docs/ARCHITECTURE.md, enforced: every `crate::x` path in a
//! module of `src/` (in `use` lines or written out in code) must name a
//! module on a lower floor, or the module itself. The table is read from the
//! document, so the picture and the code cannot drift apart: a new module
//! must be given a floor there before it compiles into a passing build.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name → floor, from the first fenced block under "## Floors".
fn table(doc: &str) -> BTreeMap<String, u32> {
    let section = doc
        .split("\n## Floors")
        .nth(1)
        .expect("docs/ARCHITECTURE.md has a '## Floors' section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the Floors section has a fenced table");
    let mut floors = BTreeMap::new();
    let mut floor = None;
    for line in block.lines().skip(1) {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        let module = match first.parse::<u32>() {
            Ok(n) => {
                floor = Some(n);
                words.next()
            }
            Err(_) => Some(first),
        };
        let (Some(module), Some(floor)) = (module, floor) else {
            continue;
        };
        let name = module.trim_end_matches('/').trim_end_matches(".rs");
        floors.insert(name.to_string(), floor);
    }
    floors
}

/// Drop `//` comments (doc comments name other modules freely).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules a source text names through `crate::`, including
/// each first segment of a `crate::{a::b, c}` group.
fn targets(text: &str) -> BTreeSet<String> {
    let code = code_of(text);
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        // `$crate::` in macros is not an edge of this crate's modules.
        if code[..i].ends_with('$') {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut word = String::new();
            let mut at_start = true;
            for c in group.chars() {
                if at_start && (c.is_alphanumeric() || c == '_') {
                    word.push(c);
                    continue;
                }
                if !word.is_empty() {
                    out.insert(std::mem::take(&mut word));
                    at_start = false;
                }
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => at_start = true,
                    _ => {}
                }
            }
            if !word.is_empty() {
                out.insert(word);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.insert(name);
        }
    }
    out
}

/// Every `.rs` file under `dir` with its top-level module name.
fn sources(src: &Path) -> Vec<(String, std::path::PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(src).unwrap();
                let top = rel.components().next().unwrap().as_os_str();
                let top = top.to_str().unwrap().trim_end_matches(".rs").to_string();
                out.push((top, p));
            }
        }
    }
    out.sort();
    out
}

/// The imports that break the table: "file: module (floor) -> target (floor)".
fn violations(floors: &BTreeMap<String, u32>, files: &[(String, String, String)]) -> Vec<String> {
    let mut bad = Vec::new();
    for (module, file, text) in files {
        let Some(&own) = floors.get(module) else {
            bad.push(format!("{file}: module {module} has no floor in the table"));
            continue;
        };
        for t in targets(text) {
            if t == *module {
                continue;
            }
            match floors.get(&t) {
                Some(&f) if f < own => {}
                Some(&f) => bad.push(format!(
                    "{file}: {module} (floor {own}) imports {t} (floor {f})"
                )),
                None => bad.push(format!("{file}: imports crate::{t}, which has no floor")),
            }
        }
    }
    bad
}

#[test]
fn modules_import_only_from_lower_floors() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let floors = table(&doc);
    assert!(floors.len() > 10, "the floor table looks empty: {floors:?}");
    let files: Vec<(String, String, String)> = sources(&root.join("src"))
        .into_iter()
        // The binary's entry point is not a module of the library.
        .filter(|(m, _)| m != "main" && m != "lib")
        .map(|(m, p)| {
            let text = std::fs::read_to_string(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            (m, rel, text)
        })
        .collect();
    let bad = violations(&floors, &files);
    assert!(
        bad.is_empty(),
        "imports that climb a floor (see docs/ARCHITECTURE.md, Floors):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_catches_an_upward_import_and_reads_groups() {
    let doc = "x\n## Floors\n```\n 1  sys/   raw\n    dirs.rs\n 2  store/ blobs\n 3  cli/\n```\n";
    let floors = table(doc);
    assert_eq!(floors["dirs"], 1);
    assert_eq!(floors["store"], 2);
    let file = |m: &str, text: &str| (m.to_string(), format!("src/{m}/x.rs"), text.to_string());
    let ok = [
        file(
            "store",
            "use crate::{dirs::Dirs, sys::{a, b}};\n// crate::cli in a comment\n",
        ),
        file("cli", "fn f() { crate::store::open(); }"),
    ];
    assert!(violations(&floors, &ok).is_empty());
    let up = [file("store", "use crate::{sys, cli::Ctx};")];
    assert_eq!(
        violations(&floors, &up),
        ["src/store/x.rs: store (floor 2) imports cli (floor 3)"]
    );
    let same = [file("dirs", "use crate::sys::x;")];
    assert_eq!(violations(&floors, &same).len(), 1);
}

/// The return type of each `pub fn` in a source text, with the function's
/// name: the text after the `->` that follows the parameter list (a closure
/// bound such as `F: FnOnce() -> Result<(), String>` is not a return type).
fn pub_returns(text: &str) -> Vec<(String, String)> {
    let code = code_of(text);
    let mut out = Vec::new();
    for (i, _) in code.match_indices("pub fn ") {
        let sig = &code[i + "pub fn ".len()..];
        let end = sig.find(['{', ';']).unwrap_or(sig.len());
        let sig = &sig[..end];
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut ret) = (0i32, None);
        let b = sig.as_bytes();
        let mut k = 0;
        while k < b.len() {
            match b[k] {
                b'-' if b.get(k + 1) == Some(&b'>') => {
                    if depth == 0 {
                        ret = Some(k + 2);
                    }
                    k += 1;
                }
                b'(' | b'<' | b'[' => depth += 1,
                b')' | b'>' | b']' => depth -= 1,
                _ => {}
            }
            k += 1;
        }
        if let Some(r) = ret {
            let ty: String = sig[r..]
                .split("where")
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            out.push((name, ty));
        }
    }
    out
}

/// Whether a return type (without spaces) is a `Result` whose error is text.
fn returns_text_error(ty: &str) -> bool {
    let ty = ty.trim_start_matches("std::result::");
    ty.starts_with("Result<") && ty.ends_with(",String>")
}

/// Library files that still return `Result<_, String>` from public functions,
/// with how many: the number may only go down (lower it when you convert
/// one; a new file or a higher number fails).
const TEXT_ERRORS_LEFT: &[(&str, usize)] = &[];

#[test]
fn library_errors_are_typed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut bad = Vec::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (module, p) in sources(&root.join("src")) {
        if module == "cli" || module == "main" {
            continue;
        }
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        if code_of(&text).contains("anyhow") {
            bad.push(format!(
                "{rel}: uses anyhow (only cli/ may; return the module's Error)"
            ));
        }
        let n = pub_returns(&text)
            .iter()
            .filter(|(_, ty)| returns_text_error(ty))
            .count();
        if n > 0 {
            counts.insert(rel, n);
        }
    }
    let allowed: BTreeMap<String, usize> = TEXT_ERRORS_LEFT
        .iter()
        .map(|(f, n)| (f.to_string(), *n))
        .collect();
    for (file, n) in &counts {
        match allowed.get(file) {
            Some(a) if n <= a => {}
            _ => bad.push(format!(
                "{file}: {n} public functions return Result<_, String> (allowed {}): \
                 return the module's typed error",
                allowed.get(file).copied().unwrap_or(0)
            )),
        }
    }
    for (file, a) in &allowed {
        let n = counts.get(file).copied().unwrap_or(0);
        if n < *a {
            bad.push(format!(
                "{file}: allowed {a} text errors but has {n}: lower TEXT_ERRORS_LEFT"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "untyped library errors:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_error_check_reads_return_types_only() {
    let text = "pub fn a(x: u8) -> Result<u8, String> {\n}\n\
        pub fn b<F: FnOnce() -> Result<(), String>>(f: F) -> Result<(), Error> {}\n\
        pub fn c(\n    x: &str,\n) -> std::result::Result<Vec<u8>, String>;\n\
        // pub fn d() -> Result<(), String>\n\
        pub fn e() -> Result<Vec<(u8, String)>> {}\n";
    let r = pub_returns(text);
    let text_errors: Vec<&str> = r
        .iter()
        .filter(|(_, ty)| returns_text_error(ty))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(text_errors, ["a", "c"]);
    assert_eq!(r.len(), 4);
}

/// The sibling modules a source text in folder `module` (`net`,
/// `container/cp`) names through `super::x` or `crate::<module>::x`,
/// including the first segments of `super::{a, b::c}` groups.
fn sibling_uses(text: &str, module: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let code = code_of(text);
    let mut out = BTreeSet::new();
    let full = format!("crate::{}::", module.replace('/', "::"));
    for prefix in ["super::", full.as_str()] {
        for (i, _) in code.match_indices(prefix) {
            let rest = &code[i + prefix.len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => {
                    let mut depth = 0;
                    let end = group
                        .char_indices()
                        .find(|&(_, c)| {
                            match c {
                                '{' => depth += 1,
                                '}' if depth == 0 => return true,
                                '}' => depth -= 1,
                                _ => {}
                            }
                            false
                        })
                        .map_or(group.len(), |(k, _)| k);
                    group[..end].split(',').collect()
                }
                None => vec![rest],
            };
            for n in names {
                let word: String = n
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if siblings.contains(&word) {
                    out.insert(word);
                }
            }
        }
    }
    out
}

/// Files in one folder that import each other in a loop, as `a -> b -> a`.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    fn walk(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut c = path[at..].to_vec();
            c.push(n.to_string());
            out.push(c.join(" -> "));
            return;
        }
        if done.contains(n) {
            return;
        }
        path.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            walk(m, edges, path, done, out);
        }
        path.pop();
        done.insert(n.to_string());
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        walk(n, edges, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

#[test]
fn files_in_a_folder_do_not_import_each_other_in_a_loop() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut bad = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        let module = dir.strip_prefix(&src).unwrap().display().to_string();
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_stem().unwrap().to_str().unwrap().to_string();
            if p.is_dir() {
                stack.push(p.clone());
                if p.join("mod.rs").exists() {
                    files.insert(name, p.join("mod.rs"));
                }
            } else if p.extension().is_some_and(|x| x == "rs") && name != "mod" {
                files.insert(name, p);
            }
        }
        if module.is_empty() {
            continue;
        }
        let names: BTreeSet<String> = files.keys().cloned().collect();
        let edges: BTreeMap<String, BTreeSet<String>> = files
            .iter()
            .map(|(n, p)| {
                let text = std::fs::read_to_string(p).unwrap();
                // Unit tests may use the folder's test support, which uses
                // the code under test.
                let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
                let mut uses = sibling_uses(text, &module, &names);
                uses.remove(n);
                (n.clone(), uses)
            })
            .collect();
        for c in circles(&edges) {
            bad.push(format!("src/{module}: {c}"));
        }
    }
    assert!(
        bad.is_empty(),
        "files that import each other in a loop (move the shared piece to the file it belongs in):\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_circle_check_finds_a_loop_through_groups() {
    let sib: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let uses = sibling_uses(
        "use super::{a::X, b};\nfn f() { crate::net::c::g(); }",
        "net",
        &sib,
    );
    assert_eq!(uses, sib);
    let mut edges = BTreeMap::new();
    edges.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    edges.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    edges.insert("c".to_string(), BTreeSet::new());
    assert!(circles(&edges).is_empty());
    edges.get_mut("c").unwrap().insert("a".to_string());
    assert_eq!(circles(&edges), ["a -> b -> c -> a"]);
}

/// Field names that say an error field holds a message rather than the
/// thing the error is about (a path, a name, a value as given).
const MESSAGE_FIELDS: &[&str] = &[
    "why", "reason", "message", "msg", "error", "err", "detail", "cause",
];

/// Error variants below cli/ that still carry a pre-formatted message in a
/// `String` ("file: Enum::Variant"), each with why it is text. The list may
/// only shrink: a new one fails, and so does one listed that is gone.
const TEXT_VARIANTS_LEFT: &[&str] = &[
    "src/container/cp/enter.rs: EnterError::Inside (the work's error, across a fork)",
    "src/dockerfile/expand.rs: ExpandError::Required (the Dockerfile's own ${VAR:?message})",
    "src/net/bridge.rs: StepError::Record (a NetError, across a fork)",
    "src/project/mod.rs: Error::Start (the supervisor's message, read back from it)",
    "src/userns/error.rs: Error::Inside (a closure's error, across a fork)",
];

/// `text` with its string literals' contents blanked (spaces, byte for
/// byte), so that braces and commas in messages do not count as code and
/// offsets into it are offsets into `text`.
fn blank_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    let blank = |out: &mut String, c: char| out.extend(std::iter::repeat(' ').take(c.len_utf8()));
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            while let Some(s) = chars.next() {
                match s {
                    '\\' => {
                        blank(&mut out, s);
                        if let Some(e) = chars.next() {
                            blank(&mut out, e);
                        }
                    }
                    '"' => {
                        out.push('"');
                        break;
                    }
                    _ => blank(&mut out, s),
                }
            }
        }
    }
    out
}

/// `text` split at the commas outside brackets; `<>` count as brackets
/// outside attributes (`#[...]`), where they are types' generics.
fn top_level(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut stack: Vec<char> = Vec::new();
    for c in text.chars() {
        match c {
            '(' | '{' | '[' => stack.push(c),
            '<' if !stack.contains(&'[') => stack.push(c),
            ')' | '}' | ']' => {
                stack.pop();
            }
            '>' if stack.last() == Some(&'<') => {
                stack.pop();
            }
            ',' if stack.is_empty() => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Where the bracket `text` starts with is closed: the byte after it.
fn after_closing(text: &str, open: char, close: char) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return i + 1;
            }
        }
    }
    text.len()
}

/// Where the leading `#[...]` attributes of an item (with its strings
/// blanked) end: the byte ranges of the attributes, and the rest's start.
fn attributes(item: &str) -> (Vec<std::ops::Range<usize>>, usize) {
    let mut attrs = Vec::new();
    let mut at = item.len() - item.trim_start().len();
    while item[at..].starts_with("#[") {
        let end = at + 1 + after_closing(&item[at + 1..], '[', ']');
        attrs.push(at..end);
        at = end + (item[end..].len() - item[end..].trim_start().len());
    }
    (attrs, at)
}

/// The variants of the `thiserror` enums in a source text that carry a
/// message as a `String`: a field named like one ([`MESSAGE_FIELDS`]), or
/// one that is the whole message (`#[error("{0}")]`, `#[error("{why}")]`).
fn text_variants(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let blank = blank_strings(&code);
    let mut out = Vec::new();
    for (i, _) in blank.match_indices("enum ") {
        let before = &blank[..i];
        let item_start = before.rfind(['}', ';']).map_or(0, |k| k + 1);
        let derive = &before[item_start..];
        if !derive.contains("derive(") || !derive.contains("Error") {
            continue;
        }
        let head = &blank[i + "enum ".len()..];
        let name: String = head
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let Some(open) = head.find('{') else { continue };
        let open = i + "enum ".len() + open;
        let (start, end) = (open + 1, open + after_closing(&blank[open..], '{', '}') - 1);
        // The blanked body gives the structure, the original its messages:
        // both have the same byte offsets.
        let mut at = start;
        for part in top_level(&blank[start..end]) {
            let offset = blank[at..end].find(&part).unwrap() + at;
            at = offset + part.len();
            let original = &code[offset..at];
            let (attrs, after) = attributes(&part);
            let rest = &part[after..];
            let format = attrs
                .iter()
                .map(|r| &original[r.clone()])
                .find(|a| a.starts_with("#[error(\""))
                .and_then(|a| a["#[error(\"".len()..].split('"').next())
                .unwrap_or("");
            let variant: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let body = rest[variant.len()..].trim();
            let fields: Vec<(String, String)> = match body.chars().next() {
                Some('(') => top_level(&body[1..body.len() - 1])
                    .iter()
                    .enumerate()
                    .map(|(k, f)| (k.to_string(), f[attributes(f).1..].replace(' ', "")))
                    .collect(),
                Some('{') => top_level(&body[1..body.len() - 1])
                    .iter()
                    .filter_map(|f| {
                        let (n, ty) = f[attributes(f).1..].split_once(':')?;
                        Some((n.trim().to_string(), ty.replace([' ', '\n'], "")))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let texty = fields.iter().any(|(field, ty)| {
                ty == "String"
                    && (MESSAGE_FIELDS.contains(&field.as_str())
                        || format == format!("{{{field}}}"))
            });
            if texty {
                out.push(format!("{name}::{variant}"));
            }
        }
    }
    out
}

#[test]
fn library_errors_carry_no_preformatted_messages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = BTreeSet::new();
    for (module, p) in sources(&root.join("src")) {
        if module == "cli" || module == "main" {
            continue;
        }
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        for v in text_variants(&text) {
            found.insert(format!("{rel}: {v}"));
        }
    }
    let allowed: BTreeSet<String> = TEXT_VARIANTS_LEFT
        .iter()
        .map(|s| s.split(" (").next().unwrap().to_string())
        .collect();
    let mut bad: Vec<String> = found
        .difference(&allowed)
        .map(|v| {
            format!(
                "{v} carries its message as a String: give it the error it wraps \
                 (#[source]) or typed variants that name the path, container, \
                 network or syscall"
            )
        })
        .collect();
    bad.extend(
        allowed
            .difference(&found)
            .map(|v| format!("{v} is typed now (or gone): take it off TEXT_VARIANTS_LEFT")),
    );
    assert!(
        bad.is_empty(),
        "error variants with text messages:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_text_variant_check_reads_error_enums() {
    let text = r#"
/// Doc.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name is not a message.
    #[error("no such container: {0} (see `hutch ps -a`, {})")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot start: {0}")]
    Supervisor(#[source] SpawnError),
    #[error("invalid --device '{spec}': {why}")]
    Device { spec: String, #[source] why: DeviceError },
    #[error("--network container:{name}: {why}")]
    Joined { name: String, why: String },
    #[error("{at}: {reason}")]
    Entry { at: String, reason: String, map: BTreeMap<String, u8> },
    #[error("{what}")]
    Whole { what: String },
    #[error("typed")]
    Typed(Vec<(DriverKind, String)>, &'static str),
}

#[derive(Debug)]
pub enum NotAnError { Text(String) }
"#;
    assert_eq!(
        text_variants(text),
        [
            "Error::Invalid",
            "Error::Joined",
            "Error::Entry",
            "Error::Whole"
        ]
    );
}
