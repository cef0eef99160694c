//! What `hutch init` writes: the starter `hutch.toml` (every setting, each
//! explained, the optional ones commented out), or one of the example
//! environments of `envs/` (compiled in). Each must parse as it is (a test
//! checks), so that `hutch init && hutch shell` works.

macro_rules! files {
    ($name:literal) => {
        [
            (
                "hutch.toml",
                include_str!(concat!("../../envs/", $name, "/hutch.toml")),
            ),
            (
                "Containerfile",
                include_str!(concat!("../../envs/", $name, "/Containerfile")),
            ),
        ]
    };
}

/// The starter file's text.
pub const STARTER: &str = r#"# hutch.toml: this project's environment. `hutch shell` enters it (building
# what is needed); `hutch shell -- CMD` runs one command in it.

# The environment is built from ./Containerfile (or ./Dockerfile). To use an
# image as it is instead, set it here and remove [build]:
# image = "docker.io/library/debian:12"

[build]
# containerfile = "Containerfile"   # relative to this file
# context = "."                     # what COPY and ADD read
# target = "dev"                    # a stage of a multi-stage definition
# args = { BASE = "docker.io/library/alpine:3.20" }

[run]
# home = "private"    # private: a home of the environment's own (kept until `hutch env rm`)
#                     # host: your real home; overlay: your real home read-only,
#                     # with the environment's own writable layer on top
# shell = "/bin/sh"   # what `hutch shell` starts
# network = "host"    # host (default), pasta, slirp4netns or none
# ports = ["8080:80"] # published ports, with pasta or slirp4netns
# env = { EDITOR = "vi" }
# mounts = ["/srv/data:/data:ro"]   # more host directories, HOST:CONTAINER[:ro]
# passthrough = ["ssh-agent", "display", "gpu", "git", "locale", "terminal"]
#                     # host facilities to share, each by name: the ssh-agent socket,
#                     # the Wayland/X11 display, GPU devices, your git config,
#                     # LANG/LC_*, TERM/COLORTERM
"#;

/// The example environments: name, then (file name, contents) pairs.
pub const TEMPLATES: [(&str, [(&str, &str); 2]); 5] = [
    ("alpine-shell", files!("alpine-shell")),
    ("debian-c", files!("debian-c")),
    ("rust", files!("rust")),
    ("python", files!("python")),
    ("node", files!("node")),
];

/// The files of the template called `name`.
pub fn template(name: &str) -> Option<&'static [(&'static str, &'static str); 2]> {
    TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, f)| f)
}

/// Every template's name.
pub fn names() -> Vec<&'static str> {
    TEMPLATES.iter().map(|(n, _)| *n).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn starter_and_templates_parse() {
        let c = super::super::config::parse(super::STARTER, Path::new("hutch.toml")).unwrap();
        assert!(c.build.is_some() && c.image.is_none());
        for (name, files) in super::TEMPLATES {
            super::super::config::parse(files[0].1, Path::new(name)).unwrap();
            assert!(files[1].1.contains("ARG BASE="), "{name}");
        }
    }
}
