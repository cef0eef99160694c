//! Commands on the host: launchers that run a project's `[export]
//! commands` inside its environment, the allow list that guards them
//! (as direnv's and devenv's: a project is never activated until its owner
//! allows it, and an allowance names hutch.toml's digest, so any edit
//! revokes it), and the shell hook snippets that put the launchers on PATH
//! while the shell is inside an allowed project.
//!
//! It writes launchers and allowances under the environment's directory;
//! it runs nothing.

use super::discover::Project;
use super::state::EnvDir;
use super::Error;
use std::path::{Path, PathBuf};

/// Whether the project's current hutch.toml is allowed.
pub fn allowed(envdir: &EnvDir, project: &Project) -> bool {
    std::fs::read_to_string(envdir.dir.join("allowed")).is_ok_and(|d| d.trim() == project.digest)
}

/// Allow the project as its hutch.toml is now.
pub fn allow(envdir: &EnvDir, project: &Project) -> Result<(), Error> {
    envdir.write_file("allowed", format!("{}\n", project.digest).as_bytes())
}

/// Withdraw any allowance.
pub fn deny(envdir: &EnvDir) -> Result<(), Error> {
    match fs_err::remove_file(envdir.dir.join("allowed")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// How a launcher calls hutch: the binary and, when hutch runs with its
/// own root, that root.
#[derive(Debug, Clone)]
pub struct Caller {
    pub hutch: PathBuf,
    pub root: Option<PathBuf>,
}

/// `'text'` for sh, whatever it holds.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn launcher(project: &Project, how: &Caller, command: &str) -> String {
    let root = how
        .root
        .as_ref()
        .map(|r| format!("HUTCH_ROOT={} ", quote(&r.to_string_lossy())))
        .unwrap_or_default();
    format!(
        "#!/bin/sh\n# {command} in the hutch environment of {}\n{root}exec {} shell --project {} -- {} \"$@\"\n",
        project.root.display(),
        quote(&how.hutch.to_string_lossy()),
        quote(&project.root.to_string_lossy()),
        quote(command),
    )
}

/// The launcher directory, brought in line with `[export] commands`
/// (files are rewritten only when they differ, so a prompt hook calling
/// this writes nothing).
pub fn launchers(envdir: &EnvDir, project: &Project, how: &Caller) -> Result<PathBuf, Error> {
    use std::os::unix::fs::PermissionsExt;
    let bin = envdir.dir.join("bin");
    fs_err::create_dir_all(&bin)?;
    let wanted = &project.config.export.commands;
    for e in fs_err::read_dir(&bin)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !wanted.contains(&name) {
            fs_err::remove_file(e.path())?;
        }
    }
    for c in wanted {
        let text = launcher(project, how, c);
        let path = bin.join(c);
        if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
            continue;
        }
        let tmp = bin.join(format!(".{c}.{}.tmp", std::process::id()));
        fs_err::write(&tmp, &text)?;
        fs_err::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
        fs_err::rename(&tmp, &path)?;
    }
    Ok(bin)
}

/// The shells `hook` knows.
pub const SHELLS: [&str; 3] = ["bash", "zsh", "fish"];

/// The snippet for `shell` that keeps `hutch env path`'s directory on
/// PATH while the current directory is in an allowed project; None for an
/// unknown shell.
pub fn hook(shell: &str, hutch: &Path) -> Option<String> {
    let h = quote(&hutch.to_string_lossy());
    let posix = format!(
        r#"_hutch_hook() {{
  local p
  p="$({h} env path --if-allowed 2>/dev/null)"
  [ "$p" = "$_HUTCH_PATH" ] && return
  if [ -n "$_HUTCH_PATH" ]; then
    PATH=":$PATH:"; PATH="${{PATH//:$_HUTCH_PATH:/:}}"; PATH="${{PATH#:}}"; PATH="${{PATH%:}}"
  fi
  [ -n "$p" ] && PATH="$p:$PATH"
  _HUTCH_PATH="$p"
}}
"#
    );
    match shell {
        "bash" => Some(format!(
            "{posix}case \";$PROMPT_COMMAND;\" in *\";_hutch_hook;\"*) ;; \
             *) PROMPT_COMMAND=\"_hutch_hook${{PROMPT_COMMAND:+;$PROMPT_COMMAND}}\" ;; esac\n"
        )),
        "zsh" => Some(format!(
            "{posix}typeset -ag precmd_functions\n\
             (( ${{precmd_functions[(I)_hutch_hook]}} )) || precmd_functions+=(_hutch_hook)\n"
        )),
        "fish" => Some(format!(
            r#"function _hutch_hook --on-variable PWD --on-event fish_prompt
  set -l p ({h} env path --if-allowed 2>/dev/null)
  test "$p" = "$_HUTCH_PATH"; and return
  if test -n "$_HUTCH_PATH"
    set -l i (contains -i -- $_HUTCH_PATH $PATH); and set -e PATH[$i]
  end
  test -n "$p"; and set -gx PATH $p $PATH
  set -g _HUTCH_PATH $p
end
"#
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launchers_follow_the_list_and_quote() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("it's");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("hutch.toml"),
            "[export]\ncommands = [\"cargo\", \"py\"]\n",
        )
        .unwrap();
        let p = super::super::discover(&root).unwrap();
        let env = EnvDir::new(d.path(), "x");
        assert!(!allowed(&env, &p));
        allow(&env, &p).unwrap();
        assert!(allowed(&env, &p));
        let how = Caller {
            hutch: "/usr/bin/hutch".into(),
            root: None,
        };
        let bin = launchers(&env, &p, &how).unwrap();
        let text = std::fs::read_to_string(bin.join("cargo")).unwrap();
        assert!(
            text.contains(r"--project '") && text.contains(r"it'\''s'"),
            "{text}"
        );
        assert!(text.ends_with("-- 'cargo' \"$@\"\n"), "{text}");
        std::fs::write(root.join("hutch.toml"), "[export]\ncommands = [\"py\"]\n").unwrap();
        let p = super::super::discover(&root).unwrap();
        assert!(!allowed(&env, &p), "an edit revokes the allowance");
        launchers(&env, &p, &how).unwrap();
        assert!(!bin.join("cargo").exists() && bin.join("py").exists());
        deny(&env).unwrap();
        assert!(hook("bash", Path::new("/h"))
            .unwrap()
            .contains("PROMPT_COMMAND"));
        assert!(hook("tcsh", Path::new("/h")).is_none());
    }
}
