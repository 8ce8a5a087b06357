//! Enrolling a device: a one-time code (typed, or the QR code's text) exchanged for a
//! device token through the transport, and the store connected with what the answer says.

use super::connect;
use super::error::{SyncError, server_error};
use super::state;
use crate::error::Error as StoreError;
use crate::store::{DeviceProfile, Store};
use crate::transport::{HttpTransport, Transport, TransportError};
use schema::Message;
use schema::enrollment::{EnrollRequest, EnrollResponse, QrPayload};
use schema::ids::AreaCode;
use serde::{Deserialize, Serialize};

/// What enrolling told the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub server: String,
    pub device_id: String,
    pub volunteer: String,
    pub villages: Vec<String>,
}

/// Enrolls this device over HTTP(S), as [`enroll_through`] does.
pub fn enroll(
    store: &Store,
    server: Option<&str>,
    input: &str,
    device_name: Option<&str>,
) -> Result<Enrollment, SyncError> {
    enroll_through(store, &HttpTransport::default(), server, input, device_name)
}

/// Enrolls this device with a one-time code (typed, or the QR code's text): exchanges it
/// for a device token bound to this store's actor, then connects the store as
/// [`connect`] does and takes the volunteer's name and villages. `server` is needed when
/// the input does not name one, and wins when both do.
pub fn enroll_through(
    store: &Store,
    transport: &dyn Transport,
    server: Option<&str>,
    input: &str,
    device_name: Option<&str>,
) -> Result<Enrollment, SyncError> {
    let QrPayload {
        server: named,
        code,
    } = QrPayload::read(input);
    let server = server
        .map(str::to_owned)
        .or(named)
        .unwrap_or_default()
        .trim()
        .trim_end_matches('/')
        .to_owned();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(StoreError::InvalidInput(Message::new(
            format!("服务器地址“{server}”无效，应以 http:// 或 https:// 开头"),
            format!("Invalid server address \"{server}\": it must start with http:// or https://"),
        ))
        .into());
    }
    if code.trim().is_empty() {
        return Err(StoreError::InvalidInput(Message::new(
            "请输入注册码",
            "An enrollment code is required",
        ))
        .into());
    }
    let profile = store.profile();
    let request = EnrollRequest {
        actor: store.actor(),
        code: code.trim().to_owned(),
        device_name: Some(device_name.unwrap_or(&profile.device).to_owned()),
    };
    let body =
        serde_json::to_vec(&request).map_err(|err| SyncError::BadResponse(err.to_string()))?;
    let answer = match transport.enroll(&format!("{server}/api/v1/enroll"), body) {
        Ok(answer) => answer,
        Err(TransportError::Status { status, body }) => return Err(server_error(status, &body)),
        Err(err) => return Err(err.into()),
    };
    let enrolled: EnrollResponse =
        serde_json::from_slice(&answer).map_err(|err| SyncError::BadResponse(err.to_string()))?;
    let villages: Vec<AreaCode> = enrolled
        .villages
        .iter()
        .filter_map(|code| AreaCode::parse_village(code).ok())
        .collect();
    connect(store, &server, &enrolled.device_token)?;
    store.assign_villages(&villages)?;
    if let Some(secret) = &enrolled.member_key_secret {
        store.adopt_member_key_secret(secret)?;
    }
    store.set_profile(DeviceProfile {
        device: device_name.map(str::to_owned).unwrap_or(profile.device),
        volunteer: enrolled.volunteer.clone(),
    })?;
    state::set_revocation(store, None)?;
    Ok(Enrollment {
        server,
        device_id: enrolled.device_id,
        volunteer: enrolled.volunteer,
        villages: enrolled.villages,
    })
}
