//! `hutch version`: Docker's two sections, Client and Server. hutch has no
//! daemon, so the server is this same program (as with Podman without a
//! remote service), and both report the same version. `--format` takes
//! `json` or a Go template over `.Client` and `.Server` (`Version`, `Os`,
//! `Arch`, `OsArch`), e.g. '{{.Server.Version}}'.

use super::template::Template;
use super::Ctx;
use serde_json::{json, Value};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `json`, or a Go template, e.g. '{{.Client.Version}}'.
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// Go's name for this machine's architecture, as Docker prints it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn facts() -> Value {
    let part = |name: &str| {
        json!({
            "Name": name,
            "Version": env!("CARGO_PKG_VERSION"),
            "Os": std::env::consts::OS,
            "Arch": go_arch(),
            "OsArch": format!("{}/{}", std::env::consts::OS, go_arch()),
        })
    };
    json!({ "Client": part("hutch"), "Server": part("hutch (no daemon)") })
}

pub fn exec(ctx: &Ctx, a: Args) -> anyhow::Result<u8> {
    let v = facts();
    match a.format.as_deref() {
        Some("json") => ctx.printer.out(&serde_json::to_string_pretty(&v)?),
        Some(f) => {
            let t = Template::parse(f).map_err(anyhow::Error::msg)?;
            ctx.printer.out(&t.render(&v).map_err(anyhow::Error::msg)?);
        }
        None => {
            let mut text = Vec::new();
            for (title, key) in [("Client", "Client"), ("Server", "Server")] {
                let s = &v[key];
                text.push(format!("{title}: {}", s["Name"].as_str().unwrap_or("")));
                text.push(format!(
                    " Version:    {}",
                    s["Version"].as_str().unwrap_or("")
                ));
                text.push(format!(
                    " OS/Arch:    {}",
                    s["OsArch"].as_str().unwrap_or("")
                ));
                text.push(String::new());
            }
            text.pop();
            ctx.printer.out(&text.join("\n"));
        }
    }
    Ok(0)
}
