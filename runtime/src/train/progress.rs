//! Epochs done → a progress bar on a terminal, or a plain line now and then in a log.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How [`train`](crate::train::train) reports progress on stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// An indicatif bar: epoch, loss, epochs per second and time left.
    Bar,
    /// One line per twentieth of the run (and the first and last epochs), for logs and CI.
    Lines,
    /// Nothing.
    Hidden,
}

/// The live display of one run.
pub(crate) struct Progress {
    display: Display,
    total: usize,
    first: usize,
    started: Instant,
}

enum Display {
    Bar(ProgressBar),
    Lines { every: usize },
    Hidden,
}

const BAR_TEMPLATE: &str = "epoch {pos}/{len} [{bar:30.cyan/blue}] loss {msg} · {per_sec} · ETA {eta}";

impl Progress {
    /// Starts showing a run that has done `done` of `total` epochs.
    pub(crate) fn start(mode: ProgressMode, done: usize, total: usize) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        };
        let display = match mode {
            ProgressMode::Bar => {
                let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
                if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_position(done as u64);
                bar.reset_eta();
                bar.set_message("-");
                Display::Bar(bar)
            }
            ProgressMode::Lines => {
                if done > 0 {
                    eprintln!("resuming after epoch {done} of {total}");
                }
                Display::Lines { every: (total / 20).max(1) }
            }
            ProgressMode::Auto | ProgressMode::Hidden => Display::Hidden,
        };
        Progress { display, total, first: done, started: Instant::now() }
    }

    /// Shows that `epoch` (counting from 1) finished with `loss`.
    pub(crate) fn epoch(&self, epoch: usize, loss: f64) {
        match &self.display {
            Display::Bar(bar) => {
                bar.set_message(format!("{loss:.4e}"));
                bar.set_position(epoch as u64);
            }
            Display::Lines { every } => {
                if epoch == self.first + 1 || epoch.is_multiple_of(*every) || epoch == self.total {
                    let elapsed = self.started.elapsed().as_secs_f64();
                    let done = (epoch - self.first) as f64;
                    let rate = if elapsed > 0.0 { done / elapsed } else { f64::INFINITY };
                    let left = (self.total - epoch) as f64 / rate;
                    let eta =
                        Duration::try_from_secs_f64(left).map_or("-".into(), |left| HumanDuration(left).to_string());
                    eprintln!("epoch {epoch}/{}  loss {loss:.6e}  {rate:.2} it/s  ETA {eta}", self.total);
                }
            }
            Display::Hidden => {}
        }
    }

    /// Leaves the bar at its final state.
    pub(crate) fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish();
        }
    }

    /// Stops the bar where it is, after an error.
    pub(crate) fn abandon(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_template_parses_and_hidden_progress_draws_nothing() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
        let progress = Progress::start(ProgressMode::Hidden, 3, 10);
        assert!(matches!(progress.display, Display::Hidden));
        let lines = Progress::start(ProgressMode::Lines, 0, 100);
        assert!(matches!(lines.display, Display::Lines { every: 5 }));
    }
}
