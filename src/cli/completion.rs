//! Shell completion: `hutch completion bash|zsh|fish` prints a script made by
//! clap_complete from the clap definitions, plus a small wrapper that asks
//! `hutch __complete WORDS...` for the names of images, containers,
//! networks, volumes and environment versions where the command line wants
//! one. Which positions want a name is read from the clap definitions
//! (arguments whose value name is `IMAGE`, `CONTAINER`, `NETWORK`, `VOLUME`
//! or `VERSION`), so a new subcommand completes names without touching this
//! file. It never writes anything: no store is created to answer a
//! completion.

use super::{Cli, Ctx};
use crate::container::Containers;
use crate::store::Store;
use clap::CommandFactory;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to print the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(clap::Args, Debug)]
pub struct CompleteArgs {
    /// The words after `hutch` up to the cursor; the last is the one being
    /// completed (empty for a new word).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub words: Vec<String>,
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let mut cmd = visible(Cli::command());
    let mut script = Vec::new();
    let generator = match a.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut cmd, "hutch", &mut script);
    let script = String::from_utf8(script)?;
    std::io::stdout().write_all(with_names(a.shell, &script).as_bytes())?;
    Ok(0)
}

/// The command tree without hidden subcommands, which clap_complete would
/// offer otherwise (they are hutch's own helpers, never typed by people).
fn visible(top: clap::Command) -> clap::Command {
    let subs: Vec<clap::Command> = top
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new(top.get_name().to_string())
        .version(env!("CARGO_PKG_VERSION"))
        .args(top.get_arguments().cloned())
        .subcommands(subs)
}

/// The generated script with the name-completing wrapper around it.
fn with_names(shell: Shell, script: &str) -> String {
    match shell {
        // The generated `_hutch` stays; ours runs first and falls back to it.
        Shell::Bash => format!(
            "{BASH}\n{}",
            script.replace("complete -F _hutch ", "complete -F _hutch_names ")
        ),
        // The generated function becomes `_hutch_static`; its own dispatch
        // at the end (call when autoloaded, compdef when sourced) is ours.
        Shell::Zsh => {
            let body = script.replace("_hutch() {", "_hutch_static() {").replace(
                "(( $+functions[_hutch] ))",
                "(( $+functions[_hutch_static] ))",
            );
            let cut = body
                .rfind("if [ \"$funcstack[1]\" = \"_hutch\" ]")
                .unwrap_or(body.len());
            format!("{}{}", &body[..cut], ZSH)
        }
        Shell::Fish => format!("{script}\n{FISH}"),
    }
}

const BASH: &str = r#"# Names from the store (images, containers, networks, volumes, versions), from `hutch __complete`.
_hutch_names() {
    local cur=${COMP_WORDS[COMP_CWORD]} names
    if names=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null); then
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$names" -- "$cur"))
        return 0
    fi
    _hutch "$@"
}
"#;

const ZSH: &str = r#"# Names from the store (images, containers, networks, volumes, versions), from `hutch __complete`.
_hutch() {
    local -a names
    local out
    if out=$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null); then
        names=("${(@f)out}")
        compadd -a names
        return 0
    fi
    _hutch_static "$@"
}

if [ "$funcstack[1]" = "_hutch" ]; then
    _hutch "$@"
else
    compdef _hutch hutch
fi
"#;

const FISH: &str = r#"# Names from the store (images, containers, networks, volumes, versions), from `hutch __complete`.
function __hutch_names
    set -l words (commandline -opc) (commandline -ct)
    $words[1] __complete $words[2..-1] 2>/dev/null
end
complete -c hutch -n '__hutch_names >/dev/null' -f -a '(__hutch_names)'
"#;

/// What kind of name a position wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Images,
    Containers,
    /// `inspect`: containers, then images.
    Both,
    Networks,
    Volumes,
    /// The versions of the project environment of the current directory.
    Versions,
}

/// `hutch __complete WORDS...`: the names for the last word, one a line, and
/// exit 0; exit 1 (printing nothing) when that word is not a name position.
pub fn complete(ctx: &Ctx, a: CompleteArgs) -> anyhow::Result<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    let Some(kind) = kind_at(&cmd, &a.words) else {
        return Ok(1);
    };
    for name in names(ctx, kind) {
        ctx.printer.out(&name);
    }
    Ok(0)
}

/// The names of one kind in the store (empty when there is no store yet).
fn names(ctx: &Ctx, kind: Kind) -> Vec<String> {
    match kind {
        Kind::Both => {
            let mut all = names(ctx, Kind::Containers);
            all.extend(names(ctx, Kind::Images));
            all
        }
        Kind::Containers => Containers::new(&ctx.dirs.state)
            .list()
            .into_iter()
            .map(|r| r.name)
            .collect(),
        Kind::Networks => crate::net::netdef::Networks::new(&ctx.dirs.store)
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|n| n.name)
            .collect(),
        Kind::Volumes => crate::volume::Volumes::new(&ctx.dirs.store)
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect(),
        Kind::Versions => {
            let Some(project) = std::env::current_dir()
                .ok()
                .and_then(|d| crate::project::discover(&d).ok())
            else {
                return Vec::new();
            };
            let env = crate::project::Environment::new(
                &project,
                &ctx.dirs,
                &crate::report::Silent,
                &crate::report::Silent,
            );
            // Newest first, as `hutch env log` lists them.
            let mut ns: Vec<String> = env
                .log()
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.n.to_string())
                .collect();
            ns.reverse();
            ns
        }
        Kind::Images => {
            if !ctx.dirs.store.join("index.json").exists() {
                return Vec::new();
            }
            let Ok(images) = Store::open(&ctx.dirs).and_then(|s| s.images()) else {
                return Vec::new();
            };
            let mut out: Vec<String> = images
                .into_iter()
                .flat_map(|im| im.names)
                .flat_map(|n| {
                    // Both the full name and the short one people type.
                    let short = n.strip_prefix("docker.io/library/").map(str::to_string);
                    std::iter::once(n).chain(short)
                })
                .collect();
            out.sort();
            out.dedup();
            out
        }
    }
}

/// Which kind of name the last of `words` (the words after `hutch`) wants,
/// by walking the clap definitions as clap would parse the words before it.
fn kind_at(top: &clap::Command, words: &[String]) -> Option<Kind> {
    let (current, before) = words.split_last()?;
    if current.starts_with('-') {
        return None;
    }
    let mut cmd = top;
    let mut positional = 0usize;
    let mut value_of: Option<&clap::Arg> = None;
    let mut only_positionals = false;
    for w in before {
        if value_of.take().is_some() {
            continue;
        }
        if !only_positionals && w == "--" {
            only_positionals = true;
            continue;
        }
        if !only_positionals && w.starts_with("--") {
            let (name, inline) = match w[2..].split_once('=') {
                Some((n, _)) => (n, true),
                None => (&w[2..], false),
            };
            // An alias (`--net` for `--network`) takes a value as its flag does.
            let arg = cmd.get_arguments().find(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|all| all.contains(&name))
            });
            if let Some(arg) = arg.filter(|a| takes_value(a) && !inline) {
                value_of = Some(arg);
            }
            continue;
        }
        if !only_positionals && w.starts_with('-') && w.len() > 1 {
            // A cluster of short flags: the first that takes a value eats
            // the rest of the word, or the next word when it is last.
            let chars: Vec<char> = w[1..].chars().collect();
            for (i, c) in chars.iter().enumerate() {
                let arg = cmd.get_arguments().find(|a| {
                    a.get_short() == Some(*c)
                        || a.get_all_short_aliases().is_some_and(|all| all.contains(c))
                });
                if let Some(arg) = arg.filter(|a| takes_value(a)) {
                    if i + 1 == chars.len() {
                        value_of = Some(arg);
                    }
                    break;
                }
            }
            continue;
        }
        if positional == 0 {
            if let Some(sub) = cmd.find_subcommand(w) {
                cmd = sub;
                continue;
            }
        }
        positional += 1;
    }
    if value_of.is_some() {
        return None;
    }
    let mut args: Vec<&clap::Arg> = cmd.get_positionals().collect();
    args.sort_by_key(|a| a.get_index());
    for (at, arg) in args.into_iter().enumerate() {
        let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        if positional == at || many {
            if arg.is_trailing_var_arg_set() && positional > at {
                return None;
            }
            return kind_of(cmd, arg);
        }
    }
    None
}

fn takes_value(a: &clap::Arg) -> bool {
    a.get_action().takes_values()
}

fn kind_of(cmd: &clap::Command, a: &clap::Arg) -> Option<Kind> {
    let name = a.get_value_names()?.first()?.as_str();
    match name {
        "IMAGE" => Some(Kind::Images),
        "CONTAINER" => Some(Kind::Containers),
        "CONTAINER|IMAGE" => Some(Kind::Both),
        // `network create NETWORK` and `volume create VOLUME` name new ones.
        "NETWORK" if cmd.get_name() != "create" => Some(Kind::Networks),
        "VOLUME" if cmd.get_name() != "create" => Some(Kind::Volumes),
        "VERSION" => Some(Kind::Versions),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str) -> Option<Kind> {
        let mut cmd = Cli::command();
        cmd.build();
        let mut words: Vec<String> = line.split(' ').map(str::to_string).collect();
        if line.ends_with(' ') {
            words.pop();
            words.push(String::new());
        }
        kind_at(&cmd, &words)
    }

    #[test]
    fn scripts_never_offer_hidden_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            let generator = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(generator, &mut visible(Cli::command()), "hutch", &mut out);
            let text = String::from_utf8(out).unwrap();
            for hidden in ["__complete", "userns-keeper", "port-forwarder"] {
                assert!(!text.contains(hidden), "{shell:?} offers {hidden}");
            }
            assert!(
                text.contains("completion") && text.contains("root"),
                "{shell:?}"
            );
        }
    }

    #[test]
    fn name_positions_come_from_the_clap_definitions() {
        assert_eq!(kind("rm "), Some(Kind::Containers));
        assert_eq!(kind("rm -f a b"), Some(Kind::Containers));
        assert_eq!(kind("stop -t 5 "), Some(Kind::Containers));
        assert_eq!(kind("exec -it "), Some(Kind::Containers));
        assert_eq!(kind("exec -e A=1 web "), None, "the command");
        assert_eq!(kind("run --rm -e A=1 "), Some(Kind::Images));
        assert_eq!(kind("run --rm bb "), None, "the command");
        assert_eq!(kind("run --name "), None, "an option's value");
        assert_eq!(kind("run --net "), None, "--network's value, by its alias");
        assert_eq!(kind("run --net none "), Some(Kind::Images));
        assert_eq!(kind("run --net-alias a "), Some(Kind::Images));
        assert_eq!(kind("run -e"), None);
        assert_eq!(kind("--root /tmp/x rmi "), Some(Kind::Images));
        assert_eq!(kind("inspect a "), Some(Kind::Both));
        assert_eq!(kind("container inspect "), Some(Kind::Containers));
        assert_eq!(kind("image rm "), Some(Kind::Images));
        assert_eq!(kind("rename "), Some(Kind::Containers));
        assert_eq!(kind("rename old "), None);
        assert_eq!(kind(""), None, "a subcommand");
        assert_eq!(kind("rm --"), None, "an option");
        assert_eq!(kind("network rm "), Some(Kind::Networks));
        assert_eq!(kind("network connect "), Some(Kind::Networks));
        assert_eq!(kind("network connect net "), Some(Kind::Containers));
        assert_eq!(kind("network create "), None, "a new name");
        assert_eq!(kind("volume rm "), Some(Kind::Volumes));
        assert_eq!(kind("volume inspect -f x "), Some(Kind::Volumes));
        assert_eq!(kind("volume create "), None, "a new name");
        assert_eq!(kind("env rollback "), Some(Kind::Versions));
        assert_eq!(kind("env diff 1 "), Some(Kind::Versions));
        assert_eq!(kind("env tag "), Some(Kind::Versions));
        assert_eq!(kind("env tag 1 "), None, "a new name");
        assert_eq!(kind("env promote "), Some(Kind::Versions));
    }
}
