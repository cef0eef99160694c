//! The man pages in `man/` are generated from the clap definitions, with the
//! hand-written sections in `man/sections/PAGE` (EXAMPLES, EXIT STATUS,
//! ENVIRONMENT, FILES) put before the generated VERSION section; this test
//! fails when they are stale. Regenerate with `UPDATE_MAN=1 cargo test --test
//! it man`. The section 5 pages (`hutch.toml.5`, `hutch-dockerfile.5`,
//! `hutch-devcontainer.5`) are written by hand. Every page has EXAMPLES.

use clap::CommandFactory;
use std::path::Path;

fn render(cmd: &clap::Command, page: &str) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("render man page");
    let extra = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("man/sections")
        .join(page);
    let Ok(extra) = std::fs::read_to_string(extra) else {
        return out;
    };
    let text = String::from_utf8(out).unwrap();
    let at = text.find(".SH VERSION").unwrap_or(text.len());
    format!("{}{extra}{}", &text[..at], &text[at..]).into_bytes()
}

/// Every page: `hutch.1` and `hutch-<sub>.1` for each subcommand people use
/// (not the hidden ones hutch starts itself).
fn pages() -> Vec<(String, Vec<u8>)> {
    let mut top = hutch::cli::Cli::command();
    top.build();
    let mut v = vec![("hutch.1".to_string(), render(&top, "hutch.1"))];
    for sub in top
        .get_subcommands()
        .filter(|s| s.get_name() != "help" && !s.is_hide_set())
    {
        let name = format!("hutch-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).display_name(name.clone());
        let file = format!("{name}.1");
        let text = render(&page, &file);
        v.push((file, text));
    }
    v
}

#[test]
fn man_pages_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let update = std::env::var("UPDATE_MAN").as_deref() == Ok("1");
    let mut stale = Vec::new();
    let pages = pages();
    for (name, text) in &pages {
        let path = dir.join(name);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(text.as_slice()) {
            stale.push(name.clone());
        }
    }
    let known: Vec<_> = pages.iter().map(|(n, _)| n.clone()).collect();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        if n.ends_with(".1") && !known.contains(&n) {
            if update {
                std::fs::remove_file(entry.path()).unwrap();
            } else {
                stale.push(format!("{n} (no such command)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "man pages are stale: {stale:?}; run UPDATE_MAN=1 cargo test --test it man"
    );
}

/// Every page renders with man itself, without warnings, and the main
/// pages have their hand-written sections.
#[test]
fn man_pages_render_with_their_sections() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let out = std::process::Command::new("man")
            .args(["--warnings", "-l"])
            .arg(&path)
            .env("MANWIDTH", "80")
            .output()
            .expect("man (man-db) is installed");
        let text = String::from_utf8_lossy(&out.stdout);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.is_empty(),
            "{}: {err}",
            path.display()
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        let want: &[&str] = match name {
            "hutch.1" | "hutch-run.1" | "hutch-build.1" => {
                &["EXAMPLES", "EXIT STATUS", "ENVIRONMENT", "FILES"]
            }
            "hutch.toml.5" => &["[build]", "[run]", "[export]", "EXAMPLES"],
            "hutch-dockerfile.5" => &["RUN", "COPY", "NOT SUPPORTED", "EXAMPLES"],
            "hutch-devcontainer.5" => &["KEYS", "VARIABLES", "EXAMPLES"],
            _ => &["EXAMPLES"],
        };
        for w in want {
            assert!(text.contains(w), "{name} lacks {w}");
        }
    }
}

/// hutch-devcontainer(5) documents every key the parser reads.
#[test]
fn devcontainer_page_names_every_key_hutch_reads() {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("man/hutch-devcontainer.5"),
    )
    .unwrap();
    for key in hutch::project::devcontainer::KNOWN {
        assert!(
            page.contains(&format!("fB{key}")),
            "{key} is not documented"
        );
    }
    for key in ["dockerfile", "context", "args", "target"] {
        assert!(page.contains(&format!("fBbuild.{key}")), "build.{key}");
    }
}

/// The check is real: a page made from a command with one more flag differs
/// from the checked-in one.
#[test]
fn a_changed_flag_makes_a_page_stale() {
    let run_page = |cmd: clap::Command| {
        let mut top = cmd;
        top.build();
        let run = top.find_subcommand("run").unwrap().clone();
        render(
            &run.name("hutch-run").display_name("hutch-run"),
            "hutch-run.1",
        )
    };
    let same = run_page(hutch::cli::Cli::command());
    let changed = run_page(hutch::cli::Cli::command().mut_subcommand("run", |r| {
        r.arg(clap::Arg::new("x").long("a-new-flag").help("Something new"))
    }));
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/hutch-run.1");
    let checked_in = std::fs::read(file).unwrap();
    assert_eq!(same, checked_in);
    assert_ne!(changed, checked_in);
}
