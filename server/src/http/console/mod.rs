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
//! (counts per area, devices, with `chart.rs`'s SVG bars); the work pages `review.rs` (the
//! review queue and its decisions), `quarantine.rs`, `devices.rs` (enrollment codes and their
//! printable sheets, devices), `accounts.rs` (admins) and `audit.rs` (auditors), which put
//! things into words through `shown.rs`; `register.rs` (the household list) and
//! `household.rs` (one household, its history, the audited reveal); `tasks.rs` (visit tasks:
//! progress per village, the list, closing one); `comparison.rs` (other offices' rosters:
//! the upload, the imports and their withdrawal, the mismatches per village); `reports/`
//! (indicators drilled down, the lists and rosters to download, monthly figures closed and
//! reprinted, subsidies and their settings).

mod account;
mod accounts;
mod assets;
mod audit;
mod chart;
// System information comparison: roster imports, their withdrawal, the mismatches.
mod comparison;
pub use comparison::is_upload as is_roster_upload;
mod devices;
pub mod frame;
pub mod guard;
mod household;
pub mod page;
mod photos;
mod progress;
mod quarantine;
mod register;
mod reports;
mod review;
mod shown;
mod tasks;

use super::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

/// The console's routes, merged into the API's router (`http::app`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(account::home))
        .route(
            "/sign-in",
            get(account::sign_in_page).post(account::sign_in),
        )
        .route("/sign-out", post(account::sign_out))
        .route(
            "/password",
            get(account::password_page).post(account::change_password),
        )
        .route("/language", get(account::language))
        .route("/accounts", get(accounts::list).post(accounts::create))
        .route("/accounts/{username}/disable", post(accounts::disable))
        .route(
            "/accounts/{username}/reset-totp",
            post(accounts::reset_totp),
        )
        .route("/audit", get(audit::log))
        .route("/devices", get(devices::list))
        .route("/devices/codes", post(devices::create_code))
        .route("/devices/codes/{code}", get(devices::sheet))
        .route("/devices/{id}", get(devices::device))
        .route("/devices/{id}/revoke", post(devices::revoke))
        .route("/devices/{id}/villages", post(devices::reassign))
        .route("/quarantine", get(quarantine::list))
        .route("/quarantine/{id}", get(quarantine::item))
        .route("/quarantine/{id}/release", post(quarantine::release))
        .route("/quarantine/{id}/discard", post(quarantine::discard))
        .route("/review", get(review::queue))
        .route("/review/next", get(review::next))
        .route("/review/{id}", get(review::item))
        .route("/review/{id}/resolve", post(review::resolve))
        .route("/review/{id}/merge", post(review::merge))
        .route("/review/{id}/move", post(review::move_member))
        .route("/review/{id}/dismiss", post(review::dismiss))
        .route("/progress", get(progress::of_scope))
        .route("/progress/{area}", get(progress::of_area))
        .route("/register", get(register::search))
        .route("/register/{id}", get(household::show))
        .route("/register/{id}/reveal", post(household::reveal))
        .route("/register/{id}/photos/{hash}", get(photos::photo))
        .route("/tasks", get(tasks::list))
        .route("/tasks/{household}/{task}/close", post(tasks::close))
        // System information comparison (comparison.rs): the upload alone takes a file.
        .route(
            comparison::IMPORT_PATH,
            get(comparison::import_form)
                .post(comparison::import)
                .layer(DefaultBodyLimit::max(comparison::MAX_UPLOAD_BYTES)),
        )
        .route("/comparison/imports", get(comparison::imports))
        .route(
            "/comparison/imports/{id}/withdraw",
            post(comparison::withdraw),
        )
        .route("/comparison/mismatches", get(comparison::mismatches))
        // Reports (issue 16): indicators, lists, rosters, monthly figures, subsidies.
        .route("/reports", get(reports::indicators::page))
        .route("/reports/failing", get(reports::indicators::failing))
        .route("/reports/untrained", get(reports::indicators::untrained))
        .route(
            "/reports/rosters/full",
            post(reports::indicators::download_in_full),
        )
        .route(
            "/reports/rosters/{roster}",
            get(reports::indicators::download),
        )
        .route("/reports/months", get(reports::months::list))
        .route("/reports/months/close", post(reports::months::close))
        .route("/reports/months/{month}", get(reports::months::month))
        .route("/reports/subsidies", get(reports::subsidies::page))
        .route(
            "/reports/subsidies/settings",
            post(reports::subsidies::save),
        )
        // End of reports.
        .route(assets::STYLESHEET_PATH, get(assets::stylesheet))
}
