//! The fuzz targets: one function per kind of hostile input hutch reads,
//! each taking arbitrary bytes. A target passes when it returns: errors
//! are fine, a panic, a hang or an unbounded allocation is a bug. The
//! stable runner (tests/fuzz/main.rs) drives these with a mutation loop
//! over fuzz/corpus/<target>/; the libFuzzer binaries of this directory's
//! crate (fuzz_targets/target.rs, see README.md) call the same function.

use std::path::Path;

/// Tokens every JSON target's mutations splice in.
const JSON: &[&str] = &[
    "{", "}", "[", "]", "\"", ":", ",", "null", "1e999", "-1", "\\u0000",
];

/// Every target, with the token lists its mutations splice in.
pub const TARGETS: &[(&str, &[&[&str]])] = &[
    (
        "dockerfile",
        &[&[
            "FROM ",
            "RUN ",
            "COPY ",
            "ADD ",
            "ARG ",
            "ENV ",
            "ONBUILD ",
            "HEALTHCHECK ",
            "SHELL ",
            "<<EOF\n",
            "\nEOF\n",
            "<<-",
            "\\\n",
            "`\n",
            "${",
            "}",
            ":-",
            ":+",
            "$",
            "--from=",
            "--mount=type=cache,target=",
            "# syntax=",
            "# escape=`\n",
            "[\"",
            "\"]",
            "\n",
            " AS ",
            "\r\n",
            "\u{feff}",
        ]],
    ),
    (
        "dockerignore",
        &[&[
            "**", "*", "?", "[", "]", "[^", "!", "\\", "/", "..", ".", "\n", "\0", "a/b",
        ]],
    ),
    (
        "unpack",
        &[&[
            "../",
            "/",
            "./",
            "outside/",
            "\0",
            "ustar\0",
            "ustar  \0",
            "path=",
            "linkpath=",
            "size=",
            "GNU.sparse.",
            "SCHILY.xattr.",
            ".wh.",
            ".wh..wh..opq",
            "99999999999",
        ]],
    ),
    (
        "reference",
        &[&[
            "docker.io/",
            "localhost:5000/",
            "library/",
            ":",
            "@sha256:",
            "/",
            "..",
            "-",
            "_",
            "__",
            ".",
            "[::1]:",
            "0123456789abcdef",
        ]],
    ),
    (
        "manifest",
        &[
            JSON,
            &[
                "\"mediaType\"",
                "\"manifests\"",
                "\"layers\"",
                "\"config\"",
                "\"digest\"",
                "\"size\"",
                "\"schemaVersion\"",
                "\"platform\"",
                "\"sha256:",
            ],
        ],
    ),
    (
        "config",
        &[
            JSON,
            &[
                "\"config\"",
                "\"Env\"",
                "\"Cmd\"",
                "\"User\"",
                "\"rootfs\"",
                "\"diff_ids\"",
                "\"history\"",
                "\"created\"",
                "\"ExposedPorts\"",
                "\"Healthcheck\"",
                "\\ud800",
            ],
        ],
    ),
    (
        "hutch_toml",
        &[&[
            "[",
            "]",
            "=",
            "\"",
            "'''",
            "\n",
            "image",
            "build",
            "home",
            "mounts",
            "env",
            "ports",
            "[[",
            "]]",
            "{",
            "}",
            "true",
            "1979-05-27T07:32:00Z",
            "inf",
            "#",
            "cap_add",
            "security_opt",
            "[run.limits]",
        ]],
    ),
    (
        "devcontainer",
        &[
            JSON,
            &[
                "//",
                "/*",
                "*/",
                "\"image\"",
                "\"build\"",
                "\"dockerfile\"",
                "\"context\"",
                "\"mounts\"",
                "\"runArgs\"",
                "\"remoteUser\"",
                "\"containerEnv\"",
                "\"forwardPorts\"",
                "${localEnv:",
                "${containerWorkspaceFolder}",
            ],
        ],
    ),
    (
        "rpm_header",
        &[&[
            "\0",
            "\0\0\0\0",
            "\0\0\0\x01",
            "\0\0\0\x04",
            "\0\0\0\x06",
            "\0\0\0\x08",
            "\0\0\x03\x68",
            "\x7f\x7f\x7f\x7f",
        ]],
    ),
    (
        "rpm_bdb",
        &[&[
            "\0",
            "\0\0\0\0",
            "\x61\x15\x06\0",
            "\0\x06\x15\x61",
            "\x01",
            "\x03",
            "\x07",
            "\x08",
            "\x0d",
            "\0\x02\0\0",
            "\x7f\x7f\x7f\x7f",
        ]],
    ),
    (
        "rpm_ndb",
        &[&[
            "RpmP",
            "Slot",
            "BlbS",
            "BlbE",
            "\0\0\0\0",
            "\x01\0\0\0",
            "\x02\x01\0\0",
            "\x7f\x7f\x7f\x7f",
        ]],
    ),
];

/// Run `target` on `data`. `scratch` is an empty directory the target may
/// write in (the unpacker's destination goes below it).
pub fn run(target: &str, data: &[u8], scratch: &Path) {
    let text = String::from_utf8_lossy(data);
    match target {
        "dockerfile" => {
            if let Ok(df) = hutch::dockerfile::parse(&text, "Dockerfile") {
                // Expansion of every word the parser kept, with no variables.
                for stage in &df.stages {
                    let _ = hutch::dockerfile::expand_word(
                        &stage.from.image,
                        df.directives.escape,
                        &hutch::dockerfile::NoVars,
                    );
                }
            }
        }
        "dockerignore" => {
            // Patterns, then after a NUL the paths to test against them.
            let (patterns, paths) = text.split_once('\0').unwrap_or((&text, "a/b/c"));
            if let Ok(m) = hutch::build::ignore::IgnoreMatcher::parse(patterns) {
                for p in paths.split('\0') {
                    let _ = m.excluded(p);
                }
            }
        }
        "unpack" => unpack(data, scratch),
        "reference" => {
            if let Ok(r) = hutch::oci::reference::Reference::parse(&text) {
                let _ = (r.repository(), r.tagged_name());
            }
            let _ = hutch::oci::reference::Reference::parse_tag(&text);
        }
        "manifest" => {
            let _ = hutch::oci::config::parse_manifest(data, "fuzz");
            let _ = hutch::registry::manifest::classify(None, data, "fuzz");
            let host = hutch::registry::manifest::Platform::host();
            let _ = hutch::registry::manifest::select(data, &host, "fuzz");
        }
        "config" => {
            let _ = hutch::oci::config::parse_config(data, "fuzz");
        }
        "hutch_toml" => {
            let _ = hutch::project::config::parse(&text, Path::new("/p/hutch.toml"));
        }
        "devcontainer" => {
            let _ = hutch::project::devcontainer::parse(
                &text,
                Path::new("/p/.devcontainer/devcontainer.json"),
                Path::new("/p"),
            );
        }
        "rpm_header" => {
            if let Some(h) = hutch::project::rpmdb::header(data) {
                let _ = h.evr();
            }
        }
        "rpm_bdb" => rpm_db(hutch::project::rpmdb::Format::Bdb, data),
        "rpm_ndb" => rpm_db(hutch::project::rpmdb::Format::Ndb, data),
        other => panic!("no fuzz target {other}"),
    }
}

/// Read `data` as an rpm database of `format`, then every header found.
fn rpm_db(format: hutch::project::rpmdb::Format, data: &[u8]) {
    if let Ok(headers) = hutch::project::rpmdb::read(format, data) {
        for h in headers {
            let _ = h.evr();
        }
    }
}

/// Unpack `data` as a layer into `scratch/dest`, beside `scratch/outside`;
/// whatever the archive says, nothing may appear outside `dest`.
fn unpack(data: &[u8], scratch: &Path) {
    let dest = scratch.join("dest");
    let outside = scratch.join("outside");
    std::fs::create_dir(&dest).unwrap();
    std::fs::create_dir(&outside).unwrap();
    let opts = hutch::layer::unpack::UnpackOptions {
        owners: hutch::layer::unpack::Owners::Caller,
    };
    let _ = hutch::layer::unpack::unpack(data, &dest, &opts);
    let beside: Vec<_> = std::fs::read_dir(scratch)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        beside.len(),
        2,
        "the unpacker wrote beside its destination: {beside:?}"
    );
    assert!(
        std::fs::read_dir(&outside).unwrap().next().is_none(),
        "the unpacker wrote outside its destination"
    );
}
