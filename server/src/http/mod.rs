//! The HTTP API (layer 5): sync for devices; login, the register, the review queue and
//! account management for staff; the audit log for auditors; health for operators; and the
//! staff console's HTML pages (`console/`).
//!
//! It owns its answer types and maps every lower layer's error to `ApiError`. It may use
//! every layer below it (ingest, decisions, reports, access, storage, the base), never `cli/`;
//! nothing below it uses it. Answers that carry household data hold `access::privacy::Seen`
//! views, made for the reader's `Sight` (`principal::sight`).

pub mod accounts;
pub mod console;
mod devices;
pub mod error;
mod exports;
pub mod hardening;
mod imported_rosters;
pub mod input;
mod members;
mod photos;
pub mod principal;
mod quarantine;
pub mod refusals;
mod register;
mod reports;
mod review;
mod rosters;
mod settings;
mod sync;
pub mod tasks;
pub mod tls;

use crate::clock::Clock;
use crate::storage::ledger::Ledger;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use std::sync::Arc;
use std::time::Duration;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The largest request body accepted: a long day's uploads with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// The largest JSON body a staff or enrollment request may carry: these are a few fields,
/// so anything bigger is not a request but a probe, refused before it costs memory.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;
/// A request still running after this is cut off; the client retries.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct AppState {
    /// The ledger, and the clock every handler takes the time from (`ledger.clock()`).
    pub ledger: Arc<Ledger>,
    pub sessions: crate::access::sessions::SessionPolicy,
    pub rate_limits: hardening::RateLimits,
    /// Whether the session cookie is marked Secure (`accounts::session_cookie`).
    pub secure_cookies: bool,
    /// Where photos and their thumbnails are kept (`storage::blobs`).
    pub blobs: std::sync::Arc<dyn crate::storage::blobs::BlobStore>,
}

impl AppState {
    pub fn clock(&self) -> &Clock {
        self.ledger.clock()
    }

    /// Seconds since the Unix epoch, by the server's clock.
    pub fn now(&self) -> i64 {
        self.clock().now_seconds()
    }
}

/// The whole API as one router.
pub fn app(state: AppState) -> Router {
    let router = Router::new()
        .route("/api/v1/sync", post(sync::sync))
        .route("/api/v1/enroll", post(devices::enroll))
        .route("/api/v1/enrollments", post(devices::create))
        .route("/api/v1/enrollments/{code}/qr.svg", get(devices::qr_svg))
        .route("/api/v1/enrollments/{code}/qr.png", get(devices::qr_png))
        .route("/api/v1/devices", get(devices::list))
        .route("/api/v1/devices/{id}/revoke", post(devices::revoke))
        .route("/api/v1/devices/{id}/villages", put(devices::set_villages))
        .route("/api/v1/login", post(accounts::login))
        .route("/api/v1/logout", post(accounts::logout))
        .route("/api/v1/me", get(accounts::me))
        .route("/api/v1/me/password", post(accounts::change_password))
        .route(
            "/api/v1/staff",
            get(accounts::list_staff).post(accounts::create_staff),
        )
        .route(
            "/api/v1/staff/{username}/disable",
            post(accounts::disable_staff),
        )
        .route(
            "/api/v1/staff/{username}/reset-totp",
            post(accounts::reset_staff_second_factor),
        )
        .route("/api/v1/audit", get(accounts::audit_log))
        .route("/api/v1/exports/members.csv", get(exports::members))
        .route("/api/v1/reports/indicators", get(reports::indicators))
        .route("/api/v1/reports/subsidies", get(reports::subsidies))
        .route(
            "/api/v1/reports/months/{month}/close",
            post(reports::close_month),
        )
        .route("/api/v1/reports/rosters/{roster}", get(rosters::roster))
        .route("/api/v1/households", get(register::list))
        .route("/api/v1/households/{id}", get(register::detail))
        .route(
            "/api/v1/households/{id}/members/{key}/remove",
            post(members::remove),
        )
        .route("/api/v1/villages", get(review::villages))
        .route("/api/v1/review/items", get(review::list))
        .route("/api/v1/review/items/{id}", get(review::show))
        .route("/api/v1/review/items/{id}/resolve", post(review::resolve))
        .route("/api/v1/review/items/{id}/move", post(review::move_member))
        .route("/api/v1/review/items/{id}/dismiss", post(review::dismiss))
        .route("/api/v1/review/merge", post(review::merge))
        .route("/api/v1/settings/subsidies", get(settings::list))
        .route(
            "/api/v1/settings/subsidies/{year}",
            get(settings::show).put(settings::edit),
        )
        .route("/api/v1/quarantine", get(quarantine::list))
        .route("/api/v1/quarantine/{id}", get(quarantine::show))
        .route("/api/v1/quarantine/{id}/release", post(quarantine::release))
        .route("/api/v1/quarantine/{id}/discard", post(quarantine::discard))
        .route("/api/v1/tasks", get(tasks::list))
        .route("/api/v1/tasks/{household}", post(tasks::open))
        .route("/api/v1/tasks/{household}/{task}/close", post(tasks::close))
        .route(
            "/api/v1/imported-rosters",
            get(imported_rosters::list).post(imported_rosters::import),
        )
        .route(
            "/api/v1/imported-rosters/{id}/withdraw",
            post(imported_rosters::withdraw),
        )
        .route(
            "/api/v1/imported-rosters/mappings/{kind}",
            get(imported_rosters::mapping).put(imported_rosters::set_mapping),
        )
        .route("/api/v1/mismatches", get(imported_rosters::mismatches))
        .route("/api/v1/photos/usage", get(photos::usage))
        .route("/api/v1/photos/{hash}", get(photos::download))
        .route(
            "/api/v1/photos/{hash}/upload",
            get(photos::upload_status).put(photos::upload_chunk),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(refusals::metrics))
        .merge(console::routes())
        .fallback(not_found)
        // Sync reads its own body, up to MAX_BODY_BYTES; this bounds every extractor.
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY_BYTES))
        .layer(axum::middleware::from_fn(input::check))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_rejections,
        ))
        // Outermost, so that errors made by the layers above also answer in JSON.
        .layer(axum::middleware::map_response(error::json_errors));
    hardening::protect(router, state.rate_limits).with_state(state)
}

/// An address that is not there: JSON under `/api/`, the console's error page elsewhere.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    if uri.path().starts_with("/api/") {
        error::ApiError::not_found(schema::Message::new("没有这个地址", "No such endpoint"))
            .into_response()
    } else {
        console::page::ConsoleError::Page {
            status: StatusCode::NOT_FOUND,
            message: schema::Message::new("没有这个页面", "No such page"),
        }
        .into_response()
    }
}

/// Items in a page of a list when the query string does not say.
const DEFAULT_LIMIT: i64 = 50;
/// The most items a page of a list holds, whatever the query string asks.
const MAX_LIMIT: i64 = 500;

/// A page's size from the query string's `limit`: 50 unless asked, between 1 and 500.
pub(crate) fn page_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// A page's start from the query string's `offset`: never before the first item.
pub(crate) fn page_offset(offset: Option<i64>) -> i64 {
    offset.unwrap_or(0).max(0)
}

/// A list filter read from the query string: absent or empty is no filter; anything else
/// must name one of `choices`, or the answer says which it may name. `what` is the filter's
/// name in both languages.
pub(crate) fn filter_param<T: Copy>(
    input: Option<&str>,
    what: (&str, &str),
    choices: &[T],
    name: impl Fn(T) -> &'static str,
) -> error::ApiResult<Option<T>> {
    let Some(input) = input.map(str::trim).filter(|i| !i.is_empty()) else {
        return Ok(None);
    };
    if let Some(choice) = choices.iter().copied().find(|c| name(*c) == input) {
        return Ok(Some(choice));
    }
    let names: Vec<&str> = choices.iter().map(|c| name(*c)).collect();
    Err(error::ApiError::bad_request(schema::Message::new(
        format!("未知的{}“{input}”；可选 {}", what.0, names.join("、")),
        format!(
            "Unknown {} \"{input}\"; use one of {}",
            what.1,
            names.join(", ")
        ),
    )))
}

/// Counts requests refused for their form (malformed, oversized, of the wrong media type or
/// shape): the signs of a client probing the API. They are not audited (`refusals`); refusals
/// of credentials and scope are audited where they are decided, with who was refused.
async fn count_rejections(
    State(state): State<AppState>,
    client: principal::Client,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let target = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    if let Some(reason) = refusals::Reason::of_status(response.status()) {
        refusals::count(reason, &client.0, &target, state.now());
    }
    response
}

/// `GET /readyz`: whether the database answers, within the pool's acquire timeout.
async fn ready(State(state): State<AppState>) -> error::ApiResult<&'static str> {
    if state.ledger.db().ping().await {
        Ok("ready")
    } else {
        Err(error::ApiError::unavailable(
            "readyz: the database does not answer",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decisions::review::Kind;

    #[test]
    fn test_a_filter_param_is_absent_one_of_its_choices_or_refused_with_them() {
        let read = |input| filter_param(input, ("类别", "kind"), &Kind::ALL, Kind::as_str);
        assert_eq!(read(None).ok(), Some(None));
        assert_eq!(read(Some(" ")).ok(), Some(None));
        assert_eq!(read(Some("rule")).ok(), Some(Some(Kind::Rule)));
        let refused = read(Some("bogus"))
            .err()
            .map(|err| (err.status, err.message));
        let (status, message) = refused.unwrap_or_else(|| panic!("bogus was accepted"));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.zh.contains("未知的类别“bogus”"), "{}", message.zh);
        assert!(
            message.en.contains("conflict, rule, duplicate"),
            "{}",
            message.en
        );
    }
}
