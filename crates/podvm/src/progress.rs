//! Progress reporting while layers stream past.
//!
//! The library never prints; a caller that wants a progress bar passes a
//! [`Progress`] implementation. With the `progress-bar` feature,
//! [`TerminalProgress`] draws one on stderr, and only when stderr is a terminal.

use crate::digest::BlobDigest;

/// Receives progress events; every method has an empty default.
///
/// Methods are called from a blocking worker thread, one layer at a time.
pub trait Progress: Send + Sync {
    /// Layer `index` of `count` starts; `size` is its compressed size.
    fn layer_started(&self, index: usize, count: usize, digest: &BlobDigest, size: u64) {
        let _ = (index, count, digest, size);
    }

    /// `bytes` more compressed bytes of the current layer were read.
    fn advanced(&self, bytes: u64) {
        let _ = bytes;
    }

    /// Layer `index` was read to its end (whether or not it verified).
    fn layer_finished(&self, index: usize) {
        let _ = index;
    }
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

#[cfg(feature = "progress-bar")]
pub use bar::TerminalProgress;

#[cfg(feature = "progress-bar")]
mod bar {
    use std::io::IsTerminal;
    use std::sync::Mutex;

    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

    use super::Progress;
    use crate::digest::BlobDigest;

    /// Layers smaller than this get no bar: they finish before one would help.
    const MIN_BAR_SIZE: u64 = 8 << 20;

    /// A progress bar with bytes and rate on stderr, for big layers.
    #[derive(Debug)]
    pub struct TerminalProgress {
        bar: Mutex<Option<ProgressBar>>,
    }

    impl TerminalProgress {
        /// A progress reporter if stderr is a terminal, `None` otherwise.
        pub fn if_terminal() -> Option<TerminalProgress> {
            std::io::stderr().is_terminal().then(|| TerminalProgress { bar: Mutex::new(None) })
        }
    }

    impl Progress for TerminalProgress {
        fn layer_started(&self, index: usize, count: usize, digest: &BlobDigest, size: u64) {
            if size < MIN_BAR_SIZE {
                return;
            }
            let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            let hex = digest.hex();
            bar.set_message(format!("layer {}/{} {}", index + 1, count, &hex[..12]));
            if let Ok(mut slot) = self.bar.lock() {
                *slot = Some(bar);
            }
        }

        fn advanced(&self, bytes: u64) {
            if let Ok(slot) = self.bar.lock()
                && let Some(bar) = slot.as_ref()
            {
                bar.inc(bytes);
            }
        }

        fn layer_finished(&self, _index: usize) {
            if let Ok(mut slot) = self.bar.lock()
                && let Some(bar) = slot.take()
            {
                bar.finish_and_clear();
            }
        }
    }
}
