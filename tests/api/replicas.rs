//! Several replicas over one database: a follower on one replica learns of writes made through
//! another without waiting for its poll.

use std::time::Duration;

use leadpool::config::{FollowSettings, Settings};
use leadpool::proto;
use leadpool::proto::event_service_client::EventServiceClient;
use leadpool::proto::watch_events_response::Item;

use crate::fixtures::{self, service, user};
use crate::harness::{TestApp, test_settings};

#[tokio::test]
async fn writes_through_one_replica_wake_followers_of_another() {
    let app = TestApp::spawn().await;
    let team = fixtures::team(&app, None).await;
    let first = fixtures::lead(&app, &team.pool.id, "Wang Wei").await;
    let second = fixtures::lead(&app, &team.pool.id, "Li Na").await;
    // This replica never polls and never sends heartbeats: only an announcement can wake it.
    let quiet = Settings {
        follow: FollowSettings {
            heartbeat_interval: Duration::from_secs(3_600),
            poll_interval: Duration::from_secs(3_600),
        },
        ..test_settings()
    };
    let replica = app.spawn_replica(quiet).await;
    let mut follower = EventServiceClient::new(replica.channel.clone())
        .watch_events(service().req(proto::WatchEventsRequest {
            from_now: true,
            kinds: vec![proto::EventKind::Claimed.into()],
            ..Default::default()
        }))
        .await
        .expect("watch")
        .into_inner();
    // The first claim may reach the follower through its opening read; once it has, the
    // stream is idle, and the second can only arrive through a wake-up.
    for lead in [&first, &second] {
        fixtures::claim(&app, &user("alice"), &lead.id).await;
        // A bound on a broken wake-up path, not a wait for time to pass.
        let item = tokio::time::timeout(Duration::from_secs(30), follower.message())
            .await
            .expect("woken by the other replica's announcement")
            .expect("stream ok")
            .expect("an item");
        let Some(Item::Event(event)) = item.item else {
            panic!("expected the claim, got {item:?}");
        };
        assert_eq!(
            (&event.lead_id, event.to_owner.as_str()),
            (&lead.id, "alice")
        );
    }
}
