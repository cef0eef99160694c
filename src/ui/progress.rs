//! Transfer progress for pull and push: one bar per blob with bytes and
//! speed when stderr is a terminal, otherwise one plain line per finished
//! blob (logs and CI stay readable). Nothing in quiet mode.
//!
//! This is the only place that draws; library code reports through
//! `report::Progress`.

use super::{LogLevel, Printer};
use crate::report::{Done, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use oci_spec::image::Digest;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Progress reporter for the CLI.
pub struct Bars {
    printer: Printer,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    pub fn new(printer: Printer) -> Bars {
        let draw = printer.shows(LogLevel::Info) && std::io::stderr().is_terminal();
        Bars {
            printer,
            multi: draw.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            bars: Mutex::new(HashMap::new()),
        }
    }

    fn bars(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProgressBar>> {
        self.bars.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn short(d: &Digest) -> String {
    d.digest().chars().take(12).collect()
}

impl Progress for Bars {
    fn start(&self, digest: &Digest, _what: &str, size: u64, from: u64) {
        let Some(m) = &self.multi else { return };
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        let b = m.add(ProgressBar::new(size).with_style(style));
        b.set_prefix(short(digest));
        b.set_position(from);
        b.reset_eta();
        self.bars().insert(digest.to_string(), b);
    }

    fn advance(&self, digest: &Digest, n: u64) {
        if let Some(b) = self.bars().get(&digest.to_string()) {
            b.inc(n);
        }
    }

    fn reset(&self, digest: &Digest) {
        if let Some(b) = self.bars().get(&digest.to_string()) {
            b.set_position(0);
        }
    }

    fn done(&self, digest: &Digest, _what: &str, how: &Done) {
        let line = match how {
            Done::Copied => format!("Copied blob {}", short(digest)),
            Done::Exists => format!("Blob {} already there, skipped", short(digest)),
            Done::Mounted(from) => format!("Mounted blob {} from {from}", short(digest)),
        };
        match (&self.multi, self.bars().remove(&digest.to_string())) {
            (Some(_), Some(b)) => b.finish_with_message(line),
            (Some(m), None) => {
                let _ = m.println(&line);
            }
            (None, _) => self.printer.info(&line),
        }
    }

    fn note(&self, line: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None => self.printer.info(line),
        }
    }
}
