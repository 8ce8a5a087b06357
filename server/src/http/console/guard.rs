//! Who is reading a page, and whether a posted form comes from the console itself.
//!
//! A page's reader is the staff session behind the console's cookie (the same sessions as
//! the API's bearer tokens, `access::sessions`). Every state-changing form is guarded twice:
//! the browser must not say it comes from another site (`Sec-Fetch-Site`, `Origin`), and it
//! must carry the session's form token, which a page of another site cannot read. The
//! cookie is SameSite=Strict besides.

use super::frame::{Frame, Lang, NavLink, SignedIn, pages_for, role_label};
use super::page::ConsoleError;
use crate::access::accounts::Account;
use crate::access::roles::Permission;
use crate::http::AppState;
use crate::http::principal::{self, Client};
use crate::storage::areas;
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::header::{HOST, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use schema::Message;
use serde::de::DeserializeOwned;

/// The form field that carries the session's form token.
pub const FORM_TOKEN_FIELD: &str = "_form_token";

/// What a form token is derived for (BLAKE3's key derivation context).
const FORM_TOKEN_CONTEXT: &str = "doorstep console form token 2026";

fn derived_form_token(session_token: &str) -> blake3::Hash {
    blake3::Hash::from(blake3::derive_key(
        FORM_TOKEN_CONTEXT,
        session_token.as_bytes(),
    ))
}

/// The form token of a session: derived from its token, which only the server and the
/// reader's browser (in an HttpOnly cookie) hold, so no other site can know it; and one-way,
/// so a page that shows it does not show the session token.
pub fn form_token(session_token: &str) -> String {
    derived_form_token(session_token).to_hex().to_string()
}

pub fn form_token_matches(session_token: &str, submitted: &str) -> bool {
    // blake3::Hash compares in constant time.
    blake3::Hash::from_hex(submitted)
        .is_ok_and(|submitted| submitted == derived_form_token(session_token))
}

/// Refuses a form the browser says another site posted.
pub fn same_origin(headers: &HeaderMap) -> Result<(), ConsoleError> {
    let refused = || {
        ConsoleError::forbidden(Message::new(
            "已拒绝：这个表单不是从本系统的页面提交的",
            "Refused: this form was not sent from a page of this console",
        ))
    };
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    // A browser that says where a request comes from is believed (no page can set the
    // header); one too old to say has its Origin compared with the host.
    if let Some(site) = header("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(refused()),
        };
    }
    if let Some(origin) = header(ORIGIN.as_str()) {
        let origin_host = origin.split_once("://").map(|(_, host)| host);
        if origin_host.is_none() || origin_host != header(HOST.as_str()) {
            return Err(refused());
        }
    }
    Ok(())
}

/// The signed-in staff member reading a page.
#[derive(Debug, Clone)]
pub struct Reader {
    pub staff: Account,
    pub client: Client,
    pub lang: Lang,
    /// The session token, as the cookie carries it.
    pub token: String,
    /// The page's path and query.
    pub here: String,
    /// Whether a form's answer is being shown: its address only takes a POST.
    pub posted: bool,
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let client = Client::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let staff = principal::logged_in(state, &parts.headers, &client, "console.page").await?;
        let token = principal::session_token(&parts.headers)
            .unwrap_or_default()
            .to_owned();
        let here = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        Ok(Reader {
            staff,
            client,
            lang: Lang::of(&parts.headers),
            token,
            here,
            posted: parts.method == Method::POST,
        })
    }
}

impl Reader {
    /// Refuses a reader whose role does not allow `permission` (audited), in both languages.
    pub async fn must(
        &self,
        state: &AppState,
        permission: Permission,
        action: &'static str,
    ) -> Result<(), ConsoleError> {
        principal::permitted(state, &self.staff, &self.client, permission, action).await?;
        Ok(())
    }

    /// The session's form token, for the page's forms.
    pub fn form_token(&self) -> String {
        form_token(&self.token)
    }

    /// The layout of a page that also answers its own form: when it does, its language
    /// toggle comes back to `page` (the form's page, which a GET opens) rather than to the
    /// section's.
    pub async fn frame_answering(
        &self,
        state: &AppState,
        section: &str,
        page: String,
    ) -> Result<Frame, ConsoleError> {
        let mut frame = self.frame(state, section).await?;
        if self.posted {
            frame.here = page;
        }
        Ok(frame)
    }

    /// The layout of a page at `section` (a path of the navigation).
    pub async fn frame(&self, state: &AppState, section: &str) -> Result<Frame, ConsoleError> {
        let scope = self.staff.scope.as_str();
        let names = areas::names(state.ledger.db(), &[scope]).await?;
        let area = match names.get(scope) {
            Some(name) => format!("{name} {scope}"),
            None => scope.to_owned(),
        };
        let nav = pages_for(&self.staff)
            .map(|page| NavLink {
                path: page.path,
                label: self.lang.t(page.zh, page.en),
                current: page.path == section,
            })
            .collect();
        Ok(Frame {
            lang: self.lang,
            signed_in: Some(SignedIn {
                name: self.staff.name.clone(),
                role: self.lang.msg(&role_label(self.staff.role)).to_owned(),
                area,
                form_token: self.form_token(),
            }),
            nav,
            // The language toggle comes back here with a GET: a form's answer, shown at an
            // address that only takes a POST, comes back to its section's page instead.
            here: if self.posted {
                section.to_owned()
            } else {
                self.here.clone()
            },
        })
    }
}

/// A form posted by a signed-in reader from a page of the console: the one way a console
/// page changes anything. The browser must not name another site, and the form must carry
/// the session's token.
#[derive(Debug)]
pub struct Posted<F> {
    pub reader: Reader,
    pub form: F,
}

impl<F: DeserializeOwned + Send> FromRequest<AppState> for Posted<F> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        same_origin(request.headers())?;
        let (mut parts, body) = request.into_parts();
        let reader = Reader::from_request_parts(&mut parts, state).await?;
        let bytes = axum::body::to_bytes(body, crate::http::MAX_JSON_BODY_BYTES)
            .await
            .map_err(|_| bad_form())?;
        let token = form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == FORM_TOKEN_FIELD)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        if !form_token_matches(&reader.token, &token) {
            return Err(stale_form());
        }
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        let Form(form) = Form::<F>::from_request(request, state)
            .await
            .map_err(|_| bad_form())?;
        Ok(Posted { reader, form })
    }
}

/// The refusal of a form without the session's token.
pub fn stale_form() -> ConsoleError {
    ConsoleError::forbidden(Message::new(
        "已拒绝：表单已过期或不是从本系统的页面提交的，请刷新页面后重试",
        "Refused: the form is stale or was not sent from a page of this console; reload the page and try again",
    ))
}

fn bad_form() -> ConsoleError {
    ConsoleError::Page {
        status: StatusCode::BAD_REQUEST,
        message: Message::new("表单内容无效", "The form is not valid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_form_token_belongs_to_its_session() {
        let token = form_token("dss_one");
        assert!(form_token_matches("dss_one", &token));
        assert!(!form_token_matches("dss_two", &token));
        assert!(!form_token_matches("dss_one", ""));
        assert!(!form_token_matches("dss_one", "not hex"));
    }

    #[test]
    fn test_a_form_from_another_site_is_refused() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, value.parse().expect("a header value"));
            }
            headers
        };
        let host = ("host", "county.example:8080");
        assert!(same_origin(&headers(&[host])).is_ok());
        assert!(
            same_origin(&headers(&[
                host,
                ("origin", "http://county.example:8080"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_ok()
        );
        // Under a no-referrer policy a browser sends Origin: null even for its own forms.
        assert!(
            same_origin(&headers(&[
                host,
                ("origin", "null"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_ok()
        );
        assert!(same_origin(&headers(&[host, ("origin", "http://evil.example")])).is_err());
        assert!(same_origin(&headers(&[host, ("origin", "null")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "cross-site")])).is_err());
        assert!(same_origin(&headers(&[host, ("sec-fetch-site", "same-site")])).is_err());
    }
}
