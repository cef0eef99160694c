//! The starter `hutch.toml` that `hutch init` writes: every setting, each
//! explained, the optional ones commented out. It must parse as it is
//! (a test checks), so that `hutch init && hutch shell` works.

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
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn starter_parses() {
        let c = super::super::config::parse(super::STARTER, std::path::Path::new("hutch.toml"))
            .unwrap();
        assert!(c.build.is_some() && c.image.is_none());
    }
}
