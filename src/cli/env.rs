//! `hutch env status|stop|rm`: the project environment's state, stopping
//! it (what was installed stays) and removing it (the next `hutch shell`
//! starts afresh); `snapshot|log|diff|rollback|tag|prune`: its versions.

use super::template::{print_rows, Listing};
use super::units::human_size;
use super::Ctx;
use crate::project::versions::Side;
use crate::project::{self, exports, Environment};
use crate::report::Silent;
use anyhow::bail;
use serde_json::{json, Value};

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
    /// Remove the environment's container and private home (in a project
    /// that was moved, the environment it had at its old path).
    Rm,
    /// Record the environment's state as a new version (an image in the
    /// store, tagged localhost/hutch-env/ENV:vN).
    Snapshot {
        /// What this version is.
        #[arg(short, long, value_name = "MESSAGE")]
        message: Option<String>,
    },
    /// List the versions: id, date, message, size of what each added and
    /// the digest of the definition it was built from.
    Log {
        /// `table`, `json`, or a Go template over Version, Created, Size,
        /// Definition, Message, Image, Tag, e.g. '{{.Version}} {{.Message}}'.
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
    },
    /// What changed between two versions (default: the newest version and
    /// the environment now): paths as `hutch diff` prints them, then the
    /// apk, dpkg or rpm packages added (+), removed (-) and upgraded (~).
    ///
    /// rpm's sqlite, Berkeley DB and ndb databases are read; a package
    /// installed for several architectures is named NAME.ARCH, and each
    /// installed version of one (kernels) is listed.
    Diff {
        /// The version to compare from (default: the newest).
        #[arg(value_name = "VERSION")]
        from: Option<String>,
        /// The version to compare with (default: the environment now).
        #[arg(value_name = "VERSION")]
        to: Option<String>,
    },
    /// Return the environment to VERSION; the state it leaves is kept as a
    /// new version first, so a rollback can be rolled back.
    Rollback {
        #[arg(value_name = "VERSION")]
        version: String,
        /// Stop the processes inside the environment instead of refusing.
        #[arg(long)]
        force: bool,
    },
    /// Give VERSION an ordinary image name.
    Tag {
        #[arg(value_name = "VERSION")]
        version: String,
        #[arg(value_name = "NAME[:TAG]")]
        name: String,
    },
    /// Drop all but the newest N versions (the one the environment runs on
    /// stays); their images go at the next gc unless named otherwise.
    Prune {
        #[arg(long, value_name = "N")]
        keep: usize,
    },
    /// Turn the changes made by hand since the last build (in the
    /// environment now, or in VERSION) into Containerfile lines: packages
    /// installed or removed with apk, apt or dnf become RUN lines (dnf, or
    /// yum, microdnf or zypper when the image has that), other files
    /// are copied into .hutch/promote/ in the build context with one COPY
    /// (and an ignore file that leaves that directory out gets an exception
    /// for it). Prints the patch.
    Promote {
        #[arg(value_name = "VERSION")]
        version: Option<String>,
        /// Append the lines to the Containerfile (the next entry rebuilds).
        #[arg(long)]
        apply: bool,
    },
    /// Push the environment's current version to REF (a new snapshot,
    /// unless nothing changed since the newest version), with the
    /// definition's digest as a label and a manifest annotation.
    Push {
        #[arg(value_name = "REF")]
        dest: String,
        #[command(flatten)]
        tls: super::flags::Tls,
    },
    /// Write the pushed environment as another tool's definition (to
    /// stdout, or -o FILE).
    Export {
        #[command(subcommand)]
        what: Export,
    },
    /// Print the directory of launchers for `[export] commands` (the
    /// project must be allowed: `hutch allow`).
    Path {
        /// Print nothing (and succeed) outside an allowed project; for
        /// shell hooks.
        #[arg(long)]
        if_allowed: bool,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum Export {
    /// A devcontainer.json using the pushed image by digest.
    Devcontainer {
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Kubernetes YAML: a PersistentVolumeClaim for the project and a Pod
    /// (a shell, or CMD) or, with --job, a batch/v1 Job running CMD; the
    /// pushed image by digest, run as your uid, with hutch.toml's env, ports
    /// and [run.limits] memory and cpus as resources.
    Kube {
        /// A Job instead of a Pod.
        #[arg(long)]
        job: bool,
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        /// The command to run.
        #[arg(last = true, value_name = "CMD")]
        command: Vec<String>,
    },
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let found = project::discover(&std::env::current_dir()?);
    if let (Command::Path { if_allowed: true }, Err(_)) = (&a.command, &found) {
        return Ok(0);
    }
    let project = super::config::project(&ctx.config, found?)?;
    // Builds and snapshots draw their own work on a terminal.
    let live = crate::ui::progress::Live::new(ctx.printer);
    let env = Environment::new(&project, &ctx.dirs, &live, &Silent);
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
                None => match &s.moved_from {
                    Some(old) => (
                        format!(
                            "none here: this project's environment was made at {} (move the \
                             project back, or `hutch env rm` here to remove it)",
                            old.display()
                        ),
                        "-".into(),
                    ),
                    None => ("none (`hutch shell` makes it)".into(), "-".into()),
                },
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
        Command::Snapshot { message } => {
            let v = env.snapshot(message)?;
            ctx.printer.out(&v.n.to_string());
            ctx.printer.info(&format!(
                "version {} ({}, {})",
                v.n,
                env.version_tag(v.n),
                human_size(v.size)
            ));
        }
        Command::Log { format } => log(ctx, &env, format.as_deref())?,
        Command::Diff { from, to } => {
            let from = match &from {
                Some(f) => f.clone(),
                None => match env.log()?.last() {
                    Some(v) => v.n.to_string(),
                    None => {
                        bail!("the environment has no versions yet: `hutch env snapshot` makes one")
                    }
                },
            };
            let to = to.as_deref().map_or(Side::Now, Side::Version);
            let d = env.diff(Side::Version(&from), to)?;
            for c in &d.paths {
                ctx.printer.out(&c.to_string());
            }
            for (m, changes) in &d.packages {
                if !changes.is_empty() {
                    ctx.printer.out(&format!("packages ({}):", m.name()));
                }
                for c in changes {
                    ctx.printer.out(&c.to_string());
                }
            }
            if let Some(why) = &d.rpm {
                ctx.printer
                    .info(&format!("{why}: rpm packages are not listed"));
            }
        }
        Command::Rollback { version, force } => {
            let (saved, target) = env.rollback(&version, force)?;
            ctx.printer.info(&format!(
                "rolled back to version {}; the state left is version {} \
                 (`hutch env rollback {}` returns to it)",
                target.n, saved.n, saved.n
            ));
        }
        Command::Tag { version, name } => {
            let full = env.tag(&version, &name)?;
            ctx.printer
                .info(&format!("version {version} is now also {full}"));
        }
        Command::Promote { version, apply } => {
            let p = env.promote(version.as_deref(), apply)?;
            ctx.printer.out(p.patch.trim_end());
            if !p.copied.is_empty() {
                ctx.printer.info(&format!(
                    "copied {} file(s) into {}: {}",
                    p.copied.len(),
                    p.generated.display(),
                    p.copied.join(", ")
                ));
            }
            if apply {
                ctx.printer.info(&format!(
                    "{} changed: the next entry rebuilds the environment from it",
                    p.file.display()
                ));
            }
        }
        Command::Push { dest, tls } => {
            let net = tls.net(&ctx.dirs)?;
            let bars = crate::ui::progress::Bars::new(ctx.printer);
            let (v, p) = env.push(&dest, &net, &bars)?;
            ctx.printer.out(&p.pinned());
            ctx.printer.info(&format!(
                "pushed version {} to {}@{}",
                v.n, p.reference, p.digest
            ));
        }
        Command::Export { what } => {
            let (text, output) = match what {
                Export::Devcontainer { output } => (env.export_devcontainer()?, output),
                Export::Kube {
                    job,
                    output,
                    command,
                } => {
                    let kind = if job {
                        project::share::KubeKind::Job
                    } else {
                        project::share::KubeKind::Pod
                    };
                    (env.export_kube(kind, &command)?, output)
                }
            };
            match output {
                Some(path) => {
                    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        fs_err::create_dir_all(d)?;
                    }
                    let mut tmp = crate::snapshot::output::file(&path)?;
                    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
                    crate::snapshot::output::finish_file(tmp, &path)?;
                }
                None => ctx.printer.out(text.trim_end()),
            }
        }
        Command::Prune { keep } => {
            for v in env.prune(keep)? {
                ctx.printer.out(&format!("dropped version {}", v.n));
            }
        }
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

/// `env log`: newest first, as a table, JSON or a template per version.
fn log(ctx: &Ctx, env: &Environment, format: Option<&str>) -> anyhow::Result<()> {
    let format = Listing::parse(format).map_err(anyhow::Error::msg)?;
    let versions: Vec<_> = env.log()?.into_iter().rev().collect();
    let short = |d: &str| {
        let d = d.trim_start_matches("sha256:");
        d[..d.len().min(12)].to_string()
    };
    let row = |v: &crate::project::versions::Version| {
        json!({
            "Version": v.n, "Created": v.created, "Size": v.size,
            "Definition": v.definition, "Message": v.message,
            "Image": v.image, "Tag": env.version_tag(v.n),
        })
    };
    match format {
        Listing::Json => {
            let rows: Vec<Value> = versions.iter().map(row).collect();
            ctx.printer.out(&serde_json::to_string_pretty(&rows)?);
        }
        Listing::Template(t) => {
            let fields = [
                "Version",
                "Created",
                "Size",
                "Definition",
                "Message",
                "Image",
                "Tag",
            ];
            let rows: Vec<Value> = versions.iter().map(row).collect();
            print_rows(&ctx.printer, &t, &fields, &[], &rows)?;
        }
        Listing::Table => {
            let rows: Vec<[String; 5]> = versions
                .into_iter()
                .map(|v| {
                    [
                        v.n.to_string(),
                        v.created
                            .replace('T', " ")
                            .trim_end_matches('Z')
                            .to_string(),
                        human_size(v.size),
                        short(&v.definition),
                        v.message,
                    ]
                })
                .collect();
            ctx.printer.table(
                Some(["VERSION", "CREATED", "SIZE", "DEFINITION", "MESSAGE"]),
                &rows,
                3,
            );
        }
    }
    Ok(())
}
