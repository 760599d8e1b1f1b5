//! The database: one pool over SQLite or PostgreSQL through sqlx's `Any` driver, so every
//! query is written once. Both drivers accept `$1`-style placeholders; values are limited to
//! text and 64-bit integers (times are Unix milliseconds, flags 0/1), which both store
//! natively. Schemas live in `migrations/sqlite` and `migrations/postgres`.
//!
//! Every transaction here starts with a write, so on SQLite it takes the write lock up front
//! and concurrent writers wait (busy timeout) instead of failing to upgrade a read lock.

pub mod audit;
pub mod calls;
pub mod consents;
pub mod group;
pub mod participants;
pub mod people;
pub mod quality;
pub mod reports;
pub mod stats;
pub mod waiting_room;
pub mod webhooks;

use sqlx::any::{AnyPoolOptions, AnyRow, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor, Row};
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// The key audit entries are authenticated under (`AUDIT_KEY`); appends fail without it.
    pub audit_key: Option<vytalcall_domain::audit::AuditKey>,
    /// The writer that commits acknowledged socket writes in groups ([`group`]).
    pub commits: group::GroupCommit,
}

impl Db {
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers proceed while one writer commits; it persists in the file.
            pool.execute("PRAGMA journal_mode = WAL").await?;
        }
        Ok(Db {
            commits: group::GroupCommit::start(pool.clone()),
            pool,
            backend,
            audit_key: None,
        })
    }

    /// Brings the schema up to date. A schema that already is needs no DDL at all, so a
    /// server whose role may not create tables (docs/audit-trail.md) starts on it.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let applied: Option<i64> = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .ok();
        if applied == Some(migrator.iter().count() as i64) {
            return Ok(());
        }
        migrator.run(&self.pool).await
    }

    /// Readiness: can we run a query right now?
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ())
    }
}

/// Builds SQL with numbered placeholders for queries whose filters vary. Only `'static`
/// fragments and placeholders go into the text, so values can never become SQL.
#[derive(Default)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

pub enum Arg {
    Text(String),
    Int(i64),
}

impl Sql {
    pub fn new(text: &'static str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &'static str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends the next placeholder and remembers its value.
    pub fn bind(&mut self, arg: Arg) -> &mut Self {
        self.args.push(arg);
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }

    pub fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(self.text.as_str()));
        for arg in &self.args {
            q = match arg {
                Arg::Text(s) => q.bind(s.as_str()),
                Arg::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

pub fn flag(b: bool) -> i64 {
    i64::from(b)
}

/// Why the configured database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {}", .0.display())]
    DataDir(std::path::PathBuf, #[source] std::io::Error),
    #[error("cannot open the database")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("cannot load the audit key (AUDIT_KEY)")]
    AuditKey(#[source] anyhow::Error),
}

impl Db {
    /// Opens the configured database (`DATABASE_URL`, or SQLite under the data directory)
    /// and brings its schema up to date: what the server and operator commands use.
    pub async fn open(settings: &crate::config::Settings) -> Result<Db, OpenError> {
        let db = Db::open_as_is(settings).await?;
        db.migrate().await.map_err(OpenError::Migrate)?;
        Ok(db)
    }

    /// Opens the configured database without migrating it: what read-only work needs (an
    /// auditor's `audit verify` under a role that may only read the trail).
    pub async fn open_as_is(settings: &crate::config::Settings) -> Result<Db, OpenError> {
        if settings.database_url.is_none() {
            create_data_dir(&settings.data_dir).map_err(|e| OpenError::DataDir(settings.data_dir.clone(), e))?;
        }
        let mut db = Db::connect(&settings.effective_database_url())
            .await
            .map_err(OpenError::Connect)?;
        db.audit_key = Some(crate::audit::key(settings).map_err(OpenError::AuditKey)?);
        Ok(db)
    }
}

/// Creates the data directory, readable by its owner only: it holds the SQLite database
/// and, in development, the generated secrets.
pub fn create_data_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The error for a stored value that does not parse (the database holds what the server
/// never writes).
pub(crate) fn corrupt(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("stored {what} is not valid").into())
}

/// Reads a text column as a typed id (or any value parsed from text).
pub(crate) fn parse_id<T: std::str::FromStr>(row: &AnyRow, col: &str) -> Result<T, sqlx::Error> {
    row.try_get::<String, _>(col)?.parse().map_err(|_| corrupt(col))
}
