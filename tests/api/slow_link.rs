//! A slow link to the test's PostgreSQL: a TCP proxy that holds every answer of the server for a
//! while, so that a call's deadline passes while a statement is on the wire, every time.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixStream};

/// A pool of one connection to `db`'s database whose answers each arrive `delay` late.
pub async fn pool_behind(db: &PgPool, delay: Duration) -> PgPool {
    let upstream = db.connect_options();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let target = (*upstream).clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, target.clone(), delay));
        }
    });
    let options = PgConnectOptions::new_without_pgpass()
        .host("127.0.0.1")
        .port(port)
        .username(upstream.get_username())
        .database(upstream.get_database().expect("a database"));
    PgPoolOptions::new()
        .max_connections(1)
        // Lent as it is, so that a deadline is spent on the caller's statement, not on a ping.
        .test_before_acquire(false)
        .connect_with(options)
        .await
        .expect("connect through the slow link")
}

/// Carries one connection: the client's bytes at once, the server's after `delay`.
async fn relay(client: TcpStream, target: PgConnectOptions, delay: Duration) {
    let (from_client, to_client) = client.into_split();
    match target.get_socket() {
        Some(dir) => {
            let path = dir.join(format!(".s.PGSQL.{}", target.get_port()));
            let server = UnixStream::connect(path).await.expect("server socket");
            let (from_server, to_server) = server.into_split();
            pipe_both(from_client, to_server, from_server, to_client, delay).await;
        }
        None => {
            let server = TcpStream::connect((target.get_host(), target.get_port()))
                .await
                .expect("server");
            let (from_server, to_server) = server.into_split();
            pipe_both(from_client, to_server, from_server, to_client, delay).await;
        }
    }
}

async fn pipe_both(
    from_client: impl AsyncRead + Unpin,
    to_server: impl AsyncWrite + Unpin,
    from_server: impl AsyncRead + Unpin,
    to_client: impl AsyncWrite + Unpin,
    delay: Duration,
) {
    tokio::join!(
        pipe(from_client, to_server, Duration::ZERO),
        pipe(from_server, to_client, delay)
    );
}

async fn pipe(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, delay: Duration) {
    let mut buf = vec![0; 64 * 1024];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        tokio::time::sleep(delay).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
