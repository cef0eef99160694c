//! `install.sh` into a scratch prefix: the binary, the man pages and the
//! completion scripts land where man and the shells look, and they work.

use crate::common::*;
use std::path::Path;

#[test]
fn install_script_fills_a_scratch_prefix() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    let prefix = w.path("prefix");
    // The checkout may be private: install from a copy of what install.sh
    // reads (itself and man/), handed to the user by World::write.
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = w.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::copy(checkout.join("install.sh"), src.join("install.sh")).unwrap();
    let st = std::process::Command::new("cp")
        .arg("-r")
        .arg(checkout.join("man"))
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    w.write("src/.copied", "");
    let out = w
        .as_user(src.join("install.sh"))
        .arg("--prefix")
        .arg(&prefix)
        .arg("--binary")
        .arg(hutch_bin())
        .arg("--no-packages")
        .output()
        .unwrap();
    succeeded(&out, "install.sh");

    let bin = prefix.join("bin/hutch");
    assert!(user_ok(&w, bin.to_str().unwrap(), &["--version"]).starts_with("hutch "));
    for page in std::fs::read_dir(checkout.join("man")).unwrap() {
        let page = page.unwrap();
        if page.path().is_dir() {
            continue;
        }
        let name = page.file_name().into_string().unwrap();
        let section = &name[name.len() - 1..];
        let at = prefix.join(format!("share/man/man{section}/{name}"));
        assert!(at.is_file(), "{} is missing", at.display());
    }
    // man renders the installed page, and finds it through PATH as man-db does.
    let page = prefix.join("share/man/man1/hutch-run.1");
    let text = user_ok(&w, "man", &["-l", page.to_str().unwrap()]);
    assert!(
        text.contains("hutch-run") && text.contains("EXAMPLES"),
        "{text}"
    );
    let found = w
        .as_user("man")
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", prefix.join("bin").display()),
        )
        .args(["-w", "hutch-run"])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&found).trim(),
        page.to_str().unwrap(),
        "{}",
        stderr(&found)
    );

    for (shell, file, check) in [
        (
            "bash",
            "share/bash-completion/completions/hutch",
            ". /usr/share/bash-completion/bash_completion; . \"$0\" && complete -p hutch",
        ),
        (
            "zsh",
            "share/zsh/site-functions/_hutch",
            "autoload -U compinit && compinit -u && . \"$0\" && echo $_comps[hutch]",
        ),
        (
            "fish",
            "share/fish/vendor_completions.d/hutch.fish",
            "source $argv[1]; and complete -c hutch | head -1",
        ),
    ] {
        let path = prefix.join(file);
        assert!(path.is_file(), "{} is missing", path.display());
        // The script's path is $0 for bash and zsh, $argv[1] for fish.
        let out = w
            .as_user(shell)
            .arg("-c")
            .arg(check)
            .arg(&path)
            .output()
            .unwrap();
        let text = succeeded(&out, &format!("{shell} loading {file}"));
        assert!(
            !text.trim().is_empty() && stderr(&out).is_empty(),
            "{shell}: {}",
            stderr(&out)
        );
    }
}
