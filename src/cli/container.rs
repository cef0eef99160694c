//! `hutch container`: Docker's management command for containers. `prune`
//! is its own; the others are the top-level commands under the names
//! `docker container` gives them (`ls`/`ps`/`list`, `rm`/`remove`, ...).

use super::Ctx;
use crate::container::{control, state, Containers};
use std::io::{BufRead, Write};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Sub,
}

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Remove all stopped containers.
    Prune(PruneArgs),
    /// List containers.
    #[command(visible_aliases = ["ps", "list"])]
    Ls(super::ps::Args),
    /// Remove containers.
    #[command(visible_alias = "remove")]
    Rm(super::rm::Args),
    /// Show low-level information about containers, as JSON.
    Inspect(super::inspect::ContainerArgs),
    /// Create a container without starting it.
    #[command(mut_arg("detach", |a| a.hide(true)))]
    Create(Box<super::run::Args>),
    /// Run a command in a new container.
    Run(Box<super::run::Args>),
    /// Start stopped containers.
    Start(super::start::Args),
    /// Stop containers.
    Stop(super::stop::Args),
    /// Stop and start containers again.
    Restart(super::restart::Args),
    /// Send a signal to containers.
    Kill(super::kill::Args),
    /// Wait for containers and print their exit codes.
    Wait(super::wait::Args),
    /// Follow a running container's output.
    Attach(super::attach::Args),
    /// Pause containers: stop every process (SIGSTOP) until unpause.
    Pause(super::pause::Args),
    /// Unpause containers.
    Unpause(super::pause::Args),
    /// Print a container's log.
    Logs(super::logs::Args),
    /// Run a command in a running container.
    Exec(super::exec::Args),
    /// List the processes of a running container.
    Top(super::top::Args),
    /// Rename a container.
    Rename(super::rename::Args),
    /// List a container's published ports.
    Port(super::port::Args),
    /// Create a new image from a container's changes.
    Commit(super::commit::Args),
    /// Show a container's changed files.
    Diff(super::diff::Args),
    /// Write a container's root filesystem as a tar archive.
    Export(super::export::Args),
}

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    use super::inspect::{show, Kind};
    match a.command {
        Sub::Prune(p) => prune(ctx, p),
        Sub::Ls(a) => super::ps::exec(ctx, a),
        Sub::Rm(a) => super::rm::exec(ctx, a),
        Sub::Inspect(a) => show(ctx, &a.names, a.format.as_deref(), Kind::Container, a.size),
        Sub::Create(a) => super::run::create(ctx, *a),
        Sub::Run(a) => super::run::exec(ctx, *a),
        Sub::Start(a) => super::start::exec(ctx, a),
        Sub::Stop(a) => super::stop::exec(ctx, a),
        Sub::Restart(a) => super::restart::exec(ctx, a),
        Sub::Kill(a) => super::kill::exec(ctx, a),
        Sub::Wait(a) => super::wait::exec(ctx, a),
        Sub::Attach(a) => super::attach::exec(ctx, a),
        Sub::Pause(a) => super::pause::pause(ctx, a),
        Sub::Unpause(a) => super::pause::unpause(ctx, a),
        Sub::Logs(a) => super::logs::exec(ctx, a),
        Sub::Exec(a) => super::exec::exec(ctx, a),
        Sub::Top(a) => super::top::exec(ctx, a),
        Sub::Rename(a) => super::rename::exec(ctx, a),
        Sub::Port(a) => super::port::exec(ctx, a),
        Sub::Commit(a) => super::commit::exec(ctx, a),
        Sub::Diff(a) => super::diff::exec(ctx, a),
        Sub::Export(a) => super::export::exec(ctx, a),
    }
}

fn prune(ctx: &Ctx, a: PruneArgs) -> anyhow::Result<u8> {
    if !a.force && !confirm()? {
        anyhow::bail!("not confirmed: nothing removed (pass -f to prune without asking)");
    }
    let containers = Containers::new(&ctx.dirs.state);
    let mut failed = false;
    for rec in containers.list() {
        let rec = state::settle(&containers, rec);
        if !matches!(state::observe(&rec), state::State::Exited { .. }) {
            continue;
        }
        // `remove` checks again under the container's lock: a start that
        // won the race keeps its container.
        match control::remove(&containers, &rec.id) {
            Ok(()) => ctx.printer.out(&rec.id),
            Err(crate::container::Error::Running(_) | crate::container::Error::NotFound(_)) => {}
            Err(e) => {
                super::errors::eprint(&e.to_string());
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

fn confirm() -> anyhow::Result<bool> {
    eprint!("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
