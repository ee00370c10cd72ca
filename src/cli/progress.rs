//! Progress bars for `import` and `export` on stderr, drawn only when
//! stderr is a terminal (never into a file or a pipe), at most ten times a
//! second: `[#########-----------]  45%  12.3/27.1 MB  120000 deltas  8500/s`.

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counts the bytes read through it (for the bar of a file being read).
pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R> CountingReader<R> {
    /// Wraps `inner`; `count` grows by every byte read.
    pub fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        CountingReader { inner, count }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// What a bar measures its progress in.
#[derive(Clone, Copy, Debug)]
pub enum Unit {
    /// Bytes of input (import of a file).
    Bytes,
    /// Deltas (export, whose end is the node's last sequence number).
    Deltas,
}

/// A progress bar on stderr; does nothing when stderr is not a terminal.
pub struct Progress {
    on: bool,
    unit: Unit,
    total: Option<u64>,
    started: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl Progress {
    /// A bar towards `total` (unknown: a counter without a bar).
    pub fn new(unit: Unit, total: Option<u64>) -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
            unit,
            total: total.filter(|t| *t > 0),
            started: Instant::now(),
            last_draw: None,
            drawn: false,
        }
    }

    /// Redraws (throttled) with `done` units of the total and `deltas` so far.
    pub fn update(&mut self, done: u64, deltas: u64) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last_draw = Some(now);
        let line = render(self.unit, self.total, done, deltas, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}\x1b[K");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Ends the bar's line (if one was drawn).
    pub fn finish(&mut self) {
        if self.drawn {
            eprintln!();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// One line of a bar.
///
/// ```
/// use rhizome::cli::progress::{Unit, render};
/// use std::time::Duration;
/// let line = render(Unit::Bytes, Some(2_000_000), 1_000_000, 500, Duration::from_secs(1));
/// assert_eq!(line, "[##########----------]  50%  1.0/2.0 MB  500 deltas  500/s");
/// let line = render(Unit::Deltas, None, 42, 42, Duration::from_secs(2));
/// assert_eq!(line, "42 deltas  21/s");
/// ```
pub fn render(unit: Unit, total: Option<u64>, done: u64, deltas: u64, elapsed: Duration) -> String {
    const WIDTH: u64 = 20;
    let rate = deltas as f64 / elapsed.as_secs_f64().max(1e-3);
    let tail = format!("{deltas} deltas  {rate:.0}/s");
    let Some(total) = total else { return tail };
    let done = done.min(total);
    let filled = done * WIDTH / total;
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '-' })
        .collect();
    let amount = match unit {
        Unit::Bytes => format!("{:.1}/{:.1} MB", done as f64 / 1e6, total as f64 / 1e6),
        Unit::Deltas => format!("{done}/{total} seq"),
    };
    format!("[{bar}] {:>3}%  {amount}  {tail}", done * 100 / total)
}
