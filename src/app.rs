//! The server: our gRPC services plus health and reflection, bound before it runs so callers
//! (and tests on port 0) learn the address first.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::service::{Routes, RoutesBuilder};
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_reflection::server::{v1, v1alpha};
use tower::util::MapResponseLayer;
use tower_http::trace::TraceLayer;

use crate::api::auth::{AuthConfigError, AuthLayer, Authentication};
use crate::api::deadline::DeadlineLayer;
use crate::api::{
    AssignmentApi, AvailabilityApi, CalendarApi, EventApi, LeadApi, PoolApi, RecycleApi, ReportApi,
};
use crate::api::{web, wire_errors};
use crate::config::Settings;
use crate::metrics::rpc::RpcMetricsLayer;
use crate::proto::assignment_service_server::AssignmentServiceServer;
use crate::proto::availability_service_server::AvailabilityServiceServer;
use crate::proto::calendar_service_server::CalendarServiceServer;
use crate::proto::event_service_server::EventServiceServer;
use crate::proto::lead_service_server::LeadServiceServer;
use crate::proto::pool_service_server::PoolServiceServer;
use crate::proto::recycle_service_server::RecycleServiceServer;
use crate::proto::report_service_server::ReportServiceServer;
use crate::service::Context;
use crate::wakeups;
use crate::{metrics, scheduler, store, telemetry};

/// Names the health service answers for: the whole server ("") and each of our services. They are
/// `SERVING` while the database answers and turn `NOT_SERVING` as shutdown begins (readiness).
const HEALTH_NAMES: &[&str] = &[
    "",
    "leadpool.v1.PoolService",
    "leadpool.v1.LeadService",
    "leadpool.v1.EventService",
    "leadpool.v1.RecycleService",
    "leadpool.v1.AssignmentService",
    "leadpool.v1.CalendarService",
    "leadpool.v1.AvailabilityService",
    "leadpool.v1.ReportService",
];

/// The name that is `SERVING` as long as the server answers at all, whatever the database does:
/// a liveness probe on it restarts a wedged process, but not every replica when the database is
/// down (that is what readiness on the names above is for).
pub const LIVENESS: &str = "liveness";

pub struct App {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    ctx: Context,
    settings: Settings,
    authentication: Authentication,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the listener's address: {0}")]
    LocalAddr(#[from] std::io::Error),
    #[error("cannot verify bearer tokens: {0}")]
    Auth(#[from] AuthConfigError),
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

impl App {
    pub async fn bind(
        addr: SocketAddr,
        ctx: Context,
        settings: Settings,
    ) -> Result<Self, AppError> {
        let authentication = Authentication::new(&settings.auth)?;
        let listener = listen(addr).await?;
        let metrics_listener = match settings.metrics_listen {
            Some(addr) => Some(listen(addr).await?),
            None => None,
        };
        Ok(Self {
            listener,
            metrics_listener,
            ctx,
            settings,
            authentication,
        })
    }

    /// How callers are identified, for the startup log.
    pub fn authentication(&self) -> &Authentication {
        &self.authentication
    }

    pub fn local_addr(&self) -> Result<SocketAddr, AppError> {
        Ok(self.listener.local_addr()?)
    }

    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_addr(&self) -> Result<Option<SocketAddr>, AppError> {
        Ok(self
            .metrics_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?)
    }

    /// Serves until `shutdown` completes: health turns `NOT_SERVING` first, calls are still
    /// accepted for the shutdown delay, then `WatchEvents` streams end and the schedulers stop
    /// after their current batch, in-flight calls finish and the server returns.
    pub async fn serve(mut self, shutdown: impl Future<Output = ()>) -> Result<(), AppError> {
        let (reporter, health_service) = tonic_health::server::health_reporter();
        set_health(&reporter, ServingStatus::NotServing).await;
        reporter
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
        let stop = CancellationToken::new();
        let draining = stop.child_token();
        let health_down = CancellationToken::new();
        let health_task = tokio::spawn(watch_database(
            reporter,
            self.ctx.clone(),
            self.settings.health_interval,
            draining.clone(),
            health_down.clone().drop_guard(),
        ));
        let background = Background::spawn(
            &self.ctx,
            &self.settings,
            self.metrics_listener.take(),
            &stop,
        );
        let events = EventApi::new(
            self.ctx.clone(),
            self.ctx.wakeups.clone(),
            self.settings.follow,
            stop.clone(),
        );
        let delay = self.settings.shutdown_delay;
        let reflection = reflection_builder().build_v1()?;
        let reflection_alpha = reflection_builder().build_v1alpha()?;
        let services = Services {
            health: health_service,
            reflection,
            reflection_alpha,
            events,
        };
        let result = self
            .serve_grpc(services, async {
                shutdown.await;
                draining.cancel();
                health_down.cancelled().await;
                tracing::info!(?delay, "shutting down: NOT_SERVING, still accepting calls");
                tokio::time::sleep(delay).await;
                stop.cancel();
                tracing::info!("shutting down: finishing in-flight calls");
            })
            .await;
        stop.cancel();
        let _ = health_task.await;
        background.finish().await;
        Ok(result?)
    }

    /// Our services plus `services` on our listener, behind gRPC-Web, tracing, metrics and auth, until
    /// `shutdown` completes and the calls in flight have finished.
    async fn serve_grpc<H, R, A>(
        self,
        services: Services<H, R, A>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), tonic::transport::Error>
    where
        H: Health,
        R: v1::ServerReflection,
        A: v1alpha::ServerReflection,
    {
        // `tcp_nodelay` on the builder only reaches listeners tonic binds itself; without it on
        // ours, Nagle and delayed ACKs added ~40 ms to every call (the benchmark found it).
        let incoming = TcpIncoming::from(self.listener).with_nodelay(Some(true));
        let trace = TraceLayer::new_for_grpc()
            .make_span_with(telemetry::rpc_span)
            .on_response(telemetry::rpc_response)
            .on_failure(());
        let limit = self.settings.max_message_bytes;
        let routes = services.routes(&self.ctx, &self.settings);
        // Outermost first: CORS answers browsers' preflights, and tonic-web turns gRPC-Web
        // (HTTP/1.1 too) into plain gRPC, so the layers inside see no difference. Then every
        // call, refused callers included, is logged and timed (with tonic's own failures
        // already in the contract's terms); the caller's deadline bounds the call inside.
        // hyper's default 16 KiB of headers would answer a longer metadata with a bare HTTP 431
        // (no gRPC status); up to the message limit the call reaches the identity checks.
        let header_limit = u32::try_from(limit).unwrap_or(u32::MAX);
        tonic::transport::Server::builder()
            .accept_http1(true)
            .http2_max_header_list_size(header_limit)
            .layer(web::cors(&self.settings.grpc_web_origins))
            .layer(web::ReadWholeLayer::new(limit))
            .layer(tonic_web::GrpcWebLayer::new())
            .layer(trace)
            .layer(RpcMetricsLayer::new(self.ctx.metrics.clone()))
            .layer(MapResponseLayer::new(wire_errors::translate))
            .layer(AuthLayer::new(self.authentication))
            .layer(DeadlineLayer)
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }
}

/// The services `App::serve` builds before serving: they share its health reporter and its
/// shutdown token.
struct Services<H, R, A> {
    health: HealthServer<H>,
    reflection: v1::ServerReflectionServer<R>,
    reflection_alpha: v1alpha::ServerReflectionServer<A>,
    events: EventApi,
}

impl<H, R, A> Services<H, R, A>
where
    H: Health,
    R: v1::ServerReflection,
    A: v1alpha::ServerReflection,
{
    /// These and our API's services, each of ours decoding requests up to the configured size.
    fn routes(self, ctx: &Context, settings: &Settings) -> Routes {
        let limit = settings.max_message_bytes;
        let mut routes = RoutesBuilder::default();
        routes
            .add_service(self.health)
            .add_service(self.reflection)
            .add_service(self.reflection_alpha)
            .add_service(
                PoolServiceServer::new(PoolApi::new(ctx.clone())).max_decoding_message_size(limit),
            )
            .add_service(
                LeadServiceServer::new(LeadApi::new(ctx.clone())).max_decoding_message_size(limit),
            )
            .add_service(
                AssignmentServiceServer::new(AssignmentApi::new(ctx.clone()))
                    .max_decoding_message_size(limit),
            )
            .add_service(
                CalendarServiceServer::new(CalendarApi::new(ctx.clone()))
                    .max_decoding_message_size(limit),
            )
            .add_service(
                AvailabilityServiceServer::new(AvailabilityApi::new(ctx.clone()))
                    .max_decoding_message_size(limit),
            )
            .add_service(
                RecycleServiceServer::new(RecycleApi::new(ctx.clone(), settings.recycle))
                    .max_decoding_message_size(limit),
            )
            .add_service(
                ReportServiceServer::new(ReportApi::new(ctx.clone()))
                    .max_decoding_message_size(limit),
            )
            .add_service(EventServiceServer::new(self.events).max_decoding_message_size(limit));
        routes.routes()
    }
}

/// The tasks that run beside the server until `stop`: idempotency-key purge, the schedulers,
/// the database wake-ups and, if it listens, `/metrics`.
struct Background {
    tasks: Vec<JoinHandle<()>>,
    metrics: Option<JoinHandle<std::io::Result<()>>>,
}

impl Background {
    fn spawn(
        ctx: &Context,
        settings: &Settings,
        metrics_listener: Option<TcpListener>,
        stop: &CancellationToken,
    ) -> Self {
        let tasks = vec![
            tokio::spawn(purge_idempotency_keys(ctx.clone(), stop.clone())),
            tokio::spawn(scheduler::recycle::run(
                ctx.clone(),
                settings.recycle,
                stop.clone(),
            )),
            tokio::spawn(scheduler::distribute::run(
                ctx.clone(),
                settings.distribute,
                stop.clone(),
            )),
            tokio::spawn(scheduler::reroute::run(
                ctx.clone(),
                settings.reroute,
                stop.clone(),
            )),
            tokio::spawn(scheduler::reports::run(
                ctx.clone(),
                settings.report,
                stop.clone(),
            )),
            tokio::spawn(wakeups::listen(
                ctx.db.clone(),
                ctx.wakeups.clone(),
                stop.clone(),
            )),
            tokio::spawn(wakeups::announce(
                ctx.db.clone(),
                ctx.wakeups.clone(),
                stop.clone(),
            )),
        ];
        let metrics = metrics_listener.map(|listener| {
            tokio::spawn(metrics::http::serve(
                listener,
                ctx.metrics.clone(),
                ctx.db.clone(),
                stop.clone(),
            ))
        });
        Self { tasks, metrics }
    }

    /// Waits for every task to return (they stop once `stop` is cancelled).
    async fn finish(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(task) = self.metrics {
            if let Ok(Err(err)) = task.await {
                tracing::warn!(error = %err, "the metrics listener failed");
            }
        }
    }
}

async fn listen(addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Bind { addr, source })
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        // google.rpc.ErrorInfo and BadRequest, so grpcurl and Postman decode our error details.
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

async fn set_health(reporter: &HealthReporter, status: ServingStatus) {
    for name in HEALTH_NAMES {
        reporter.set_service_status(*name, status).await;
    }
}

/// `SERVING` exactly while the database answers, checked every `interval`, until `draining`:
/// then `NOT_SERVING` for good, and `_down` drops. The only writer of these statuses while the
/// server runs, so a check finishing during shutdown cannot turn them back to `SERVING`.
async fn watch_database(
    reporter: HealthReporter,
    ctx: Context,
    interval: Duration,
    draining: CancellationToken,
    _down: DropGuard,
) {
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            () = draining.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let status = tokio::select! {
            () = draining.cancelled() => break,
            answer = tokio::time::timeout(interval, store::ping(&ctx.db)) => match answer {
                Ok(Ok(())) => ServingStatus::Serving,
                _ => ServingStatus::NotServing,
            },
        };
        set_health(&reporter, status).await;
    }
    set_health(&reporter, ServingStatus::NotServing).await;
}

/// How often expired idempotency keys are deleted, and how many per statement.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
const PURGE_BATCH: i64 = 10_000;

/// Deletes idempotency keys past their 24 hours, in batches, until `stop`.
async fn purge_idempotency_keys(ctx: Context, stop: CancellationToken) {
    let mut ticker = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        loop {
            match store::idempotency::purge_expired(&ctx.db, ctx.clock.now(), PURGE_BATCH).await {
                Ok(deleted) if deleted == PURGE_BATCH.unsigned_abs() && !stop.is_cancelled() => {}
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "purging idempotency keys failed");
                    break;
                }
            }
        }
    }
}
