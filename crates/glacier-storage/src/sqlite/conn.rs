//! The connections: one writer, taken in turn, and a few read-only readers lent one per read;
//! each run in one transaction (a read of one statement in that statement's own snapshot), on
//! a blocking thread (or, for a point read with a reader free, on the calling one).

use super::{PolicyCache, SqliteMetadataStore};
use crate::meta::{Page, VaultKey};
use crate::{Result, StorageError};
use rusqlite::{Connection, Transaction};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Read-only connections, lent one per read: a permit is taken before a read goes to a
/// blocking thread, so there is always a free connection for it.
pub(super) struct Readers {
    pub(super) free: Mutex<Vec<Connection>>,
    pub(super) permits: Arc<Semaphore>,
}

impl Readers {
    /// Runs `f` in a read transaction on a free reader (the caller holds a permit, so there is
    /// one), and gives the reader back.
    fn lend<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        self.lend_connection(|conn| in_transaction(conn, f))
    }

    /// Runs `f` on a free reader (the caller holds a permit), and gives the reader back.
    fn lend_connection<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .free
            .lock()
            .map_err(|_| StorageError::backend("metadata readers poisoned"))?
            .pop()
            .ok_or_else(|| StorageError::backend("no free metadata reader"))?;
        let out = f(&mut conn);
        if let Ok(mut free) = self.free.lock() {
            free.push(conn);
        }
        out
    }
}

/// The most items of a list page read on the calling thread ([`SqliteMetadataStore::read_page`]).
const SMALL_PAGE: usize = 50;

/// Statements a connection keeps prepared (each table family's queries, with room to spare).
const STATEMENT_CACHE: usize = 128;

pub(super) fn configure(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

impl SqliteMetadataStore {
    /// Runs `f` in one write transaction on a blocking thread; commits when it returns `Ok`.
    /// Writers wait their turn here, not on a blocking thread.
    pub(super) async fn tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.writer).lock_owned().await;
        blocking(move || in_transaction(&mut conn, f)).await
    }

    /// [`Self::tx`] for a write that changes the policies of vault `key` (of every vault:
    /// `None`), dropping what the cache holds for it once the write is over.
    pub(super) async fn tx_changing_policies<T, F>(&self, key: Option<VaultKey>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let mut conn = Arc::clone(&self.writer).lock_owned().await;
        let cache = Arc::clone(&self.policies);
        blocking(move || {
            let out = in_transaction(&mut conn, f);
            PolicyCache::forget(&cache, key.as_ref());
            out
        })
        .await
    }

    /// Runs `f` in one read transaction on a read-only connection, in parallel with other
    /// reads and with the writer.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| StorageError::backend("metadata readers closed"))?;
        let readers = Arc::clone(&self.readers);
        blocking(move || {
            let _permit = permit;
            readers.lend(f)
        })
        .await
    }

    /// [`Self::read`] for a read of a few rows by primary key, which SQLite answers from its
    /// cache in microseconds: run on the calling thread when a reader is free at once (a
    /// blocking thread's hand-off, two context switches, cost more than the read: `perf`
    /// showed them as the largest part of a DescribeVault), else as `read`.
    pub(super) async fn read_point<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let Ok(_permit) = Arc::clone(&self.readers.permits).try_acquire_owned() else {
            return self.read(f).await;
        };
        self.readers.lend(f)
    }

    /// [`Self::read`] for a page of a list: on the calling thread (as [`Self::read_point`])
    /// when the whole page is at most [`SMALL_PAGE`] items, as most are (an account's vaults,
    /// a vault's jobs), else on a blocking thread, since a page of up to 1,000 rows would hold
    /// the connection thread for a millisecond. `f` reads the page of a given limit; a longer
    /// page is read again in full, in one snapshot.
    pub(super) async fn read_page<T, F>(&self, limit: usize, f: F) -> Result<Page<T>>
    where
        T: Send + 'static,
        F: Fn(&Transaction<'_>, usize) -> Result<Page<T>> + Send + 'static,
    {
        if let Ok(_permit) = Arc::clone(&self.readers.permits).try_acquire_owned() {
            let page = self.readers.lend(|tx| f(tx, limit.min(SMALL_PAGE)))?;
            if limit <= SMALL_PAGE || !page.more {
                return Ok(page);
            }
        }
        self.read(move |tx| f(tx, limit)).await
    }

    /// [`Self::read_point`] for a read of one statement, which needs no transaction of its
    /// own: SQLite runs a lone statement in its own read snapshot (as `in_tx!(one …)` does
    /// on PostgreSQL), and a BEGIN and a COMMIT around it cost more than the read.
    pub(super) async fn read_one<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let Ok(_permit) = Arc::clone(&self.readers.permits).try_acquire_owned() else {
            return self.read(move |tx| f(tx)).await;
        };
        self.readers.lend_connection(|conn| f(conn))
    }
}

fn in_transaction<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = conn.transaction()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::backend(format!("metadata task failed: {e}")))?
}
