//! A calendar change with `reschedule_owned` while members claim: once the call has answered,
//! every owned lead carries the deadline the new calendar gives, whichever claim overlapped it.

use std::sync::atomic::{AtomicUsize, Ordering};

use leadpool::proto;
use tokio::sync::Notify;

use crate::business_deadlines::{follow_up_pool, shanghai};
use crate::fixtures;
use crate::harness::TestApp;

/// Owned leads whose follow-up deadline is not the one their pool's rules give now.
async fn off_the_rules(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM leads l JOIN pools p ON p.tenant_id = l.tenant_id AND p.id = l.pool_id
         WHERE l.state = 'OWNED' AND l.follow_up_deadline IS DISTINCT FROM
               follow_up_deadline(p, l.grade, GREATEST(l.acquired_at, l.last_follow_up_at))",
    )
    .fetch_one(&app.db)
    .await
    .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_racing_a_calendar_change_end_with_its_deadlines() {
    const LEADS: usize = 240;
    const CLAIMERS: usize = 8;
    let app = TestApp::spawn().await;
    let pool = follow_up_pool(&app, 3).await;
    app.clock.set(shanghai(2027, 2, 5, 15, 0));
    let leads = fixtures::leads(&app, &pool.id, LEADS).await;
    let (claimed, started) = (AtomicUsize::new(0), Notify::new());

    let claims = futures::future::join_all((0..CLAIMERS).map(|n| {
        let (leads, claimed, started) = (&leads, &claimed, &started);
        let member = app.as_member(if n % 2 == 0 { "alice" } else { "bob" });
        async move {
            for lead in leads.iter().skip(n).step_by(CLAIMERS) {
                member.claim(lead).await;
                if claimed.fetch_add(1, Ordering::SeqCst) + 1 == LEADS / 6 {
                    started.notify_one();
                }
            }
        }
    }));
    let change = async {
        started.notified().await;
        let festival_worked = proto::Calendar {
            id: pool.calendar_id.clone(),
            ..Default::default()
        };
        app.as_admin()
            .reschedule_calendar(festival_worked, &["holidays"])
            .await
    };
    let ((), rescheduled) = tokio::join!(
        async {
            claims.await;
        },
        change
    );

    assert!(
        rescheduled > 0,
        "the change found owned leads to reschedule"
    );
    assert_eq!(fixtures::held_count(&app, &pool.id, "alice").await, 120);
    assert_eq!(off_the_rules(&app).await, 0);
    fixtures::assert_consistent(&app).await;
}
