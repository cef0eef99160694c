//! Golden tests for the Dockerfile parser: every `tests/dockerfile/<case>/`
//! holds a `Dockerfile`, optional `build-args` (NAME=VALUE lines) and the
//! `expected` dump: the parse, then each stage expanded the way the build
//! executor expands it. Every `tests/dockerfile/errors/<case>/` holds a
//! `Dockerfile` that must fail with the one-line error in `expected`.
//!
//! These call the library directly; no hutch binary is involved. Run with
//! `UPDATE_GOLDEN=1` to rewrite the expected files after an intended change.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hutch::dockerfile::{parse, BuildArgs, Dockerfile};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfile")
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    out.sort();
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn build_args(case: &Path) -> BuildArgs {
    let mut args = BuildArgs::default();
    let path = case.join("build-args");
    if path.is_file() {
        for line in read(&path).lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            args.values.insert(k.to_string(), v.to_string());
        }
    }
    args
}

/// The parse dump followed by what the executor would see per stage.
fn render(df: &Dockerfile, build: &BuildArgs) -> String {
    let mut out = df.dump();
    out.push_str("== expanded\n");
    let global = match df.global_scope(build) {
        Ok(g) => g,
        Err(e) => return format!("{out}error: {e}\n"),
    };
    let declared: BTreeMap<&str, &String> = global
        .iter()
        .filter(|(k, _)| df.global_args.iter().any(|a| a.node.name == **k))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    if !declared.is_empty() {
        let _ = writeln!(out, "global {declared:?}");
    }
    for (i, stage) in df.stages.iter().enumerate() {
        match df.base(stage, &global) {
            Ok(from) => {
                let _ = writeln!(out, "stage {i} base {from}");
            }
            Err(e) => {
                let _ = writeln!(out, "stage {i} error: {e}");
                continue;
            }
        }
        let mut scope = df.scope(&global, build, Vec::new());
        for ins in &stage.instructions {
            let used = scope.used_args(&ins.node);
            match scope.apply(ins) {
                Ok(expanded) if expanded != ins.node => {
                    let _ = writeln!(out, "  {} => {expanded}", ins.span.start);
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = writeln!(out, "  {} error: {e}", ins.span.start);
                }
            }
            if !used.is_empty() {
                let _ = writeln!(out, "  {} uses {used:?}", ins.span.start);
            }
        }
        if !scope.env().is_empty() {
            let _ = writeln!(out, "  env {:?}", scope.env());
        }
    }
    out
}

/// Compare or (with UPDATE_GOLDEN=1) rewrite; returns a failure message.
fn check(case: &Path, actual: &str) -> Option<String> {
    let expected_path = case.join("expected");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&expected_path, actual).expect("writing expected");
        return None;
    }
    if !expected_path.is_file() {
        return Some(format!("{}: no expected file", case.display()));
    }
    let expected = read(&expected_path);
    (expected != actual).then(|| {
        format!(
            "{}:\n--- expected\n{expected}--- actual\n{actual}",
            case.display()
        )
    })
}

#[test]
fn dockerfile_golden_cases() {
    let cases = cases(&root());
    assert!(cases.len() >= 25, "only {} golden cases found", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = read(&case.join("Dockerfile"));
        let actual = match parse(&text, "Dockerfile") {
            Ok(df) => render(&df, &build_args(case)),
            Err(e) => format!("unexpected error: {e}\n"),
        };
        failures.extend(check(case, &actual));
    }
    assert!(
        failures.is_empty(),
        "{} golden case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn dockerfile_error_cases() {
    let cases = cases(&root().join("errors"));
    assert!(cases.len() >= 15, "only {} error cases found", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = read(&case.join("Dockerfile"));
        let actual = match parse(&text, "Dockerfile") {
            Ok(df) => format!("parsed without error:\n{}", df.dump()),
            Err(e) => format!("{e}\n"),
        };
        failures.extend(check(case, &actual));
    }
    assert!(
        failures.is_empty(),
        "{} error case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
