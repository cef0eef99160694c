//! `hutch env status|stop|rm`: the project environment's state, stopping
//! it (what was installed stays) and removing it (the next `hutch shell`
//! starts afresh).

use super::Ctx;
use crate::project::{self, exports, Environment};
use crate::report::Silent;
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Show the environment: its container, image, home and whether its
    /// definition changed since the last build.
    Status,
    /// Stop the environment's container (it keeps its files).
    Stop,
    /// Remove the environment's container and private home.
    Rm,
    /// Print the directory of launchers for `[export] commands` (the
    /// project must be allowed: `hutch allow`).
    Path {
        /// Print nothing (and succeed) outside an allowed project; for
        /// shell hooks.
        #[arg(long)]
        if_allowed: bool,
    },
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let found = project::discover(&std::env::current_dir()?);
    if let (Command::Path { if_allowed: true }, Err(_)) = (&a.command, &found) {
        return Ok(0);
    }
    let project = super::config::project(&ctx.config, found?)?;
    let env = Environment::new(&project, &ctx.dirs, &ctx.printer, &Silent);
    match a.command {
        Command::Status => {
            let s = env.status();
            let (container, image) = match &s.container {
                Some(r) => (
                    format!(
                        "{} ({})",
                        r.short_id(),
                        if s.running { "running" } else { "stopped" }
                    ),
                    r.image_id.clone(),
                ),
                None => ("none (`hutch shell` makes it)".into(), "-".into()),
            };
            let inputs = if s.changed.is_empty() {
                format!("{} recorded, unchanged", s.inputs)
            } else {
                format!(
                    "{} recorded, {} changed (the next entry rebuilds)",
                    s.inputs,
                    s.changed.len()
                )
            };
            let rows = [
                ["environment".to_string(), s.name],
                ["project".into(), s.project.display().to_string()],
                ["container".into(), container],
                ["image".into(), image],
                ["home".into(), s.home.to_string()],
                ["inputs".into(), inputs],
            ];
            ctx.printer.table(None, &rows, 2);
        }
        Command::Stop => {
            if !env.stop()? {
                ctx.printer.info("the environment was not running");
            }
        }
        Command::Rm => env.remove()?,
        Command::Path { if_allowed } => {
            if !exports::allowed(env.dir(), &project) {
                if if_allowed {
                    return Ok(0);
                }
                bail!(
                    "{} is not allowed to put commands on your PATH (or changed since it was): \
                     read it, then run `hutch allow`",
                    project.file.display()
                );
            }
            let bin = exports::launchers(env.dir(), &project, &launcher_caller(ctx)?)?;
            ctx.printer.out(&bin.display().to_string());
        }
    }
    Ok(0)
}

/// How launchers call this hutch: its own path, and its root when it runs
/// with one (`--root`/`HUTCH_ROOT` put the state dir under the store).
pub(super) fn launcher_caller(ctx: &Ctx) -> anyhow::Result<exports::Caller> {
    let d = &ctx.dirs;
    Ok(exports::Caller {
        hutch: std::env::current_exe()?,
        root: (d.state == d.store.join("containers")).then(|| d.store.clone()),
    })
}
