//! `leadpool.v1.EventService`: the tenant's ownership history for other services, as pages
//! (`ListEvents`) and as a live stream (`WatchEvents`), both resumable from a cursor.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::{Context, auth, convert, event_cursor};
use crate::config::FollowSettings;
use crate::domain::DomainError;
use crate::domain::access::Actor;
use crate::domain::event::{EventKind, EventPosition};
use crate::domain::page::PageSize;
use crate::domain::validate::Validator;
use crate::proto;
use crate::proto::event_service_server::EventService;
use crate::proto::watch_events_response::Item;
use crate::store;
use crate::store::events::StreamFilter;
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

/// What a follower asked for, validated: where to start (`None`: now) and what to see.
struct Following {
    start: Option<EventPosition>,
    filter: StreamFilter,
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

    /// Checks the caller may follow this scope and resolves "now" to a position.
    async fn start(
        &self,
        actor: &Actor,
        following: &Following,
    ) -> Result<EventPosition, DomainError> {
        if let Some(pool_id) = following.filter.pool_id {
            let access =
                store::pools::access(&self.ctx.db, &actor.tenant_id, pool_id, &actor.user_id)
                    .await?;
            actor.require_pool_reader(pool_id, access.membership)?;
        }
        match following.start {
            Some(position) => Ok(position),
            None => store::events::horizon(&self.ctx.db).await,
        }
    }
}

/// The cursor and filters common to both calls. Without the `admin` or `service` role the
/// caller follows one pool, so `pool_id` is required.
fn following(
    v: &mut Validator,
    actor: &Actor,
    cursor: &str,
    from_now: bool,
    pool_id: &str,
    kinds: &[i32],
) -> Following {
    let start = event_cursor::parse(v, "cursor", cursor, from_now);
    let pool_id = v.optional_uuid("pool_id", pool_id);
    if pool_id.is_none() && !actor.reads_everything() {
        v.violation(
            "pool_id",
            "is required unless the caller has the admin or service role",
        );
    }
    let kinds = kind_filter(v, kinds);
    Following {
        start,
        filter: StreamFilter { pool_id, kinds },
    }
}

/// Event kinds to keep; each must be a known kind other than unspecified.
fn kind_filter(v: &mut Validator, kinds: &[i32]) -> Vec<EventKind> {
    let mut parsed: Vec<EventKind> = Vec::new();
    for &number in kinds {
        let kind = proto::EventKind::try_from(number).ok().and_then(|k| {
            k.as_str_name()
                .strip_prefix("EVENT_KIND_")
                .and_then(|name| EventKind::try_from(name).ok())
        });
        match kind {
            Some(kind) if !parsed.contains(&kind) => parsed.push(kind),
            Some(_) => {}
            None => v.violation(
                "kinds",
                format!("{number} is not an event kind; list known kinds, or none for all"),
            ),
        }
    }
    parsed
}

#[tonic::async_trait]
impl EventService for EventApi {
    #[tracing::instrument(skip_all, fields(rpc = "ListEvents"))]
    async fn list_events(
        &self,
        request: Request<proto::ListEventsRequest>,
    ) -> Result<Response<proto::ListEventsResponse>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let following = following(
            &mut v,
            &actor,
            &req.cursor,
            req.from_now,
            &req.pool_id,
            &req.kinds,
        );
        let page = PageSize::parse(&mut v, req.page_size);
        v.finish(())?;
        let start = self.start(&actor, &following).await?;
        if req.from_now {
            return Ok(Response::new(proto::ListEventsResponse {
                events: Vec::new(),
                next_cursor: event_cursor::encode(start),
            }));
        }
        let events = store::events::stream_page(
            &self.ctx.db,
            &actor.tenant_id,
            &following.filter,
            start,
            page.get(),
        )
        .await?;
        let next = events.next_position(start, page.get());
        Ok(Response::new(proto::ListEventsResponse {
            events: events.events.into_iter().map(convert::event).collect(),
            next_cursor: event_cursor::encode(next),
        }))
    }

    type WatchEventsStream = ReceiverStream<Result<proto::WatchEventsResponse, Status>>;

    #[tracing::instrument(skip_all, fields(rpc = "WatchEvents"))]
    async fn watch_events(
        &self,
        request: Request<proto::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let actor = auth::actor(&request)?;
        let req = request.into_inner();
        let mut v = Validator::new();
        let following = following(
            &mut v,
            &actor,
            &req.cursor,
            req.from_now,
            &req.pool_id,
            &req.kinds,
        );
        v.finish(())?;
        let position = self.start(&actor, &following).await?;
        let (items, receiver) = mpsc::channel(STREAM_BUFFER);
        let follower = Follower {
            ctx: self.ctx.clone(),
            tenant_id: actor.tenant_id,
            filter: following.filter,
            position,
            items,
            wake: self.wakeups.subscribe(),
            settings: self.settings,
            stop: self.stop.clone(),
        };
        tokio::spawn(follower.run());
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

/// One `WatchEvents` stream: reads a page below the horizon, hands it to the transport, and
/// when caught up waits for a wake-up, the poll interval or the heartbeat.
/// How soon a follower reads again when writers were still running at its last read.
const UNSETTLED_RECHECK: Duration = Duration::from_millis(50);

struct Follower {
    ctx: Context,
    tenant_id: String,
    filter: StreamFilter,
    /// After the last event handed over (or further, up to the horizon).
    position: EventPosition,
    items: mpsc::Sender<Result<proto::WatchEventsResponse, Status>>,
    wake: watch::Receiver<u64>,
    settings: FollowSettings,
    stop: CancellationToken,
}

/// Why an idle follower stopped waiting.
enum Woken {
    ReadAgain,
    HeartbeatDue,
    Done,
}

impl Follower {
    async fn run(mut self) {
        let _following = self.ctx.metrics.follow();
        let mut last_sent = Instant::now();
        while !self.stop.is_cancelled() {
            // Marked before reading, so a wake-up during the read means another read.
            self.wake.borrow_and_update();
            let page = match store::events::stream_page(
                &self.ctx.db,
                &self.tenant_id,
                &self.filter,
                self.position,
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
                let item = proto::WatchEventsResponse {
                    cursor: event_cursor::encode(event.position),
                    item: Some(Item::Event(convert::event(event))),
                };
                if !self.send(Ok(item)).await {
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
                    let heartbeat = proto::WatchEventsResponse {
                        cursor: event_cursor::encode(self.position),
                        item: Some(Item::Heartbeat(proto::Heartbeat {
                            sent_at: Some(convert::timestamp(self.ctx.clock.now())),
                        })),
                    };
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
    async fn send(&self, item: Result<proto::WatchEventsResponse, Status>) -> bool {
        tokio::select! {
            biased;
            () = self.stop.cancelled() => false,
            sent = self.items.send(item) => sent.is_ok(),
        }
    }
}
