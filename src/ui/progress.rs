//! Progress on stderr: for pull and push one bar per blob with bytes and
//! speed when stderr is a terminal, otherwise one plain line per finished
//! blob (logs and CI stay readable); [`Meter`] counts the blobs of a load
//! or save; [`Live`] shows hutch's own work in a build, a commit or an
//! environment snapshot (the build context read, a layer exported or
//! written). Nothing in quiet mode.
//!
//! This is the only place that draws; library code reports through
//! `report::Progress` and `report::Report`.

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

/// One job counted in steps (the blobs of a load or save):
/// a bar with the current step's line on a terminal, otherwise each line
/// as it comes. It never ticks on its own: no thread, so the job may fork.
pub struct Meter {
    printer: Printer,
    bar: Option<ProgressBar>,
}

impl Meter {
    /// `total` steps called `what` (`blobs`, `steps`).
    pub fn new(printer: Printer, prefix: &str, total: u64, what: &str) -> Meter {
        let draw = printer.shows(LogLevel::Info) && std::io::stderr().is_terminal();
        let bar = draw.then(|| {
            let style = ProgressStyle::with_template(&format!(
                "{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {what} {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_style(style)
                .with_prefix(prefix.to_string());
            b.tick();
            b
        });
        Meter { printer, bar }
    }

    /// A step is under way: the bar says so (plain output waits for `done`).
    pub fn doing(&self, what: &str) {
        if let Some(b) = &self.bar {
            b.set_message(what.to_string());
        }
    }

    /// A step finished: one more on the bar, and its line for people.
    pub fn done(&self, line: &str) {
        match &self.bar {
            Some(b) => {
                b.println(line);
                b.inc(1);
            }
            None => self.printer.info(line),
        }
    }

    /// The job is over: the bar goes, `line` stays.
    pub fn finish(&self, line: &str) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        self.printer.info(line);
    }
}

/// The reporter of a command whose own work takes a while (build, commit,
/// environment snapshots): notices as the printer shows them, and
/// `Report::working` as one line with a bar (a spinner when the total is
/// unknown) on a terminal, gone at `worked`. Off a terminal it adds nothing
/// to the printer's plain lines. It never ticks on its own: no thread, so
/// the job may fork, and the line only moves when the work reports.
pub struct Live {
    printer: Printer,
    draw: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Live {
    pub fn new(printer: Printer) -> Live {
        Live {
            printer,
            draw: printer.shows(LogLevel::Info) && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `say` with the bar out of the way (it is drawn again after).
    fn around(&self, say: impl FnOnce()) {
        match &*self.bar() {
            Some(b) => b.suspend(say),
            None => say(),
        }
    }
}

fn live_style(total: Option<u64>) -> ProgressStyle {
    let template = match total {
        Some(_) => "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes}",
        None => "{spinner} {msg} {bytes}",
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl crate::report::Report for Live {
    fn info(&self, line: &str) {
        self.around(|| self.printer.info(line))
    }

    fn debug(&self, line: &str) {
        self.around(|| self.printer.debug(line))
    }

    fn warn(&self, line: &str) {
        self.around(|| self.printer.warn(line))
    }

    fn quiet(&self) -> bool {
        !self.printer.shows(LogLevel::Info)
    }

    fn debugging(&self) -> bool {
        self.printer.shows(LogLevel::Debug)
    }

    fn working(&self, what: &str, done: u64, total: Option<u64>) {
        if !self.draw {
            return;
        }
        let mut slot = self.bar();
        let b = slot.get_or_insert_with(|| {
            ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr())
                .with_style(live_style(total))
        });
        if b.length() != total {
            b.set_style(live_style(total));
            match total {
                Some(t) => b.set_length(t),
                None => b.unset_length(),
            }
        }
        if b.message() != what {
            b.set_message(what.to_string());
        }
        b.set_position(done);
        b.tick();
    }

    fn worked(&self) {
        if let Some(b) = self.bar().take() {
            b.finish_and_clear();
        }
    }
}
