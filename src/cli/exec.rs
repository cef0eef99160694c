//! `hutch exec`: run another process in a running container, in all of its
//! namespaces (`sandbox::join`), with the container's environment, user and
//! working directory unless overridden. Exits with the process's exit code.

use super::{run::env_entry, Ctx};
use crate::container::{state, supervisor, Containers};
use crate::sandbox::exec::Target;
use crate::sandbox::{join, ProcessSpec};
use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub process: super::flags::Process,
    /// Run in the background; its output is discarded.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Container name or id.
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Command and arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let containers = Containers::new(&ctx.dirs.state);
    let rec = containers.resolve(&a.container)?;
    let (Some(init), state::State::Running) = (rec.init, state::observe(&rec)) else {
        bail!(
            "container {} is not running (start it with `hutch start {}`)",
            rec.name,
            rec.name
        );
    };
    // Docker refuses too: the new process would be stopped with the rest.
    if state::paused(&rec, state::State::Running) {
        bail!(
            "container {} is paused (unpause it with `hutch unpause {}`)",
            rec.name,
            rec.name
        );
    }
    let mut env = rec.config.env.clone();
    for e in &a.process.env {
        env.extend(env_entry(e)?);
    }
    let mapping = rec.mapping()?;
    let process = ProcessSpec {
        args: a.command.clone(),
        env,
        user: a.process.user.clone().or_else(|| rec.config.user.clone()),
        cwd: a
            .process
            .workdir
            .clone()
            .unwrap_or_else(|| rec.config.workdir.clone()),
        tty: a.process.tty,
        stdin: a.process.interactive,
        init: false,
        group_add: rec.config.group_add.clone(),
        no_sig_proxy: false,
    };
    // The same confinement as pid 1, compiled before joining anything.
    let security = rec
        .config
        .security
        .resolve_in(&ctx.dirs.state)
        .map_err(anyhow::Error::msg)?;
    let target = Target {
        process: &process,
        mapping: &mapping,
        hostname: &rec.config.hostname,
        security: &security,
    };
    let private_net = rec.config.network.private_namespace();
    let pid = init.pid;
    if a.detach {
        let outcome = supervisor::detach(
            None,
            // The body opens the namespaces itself.
            &[],
            |s| match join::open_namespaces(pid, private_net, || init.alive()) {
                Ok(ns) => {
                    s.started();
                    let _ = join::exec_in(ns, &target);
                }
                Err(e) => s.failed(e.exit_code(), &crate::chain::line(&e)),
            },
        )
        .map_err(anyhow::Error::msg)?;
        return Ok(match outcome {
            supervisor::Outcome::Started => 0,
            supervisor::Outcome::Failed(code, msg) => {
                super::errors::eprint(&msg);
                u8::try_from(code).unwrap_or(super::EXIT_HUTCH_ERROR)
            }
        });
    }
    let ns = join::open_namespaces(pid, private_net, || init.alive())?;
    match join::exec_in(ns, &target) {
        Ok(exit) => Ok(u8::try_from(exit.code()).unwrap_or(super::EXIT_HUTCH_ERROR)),
        Err(e) => {
            super::errors::eprint(&crate::chain::line(&e));
            Ok(u8::try_from(e.exit_code()).unwrap_or(super::EXIT_HUTCH_ERROR))
        }
    }
}
