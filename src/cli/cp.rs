//! `hutch cp`: copy files between a container and the host, Docker's way:
//! `CONTAINER:SRC_PATH DEST_PATH|-` or `SRC_PATH|- CONTAINER:DEST_PATH`.

use super::Ctx;
use crate::container::cp::{copy_in, copy_out, Host, Options};
use anyhow::bail;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Archive mode: keep the uid and gid of what is copied (files copied
    /// in otherwise belong to the container's root).
    #[arg(short, long)]
    pub archive: bool,
    /// Follow a symbolic link given as SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Print nothing (hutch prints no progress anyway).
    #[arg(short, long)]
    pub quiet: bool,
    /// CONTAINER:SRC_PATH, a host path, or - (a tar stream on stdin).
    #[arg(value_name = "SRC")]
    pub src: String,
    /// CONTAINER:DEST_PATH, a host path, or - (a tar stream on stdout).
    #[arg(value_name = "DEST")]
    pub dest: String,
}

/// `CONTAINER:PATH`, when `arg` names one: a colon before any slash
/// (Docker's rule; a host path with a colon is written ./a:b).
fn container_side(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

fn host(arg: &str) -> Host {
    match arg {
        "-" => Host::Stream,
        p => Host::Path(PathBuf::from(p)),
    }
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let o = Options {
        archive: a.archive,
        follow: a.follow_link,
    };
    match (container_side(&a.src), container_side(&a.dest)) {
        (Some(_), Some(_)) => {
            bail!("copying between containers is not supported: copy through the host")
        }
        (None, None) => bail!("one of SRC and DEST must be CONTAINER:PATH"),
        (Some((c, p)), None) => {
            if p.is_empty() {
                bail!("no path given in {}: write CONTAINER:PATH", a.src);
            }
            copy_out(&ctx.dirs, c, p, &host(&a.dest), o)?;
        }
        (None, Some((c, p))) => {
            if p.is_empty() {
                bail!("no path given in {}: write CONTAINER:PATH", a.dest);
            }
            copy_in(&ctx.dirs, c, &host(&a.src), p, o)?;
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_as_docker_reads_them() {
        assert_eq!(
            container_side("web:/etc/hosts"),
            Some(("web", "/etc/hosts"))
        );
        assert_eq!(container_side("./a:b"), None);
        assert_eq!(container_side("/tmp/a:b"), None);
        assert_eq!(container_side("dir/a:b"), None);
        assert_eq!(container_side("-"), None);
    }
}
