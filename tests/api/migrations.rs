//! Replicas starting together on a fresh database each run the migrations before serving (as
//! three pods of a new Deployment do). sqlx takes a PostgreSQL advisory lock per database around
//! the whole run, so one applies them while the others wait, then find them applied.

use std::future::Future;

use futures::future::join_all;
use leadpool::proto;
use tonic::{Code, Status};

use crate::fixtures;
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

/// More than the test server's connections (10): each may hold a statement made stale once.
const ATTEMPTS: usize = 12;

/// Failures before `call` answered, each of them UNAVAILABLE; the answer.
async fn retried<T, F>(call: impl Fn() -> F) -> (usize, T)
where
    F: Future<Output = Result<T, Status>>,
{
    for failures in 0..ATTEMPTS {
        match call().await {
            Ok(answer) => return (failures, answer),
            Err(status) => assert_eq!(status.code(), Code::Unavailable, "{status:?}"),
        }
    }
    panic!("no answer in {ATTEMPTS} attempts");
}

/// The next release's expand migration (a column added to `leads` and to `pools`) runs while
/// this binary serves. PostgreSQL refuses the statements this binary's connections prepared
/// before ("cached plan must not change result type"): such a call answers UNAVAILABLE, never
/// INTERNAL, and changes nothing; the pool drops the connections opened before, and a retry
/// answers as before the migration. (The computed columns come before `l.*` and `p.*`, so a
/// statement prepared anew still finds each column where this binary reads it.)
#[tokio::test]
async fn an_expand_migration_while_serving_costs_a_retry_never_a_wrong_answer() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    let alice = app.as_member("alice");
    let listing = proto::ListLeadsRequest {
        pool_id: team.pool.id.clone(),
        ..Default::default()
    };
    // Every connection of the pool prepares the statements.
    let (mut lead_before, mut pool_before, mut list_before) = Default::default();
    for _ in 0..ATTEMPTS {
        lead_before = alice.get_lead(&lead.id).await;
        pool_before = alice.get_pool(&team.pool.id).await;
        list_before = alice.list_leads(listing.clone()).await;
    }
    sqlx::raw_sql(
        "ALTER TABLE leads ADD COLUMN next_release_note text NOT NULL DEFAULT 'note';
         ALTER TABLE pools ADD COLUMN next_release_flag text NOT NULL DEFAULT 'flag'",
    )
    .execute(&app.db)
    .await
    .expect("expand migration");

    let (lead_failures, lead_after) = retried(|| alice.try_get_lead(&lead.id)).await;
    assert_eq!(lead_after, lead_before);
    let (pool_failures, pool_after) = retried(|| alice.try_get_pool(&team.pool.id)).await;
    assert_eq!(pool_after, pool_before);
    let (list_failures, list_after) = retried(|| alice.try_list_leads(listing.clone())).await;
    assert_eq!(list_after, list_before);
    assert!(
        lead_failures + pool_failures + list_failures > 0,
        "no statement was stale: the test did not run what it is about"
    );
    let (_, claimed) = retried(|| alice.try_claim(&lead.id)).await;
    assert_eq!(
        (claimed.owner_id.as_str(), claimed.name.as_str()),
        ("alice", "Wang Wei")
    );
    fixtures::assert_consistent(&app).await;
}
