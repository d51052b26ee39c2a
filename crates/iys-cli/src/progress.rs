//! The progress bar: drawn on standard error only when it is a terminal, never in a pipe or a file.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar over the bytes of the input, or nothing when standard error is not a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    read: Arc<AtomicU64>,
    started: Instant,
}

impl Progress {
    /// A bar over `len` bytes (a spinner when the length is unknown), fed by the `read` counter.
    pub fn new(len: Option<u64>, read: Arc<AtomicU64>) -> Self {
        let started = Instant::now();
        if !std::io::stderr().is_terminal() {
            return Progress { bar: None, read, started };
        }
        let bar = match len {
            Some(len) => {
                let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(10));
                if let Ok(style) = ProgressStyle::with_template(
                    "{spinner:.green} {elapsed_precise} [{wide_bar:.cyan/blue}] {percent:>3}% eta {eta} · {msg}",
                ) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar
            }
            None => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
                if let Ok(style) =
                    ProgressStyle::with_template("{spinner:.green} {elapsed_precise} {bytes} read · {msg}")
                {
                    bar.set_style(style);
                }
                bar
            }
        };
        Progress { bar: Some(bar), read, started }
    }

    /// Whether a bar is drawn.
    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }

    /// Moves the bar to the bytes read so far and shows the counts.
    pub fn update(&self, records: u64, invalid: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(self.read.load(Ordering::Relaxed));
            bar.set_message(format!("{} records, {} invalid", group(records), group(invalid)));
        }
    }

    /// Runs `f` with the bar hidden (for writing to a terminal that also shows the bar).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// Replaces the bar with one closing line that says how many records and how fast.
    pub fn finish(&self, records: u64) {
        if let Some(bar) = &self.bar {
            // The bar leaves the cursor at the end of its line: clear it, or the closing line
            // would be glued onto the last frame.
            bar.finish_and_clear();
            let secs = self.started.elapsed().as_secs_f64();
            let rate = if secs > 0.0 { records as f64 / secs } else { 0.0 };
            eprintln!("{} records in {secs:.2} s ({} records/s)", group(records), group(rate as u64));
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1000), "1,000");
        assert_eq!(super::group(1234567), "1,234,567");
    }
}
