//! README.md's 60-second tour, run as written: the shell block after
//! `<!-- tour -->` runs line by line in one shell as each unprivileged test
//! user, and every line ending in `# → TEXT` must print TEXT. A local
//! `docker-registry` stands in for Docker Hub (a mirror in registries.toml)
//! and for the tour's `localhost:5000`; the busybox image it serves is the
//! shared test image.

use crate::common::*;
use crate::registry::Registry;
use std::path::Path;

/// One command of the tour and the text it must print, if any.
struct Line {
    command: String,
    expect: Option<String>,
}

fn tour() -> Vec<Line> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let after = readme
        .split_once("<!-- tour -->")
        .expect("README.md has a tour")
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, b)| b.split_once("\n```"))
        .expect("the tour is a ```sh block")
        .0;
    block
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|l| {
            let (command, comment) = match l.split_once("  # ") {
                Some((c, r)) => (c.trim_end(), Some(r)),
                None => (l, None),
            };
            Line {
                command: command.to_string(),
                expect: comment
                    .and_then(|c| c.strip_prefix("→ "))
                    .map(str::to_string),
            }
        })
        .collect()
}

#[test]
fn readme_tour_runs_as_written() {
    let lines = tour();
    assert!(lines.len() >= 8, "the tour is too short to be one");
    for (command, what) in [
        ("hutch shell", "enters a project"),
        ("hutch env snapshot", "snapshots the environment"),
        ("hutch env rollback", "rolls it back"),
        ("hutch push", "pushes"),
    ] {
        assert!(
            lines.iter().any(|l| l.command.starts_with(command)),
            "the tour {what}"
        );
    }
    for_each_user(|w| {
        let reg = Registry::start();
        // The registry serves busybox as docker.io's would.
        w.busybox();
        let mirrored = format!("{}/library/busybox:1.38.0-musl", reg.host());
        w.ok(&["push", "-q", "busybox:1.38.0-musl", &mirrored]);
        w.ok(&["rmi", "busybox:1.38.0-musl"]);
        w.write(
            "cfg/hutch/registries.toml",
            format!(
                "[[registry]]\nprefix = \"docker.io\"\nlocation = \"docker.io\"\n\
                 [[registry.mirror]]\nlocation = \"{}\"\n",
                reg.host()
            ),
        );
        let bin_dir = hutch_bin().parent().unwrap().display().to_string();
        let mut script = String::from("set -u\n");
        for (n, l) in lines.iter().enumerate() {
            let command = l.command.replace("localhost:5000", &reg.host());
            script += &format!(
                "printf '\\n@@@ {n}\\n'\n{{ {command}\n}} 2>&1 || {{ echo \"@@@ failed: $?\"; exit 1; }}\n"
            );
        }
        let out = w
            .as_user("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{bin_dir}:/usr/local/bin:/usr/bin:/bin"))
            .env("HUTCH_ROOT", w.root())
            .env("XDG_CONFIG_HOME", w.path("cfg"))
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(
            out.status.success(),
            "the tour failed:\n{text}{}",
            stderr(&out)
        );
        let sections: Vec<&str> = text.split("\n@@@ ").skip(1).collect();
        assert_eq!(sections.len(), lines.len(), "{text}");
        for (l, section) in lines.iter().zip(sections) {
            let printed = section.split_once('\n').map_or("", |(_, p)| p);
            if let Some(e) = &l.expect {
                let e = e.replace("localhost:5000", &reg.host());
                assert!(
                    printed.contains(e.as_str()),
                    "`{}` should print {e:?}; it printed:\n{printed}",
                    l.command
                );
            }
        }
        // Leave no environment container running behind the test.
        let demo = w.dir.path().join("demo");
        let rm = w
            .hutch()
            .current_dir(&demo)
            .args(["env", "rm"])
            .output()
            .unwrap();
        succeeded(&rm, "hutch env rm");
    });
}
