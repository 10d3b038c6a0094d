//! Starts the real server in-process on 127.0.0.1:0 against a fresh database cloned from a
//! migrated template, and hands tests generated gRPC clients, an injected clock and a direct
//! database handle for checking invariants.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OnceCell, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

use leadpool::app::App;
use leadpool::config::{
    DistributeSettings, FollowSettings, RecycleSettings, ReportSettings, RerouteSettings, Settings,
};
use leadpool::domain::clock::{Clock, ManualClock};
use leadpool::embedded_pg::{EmbeddedPgOptions, EmbeddedPostgres};
use leadpool::service::Context;
use leadpool::service::assignment::distribute;
use leadpool::store::PoolSize;

/// Where test databases are created: `DATABASE_URL` if set, else a private PostgreSQL.
struct Server {
    admin: PgConnectOptions,
    template: String,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            let url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
            let admin = match url {
                Some(url) => PgConnectOptions::from_str(&url).expect("DATABASE_URL is a valid URL"),
                None => private_postgres().await,
            };
            let template = migrated_template(&admin).await;
            Server { admin, template }
        })
        .await
}

/// The private server for test runs without `DATABASE_URL`. It keeps running after the tests
/// (later runs reuse it) and lives under target/, like other build products.
async fn private_postgres() -> PgConnectOptions {
    let base_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("leadpool-test-pg");
    let pg = EmbeddedPostgres::start(EmbeddedPgOptions {
        base_dir,
        bin_dir: std::env::var_os("LEADPOOL_PG_BIN_DIR").map(Into::into),
    })
    .await
    .expect("start the private PostgreSQL for tests");
    let options = pg.connect_options();
    // Deliberately not stopped: see above.
    std::mem::forget(pg);
    options
}

/// A template database at the current migrations, named by their checksums so every run with
/// the same migrations reuses it and a changed migration gets a new one.
async fn migrated_template(admin: &PgConnectOptions) -> String {
    let migrator = sqlx::migrate!("./migrations");
    let checksum = migrator
        .iter()
        .flat_map(|m| m.checksum.iter().copied())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let template = format!("leadpool_tpl_{checksum:016x}");
    let mut conn = PgConnection::connect_with(admin).await.expect("connect");
    // Serialise concurrent test processes creating the same template.
    sqlx::query("SELECT pg_advisory_lock(7243)")
        .execute(&mut conn)
        .await
        .expect("lock");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&template)
            .fetch_one(&mut conn)
            .await
            .expect("query");
    if !exists {
        let building = format!("{template}_building");
        exec(&mut conn, &format!("DROP DATABASE IF EXISTS {building}")).await;
        exec(&mut conn, &format!("CREATE DATABASE {building}")).await;
        let mut tpl = PgConnection::connect_with(&admin.clone().database(&building))
            .await
            .expect("connect to template");
        migrator.run(&mut tpl).await.expect("migrate template");
        tpl.close().await.expect("close");
        exec(
            &mut conn,
            &format!("ALTER DATABASE {building} RENAME TO {template}"),
        )
        .await;
    }
    sqlx::query("SELECT pg_advisory_unlock(7243)")
        .execute(&mut conn)
        .await
        .expect("unlock");
    template
}

async fn exec(conn: &mut PgConnection, sql: &str) {
    sqlx::query(sql).execute(conn).await.expect(sql);
}

/// One running server with its own database.
pub struct TestApp {
    pub clock: Arc<ManualClock>,
    /// Direct access, for checking invariants after the fact.
    pub db: PgPool,
    addr: SocketAddr,
    channel: Channel,
    metrics_addr: Option<SocketAddr>,
    db_name: String,
    admin: PgConnectOptions,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<Serving>,
}

/// Short intervals, so tests see heartbeats and polls promptly (they never sleep for them);
/// metrics on a port of their own; identity from trusted metadata. The schedulers (and the
/// report aggregator: reports catch up when called) are off: tests
/// sweep with `RunRecycle` and distribute through the API after moving the clock.
pub fn test_settings() -> Settings {
    Settings {
        health_interval: Duration::from_secs(1),
        follow: FollowSettings {
            heartbeat_interval: Duration::from_millis(150),
            poll_interval: Duration::from_millis(200),
        },
        shutdown_delay: Duration::ZERO,
        recycle: RecycleSettings {
            interval: Duration::ZERO,
            batch_size: 100,
        },
        distribute: DistributeSettings {
            interval: Duration::ZERO,
            ..DistributeSettings::default()
        },
        reroute: RerouteSettings {
            interval: Duration::ZERO,
            ..RerouteSettings::default()
        },
        report: ReportSettings {
            interval: Duration::ZERO,
            ..ReportSettings::default()
        },
        metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
        ..Settings::default()
    }
}

/// Test settings whose followers never poll and never send heartbeats: only a wake-up reaches
/// them.
pub fn quiet_follower_settings() -> Settings {
    Settings {
        follow: FollowSettings {
            heartbeat_interval: Duration::from_secs(3_600),
            poll_interval: Duration::from_secs(3_600),
        },
        ..test_settings()
    }
}

/// Test settings with the automatic distribution loop sweeping every `interval`.
pub fn distributing_settings(interval: Duration) -> Settings {
    Settings {
        distribute: DistributeSettings {
            interval,
            batch: 1_000,
        },
        ..test_settings()
    }
}

/// Test settings with the recycle loop sweeping every `interval`, `batch_size` leads at a time.
pub fn recycling_settings(interval: Duration, batch_size: u32) -> Settings {
    Settings {
        recycle: RecycleSettings {
            interval,
            batch_size,
        },
        ..test_settings()
    }
}

/// Test settings that keep accepting calls for `delay` after shutdown begins.
pub fn shutdown_delay_settings(delay: Duration) -> Settings {
    Settings {
        shutdown_delay: delay,
        ..test_settings()
    }
}

/// The health service name that answers whether the process lives, whatever the database does.
pub const LIVENESS: &str = leadpool::app::LIVENESS;

/// The actor the background jobs write into the events they cause.
pub const SCHEDULER_ACTOR: &str = distribute::ACTOR;

/// The background jobs, run by hand over the test's database and clock.
#[derive(Clone)]
pub struct Scheduler {
    ctx: Context,
}

impl Scheduler {
    /// One automatic distribution sweep, `batch` leads per transaction; how many it assigned.
    pub async fn distribute(&self, batch: u32) -> u64 {
        distribute::auto_distribute(&self.ctx, batch, &CancellationToken::new())
            .await
            .expect("distribution sweep")
    }

    /// One reroute sweep, `batch` leads per transaction; how many leads it passed on or returned.
    pub async fn reroute(&self, batch: u32) -> u64 {
        leadpool::service::acceptance::reroute_sweep(&self.ctx, batch, &CancellationToken::new())
            .await
            .expect("reroute sweep")
    }
}

/// Connects to a database as the server does at start.
pub async fn connect(options: PgConnectOptions, max_connections: u32) -> PgPool {
    leadpool::store::connect(options, PoolSize::on_demand(max_connections))
        .await
        .expect("connect")
}

/// Runs the migrations as the server does at start.
pub async fn migrate(db: &PgPool) -> Result<(), impl std::fmt::Debug> {
    leadpool::store::schema::migrate(db).await
}

type Serving = tokio::task::JoinHandle<Result<(), leadpool::app::AppError>>;

/// A started server: where it serves calls and metrics, how to stop it, its task.
struct Started {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shutdown: oneshot::Sender<()>,
    serving: Serving,
}

/// Starts a server on 127.0.0.1:0 over `db`; it stops when its shutdown sender is dropped.
async fn serve(db: &PgPool, clock: &Arc<ManualClock>, settings: Settings) -> Started {
    let ctx = Context::new(db.clone(), clock.clone());
    let app = App::bind("127.0.0.1:0".parse().unwrap(), ctx, settings)
        .await
        .expect("bind");
    let addr = app.local_addr().expect("addr");
    let metrics_addr = app.metrics_addr().expect("metrics addr");
    let (shutdown, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(app.serve(async {
        let _ = stopped.await;
    }));
    Started {
        addr,
        metrics_addr,
        shutdown,
        serving,
    }
}

/// A server whose database cannot be reached (its pool points at a closed port), and the guard
/// that stops it when dropped.
pub async fn spawn_without_database() -> (Channel, oneshot::Sender<()>) {
    let options = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(1)
        .username("postgres");
    let db = sqlx::postgres::PgPoolOptions::new().connect_lazy_with(options);
    let clock = Arc::new(ManualClock::new(start_time()));
    let started = serve(&db, &clock, test_settings()).await;
    (open_channel(started.addr), started.shutdown)
}

/// A channel with its own connection to `addr`, opened on first use.
fn open_channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy()
}

/// Another server of the same test, over the same database.
pub struct Replica {
    pub channel: Channel,
    _shutdown: oneshot::Sender<()>,
    _serving: Serving,
}

/// The clock every test starts at.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(test_settings()).await
    }

    /// A server with other settings: other timings, another way of identifying callers.
    pub async fn spawn_with(settings: Settings) -> Self {
        let server = server().await;
        let db_name = format!("leadpool_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect_with(&server.admin)
            .await
            .expect("connect");
        exec(
            &mut admin,
            &format!("CREATE DATABASE {db_name} TEMPLATE {}", server.template),
        )
        .await;
        admin.close().await.expect("close");

        let db = connect(server.admin.clone().database(&db_name), 10).await;
        let clock = Arc::new(ManualClock::new(start_time()));
        let started = serve(&db, &clock, settings).await;
        Self {
            clock,
            db,
            addr: started.addr,
            channel: open_channel(started.addr),
            metrics_addr: started.metrics_addr,
            db_name,
            admin: server.admin.clone(),
            shutdown: Some(started.shutdown),
            server: Some(started.serving),
        }
    }

    /// A second server on the same database and clock, as another replica would be.
    pub async fn spawn_replica(&self, settings: Settings) -> Replica {
        let started = serve(&self.db, &self.clock, settings).await;
        Replica {
            channel: open_channel(started.addr),
            _shutdown: started.shutdown,
            _serving: started.serving,
        }
    }

    /// Starts a graceful shutdown, as SIGTERM does in production, without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits until the server has returned from `serve`.
    pub async fn stopped(&mut self) -> Result<(), leadpool::app::AppError> {
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }

    pub fn scheduler(&self) -> Scheduler {
        Scheduler {
            ctx: self.context(),
        }
    }

    /// The use cases' context over the test's database and clock, as the server has it.
    pub fn context(&self) -> Context {
        Context::new(self.db.clone(), self.clock.clone())
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A channel on a new connection, as a caller arriving now would open.
    pub fn new_connection(&self) -> Channel {
        open_channel(self.addr)
    }

    /// The server's `/metrics` page, as Prometheus scrapes it.
    pub async fn scrape_metrics(&self) -> String {
        let addr = self.metrics_addr.expect("the test server serves metrics");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.contains("application/openmetrics-text"), "{head}");
        body.to_owned()
    }

    /// How many times the service ran a use case again after a conflict
    /// (`leadpool_conflict_retries_total`).
    pub async fn conflict_retries(&self) -> u64 {
        let scrape = self.scrape_metrics().await;
        let line = scrape
            .lines()
            .find_map(|l| l.strip_prefix("leadpool_conflict_retries_total "));
        line.expect("the retries counter").parse().expect("a count")
    }

    /// A transaction of the test's, left open, that ran `statement` (one `$1`: `id`): a row it
    /// locks or changes holds up the calls that reach it until the test commits.
    pub async fn holding(&self, statement: &str, id: &str) -> sqlx::Transaction<'static, Postgres> {
        let mut tx = self.db.begin().await.expect("begin");
        sqlx::query(statement)
            .bind(id)
            .execute(&mut *tx)
            .await
            .expect(statement);
        tx
    }

    /// Returns once a statement of this test's database waits for a lock: a call the test
    /// holds up with a transaction of its own has reached it.
    pub async fn until_a_statement_waits_on_a_lock(&self) {
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&self.db)
            .await
            .expect("activity");
            if waiting > 0 {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    /// A digest of every row of every table, to prove a failed call changed nothing.
    pub async fn fingerprint(&self) -> String {
        sqlx::query_scalar(
            "SELECT md5(concat_ws('|',
                (SELECT string_agg(p::text, ',' ORDER BY p.id) FROM pools p),
                (SELECT string_agg(c::text, ',' ORDER BY c.id) FROM calendars c),
                (SELECT string_agg(m::text, ',' ORDER BY m.pool_id, m.user_id) FROM members m),
                (SELECT string_agg(a::text, ',' ORDER BY a.id) FROM absences a),
                (SELECT string_agg(l::text, ',' ORDER BY l.id) FROM leads l),
                (SELECT string_agg(e::text, ',' ORDER BY e.seq) FROM lead_events e)))",
        )
        .fetch_one(&self.db)
        .await
        .expect("fingerprint")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
        drop_database(&self.admin, std::mem::take(&mut self.db_name));
    }
}

/// Drops a test's database from a `Drop`, which runs inside the test's runtime and must not
/// block on itself: the cleanup runs on a thread with its own runtime.
fn drop_database(admin: &PgConnectOptions, db_name: String) {
    let admin = admin.clone();
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            if let Ok(mut conn) = PgConnection::connect_with(&admin).await {
                let sql = format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)");
                let _ = sqlx::query(&sql).execute(&mut conn).await;
            }
        });
    })
    .join();
}

/// A fresh database with no migrations applied, dropped when the test ends.
pub struct EmptyDatabase {
    pub options: PgConnectOptions,
    admin: PgConnectOptions,
    db_name: String,
}

impl EmptyDatabase {
    pub async fn create() -> Self {
        let admin = server().await.admin.clone();
        let db_name = format!("leadpool_empty_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect_with(&admin).await.expect("connect");
        exec(&mut conn, &format!("CREATE DATABASE {db_name}")).await;
        conn.close().await.expect("close");
        Self {
            options: admin.clone().database(&db_name),
            admin,
            db_name,
        }
    }
}

impl EmptyDatabase {
    /// Runs `sql` as the server's superuser (roles and limits are set this way).
    pub async fn as_superuser(&self, sql: &str) {
        let mut conn = PgConnection::connect_with(&self.admin)
            .await
            .expect("connect");
        exec(&mut conn, sql).await;
        conn.close().await.expect("close");
    }
}

impl Drop for EmptyDatabase {
    fn drop(&mut self) {
        drop_database(&self.admin, std::mem::take(&mut self.db_name));
    }
}

/// A caller identity: tenant, user and tenant roles, sent as metadata.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: String,
    pub user: String,
    pub roles: String,
}

impl Caller {
    pub fn new(tenant: &str, user: &str, roles: &str) -> Self {
        Self {
            tenant: tenant.into(),
            user: user.into(),
            roles: roles.into(),
        }
    }

    pub fn admin(tenant: &str) -> Self {
        Self::new(tenant, "root-admin", "admin")
    }

    pub fn service(tenant: &str) -> Self {
        Self::new(tenant, "crm-importer", "service")
    }

    pub fn user(tenant: &str, user: &str) -> Self {
        Self::new(tenant, user, "")
    }

    pub fn req<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        let md = request.metadata_mut();
        md.insert("x-tenant-id", self.tenant.parse().unwrap());
        md.insert("x-actor-id", self.user.parse().unwrap());
        if !self.roles.is_empty() {
            md.insert("x-actor-roles", self.roles.parse().unwrap());
        }
        request
    }
}

/// The status code every refusal reason comes with, as the error table of api.md gives it.
fn code_of(reason: &str) -> Code {
    match reason {
        "VALIDATION_FAILED" | "UNKNOWN_RELEASE_REASON" | "BAD_PAGE_TOKEN" | "REQUEST_ID_REUSED" => {
            Code::InvalidArgument
        }
        "MISSING_IDENTITY" | "INVALID_TOKEN" => Code::Unauthenticated,
        "NOT_POOL_MEMBER" | "MANAGER_REQUIRED" | "ADMIN_REQUIRED" | "NOT_LEAD_OWNER" => {
            Code::PermissionDenied
        }
        "POOL_NOT_FOUND" | "LEAD_NOT_FOUND" | "MEMBER_NOT_FOUND" | "CALENDAR_NOT_FOUND"
        | "ABSENCE_NOT_FOUND" => Code::NotFound,
        "DUPLICATE_LEAD"
        | "POOL_NAME_TAKEN"
        | "MEMBER_EXISTS"
        | "EXTERNAL_REF_TAKEN"
        | "CALENDAR_NAME_TAKEN" => Code::AlreadyExists,
        "LEAD_NOT_IN_POOL"
        | "LEAD_NOT_OWNED"
        | "LEAD_LOCKED"
        | "LEAD_CLOSED"
        | "RECLAIM_COOLDOWN"
        | "MEMBER_INACTIVE"
        | "HELD_LIMIT_REACHED"
        | "POOL_ARCHIVED"
        | "CALENDAR_IN_USE"
        | "MEMBER_AWAY"
        | "ABSENCE_ENDED"
        | "LEAD_EMBARGOED"
        | "NO_CLAIMABLE_LEAD"
        | "NOT_PENDING_ACCEPTANCE" => Code::FailedPrecondition,
        "DAILY_CLAIM_LIMIT_REACHED" | "MESSAGE_TOO_LARGE" => Code::ResourceExhausted,
        "VERSION_CONFLICT" | "CONCURRENT_MODIFICATION" => Code::Aborted,
        "DATABASE_UNAVAILABLE" => Code::Unavailable,
        "DEADLINE_EXCEEDED" => Code::DeadlineExceeded,
        other => panic!("{other} is no reason of api.md's error table"),
    }
}

/// Asserts the status has the code of `reason`, a message, `ErrorInfo` with this reason in
/// domain `leadpool.v1`; returns the ErrorInfo metadata for further checks.
#[track_caller]
pub fn assert_error(
    result: Result<impl std::fmt::Debug, Status>,
    reason: &str,
) -> std::collections::HashMap<String, String> {
    let code = code_of(reason);
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), code, "code of {status:?}");
    assert!(!status.message().is_empty(), "a message for {status:?}");
    let details = status.get_error_details();
    let info = details.error_info().expect("ErrorInfo details");
    assert_eq!(info.reason, reason, "reason of {status:?}");
    assert_eq!(info.domain, "leadpool.v1");
    if code == Code::InvalidArgument {
        let named = details
            .bad_request()
            .map_or(0, |b| b.field_violations.len());
        assert!(named > 0, "BadRequest names no field in {status:?}");
    }
    info.metadata.clone()
}

impl TestApp {
    /// Runs `call` and asserts it is refused as `assert_error` says and changed no row of any
    /// table (no lead, no event, no count, no quota); returns the ErrorInfo metadata.
    pub async fn assert_refused<T: std::fmt::Debug>(
        &self,
        call: impl std::future::Future<Output = Result<T, Status>>,
        reason: &str,
    ) -> std::collections::HashMap<String, String> {
        let before = self.fingerprint().await;
        let metadata = assert_error(call.await, reason);
        assert_eq!(
            self.fingerprint().await,
            before,
            "a refused call changes nothing"
        );
        metadata
    }

    /// Runs `call` and asserts it is refused as invalid and changed no row of any table;
    /// returns the fields the `BadRequest` details name.
    pub async fn invalid_fields<T: std::fmt::Debug>(
        &self,
        call: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Vec<String> {
        let before = self.fingerprint().await;
        let fields = bad_fields(call.await);
        assert_eq!(
            self.fingerprint().await,
            before,
            "an invalid call changes nothing"
        );
        fields
    }
}

/// The fields named in the `BadRequest` details of a failed call.
#[track_caller]
pub fn bad_fields(result: Result<impl std::fmt::Debug, Status>) -> Vec<String> {
    let status = result.expect_err("the call should fail");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    assert_eq!(
        details.error_info().map(|i| i.reason.as_str()),
        Some("VALIDATION_FAILED")
    );
    details
        .bad_request()
        .expect("BadRequest details")
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect()
}
