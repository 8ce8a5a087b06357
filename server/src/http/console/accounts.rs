//! Accounts, for county admins: the accounts of their area; creating one (an admin's second
//! factor shown once, as a QR code for the authenticator app); disabling one; giving an admin
//! who lost their authenticator a new second factor. Every step is the API's
//! (`http::accounts`), audited there.

use super::frame::{Frame, role_label};
use super::guard::{Posted, Reader};
use super::page::{ConsoleError, PageResult, refused_for_input, render, render_secret};
use super::shown::{SelectOption, VillageNames};
use crate::access::accounts;
use crate::access::enrollment_code;
use crate::access::roles::{Permission, Role};
use crate::http::AppState;
use crate::http::accounts::{
    CreatedStaff, NewStaffRequest, create_account, disable_account, reset_second_factor,
};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use schema::Message;
use schema::error_code::ErrorCode;
use serde::Deserialize;

#[derive(Debug)]
struct AccountLine {
    username: String,
    name: String,
    role: String,
    area: String,
    second_factor: bool,
    is_reader: bool,
}

/// What the new-account form was given, kept when it comes back with errors.
#[derive(Debug, Default)]
struct NewAccountEntry {
    username: String,
    name: String,
    scope: String,
    username_error: Option<Message>,
    name_error: Option<Message>,
    role_error: Option<Message>,
    scope_error: Option<Message>,
    password_error: Option<Message>,
}

#[derive(Template)]
#[template(path = "console/accounts.html")]
struct AccountsPage {
    frame: Frame,
    form_token: String,
    accounts: Vec<AccountLine>,
    roles: Vec<SelectOption>,
    form: NewAccountEntry,
    notice: Option<String>,
}

async fn accounts_page(
    state: &AppState,
    reader: &Reader,
    mut form: NewAccountEntry,
    role: Option<Role>,
    notice: Option<String>,
) -> Result<AccountsPage, ConsoleError> {
    let lang = reader.lang;
    let list = accounts::list(state.ledger.db(), &reader.staff.scope).await?;
    let scopes: Vec<&str> = list.iter().map(|a| a.scope.as_str()).collect();
    let names = VillageNames::of(state, &scopes).await?;
    if form.scope.is_empty() {
        form.scope = reader.staff.scope.as_str().to_owned();
    }
    Ok(AccountsPage {
        frame: reader.frame(state, "/accounts").await?,
        form_token: reader.form_token(),
        accounts: list
            .iter()
            .map(|a| AccountLine {
                username: a.username.clone(),
                name: a.name.clone(),
                role: lang.msg(&role_label(a.role)).to_owned(),
                area: names.label(a.scope.as_str()),
                second_factor: a.role.needs_second_factor(),
                is_reader: a.username == reader.staff.username,
            })
            .collect(),
        roles: Role::ALL
            .into_iter()
            .map(|r| SelectOption {
                value: r.as_str().to_owned(),
                label: lang.msg(&role_label(r)).to_owned(),
                selected: role == Some(r),
            })
            .collect(),
        form,
        notice,
    })
}

#[derive(Debug, Deserialize)]
pub struct AccountsParams {
    done: Option<String>,
}

/// `/accounts`: the accounts of the admin's area.
pub async fn list(
    State(state): State<AppState>,
    reader: Reader,
    Query(params): Query<AccountsParams>,
) -> PageResult {
    reader
        .must(&state, Permission::ManageStaff, "staff.list")
        .await?;
    let notice = match params.done.as_deref() {
        Some("disabled") => Some(
            reader
                .lang
                .t(
                    "账号已停用，其登录已全部退出",
                    "The account was disabled and its sessions ended",
                )
                .to_owned(),
        ),
        _ => None,
    };
    render(&accounts_page(&state, &reader, NewAccountEntry::default(), None, notice).await?)
}

#[derive(Debug, Deserialize)]
pub struct NewAccountForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "console/second_factor.html")]
struct SecondFactorPage {
    frame: Frame,
    title: String,
    username: String,
    name: String,
    role: String,
    /// The authenticator's address and its QR code, for admin accounts.
    totp: Option<(String, String)>,
}

fn second_factor_page(frame: Frame, created: CreatedStaff, title: String) -> SecondFactorPage {
    let lang = frame.lang;
    SecondFactorPage {
        title,
        username: created.staff.username.clone(),
        name: created.staff.name.clone(),
        role: lang.msg(&role_label(created.staff.role)).to_owned(),
        totp: created
            .totp_uri
            .map(|uri| (enrollment_code::qr_svg(&uri), uri)),
        frame,
    }
}

pub async fn create(State(state): State<AppState>, posted: Posted<NewAccountForm>) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ManageStaff, "staff.create")
        .await?;
    let mut entry = NewAccountEntry {
        username: form.username.trim().to_owned(),
        name: form.name.trim().to_owned(),
        scope: form.scope.trim().to_owned(),
        ..NewAccountEntry::default()
    };
    let role = Role::parse(&form.role);
    if let Err(message) = &role {
        entry.role_error = Some(message.clone());
    }
    if entry.name.is_empty() {
        entry.name_error = Some(Message::new("请填写姓名", "Enter the person's name"));
    }
    let role = role.ok();
    if entry.role_error.is_some() || entry.name_error.is_some() {
        return render(&accounts_page(&state, &reader, entry, role, None).await?);
    }
    let request = NewStaffRequest {
        username: entry.username.clone(),
        name: entry.name.clone(),
        role: form.role,
        scope: entry.scope.clone(),
        password: form.password,
    };
    match create_account(&state, &reader.staff, &reader.client, request).await {
        Ok(created) => {
            let title = reader.lang.t("账号已创建", "Account created").to_owned();
            let frame = reader.frame(&state, "/accounts").await?;
            render_secret(&second_factor_page(frame, created, title))
        }
        Err(err) if refused_for_input(&err) => {
            // The refusal's code says which field it is about; what is left is the area's
            // (a code that is no area, or one outside the admin's).
            let place = match err.code {
                ErrorCode::WeakPassword => &mut entry.password_error,
                ErrorCode::InvalidUsername | ErrorCode::UsernameTaken => &mut entry.username_error,
                _ => &mut entry.scope_error,
            };
            *place = Some(err.message);
            render(&accounts_page(&state, &reader, entry, role, None).await?)
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

pub async fn disable(
    State(state): State<AppState>,
    Path(username): Path<String>,
    posted: Posted<NoFields>,
) -> PageResult {
    let reader = posted.reader;
    reader
        .must(&state, Permission::ManageStaff, "staff.disable")
        .await?;
    disable_account(&state, &reader.staff, &reader.client, &username).await?;
    Ok(Redirect::to("/accounts?done=disabled").into_response())
}

pub async fn reset_totp(
    State(state): State<AppState>,
    Path(username): Path<String>,
    posted: Posted<NoFields>,
) -> PageResult {
    let reader = posted.reader;
    reader
        .must(&state, Permission::ManageStaff, "staff.reset_totp")
        .await?;
    let created = reset_second_factor(&state, &reader.staff, &reader.client, &username).await?;
    let title = reader
        .lang
        .t("已重设动态码", "A new second factor")
        .to_owned();
    let frame = reader.frame(&state, "/accounts").await?;
    render_secret(&second_factor_page(frame, created, title))
}
