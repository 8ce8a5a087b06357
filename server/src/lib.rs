//! The Doorstep sync server and central register.
//!
//! Devices sync their household documents through `POST /api/v1/sync`; every accepted change
//! is stored once, by hash, and projected into the register's rows in the same transaction.
//! Staff read the register through the JSON API. SQLite is the embedded default; PostgreSQL
//! serves a province, with several servers sharing one database.

pub mod access;
pub mod cli;
pub mod clock;
pub mod config;
pub mod decisions;
pub mod http;
pub mod ingest;
pub mod parallel;
pub mod reports;
pub mod storage;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use storage::ledger::Ledger;

/// How often background compaction looks for documents to fold.
pub const COMPACTION_INTERVAL: Duration = Duration::from_secs(30);

/// How the server runs, beyond where its data is.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The keys sensitive data is stored under.
    pub vault: storage::vault::Vault,
    /// Where the server takes the time from: `Clock::system()`.
    pub clock: clock::Clock,
    pub sessions: access::sessions::SessionPolicy,
    pub rate_limits: http::hardening::RateLimits,
    /// Speak HTTPS with this certificate and key (`http::tls::load`); plain HTTP without.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Whether the session cookie is marked Secure: served over TLS, here or by a proxy.
    pub secure_cookies: bool,
    /// Where photos are kept (`storage::blobs::open`).
    pub blobs: Arc<dyn storage::blobs::BlobStore>,
}

/// Serves the API until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(db: storage::db::Db, options: ServeOptions) -> std::io::Result<()> {
    let checkpoints = tokio::spawn({
        let db = db.clone();
        async move { db.checkpoint_forever().await }
    });
    let ledger = Arc::new(Ledger::new(db, options.vault, options.clock));
    let compaction = tokio::spawn(compact_forever(Arc::clone(&ledger)));
    let app = http::app(http::AppState {
        ledger,
        sessions: options.sessions,
        rate_limits: options.rate_limits,
        secure_cookies: options.secure_cookies,
        blobs: options.blobs,
    });
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    let listener = listener.into_std()?;
    let handle = axum_server::Handle::new();
    let stop = tokio::spawn({
        let handle = handle.clone();
        async move {
            shutdown_signal().await;
            // No deadline: in-flight requests finish.
            handle.graceful_shutdown(None);
        }
    });
    let make_service = |app: axum::Router| app.into_make_service_with_connect_info::<SocketAddr>();
    // Tests and scripts read the listening line to learn the port when listening on port 0.
    let served = match options.tls {
        Some(tls) => {
            let config = axum_server::tls_rustls::RustlsConfig::from_config(tls);
            let server = axum_server::from_tcp_rustls(listener, config)?;
            println!("doorstep listening on https://{address}");
            bounded(server)
                .handle(handle)
                .serve(make_service(http::hardening::hsts(app)))
                .await
        }
        None => {
            let server = axum_server::from_tcp(listener)?;
            println!("doorstep listening on http://{address}");
            bounded(server)
                .handle(handle)
                .serve(make_service(app))
                .await
        }
    };
    stop.abort();
    compaction.abort();
    checkpoints.abort();
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// A client has this long to send a request's headers, and a new connection its first
/// request: a slow client cannot hold a connection (a task and a socket) open for ever. Once
/// the headers are in, the request timeout of `http::app` bounds the rest.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

fn bounded<A>(
    mut server: axum_server::Server<SocketAddr, A>,
) -> axum_server::Server<SocketAddr, A> {
    server
        .http_builder()
        .http1()
        .header_read_timeout(HEADER_TIMEOUT);
    server.first_request_timeout(HEADER_TIMEOUT)
}

async fn compact_forever(ledger: Arc<Ledger>) {
    let mut interval = tokio::time::interval(COMPACTION_INTERVAL);
    loop {
        interval.tick().await;
        match ledger.compact().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "compacted documents"),
            Err(err) => tracing::warn!(%err, "compaction failed; will retry"),
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}
