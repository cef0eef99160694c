//! The man pages in `man/` are generated from the clap definitions; this test
//! fails when they are stale. Regenerate with `UPDATE_MAN=1 cargo test --test it man`.

use clap::CommandFactory;
use std::path::Path;

fn render(cmd: &clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("render man page");
    out
}

/// Every page: `hutch.1` and `hutch-<sub>.1` for each subcommand people use
/// (not the hidden ones hutch starts itself).
fn pages() -> Vec<(String, Vec<u8>)> {
    let mut top = hutch::cli::Cli::command();
    top.build();
    let mut v = vec![("hutch.1".to_string(), render(&top))];
    for sub in top
        .get_subcommands()
        .filter(|s| s.get_name() != "help" && !s.is_hide_set())
    {
        let name = format!("hutch-{}", sub.get_name());
        let page = sub.clone().name(name.clone()).display_name(name.clone());
        v.push((format!("{name}.1"), render(&page)));
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
