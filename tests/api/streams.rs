//! Following events: reading a WatchEvents stream item by item, bounded so that a broken
//! stream fails the test instead of hanging it.

use std::future::Future;
use std::time::Duration;

use leadpool::proto;
use leadpool::proto::watch_events_response::Item;
use tonic::Streaming;

use crate::caller::Client;

pub type Stream = Streaming<proto::WatchEventsResponse>;

/// A safety net so a broken stream fails the test instead of hanging it; nothing waits on it.
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// A stream of the events after `cursor` ("": from the start).
pub async fn watch(who: &Client, cursor: &str) -> Stream {
    who.watch(proto::WatchEventsRequest {
        cursor: cursor.into(),
        ..Default::default()
    })
    .await
}

/// A stream of the events of this kind written from now on.
pub async fn watch_from_now(who: &Client, kind: proto::EventKind) -> Stream {
    who.watch(proto::WatchEventsRequest {
        from_now: true,
        kinds: vec![kind.into()],
        ..Default::default()
    })
    .await
}

pub async fn next_item(stream: &mut Stream) -> proto::WatchEventsResponse {
    within("a stream item", stream.message())
        .await
        .expect("stream ok")
        .expect("stream open")
}

/// The next event, skipping heartbeats.
pub async fn next_event(stream: &mut Stream) -> proto::LeadEvent {
    loop {
        let item = next_item(stream).await;
        assert!(!item.cursor.is_empty(), "every item carries a cursor");
        match item.item {
            Some(Item::Event(event)) => {
                assert_eq!(event.cursor, item.cursor);
                return event;
            }
            Some(Item::Heartbeat(_)) => {}
            None => panic!("an empty stream item"),
        }
    }
}

/// The next item is a heartbeat: nothing else is waiting to be delivered.
pub async fn expect_heartbeat(stream: &mut Stream) -> String {
    let item = next_item(stream).await;
    match item.item {
        Some(Item::Heartbeat(heartbeat)) => {
            assert!(heartbeat.sent_at.is_some());
            item.cursor
        }
        other => panic!("expected a heartbeat, got {other:?}"),
    }
}
