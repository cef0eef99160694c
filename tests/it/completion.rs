//! `hutch completion SHELL`: each script loads in its shell without errors,
//! and completes the names of containers, images, networks, volumes and
//! environment versions from the store.

use crate::common::*;

/// The script for `shell`, written where the test user can read it.
fn script(w: &World, shell: &str) -> String {
    let text = w.ok(&["completion", shell]);
    w.write(&format!("completion.{shell}"), text)
        .to_str()
        .unwrap()
        .to_string()
}

/// PATH with the directory of the hutch binary first, so the scripts find it
/// by the name they complete.
fn path_with_hutch() -> String {
    format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        hutch_bin().parent().unwrap().display()
    )
}

/// A world with a busybox image and a stopped container named `web`.
fn world_with_web() -> Option<World> {
    let Some(u) = any_user() else {
        skip("no test user");
        return None;
    };
    let w = World::new(u);
    w.busybox();
    w.ok(&[
        "run",
        "--name",
        "web",
        "--network",
        "none",
        "busybox:1.38.0-musl",
        "true",
    ]);
    Some(w)
}

#[test]
fn scripts_load_without_errors() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    let bash = script(&w, "bash");
    let zsh = script(&w, "zsh");
    let fish = script(&w, "fish");
    let checks: [(&str, String); 3] = [
        (
            "bash",
            format!(". /usr/share/bash-completion/bash_completion; . {bash} && complete -p hutch"),
        ),
        (
            "zsh",
            format!("autoload -U compinit && compinit -u && . {zsh} && echo $_comps[hutch]"),
        ),
        (
            "fish",
            format!("source {fish}; and complete -c hutch | head -1"),
        ),
    ];
    for (shell, cmd) in checks {
        let out = w.as_user(shell).arg("-c").arg(&cmd).output().unwrap();
        let text = succeeded(&out, &format!("{shell} -c {cmd}"));
        assert!(stderr(&out).is_empty(), "{shell}: {}", stderr(&out));
        assert!(!text.trim().is_empty(), "{shell} registered nothing");
    }
}

#[test]
fn bash_and_fish_complete_container_and_image_names() {
    let Some(w) = world_with_web() else { return };
    let root = w.root();
    let root = root.to_str().unwrap();
    let bash = script(&w, "bash");
    // What bash does on `hutch --root R rm w<TAB>`.
    let line = |words: &str, cword: usize| {
        format!(
            ". /usr/share/bash-completion/bash_completion; . {bash}; \
             COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; \
             _hutch_names hutch \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        )
    };
    let complete = |cmd: String| {
        let out = w
            .as_user("bash")
            .env("PATH", path_with_hutch())
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        succeeded(&out, &cmd)
    };
    assert_eq!(
        complete(line(&format!("hutch --root {root} rm w"), 4)),
        "web\n"
    );
    assert_eq!(
        complete(line(&format!("hutch --root {root} stop -t 3 ''"), 6)),
        "web\n"
    );
    let images = complete(line(&format!("hutch --root {root} run --rm bu"), 5));
    assert_eq!(images, "busybox:1.38.0-musl\n");
    // User-defined networks where a network is named, not where one is made.
    w.ok(&["network", "create", "appnet"]);
    assert_eq!(
        complete(line(&format!("hutch --root {root} network rm a"), 5)),
        "appnet\n"
    );
    assert_eq!(
        complete(line(
            &format!("hutch --root {root} network connect appnet w"),
            6
        )),
        "web\n"
    );
    // Volumes where one is named; versions of the project the shell is in.
    w.ok(&["volume", "create", "cache"]);
    assert_eq!(
        complete(line(&format!("hutch --root {root} volume rm c"), 5)),
        "cache\n"
    );
    w.busybox_project("proj");
    w.ok_in("proj", &["shell", "--", "true"]);
    w.ok_in("proj", &["env", "snapshot"]);
    w.ok_in("proj", &["env", "snapshot"]);
    let versions = w
        .as_user("bash")
        .env("PATH", path_with_hutch())
        .current_dir(w.path("proj"))
        .arg("-c")
        .arg(line(&format!("hutch --root {root} env rollback ''"), 5))
        .output()
        .unwrap();
    assert_eq!(succeeded(&versions, "env rollback <TAB>"), "2\n1\n");
    w.ok_in("proj", &["env", "rm"]);
    // Not a name position: the generated completion answers (options here).
    let opts = complete(line(&format!("hutch --root {root} rm --f"), 4));
    assert_eq!(opts, "--force\n");

    let fish = script(&w, "fish");
    let out = w
        .as_user("fish")
        .env("PATH", path_with_hutch())
        .arg("-c")
        .arg(format!(
            "source {fish}; complete -C 'hutch --root {root} logs '"
        ))
        .output()
        .unwrap();
    let text = succeeded(&out, "fish complete -C");
    assert!(
        text.lines().any(|l| l.split('\t').next() == Some("web")),
        "{text}"
    );
}

#[test]
fn zsh_completes_container_and_image_names() {
    let Some(w) = world_with_web() else { return };
    let root = w.root();
    let root = root.to_str().unwrap();
    let zsh = script(&w, "zsh");
    // The script loaded by compinit, then its `_hutch` called as the
    // completion system calls it, with `compadd` printing what it is given.
    let complete = |words: &str, current: usize| {
        let cmd = format!(
            "autoload -U compinit && compinit -u && . {zsh}; \
             compadd() {{ [[ $1 == -a ]] && print -rl -- \"${{(@P)2}}\" }}; \
             words=({words}); CURRENT={current}; _hutch"
        );
        let out = w
            .as_user("zsh")
            .env("PATH", path_with_hutch())
            .args(["-f", "-c", &cmd])
            .output()
            .unwrap();
        succeeded(&out, &cmd)
    };
    assert_eq!(complete(&format!("hutch --root {root} rm w"), 5), "web\n");
    assert_eq!(
        complete(&format!("hutch --root {root} stop -t 3 ''"), 7),
        "web\n"
    );
    let images = complete(&format!("hutch --root {root} run --rm bu"), 6);
    assert!(
        images.lines().any(|l| l == "busybox:1.38.0-musl"),
        "{images}"
    );
    assert!(!images.lines().any(|l| l == "web"), "{images}");
}

/// `--net` is `--network` by another name: the word after it is the
/// network's value, not the image, and the image comes after that value.
#[test]
fn the_word_after_an_alias_is_its_value() {
    let Some(w) = world_with_web() else {
        return;
    };
    let value = w.run(&["__complete", "run", "--net", ""]);
    assert_eq!(
        (value.status.code(), stdout(&value).as_str()),
        (Some(1), ""),
        "names offered for --net's value"
    );
    let image = w.ok(&["__complete", "run", "--net", "none", ""]);
    assert!(image.contains("busybox"), "{image}");
}
