//! The command line: clap definitions (one file per subcommand) mapped onto
//! library calls. This layer owns exit codes and the `Error:` / `hint:` lines
//! (clap's usage errors included); it holds no logic of its own beyond
//! turning flags into library options.

use crate::dirs::Dirs;
use crate::ui::{LogLevel, Printer};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub mod allow;
pub mod attach;
pub mod build;
mod choice;
pub mod commit;
pub mod completion;
pub mod config;
pub mod container;
pub mod cp;
pub mod diff;
pub mod env;
mod errors;
pub mod exec;
pub mod export;
mod filters;
mod flags;
pub mod healthcheck;
pub mod history;
pub mod hook;
pub mod image;
pub mod images;
pub mod import;
pub mod info;
pub mod init;
pub mod inspect;
pub mod kill;
pub mod load;
pub mod login;
pub mod logout;
pub mod logs;
pub mod network;
pub mod pause;
pub mod port;
pub mod ps;
pub mod pull;
pub mod push;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod rmi;
pub mod run;
pub mod save;
pub mod shell;
pub mod start;
pub mod stop;
pub mod system;
pub mod tag;
mod template;
pub mod top;
mod units;
pub mod version;
pub mod volume;
pub mod wait;

/// Exit code for hutch's own failures (Docker's convention).
pub const EXIT_HUTCH_ERROR: u8 = 125;

#[derive(Parser, Debug)]
#[command(
    name = "hutch",
    version,
    about = "Rootless, daemonless sandboxes and dev environments",
    long_about = "hutch runs OCI images and Dockerfile-defined environments as an \
                  unprivileged user, with no daemon."
)]
pub struct Cli {
    #[command(flatten)]
    pub globals: Globals,

    #[command(subcommand)]
    pub command: Command,
}

/// The options every subcommand takes, before or after its name.
#[derive(clap::Args, Debug)]
pub struct Globals {
    /// Keep images and containers under DIR instead of the XDG directories
    /// (also HUTCH_ROOT, or `root` in config.toml).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Show debugging detail on stderr (the same as --log-level debug).
    #[arg(long, global = true)]
    pub verbose: bool,

    /// What reaches stderr: debug (traces the sandbox setup step by step),
    /// info (the default), warn or error (also HUTCH_LOG_LEVEL, or
    /// `log_level` in config.toml).
    #[arg(long, global = true, value_name = "LEVEL",
          value_parser = choice::choice::<LogLevel>(LogLevel::NAMES, &[]))]
    pub log_level: Option<LogLevel>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a command in a new container.
    Run(Box<run::Args>),
    /// Create a container without starting it (`run`'s flags; `start` runs it).
    #[command(mut_arg("detach", |a| a.hide(true)))]
    Create(Box<run::Args>),
    /// Build an image from a Dockerfile.
    Build(build::Args),
    /// Load images from an OCI layout, OCI archive or docker-save archive.
    Load(load::Args),
    /// Create an image from a root filesystem tarball.
    Import(import::Args),
    /// List images in the store.
    Images(images::Args),
    /// Give an image another name.
    Tag(tag::Args),
    /// Remove images.
    Rmi(rmi::Args),
    /// Show low-level information about containers and images, as JSON.
    Inspect(inspect::Args),
    /// Fetch an image from a registry.
    Pull(pull::Args),
    /// Send an image to a registry.
    Push(push::Args),
    /// Save credentials for a registry (after checking them).
    Login(login::Args),
    /// Remove saved credentials for a registry.
    Logout(logout::Args),
    /// Enter the project's environment (hutch.toml), building or starting
    /// it as needed; `-- CMD ARG...` runs one command.
    Shell(shell::Args),
    /// The project environment: status, stop, rm.
    Env(env::Args),
    /// Write a starter hutch.toml into the current directory.
    Init(init::Args),
    /// Let this project put its exported commands on PATH (until hutch.toml changes).
    Allow(allow::Args),
    /// Withdraw `hutch allow` for this project.
    Deny(allow::Args),
    /// Print the shell hook that puts allowed projects' commands on PATH.
    Hook(hook::Args),
    /// Show what hutch detected about this machine and why.
    Info(info::Args),
    /// List containers.
    Ps(ps::Args),
    /// Start a stopped container again, over its writable layer.
    Start(start::Args),
    /// Remove containers.
    Rm(rm::Args),
    /// Rename a container.
    Rename(rename::Args),
    /// Print a detached container's output.
    Logs(logs::Args),
    /// Stop containers: the stop signal, then SIGKILL after a timeout.
    Stop(stop::Args),
    /// Send a signal to containers.
    Kill(kill::Args),
    /// Wait for containers to exit and print their exit codes.
    Wait(wait::Args),
    /// List the processes of a running container.
    Top(top::Args),
    /// Run a command in a running container.
    Exec(exec::Args),
    /// Stop and start containers again.
    Restart(restart::Args),
    /// Follow a running detached container's output until it exits.
    Attach(attach::Args),
    /// Pause containers: stop every process (SIGSTOP) until unpause.
    Pause(pause::Args),
    /// Unpause containers.
    Unpause(pause::Args),
    /// Show hutch's version, Docker's way.
    Version(version::Args),
    /// Run a container's health check.
    Healthcheck(healthcheck::Args),
    /// Manage containers (ls, inspect, rm, prune, create, start, ...).
    Container(container::Args),
    /// List a container's published ports.
    Port(port::Args),
    /// Show the history of an image: one row per step, newest first.
    History(history::Args),
    /// Create a new image from a container's changes.
    Commit(commit::Args),
    /// Show changed files of a container, an image's top layer, or between two images.
    Diff(diff::Args),
    /// Write a container's root filesystem as a tar archive.
    Export(export::Args),
    /// Write images to a docker-archive, oci-archive or OCI layout directory.
    Save(save::Args),
    /// Manage images (ls, inspect, rm, prune, history, ...).
    Image(image::Args),
    /// Manage networks: containers on one reach each other by name.
    Network(network::Args),
    /// Disk usage and store checks.
    System(system::Args),
    /// Manage volumes: create, ls, inspect, rm, prune.
    Volume(volume::Args),
    /// Copy files between a container and the host: CONTAINER:PATH to a
    /// host path or `-` (a tar stream), or the other way round.
    Cp(cp::Args),
    /// Print a shell completion script (bash, zsh or fish).
    Completion(completion::Args),
    /// The names of images or containers for the word a completion script
    /// is completing (called by those scripts).
    #[command(name = "__complete", hide = true)]
    Complete(completion::CompleteArgs),
    /// The idle process that holds this user's id-mapped user namespace
    /// (started by hutch itself; see `hutch info`).
    #[command(name = "userns-keeper", hide = true)]
    UsernsKeeper(UsernsKeeperArgs),
    /// A container's TCP port forwarder (started by hutch itself for
    /// slirp4netns networks).
    #[command(name = "port-forwarder", hide = true)]
    PortForwarder(PortForwarderArgs),
    /// The process that holds the shared network namespace of user-defined
    /// networks and answers their DNS (started by hutch itself).
    #[command(name = "netns-keeper", hide = true)]
    NetnsKeeper(NetnsKeeperArgs),
    /// A project environment's watcher, which vouches for unchanged inputs
    /// (started by the environment container's supervisor).
    #[command(name = "env-watcher", hide = true)]
    EnvWatcher(EnvWatcherArgs),
}

#[derive(clap::Args, Debug)]
pub struct EnvWatcherArgs {
    /// The environment's state directory.
    #[arg(long)]
    dir: std::path::PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct UsernsKeeperArgs {
    /// The pid file that records it; it ends once that no longer names it.
    #[arg(long)]
    pid_file: std::path::PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct NetnsKeeperArgs {
    /// The user-namespace keeper's namespace (`/proc/PID/ns/user`).
    #[arg(long)]
    userns: std::path::PathBuf,
    /// The data dir whose networks it serves.
    #[arg(long)]
    data: std::path::PathBuf,
    /// The id mapping's short key (names its records).
    #[arg(long)]
    key: String,
}

#[derive(clap::Args, Debug)]
pub struct PortForwarderArgs {
    /// The container's user namespace (`/proc/PID/ns/user`).
    #[arg(long)]
    userns: std::path::PathBuf,
    /// The container's network namespace (`/proc/PID/ns/net`).
    #[arg(long)]
    netns: std::path::PathBuf,
    /// LISTEN=TARGET pairs: a host address and port, and one in the container.
    routes: Vec<String>,
}

/// What every subcommand gets: where to work and how to talk.
pub struct Ctx {
    pub dirs: Dirs,
    pub printer: Printer,
    /// config.toml, for the settings a command layers under its flags.
    pub config: config::Config,
    /// The effective log level and root, with where each came from.
    pub settings: Vec<config::Setting>,
}

/// Entry point used by `main`: never panics on bad input, always an exit
/// code (0-255).
pub fn main() -> u8 {
    crate::modes::keep_owner_access();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = match parse_one_subcommand(&args) {
        Some(cli) => Ok(cli),
        None => parse_full_tree(&args),
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let e = without_hidden_suggestions(e);
            if !e.use_stderr() {
                // --help and --version: clap's own output, on stdout.
                let _ = e.print();
                return 0;
            }
            eprintln!("{}", errors::render_usage(&e, crate::ui::colour::stderr()));
            return EXIT_HUTCH_ERROR;
        }
    };
    let ctx = match context(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}", errors::render(&e, crate::ui::colour::stderr()));
            return EXIT_HUTCH_ERROR;
        }
    };
    // Docker's `run` and `create` exit 125 when the image or a container
    // they name is missing; every other command exits 1 then.
    let starts = matches!(
        cli.command,
        Command::Run(_)
            | Command::Create(_)
            | Command::Container(container::Args {
                command: container::Sub::Run(_) | container::Sub::Create(_)
            })
    );
    match dispatch(&ctx, cli.command) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => 0,
        Err(e) => {
            eprintln!("{}", errors::render(&e, crate::ui::colour::stderr()));
            if !starts && is_not_found(&e) {
                EXIT_NOT_FOUND
            } else {
                EXIT_HUTCH_ERROR
            }
        }
    }
}

/// config.toml (one open when it is missing), then the log level and the
/// directories, each from its flag, variable, file or default.
fn context(cli: &Cli) -> anyhow::Result<Ctx> {
    // hutch's own helpers serve containers that are already running: a
    // config.toml edited meanwhile must not stop them.
    let config = match cli.command {
        Command::UsernsKeeper(_) | Command::PortForwarder(_) | Command::EnvWatcher(_) => {
            config::Config::default()
        }
        _ => config::Config::load(&config::Config::path_in(&crate::dirs::config_home()))?,
    };
    let g = &cli.globals;
    let level = g.verbose.then_some(LogLevel::Debug).or(g.log_level);
    let mut log_level = config.effective(config::LOG_LEVEL, level.map(|l| l.to_string()))?;
    if g.verbose {
        log_level.origin = config::Origin::Flag("--verbose");
    }
    let root = config.layered(
        config::ROOT,
        g.root.as_ref().map(|r| r.display().to_string()),
        None,
    )?;
    let dirs = Dirs::resolve(root.as_ref().map(|r| std::path::Path::new(&r.value)))?;
    let root = root.unwrap_or_else(|| config::Setting {
        key: config::ROOT.name,
        value: dirs.store.display().to_string(),
        origin: config::Origin::Default,
    });
    let printer = Printer::new(log_level.value.parse().map_err(anyhow::Error::msg)?);
    Ok(Ctx {
        dirs,
        printer,
        config,
        settings: vec![log_level, root],
    })
}

/// The start-up path's command line parsed with only its own subcommand
/// built: clap builds every argument of every subcommand before it parses,
/// which was most of the CPU a `hutch run` spends in hutch itself. `None`
/// for any other subcommand and for anything that does not parse cleanly
/// (help, errors, suggestions), which the full tree then handles as ever.
fn parse_one_subcommand(args: &[std::ffi::OsString]) -> Option<Cli> {
    use clap::{Args, FromArgMatches};
    let sub = match subcommand_name(args)? {
        "run" => run::Args::augment_args(clap::Command::new("run")),
        "exec" => exec::Args::augment_args(clap::Command::new("exec")),
        _ => return None,
    };
    let top = Globals::augment_args(clap::Command::new("hutch"))
        .subcommand(sub)
        .subcommand_required(true);
    let args = command_verbatim(&top, args);
    let mut matches = top.try_get_matches_from(args).ok()?;
    // The `_mut` form takes the values out; the plain one clones every
    // match first (about 67,000 instructions for a `run`).
    Cli::from_arg_matches_mut(&mut matches).ok()
}

/// The command line parsed by the whole tree of subcommands.
fn parse_full_tree(args: &[std::ffi::OsString]) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    // Built once: `Cli::try_parse_from` would build the tree again after
    // [`command_verbatim`] walked it (a third more instructions for a
    // `create`).
    let mut top = Cli::command();
    let args = match subcommand_name(args) {
        Some("run" | "create" | "exec" | "container") => command_verbatim(&top, args),
        _ => args.to_vec(),
    };
    let mut matches = top.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut top))
}

/// Docker reads no option after the image of `run` and `create` or the
/// container of `exec`: everything after it is the command, verbatim, a
/// `--` included. clap would still take a flag there for hutch's own until
/// the command's first word, so a `--` goes in right after the image or
/// container. `args` as they are when that word is not found (help,
/// errors, a `--` before it: clap's own reading is then the same).
fn command_verbatim(top: &clap::Command, args: &[std::ffi::OsString]) -> Vec<std::ffi::OsString> {
    let mut out = args.to_vec();
    if let Some(at) = operand_at(top, args) {
        if at + 1 < args.len() {
            out.insert(at + 1, "--".into());
        }
    }
    out
}

/// Where the image or container of a subcommand that runs a command is in
/// `args`, walking the (unbuilt) definitions as clap parses.
fn operand_at(top: &clap::Command, args: &[std::ffi::OsString]) -> Option<usize> {
    // The subcommand's own flags, then the global ones.
    fn find<'a>(
        cmd: &'a clap::Command,
        top: &'a clap::Command,
        hit: impl Fn(&clap::Arg) -> bool,
    ) -> Option<&'a clap::Arg> {
        let found = cmd.get_arguments().find(|a| hit(a));
        found.or_else(|| top.get_arguments().find(|a| hit(a)))
    }
    let eats_next = |a: &clap::Arg| a.get_action().takes_values() && !a.is_require_equals_set();
    let mut cmd = top;
    let mut words = args.iter().enumerate().skip(1);
    while let Some((i, w)) = words.next() {
        let w = w.to_str()?;
        if w == "--" {
            return None;
        }
        if let Some(long) = w.strip_prefix("--") {
            if !long.contains('=') {
                let arg = find(cmd, top, |a| {
                    a.get_long() == Some(long)
                        || a.get_all_aliases().is_some_and(|all| all.contains(&long))
                })?;
                if eats_next(arg) {
                    words.next();
                }
            }
            continue;
        }
        if let Some(shorts) = w.strip_prefix('-').filter(|s| !s.is_empty()) {
            for (j, c) in shorts.char_indices() {
                let arg = find(cmd, top, |a| {
                    a.get_short() == Some(c)
                        || a.get_all_short_aliases()
                            .is_some_and(|all| all.contains(&c))
                })?;
                if arg.get_action().takes_values() {
                    if j + c.len_utf8() == shorts.len() && eats_next(arg) {
                        words.next();
                    }
                    break;
                }
            }
            continue;
        }
        if let Some(sub) = cmd.find_subcommand(w) {
            cmd = sub;
            continue;
        }
        let positionals: Vec<&clap::Arg> = cmd.get_positionals().collect();
        return match positionals.as_slice() {
            [_, command] if command.is_trailing_var_arg_set() => Some(i),
            _ => None,
        };
    }
    None
}

/// The first word after the global options, when nothing else precedes it.
fn subcommand_name(args: &[std::ffi::OsString]) -> Option<&str> {
    let mut words = args.iter().skip(1).map(|a| a.to_str());
    while let Some(w) = words.next() {
        match w? {
            "--root" | "--log-level" => {
                words.next()?;
            }
            "--verbose" => {}
            w if w.starts_with("--root=") || w.starts_with("--log-level=") => {}
            w if w.starts_with('-') => return None,
            w => return Some(w),
        }
    }
    None
}

/// Exit code for a missing image or container (Docker's "No such ...").
pub const EXIT_NOT_FOUND: u8 = 1;

/// The exit code for a failure of one of several objects a command was
/// given (the others go on): 1 when it does not exist, else 125.
pub(crate) fn failure_code(e: &anyhow::Error) -> u8 {
    match is_not_found(e) {
        true => EXIT_NOT_FOUND,
        false => EXIT_HUTCH_ERROR,
    }
}

/// Whether `e` says that a named image or container does not exist.
pub(crate) fn is_not_found(e: &anyhow::Error) -> bool {
    use crate::container::{launch, Error::NotFound};
    e.chain().any(|c| {
        c.downcast_ref::<crate::store::NoSuchImage>().is_some()
            || c.downcast_ref::<crate::store::Error>()
                .is_some_and(|e| e.is_no_such_image())
            || c.downcast_ref::<crate::registry::Error>()
                .is_some_and(|e| e.is_no_such_image())
            || c.downcast_ref::<crate::build::Error>()
                .is_some_and(|e| e.is_no_such_image())
            || c.downcast_ref::<crate::snapshot::Error>()
                .is_some_and(|e| e.is_no_such_image())
            || matches!(c.downcast_ref(), Some(NotFound(_)))
            || matches!(c.downcast_ref(), Some(launch::Error::Record(NotFound(_))))
    })
}

/// clap suggests hidden subcommands for typos (`hutch rn` → `userns-keeper`);
/// those are hutch's own helpers, never something to point a user at.
fn without_hidden_suggestions(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    fn hidden(c: &clap::Command, out: &mut Vec<String>) {
        for s in c.get_subcommands() {
            if s.is_hide_set() {
                out.push(s.get_name().to_string());
            }
            hidden(s, out);
        }
    }
    let Some(ContextValue::Strings(suggested)) = e.get(ContextKind::SuggestedSubcommand) else {
        return e;
    };
    let mut names = Vec::new();
    hidden(&<Cli as clap::CommandFactory>::command(), &mut names);
    let kept: Vec<String> = suggested
        .iter()
        .filter(|n| !names.contains(n))
        .cloned()
        .collect();
    if kept.is_empty() {
        e.remove(ContextKind::SuggestedSubcommand);
        // An empty tip list would still print its blank separator line.
        if matches!(e.get(ContextKind::Suggested), Some(ContextValue::StyledStrs(t)) if t.is_empty())
        {
            e.remove(ContextKind::Suggested);
        }
    } else {
        e.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(kept),
        );
    }
    e
}

fn dispatch(ctx: &Ctx, cmd: Command) -> anyhow::Result<u8> {
    match cmd {
        Command::Run(a) => run::exec(ctx, *a),
        Command::Create(a) => run::create(ctx, *a),
        Command::Restart(a) => restart::exec(ctx, a),
        Command::Attach(a) => attach::exec(ctx, a),
        Command::Pause(a) => pause::pause(ctx, a),
        Command::Unpause(a) => pause::unpause(ctx, a),
        Command::Version(a) => version::exec(ctx, a),
        Command::Build(a) => build::exec(ctx, a),
        Command::Load(a) => load::exec(ctx, a),
        Command::Import(a) => import::exec(ctx, a),
        Command::Images(a) => images::exec(ctx, a),
        Command::Tag(a) => tag::exec(ctx, a),
        Command::Rmi(a) => rmi::exec(ctx, a),
        Command::Inspect(a) => inspect::exec(ctx, a),
        Command::Info(a) => info::exec(ctx, a),
        Command::Shell(a) => shell::exec(ctx, a),
        Command::Env(a) => env::exec(ctx, a),
        Command::Init(a) => init::exec(ctx, a),
        Command::Allow(a) => allow::allow(ctx, a),
        Command::Deny(a) => allow::deny(ctx, a),
        Command::Hook(a) => hook::exec(ctx, a),
        Command::Ps(a) => ps::exec(ctx, a),
        Command::Start(a) => start::exec(ctx, a),
        Command::Rm(a) => rm::exec(ctx, a),
        Command::Rename(a) => rename::exec(ctx, a),
        Command::Logs(a) => logs::exec(ctx, a),
        Command::Stop(a) => stop::exec(ctx, a),
        Command::Kill(a) => kill::exec(ctx, a),
        Command::Wait(a) => wait::exec(ctx, a),
        Command::Top(a) => top::exec(ctx, a),
        Command::Exec(a) => exec::exec(ctx, a),
        Command::Healthcheck(a) => healthcheck::exec(ctx, a),
        Command::Container(a) => container::exec(ctx, a),
        Command::Pull(a) => pull::exec(ctx, a),
        Command::Push(a) => push::exec(ctx, a),
        Command::Login(a) => login::exec(ctx, a),
        Command::Logout(a) => logout::exec(ctx, a),
        Command::Port(a) => port::exec(ctx, a),
        Command::History(a) => history::exec(ctx, a),
        Command::Commit(a) => commit::exec(ctx, a),
        Command::Diff(a) => diff::exec(ctx, a),
        Command::Export(a) => export::exec(ctx, a),
        Command::Save(a) => save::exec(ctx, a),
        Command::Image(a) => image::exec(ctx, a),
        Command::Network(a) => network::exec(ctx, a),
        Command::System(a) => system::exec(ctx, a),
        Command::Volume(a) => volume::exec(ctx, a),
        Command::Cp(a) => cp::exec(ctx, a),
        Command::Completion(a) => completion::exec(a),
        Command::Complete(a) => completion::complete(ctx, a),
        Command::PortForwarder(a) => {
            crate::net::forward::serve(&a.userns, &a.netns, &a.routes)
                .map_err(anyhow::Error::msg)?;
            Ok(0)
        }
        Command::EnvWatcher(a) => {
            crate::project::watch::serve(&a.dir)?;
            Ok(0)
        }
        Command::NetnsKeeper(a) => {
            crate::net::bridge::serve(&a.userns, &a.data, &a.key).map_err(anyhow::Error::msg)?;
            Ok(0)
        }
        Command::UsernsKeeper(a) => {
            crate::userns::keeper::serve(&a.pid_file).map_err(anyhow::Error::msg)?;
            Ok(0)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .or_else(|| c.downcast_ref::<crate::store::Error>()?.io())
            .or_else(|| c.downcast_ref::<crate::registry::Error>()?.io())
            .or_else(|| c.downcast_ref::<crate::build::Error>()?.io())
            .or_else(|| c.downcast_ref::<crate::snapshot::Error>()?.io())
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A short alias is a flag as its short name is: its value is skipped
    /// on the way to the image, as completion does.
    #[test]
    fn the_operand_is_found_past_a_short_alias() {
        use clap::{Arg, ArgAction, Command};
        let top = Command::new("t").subcommand(
            Command::new("run")
                .arg(
                    Arg::new("user")
                        .short('u')
                        .short_alias('U')
                        .action(ArgAction::Set),
                )
                .arg(Arg::new("image").required(true))
                .arg(Arg::new("command").num_args(0..).trailing_var_arg(true)),
        );
        let args = |a: &[&str]| {
            a.iter()
                .map(Into::into)
                .collect::<Vec<std::ffi::OsString>>()
        };
        assert_eq!(
            operand_at(&top, &args(&["t", "run", "-u", "1", "img", "x"])),
            Some(4)
        );
        assert_eq!(
            operand_at(&top, &args(&["t", "run", "-U", "1", "img", "x"])),
            Some(4)
        );
    }

    fn parse_error(args: &[&str]) -> String {
        let e = Cli::try_parse_from(args).unwrap_err();
        without_hidden_suggestions(e).render().to_string()
    }

    #[test]
    fn one_subcommand_parses_as_the_full_tree_does() {
        let os = |v: &[&str]| -> Vec<std::ffi::OsString> { v.iter().map(Into::into).collect() };
        for argv in [
            &[
                "hutch",
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "true",
            ][..],
            &[
                "hutch",
                "--root",
                "/r",
                "--verbose",
                "run",
                "-it",
                "-e",
                "A=1",
                "img",
                "sh",
                "-c",
                "x",
            ],
            &[
                "hutch",
                "--log-level=warn",
                "run",
                "--root",
                "/r",
                "--cap-add",
                "ALL",
                "img",
            ],
            &[
                "hutch", "run", "--name", "n", "-v", "/a:/b:ro", "img", "--", "ls", "-l",
            ],
            &["hutch", "exec", "-u", "0", "-w", "/tmp", "ctr", "id", "-u"],
            // A flag or more of each of run's groups, so that a group that
            // parses differently on its own shows here.
            &[
                "hutch",
                "run",
                "-e",
                "A=1",
                "-w",
                "/w",
                "--name",
                "n",
                "--hostname",
                "h",
                "--read-only",
                "--read-only-tmpfs=false",
                "--tmpfs",
                "/t:size=1m",
                "--net",
                "none",
                "-p",
                "8080:80",
                "--userns",
                "keep-id",
                "--security-opt",
                "no-new-privileges",
                "--ulimit",
                "nofile=10:20",
                "--pids-limit",
                "5",
                "--pull",
                "never",
                "--restart",
                "on-failure:3",
                "--health-interval",
                "1m30s",
                "--no-healthcheck",
                "-l",
                "k=v",
                "--sig-proxy=false",
                "--detach-keys",
                "ctrl-x,x",
                "--stop-timeout",
                "3",
                "--cidfile",
                "/c",
                "--group-add",
                "audio",
                "img",
                "sh",
            ],
        ] {
            let fast = parse_one_subcommand(&os(argv)).expect("parsed by its subcommand alone");
            let full = parse_full_tree(&os(argv)).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{full:?}"), "{argv:?}");
        }
        // Everything else goes to the full tree: other subcommands, help,
        // version, errors (with their suggestions), options it does not know.
        for argv in [
            &["hutch", "ps", "-a"][..],
            &["hutch", "run", "--help"],
            &["hutch", "--version"],
            &["hutch", "run"],
            &["hutch", "run", "--rmm", "img"],
            &["hutch", "-V", "run", "img"],
            &["hutch", "--root"],
            &["hutch"],
        ] {
            assert!(parse_one_subcommand(&os(argv)).is_none(), "{argv:?}");
        }
    }

    #[test]
    fn everything_after_the_image_or_container_is_the_command() {
        let os = |v: &[&str]| -> Vec<std::ffi::OsString> { v.iter().map(Into::into).collect() };
        let command = |cli: Cli| match cli.command {
            Command::Run(a) | Command::Create(a) => (a.image, a.command),
            Command::Exec(a) => (a.container, a.command),
            Command::Container(container::Args {
                command: container::Sub::Run(a) | container::Sub::Create(a),
            }) => (a.image, a.command),
            other => panic!("{other:?}"),
        };
        let v = |w: &[&str]| -> Vec<String> { w.iter().map(|s| s.to_string()).collect() };
        for (argv, operand, cmd) in [
            (&["hutch", "run", "img", "--rm"][..], "img", &["--rm"][..]),
            (
                &[
                    "hutch",
                    "--verbose",
                    "run",
                    "--rm",
                    "-e",
                    "A",
                    "img",
                    "--help",
                    "-v",
                ],
                "img",
                &["--help", "-v"],
            ),
            (
                &["hutch", "run", "-it", "img", "--", "ls"],
                "img",
                &["--", "ls"],
            ),
            (
                &["hutch", "run", "--net", "none", "img", "--verbose"],
                "img",
                &["--verbose"],
            ),
            (
                &["hutch", "run", "--sig-proxy", "img", "-d"],
                "img",
                &["-d"],
            ),
            (&["hutch", "run", "--", "img", "--rm"], "img", &["--rm"]),
            (
                &["hutch", "run", "--root", "/r", "img", "x", "--", "y"],
                "img",
                &["x", "--", "y"],
            ),
            (
                &["hutch", "create", "-eA=1", "img", "--name", "n"],
                "img",
                &["--name", "n"],
            ),
            (
                &["hutch", "container", "run", "img", "--rm"],
                "img",
                &["--rm"],
            ),
            (
                &["hutch", "container", "create", "img", "--"],
                "img",
                &["--"],
            ),
            (
                &["hutch", "exec", "-u", "0", "ctr", "-d", "--help"],
                "ctr",
                &["-d", "--help"],
            ),
            (&["hutch", "exec", "ctr", "--", "ls"], "ctr", &["--", "ls"]),
        ] {
            let want = (operand.to_string(), v(cmd));
            let full = parse_full_tree(&os(argv)).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            assert_eq!(command(full), want, "{argv:?}");
            match parse_one_subcommand(&os(argv)) {
                Some(fast) => assert_eq!(command(fast), want, "{argv:?} on its own"),
                None => assert!(!matches!(argv[1], "run" | "exec"), "{argv:?}"),
            }
        }
        // Help and usage before the image are clap's, as ever.
        for argv in [
            &["hutch", "run", "--help"][..],
            &["hutch", "run"],
            &["hutch", "exec", "ctr"],
        ] {
            assert!(parse_full_tree(&os(argv)).is_err(), "{argv:?}");
        }
    }

    #[test]
    fn typos_never_suggest_hidden_commands() {
        let rn = parse_error(&["hutch", "rn"]);
        assert!(
            !rn.contains("userns-keeper") && rn.contains("'rename'"),
            "{rn}"
        );
        let pf = parse_error(&["hutch", "port-forwardr"]);
        assert!(
            !pf.contains("port-forwarder") && pf.contains("'port'"),
            "{pf}"
        );
        // Only hidden ones were close: no tip at all, and no stray blank line.
        let u = parse_error(&["hutch", "userns-keepr"]);
        assert!(!u.contains("tip") && !u.contains("\n\n\n"), "{u}");
        let im = parse_error(&["hutch", "imags"]);
        assert!(im.contains("'image', 'images'"), "{im}");
    }
}
