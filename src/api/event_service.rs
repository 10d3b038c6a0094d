//! `leadpool.v1.EventService`: the tenant's ownership history for other services, as pages
//! (`ListEvents`) and as a live stream (`WatchEvents`), both resumable from a cursor.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::Reply;
use super::{Context, auth, convert};
use crate::config::FollowSettings;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::event::{EventPosition, StreamFilter};
use crate::proto::event_service_server::EventService;
use crate::proto::{
    ListEventsRequest, ListEventsResponse, WatchEventsRequest, WatchEventsResponse,
};
use crate::service::{deadline, events};
use crate::wakeups::Wakeups;

/// Events one stream reads at a time; it reads the next page only once these are handed to
/// the transport, so a slow follower holds at most this many plus [`STREAM_BUFFER`].
const WATCH_PAGE_SIZE: usize = 100;
/// Items waiting for the transport per stream.
const STREAM_BUFFER: usize = 16;

/// How streams keep followers informed.
#[derive(Debug, Clone)]
pub struct EventApi {
    ctx: Context,
    wakeups: Wakeups,
    settings: FollowSettings,
    /// Cancelled as the server shuts down: streams end so followers reconnect elsewhere.
    stop: CancellationToken,
}

impl EventApi {
    pub fn new(
        ctx: Context,
        wakeups: Wakeups,
        settings: FollowSettings,
        stop: CancellationToken,
    ) -> Self {
        Self {
            ctx,
            wakeups,
            settings,
            stop,
        }
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    #[tracing::instrument(skip_all, fields(rpc = "ListEvents"))]
    async fn list_events(&self, request: Request<ListEventsRequest>) -> Reply<ListEventsResponse> {
        let actor = auth::actor(&request)?;
        let (following, page) = convert::list_events_query(request.get_ref(), &actor)?;
        let page = events::list(&self.ctx, &actor, &following, page).await?;
        Ok(Response::new(convert::list_events_response(page)))
    }

    type WatchEventsStream = ReceiverStream<Result<WatchEventsResponse, Status>>;

    #[tracing::instrument(skip_all, fields(rpc = "WatchEvents"))]
    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Reply<Self::WatchEventsStream> {
        let actor = auth::actor(&request)?;
        let following = convert::watch_events_query(request.get_ref(), &actor)?;
        let feed = events::start(&self.ctx, &actor, &following).await?;
        let (items, receiver) = mpsc::channel(STREAM_BUFFER);
        let follower = Follower {
            ctx: self.ctx.clone(),
            actor,
            filter: feed.filter,
            position: feed.position,
            items,
            wake: self.wakeups.subscribe(),
            settings: self.settings,
            stop: self.stop.clone(),
            ends_at: deadline::instant(),
        };
        tokio::spawn(follower.run());
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

/// How soon a follower reads again when writers were still running at its last read.
const UNSETTLED_RECHECK: Duration = Duration::from_millis(50);

/// One `WatchEvents` stream: reads a page below the horizon, hands it to the transport, and
/// when caught up waits for a wake-up, the poll interval or the heartbeat.
struct Follower {
    ctx: Context,
    actor: Actor,
    filter: StreamFilter,
    /// After the last event handed over (or further, up to the horizon).
    position: EventPosition,
    items: mpsc::Sender<Result<WatchEventsResponse, Status>>,
    wake: watch::Receiver<u64>,
    settings: FollowSettings,
    stop: CancellationToken,
    /// The caller's deadline, which bounds the whole call, a stream too.
    ends_at: Option<Instant>,
}

/// Why an idle follower stopped waiting.
enum Woken {
    ReadAgain,
    HeartbeatDue,
    Done,
}

impl Follower {
    /// Follows until the caller leaves, the server stops, or the caller's deadline passes: then
    /// the stream ends with `DEADLINE_EXCEEDED`.
    async fn run(self) {
        let _following = self.ctx.metrics.follow();
        let Some(ends_at) = self.ends_at else {
            return self.follow().await;
        };
        let (items, stop) = (self.items.clone(), self.stop.clone());
        tokio::select! {
            () = self.follow() => {}
            () = tokio::time::sleep_until(ends_at) => {
                let ended = items.send(Err(DomainError::DeadlineExceeded.into()));
                tokio::select! {
                    // A caller that left has no use for the answer.
                    _ = ended => {}
                    () = stop.cancelled() => {}
                }
            }
        }
    }

    async fn follow(mut self) {
        let mut last_sent = Instant::now();
        while !self.stop.is_cancelled() {
            // Marked before reading, so a wake-up during the read means another read.
            self.wake.borrow_and_update();
            let page = match events::page_after(
                &self.ctx,
                &self.actor,
                self.position,
                &self.filter,
                WATCH_PAGE_SIZE,
            )
            .await
            {
                Ok(page) => page,
                Err(err) => {
                    self.send(Err(err.into())).await;
                    return;
                }
            };
            if let Some(oldest) = page.events.first() {
                let age = self.ctx.clock.now() - oldest.occurred_at;
                self.ctx.metrics.record_follower_lag(age);
            }
            let next = page.next_position(self.position, WATCH_PAGE_SIZE);
            let settled = page.settled;
            let caught_up = page.events.len() < WATCH_PAGE_SIZE;
            for event in page.events {
                self.position = event.position;
                if !self.send(Ok(convert::watched_event(event))).await {
                    return;
                }
                last_sent = Instant::now();
            }
            self.position = next;
            if !caught_up {
                continue;
            }
            match self
                .idle(last_sent + self.settings.heartbeat_interval, settled)
                .await
            {
                Woken::ReadAgain => {}
                Woken::HeartbeatDue => {
                    let heartbeat = convert::heartbeat(self.position, self.ctx.clock.now());
                    if !self.send(Ok(heartbeat)).await {
                        return;
                    }
                    last_sent = Instant::now();
                }
                Woken::Done => return,
            }
        }
    }

    /// Waits for a wake-up, the poll, or the heartbeat. While writers were running at the last
    /// read (`settled` false), events they commit may be held back from that read and their
    /// wake-up already spent, so the follower looks again soon instead of at the next poll.
    async fn idle(&mut self, heartbeat_at: Instant, settled: bool) -> Woken {
        let poll = if settled {
            self.settings.poll_interval
        } else {
            self.settings.poll_interval.min(UNSETTLED_RECHECK)
        };
        tokio::select! {
            () = self.stop.cancelled() => Woken::Done,
            () = self.items.closed() => Woken::Done,
            Ok(()) = self.wake.changed() => Woken::ReadAgain,
            () = tokio::time::sleep(poll) => Woken::ReadAgain,
            () = tokio::time::sleep_until(heartbeat_at) => Woken::HeartbeatDue,
        }
    }

    /// Waits for room in the stream; false once the follower left or the server stops.
    async fn send(&self, item: Result<WatchEventsResponse, Status>) -> bool {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => false,
            sent = self.items.send(item) => sent.is_ok(),
        }
    }
}
