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
