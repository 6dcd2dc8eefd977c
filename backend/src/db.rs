//! The backend's storage: its migrations over e2ei-sqlstore (SQLite or PostgreSQL).

pub use e2ei_sqlstore::{Db, DbKind, Migration, redact};

/// The backend's migrations, applied in order at start.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "notifications",
        sql: include_str!("../migrations/0002_notifications.sql"),
    },
    Migration {
        version: 3,
        name: "scim",
        sql: include_str!("../migrations/0003_scim.sql"),
    },
];

/// Connects to `url` and brings the schema up to date.
pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
    Db::connect(url, MIGRATIONS).await
}
