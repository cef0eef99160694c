//! `hutch shell [-u root] [-- CMD ARG...]`: enter the project's
//! environment (`project::Environment`, made or rebuilt as needed) by
//! joining its running container; an interactive shell, or one command
//! whose exit status becomes hutch's.

use super::Ctx;
use crate::project::{self, Entry, Environment};
use crate::ui::progress::Bars;
use anyhow::bail;
use std::io::IsTerminal;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Enter as `root`, the environment's root (to install packages), or
    /// as yourself (the default).
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// The project directory (default: found from the current directory,
    /// as cargo finds Cargo.toml); launchers pass it.
    #[arg(long, value_name = "DIR")]
    pub project: Option<std::path::PathBuf>,
    /// The command to run instead of the shell.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let cwd = std::env::current_dir()?;
    let project = project::discover(a.project.as_deref().unwrap_or(&cwd))?;
    let project = super::config::project(&ctx.config, project)?;
    let bars = Bars::new(ctx.printer);
    // Builds and snapshots draw their own work on a terminal.
    let live = crate::ui::progress::Live::new(ctx.printer);
    let env = Environment::new(&project, &ctx.dirs, &live, &bars);
    let root = match a.user.as_deref() {
        None => false,
        Some("root" | "0") => true,
        Some(u) if u == env.user_name() => false,
        Some(u) => bail!(
            "-u {u}: the environment is entered as {} or as root",
            env.user_name()
        ),
    };
    let rec = env.ensure()?;
    if a.command.is_empty() {
        env.attached(&rec)?;
    }
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let mut passed: Vec<String> = ["TERM", "COLORTERM"]
        .iter()
        .filter(|_| tty)
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
        .collect();
    for kv in env.entry_env() {
        if !passed.contains(&kv) {
            passed.push(kv);
        }
    }
    let process = env.entry(
        &rec,
        &Entry {
            command: a.command,
            root,
            cwd,
            tty,
            env: passed,
        },
    );
    match env.join(&rec, &process) {
        Ok(code) => Ok(u8::try_from(code).unwrap_or(super::EXIT_HUTCH_ERROR)),
        Err(e) => {
            super::errors::eprint(&crate::chain::line(&e));
            Ok(u8::try_from(e.exit_code()).unwrap_or(super::EXIT_HUTCH_ERROR))
        }
    }
}
