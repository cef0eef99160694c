//! `--format` on the listings: one Go-template engine (fields, `table` with
//! headers, `\t`, range, index, json, join, lower/upper, printf, if/else,
//! pipelines), JSON everywhere, and an unknown field is an error naming the
//! valid ones.

use crate::common::*;

#[test]
fn listings_take_templates_tables_and_json() {
    let Some(u) = any_user() else {
        return skip("no test user");
    };
    let w = World::new(u);
    let bb = w.busybox();
    let id = busybox_facts().short_id();

    // images: table with headers and aligned columns, functions, pipelines.
    let t = w.ok(&[
        "images",
        "--format",
        "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}",
    ]);
    assert_eq!(
        t,
        format!("REPOSITORY                  TAG           IMAGE ID\ndocker.io/library/busybox   1.38.0-musl   {id}\n")
    );
    assert_eq!(
        w.ok(&[
            "images",
            "--format",
            "{{.Tag | upper}} {{lower \"AB\"}} {{printf \"%-6s|\" .Tag}}"
        ]),
        "1.38.0-MUSL ab 1.38.0-musl|\n"
    );
    assert_eq!(
        w.ok(&[
            "images",
            "--format",
            "{{if eq .Tag \"1.38.0-musl\"}}yes{{else}}no{{end}}"
        ]),
        "yes\n"
    );

    // inspect: index, range, join, json.
    let out = w.ok(&[
        "inspect",
        "--format",
        "{{index .RepoTags 0}}|{{range .Config.Cmd}}<{{.}}>{{end}}|{{join .Config.Cmd \",\"}}|{{json .Config.Cmd}}",
        bb,
    ]);
    assert_eq!(
        out,
        "docker.io/library/busybox:1.38.0-musl|<sh>|sh|[\"sh\"]\n"
    );

    // An unknown field: exit 125, the valid fields named, nothing printed.
    let out = w.run(&["images", "--format", "{{.Nope}}"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("no field 'Nope'") && err.contains("Repository, Size, Tag"),
        "{err}"
    );
    let (code, err) = w.fails(&["images", "--format", "{{range .RepoTags}}"]);
    assert_eq!(code, 125);
    assert!(err.contains("without {{end}}"), "{err}");

    // history and system df: json and templates.
    let h: serde_json::Value =
        serde_json::from_str(&w.ok(&["history", "--format", "json", bb])).unwrap();
    assert_eq!(h[0]["id"], busybox_facts().id, "JSON has full ids");
    assert_eq!(
        w.ok(&["history", "--format", "{{.ID}} {{.CreatedBy}}", bb]),
        format!("{id} {}\n", busybox_facts().created_by)
    );
    let df = w.ok(&["system", "df", "--format", "table {{.Type}}\\t{{.Total}}"]);
    assert!(
        df.starts_with("TYPE            TOTAL\nImages          1\n"),
        "{df}"
    );
    let df: serde_json::Value =
        serde_json::from_str(&w.ok(&["system", "df", "--format", "json"])).unwrap();
    assert_eq!(df[0]["Type"], "Images");

    // ps: a header even with no containers; then rows, as Docker names them.
    assert_eq!(
        w.ok(&["ps", "-a", "--format", "table {{.Names}}\\t{{.Status}}"]),
        "NAMES     STATUS\n"
    );
    assert_eq!(w.ok(&["ps", "-a", "--format", "{{.Names}}"]), "");
    // Checked before any row: an empty listing refuses a bad field too.
    let (code, err) = w.fails(&["ps", "-a", "--format", "{{.Name}}"]);
    assert_eq!(code, 125);
    assert!(
        err.contains("no field 'Name'") && err.contains("Image, Labels, Mounts, Names"),
        "{err}"
    );
    w.ok(&["run", "--name", "fmt1", "--network", "none", bb, "true"]);
    assert_eq!(
        w.ok(&[
            "ps",
            "-a",
            "--format",
            "{{.Names}} {{.State}} {{.Image}} {{.Command}}"
        ]),
        format!("fmt1 exited {bb} \"true\"\n")
    );
    let ps: serde_json::Value =
        serde_json::from_str(&w.ok(&["ps", "-a", "--format", "json"])).unwrap();
    assert_eq!(ps[0]["Names"][0], "fmt1");

    // env log: the environment's versions, newest first.
    w.busybox_project("proj");
    w.ok_in("proj", &["shell", "--", "true"]);
    w.ok_in("proj", &["env", "snapshot", "-m", "first"]);
    w.ok_in("proj", &["env", "snapshot", "-m", "second"]);
    let log = |format: &str| stdout(&w.ok_in("proj", &["env", "log", "--format", format]));
    assert_eq!(
        log("table {{.Version}}\\t{{.Message | upper}}"),
        "VERSION   MESSAGE\n2         SECOND\n1         FIRST\n"
    );
    let versions: serde_json::Value = serde_json::from_str(&log("json")).unwrap();
    assert_eq!(versions[1]["Message"], "first");
    assert!(
        versions[1]["Tag"].as_str().unwrap().ends_with(":v1"),
        "{versions}"
    );
    let bad = w
        .hutch()
        .current_dir(w.path("proj"))
        .args(["env", "log", "--format", "{{.Name}}"])
        .output()
        .unwrap();
    assert!(
        stderr(&bad).contains("no field 'Name'; the fields are: Created, Definition"),
        "{}",
        stderr(&bad)
    );
    w.ok_in("proj", &["env", "rm"]);
}
