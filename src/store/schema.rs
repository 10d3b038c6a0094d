//! The schema's version: applying the migrations this binary carries, and comparing them with
//! what a database has applied, so a rollout can migrate as a step of its own (`leadpool
//! migrate`) and a serving process can refuse a database it is too new for.

use std::collections::BTreeSet;

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The migrations compiled into this binary.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Applies pending migrations under sqlx's advisory lock, so replicas starting together are safe.
pub async fn migrate(db: &PgPool) -> Result<(), MigrateError> {
    MIGRATOR.run(db).await
}

/// Whether the database's `lower` folds letters beyond ASCII, as ILIKE and the search terms
/// need for `MÜLLER` to find `Müller`: not when its LC_CTYPE is C.
pub async fn folds_unicode_case(db: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT lower('MÜLLER') = 'müller' AS "folds!""#)
        .fetch_one(db)
        .await
}

/// How a database's applied migrations compare with this binary's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaStatus {
    /// This binary's migrations the database lacks: `(version, description)`, oldest first.
    pub pending: Vec<(i64, String)>,
    /// Migrations the database applied that this binary does not know (a newer release ran).
    pub unknown: Vec<i64>,
    /// Migrations that started and failed (sqlx records them as not successful).
    pub failed: Vec<i64>,
    /// The oldest binary (by its newest migration) a contract migration still lets run, when
    /// this binary is older than that: the schema is too new for it.
    pub requires_binary: Option<i64>,
}

impl SchemaStatus {
    pub fn up_to_date(&self) -> bool {
        self.pending.is_empty()
            && self.unknown.is_empty()
            && self.failed.is_empty()
            && self.requires_binary.is_none()
    }
}

/// Compares the database's applied migrations with this binary's, changing nothing.
pub async fn status(db: &PgPool) -> Result<SchemaStatus, sqlx::Error> {
    // Both tables are absent before the first migration run (and _sqlx_migrations is sqlx's,
    // not ours), so they are read at run time rather than checked at build time.
    let (migrated, required): (bool, bool) = sqlx::query_as(
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL,
                to_regclass('schema_requirements') IS NOT NULL",
    )
    .fetch_one(db)
    .await?;
    let applied: Vec<(i64, bool)> = if migrated {
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(db)
            .await?
    } else {
        Vec::new()
    };
    let min_binary: i64 = if required {
        sqlx::query_scalar("SELECT min_binary_migration FROM schema_requirements")
            .fetch_one(db)
            .await?
    } else {
        0
    };
    Ok(SchemaStatus {
        requires_binary: (min_binary > newest()).then_some(min_binary),
        ..compare(&applied)
    })
}

/// This binary's newest migration.
fn newest() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

fn compare(applied: &[(i64, bool)]) -> SchemaStatus {
    let ours: BTreeSet<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    let done: BTreeSet<i64> = applied.iter().map(|(v, _)| *v).collect();
    SchemaStatus {
        pending: MIGRATOR
            .iter()
            .filter(|m| !done.contains(&m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect(),
        unknown: done.difference(&ours).copied().collect(),
        failed: applied
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(v, _)| *v)
            .collect(),
        requires_binary: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_is_behind_ahead_or_level_with_the_binary() {
        let all: Vec<(i64, bool)> = MIGRATOR.iter().map(|m| (m.version, true)).collect();
        assert!(compare(&all).up_to_date());
        let behind = compare(&all[..all.len() - 1]);
        assert_eq!(behind.pending.len(), 1);
        assert_eq!(behind.pending[0].0, all[all.len() - 1].0);
        let mut ahead = all.clone();
        ahead.push((99_991_231_000_000, true));
        assert_eq!(compare(&ahead).unknown, [99_991_231_000_000]);
        let mut failed = all;
        failed.last_mut().expect("a migration").1 = false;
        assert!(!compare(&failed).up_to_date());
    }
}
