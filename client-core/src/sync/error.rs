//! Why a sync or an enrollment stopped, told the volunteer in both languages; and how a
//! refusal from the server reads.

use crate::error::Error as StoreError;
use crate::transport::TransportError;
use schema::Message;
use schema::error_code::ErrorCode;
use schema::ids::HouseholdId;
use schema::wire::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("this store is not connected to a server")]
    NotConnected,
    /// The link failed; a later try may get through.
    #[error("network: {0}")]
    Network(String),
    /// The server was reached (or not) and then said nothing for longer than the phone waits.
    #[error("server not answering: {0}")]
    NotAnswering(String),
    /// The server's certificate is not one this device trusts; trying again cannot help.
    #[error("certificate: {0}")]
    Certificate(String),
    #[error("server refused the sync: {}", .message.en)]
    Server { status: u16, message: Message },
    #[error("the server's answer could not be read: {0}")]
    BadResponse(String),
    /// The server sent a household this device cannot take (damaged, unreadable, or not
    /// the household it is filed under). Nothing of it was stored, and the download stops
    /// there until the server is put right.
    #[error("the server sent household {household} unusable: {}", .reason.en)]
    BadUpdate { household: String, reason: Message },
    #[error("cancelled")]
    Cancelled,
    /// Another sync of this store is running.
    #[error("a sync is already running")]
    AlreadyRunning,
    /// The server revoked this device: its survey data has been erased, and it is no longer
    /// connected. Carries the server's message.
    #[error("device revoked: {}", .0.en)]
    Revoked(Message),
    #[error(transparent)]
    Store(Box<StoreError>),
}

impl From<StoreError> for SyncError {
    fn from(err: StoreError) -> Self {
        SyncError::Store(Box::new(err))
    }
}

impl From<TransportError> for SyncError {
    fn from(err: TransportError) -> Self {
        match err {
            TransportError::Network(detail) => SyncError::Network(detail),
            TransportError::NotAnswering(detail) => SyncError::NotAnswering(detail),
            TransportError::Certificate(detail) => SyncError::Certificate(detail),
            TransportError::Status { status, body } => server_error(status, &body),
        }
    }
}

impl SyncError {
    pub fn message(&self) -> Message {
        match self {
            SyncError::NotConnected => Message::new(
                "本设备尚未连接服务器，请先执行 init",
                "This device is not connected to a server; run init first",
            ),
            SyncError::Network(err) => Message::new(
                format!("网络中断，已完成的部分已保存，请稍后重试：{err}"),
                format!("The connection failed; what finished is saved. Try again later: {err}"),
            ),
            SyncError::NotAnswering(err) => Message::new(
                format!(
                    "服务器没有回应，已完成的部分已保存，请稍后重试；一直如此请告知县里工作人员：{err}"
                ),
                format!(
                    "The server is not answering; what finished is saved. Try again later, and tell county staff if it goes on: {err}"
                ),
            ),
            SyncError::Certificate(err) => Message::new(
                format!(
                    "服务器的安全证书不被本设备信任，重试也无法连接；请告知县里工作人员：{err}"
                ),
                format!(
                    "This device does not trust the server's security certificate; trying again will not help. Tell county staff: {err}"
                ),
            ),
            SyncError::BadUpdate { household, reason } => Message::new(
                format!(
                    "服务器发来的户“{household}”的数据无法使用，未保存，本机其他数据未受影响；请告知县里工作人员：{}",
                    reason.zh
                ),
                format!(
                    "The server sent household \"{household}\" in a form this device cannot use; it was not saved and nothing else on the device changed. Tell county staff: {}",
                    reason.en
                ),
            ),
            SyncError::Server { message, .. } => message.clone(),
            SyncError::BadResponse(err) => Message::new(
                format!("服务器的回复无法识别，请稍后重试：{err}"),
                format!("The server's answer could not be read; try again later: {err}"),
            ),
            SyncError::Cancelled => Message::new(
                "同步已取消，已完成的部分已保存",
                "Sync cancelled; what finished is saved",
            ),
            SyncError::AlreadyRunning => Message::new(
                "同步正在进行中，请等它完成",
                "A sync is already running; wait for it to finish",
            ),
            SyncError::Revoked(message) => message.clone(),
            SyncError::Store(err) => err.message(),
        }
    }
}

/// What a household the server sent and the store refused stops the sync with. The
/// device's own storage failing is its own error; anything else is in what the server sent,
/// which trying again would only fetch again.
pub(crate) fn refused_update(household: &HouseholdId, err: StoreError) -> SyncError {
    match err {
        StoreError::Storage(_) | StoreError::Io(_) => err.into(),
        refused => SyncError::BadUpdate {
            household: household.to_string(),
            reason: refused.message(),
        },
    }
}

/// The message of a 401 that tells this device it was revoked and must erase its data.
pub(crate) fn revocation(status: u16, body: &[u8]) -> Option<Message> {
    let error = serde_json::from_slice::<ErrorBody>(body).ok()?;
    (status == 401 && error.error == ErrorCode::DeviceRevoked).then_some(error.message)
}

/// The error a refusal from the server stops the sync or enrollment with.
pub(crate) fn server_error(status: u16, body: &[u8]) -> SyncError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => SyncError::Server {
            status,
            message: error.message,
        },
        // A proxy in front of a server that is down or restarting answers without our JSON.
        Err(_) if matches!(status, 502..=504) => SyncError::Server {
            status,
            message: Message::new(
                format!("服务器繁忙（{status}），未做任何修改，请稍后重试"),
                format!("The server is busy ({status}); nothing was changed. Please retry later"),
            ),
        },
        Err(_) => SyncError::Server {
            status,
            message: Message::new(
                format!("服务器返回错误 {status}"),
                format!("The server answered with error {status}"),
            ),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_a_busy_server_or_its_proxy_tells_the_volunteer_to_retry() {
        let told = |status, body: &[u8]| server_error(status, body).message();
        let proxy = told(503, b"<html>503 Service Unavailable</html>");
        assert!(
            proxy.zh.contains("服务器繁忙") && proxy.zh.contains("重试"),
            "{proxy:?}"
        );
        assert!(
            proxy.en.contains("busy") && proxy.en.contains("retry"),
            "{proxy:?}"
        );
        let server = r#"{"error":"unavailable","message":{"zh":"服务器繁忙","en":"busy"}}"#;
        assert_eq!(told(503, server.as_bytes()).en, "busy");
        assert!(!told(500, b"").en.contains("busy"));
    }

    #[test]
    fn test_only_a_401_device_revoked_erases_the_device() {
        let body = |code: &str| {
            serde_json::to_vec(&ErrorBody {
                error: code.into(),
                message: Message::new("已撤销", "Revoked"),
            })
            .unwrap()
        };
        assert_eq!(
            revocation(401, &body("device_revoked")),
            Some(Message::new("已撤销", "Revoked"))
        );
        assert_eq!(revocation(401, &body("unauthorized")), None);
        assert_eq!(revocation(403, &body("device_revoked")), None);
        assert_eq!(revocation(401, b"<html>device_revoked</html>"), None);
    }
}
