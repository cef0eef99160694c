//! `hutch history IMAGE`: the image's history entries, newest first, as
//! `docker history` prints them: the image id on the top row and `<missing>`
//! below (those steps are not images of their own), when each was made, by
//! what, the size of the layer it made (0B for config-only steps), and its
//! comment (a commit's message).

use super::template::{print_rows, Listing};
use super::units::human_size;
use super::Ctx;
use crate::container::state::human_duration;
use crate::store::{Image, Store};
use serde_json::json;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The image, by name or id.
    #[arg(value_name = "IMAGE")]
    pub image: String,

    /// Show full ids and commands.
    #[arg(long)]
    pub no_trunc: bool,

    /// Print only the IMAGE column.
    #[arg(short, long)]
    pub quiet: bool,

    /// `json` for a JSON array (newest first), or a Go template (`table`
    /// for a header row): .ID .CreatedAt .CreatedSince .CreatedBy .Size
    /// .Comment .Author.
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// One row: a history entry and the layer it made, if any.
struct Row {
    created: Option<String>,
    created_by: String,
    size: u64,
    comment: String,
    author: String,
    empty: bool,
}

fn rows(im: &Image) -> Vec<Row> {
    let mut layers = im.manifest.layers().iter();
    let mut out: Vec<Row> = Vec::new();
    for h in im.config.history() {
        let empty = h.empty_layer().unwrap_or(false);
        let size = if empty {
            0
        } else {
            layers.next().map(|l| l.size()).unwrap_or(0)
        };
        out.push(Row {
            created: h.created().clone(),
            created_by: h.created_by().clone().unwrap_or_default(),
            size,
            comment: h.comment().clone().unwrap_or_default(),
            author: h.author().clone().unwrap_or_default(),
            empty,
        });
    }
    // Layers the history does not account for (images built without one).
    for l in layers {
        out.push(Row {
            created: None,
            created_by: String::new(),
            size: l.size(),
            comment: String::new(),
            author: String::new(),
            empty: false,
        });
    }
    out.reverse();
    out
}

/// Docker's ellipsis: at most `n` characters, the last one `…` when cut.
fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

pub fn exec(ctx: &Ctx, args: Args) -> anyhow::Result<u8> {
    let store = Store::open(&ctx.dirs)?;
    let im = store.image(&args.image)?;
    let rows = rows(&im);
    let id = if args.no_trunc {
        im.id.clone()
    } else {
        im.short_id().to_string()
    };
    let ids: Vec<String> = (0..rows.len())
        .map(|i| {
            if i == 0 {
                id.clone()
            } else {
                "<missing>".into()
            }
        })
        .collect();
    let format = Listing::parse(args.format.as_deref()).map_err(anyhow::Error::msg)?;
    let now = chrono::Utc::now();
    let since = |r: &Row| {
        r.created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| format!("{} ago", human_duration((now - t.to_utc()).num_seconds())))
            .unwrap_or_else(|| "N/A".into())
    };
    if let Listing::Template(t) = &format {
        let v: Vec<_> = rows
            .iter()
            .zip(&ids)
            .map(|(r, id)| {
                json!({
                    "ID": id, "CreatedAt": r.created.clone().unwrap_or_default(),
                    "CreatedSince": since(r), "CreatedBy": r.created_by,
                    "Size": human_size(r.size), "Comment": r.comment, "Author": r.author,
                })
            })
            .collect();
        let fields = [
            "ID",
            "CreatedAt",
            "CreatedSince",
            "CreatedBy",
            "Size",
            "Comment",
            "Author",
        ];
        let titles = [("ID", "IMAGE"), ("CreatedSince", "CREATED")];
        print_rows(&ctx.printer, t, &fields, &titles, &v)?;
        return Ok(0);
    }
    if matches!(format, Listing::Json) {
        // Full ids, whatever --no-trunc says: JSON is for programs.
        let full: Vec<&str> = ids
            .iter()
            .map(|i| {
                if i.starts_with('<') {
                    i.as_str()
                } else {
                    im.id.as_str()
                }
            })
            .collect();
        let v: Vec<_> = rows
            .iter()
            .zip(&full)
            .map(|(r, id)| {
                json!({
                    "id": id, "created": r.created, "createdBy": r.created_by,
                    "size": r.size, "comment": r.comment, "author": r.author,
                    "emptyLayer": r.empty,
                    "tags": if id.starts_with('<') { vec![] } else { im.names.clone() },
                })
            })
            .collect();
        ctx.printer.out(&serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    if args.quiet {
        ids.iter().for_each(|i| ctx.printer.out(i));
        return Ok(0);
    }
    let mut table: Vec<[String; 5]> =
        vec![["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"].map(String::from)];
    for (r, id) in rows.iter().zip(&ids) {
        let created = since(r);
        // A multi-line command (a script) stays on its row.
        let one_line = r
            .created_by
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let by = if args.no_trunc {
            one_line
        } else {
            truncate(&one_line, 45)
        };
        let size = if r.size == 0 {
            "0B".to_string()
        } else {
            human_size(r.size).replace(' ', "")
        };
        table.push([id.clone(), created, by, size, r.comment.clone()]);
    }
    ctx.printer.table(None, &table, 3);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_commands_get_an_ellipsis() {
        assert_eq!(truncate("short", 45), "short");
        let long = "x".repeat(50);
        let t = truncate(&long, 45);
        assert_eq!(t.chars().count(), 45);
        assert!(t.ends_with('…'));
    }
}
