//! The one error the phone sees. Small on purpose: a variant for each thing the UI does
//! differently, each carrying the message to show, in Chinese and in English.
//!
//! Kotlin receives it as `DoorstepException` (a sealed class, one subclass per variant),
//! Swift as `DoorstepError`, Python as `DoorstepError.<Variant>`; every variant has `zh` and
//! `en` fields the UI can show as they are.

use client_core::Error as StoreError;
use client_core::sync::SyncError;
use schema::Message;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum DoorstepError {
    /// What the person typed or chose cannot be taken; nothing was stored. Show it beside
    /// the input.
    #[error("{en}")]
    InvalidInput { zh: String, en: String },
    /// The household (or member, or visit) is not on this device.
    #[error("{en}")]
    NotFound { zh: String, en: String },
    /// The device has not been set up with a server yet: show the set-up screen.
    #[error("{en}")]
    NotConnected { zh: String, en: String },
    /// The link to the server failed; what finished is saved. Try again later.
    #[error("{en}")]
    Network { zh: String, en: String },
    /// The server refused the request (for example a withdrawn device token).
    #[error("{en}")]
    Server { status: u16, zh: String, en: String },
    /// The sync was cancelled; what finished is saved and the next sync goes on from there.
    #[error("{en}")]
    Cancelled { zh: String, en: String },
    /// A sync is already running on this store.
    #[error("{en}")]
    SyncInProgress { zh: String, en: String },
    /// Anything else: the device's storage, damaged data. Nothing the person can fix by
    /// typing; show it and report it.
    #[error("{en}")]
    Other { zh: String, en: String },
}

impl DoorstepError {
    /// The message to show, whatever the variant.
    pub fn message(&self) -> Message {
        let (zh, en) = match self {
            DoorstepError::InvalidInput { zh, en }
            | DoorstepError::NotFound { zh, en }
            | DoorstepError::NotConnected { zh, en }
            | DoorstepError::Network { zh, en }
            | DoorstepError::Server { zh, en, .. }
            | DoorstepError::Cancelled { zh, en }
            | DoorstepError::SyncInProgress { zh, en }
            | DoorstepError::Other { zh, en } => (zh, en),
        };
        Message::new(zh.clone(), en.clone())
    }

    pub(crate) fn sync_in_progress() -> DoorstepError {
        DoorstepError::SyncInProgress {
            zh: "同步正在进行，请稍候".to_owned(),
            en: "A sync is already running; wait for it to finish".to_owned(),
        }
    }

    pub(crate) fn invalid(message: Message) -> DoorstepError {
        DoorstepError::InvalidInput {
            zh: message.zh,
            en: message.en,
        }
    }
}

impl From<StoreError> for DoorstepError {
    fn from(err: StoreError) -> Self {
        let Message { zh, en } = err.message();
        match err {
            StoreError::InvalidInput(_) | StoreError::VillageNotAssigned(_) => {
                DoorstepError::InvalidInput { zh, en }
            }
            StoreError::HouseholdNotFound(_) => DoorstepError::NotFound { zh, en },
            _ => DoorstepError::Other { zh, en },
        }
    }
}

impl From<SyncError> for DoorstepError {
    fn from(err: SyncError) -> Self {
        let Message { zh, en } = err.message();
        match err {
            SyncError::NotConnected => DoorstepError::NotConnected { zh, en },
            // Each message says whether trying again can help.
            SyncError::Network(_) | SyncError::NotAnswering(_) | SyncError::Certificate(_) => {
                DoorstepError::Network { zh, en }
            }
            SyncError::Server { status, .. } => DoorstepError::Server { status, zh, en },
            SyncError::Cancelled => DoorstepError::Cancelled { zh, en },
            SyncError::AlreadyRunning => DoorstepError::Other { zh, en },
            // The store is already erased; the app shows the message in place of its data.
            SyncError::Revoked(_) => DoorstepError::Server {
                status: 401,
                zh,
                en,
            },
            SyncError::Store(err) => DoorstepError::from(*err),
            SyncError::BadResponse(_) | SyncError::BadUpdate { .. } => {
                DoorstepError::Other { zh, en }
            }
        }
    }
}

impl From<schema::ids::InvalidId> for DoorstepError {
    fn from(err: schema::ids::InvalidId) -> Self {
        DoorstepError::invalid(err.message)
    }
}

pub type Result<T, E = DoorstepError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_a_refused_input_keeps_its_message_in_both_languages() {
        let message = Message::new("请填写成员姓名", "The member's name is required");
        let error = DoorstepError::from(StoreError::InvalidInput(message.clone()));
        assert!(matches!(error, DoorstepError::InvalidInput { .. }));
        assert_eq!(error.message(), message);
    }

    #[test]
    fn test_sync_failures_map_to_what_the_ui_does_about_them() {
        assert!(matches!(
            DoorstepError::from(SyncError::NotConnected),
            DoorstepError::NotConnected { .. }
        ));
        assert!(matches!(
            DoorstepError::from(SyncError::Cancelled),
            DoorstepError::Cancelled { .. }
        ));
        for unreachable in [
            SyncError::NotAnswering("timed out".to_owned()),
            SyncError::Certificate("invalid peer certificate".to_owned()),
        ] {
            let message = unreachable.message();
            assert_eq!(
                DoorstepError::from(unreachable),
                DoorstepError::Network {
                    zh: message.zh,
                    en: message.en
                }
            );
        }
        let missing = SyncError::from(StoreError::HouseholdNotFound("ab".to_owned()));
        assert!(matches!(
            DoorstepError::from(missing),
            DoorstepError::NotFound { .. }
        ));
        let refused = DoorstepError::from(SyncError::Server {
            status: 401,
            message: Message::new("令牌无效", "Invalid token"),
        });
        assert_eq!(
            refused,
            DoorstepError::Server {
                status: 401,
                zh: "令牌无效".to_owned(),
                en: "Invalid token".to_owned()
            }
        );
    }
}
