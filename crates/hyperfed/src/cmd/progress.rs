//! Progress a person can follow during long CLI work (`demo` starting clusters, `bench` per
//! scenario, `worker --count` while clusters start and join): a bar on stderr when it is a
//! terminal (indicatif), plain lines on stderr otherwise (logs, CI, pipes), never on stdout.

use std::io::IsTerminal as _;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// Plain lines printed at most for every this many hundredths of the total (and the last).
const PLAIN_STEP_PERCENT: u64 = 10;

/// One counted piece of work: `done` of `total` steps.
pub struct Progress {
    /// The command, e.g. `hyperfed demo`.
    command: &'static str,
    /// What is counted, e.g. `clusters started`.
    what: &'static str,
    total: u64,
    /// Steps done so far, and the last count a plain line was printed for.
    state: Mutex<(u64, Option<u64>)>,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Counts `total` steps of `what`: a bar when stderr is a terminal, else plain lines.
    pub fn new(command: &'static str, what: &'static str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            let style = ProgressStyle::with_template(&format!(
                "{command}: {{bar:30}} {{pos}}/{{len}} {what} {{msg}} ({{elapsed}})"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Progress {
            command,
            what,
            total,
            state: Mutex::new((0, None)),
            bar,
        }
    }

    /// One more step done; `detail` names it (e.g. the cluster's alias).
    pub fn advance(&self, detail: &str) {
        let done = self.state.lock().map_or(0, |s| s.0) + 1;
        self.set(done, detail);
    }

    /// `done` steps are done now (for counts that are polled, such as joined clusters).
    pub fn set(&self, done: u64, detail: &str) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let done = done.min(self.total);
        state.0 = done;
        if let Some(bar) = &self.bar {
            bar.set_message(detail.to_owned());
            bar.set_position(done);
            return;
        }
        if state.1 == Some(done) || !plain_line_due(done, self.total, state.1) {
            return;
        }
        state.1 = Some(done);
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(" ({detail})")
        };
        eprintln!(
            "{}: {done}/{} {}{detail}",
            self.command, self.total, self.what
        );
    }

    /// Step `index` (1-based) of the total starts now: `detail` says what it is. For work
    /// whose steps are announced as they begin (bench scenarios).
    pub fn begin(&self, index: u64, detail: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(detail.to_owned());
            bar.set_position(index.saturating_sub(1));
            return;
        }
        eprintln!(
            "{}: {} {index}/{}: {detail}",
            self.command, self.what, self.total
        );
    }

    /// Ends the bar (plain lines need no ending).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// True when a plain line is due for `done` of `total`, the last one having been for `last`:
/// the first and the last step, and every [`PLAIN_STEP_PERCENT`] of the total in between.
fn plain_line_due(done: u64, total: u64, last: Option<u64>) -> bool {
    if done == total || last.is_none() {
        return true;
    }
    let step = (total * PLAIN_STEP_PERCENT / 100).max(1);
    last.is_some_and(|l| done / step > l / step)
}

#[cfg(test)]
mod tests {
    use super::plain_line_due;

    #[test]
    fn plain_lines_come_at_the_start_the_end_and_every_tenth() {
        let lines: Vec<u64> = {
            let mut last = None;
            (1..=100)
                .filter(|&d| {
                    let due = plain_line_due(d, 100, last);
                    if due {
                        last = Some(d);
                    }
                    due
                })
                .collect()
        };
        assert_eq!(lines, [1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert!(
            plain_line_due(2, 3, Some(1)),
            "small totals print every step"
        );
    }
}
