//! How a page is answered: rendered from its template with the console's content policy, or
//! as an error page in both languages, or as a way back to the sign-in page.

use crate::http::error::ApiError;
use askama::Template;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use schema::Message;
use schema::error_code::ErrorCode;

/// What the console's pages may load: their own stylesheet and nothing else; forms post only
/// to the console. Charts are SVG inside the page, so they need no source of their own.
const CONTENT_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page's answer, or why there is none.
pub type PageResult = Result<Response, ConsoleError>;

/// Renders a page's template as HTML.
pub fn render(template: &impl Template) -> PageResult {
    let html = template.render().map_err(|err| {
        ConsoleError::from(ApiError::internal(format!(
            "a console template failed: {err}"
        )))
    })?;
    Ok(html_response(StatusCode::OK, html))
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_POLICY),
    );
    // Within the console a form's Origin is sent (under the API's no-referrer it would be
    // "null"); nothing leaves for another site.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// A page that shows a secret once (an enrollment code, a second factor): kept by no cache.
pub fn render_secret(template: &impl Template) -> PageResult {
    let mut response = render(template)?;
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Whether a form's action was refused for what the reader chose or typed (a client error
/// other than a refusal of their role or area): the form comes back with the reason beside
/// it, rather than an error page.
pub fn refused_for_input(err: &ApiError) -> bool {
    err.status.is_client_error() && err.status != StatusCode::FORBIDDEN
}

/// Why a page could not be shown.
#[derive(Debug)]
pub enum ConsoleError {
    /// Not signed in, or the session ended: back to the sign-in page, saying why.
    SignIn { expired: bool },
    /// Refused or failed: a page that says so, in both languages.
    Page {
        status: StatusCode,
        message: Message,
    },
}

impl ConsoleError {
    pub fn forbidden(message: Message) -> ConsoleError {
        ConsoleError::Page {
            status: StatusCode::FORBIDDEN,
            message,
        }
    }
}

impl From<ApiError> for ConsoleError {
    fn from(err: ApiError) -> Self {
        match (err.status, err.code) {
            (StatusCode::UNAUTHORIZED, ErrorCode::SessionExpired) => {
                ConsoleError::SignIn { expired: true }
            }
            (StatusCode::UNAUTHORIZED, _) => ConsoleError::SignIn { expired: false },
            (status, _) => ConsoleError::Page {
                status,
                message: err.message,
            },
        }
    }
}

impl From<sqlx::Error> for ConsoleError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::database(err).into()
    }
}

/// The error page: both languages, since the reader's choice may be what failed to load.
#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a Message,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignIn { expired: true } => {
                Redirect::to("/sign-in?expired=1").into_response()
            }
            ConsoleError::SignIn { expired: false } => Redirect::to("/sign-in").into_response(),
            ConsoleError::Page { status, message } => {
                let page = ErrorPage {
                    status: status.as_u16(),
                    message: &message,
                };
                match page.render() {
                    Ok(html) => html_response(status, html),
                    Err(err) => ApiError::internal(err).into_response(),
                }
            }
        }
    }
}
