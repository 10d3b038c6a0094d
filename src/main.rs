//! Parses the configuration, starts logging and the database, and serves until SIGTERM/SIGINT.

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use clap::Parser;
use sqlx::PgPool;
use sqlx::postgres::PgConnectOptions;

use leadpool::app::App;
use leadpool::config::{Command, Config, Settings};
use leadpool::domain::clock::SystemClock;
use leadpool::embedded_pg::{EmbeddedPgOptions, EmbeddedPostgres};
use leadpool::service::Context;
use leadpool::store::PoolSize;
use leadpool::{store, telemetry};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The database the private PostgreSQL serves the service from.
const EMBEDDED_DATABASE: &str = "leadpool";

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let telemetry = match telemetry::init(
        config.log_format,
        &config.log_filter,
        config.otlp().as_ref(),
    ) {
        Ok(telemetry) => telemetry,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let result = run(config, telemetry.exports_traces()).await;
    telemetry.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, exports_traces: bool) -> Result<(), BoxError> {
    let settings = config.settings()?;
    let (options, embedded) = database(&config).await?;
    let result = match config.command {
        Some(Command::Migrate { check }) => migrate(&config, options, check).await,
        None => serve(&config, settings, options, exports_traces).await,
    };
    if let Some(pg) = embedded {
        tracing::info!("stopping the private PostgreSQL");
        pg.stop().await?;
    }
    result
}

async fn serve(
    config: &Config,
    settings: Settings,
    options: PgConnectOptions,
    exports_traces: bool,
) -> Result<(), BoxError> {
    let size = PoolSize {
        max: config.db_max_connections,
        min: config.db_min_connections()?,
    };
    let db = connect(options, size).await?;
    if config.migrate_on_start {
        store::schema::migrate(&db).await?;
    } else {
        require_schema(&db).await?;
    }
    if !store::schema::folds_unicode_case(&db).await? {
        tracing::warn!(
            "the database's LC_CTYPE is C: case-insensitive search folds ASCII letters only \
             (MÜLLER will not find Müller); create the database with a UTF-8 LC_CTYPE such as \
             C.UTF-8"
        );
    }
    let ctx = Context::new(db.clone(), Arc::new(SystemClock));
    let app = App::bind(config.listen, ctx, settings).await?;
    let authentication = app.authentication().to_string();
    let metrics = app
        .metrics_addr()?
        .map(|addr| format!("http://{addr}/metrics"));
    tracing::info!(
        addr = %app.local_addr()?,
        authentication,
        metrics = metrics.as_deref().unwrap_or("off"),
        traces = if exports_traces { "OTLP" } else { "off" },
        "leadpool serving gRPC"
    );
    let result = app.serve(shutdown_signal()).await;
    db.close().await;
    Ok(result?)
}

/// Connects, saying which server failed and what to check when it does.
async fn connect(options: PgConnectOptions, size: PoolSize) -> Result<PgPool, BoxError> {
    let at = format!(
        "{}:{} (database {})",
        options.get_host(),
        options.get_port(),
        options
            .get_database()
            .unwrap_or("of the same name as the user")
    );
    store::connect(options, size).await.map_err(|err| {
        let check = if is_out_of_connection_slots(&err) {
            "lower LEADPOOL_DB_MAX_CONNECTIONS (of this and the other processes using it) or \
             raise the server's max_connections"
        } else {
            "check DATABASE_URL and that the server is running and reachable from here"
        };
        format!("cannot connect to PostgreSQL at {at}: {err}; {check}").into()
    })
}

/// PostgreSQL's `too_many_connections`: no slot left on the server, or for the role or database.
fn is_out_of_connection_slots(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "53300")
}

/// `leadpool migrate`: applies the pending migrations, or with `check` only compares.
async fn migrate(config: &Config, options: PgConnectOptions, check: bool) -> Result<(), BoxError> {
    let db = connect(
        options,
        PoolSize::on_demand(config.db_max_connections.min(2)),
    )
    .await?;
    let result = if check {
        require_up_to_date(&db).await
    } else {
        let pending = store::schema::status(&db).await?.pending.len();
        store::schema::migrate(&db).await?;
        tracing::info!(applied = pending, "the schema is up to date");
        Ok(())
    };
    db.close().await;
    result
}

/// `leadpool migrate --check`: an error unless the database's schema is exactly this binary's.
async fn require_up_to_date(db: &PgPool) -> Result<(), BoxError> {
    let status = store::schema::status(db).await?;
    if status.up_to_date() {
        tracing::info!("the schema is up to date");
        return Ok(());
    }
    Err(format!(
        "the schema is not this binary's: pending {:?}, failed {:?}, unknown to this binary {:?}, \
         needs a binary with migration {:?} or newer",
        status.pending, status.failed, status.unknown, status.requires_binary
    )
    .into())
}

/// With migrations a step of the rollout: refuses to serve while this binary's migrations are
/// pending (or one failed), or when a contract migration requires a newer binary. A database a
/// newer release only expanded is served, as a rolling update needs (docs/operations.md).
async fn require_schema(db: &PgPool) -> Result<(), BoxError> {
    let status = store::schema::status(db).await?;
    if !status.pending.is_empty() || !status.failed.is_empty() {
        let pending: Vec<String> = status
            .pending
            .iter()
            .map(|(v, d)| format!("{v} {d}"))
            .collect();
        return Err(format!(
            "the database's schema is older than this binary: pending migrations [{}], failed {:?}; \
             run `leadpool migrate` first (LEADPOOL_MIGRATE_ON_START is false)",
            pending.join(", "),
            status.failed
        )
        .into());
    }
    if let Some(version) = status.requires_binary {
        return Err(format!(
            "the database's schema is too new for this binary: a contract migration requires a \
             release with migration {version} or newer; deploy that release (or newer)"
        )
        .into());
    }
    if !status.unknown.is_empty() {
        tracing::warn!(unknown = ?status.unknown, "the database has migrations of a newer release; serving on its expanded schema");
    }
    Ok(())
}

/// `DATABASE_URL` when set; otherwise the private PostgreSQL, started here and stopped by `run`.
async fn database(
    config: &Config,
) -> Result<(PgConnectOptions, Option<EmbeddedPostgres>), BoxError> {
    // An empty DATABASE_URL means unset, as it does for most tools.
    if let Some(url) = config
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        return Ok((PgConnectOptions::from_str(url)?, None));
    }
    let pg = EmbeddedPostgres::start(EmbeddedPgOptions {
        base_dir: config.data_dir.clone(),
        bin_dir: config.pg_bin_dir.clone(),
    })
    .await?;
    tracing::info!(dir = %pg.base_dir().display(), "private PostgreSQL running");
    let admin = store::connect(pg.connect_options(), PoolSize::on_demand(1)).await?;
    let created = store::ensure_database(&admin, EMBEDDED_DATABASE).await;
    admin.close().await;
    created?;
    Ok((pg.connect_options().database(EMBEDDED_DATABASE), Some(pg)))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
