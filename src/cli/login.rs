//! `hutch login [-u USER] [-p PASS | --password-stdin] REGISTRY`: check
//! credentials against the registry, then save them where Podman, Skopeo
//! and Docker read them (see `registry::authfile`). Never prints a secret.

use super::Ctx;
use crate::registry::authfile::{normalise_key, Credentials};
use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal, Read};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Registry host[:port] (`docker.io`, `quay.io`, `localhost:5000`).
    #[arg(value_name = "REGISTRY")]
    pub registry: String,

    /// User name; asked for on the terminal when missing.
    #[arg(short, long)]
    pub username: Option<String>,

    /// Password or token (visible to other users in the process list:
    /// prefer --password-stdin).
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,

    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,

    #[command(flatten)]
    pub tls: super::flags::Tls,
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let key = registry_key(&args.registry)?;
    let username = match args.username {
        Some(u) => u,
        None if std::io::stdin().is_terminal() && !args.password_stdin => {
            eprint!("Username: ");
            let mut u = String::new();
            std::io::stdin().lock().read_line(&mut u)?;
            u.trim().to_string()
        }
        None => bail!("no user name: pass -u USER"),
    };
    if username.is_empty() || username.contains(':') {
        bail!("the user name must not be empty or contain ':'");
    }
    let password = if let Some(p) = args.password {
        p
    } else if args.password_stdin {
        let mut p = String::new();
        std::io::stdin()
            .lock()
            .read_to_string(&mut p)
            .context("cannot read the password from stdin")?;
        p.trim_end_matches(['\n', '\r']).to_string()
    } else if std::io::stdin().is_terminal() {
        crate::sys::term::read_password("Password: ")?
    } else {
        bail!("no password: pass --password-stdin and pipe it in, or -p PASSWORD")
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    let creds = Credentials { username, password };
    let net = args.tls.net(&ctx.dirs)?;
    let host = key.split('/').next().unwrap_or(&key);
    let insecure = net.config.insecure_host(host);
    let client = crate::registry::client::Client::new(
        host,
        insecure || net.force_insecure,
        Some(creds.clone()),
        &net.tls,
    )?;
    client.verify_login()?;
    net.auth.store(&key, &creds)?;
    ctx.printer.info(&format!(
        "Login succeeded; credentials for {key} saved in {}",
        net.auth.primary.display()
    ));
    Ok(0)
}

/// `https://index.docker.io/v1/`, `docker.io/` and friends → `docker.io`;
/// refuses what is not a registry.
pub fn registry_key(arg: &str) -> anyhow::Result<String> {
    let key = normalise_key(arg.trim());
    let host = key.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains(['@', ' ']) {
        bail!("'{arg}' is not a registry: give host[:port], e.g. quay.io or localhost:5000");
    }
    Ok(key)
}
