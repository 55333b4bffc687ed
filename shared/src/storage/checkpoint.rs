//! WAL checkpoints off the request path.
//!
//! By default SQLite checkpoints inside the commit that pushes the write-ahead log past 1,000
//! pages: that writer copies the log into the database file and syncs both before it returns,
//! while it still holds the write lock. Under a steady stream of small writes that happens
//! dozens of times a second, and every writer queued behind it waits out two `fsync`s
//! (p99 6 ms on this machine's disk, shared/NOTES.md), which is where the tail of the write
//! paths came from. Here a thread per database checkpoints on its own connection every
//! [`INTERVAL`] in PASSIVE mode, which takes no lock a writer needs; the commit-time checkpoint
//! is kept only as a backstop, at [`BACKSTOP_PAGES`], for when this thread cannot keep up.

use std::path::PathBuf;
use std::sync::Weak;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

/// How often the log is copied into the database file: often enough that the log stays a few
/// megabytes under the heaviest load measured (scenario h writes ~5,000 commits a second).
pub const INTERVAL: Duration = Duration::from_millis(100);

/// The commit-time checkpoint's threshold, in pages (4 KiB each): ten times SQLite's default.
pub const BACKSTOP_PAGES: u32 = 10_000;

/// Starts the checkpoint thread for the database at `path`; it ends once `alive` is gone
/// (the [`super::db::Db`] and all its clones dropped).
pub fn spawn(path: PathBuf, alive: Weak<()>) {
    let spawned = std::thread::Builder::new()
        .name("sqlite-checkpoint".to_owned())
        .spawn(move || run(&path, &alive));
    if let Err(e) = spawned {
        // Commits then checkpoint at the backstop threshold: slower, never wrong.
        log::warn!("no checkpoint thread ({e}); writers will checkpoint the log themselves");
    }
}

fn run(path: &std::path::Path, alive: &Weak<()>) {
    let Some(url) = path.to_str() else { return };
    let mut conn: Option<SqliteConnection> = None;
    loop {
        std::thread::sleep(INTERVAL);
        if alive.strong_count() == 0 {
            return;
        }
        if conn.is_none() {
            conn = SqliteConnection::establish(url).ok();
        }
        let Some(c) = conn.as_mut() else { continue };
        // A busy answer (another checkpoint running) or a vanished file is retried next time;
        // a connection that failed is opened again.
        if c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)").is_err() {
            conn = None;
        }
    }
}
