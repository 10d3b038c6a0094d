//! The database server the bench runs on — `DATABASE_URL`'s, or a private PostgreSQL — and
//! the fresh database each scenario gets on it.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use leadpool::embedded_pg::{EmbeddedPgOptions, EmbeddedPostgres};
use leadpool::store;

use crate::Result;
use crate::cli::Cli;

/// Connections of the bench's own pool (seeding, baselines, invariant checks).
const BENCH_CONNECTIONS: u32 = 4;

enum Kind {
    /// `DATABASE_URL` as given; databases are reached by swapping its path.
    Url(String),
    Private(EmbeddedPostgres),
}

pub struct DbServer {
    kind: Kind,
    /// The maintenance database, for CREATE/DROP DATABASE.
    admin: PgConnectOptions,
}

/// One scenario's fresh, migrated database.
pub struct BenchDb {
    pub name: String,
    /// For the in-process service (connect with `store::connect` for the service's settings).
    pub options: PgConnectOptions,
    /// The same database as a URI that libpq (psql, pgbench) and sqlx (a child service) accept.
    pub uri: String,
    /// The bench's own connections.
    pub pool: PgPool,
    /// Where psql and pgbench are.
    pub pg_bin: Option<PathBuf>,
}

impl BenchDb {
    /// Runs the set-based `statements` that prepare a scenario's pools, members and leads, then
    /// analyses those tables.
    pub async fn rewrite_leads(&self, statements: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        sqlx::raw_sql(statements).execute(&mut *conn).await?;
        // On its own: several statements in one call share a transaction, which VACUUM refuses.
        sqlx::raw_sql("VACUUM (ANALYZE) pools, members, leads, lead_search")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}

impl DbServer {
    pub async fn start(cli: &Cli) -> Result<Self> {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = url {
            eprintln!("database server: DATABASE_URL");
            let admin = PgConnectOptions::from_str(&url)?;
            return Ok(Self {
                kind: Kind::Url(url),
                admin,
            });
        }
        let pg = EmbeddedPostgres::start(EmbeddedPgOptions {
            base_dir: cli.pg_dir.clone(),
            bin_dir: std::env::var_os("LEADPOOL_PG_BIN_DIR").map(Into::into),
        })
        .await?;
        eprintln!(
            "database server: private PostgreSQL in {}",
            pg.base_dir().display()
        );
        let admin = pg.connect_options();
        Ok(Self {
            kind: Kind::Private(pg),
            admin,
        })
    }

    /// Which server this is, for the report.
    pub fn label(&self) -> &'static str {
        match self.kind {
            Kind::Url(_) => "DATABASE_URL",
            Kind::Private(_) => "private PostgreSQL",
        }
    }

    /// `SHOW server_version`, for the report.
    pub async fn version(&self) -> Result<String> {
        let mut conn = PgConnection::connect_with(&self.admin).await?;
        let version: String = sqlx::query_scalar("SHOW server_version")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        Ok(version)
    }

    /// Creates and migrates `leadpool_bench_<scenario>_<unix seconds>`.
    pub async fn create_database(&self, scenario: &str) -> Result<BenchDb> {
        let ts = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let name = format!("leadpool_bench_{scenario}_{ts}");
        self.admin_exec(&format!("CREATE DATABASE {name}")).await?;
        eprintln!("fresh database {name}");
        let options = self.admin.clone().database(&name);
        // The service's settings (the EXPLAIN baselines plan as the service does) without its
        // statement timeout: seeding a full-size scenario on a slow day takes longer than it.
        let unbounded =
            store::session_settings(options.clone()).options([("statement_timeout", "0")]);
        let pool = PgPoolOptions::new()
            .max_connections(BENCH_CONNECTIONS)
            .connect_with(unbounded)
            .await?;
        store::schema::migrate(&pool).await?;
        Ok(BenchDb {
            uri: self.uri(&name),
            name,
            options,
            pool,
            pg_bin: pg_bin_dir(),
        })
    }

    /// Drops the scenario's database; a failure is reported, not fatal.
    pub async fn drop_database(&self, db: &BenchDb) {
        db.pool.close().await;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name);
        if let Err(err) = self.admin_exec(&sql).await {
            eprintln!("could not drop {}: {err}", db.name);
        }
    }

    pub async fn stop(self) -> Result<()> {
        if let Kind::Private(pg) = self.kind {
            pg.stop().await?;
        }
        Ok(())
    }

    async fn admin_exec(&self, sql: &str) -> Result<()> {
        let mut conn = PgConnection::connect_with(&self.admin).await?;
        sqlx::raw_sql(sql).execute(&mut conn).await?;
        conn.close().await?;
        Ok(())
    }

    fn uri(&self, database: &str) -> String {
        match &self.kind {
            Kind::Url(url) => with_database(url, database),
            Kind::Private(_) => socket_uri(&self.admin, database),
        }
    }
}

/// `url` with its database (path) replaced, keeping user, password, host and parameters.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{database}", &base[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A URI for a unix-socket server: libpq and sqlx both read a percent-encoded host that
/// starts with `/` as the socket directory.
fn socket_uri(options: &PgConnectOptions, database: &str) -> String {
    let dir = options
        .get_socket()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| options.get_host().to_owned());
    let host = dir.replace('%', "%25").replace('/', "%2F");
    format!(
        "postgres://{}@{host}:{}/{database}?sslmode=disable",
        options.get_username(),
        options.get_port()
    )
}

/// The directory of psql/pgbench: LEADPOOL_PG_BIN_DIR, the newest /usr/lib/postgresql/*/bin
/// that has pgbench, else None (then PATH).
fn pg_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LEADPOOL_PG_BIN_DIR") {
        return Some(dir.into());
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pgbench").exists().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, dir)| dir)
}

/// `name` in `bin` when known, else the bare name for a PATH lookup.
pub fn tool(bin: Option<&Path>, name: &str) -> PathBuf {
    bin.map_or_else(|| PathBuf::from(name), |dir| dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_and_keeps_the_rest() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
