//! Hearing at once what other processes changed in the database: on PostgreSQL, triggers send
//! `NOTIFY oauth2_changes` when a token, user or application changes or goes (`tokens`) or when
//! the signing keys change (`keys`), from the very transaction that made the change (see the
//! migration `2026-12-06-000400_change_notifications`), and every serving process listens on a
//! connection of its own ([`Listener`]). A revocation at one instance thus empties the token
//! caches of all of them within milliseconds, and `rotatekeys` reaches every instance without
//! waiting for its reload interval.
//!
//! The listener is a plain thread: libpq queues notifications on the connection as they
//! arrive, and the thread collects them every [`POLL`] (a non-blocking read of the socket, no
//! round trip to the server). When the connection fails, notifications may have been missed:
//! the process is told it is [`Heard::Deaf`] (its token cache stops answering, so nothing
//! stale is served), and once listening again it hears [`Heard::Listening`] (caches empty,
//! keys reload) before anything else.
//!
//! One change is announced by the service rather than by a trigger: an exchange replacing a
//! user's tokens deletes the old ones, on the hottest write path there is. A commit that sends
//! a notification holds PostgreSQL's one notification lock through its WAL flush, so such
//! commits run one at a time.
//! The service calls [`Announcer::tokens_changed`] after such a commit instead; one thread per
//! process sends the `NOTIFY` on a connection of its own, one at a time and at most one per
//! [`ANNOUNCE_EVERY`], so announcements asked for meanwhile go out together in the next.
//!
//! SQLite has one serving process per file, which learns of its own changes directly: there
//! is nothing to listen to or announce, and [`Listener::start`] and [`Announcer::start`] return
//! `None`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::prelude::*;

use crate::storage::db::{Connection, DatabaseUrl, establish};
use crate::storage::nudged::Nudged;

/// The notification channel the triggers send on.
pub const CHANNEL: &str = "oauth2_changes";

/// How often queued notifications are collected: the longest a change waits in the socket.
pub const POLL: Duration = Duration::from_millis(5);

/// How often the listening connection is checked with a query.
const PING: Duration = Duration::from_secs(5);

/// The first wait before connecting again after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the listener tells the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heard {
    /// A token, user or application changed somewhere: cached token checks may be stale.
    Tokens,
    /// The signing keys changed somewhere.
    Keys,
    /// Listening (again): anything may have changed meanwhile.
    Listening,
    /// The listening connection failed; changes made elsewhere go unheard until
    /// [`Heard::Listening`].
    Deaf,
}

impl Heard {
    fn parse(payload: &str) -> Option<Heard> {
        match payload {
            "tokens" => Some(Heard::Tokens),
            "keys" => Some(Heard::Keys),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Heard::Tokens => "tokens",
            Heard::Keys => "keys",
            Heard::Listening => "listening",
            Heard::Deaf => "deaf",
        }
    }
}

/// The listening thread; dropping it stops the thread (within [`POLL`]) and closes its
/// connection.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Starts listening on `url` and calls `on` with what it hears, on the listener's thread
    /// (keep `on` short; it may use the database). `None` on SQLite. The first call is
    /// [`Heard::Listening`] once the connection listens, or [`Heard::Deaf`] if it cannot
    /// connect; until then the process should treat itself as deaf.
    pub fn start<F>(url: &DatabaseUrl, on: F) -> Option<Listener>
    where
        F: Fn(Heard) + Send + 'static,
    {
        if !matches!(url, DatabaseUrl::Postgres(_)) {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("change-listener".to_owned())
            .spawn({
                let url = url.clone();
                let stop = stop.clone();
                move || listen(&url, &stop, &on)
            })
            .expect("spawn the change listener thread");
        Some(Listener {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn listen(url: &DatabaseUrl, stop: &AtomicBool, on: &dyn Fn(Heard)) {
    let metrics = crate::telemetry::metrics();
    let mut backoff = FIRST_BACKOFF;
    let mut deaf_said = false;
    while !stop.load(Ordering::Acquire) {
        let failure = match subscribe(url) {
            Ok(mut conn) => {
                backoff = FIRST_BACKOFF;
                deaf_said = false;
                metrics.change_listener_up.set(1);
                tell(on, Heard::Listening);
                let failure = drain(&mut conn, stop, on);
                metrics.change_listener_up.set(0);
                failure
            }
            Err(e) => Some(e),
        };
        let Some(failure) = failure else { break };
        if !deaf_said {
            log::warn!(
                "not hearing other instances' changes ({failure}); token cache off until \
                 listening again"
            );
            tell(on, Heard::Deaf);
            deaf_said = true;
        }
        // Sleep in POLL steps, so that stopping is never held up by a backoff.
        let mut slept = Duration::ZERO;
        while slept < backoff && !stop.load(Ordering::Acquire) {
            std::thread::sleep(POLL);
            slept += POLL;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

fn tell(on: &dyn Fn(Heard), heard: Heard) {
    crate::telemetry::metrics()
        .changes_heard
        .with_label_values(&[heard.label()])
        .inc();
    on(heard);
}

/// The listening connection's `application_name`, as `pg_stat_activity` shows it.
pub const APPLICATION_NAME: &str = "oauth2-change-listener";

/// The least time between two announcements. Each costs a transaction on the server and
/// wakes every listening connection, and under load every exchange asks for one: this bounds
/// them at 100 a second per instance, however many exchanges there are. A replaced token is
/// still refused everywhere within this interval and the notification's delivery, far inside
/// the 100 ms an instance's revocations promise.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(10);

/// Sends `tokens` notifications for changes no trigger announces (see the module docs).
#[derive(Debug)]
pub struct Announcer {
    thread: Nudged,
}

impl Announcer {
    /// The announcing thread for `url`; `None` on SQLite.
    pub fn start(url: &DatabaseUrl) -> Option<Announcer> {
        if !matches!(url, DatabaseUrl::Postgres(_)) {
            return None;
        }
        let url = url.clone();
        let mut conn: Option<Connection> = None;
        let thread = Nudged::start("change-announcer", move || {
            announce(&url, &mut conn);
            // Asks made meanwhile go out together in the next notification.
            std::thread::sleep(ANNOUNCE_EVERY);
        })
        .expect("spawn the change announcer thread");
        Some(Announcer { thread })
    }

    /// Tells every instance, soon, that tokens changed. Call it after the change committed.
    pub fn tokens_changed(&self) {
        self.thread.nudge();
    }
}

/// Sends one `tokens` notification on `conn`, opened (or replaced, once) as needed.
fn announce(url: &DatabaseUrl, conn: &mut Option<Connection>) {
    // Two tries: a connection that went stale since the last announcement is replaced.
    for _ in 0..2 {
        if conn.is_none() {
            match establish(url) {
                Ok(fresh) => *conn = Some(fresh),
                Err(e) => {
                    log::warn!("cannot announce a token change to other instances: {e}");
                    break;
                }
            }
        }
        let Some(c) = conn.as_mut() else { break };
        match diesel::sql_query(format!("NOTIFY {CHANNEL}, 'tokens'")).execute(c) {
            Ok(_) => return,
            Err(e) => {
                log::warn!("cannot announce a token change to other instances: {e}");
                *conn = None;
            }
        }
    }
    // The other instances' caches then hold the replaced tokens at most `TOKEN_CACHE_SECONDS`.
    crate::telemetry::metrics().changes_unannounced.inc();
}

/// A new connection listening on [`CHANNEL`].
fn subscribe(url: &DatabaseUrl) -> Result<Connection, String> {
    use diesel::connection::SimpleConnection;
    let mut conn = establish(url).map_err(|e| e.to_string())?;
    conn.batch_execute(&format!(
        "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANNEL}"
    ))
    .map_err(|e| format!("LISTEN failed: {e}"))?;
    Ok(conn)
}

/// Collects notifications until stopped (`None`) or the connection fails (`Some(why)`).
/// Several alike in one collection are told once: a burst of revocations empties a cache once.
fn drain(conn: &mut Connection, stop: &AtomicBool, on: &dyn Fn(Heard)) -> Option<String> {
    let Connection::Postgres(pg) = conn else {
        return None;
    };
    let mut since_ping = Duration::ZERO;
    while !stop.load(Ordering::Acquire) {
        // A server that went away without closing the socket is only noticed by asking.
        if since_ping >= PING {
            if let Err(e) = diesel::sql_query("SELECT 1").execute(pg) {
                return Some(format!("the listening connection failed: {e}"));
            }
            since_ping = Duration::ZERO;
        }
        let (mut tokens, mut keys) = (false, false);
        for notification in pg.notifications_iter() {
            match notification {
                Ok(n) => match Heard::parse(&n.payload) {
                    Some(Heard::Tokens) => tokens = true,
                    Some(Heard::Keys) => keys = true,
                    _ => log::debug!("ignored a notification: {:?}", n.payload),
                },
                Err(e) => return Some(format!("the listening connection failed: {e}")),
            }
        }
        if tokens {
            tell(on, Heard::Tokens);
        }
        if keys {
            tell(on, Heard::Keys);
        }
        std::thread::sleep(POLL);
        since_ping += POLL;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::{Receiver, channel};

    use diesel::connection::SimpleConnection;

    use super::*;
    use crate::storage::db::{Db, DbConfig};
    use crate::storage::testdb::TestDb;

    const PATIENCE: Duration = Duration::from_secs(20);

    /// A migrated database, a listener on it and what it hears.
    fn listening(dir: &std::path::Path) -> Option<(TestDb, Listener, Receiver<Heard>)> {
        let fresh = TestDb::create(dir, "changes");
        Db::open(&DbConfig::new(fresh.url().clone()), &[]).expect("migrate");
        let (tx, rx) = channel();
        let listener = Listener::start(fresh.url(), move |heard| {
            let _ = tx.send(heard);
        })?;
        assert_eq!(next(&rx), Heard::Listening);
        Some((fresh, listener, rx))
    }

    fn next(rx: &Receiver<Heard>) -> Heard {
        rx.recv_timeout(PATIENCE)
            .expect("the listener hears something")
    }

    const ADD_USER: &str = "INSERT INTO users (username, password, email, first_name, last_name, \
         is_active, is_staff, is_superuser, date_joined) \
         VALUES ('changes', '!', '', '', '', true, false, false, 0)";
    const ADD_KEY: &str = "INSERT INTO signing_keys (kid, alg, private_key, created) \
         VALUES ('changes-kid', 'ES256', 'x', 0)";

    #[test]
    fn changes_are_heard_from_committed_statements_that_touched_rows() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let Some((fresh, _listener, rx)) = listening(dir.path()) else {
            // SQLite: one process per file, nothing to listen to.
            assert!(!TestDb::create(dir.path(), "sqlite").is_postgres());
            return;
        };
        let mut conn = fresh.connect();
        conn.batch_execute(ADD_USER).expect("add a user");
        // Touching no row, or rolling back, says nothing: the key change after them is the
        // next thing heard.
        conn.batch_execute("UPDATE users SET is_active = false WHERE username = 'nobody'")
            .expect("update no row");
        conn.batch_execute("BEGIN; UPDATE users SET is_active = false; ROLLBACK")
            .expect("a rolled back update");
        conn.batch_execute(ADD_KEY).expect("add a key");
        assert_eq!(next(&rx), Heard::Keys);
        conn.batch_execute("UPDATE users SET is_active = false")
            .expect("deactivate");
        assert_eq!(next(&rx), Heard::Tokens);
        conn.batch_execute("DELETE FROM users").expect("delete");
        assert_eq!(next(&rx), Heard::Tokens);
    }

    #[test]
    fn announced_changes_are_heard_and_a_burst_goes_out_together() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let Some((fresh, _listener, rx)) = listening(dir.path()) else {
            assert!(Announcer::start(TestDb::create(dir.path(), "sqlite").url()).is_none());
            return;
        };
        let announcer = Announcer::start(fresh.url()).expect("an announcer on PostgreSQL");
        announcer.tokens_changed();
        assert_eq!(next(&rx), Heard::Tokens);
        for _ in 0..100 {
            announcer.tokens_changed();
        }
        // The burst goes out once the announcer's rest is over. However many were asked
        // for, far fewer went: the key change made after the first comes after a few
        // `tokens` at most.
        assert_eq!(next(&rx), Heard::Tokens);
        fresh.connect().batch_execute(ADD_KEY).expect("add a key");
        let mut tokens = 1;
        while next(&rx) == Heard::Tokens {
            tokens += 1;
        }
        assert!((1..100).contains(&tokens), "{tokens} announcements");
    }

    #[test]
    fn a_lost_connection_makes_the_process_deaf_until_it_listens_again() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let Some((fresh, _listener, rx)) = listening(dir.path()) else {
            return;
        };
        let mut conn = fresh.connect();
        conn.batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = '{APPLICATION_NAME}' AND datname = current_database()"
        ))
        .expect("end the listening connection");
        assert_eq!(next(&rx), Heard::Deaf);
        assert_eq!(next(&rx), Heard::Listening);
        conn.batch_execute(ADD_KEY).expect("add a key");
        assert_eq!(next(&rx), Heard::Keys);
    }
}
