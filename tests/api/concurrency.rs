//! One owner per lead and caps, under many concurrent clients; afterwards the database is
//! checked directly, including that the events replay to the current owners.

use futures::future::join_all;
use tonic::Code;

use crate::fixtures;
use crate::harness::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_members_racing_for_the_same_leads_never_break_one_owner_or_caps() {
    let app = TestApp::spawn().await;
    let cap = 3;
    let (members, leads) = fixtures::crowd(&app, Some(cap), 16, 30).await;

    // Every member tries every lead, each in a different order.
    let tasks = members.into_iter().enumerate().map(|(i, member)| {
        let mut order = leads.clone();
        order.rotate_left(i * 7 % leads.len());
        tokio::spawn(async move {
            let mut codes = Vec::new();
            for lead_id in order {
                let result = member.try_claim(&lead_id).await;
                codes.push(result.map(drop).map_err(|s| s.code()));
            }
            codes
        })
    });
    let results: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.expect("task"))
        .collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(Code::FailedPrecondition))),
        "every loser gets a clean FAILED_PRECONDITION: {results:?}"
    );

    let owned = fixtures::owned_count(&app).await;
    assert_eq!(wins as i64, owned, "one success per owned lead");
    assert_eq!(owned, 30, "16 reps × cap 3 ≥ 30 leads: every lead is taken");
    let over_cap: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT owner_id FROM leads WHERE owner_id IS NOT NULL
                               GROUP BY owner_id HAVING count(*) > $1) o",
    )
    .bind(i64::from(cap))
    .fetch_one(&app.db)
    .await
    .expect("caps");
    assert_eq!(over_cap, 0, "nobody over the cap");
    fixtures::assert_one_claim_event_per_owned_lead(&app).await;
    fixtures::assert_consistent(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_member_claiming_in_parallel_stops_exactly_at_the_cap() {
    let app = TestApp::spawn().await;
    let (members, leads) = fixtures::crowd(&app, Some(5), 1, 32).await;
    let results = fixtures::claim_at_once(&members[0], leads).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(Code::FailedPrecondition)))
    );
    let held: i32 = sqlx::query_scalar("SELECT held_count FROM members WHERE user_id = 'rep00'")
        .fetch_one(&app.db)
        .await
        .expect("held");
    assert_eq!(held, 5);
    fixtures::assert_consistent(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_and_releases_keep_counts_and_history_consistent() {
    let app = TestApp::spawn().await;
    let (members, leads) = fixtures::crowd(&app, Some(4), 8, 12).await;
    let tasks = members
        .into_iter()
        .enumerate()
        .map(|(i, member)| tokio::spawn(fixtures::churn(member, i, leads.clone(), 6)));
    for task in join_all(tasks).await {
        task.expect("task");
    }
    fixtures::assert_consistent(&app).await;
}

/// A discard that waited for the lock of a lead being transferred from alice to bob (who held
/// none) lowers bob's count as it read it before the wait: PostgreSQL checks `held_count >= 0`
/// on that row before it notices the newer one. The service runs the discard again, as api.md
/// has it ("after retries"), so the caller gets the discard, not `ABORTED`; every count is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discard_that_waited_out_a_transfer_runs_again_and_discards() {
    let (app, team, lead) = fixtures::app_with_lead(None).await;
    app.as_member("alice").claim(&lead.id).await;
    // The transfer's writes, as TransferLeads makes them, in a transaction held open.
    let mut transfer = app.db.begin().await.expect("begin");
    for statement in [
        "SELECT 1 FROM leads WHERE id = $1::uuid FOR UPDATE",
        "UPDATE members m SET held_count = held_count + CASE user_id WHEN 'bob' THEN 1 ELSE -1 END
         FROM leads l WHERE l.id = $1::uuid AND m.pool_id = l.pool_id
           AND m.user_id IN ('alice', 'bob')",
        "UPDATE leads SET owner_id = 'bob', version = version + 1 WHERE id = $1::uuid",
        "INSERT INTO lead_events (tenant_id, lead_id, pool_id, kind, from_owner, to_owner, actor,
                                  occurred_at)
         SELECT tenant_id, id, pool_id, 'TRANSFERRED', 'alice', 'bob', 'mia', now()
         FROM leads WHERE id = $1::uuid",
    ] {
        sqlx::query(statement)
            .bind(&lead.id)
            .execute(&mut *transfer)
            .await
            .expect(statement);
    }
    let mia = app.as_member("mia");
    let discard = tokio::spawn({
        let (mia, lead_id) = (mia.clone(), lead.id.clone());
        async move { mia.try_discard(&lead_id, "WRONG_NUMBER").await }
    });
    app.until_a_statement_waits_on_a_lock().await;
    transfer.commit().await.expect("commit");
    // The first run fails on its stale held count; the service runs the discard again on the
    // lead as the transfer left it, and the caller never hears of the conflict.
    let discarded = discard
        .await
        .expect("task")
        .expect("the discard, run again");
    assert_eq!(discarded.state(), leadpool::proto::LeadState::Discarded);
    assert_eq!(discarded.previous_owner_id, "bob");
    for user in ["alice", "bob"] {
        assert_eq!(
            fixtures::held_count(&app, &team.pool.id, user).await,
            0,
            "{user}"
        );
    }
    fixtures::assert_consistent(&app).await;
}

/// Transfers that swap leads between alice and bob at the same time lock the two members' rows
/// in one order, so neither waits for the other (PostgreSQL would find a deadlock after a
/// second and abort one, which the service would then run again).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crossing_transfers_never_deadlock() {
    const ROUNDS: usize = 20;
    let (app, team) = fixtures::app_with_team(None).await;
    let mut held = Vec::new();
    for owner in ["alice", "bob"] {
        let mut leads = Vec::new();
        for i in 0..ROUNDS {
            let lead = fixtures::lead(&app, &team.pool.id, &format!("{owner} {i}")).await;
            app.as_member(owner).claim(&lead.id).await;
            leads.push(lead.id);
        }
        held.push(leads);
    }
    let mia = app.as_member("mia");
    for (alices, bobs) in held[0].iter().zip(&held[1]) {
        let (to_bob, to_alice) = ([alices.as_str()], [bobs.as_str()]);
        tokio::join!(
            mia.transfer(&to_bob, "bob"),
            mia.transfer(&to_alice, "alice")
        );
    }
    assert_eq!(
        app.conflict_retries().await,
        0,
        "a transfer was run again after a conflict"
    );
    for user in ["alice", "bob"] {
        let count = fixtures::held_count(&app, &team.pool.id, user).await;
        assert_eq!(count, ROUNDS as i32, "{user}");
    }
    fixtures::assert_consistent(&app).await;
}
