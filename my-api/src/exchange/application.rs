//! The application the register route issues tokens for (the original's `my-api-app`),
//! found by its name.
//!
//! Every exchange at the route needs it, and it almost never changes, so it is read at most
//! once per [`REREAD`] rather than once per exchange: on PostgreSQL that read was one round
//! trip in five of an exchange. An application renamed, changed or deleted meanwhile is seen
//! within that time; a token recorded for a deleted application in it fails on the foreign
//! key, and nothing is issued.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use shared::storage::applications::Application;
use shared::storage::db::Db;
use shared::storage::schema::applications;

use super::ExchangeError;

/// How long a read of the application is used for.
pub const REREAD: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct NamedApplication {
    name: String,
    reread: Duration,
    last_read: Mutex<Option<(Instant, Application)>>,
}

impl NamedApplication {
    pub fn new(name: String) -> Self {
        Self::with_reread(name, REREAD)
    }

    /// Reads the application at most once per `reread`.
    pub fn with_reread(name: String, reread: Duration) -> Self {
        NamedApplication {
            name,
            reread,
            last_read: Mutex::new(None),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The application, as read within the last [`REREAD`].
    pub async fn get(&self, db: &Db) -> Result<Application, ExchangeError> {
        if let Some((at, app)) = &*self.lock()
            && at.elapsed() < self.reread
        {
            return Ok(app.clone());
        }
        let name = self.name.clone();
        let found = db
            .run(move |conn| {
                applications::table
                    .filter(applications::name.eq(&name))
                    .order(applications::id)
                    .select(Application::as_select())
                    .get_result(conn)
                    .optional()
                    .map_err(ExchangeError::from)
            })
            .await?;
        let Some(app) = found else {
            log::error!("the exchange application {:?} does not exist", self.name);
            return Err(ExchangeError::NotConfigured);
        };
        *self.lock() = Some((Instant::now(), app.clone()));
        Ok(app)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Instant, Application)>> {
        self.last_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use shared::clock::now;
    use shared::storage::applications::{ClientType, GrantTypes, NewApplication};
    use shared::storage::testdb::TestDb;

    use super::*;

    fn create(db: &Db, name: &str) -> Application {
        let mut conn = db.get().expect("a connection");
        shared::storage::applications::create(
            &mut conn,
            &NewApplication {
                id: None,
                client_id: format!("{name}-client"),
                name: name.to_owned(),
                client_type: ClientType::Public,
                client_secret_hash: None,
                grant_types: GrantTypes::from_django("password").expect("a known grant"),
                user_id: None,
                created: now(),
            },
        )
        .expect("create the application")
    }

    fn rename(db: &Db, id: i64, to: &str) {
        let mut conn = db.get().expect("a connection");
        diesel::update(applications::table.find(id))
            .set(applications::name.eq(to))
            .execute(&mut conn)
            .expect("rename");
    }

    #[actix_rt::test]
    async fn the_application_is_read_once_per_interval_and_a_change_is_seen_after_it() {
        let dir = tempfile::tempdir().expect("a directory");
        let fresh = TestDb::create(dir.path(), "named");
        let db = Db::open(&fresh.config(), &[]).expect("open");

        let kept = NamedApplication::with_reread("app".to_owned(), Duration::from_secs(3600));
        let fresh_each_time = NamedApplication::with_reread("app".to_owned(), Duration::ZERO);
        // Missing: refused, and not remembered as missing.
        assert!(matches!(
            kept.get(&db).await,
            Err(ExchangeError::NotConfigured)
        ));
        let app = create(&db, "app");
        assert_eq!(kept.get(&db).await.expect("found").id, app.id);
        assert_eq!(fresh_each_time.get(&db).await.expect("found").id, app.id);

        rename(&db, app.id, "renamed");
        assert_eq!(kept.get(&db).await.expect("still the last read").id, app.id);
        assert!(matches!(
            fresh_each_time.get(&db).await,
            Err(ExchangeError::NotConfigured)
        ));
    }
}
