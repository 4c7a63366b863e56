//! Progress reports: bytes moved and transfers started and finished.

use std::sync::Arc;

/// Told of every body chunk sent or received, e.g. to draw a progress bar. Repeated attempts
/// are counted again.
pub type ProgressFn = Arc<dyn Fn(Transfer, u64) + Send + Sync>;

/// The direction of a counted chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Sent,
    Received,
    /// A part upload or a job-output download began (the count is 0).
    Started,
    /// It ended, however it ended (the count is 0).
    Finished,
    /// Bytes a resumed transfer finds already done (parts of an upload already stored, chunks
    /// of a download already verified) and does not move again: part of the total, not of
    /// the rate.
    Skipped,
}

/// Reports [`Transfer::Finished`] when dropped: when a download's body is done with.
pub(super) struct FinishGuard(pub(super) ProgressFn);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        (self.0)(Transfer::Finished, 0);
    }
}
