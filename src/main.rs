//! Parses the configuration, starts logging and the database, and serves until SIGTERM/SIGINT.

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;

use clap::Parser;
use sqlx::postgres::PgConnectOptions;

use leadpool::app::App;
use leadpool::config::{Config, Settings};
use leadpool::domain::clock::SystemClock;
use leadpool::embedded_pg::{EmbeddedPgOptions, EmbeddedPostgres};
use leadpool::service::Context;
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
    let result = serve(&config, settings, options, exports_traces).await;
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
    let db = store::connect(options, config.db_max_connections).await?;
    store::migrate(&db).await?;
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
    let admin = store::connect(pg.connect_options(), 1).await?;
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
