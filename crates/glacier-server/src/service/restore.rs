//! Retrievals from an archive storage class (`--s3-storage-class GLACIER|DEEP_ARCHIVE`): a
//! due archive job completes only once the blobs of its range can be read. The engine that
//! claimed it asks the store to restore them (at the job's tier, readable as long as the output
//! is kept) and, while a restore is under way, holds the job claimed until its next poll, so
//! that on several nodes one polls it. Polls come a quarter of the time waited so far apart
//! (1 s at least, [`RESTORE_POLL_MAX`] at most): a job is seen done at most about 25% late, a
//! 12-hour Deep Archive restore costs about 80 HEAD requests an object.

use super::Service;
use futures_util::{StreamExt, TryStreamExt};
use glacier_storage::{
    BlobKey, JobRecord, JobSpec, Segment, StorageClass, StorageError, Thaw, Thawed, VaultKey,
};

/// The longest wait between two polls of a restore.
pub(super) const RESTORE_POLL_MAX: time::Duration = time::Duration::minutes(15);
/// Restores asked for (or polled) at once for one job.
const THAWS_AT_ONCE: usize = 8;

/// How long a job whose restore has been awaited for `waited` waits for its next poll.
pub(super) fn restore_poll(waited: time::Duration) -> time::Duration {
    (waited / 4_i32).clamp(time::Duration::SECOND, RESTORE_POLL_MAX)
}

/// The blobs that hold bytes `range` (inclusive) of an archive made of `segments`, once each,
/// but for those `class` wrote STANDARD (a blob is an upload or a part, written whole, so its
/// size is the one its class was chosen by).
fn blobs_in(segments: &[Segment], range: (u64, u64), class: StorageClass) -> Vec<BlobKey> {
    let mut out: Vec<BlobKey> = Vec::new();
    let mut at = 0u64;
    for s in segments {
        let end = at + s.size;
        let archived = class.for_upload(Some(s.size)).restores();
        if at <= range.1 && end > range.0 && archived && !out.contains(&s.blob) {
            out.push(s.blob.clone());
        }
        at = end;
    }
    out
}

/// One answer for several blobs: refused if any is, restoring if any is, else readable.
fn all_of(states: Vec<Thawed>) -> Thawed {
    let mut all = Thawed::Readable;
    for s in states {
        match s {
            Thawed::Refused(_) => return s,
            Thawed::Restoring => all = Thawed::Restoring,
            Thawed::Readable => {}
        }
    }
    all
}

impl Service {
    /// Whether the blobs an archive job retrieves can be read, asking for their restores when
    /// they cannot. An archive that is gone reads as readable: finishing the job fails it.
    pub(super) async fn thaw_archive(
        &self,
        key: &VaultKey,
        job: &JobRecord,
    ) -> anyhow::Result<Thawed> {
        let JobSpec::Archive {
            archive_id,
            range,
            tier,
            ..
        } = &job.spec
        else {
            return Ok(Thawed::Readable);
        };
        let class = self.blobs.class();
        if !class.restores() {
            return Ok(Thawed::Readable);
        }
        let archive = match self.meta.get_archive(key, archive_id).await {
            Ok(archive) => archive,
            Err(StorageError::NotFound { .. }) => return Ok(Thawed::Readable),
            Err(e) => return Err(e.into()),
        };
        let thaw = Thaw {
            tier: *tier,
            readable_for: self.settings.timing.job_expiry,
        };
        let states: Vec<Thawed> =
            futures_util::stream::iter(blobs_in(&archive.segments, *range, class))
                .map(|blob| {
                    let thaw = &thaw;
                    async move { self.blobs.thaw(&blob, thaw).await }
                })
                .buffered(THAWS_AT_ONCE)
                .try_collect()
                .await?;
        Ok(all_of(states))
    }

    /// Keeps a job whose blobs are being restored claimed until its next poll.
    pub(super) async fn hold_restoring(
        &self,
        key: &VaultKey,
        job: &JobRecord,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let until = now + restore_poll(now - job.due);
        match self.meta.hold_job(key, &job.id, until).await {
            // The job ended meanwhile (expired with its vault): nothing to hold.
            Ok(()) | Err(StorageError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glacier_core::TreeHash;

    fn segment(blob: &str, size: u64) -> Segment {
        Segment {
            blob: BlobKey(blob.to_owned()),
            size,
            tree_hash: TreeHash::default(),
            leaves: Vec::new(),
        }
    }

    #[test]
    fn a_range_restores_only_the_blobs_that_hold_it() {
        const K: u64 = 1024;
        let keys = |s: &[Segment], r| {
            blobs_in(s, r, StorageClass::DeepArchive)
                .into_iter()
                .map(|k| k.0)
                .collect::<Vec<_>>()
        };
        let s = [
            segment("a", 20 * K),
            segment("b", 20 * K),
            segment("c", 12 * K),
        ];
        assert_eq!(keys(&s, (0, 52 * K - 1)), ["a", "b", "c"]);
        assert_eq!(keys(&s, (0, 20 * K - 1)), ["a"]);
        assert_eq!(keys(&s, (20 * K - 1, 20 * K)), ["a", "b"]);
        assert_eq!(keys(&s, (40 * K, 52 * K - 1)), ["c"]);
        let small = [segment("a", 20 * K), segment("c", 5 * K)];
        assert_eq!(
            keys(&small, (0, 25 * K - 1)),
            ["a"],
            "c was written STANDARD"
        );
    }

    #[test]
    fn one_answer_for_all_blobs() {
        use Thawed::*;
        assert_eq!(all_of(vec![Readable, Readable]), Readable);
        assert_eq!(all_of(vec![Readable, Restoring]), Restoring);
        assert_eq!(
            all_of(vec![Restoring, Refused("no".into()), Readable]),
            Refused("no".into())
        );
        assert_eq!(all_of(Vec::new()), Readable);
    }

    #[test]
    fn polls_come_a_quarter_of_the_wait_apart() {
        use time::Duration as D;
        assert_eq!(restore_poll(D::ZERO), D::SECOND);
        assert_eq!(restore_poll(D::seconds(40)), D::seconds(10));
        assert_eq!(restore_poll(D::hours(12)), RESTORE_POLL_MAX);
    }
}
