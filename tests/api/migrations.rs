//! Replicas starting together on a fresh database each run the migrations before serving (as
//! three pods of a new Deployment do). sqlx takes a PostgreSQL advisory lock per database around
//! the whole run, so one applies them while the others wait, then find them applied.

use futures::future::join_all;

use crate::harness::{self, EmptyDatabase};

/// The Deployment's replica count.
const REPLICAS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_migrating_one_fresh_database_at_once_all_start() {
    let db = EmptyDatabase::create().await;
    // Connect every replica first, so their migration runs start together.
    let replicas = join_all((0..REPLICAS).map(|_| harness::connect(db.options.clone(), 2))).await;
    for outcome in join_all(replicas.iter().map(harness::migrate)).await {
        outcome.expect("every replica's migration run succeeds");
    }
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&replicas[0])
            .await
            .expect("applied migrations");
    let expected: Vec<(i64, bool)> = sqlx::migrate!("./migrations")
        .iter()
        .map(|m| (m.version, true))
        .collect();
    assert_eq!(applied, expected, "each migration applied once");
}

#[tokio::test]
async fn a_contract_migration_past_this_binary_makes_the_schema_too_new_for_it() {
    let app = crate::harness::TestApp::spawn().await;
    let status = leadpool::store::schema::status(&app.db)
        .await
        .expect("status");
    assert!(status.up_to_date(), "{status:?}");
    // A later release's contract migration: binaries older than its migration may not run.
    sqlx::query("UPDATE schema_requirements SET min_binary_migration = 99991231000000")
        .execute(&app.db)
        .await
        .expect("a contract migration");
    let status = leadpool::store::schema::status(&app.db)
        .await
        .expect("status");
    assert_eq!(status.requires_binary, Some(99_991_231_000_000));
    assert!(!status.up_to_date());
}
