//! The HTTP API: sync for devices, the register and the review queue for staff, health for
//! operators.

mod auth;
pub mod error;
mod register;
mod review;
mod sync;

use crate::documents::Ledger;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The largest request body accepted: a long day's uploads with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// A request still running after this is cut off; the client retries.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct AppState {
    pub ledger: Arc<Ledger>,
}

/// The whole API as one router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/sync", post(sync::sync))
        .route("/api/v1/households", get(register::list))
        .route("/api/v1/households/{id}", get(register::detail))
        .route("/api/v1/villages", get(review::villages))
        .route("/api/v1/review/items", get(review::list))
        .route("/api/v1/review/items/{id}", get(review::show))
        .route("/api/v1/review/items/{id}/resolve", post(review::resolve))
        .route("/api/v1/review/merge", post(review::merge))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .fallback(|| async {
            error::ApiError::not_found(schema::Message::new("没有这个地址", "No such endpoint"))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
        // Outermost, so that errors made by the layers above also answer in JSON.
        .layer(axum::middleware::map_response(error::json_errors))
        .with_state(state)
}

async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.ledger.db().ping().await {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
    }
}
