//! `install.sh` into a scratch prefix: the binary, the man pages and the
//! completion scripts land where man and the shells look, and they work.

use crate::common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

#[test]
fn under_sudo_it_builds_as_the_person_who_ran_it() {
    if !nix::unistd::getuid().is_root() {
        return skip("sudo's case needs the tests to run as root");
    }
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = w.write(
        "src/install.sh",
        std::fs::read(checkout.join("install.sh")).unwrap(),
    );
    let man = std::fs::read_dir(checkout.join("man")).unwrap();
    for page in man.map(Result::unwrap).filter(|p| p.path().is_file()) {
        let name = page.file_name().into_string().unwrap();
        w.write(
            &format!("src/man/{name}"),
            std::fs::read(page.path()).unwrap(),
        );
    }
    // A cargo that says who ran it and "builds" by copying hutch.
    let cargo = w.write(
        "fakebin/cargo",
        format!(
            "#!/bin/sh\nid -un > built-by\necho \"$HOME\" >> built-by\n\
             mkdir -p target/release && cp {} target/release/hutch\n",
            hutch_bin().display()
        ),
    );
    for f in [&script, &cargo] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let prefix = w.path("prefix");
    let out = std::process::Command::new(&script)
        .args(["--no-packages", "--prefix"])
        .arg(&prefix)
        .env_clear()
        .env("SUDO_USER", &w.user.name)
        .env("HOME", "/root")
        .env(
            "PATH",
            format!(
                "{}:/usr/bin:/bin:/usr/sbin:/sbin",
                w.path("fakebin").display()
            ),
        )
        .output()
        .unwrap();
    succeeded(&out, "install.sh under sudo");
    assert_eq!(
        std::fs::read_to_string(w.path("src/built-by")).unwrap(),
        format!("{}\n{}\n", w.user.name, w.user.home.display())
    );
    let built = std::fs::metadata(w.path("src/target/release/hutch")).unwrap();
    assert_eq!(built.uid(), w.user.uid, "target/ stays the person's");
    assert!(user_ok(
        &w,
        prefix.join("bin/hutch").to_str().unwrap(),
        &["--version"]
    )
    .starts_with("hutch "));
}
