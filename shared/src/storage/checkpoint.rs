//! SQLite's WAL checkpoints, run by a thread of their own instead of by the writer.
//!
//! By default the connection whose commit takes the WAL past 1,000 pages copies the WAL back
//! into the database file then and there, `fsync`s included, before its commit returns. Here
//! that connection is the writer thread's ([`group_commit`](crate::storage::group_commit)),
//! so every write queued behind it would wait. Instead the writer tells this thread that it
//! committed, and this thread runs a `PASSIVE` checkpoint on its own connection: a passive
//! checkpoint never blocks the writer or the readers, and the writer starts the WAL over once
//! a checkpoint has copied all of it. Commits told while a checkpoint runs are copied by the
//! next one, so under load checkpoints run back to back and the WAL stays short. Waiting
//! between them, to copy more at once, let the WAL grow and made the slowest requests slower;
//! the p99 of benchmark (h) was 18.6–19.0 ms with no wait, 20.4 ms with 2 ms, 27–37 ms with
//! 20 ms and 34–42 ms with 60 ms. Pooled connections keep an automatic checkpoint at
//! [`BACKSTOP_PAGES`], in case this thread cannot keep up.

use diesel::connection::SimpleConnection;

use crate::storage::db::{Connection, DatabaseUrl, StorageError, establish};
use crate::storage::nudged::Nudged;

/// The WAL size, in pages, at which a committing connection checkpoints by itself (SQLite's
/// `wal_autocheckpoint`; its default is 1,000).
pub const BACKSTOP_PAGES: u32 = 10_000;

/// The checkpoint thread of one database file; dropping it stops the thread.
pub(crate) struct Checkpointer {
    thread: Nudged,
}

impl Checkpointer {
    pub(crate) fn start(url: &DatabaseUrl) -> std::io::Result<Checkpointer> {
        let url = url.clone();
        let mut conn: Option<Connection> = None;
        let thread = Nudged::start("sqlite-checkpoint", move || {
            if let Err(e) = checkpoint(&url, &mut conn) {
                log::warn!(
                    "a WAL checkpoint failed (the writer checkpoints by itself instead): {e}"
                );
                conn = None;
            }
        })?;
        Ok(Checkpointer { thread })
    }

    /// A commit added to the WAL; never blocks.
    pub(crate) fn committed(&self) {
        self.thread.nudge();
    }
}

/// A `PASSIVE` checkpoint on `conn`, opened first if need be.
fn checkpoint(url: &DatabaseUrl, conn: &mut Option<Connection>) -> Result<(), StorageError> {
    let conn = match conn {
        Some(open) => open,
        None => {
            let mut opened = establish(url)?;
            opened.batch_execute("PRAGMA busy_timeout = 1000;")?;
            conn.insert(opened)
        }
    };
    conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE);")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use diesel::RunQueryDsl;

    use crate::storage::db::{DatabaseUrl, Db, DbConfig, StorageError};

    #[actix_rt::test]
    async fn committed_pages_reach_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().expect("a directory");
        let path = dir.path().join("checkpoint.sqlite3");
        let db = Db::open(&DbConfig::new(DatabaseUrl::from(&path)), &[]).expect("open");
        let before = std::fs::metadata(&path).expect("the file").len();
        // 300 KiB: far below the writer's own threshold (BACKSTOP_PAGES of 1 KiB), so only
        // the checkpoint thread copies these pages from the WAL into the file.
        db.write(|conn| {
            diesel::sql_query("CREATE TABLE blobs (b BLOB)").execute(conn)?;
            diesel::sql_query("INSERT INTO blobs VALUES (zeroblob(300 * 1024))").execute(conn)?;
            Ok::<_, StorageError>(())
        })
        .await
        .expect("written");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let size = std::fs::metadata(&path).expect("the file").len();
            if size > before + 300 * 1024 {
                break;
            }
            assert!(Instant::now() < deadline, "the file stayed at {size} bytes");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
