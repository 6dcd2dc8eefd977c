//! e2ei-sqlstore: the services' one way to reach their database — SQLite (the embedded default)
//! or PostgreSQL by URL, through sqlx's Any driver, so each service has one code path for both.
//! Queries are portable SQL with `$n` parameters; ids are TEXT, times BIGINT seconds. Each service
//! owns its migrations and passes them in; they are applied in order at start, each in one
//! transaction, recorded in `e2ei_migrations`.

use std::str::FromStr;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor};

/// One migration: a version (strictly increasing), a name and portable SQL statements.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version.
    pub version: i64,
    /// Name, for the record.
    pub name: &'static str,
    /// The statements, separated by `;`; `--` comment lines are ignored.
    pub sql: &'static str,
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// SQLite file (or memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    kind: DbKind,
}

// sqlx needs its drivers registered once per process before any Any connection.
fn install_drivers() {
    sqlx::any::install_default_drivers();
}

impl Db {
    /// Connects to `url` (`sqlite://PATH`, `postgres://…`) and applies pending `migrations`.
    pub async fn connect(url: &str, migrations: &[Migration]) -> Result<Self, sqlx::Error> {
        install_drivers();
        let kind = if url.starts_with("sqlite:") {
            DbKind::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            DbKind::Postgres
        } else {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL scheme in `{}`", redact(url)).into(),
            ));
        };
        let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == DbKind::Sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        // WAL lets readers run beside the writer; foreign keys are off by default.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let db = Self { pool, kind };
        db.migrate(migrations).await?;
        Ok(db)
    }

    /// The pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a deferred transaction that reads
    /// first and writes later fails with `SQLITE_BUSY` instead of waiting when another writer
    /// committed in between, which concurrent requests for one user hit.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.kind {
            DbKind::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            DbKind::Postgres => self.pool.begin().await,
        }
    }

    /// SQLite or PostgreSQL.
    pub fn kind(&self) -> DbKind {
        self.kind
    }

    /// Applies the migrations not applied yet, each in its own transaction. On PostgreSQL a
    /// session advisory lock serialises replicas starting together: without it, two
    /// `CREATE TABLE` of the same table race in the catalogue (`pg_type` unique violation).
    async fn migrate(&self, migrations: &[Migration]) -> Result<(), sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        if self.kind == DbKind::Postgres {
            sqlx::query("SELECT pg_advisory_lock($1, hashtext(current_schema()))")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        let applied = apply(&mut conn, migrations).await;
        if self.kind == DbKind::Postgres {
            // Also released when the connection closes, should this fail.
            sqlx::query("SELECT pg_advisory_unlock($1, hashtext(current_schema()))")
                .bind(MIGRATION_LOCK)
                .execute(&mut *conn)
                .await?;
        }
        applied
    }
}

/// The advisory-lock class migrations hold on PostgreSQL ("migr"), with the schema's hash as
/// the other half of the key: services in different schemas of one database migrate side by
/// side.
const MIGRATION_LOCK: i32 = 0x6d69_6772;

async fn apply(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Any>,
    migrations: &[Migration],
) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS e2ei_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    for &Migration { version, name, sql } in migrations {
        let mut tx = conn.begin().await?;
        let done: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM e2ei_migrations WHERE version = $1")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
        if done.is_some() {
            continue;
        }
        for statement in statements(sql) {
            tx.execute(statement.as_str()).await?;
        }
        sqlx::query("INSERT INTO e2ei_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(version)
            .bind(name)
            .bind(time::OffsetDateTime::now_utc().unix_timestamp())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// The statements of a migration: `--` comment lines dropped first (they may contain `;`),
/// then split on `;`.
fn statements(sql: &str) -> Vec<String> {
    let code: Vec<&str> = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    code.join("\n")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MIGRATIONS: &[Migration] = &[Migration {
        version: 1,
        name: "teams",
        sql: "-- a team; or two\nCREATE TABLE teams (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL);",
    }];

    #[test]
    fn splits_migrations_into_statements_ignoring_comments() {
        let sql = "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT);\n\nCREATE INDEX i ON a (x);\n";
        assert_eq!(
            statements(sql),
            ["CREATE TABLE a (x TEXT)", "CREATE INDEX i ON a (x)"]
        );
    }

    #[tokio::test]
    async fn migrations_apply_once_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let db = Db::connect(&url, MIGRATIONS).await.unwrap();
        sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ('t', 'T', 0)")
            .execute(db.pool())
            .await
            .unwrap();
        drop(db);
        let db = Db::connect(&url, MIGRATIONS).await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM e2ei_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
        let (teams,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM teams")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(teams, 1);
    }

    /// Replicas starting together on one PostgreSQL migrate once, without racing.
    #[tokio::test]
    async fn concurrent_migrations_on_postgresql_do_not_race() {
        use sqlx::Connection;
        let base = std::env::var("E2EI_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        sqlx::any::install_default_drivers();
        let mut admin = match sqlx::AnyConnection::connect(&base).await {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "PostgreSQL is required under CI: {e}"
                );
                eprintln!("SKIPPED: PostgreSQL at {base} is not reachable ({e})");
                return;
            }
        };
        let schema = format!(
            "e2ei_migrate_{}_{}",
            std::process::id(),
            time::OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
        );
        admin
            .execute(format!("CREATE SCHEMA {schema}").as_str())
            .await
            .unwrap();
        let url = format!("{base}?options=-c%20search_path%3D{schema}");
        let connects = (0..4).map(|_| Db::connect(&url, MIGRATIONS));
        for db in futures_util::future::join_all(connects).await {
            db.unwrap();
        }
        let (n,): (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM {schema}.e2ei_migrations"))
                .fetch_one(&mut admin)
                .await
                .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    }

    #[test]
    fn redacts_database_passwords() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
