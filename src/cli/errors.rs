//! How a failure is shown: `Error: <what went wrong>`, then `hint: <what to
//! do>` when there is something to do. The library puts the fix in its
//! messages (a trailing parenthesis, a `: install ...` tail, the blockers
//! `hutch info` knows); this module only moves it to its own line, so the
//! library's messages stay whole for callers that are not this CLI. clap's
//! usage errors get the same shape (its `error:` and `tip:` renamed), so a
//! script or a person reads one kind of failure. Only the labels are
//! coloured, and only where `ui::colour` allows.

use crate::sandbox::host::{self, HostPaths};
use crate::ui::colour::paint;

/// The text printed on stderr for a failure; `colour` marks the labels.
pub fn render(e: &anyhow::Error, colour: bool) -> String {
    render_message(&text(e), colour)
}

/// A failure and its causes on one line, outermost first; a cause the
/// line already shows (named in its parent's message) is not repeated.
pub fn text(e: &anyhow::Error) -> String {
    crate::chain::line(e.as_ref())
}

/// [`render`] for a failure already turned into text.
pub fn render_message(msg: &str, colour: bool) -> String {
    let (what, hint) = split(msg);
    // A bare pointer to `hutch info` yields to a fix that is known.
    let hint = match hint {
        Some(h) if h == "run `hutch info`" => known_hint(&what)
            .map(|k| format!("{k}; `hutch info` says more"))
            .or(Some(h)),
        Some(h) => Some(h),
        None => known_hint(&what),
    };
    let error = label(colour, "Error:");
    match hint {
        Some(h) => format!("{error} {what}\n{} {h}", label(colour, "hint:")),
        None => format!("{error} {what}"),
    }
}

/// Print one failure of several (a command that goes on with the next
/// object) in the shape of the final one.
pub fn eprint(msg: &str) {
    eprintln!("{}", render_message(msg, crate::ui::colour::stderr()));
}

fn label(colour: bool, text: &str) -> String {
    let sgr = if text == "hint:" { "1;36" } else { "1;31" };
    paint(colour, sgr, text)
}

/// A clap usage error in hutch's shape: `Error:` with clap's message (and
/// its continuation lines, such as the possible values), each of clap's
/// `tip:` lines as a `hint:` right below, then the usage and the pointer to
/// `--help` as clap wrote them.
pub fn render_usage(e: &clap::Error, colour: bool) -> String {
    let text = e.render().to_string();
    let mut what: Vec<String> = Vec::new();
    let mut hints: Vec<String> = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    let mut in_message = false;
    for line in text.lines() {
        if let Some(m) = line.strip_prefix("error: ") {
            // hutch's own value parsers put their fix after a colon.
            let (m, fix) = split(m);
            what.push(format!("{} {m}", label(colour, "Error:")));
            hints.extend(fix.map(|f| format!("{} {f}", label(colour, "hint:"))));
            in_message = true;
        } else if let Some(t) = line.trim_start().strip_prefix("tip: ") {
            hints.push(format!("{} {t}", label(colour, "hint:")));
            in_message = false;
        } else if in_message && line.starts_with(' ') {
            // clap indents the continuation of its message (the possible
            // values, the missing arguments).
            what.push(line.to_string());
        } else if !rest.is_empty() || !line.is_empty() {
            rest.push(line);
            in_message = false;
        }
    }
    let mut out = what;
    out.extend(hints);
    if !rest.is_empty() {
        out.push(String::new());
        out.extend(rest.iter().map(|l| l.to_string()));
    }
    out.join("\n")
}

/// Words a fix starts with, in the library's messages.
const FIXES: &[&str] = &[
    "see `",
    "give ",
    "check ",
    "install ",
    "use --",
    "run `",
    "pass ",
    "add ",
    "remove ",
    "start it with `",
];

fn is_fix(s: &str) -> bool {
    FIXES.iter().any(|f| s.starts_with(f))
}

/// The message without its fix, and the fix.
fn split(msg: &str) -> (String, Option<String>) {
    // "... (see `hutch images`, or `hutch load` it first)"; "(why; give ...)".
    if let Some(inner) = msg.strip_suffix(')').and_then(|m| {
        let open = m.rfind(" (")?;
        Some((open, &m[open + 2..]))
    }) {
        let (open, inner) = inner;
        if is_fix(inner) {
            return (msg[..open].to_string(), Some(inner.to_string()));
        }
        if let Some((why, fix)) = inner.split_once("; ").filter(|(_, f)| is_fix(f)) {
            return (format!("{} ({why})", &msg[..open]), Some(fix.to_string()));
        }
    }
    // "pasta is not installed: install the `passt` package (...), or use ...".
    for sep in [": install ", " — run `", " — install "] {
        if let Some(at) = msg.find(sep) {
            let fix = msg[at..].trim_start_matches([':', ' ', '—']);
            return (msg[..at].to_string(), Some(fix.to_string()));
        }
    }
    // "no hutch.toml in DIR ...: run `hutch init` to create one".
    let mut from = 0;
    while let Some(i) = msg[from..].find(": ") {
        let at = from + i;
        let tail = &msg[at + 2..];
        if AFTER_COLON.iter().any(|f| tail.starts_with(f)) {
            return (msg[..at].to_string(), Some(tail.to_string()));
        }
        from = at + 2;
    }
    (msg.to_string(), None)
}

/// Words a fix starts with after a colon: fewer than in a parenthesis,
/// since "X: check ..." may well be what failed rather than what to do.
const AFTER_COLON: &[&str] = &[
    "run `",
    "pass ",
    "use ",
    "create it with `",
    "give ",
    "see `",
    "`hutch ",
];

/// Fixes for failures whose messages do not carry one.
fn known_hint(what: &str) -> Option<String> {
    if what.contains("user namespaces are unavailable")
        || what.contains("cannot set up the user namespace")
    {
        let fixes: Vec<String> = host::userns_blockers(&HostPaths::default())
            .into_iter()
            .filter_map(|b| b.split_once(" — ").map(|(_, fix)| fix.to_string()))
            .collect();
        return Some(if fixes.is_empty() {
            "`hutch info` shows what the kernel allows and why".into()
        } else {
            fixes.join("; or ")
        });
    }
    if what.contains("no range for this user in") {
        return Some(
            "ask an administrator for a range: `sudo usermod --add-subuids 100000-165535 \
             --add-subgids 100000-165535 $USER`; or use --userns=single"
                .into(),
        );
    }
    if what.contains("FUSE cannot be mounted") {
        return Some(
            "make /dev/fuse readable and writable by you (`sudo modprobe fuse; \
             sudo chmod 0666 /dev/fuse`), or inside another container pass it \
             `--device /dev/fuse`; or use --storage-driver overlay or copy"
                .into(),
        );
    }
    if what.starts_with("network ") && what.ends_with(" not found") {
        return Some("`hutch network ls` lists the networks".into());
    }
    if what.starts_with("no such image") {
        return Some(
            "`hutch images` lists the local images; `hutch pull NAME` or \
             `hutch load -i FILE` adds one"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(msg: &str) -> String {
        render(&anyhow::anyhow!(msg.to_string()), false)
    }

    #[test]
    fn fixes_get_their_own_hint_line() {
        assert_eq!(
            shown("no such image: foo (see `hutch images`, or `hutch load` it first)"),
            "Error: no such image: foo\nhint: see `hutch images`, or `hutch load` it first"
        );
        assert_eq!(
            shown("--network pasta was asked for but pasta is not installed: install the `passt` package (sudo apt-get install passt), or use --network none"),
            "Error: --network pasta was asked for but pasta is not installed\n\
             hint: install the `passt` package (sudo apt-get install passt), or use --network none"
        );
        assert_eq!(
            shown("user 1000 is not mapped (single-id mode maps only one id; give the user a range in /etc/subuid and /etc/subgid)"),
            "Error: user 1000 is not mapped (single-id mode maps only one id)\n\
             hint: give the user a range in /etc/subuid and /etc/subgid"
        );
        assert_eq!(
            shown("newuidmap not found: install the 'uidmap' package or use --userns=single"),
            "Error: newuidmap not found\nhint: install the 'uidmap' package or use --userns=single"
        );
        let sub = shown("--userns=subids cannot be used: no range for this user in /etc/subuid");
        assert!(
            sub.contains("\nhint: ask an administrator") && sub.contains("usermod"),
            "{sub}"
        );
        let ns = shown(
            "unshare(CLONE_NEWUSER) => EPERM: user namespaces are unavailable (see `hutch info`)",
        );
        assert!(
            ns.starts_with(
                "Error: unshare(CLONE_NEWUSER) => EPERM: user namespaces are unavailable\nhint: "
            ),
            "{ns}"
        );
        let missing = shown("no such image: x, and pulling it failed: connection refused");
        assert!(
            missing.ends_with("`hutch load -i FILE` adds one"),
            "{missing}"
        );
        assert_eq!(
            shown("--storage-driver fuse cannot be used: FUSE cannot be mounted in a user namespace: no /dev/fuse (run `hutch info`)"),
            "Error: --storage-driver fuse cannot be used: FUSE cannot be mounted in a user namespace: no /dev/fuse\n\
             hint: make /dev/fuse readable and writable by you (`sudo modprobe fuse; \
             sudo chmod 0666 /dev/fuse`), or inside another container pass it \
             `--device /dev/fuse`; or use --storage-driver overlay or copy; \
             `hutch info` says more"
        );
        assert_eq!(
            shown("no hutch.toml in /p or any parent directory: run `hutch init` to create one"),
            "Error: no hutch.toml in /p or any parent directory\n\
             hint: run `hutch init` to create one"
        );
        assert_eq!(
            shown("no version 9 of this environment: `hutch env log` lists them"),
            "Error: no version 9 of this environment\nhint: `hutch env log` lists them"
        );
        assert_eq!(
            shown("network x not found"),
            "Error: network x not found\nhint: `hutch network ls` lists the networks"
        );
        assert_eq!(
            shown("exec: \"x\": executable file not found in $PATH"),
            "Error: exec: \"x\": executable file not found in $PATH"
        );
        // Nothing to do: no hint line; a parenthesis that is no fix stays.
        assert_eq!(
            shown("disk full (while writing x)"),
            "Error: disk full (while writing x)"
        );
    }

    use clap::Parser;

    fn usage(args: &[&str]) -> String {
        let e = crate::cli::Cli::try_parse_from(args).unwrap_err();
        render_usage(&e, false)
    }

    #[test]
    fn usage_errors_share_the_shape() {
        assert_eq!(
            usage(&["hutch", "run", "--storage-driver", "zfs", "x"]),
            "Error: invalid value 'zfs' for '--storage-driver <DRIVER>'\n  \
             [possible values: overlay, fuse, copy]\n\
             hint: a similar value exists: 'fuse'\n\n\
             For more information, try '--help'."
        );
        assert_eq!(
            usage(&["hutch", "tag", "x"]),
            "Error: the following required arguments were not provided:\n  <TARGET>...\n\n\
             Usage: hutch tag <SOURCE> <TARGET>...\n\n\
             For more information, try '--help'."
        );
        assert_eq!(
            usage(&["hutch", "run", "--userns", "x", "i"]),
            "Error: invalid value 'x' for '--userns <MODE>': unknown --userns mode 'x'\n\
             hint: use auto, subids, single or keep-id\n\n\
             For more information, try '--help'."
        );
        let bogus = usage(&["hutch", "--bogus"]);
        assert!(
            bogus.starts_with("Error: unexpected argument '--bogus'"),
            "{bogus}"
        );
        let e = crate::cli::Cli::try_parse_from(["hutch", "imags"]).unwrap_err();
        let painted = render_usage(&e, true);
        assert!(
            painted.starts_with(
                "\x1b[1;31mError:\x1b[0m unrecognized subcommand 'imags'\n\x1b[1;36mhint:\x1b[0m "
            ),
            "{painted:?}"
        );
    }
}
