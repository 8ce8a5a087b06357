//! Signing in and out, changing one's own password, and the language toggle.

use super::frame::{Frame, LANGUAGE_COOKIE, Lang, pages_for};
use super::guard::{Posted, Reader, same_origin};
use super::page::{ConsoleError, PageResult, render};
use crate::access::sessions::{self, LoginRefused};
use crate::http::AppState;
use crate::http::accounts::{
    account_error, cleared_session_cookie, login_error, open_session, session_cookie,
};
use crate::http::principal::{self, Client};
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use schema::Message;
use serde::Deserialize;

/// `/`: the first page the reader's role may use.
pub async fn home(reader: Reader) -> PageResult {
    let first = pages_for(&reader.staff)
        .next()
        .map_or("/password", |page| page.path);
    Ok(Redirect::to(first).into_response())
}

/// A field's error, shown beside it in both languages.
pub type FieldError = Option<Message>;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    frame: Frame,
    notice: Option<Message>,
    username: String,
    next: String,
    username_error: FieldError,
    password_error: FieldError,
    totp_error: FieldError,
}

#[derive(Debug, Default, Deserialize)]
pub struct SignInParams {
    /// `1` when the session had expired (flags are `1`, as the redirects write them).
    #[serde(default)]
    expired: u8,
    #[serde(default)]
    signed_out: u8,
    next: Option<String>,
}

/// Only an address of this console is a place to go after signing in.
fn local_path(path: Option<&str>) -> String {
    match path {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

pub async fn sign_in_page(headers: HeaderMap, Query(params): Query<SignInParams>) -> PageResult {
    let notice = if params.expired == 1 {
        Some(Message::new(
            "登录已过期或已退出，请重新登录",
            "Your session has expired or ended; please sign in again",
        ))
    } else if params.signed_out == 1 {
        Some(Message::new("您已退出", "You have signed out"))
    } else {
        None
    };
    render(&SignInPage {
        frame: Frame::anonymous(Lang::of(&headers), "/sign-in"),
        notice,
        username: String::new(),
        next: local_path(params.next.as_deref()),
        username_error: None,
        password_error: None,
        totp_error: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    totp: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> PageResult {
    same_origin(&headers)?;
    let next = local_path(form.next.as_deref());
    let mut page = SignInPage {
        frame: Frame::anonymous(Lang::of(&headers), "/sign-in"),
        notice: None,
        username: form.username.trim().to_owned(),
        next: next.clone(),
        username_error: None,
        password_error: None,
        totp_error: None,
    };
    if page.username.is_empty() {
        page.username_error = Some(Message::new("请填写用户名", "Enter your username"));
    }
    if form.password.is_empty() {
        page.password_error = Some(Message::new("请填写密码", "Enter your password"));
    }
    if page.username_error.is_some() || page.password_error.is_some() {
        return render(&page);
    }
    let totp = Some(form.totp.trim()).filter(|code| !code.is_empty());
    let outcome = open_session(&state, &client, &page.username, &form.password, totp).await?;
    match outcome {
        Ok(session) => {
            let mut response = Redirect::to(&next).into_response();
            response
                .headers_mut()
                .insert(SET_COOKIE, session_cookie(&state, &session.token));
            Ok(response)
        }
        Err(refused) => {
            let message = login_error(refused.clone(), state.now()).message;
            match refused {
                LoginRefused::SecondFactorRequired => page.totp_error = Some(message),
                LoginRefused::LockedOut(_) => page.username_error = Some(message),
                LoginRefused::BadCredentials | LoginRefused::Disabled => {
                    page.password_error = Some(message)
                }
            }
            render(&page)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// Ends the reader's session and clears the cookie.
pub async fn sign_out(State(state): State<AppState>, posted: Posted<NoFields>) -> PageResult {
    let reader = posted.reader;
    sessions::logout(state.ledger.db(), state.clock(), &reader.token).await?;
    principal::done(
        &state,
        &reader.staff,
        &reader.client,
        "logout",
        &reader.staff.username,
        "console",
    )
    .await?;
    let mut response = Redirect::to("/sign-in?signed_out=1").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, cleared_session_cookie(&state));
    Ok(response)
}

#[derive(Template)]
#[template(path = "console/password.html")]
struct PasswordPage {
    frame: Frame,
    form_token: String,
    changed: bool,
    current_error: FieldError,
    new_error: FieldError,
    repeat_error: FieldError,
}

#[derive(Debug, Deserialize)]
pub struct PasswordParams {
    #[serde(default)]
    changed: u8,
}

pub async fn password_page(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<PasswordParams>,
) -> PageResult {
    render(&PasswordPage {
        frame: reader.frame(&state, "/password").await?,
        form_token: reader.form_token(),
        changed: params.changed == 1,
        current_error: None,
        new_error: None,
        repeat_error: None,
    })
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

/// Changes the reader's password; their other sessions end, this one goes on.
pub async fn change_password(
    State(state): State<AppState>,
    posted: Posted<PasswordForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    let action = "password.change";
    let mut page = PasswordPage {
        frame: reader.frame(&state, "/password").await?,
        form_token: reader.form_token(),
        changed: false,
        current_error: None,
        new_error: None,
        repeat_error: None,
    };
    if form.current.is_empty() {
        page.current_error = Some(Message::new(
            "请填写当前密码",
            "Enter your current password",
        ));
    }
    if form.new != form.repeat {
        page.repeat_error = Some(Message::new(
            "两次输入的新密码不一致",
            "The two new passwords differ",
        ));
    }
    if page.current_error.is_some() || page.repeat_error.is_some() {
        return render(&page);
    }
    let outcome = sessions::change_password(
        state.ledger.db(),
        state.clock(),
        &reader.staff,
        &form.current,
        &form.new,
        &reader.token,
    )
    .await;
    match outcome {
        Ok(Ok(())) => {
            principal::done(
                &state,
                &reader.staff,
                &reader.client,
                action,
                &reader.staff.username,
                "console",
            )
            .await?;
            Ok(Redirect::to("/password?changed=1").into_response())
        }
        Ok(Err(refused)) => {
            principal::refused(
                &state,
                &reader.staff,
                &reader.client,
                action,
                &reader.staff.username,
                "wrong password",
            )
            .await?;
            page.current_error = Some(login_error(refused, state.now()).message);
            render(&page)
        }
        Err(err) => match account_error(err) {
            err if err.status.is_client_error() => {
                page.new_error = Some(err.message);
                render(&page)
            }
            err => Err(ConsoleError::from(err)),
        },
    }
}

#[derive(Debug, Deserialize)]
pub struct LanguageParams {
    to: Option<String>,
    back: Option<String>,
}

/// `/language?to=en&back=/page`: keeps the reader's language in a cookie for a year and goes
/// back to the page. Only a preference changes, so a link does.
pub async fn language(Query(params): Query<LanguageParams>) -> Response {
    let lang = if params.to.as_deref() == Some("en") {
        Lang::En
    } else {
        Lang::Zh
    };
    let mut response = Redirect::to(&local_path(params.back.as_deref())).into_response();
    let cookie = format!(
        "{LANGUAGE_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}
