//! Several replicas over one database: a follower on one replica learns of writes made through
//! another without waiting for its poll.

use leadpool::proto;
use leadpool::proto::watch_events_response::Item;

use crate::fixtures;
use crate::harness::quiet_follower_settings;
use crate::streams::{next_item, watch_from_now};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_through_one_replica_wake_followers_of_another() {
    let (app, team) = fixtures::app_with_team(None).await;
    let first = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let second = fixtures::lead(&app, &team.pool.id, "Li Na").await;
    // This replica never polls and never sends heartbeats: only an announcement can wake it.
    let replica = app.spawn_replica(quiet_follower_settings()).await;
    let service = app.as_service().on(replica.channel.clone());
    let mut follower = watch_from_now(&service, proto::EventKind::Claimed).await;
    // The first claim may reach the follower through its opening read; once it has, the
    // stream is idle, and the second can only arrive through a wake-up.
    for lead in [&first, &second] {
        app.as_member("alice").claim(&lead.id).await;
        let item = next_item(&mut follower).await;
        let Some(Item::Event(event)) = item.item else {
            panic!("expected the claim, got {item:?}");
        };
        assert_eq!(
            (&event.lead_id, event.to_owner.as_str()),
            (&lead.id, "alice")
        );
    }
}
