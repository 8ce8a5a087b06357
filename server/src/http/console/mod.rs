//! The staff console: HTML pages for township and county staff, served at `/` by the same
//! binary, Chinese first with English one click away.
//!
//! Pages are askama templates (`server/templates/console/`) compiled into the binary, filled
//! by handlers that call the layers below as the JSON API's handlers do, often through the
//! same functions (`principal`, `accounts::open_session`). `guard.rs` says who reads a page
//! (the staff session behind the console's cookie) and guards every form that changes
//! anything (`Posted`); `frame.rs` is what every page shares (language, who is signed in,
//! navigation by role, local time); `page.rs` renders a page or an error page. One file per
//! group of pages: `account.rs` (sign in and out, password, language), `progress.rs`
//! (counts per area, devices, with `chart.rs`'s SVG bars), `register.rs` (the household
//! list) and `household.rs` (one household, its history, the audited reveal).

mod account;
mod assets;
mod chart;
pub mod frame;
pub mod guard;
mod household;
pub mod page;
mod progress;
mod register;

use super::AppState;
use axum::Router;
use axum::routing::get;

/// The console's routes, merged into the API's router (`http::app`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(account::home))
        .route(
            "/sign-in",
            get(account::sign_in_page).post(account::sign_in),
        )
        .route("/sign-out", axum::routing::post(account::sign_out))
        .route(
            "/password",
            get(account::password_page).post(account::change_password),
        )
        .route("/language", get(account::language))
        .route("/progress", get(progress::of_scope))
        .route("/progress/{area}", get(progress::of_area))
        .route("/register", get(register::search))
        .route("/register/{id}", get(household::show))
        .route(
            "/register/{id}/reveal",
            axum::routing::post(household::reveal),
        )
        .route(assets::STYLESHEET_PATH, get(assets::stylesheet))
}
