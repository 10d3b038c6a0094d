//! A tenant's business calendars.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::db_error;
use crate::domain::calendar::{Calendar, NamedCalendar};
use crate::domain::{DomainError, Result};

struct CalendarRow {
    id: Uuid,
    name: String,
    definition: serde_json::Value,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<CalendarRow> for NamedCalendar {
    type Error = DomainError;

    /// Reading a definition validates it again (see `Calendar`'s `Deserialize`).
    fn try_from(row: CalendarRow) -> Result<Self> {
        let calendar: Calendar =
            serde_json::from_value(row.definition).map_err(DomainError::internal_from)?;
        Ok(Self {
            id: row.id,
            name: row.name,
            calendar,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn definition(calendar: &Calendar) -> Result<serde_json::Value> {
    serde_json::to_value(calendar).map_err(DomainError::internal_from)
}

#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn create(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    name: &str,
    calendar: &Calendar,
    now: DateTime<Utc>,
) -> Result<NamedCalendar> {
    sqlx::query_as!(
        CalendarRow,
        r#"INSERT INTO calendars (tenant_id, id, name, definition, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $5)
           RETURNING id, name, definition, version, created_at, updated_at"#,
        tenant_id,
        Uuid::now_v7(),
        name,
        definition(calendar)?,
        now,
    )
    .fetch_one(db)
    .await
    .map_err(db_error)?
    .try_into()
}

/// The calendar; `CALENDAR_NOT_FOUND` for unknown or foreign ids.
#[tracing::instrument(skip_all, fields(tenant_id, %id))]
pub async fn get(db: impl PgExecutor<'_>, tenant_id: &str, id: Uuid) -> Result<NamedCalendar> {
    sqlx::query_as!(
        CalendarRow,
        r#"SELECT id, name, definition, version, created_at, updated_at FROM calendars
           WHERE tenant_id = $1 AND id = $2"#,
        tenant_id,
        id,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?
    .ok_or(DomainError::CalendarNotFound(id))?
    .try_into()
}

/// Calendars by name then id, after `after`.
#[tracing::instrument(skip_all, fields(tenant_id))]
pub async fn list(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<Vec<NamedCalendar>> {
    let (after_name, after_id) = after.unzip();
    sqlx::query_as!(
        CalendarRow,
        r#"SELECT id, name, definition, version, created_at, updated_at FROM calendars
           WHERE tenant_id = $1 AND ($2::text IS NULL OR (name, id) > ($2, $3))
           ORDER BY name, id
           LIMIT $4"#,
        tenant_id,
        after_name,
        after_id,
        limit,
    )
    .fetch_all(db)
    .await
    .map_err(db_error)?
    .into_iter()
    .map(NamedCalendar::try_from)
    .collect()
}

/// Writes the calendar's name and definition if it is still at `named.version`, the version it
/// was read at. `None`: it changed (or went) since it was read.
#[tracing::instrument(skip_all, fields(tenant_id, id = %named.id))]
pub async fn update(
    db: impl PgExecutor<'_>,
    tenant_id: &str,
    named: &NamedCalendar,
    now: DateTime<Utc>,
) -> Result<Option<NamedCalendar>> {
    sqlx::query_as!(
        CalendarRow,
        r#"UPDATE calendars
           SET name = $3, definition = $4, version = version + 1, updated_at = $5
           WHERE tenant_id = $1 AND id = $2 AND version = $6
           RETURNING id, name, definition, version, created_at, updated_at"#,
        tenant_id,
        named.id,
        named.name,
        definition(&named.calendar)?,
        now,
        named.version,
    )
    .fetch_optional(db)
    .await
    .map_err(db_error)?
    .map(NamedCalendar::try_from)
    .transpose()
}

/// Deletes the calendar: `CALENDAR_IN_USE` while a pool names it (the pools' foreign key
/// decides, so a pool naming it concurrently cannot slip in between).
#[tracing::instrument(skip_all, fields(tenant_id, %id))]
pub async fn delete(db: impl PgExecutor<'_>, tenant_id: &str, id: Uuid) -> Result<()> {
    let deleted = sqlx::query!(
        "DELETE FROM calendars WHERE tenant_id = $1 AND id = $2",
        tenant_id,
        id,
    )
    .execute(db)
    .await
    .map_err(|err| match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            DomainError::CalendarInUse(id)
        }
        _ => db_error(err),
    })?;
    match deleted.rows_affected() {
        0 => Err(DomainError::CalendarNotFound(id)),
        _ => Ok(()),
    }
}
