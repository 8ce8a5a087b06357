//! Devices: making enrollment codes for a volunteer and villages, each with a printable
//! sheet (the QR code, the code as text, the volunteer, the villages by name, the expiry);
//! the devices of the reader's area with their last sync; revoking one with a reason, and
//! giving it other villages. Every step is the API's (`http::devices`).

use super::frame::{Frame, local_time};
use super::guard::{Posted, Reader};
use super::page::{ConsoleError, PageResult, refused_for_input, render, render_secret};
use super::shown::VillageNames;
use crate::access::devices::{self, DeviceInfo};
use crate::access::enrollment_code;
use crate::access::roles::Permission;
use crate::http::AppState;
use crate::http::devices::{
    EnrollmentRequest, device_in_scope, make_code, reassign_device, revoke_device, usable_code,
};
use crate::storage::areas::{self, Area};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use schema::Message;
use schema::error_code::ErrorCode;
use schema::ids::AreaCode;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A village the reader may choose, with whether it is chosen.
#[derive(Debug)]
struct VillageChoice {
    code: String,
    name: String,
    checked: bool,
}

/// The villages of one township, as the form groups them.
#[derive(Debug)]
struct TownshipGroup {
    name: String,
    villages: Vec<VillageChoice>,
    /// Open when one of its villages is chosen, or when it is the only group.
    open: bool,
}

async fn village_groups(
    state: &AppState,
    scope: &AreaCode,
    chosen: &[String],
) -> Result<Vec<TownshipGroup>, ConsoleError> {
    let villages = areas::villages_within(state.ledger.db(), scope).await?;
    let townships: Vec<String> = villages
        .iter()
        .filter_map(|v| v.code.parent().map(|p| p.as_str().to_owned()))
        .collect();
    let township_refs: Vec<&str> = townships.iter().map(String::as_str).collect();
    let names = VillageNames::of(state, &township_refs).await?;
    let mut groups: Vec<(String, TownshipGroup)> = Vec::new();
    for Area { code, name } in villages {
        let township = code
            .parent()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let checked = chosen.iter().any(|c| c == code.as_str());
        if groups.last().is_none_or(|(t, _)| *t != township) {
            groups.push((
                township.clone(),
                TownshipGroup {
                    name: names.label(&township),
                    villages: Vec::new(),
                    open: false,
                },
            ));
        }
        if let Some((_, group)) = groups.last_mut() {
            group.open |= checked;
            group.villages.push(VillageChoice {
                code: code.as_str().to_owned(),
                name,
                checked,
            });
        }
    }
    let only = groups.len() == 1;
    Ok(groups
        .into_iter()
        .map(|(_, mut group)| {
            group.open |= only;
            group
        })
        .collect())
}

#[derive(Debug)]
struct DeviceLine {
    id: String,
    name: String,
    volunteer: String,
    villages: String,
    last_sync: String,
    enrolled: String,
    revoked: Option<String>,
}

fn device_line(device: &DeviceInfo, names: &VillageNames, lang: super::frame::Lang) -> DeviceLine {
    DeviceLine {
        id: device.id.clone(),
        name: device.name.clone(),
        volunteer: device.volunteer.clone(),
        villages: names.labels(&device.villages),
        last_sync: device
            .last_seen_at
            .map_or_else(|| lang.t("从未同步", "never").to_owned(), local_time),
        enrolled: local_time(device.created_at),
        revoked: device.revoked_at.map(|at| {
            let reason = if device.revoke_reason.is_empty() {
                String::new()
            } else {
                format!(" · {}", device.revoke_reason)
            };
            format!("{}{reason}", local_time(at))
        }),
    }
}

/// What the enrollment form was given, kept when it comes back with errors.
#[derive(Debug, Default)]
struct CodeEntry {
    volunteer: String,
    hours: String,
    volunteer_error: Option<Message>,
    villages_error: Option<Message>,
    hours_error: Option<Message>,
}

#[derive(Template)]
#[template(path = "console/devices.html")]
struct DevicesPage {
    frame: Frame,
    form_token: String,
    may_enroll: bool,
    form: CodeEntry,
    groups: Vec<TownshipGroup>,
    devices: Vec<DeviceLine>,
    notice: Option<String>,
}

async fn devices_page(
    state: &AppState,
    reader: &Reader,
    form: CodeEntry,
    chosen: &[String],
    notice: Option<String>,
) -> Result<DevicesPage, ConsoleError> {
    let scope = &reader.staff.scope;
    let list = devices::list(state.ledger.db(), state.clock(), scope).await?;
    let codes: Vec<&str> = list
        .iter()
        .flat_map(|d| d.villages.iter().map(String::as_str))
        .collect();
    let names = VillageNames::of(state, &codes).await?;
    Ok(DevicesPage {
        frame: reader.frame(state, "/devices").await?,
        form_token: reader.form_token(),
        may_enroll: reader.staff.may(Permission::EnrollDevices),
        form,
        groups: village_groups(state, scope, chosen).await?,
        devices: list
            .iter()
            .map(|d| device_line(d, &names, reader.lang))
            .collect(),
        notice,
    })
}

/// `/devices`: the devices of the reader's area, and the form that makes enrollment codes.
pub async fn list(State(state): State<AppState>, reader: Reader) -> PageResult {
    reader
        .must(&state, Permission::ManageDevices, "device.list")
        .await?;
    render(&devices_page(&state, &reader, CodeEntry::default(), &[], None).await?)
}

/// The name of a village's check box: one name per village, since a form's repeated field
/// is not read into a list.
const VILLAGE_BOX: &str = "village-";

/// The villages whose boxes a form checked.
fn checked_villages(boxes: &BTreeMap<String, String>) -> Vec<String> {
    boxes
        .keys()
        .filter_map(|name| name.strip_prefix(VILLAGE_BOX))
        .map(str::to_owned)
        .collect()
}

/// The enrollment form, as posted.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    volunteer: String,
    #[serde(default)]
    hours: String,
    #[serde(flatten)]
    boxes: BTreeMap<String, String>,
}

/// Makes a code, then shows its printable sheet.
pub async fn create_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    posted: Posted<CodeForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::EnrollDevices, "device.enroll.create")
        .await?;
    let villages = checked_villages(&form.boxes);
    let mut page = CodeEntry {
        volunteer: form.volunteer.trim().to_owned(),
        hours: form.hours.trim().to_owned(),
        ..CodeEntry::default()
    };
    if page.volunteer.is_empty() {
        page.volunteer_error = Some(Message::new(
            "请填写志愿者姓名",
            "Enter the volunteer's name",
        ));
    }
    if villages.is_empty() {
        page.villages_error = Some(Message::new(
            "请至少选择一个村",
            "Choose at least one village",
        ));
    }
    let hours = if page.hours.is_empty() {
        None
    } else {
        match page.hours.parse::<i64>() {
            Ok(hours) => Some(hours),
            Err(_) => {
                page.hours_error = Some(Message::new(
                    "有效期应为整数小时",
                    "Give the hours as a whole number",
                ));
                None
            }
        }
    };
    let refused = page.volunteer_error.is_some()
        || page.villages_error.is_some()
        || page.hours_error.is_some();
    if refused {
        return render(&devices_page(&state, &reader, page, &villages, None).await?);
    }
    let request = EnrollmentRequest {
        volunteer: page.volunteer.clone(),
        villages: villages.clone(),
        expires_in_hours: hours,
        server: None,
    };
    match make_code(&state, &reader.staff, &reader.client, &headers, request).await {
        Ok(made) => Ok(Redirect::to(&format!("/devices/codes/{}", made.code)).into_response()),
        Err(err) if refused_for_input(&err) => {
            // The refusal's code says which field it is about; what is left is the villages'.
            let place = match err.code {
                ErrorCode::InvalidExpiry => &mut page.hours_error,
                ErrorCode::InvalidVolunteer => &mut page.volunteer_error,
                _ => &mut page.villages_error,
            };
            *place = Some(err.message);
            render(&devices_page(&state, &reader, page, &villages, None).await?)
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Template)]
#[template(path = "console/enrollment_sheet.html")]
struct SheetPage {
    frame: Frame,
    code: String,
    payload: String,
    qr_svg: String,
    volunteer: String,
    villages: Vec<String>,
    expires: String,
}

/// `/devices/codes/{code}`: the printable sheet of a code that still works.
pub async fn sheet(
    State(state): State<AppState>,
    headers: HeaderMap,
    reader: Reader,
    Path(code): Path<String>,
) -> PageResult {
    reader
        .must(&state, Permission::EnrollDevices, "device.enroll.qr")
        .await?;
    let (stored, payload) =
        usable_code(&state, &reader.staff, &reader.client, &headers, &code, None).await?;
    let codes: Vec<&str> = stored.villages.iter().map(AreaCode::as_str).collect();
    let names = VillageNames::of(&state, &codes).await?;
    let canonical = enrollment_code::normalize_code(&code).unwrap_or_default();
    render_secret(&SheetPage {
        frame: reader.frame(&state, "/devices").await?,
        code: enrollment_code::display_code(&canonical),
        qr_svg: enrollment_code::qr_svg(&payload),
        payload,
        volunteer: stored.volunteer.clone(),
        villages: stored
            .villages
            .iter()
            .map(|v| names.label(v.as_str()))
            .collect(),
        expires: local_time(stored.expires_at),
    })
}

#[derive(Template)]
#[template(path = "console/device.html")]
struct DevicePage {
    frame: Frame,
    form_token: String,
    device: DeviceLine,
    revoked: bool,
    groups: Vec<TownshipGroup>,
    reason_error: Option<Message>,
    villages_error: Option<Message>,
    notice: Option<String>,
}

async fn device_page(
    state: &AppState,
    reader: &Reader,
    id: &str,
    reason_error: Option<Message>,
    villages_error: Option<Message>,
    notice: Option<String>,
) -> Result<DevicePage, ConsoleError> {
    let device = device_in_scope(state, &reader.staff, &reader.client, id, "device.read").await?;
    let codes: Vec<&str> = device.villages.iter().map(String::as_str).collect();
    let names = VillageNames::of(state, &codes).await?;
    Ok(DevicePage {
        frame: reader.frame(state, "/devices").await?,
        form_token: reader.form_token(),
        revoked: device.revoked_at.is_some(),
        groups: village_groups(state, &reader.staff.scope, &device.villages).await?,
        device: device_line(&device, &names, reader.lang),
        reason_error,
        villages_error,
        notice,
    })
}

/// `/devices/{id}`: one device, to revoke or to give other villages.
pub async fn device(
    State(state): State<AppState>,
    reader: Reader,
    Path(id): Path<String>,
) -> PageResult {
    reader
        .must(&state, Permission::ManageDevices, "device.list")
        .await?;
    render(&device_page(&state, &reader, &id, None, None, None).await?)
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    reason: String,
    /// Present when the box "erase its data" is checked.
    wipe: Option<String>,
}

pub async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<RevokeForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ManageDevices, "device.revoke")
        .await?;
    let reason = form.reason.trim();
    if reason.is_empty() {
        let message = Message::new("请说明撤销的原因", "Say why the device is revoked");
        return render(&device_page(&state, &reader, &id, Some(message), None, None).await?);
    }
    let wipe = form.wipe.is_some();
    match revoke_device(&state, &reader.staff, &reader.client, &id, wipe, reason).await {
        Ok(_) => {
            let notice = reader
                .lang
                .t("设备已撤销", "The device was revoked")
                .to_owned();
            render(&device_page(&state, &reader, &id, None, None, Some(notice)).await?)
        }
        Err(err) if refused_for_input(&err) => {
            render(&device_page(&state, &reader, &id, Some(err.message), None, None).await?)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn reassign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<VillagesForm>,
) -> PageResult {
    let Posted { reader, form } = posted;
    reader
        .must(&state, Permission::ManageDevices, "device.villages")
        .await?;
    let villages = checked_villages(&form.boxes);
    if villages.is_empty() {
        let message = Message::new("请至少选择一个村", "Choose at least one village");
        return render(&device_page(&state, &reader, &id, None, Some(message), None).await?);
    }
    match reassign_device(&state, &reader.staff, &reader.client, &id, &villages).await {
        Ok(_) => {
            let notice = reader
                .lang
                .t(
                    "已更改村，设备下次同步时生效",
                    "The villages were changed; the device takes them at its next sync",
                )
                .to_owned();
            render(&device_page(&state, &reader, &id, None, None, Some(notice)).await?)
        }
        Err(err) if refused_for_input(&err) => {
            render(&device_page(&state, &reader, &id, None, Some(err.message), None).await?)
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Debug, Deserialize)]
pub struct VillagesForm {
    #[serde(flatten)]
    boxes: BTreeMap<String, String>,
}
