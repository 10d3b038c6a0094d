//! Aging: a lead left in the public pool for the pool's `unclaimed_alert_after` gets one
//! `POOL_AGING` event per pool entry, written by the sweep, once whoever sweeps.

use chrono::Duration;
use leadpool::proto;
use prost_types::Duration as WireDuration;

use crate::fixtures;
use crate::harness::TestApp;

#[tokio::test]
async fn a_lead_left_in_the_pool_is_alerted_once_per_entry() {
    let app = TestApp::spawn().await;
    let rules = proto::CreatePoolRequest {
        unclaimed_alert_after: Some(WireDuration {
            seconds: 2 * 3600,
            nanos: 0,
        }),
        ..Default::default()
    };
    let pool = fixtures::pool_with(&app, "East China", rules).await;
    let quiet = fixtures::pool(&app, "No alerts", None).await;
    let old = fixtures::lead(&app, &pool.id, "王伟").await.id;
    let unwatched = fixtures::lead(&app, &quiet.id, "李娜").await.id;
    app.clock.advance(Duration::hours(1));
    let fresh = fixtures::lead(&app, &pool.id, "Anna Schmidt").await.id;
    let sweep = async || {
        app.as_admin().run_recycle("", false).await;
    };

    app.clock.advance(Duration::hours(1));
    // Two sweeps at once, as two replicas' schedulers: one alert.
    futures::join!(sweep(), sweep());
    assert_eq!(
        fixtures::event_kinds(&app, &old).await,
        ["CREATED", "POOL_AGING"]
    );
    assert_eq!(fixtures::event_kinds(&app, &fresh).await, ["CREATED"]);
    app.clock.advance(Duration::hours(1));
    sweep().await;
    assert_eq!(
        fixtures::event_kinds(&app, &fresh).await,
        ["CREATED", "POOL_AGING"]
    );

    // Claimed and released, the lead enters the pool again: a new entry, a new alert in time.
    let alice = app.as_member("alice");
    alice.claim(&old).await;
    alice.release(&old, "NO_INTENT").await;
    app.clock.advance(Duration::hours(1));
    sweep().await;
    assert_eq!(
        fixtures::event_kinds(&app, &old).await,
        ["CREATED", "POOL_AGING", "CLAIMED", "RELEASED"]
    );
    app.clock.advance(Duration::hours(1));
    sweep().await;
    assert_eq!(
        fixtures::event_kinds(&app, &old).await,
        ["CREATED", "POOL_AGING", "CLAIMED", "RELEASED", "POOL_AGING"]
    );
    assert_eq!(fixtures::event_kinds(&app, &unwatched).await, ["CREATED"]);
    fixtures::assert_consistent(&app).await;
}
