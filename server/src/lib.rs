//! The Doorstep sync server and central register.
//!
//! Devices sync their household documents through `POST /api/v1/sync`; every accepted change
//! is stored once, by hash, and projected into the register's rows in the same transaction.
//! Staff read the register through the JSON API. SQLite is the embedded default; PostgreSQL
//! serves a province, with several servers sharing one database.

pub mod auth;
pub mod config;
pub mod db;
pub mod documents;
pub mod http;
pub mod register;
pub mod review;
pub mod settle;

use documents::Ledger;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How often background compaction looks for documents to fold.
pub const COMPACTION_INTERVAL: Duration = Duration::from_secs(30);

/// Serves the API until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(db: db::Db, listen: SocketAddr) -> std::io::Result<()> {
    let ledger = Arc::new(Ledger::new(db));
    let compaction = tokio::spawn(compact_forever(Arc::clone(&ledger)));
    let app = http::app(http::AppState { ledger });
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    // Tests and scripts read this line to learn the port when listening on port 0.
    println!("doorstep listening on http://{address}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    compaction.abort();
    tracing::info!("stopped");
    Ok(())
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
