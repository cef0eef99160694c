//! `hutch env status|stop|rm`: the project environment's state, stopping
//! it (what was installed stays) and removing it (the next `hutch shell`
//! starts afresh).

use super::Ctx;
use crate::project::{self, Environment};

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
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let project = project::discover(&std::env::current_dir()?)?;
    let env = Environment::new(&project, &ctx.dirs);
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
    }
    Ok(0)
}
