//! The console's one stylesheet, inside the binary: nothing is fetched from anywhere else.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// Versioned by its name, so a browser may keep it for a day across pages on a slow link.
pub const STYLESHEET_PATH: &str = "/static/console-1.css";

const STYLESHEET: &str = include_str!("../../../templates/console/console.css");

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "private, max-age=86400"),
        ],
        STYLESHEET,
    )
}
