//! Group commit for SQLite: the write transactions of this process run on one writer thread,
//! and the writes that queued while one transaction ran share the next one.
//!
//! SQLite has one write lock, so this process's writers run one at a time whatever we do.
//! What one writer at a time costs is mostly per commit, not per statement: every commit
//! appends each page it changed to the WAL (a token write changes ~25 pages, mostly the same
//! B-tree pages as the writes before it), updates the WAL index, and brings the next
//! checkpoint (two `fsync`s) closer. So the writer thread takes every job waiting when it is
//! free (up to [`MAX_BATCH`]), runs each in a savepoint of one `BEGIN IMMEDIATE` transaction
//! and commits once: a page changed by several jobs goes to the WAL once.
//!
//! Every job keeps its own transaction's meaning. A job that fails is rolled back to its
//! savepoint and the others go on (a deferred constraint, checked only at the commit, would
//! fail the whole batch; the schemas here have none). No job's result is handed back before
//! the commit: if the commit fails, every job of the batch gets that error, and nothing of
//! any of them is written. Jobs are run in the order they arrived, so each sees the ones before it, as it
//! would have after their commits. With one job waiting, a batch is that job alone: an idle
//! service pays no delay for this. The WAL is checkpointed by another thread
//! ([`checkpoint`](crate::storage::checkpoint)), so no batch waits for that either.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, PoisonError};

use diesel::connection::{AnsiTransactionManager, TransactionManager};

use crate::storage::checkpoint::Checkpointer;
use crate::storage::db::{Connection, Pool, StorageError, checkout};

/// The most jobs in one transaction: the write lock is held for the whole batch (a job is
/// tens of microseconds of SQLite work, so a full batch holds it for a few milliseconds).
pub const MAX_BATCH: usize = 32;

/// Hands a job's result to its caller once the batch's commit is known: `Ok` if it
/// committed, or the reason it did not.
type Deliver = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// A job, type-erased: runs in its savepoint (unless there is no connection: the batch could
/// not begin) and returns how to deliver its result.
type Job = Box<dyn FnOnce(Option<&mut Connection>) -> Deliver + Send>;

/// The queue to this process's writer thread. Dropping it lets the thread finish the jobs
/// already queued and waits for it, so the thread's connections are closed with the pool's
/// (the last connection to close checkpoints SQLite's WAL and removes it).
pub(crate) struct GroupCommit {
    /// `None` once dropped, which ends the thread's queue.
    jobs: Option<Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Transactions the thread has begun (committed or not); the tests read it, operators
    /// read `db_write_batch_size`.
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the tests"))]
    batches: Arc<AtomicU64>,
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.jobs = None;
        // A job's closure may hold the last handle: the thread then ends by itself.
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

impl GroupCommit {
    /// Starts the writer thread. It takes `pool` connections one batch at a time and holds
    /// `writer` (the mutex [`crate::storage::db::Db::exclusive`] work queues on) through each.
    pub(crate) fn start(
        pool: Pool,
        writer: Arc<Mutex<()>>,
        checkpointer: Checkpointer,
    ) -> std::io::Result<GroupCommit> {
        let (sender, receiver) = channel();
        let batches = Arc::new(AtomicU64::new(0));
        let counted = batches.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn(move || run(&pool, &writer, &receiver, &counted, &checkpointer))?;
        Ok(GroupCommit {
            jobs: Some(sender),
            thread: Some(thread),
            batches,
        })
    }

    /// How many transactions the writer thread has begun.
    #[cfg(test)]
    pub(crate) fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// Runs `f` in a savepoint of the next batch's transaction; its result once that
    /// transaction has committed.
    pub(crate) async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StorageError> + From<diesel::result::Error> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<T, E>>();
        // Run as the request that asked, so its log lines carry the request id.
        let request = crate::telemetry::carried();
        let job: Job = Box::new(move |conn: Option<&mut Connection>| -> Deliver {
            let result = request.run(|| conn.map(|conn| conn.write_transaction(f)));
            Box::new(move |committed: Result<(), &str>| {
                let result = match (committed, result) {
                    (Ok(()), Some(result)) => result,
                    (Err(why), _) => Err(StorageError::Unavailable(why.to_owned()).into()),
                    (Ok(()), None) => Err(StorageError::Unavailable("not run".to_owned()).into()),
                };
                // The caller may have gone (its client hung up): the write stands regardless.
                let _ = answer.send(result);
            })
        });
        let queued = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(job).is_ok());
        if !queued {
            return Err(
                StorageError::Unavailable("the writer thread has stopped".to_owned()).into(),
            );
        }
        answered.await.unwrap_or_else(|_| {
            Err(StorageError::Unavailable("the write was abandoned".to_owned()).into())
        })
    }
}

/// The writer thread: one batch after another, until every sender is gone. A batch is the
/// jobs waiting once the write turn is had, so writes that queue while `exclusive` work holds
/// it go together. Each commit asks `checkpointer` for a checkpoint.
fn run(
    pool: &Pool,
    writer: &Mutex<()>,
    jobs: &Receiver<Job>,
    batches: &AtomicU64,
    checkpointer: &Checkpointer,
) {
    while let Ok(first) = jobs.recv() {
        let _turn = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        // Counted before any result is delivered, so a caller that has its result sees it.
        batches.fetch_add(1, Ordering::Relaxed);
        if commit_batch(pool, batch) {
            checkpointer.committed();
        }
    }
}

/// Runs `batch` in one transaction and delivers every result; whether it committed.
fn commit_batch(pool: &Pool, batch: Vec<Job>) -> bool {
    let metrics = crate::telemetry::metrics();
    metrics.db_batch_size.observe(batch.len() as f64);
    let (mut conn, _in_use) = match checkout(pool) {
        Ok(checked_out) => checked_out,
        Err(e) => {
            refuse(batch, &e);
            return false;
        }
    };
    let conn: &mut Connection = &mut conn;
    if let Err(e) = begin(conn) {
        refuse(batch, &StorageError::Query(e));
        return false;
    }
    let mut delivers = Vec::with_capacity(batch.len());
    for job in batch {
        match catch_unwind(AssertUnwindSafe(|| job(Some(&mut *conn)))) {
            Ok(deliver) => delivers.push(deliver),
            Err(_) => {
                // A bug in one job. Its savepoint may still be open, so nothing of the batch
                // is kept: the connection is left inside the transaction, and the pool
                // discards such a connection, which rolls it back. The panicking job's
                // caller sees its answer dropped.
                log::error!("a write panicked; its whole batch is rolled back");
                deliver_all(delivers, Err("a write in the same batch failed"));
                return false;
            }
        }
    }
    match <Connection as TransactionManager<_>>::commit_transaction(conn) {
        Ok(()) => {
            deliver_all(delivers, Ok(()));
            true
        }
        Err(e) => {
            // A failed COMMIT may leave the transaction open: end it before the connection
            // goes back to the pool.
            let _ = <Connection as TransactionManager<_>>::rollback_transaction(conn);
            StorageError::Query(e).log();
            deliver_all(delivers, Err("the write could not be committed"));
            false
        }
    }
}

/// `BEGIN IMMEDIATE`, known to Diesel's transaction manager, so each job's own transaction
/// becomes a savepoint inside it.
fn begin(conn: &mut Connection) -> diesel::QueryResult<()> {
    let Connection::Sqlite(inner) = conn else {
        unreachable!("group commit serves SQLite only");
    };
    AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")
}

fn deliver_all(delivers: Vec<Deliver>, committed: Result<(), &str>) {
    for deliver in delivers {
        deliver(committed);
    }
}

/// No transaction could be had: every job of the batch is answered so, unrun.
fn refuse(batch: Vec<Job>, why: &StorageError) {
    why.log();
    let why = why.to_string();
    for job in batch {
        job(None)(Err(&why));
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::BigInt;
    use diesel::{QueryableByName, RunQueryDsl};
    use futures_util::FutureExt as _;
    use futures_util::future::{join, join_all};

    use crate::storage::db::{DatabaseUrl, Db, DbConfig};

    use super::*;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    /// A database of its own (kept while the directory lives), with the tables the tests write.
    fn open() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().expect("a directory");
        let db = Db::open(
            &DbConfig::new(DatabaseUrl::from(&dir.path().join("group.sqlite3"))),
            &[],
        )
        .expect("open");
        db.get()
            .expect("a connection")
            .batch_execute(
                "CREATE TABLE marks (n INTEGER PRIMARY KEY); \
                 CREATE TABLE parents (id INTEGER PRIMARY KEY); \
                 CREATE TABLE children (parent INTEGER NOT NULL \
                     REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);",
            )
            .expect("create the tables");
        (dir, db)
    }

    fn marks(db: &Db) -> Vec<i64> {
        #[derive(QueryableByName)]
        struct Mark {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query("SELECT n FROM marks ORDER BY n")
            .load::<Mark>(&mut *db.get().expect("a connection"))
            .expect("read the marks")
            .into_iter()
            .map(|m| m.n)
            .collect()
    }

    fn mark(conn: &mut Connection, n: i64) -> Result<i64, StorageError> {
        diesel::sql_query(format!("INSERT INTO marks (n) VALUES ({n})")).execute(conn)?;
        let Count { n: seen } =
            diesel::sql_query("SELECT count(*) AS n FROM marks").get_result(conn)?;
        Ok(seen)
    }

    /// Runs `writes` while `exclusive` work holds the write turn, so that they queue, then
    /// lets them go: they are then one batch.
    async fn queued<T, F>(db: &Db, writes: Vec<F>) -> Vec<T>
    where
        F: std::future::Future<Output = T>,
    {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (holding, hold_started) = tokio::sync::oneshot::channel::<()>();
        let holder = db.exclusive(move |_| {
            let _ = holding.send(());
            let _ = held.recv();
            Ok::<_, StorageError>(())
        });
        let run = async {
            hold_started.await.expect("the holder runs");
            // `join` polls the writes first: every one is queued before the turn is released.
            let (results, ()) = join(join_all(writes), async {
                release.send(()).expect("release");
            })
            .await;
            results
        };
        let (held, results) = join(holder, run).await;
        held.expect("the holder");
        results
    }

    #[actix_rt::test]
    async fn writes_that_queued_commit_together_each_seeing_those_before_it() {
        let (_dir, db) = open();
        let before = db.write_batches();
        let writes = (1..=20)
            .map(|n| db.write(move |conn| mark(conn, n)))
            .collect();
        let results = queued(&db, writes).await;
        let seen: Vec<i64> = results.into_iter().map(|r| r.expect("written")).collect();
        assert_eq!(
            seen,
            (1..=20).collect::<Vec<_>>(),
            "in order, each after the last"
        );
        assert_eq!(db.write_batches() - before, 1, "one transaction");
        assert_eq!(marks(&db), (1..=20).collect::<Vec<_>>());
    }

    #[actix_rt::test]
    async fn a_write_runs_as_the_request_that_asked_for_it() {
        let (_dir, db) = open();
        let id: Arc<str> = Arc::from("req-write");
        let seen = crate::telemetry::with_request_id(
            id.clone(),
            db.write(|_| Ok::<_, StorageError>(crate::telemetry::request_id())),
        )
        .await
        .expect("written");
        assert_eq!(seen, Some(id));
    }

    #[actix_rt::test]
    async fn a_failing_write_is_rolled_back_alone() {
        let (_dir, db) = open();
        let before = db.write_batches();
        let writes = (1..=6)
            .map(|n| {
                db.write(move |conn| {
                    mark(conn, n)?;
                    if n % 2 == 0 {
                        // Written, then refused: its insert must not survive.
                        return Err(StorageError::Unhealthy(format!("refused {n}")));
                    }
                    Ok(n)
                })
            })
            .collect();
        let results = queued(&db, writes).await;
        assert_eq!(db.write_batches() - before, 1);
        for (n, result) in (1..=6).zip(results) {
            match result {
                Ok(written) => assert_eq!(written, n),
                Err(e) => assert_eq!(e.to_string(), format!("refused {n}")),
            }
        }
        assert_eq!(marks(&db), vec![1, 3, 5]);
    }

    #[actix_rt::test]
    async fn a_failed_commit_fails_every_write_of_the_batch_and_keeps_none() {
        let (_dir, db) = open();
        // A deferred foreign key is checked at COMMIT, after every savepoint was released:
        // the one bad row fails the whole transaction.
        let mut writes: Vec<_> = (1..=3)
            .map(|n| db.write(move |conn| mark(conn, n)).boxed_local())
            .collect();
        writes.push(
            db.write(|conn| {
                diesel::sql_query("INSERT INTO children (parent) VALUES (42)").execute(conn)?;
                Ok::<_, StorageError>(0)
            })
            .boxed_local(),
        );
        let results = queued(&db, writes).await;
        for result in results {
            let e = result.expect_err("nothing committed");
            assert!(matches!(e, StorageError::Unavailable(_)), "{e:?}");
        }
        assert_eq!(marks(&db), Vec::<i64>::new());
        // The writer goes on.
        assert_eq!(
            db.write(|conn| mark(conn, 7)).await.expect("a later write"),
            1
        );
    }

    #[actix_rt::test]
    async fn a_panicking_write_loses_its_batch_and_the_writer_goes_on() {
        let (_dir, db) = open();
        let writes = vec![
            db.write(|conn| mark(conn, 1)).boxed_local(),
            db.write(|conn| {
                mark(conn, 2)?;
                panic!("a bug in a write");
            })
            .boxed_local(),
            db.write(|conn| mark(conn, 3)).boxed_local(),
        ];
        let results = queued(&db, writes).await;
        assert!(results.iter().all(Result::is_err), "{results:?}");
        assert_eq!(marks(&db), Vec::<i64>::new());
        assert_eq!(
            db.write(|conn| mark(conn, 4)).await.expect("a later write"),
            1
        );
        assert_eq!(marks(&db), vec![4]);
    }
}
